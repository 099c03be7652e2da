/**
 * The `ham` commands on an entity's current life and its output: `restart` (now: the life
 * stopped with its stop signal and grace, a new one started), `signal`, and `logs` (the tail of
 * the entity's output file, followed with `-f` by polling it).
 *
 * @internal
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as HashMap from "effect/HashMap"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as fs from "node:fs"
import * as os from "node:os"
import type * as tree_ from "../tree.js"
import { report } from "./result.js"
import { ExitCode, fail, follow, json, type Target, target, withHam } from "./target.js"

const entityArg = Args.text({ name: "entity" })

const restart = Command.make(
  "restart",
  { ...target, json, name: entityArg },
  ({ json, name, ...t }) =>
    withHam(t, (ham) =>
      Effect.gen(function*() {
        yield* ham.restartEntity(name)
        const node = (yield* ham.snapshot).entities.find((e) => e.name === name)
        yield* report(
          json,
          "restart",
          { entity: name, pid: node?.pid, restarts: node?.stats.restarts },
          `restarted ${name}${node?.pid === undefined ? "" : ` (pid ${node.pid})`}`
        )
      }))
).pipe(
  Command.withDescription(
    "restarts a running entity now: its process gets its stop signal (SIGKILL after its grace), a new one starts"
  )
)

/**
 * `ham reload <entity>`: a graceful reload of one entity (the new process started, the old one
 * stopped once the new one says READY=1), with variables set in its environment.
 *
 * @internal
 */
export const reloadEntity = (
  t: Target,
  name: string,
  env: HashMap.HashMap<string, string>,
  readyTimeout: Option.Option<number>,
  asJson: boolean
) =>
  withHam(t, (ham) =>
    Effect.gen(function*() {
      const before = (yield* ham.snapshot).entities.find((e) => e.name === name)?.pid
      yield* ham.reloadEntity(name, {
        ...(HashMap.size(env) === 0 ? {} : { env: Object.fromEntries(env) }),
        ...(Option.isSome(readyTimeout) ? { readyTimeout: `${readyTimeout.value} seconds` as const } : {})
      })
      const node = (yield* ham.snapshot).entities.find((e) => e.name === name)
      yield* report(
        asJson,
        "reload",
        { entity: name, pid: node?.pid, previousPid: before },
        `reloaded ${name}: pid ${before} replaced by pid ${node?.pid}`
      )
    }))

/**
 * A signal as the command line gives it (`SIGHUP`, `HUP`, `hup`, `1`) as its name; undefined when
 * this platform knows no such signal.
 *
 * @internal
 */
export const signalName = (given: string): string | undefined => {
  const signals = os.constants.signals as Readonly<Record<string, number>>
  if (/^\d+$/.test(given)) return Object.keys(signals).find((name) => signals[name] === Number(given))
  const upper = given.toUpperCase()
  const name = upper.startsWith("SIG") ? upper : `SIG${upper}`
  return Object.hasOwn(signals, name) ? name : undefined
}

const signal = Command.make("signal", {
  ...target,
  json,
  name: entityArg,
  signal: Args.text({ name: "SIGNAL" })
}, ({ json, name, signal: given, ...t }) =>
  Effect.gen(function*() {
    const sig = signalName(given)
    if (sig === undefined) {
      return yield* fail(`not a signal: "${given}" (a name such as SIGTERM or HUP, or its number)`, ExitCode.usage)
    }
    yield* withHam(t, (ham) =>
      Effect.gen(function*() {
        const pid = (yield* ham.snapshot).entities.find((e) => e.name === name)?.pid
        yield* ham.signalEntity(name, sig)
        yield* report(json, "signal", { entity: name, signal: sig, pid }, "")
      }))
  })).pipe(Command.withDescription("sends a signal (SIGHUP, HUP, 1, ...) to the entity's current process"))

// ---------------------------------------------------------------------------------------------
// logs
// ---------------------------------------------------------------------------------------------

/** the most read from the file at a time */
const blockBytes = 64 * 1024

/** the last `n` lines of the file (without their newlines), and its size when read */
const lastLines = (file: string, n: number): { readonly lines: ReadonlyArray<string>; readonly size: number } => {
  const fd = fs.openSync(file, "r")
  try {
    const size = fs.fstatSync(fd).size
    const blocks: Array<Buffer> = []
    let start = size
    let newlines = 0
    // backwards, a block at a time, until the block holds n + 1 newlines (or the file's start)
    while (start > 0 && newlines <= n) {
      const from = Math.max(0, start - blockBytes)
      const block = Buffer.alloc(start - from)
      fs.readSync(fd, block, 0, block.length, from)
      for (const byte of block) if (byte === 10) newlines++
      blocks.unshift(block)
      start = from
    }
    const text = Buffer.concat(blocks).toString("utf8")
    const all = text.split("\n")
    if (all[all.length - 1] === "") all.pop()
    // a line cut by the first block is not shown
    if (start > 0) all.shift()
    return { lines: n === 0 ? [] : all.slice(-n), size }
  } finally {
    fs.closeSync(fd)
  }
}

/** what a file holds from `at` (at most 1 MB), or nothing when it cannot be read */
const readFrom = (file: string, at: number, size: number): Buffer => {
  if (size <= at) return Buffer.alloc(0)
  const chunk = Buffer.alloc(Math.min(size - at, 1 << 20))
  const fd = fs.openSync(file, "r")
  try {
    return chunk.subarray(0, fs.readSync(fd, chunk, 0, chunk.length, at))
  } finally {
    fs.closeSync(fd)
  }
}

/**
 * What was appended to the file since `pos`, read on each tick of `every`; each complete line
 * given to `line`. A file rotated by the HAM (moved to `<file>.1`, a new one begun) is read to its
 * end there first, then the new one from its start; a file that became shorter (truncated, or
 * replaced otherwise) is read again from its start. Runs until interrupted.
 */
/** @internal */
export const followFile = (file: string, pos: number, line: (text: string) => Effect.Effect<void>) =>
  Effect.gen(function*() {
    let at = pos
    let partial = ""
    let ino = statOf(file)?.ino
    const emit = (chunks: ReadonlyArray<Buffer>) => {
      const parts = (partial + Buffer.concat(chunks).toString("utf8")).split("\n")
      partial = parts.pop() ?? ""
      return Effect.forEach(parts, line, { discard: true })
    }
    const step = Effect.suspend(() => {
      const stat = statOf(file)
      if (stat === undefined) return Effect.void
      const chunks: Array<Buffer> = []
      if (ino !== undefined && stat.ino !== ino) {
        // rotated: the end of the file followed so far, now `<file>.1`
        const rotated = statOf(`${file}.1`)
        if (rotated?.ino === ino) chunks.push(readFrom(`${file}.1`, at, rotated.size))
        at = 0
      } else if (stat.size < at) {
        at = 0
      }
      ino = stat.ino
      const fresh = readFrom(file, at, stat.size)
      at += fresh.length
      chunks.push(fresh)
      return emit(chunks)
    })
    yield* Effect.repeat(step, Schedule.spaced("200 millis"))
  })

const statOf = (file: string): fs.Stats | undefined => {
  try {
    return fs.statSync(file)
  } catch {
    return undefined
  }
}

/** why the entity's output cannot be read from a file, or the file */
const fileOf = (node: tree_.EntityNode): string | { readonly why: string } => {
  const output = node.output
  if (output === undefined) return { why: `"${node.name}" is a ${node.kind} entity: the HAM keeps no output of it` }
  if (output === "ignore") return { why: `the output of "${node.name}" is discarded (output "ignore")` }
  if (output === "log") {
    return {
      why: `the output of "${node.name}" goes to the HAM's log (for the daemon: its standard output, each line ` +
        `marked entity=${node.name}), not to a file: give the entity an output file ({ "file": ... }) or the ` +
        `daemon a logDir`
    }
  }
  return output.file
}

const logs = Command.make("logs", {
  ...target,
  json,
  follow,
  lines: Options.integer("lines").pipe(
    Options.withAlias("n"),
    Options.withDescription("how many of the last lines to print (10)"),
    Options.withDefault(10)
  ),
  name: entityArg
}, ({ follow: following, json, lines: n, name, ...t }) =>
  Effect.gen(function*() {
    if (n < 0) return yield* fail(`--lines takes a non-negative integer (got ${n})`, ExitCode.usage)
    const tree = yield* withHam(t, (ham) => ham.snapshot)
    const node = tree.entities.find((e) => e.name === name)
    if (node === undefined) return yield* fail(`entity "${name}" not found`)
    const file = fileOf(node)
    if (typeof file !== "string") return yield* fail(file.why)
    const tail = yield* Effect.try({
      try: () => lastLines(file, n),
      catch: (e) =>
        `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}` +
        (Option.isSome(t.port) ? " (the file is on the HAM's machine: logs reads it from this one)" : "")
    }).pipe(Effect.catchAll((message) => fail(message)))
    const print = (line: string) => Console.log(json ? JSON.stringify(line) : line)
    if (json && !following) {
      return yield* report(true, "logs", { entity: name, file, lines: tail.lines }, "")
    }
    yield* Effect.forEach(tail.lines, print, { discard: true })
    if (following) yield* followFile(file, tail.size, print)
  })).pipe(
    Command.withDescription(
      "the last lines of the entity's output file (-n), followed as it grows (-f); with --json, a JSON string per line"
    )
  )

/** @internal */
export const commands = [restart, signal, logs] as const
