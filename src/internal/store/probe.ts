/**
 * The store's probe: before the HAM's process maps a store file, a short-lived Node process of
 * its own walks the whole file (`walk.ts`) and says whether it is sound. LMDB trusts its file: a
 * damaged page can crash the process that reads it (SIGSEGV, or SIGABRT from an assertion in
 * mdb.c) or turn into an error deep in a read. Whatever the file does to the probe, the HAM's
 * process gets a `StoreCorrupt` saying what: the damage the probe found, or that it crashed, or
 * that it did not finish in time. The probe never writes the file.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import type * as Scope from "effect/Scope"
import * as NodeChildProcess from "node:child_process"
import { createRequire } from "node:module"
import { StoreCorrupt, StoreUnavailable } from "../../HamError.js"
import { scriptEnv } from "../launch/helper.js"
import { source } from "./walk.js"

/** @internal what the probe says of a sound file */
export interface Sound {
  /** the records LMDB read back */
  readonly records: number
  /** the pages walked: branch, leaf and overflow pages in use, and free pages */
  readonly pages: { readonly branch: number; readonly leaf: number; readonly overflow: number; readonly free: number }
}

/** @internal how the probe's process ended */
export interface Outcome {
  readonly code: number | null
  readonly signal: string | null
  readonly stdout: string
  readonly stderr: string
}

/** @internal how to run the probe (tests give their own program) */
export interface ProbeOptions {
  /** how long the probe may take (default: 10 s, plus 1 s for each 10 MB of the file) */
  readonly timeoutMillis?: number | undefined
  /** the program (default: the walk of `walk.ts`) */
  readonly source?: string | undefined
}

const maxOutput = 64 * 1024

/** what `node -e` runs: the program read from fd 3 (it runs with `require` and the arguments at hand) */
const loader = `eval(require("node:fs").readFileSync(3, "utf8"))`

let lmdbEntry: string | undefined
/** the lmdb package's CommonJS entry, as this package resolves it */
const entry = (): string => (lmdbEntry ??= createRequire(import.meta.url).resolve("lmdb"))

/** a probe's process, started: what it says is collected until it ends */
interface Launched {
  readonly child: NodeChildProcess.ChildProcess | undefined
  /** how it ended; a failure when it could not run */
  readonly ended: Deferred.Deferred<Outcome, StoreUnavailable>
}

/** starts the probe's program on `path`; a standby waits for a line on its stdin before it opens the file */
const launch = (path: string, program: string, mode: "now" | "standby"): Launched => {
  const ended = Deferred.unsafeMake<Outcome, StoreUnavailable>(FiberId.none)
  let child: NodeChildProcess.ChildProcess
  try {
    // the program comes on a pipe (fd 3): its command line stays short, and names the file
    child = NodeChildProcess.spawn(process.execPath, [
      "-e",
      loader,
      entry(),
      path,
      ...(mode === "standby" ? [mode] : [])
    ], {
      stdio: ["pipe", "pipe", "pipe", "pipe"],
      env: scriptEnv()
    })
  } catch (e) {
    Deferred.unsafeDone(ended, Exit.fail(cannotRun(path, e)))
    return { child: undefined, ended }
  }
  const programPipe = child.stdio[3] as NodeJS.WritableStream
  programPipe.on("error", () => {})
  programPipe.end(program)
  let stdout = ""
  let stderr = ""
  child.stdin!.on("error", () => {})
  child.stdout!.setEncoding("utf8")
  child.stderr!.setEncoding("utf8")
  child.stdout!.on("data", (text: string) => {
    if (stdout.length < maxOutput) stdout += text
  })
  // the end of stderr is where an assertion or a fatal error is
  child.stderr!.on("data", (text: string) => {
    stderr = (stderr + text).slice(-maxOutput)
  })
  child.once("error", (e) => Deferred.unsafeDone(ended, Exit.fail(cannotRun(path, e))))
  child.once("close", (code, signal) => Deferred.unsafeDone(ended, Exit.succeed({ code, signal, stdout, stderr })))
  return { child, ended }
}

const running = (child: NodeChildProcess.ChildProcess | undefined): child is NodeChildProcess.ChildProcess =>
  child !== undefined && child.exitCode === null && child.signalCode === null

/** waits for a launched probe's verdict, for at most `timeoutMillis` (then it is killed) */
const outcomeOf = (
  path: string,
  launched: Launched,
  timeoutMillis: number
): Effect.Effect<Outcome, StoreCorrupt | StoreUnavailable> =>
  Deferred.await(launched.ended).pipe(
    Effect.timeoutFail({
      duration: timeoutMillis,
      onTimeout: () =>
        new StoreCorrupt({ path, reason: `the process that checked it did not finish within ${timeoutMillis} ms` })
    }),
    Effect.ensuring(Effect.sync(() => running(launched.child) && launched.child.kill("SIGKILL")))
  )

const verdictOf = (
  path: string,
  launched: Launched,
  timeoutMillis: number
): Effect.Effect<Sound, StoreCorrupt | StoreUnavailable> =>
  Effect.flatMap(outcomeOf(path, launched, timeoutMillis), (outcome) => judge(path, outcome))

/** how long a probe of a file of `size` bytes may take */
const timeoutFor = (size: number, options?: ProbeOptions) =>
  options?.timeoutMillis ?? 10_000 + Math.ceil(size / 10_000_000) * 1000

const cannotRun = (path: string, e: unknown): StoreUnavailable => {
  const code = (e as NodeJS.ErrnoException).code
  const reason = `its check cannot run: ${e instanceof Error ? e.message : String(e)}`
  return new StoreUnavailable(typeof code === "string" ? { path, reason, code } : { path, reason })
}

/** the line of stderr that says why a process crashed: an mdb.c assertion, or the last line */
const crashLine = (stderr: string): string | undefined => {
  const lines = stderr.split("\n").map((line) => line.trim()).filter((line) => line.length > 0)
  const line = lines.find((l) => l.includes("mdb.c") || l.includes("Assertion")) ?? lines.at(-1)
  return line === undefined ? undefined : line.slice(0, 300)
}

/**
 * What an outcome means: a sound file, a `StoreCorrupt` (the damage found, an LMDB file of
 * another program, a crash of the probe), or a `StoreUnavailable` (the probe could not run).
 *
 * @internal
 */
export const judge = (path: string, outcome: Outcome): Effect.Effect<Sound, StoreCorrupt | StoreUnavailable> => {
  const corrupt = (reason: string) => Effect.fail(new StoreCorrupt({ path, reason }))
  if (outcome.signal !== null) {
    const line = crashLine(outcome.stderr)
    return corrupt(
      `reading it crashed the process that checked it (${outcome.signal}${line === undefined ? "" : `: ${line}`})`
    )
  }
  let verdict: { readonly ok?: unknown; readonly foreign?: unknown; readonly damaged?: unknown } | undefined
  try {
    verdict = JSON.parse(outcome.stdout.trim().split("\n").at(-1) ?? "")
  } catch {
    verdict = undefined
  }
  if (outcome.code === 0 && verdict?.ok === true) return Effect.succeed(verdict as unknown as Sound)
  if (outcome.code === 0 && typeof verdict?.foreign === "string") {
    return corrupt(`an LMDB file of another program (${verdict.foreign})`)
  }
  if (outcome.code === 0 && typeof verdict?.damaged === "string") return corrupt(`damaged: ${verdict.damaged}`)
  const line = crashLine(outcome.stderr)
  return Effect.fail(
    new StoreUnavailable({
      path,
      reason: `its check ended without a verdict (exit code ${outcome.code}${line === undefined ? "" : `: ${line}`})`
    })
  )
}

/**
 * Probes the store file at `path` (of `size` bytes) in a process of its own: succeeds when the
 * whole file reads back, fails with `StoreCorrupt` saying why otherwise (a crash or a timeout of
 * the probe included), with `StoreUnavailable` when no probe could run.
 *
 * @internal
 */
export const probe = (
  path: string,
  size: number,
  options?: ProbeOptions
): Effect.Effect<Sound, StoreCorrupt | StoreUnavailable> =>
  Effect.suspend(() => verdictOf(path, launch(path, options?.source ?? source, "now"), timeoutFor(size, options)))

/**
 * A probe started ahead for one store file: its process is up and has lmdb loaded, and opens the
 * file only when it is asked to probe it, so that a takeover does not wait for a Node process to
 * start (a guardian process keeps one). It serves one probe, of its own file; used, gone, or asked
 * for another file, a probe of its own is started instead.
 *
 * @internal
 */
export interface Standby {
  readonly probe: (path: string, size: number) => Effect.Effect<Sound, StoreCorrupt | StoreUnavailable>
}

/**
 * Starts a standby probe of the store file at `path`, killed when the scope closes (it also ends
 * by itself when this process goes: its stdin ends).
 *
 * @internal
 */
export const standby = (path: string, options?: ProbeOptions): Effect.Effect<Standby, never, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(
      Effect.sync(() => launch(path, options?.source ?? source, "standby")),
      (launched) => Effect.sync(() => running(launched.child) && launched.child.kill("SIGKILL"))
    ),
    (launched) => {
      let used = false
      return {
        probe: (file, size) =>
          Effect.suspend(() => {
            const ready = !used && file === path && running(launched.child)
            used = true
            if (!ready) return probe(file, size, options)
            launched.child!.stdin!.write("probe\n")
            // a standby killed from outside just before it was asked (its death not seen yet)
            // ends by a signal too: only a probe of its own tells that from a crash on the file
            return Effect.flatMap(
              outcomeOf(path, launched, timeoutFor(size, options)),
              (outcome) => outcome.signal !== null ? probe(file, size, options) : judge(path, outcome)
            )
          })
      }
    }
  )
