/**
 * The spawner's helper: a small Node process that forks the HAM's child processes.
 *
 * `fork()` copies the page tables of the process that calls it, so spawning a child costs in
 * proportion to the memory of the spawning process: from an application with a large heap a
 * spawn takes milliseconds (and can fail with ENOMEM). The HAM hands its spawns to a plain Node
 * script (no Effect, no application code: a few tens of MiB) that forks them, reaps them and
 * reports back over a pipe, one JSON object a line. Erlang/OTP does the same with its
 * `erl_child_setup`.
 *
 * The HAM signals its children itself (they keep their own process groups); the helper only
 * starts them and reports what they write and how they end. When the HAM goes away (its end of
 * the pipe closes, even after a SIGKILL of the HAM), the helper kills every child it started and
 * exits: no orphan is left. When the helper dies, the HAM kills the children it had started and
 * reports their deaths; the next spawn starts a new helper.
 *
 * The helper's script is written to a private directory (0700) made on the first start and
 * removed with the scope.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import * as NodeChildProcess from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import type { Listener, Request } from "./child.js"
import * as life_ from "./life.js"

/** @internal */
export interface Helper {
  /** starts a child; succeeds with its pid once it runs (its command was exec'ed) */
  readonly spawn: (request: Request, listener: Listener) => Effect.Effect<number, string>
  /** the helper's own pid, when one runs */
  readonly pid: () => number | undefined
  /** false once a helper could not start: the spawns are then made by the HAM's process */
  readonly available: () => boolean
}

/** how many environments the spawner keeps (an entity's lives reuse theirs) */
const keptEnvironments = 256

/**
 * The spawner's script. It reads requests on stdin and writes reports on stdout; it ignores the
 * signals a terminal sends to the foreground group (the HAM decides when it ends).
 */
const source = `"use strict"
const cp = require("node:child_process")
const children = new Map()
const send = (message) => process.stdout.write(JSON.stringify(message) + "\\n")
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"]) process.on(signal, () => {})
const shutdown = () => {
  for (const child of children.values()) {
    try { process.kill(-child.pid, "SIGKILL") } catch { try { child.kill("SIGKILL") } catch {} }
  }
  process.exit(0)
}
// the environments sent so far, by id: the oldest goes past ${keptEnvironments} (the HAM does the same)
const envs = new Map()
const start = (m) => {
  const id = m.id
  if (m.env !== undefined) {
    envs.set(m.envId, m.env)
    if (envs.size > ${keptEnvironments}) envs.delete(envs.keys().next().value)
  }
  let child
  try {
    child = cp.spawn(m.command, m.args, {
      stdio: ["ignore", m.stdout ? "pipe" : "ignore", "pipe"],
      cwd: m.cwd, env: envs.get(m.envId), shell: m.shell, detached: true
    })
  } catch (e) {
    send({ op: "failed", id, reason: String(e && e.message) })
    return
  }
  child.on("error", (e) => {
    if (child.pid === undefined) send({ op: "failed", id, reason: e.code || e.message })
  })
  child.once("spawn", () => {
    children.set(id, child)
    send({ op: "spawned", id, pid: child.pid })
  })
  if (child.stdout) child.stdout.on("data", (d) => send({ op: "data", id, fd: 1, data: d.toString("base64") }))
  child.stderr.on("data", (d) => send({ op: "data", id, fd: 2, data: d.toString("base64") }))
  let closed = false
  const onClosed = () => {
    if (!closed) send({ op: "closed", id })
    closed = true
  }
  child.stderr.once("end", onClosed)
  child.stderr.once("close", onClosed)
  child.once("exit", (code, signal) => {
    children.delete(id)
    send({ op: "exit", id, code, signal })
  })
}
let buffered = ""
process.stdin.setEncoding("utf8")
process.stdin.on("data", (text) => {
  const lines = (buffered + text).split("\\n")
  buffered = lines.pop()
  for (const line of lines) if (line !== "") start(JSON.parse(line))
})
process.stdin.on("end", shutdown)
process.stdin.on("error", shutdown)
process.stdout.on("error", shutdown)
`

type Report =
  | { readonly op: "spawned"; readonly id: number; readonly pid: number }
  | { readonly op: "failed"; readonly id: number; readonly reason: string }
  | { readonly op: "data"; readonly id: number; readonly fd: 1 | 2; readonly data: string }
  | { readonly op: "closed"; readonly id: number }
  | { readonly op: "exit"; readonly id: number; readonly code: number | null; readonly signal: string | null }

interface Entry {
  readonly listener: Listener
  resume: ((result: Effect.Effect<number, string>) => void) | undefined
  pid: number | undefined
  stderrClosed: boolean
  /** the spawn was interrupted: the child is killed as soon as it is up */
  abandoned: boolean
}

/** a helper process that runs */
interface Running {
  readonly child: NodeChildProcess.ChildProcess
  readonly entries: Map<number, Entry>
  /** the environments this helper holds, and their ids (as it keeps them: the last ones) */
  readonly envs: Map<object, number>
  /** it has reported something */
  heard: boolean
}

/**
 * The helper keeps the HAM's event loop alive while it has children (as a child process of the
 * HAM's own would), and not when it has none: an idle helper never holds the application up.
 */
const hold = (current: Running) => {
  const stdout = current.child.stdout as unknown as { ref(): void; unref(): void }
  if (current.entries.size > 0) {
    current.child.ref()
    stdout.ref()
  } else {
    current.child.unref()
    stdout.unref()
  }
}

/** SIGKILL to the child's process group, or to the child alone; false when neither is there */
const kill = (pid: number): boolean => life_.signalGroupOrProcess(pid, "SIGKILL")

/**
 * The environment of a plain Node script of the HAM's (the spawner's helper, the store's probe):
 * this process's, without the application's preloads (a TypeScript loader, say: they have no
 * business in it), and run as Node would by an Electron application's executable.
 *
 * @internal
 */
export const scriptEnv = (): Record<string, string | undefined> => {
  const env: Record<string, string | undefined> = { ...process.env }
  delete env.NODE_OPTIONS
  env.ELECTRON_RUN_AS_NODE = "1"
  return env
}

/** @internal */
export interface HelperOptions {
  /** the program that runs the helper's script (default: this process's own, `process.execPath`) */
  readonly execPath?: string | undefined
}

/**
 * A helper for the scope: started on the first spawn, ended with the scope (its children are
 * stopped by then; any left are killed by it), its private directory removed.
 *
 * @internal
 */
export const make = (options?: HelperOptions): Effect.Effect<Helper, never, Scope.Scope> =>
  Effect.gen(function*() {
    const runtime = yield* Effect.runtime<never>()
    let running: Running | undefined
    let available = true
    let closing = false
    let ids = 0
    let envIds = 0
    let directory: string | undefined
    let scriptPath: string | undefined

    /** the script, written on the first start in a private directory (mkdtemp makes it 0700) */
    const script = (): string => {
      if (scriptPath === undefined) {
        directory ??= NodeFs.mkdtempSync(NodePath.join(NodeFs.realpathSync(NodeOs.tmpdir()), "ham-spawner-"))
        const path = NodePath.join(directory, "spawner.cjs")
        NodeFs.writeFileSync(path, source, { mode: 0o600 })
        scriptPath = path
      }
      return scriptPath
    }

    /** no helper can run here: the HAM's own process spawns from now on */
    const giveUp = (reason: string) => {
      available = false
      Runtime.runSync(runtime)(
        Effect.logWarning(`${reason}: the HAM's own process spawns its children from now on`)
      )
    }

    /** the helper went away: its children go too, and are reported dead */
    const lost = (current: Running, reason: string) => {
      if (running === current) running = undefined
      // it never said a word: it cannot run here
      if (!current.heard && available && !closing) giveUp(reason)
      for (const [id, entry] of current.entries) {
        current.entries.delete(id)
        if (entry.resume !== undefined) {
          entry.resume(Effect.fail(reason))
          continue
        }
        if (entry.abandoned) {
          if (entry.pid !== undefined) kill(entry.pid)
          continue
        }
        const killed = entry.pid !== undefined && kill(entry.pid)
        if (!entry.stderrClosed) entry.listener.onStderrClosed()
        entry.listener.onExit({ signal: killed ? "SIGKILL" : "unknown" })
      }
    }

    const onReport = (current: Running, report: Report) => {
      current.heard = true
      const entry = current.entries.get(report.id)
      if (entry === undefined) return
      switch (report.op) {
        case "spawned": {
          entry.pid = report.pid
          const resume = entry.resume
          entry.resume = undefined
          if (entry.abandoned) kill(report.pid)
          else resume?.(Effect.succeed(report.pid))
          return
        }
        case "failed": {
          current.entries.delete(report.id)
          entry.resume?.(Effect.fail(report.reason))
          return
        }
        case "data":
          if (entry.abandoned) return
          return entry.listener.onData(report.fd, Buffer.from(report.data, "base64"))
        case "closed": {
          entry.stderrClosed = true
          if (entry.abandoned) return
          return entry.listener.onStderrClosed()
        }
        case "exit": {
          current.entries.delete(report.id)
          if (entry.abandoned) return
          return entry.listener.onExit(life_.exitInfoOf(report.code, report.signal))
        }
      }
    }

    const start = (path: string): Running => {
      const child = NodeChildProcess.spawn(options?.execPath ?? process.execPath, [path], {
        stdio: ["pipe", "pipe", "inherit"],
        env: scriptEnv()
      })
      const current: Running = { child, entries: new Map(), envs: new Map(), heard: false }
      let buffered = ""
      child.stdout!.setEncoding("utf8")
      child.stdout!.on("data", (text: string) => {
        const lines = (buffered + text).split("\n")
        buffered = lines.pop()!
        for (const line of lines) {
          if (line === "") continue
          let report: Report
          try {
            report = JSON.parse(line) as Report
          } catch {
            continue
          }
          onReport(current, report)
        }
        hold(current)
      })
      child.stdin!.on("error", () => {})
      child.on("error", (e) => lost(current, `the spawner could not run: ${e.message}`))
      child.once("exit", (code, signal) =>
        lost(current, `the spawner exited (${signal ?? `code ${code}`}) before the process was up`))
      return current
    }

    const spawn = (request: Request, listener: Listener): Effect.Effect<number, string> =>
      Effect.async<number, string>((resume) => {
        if (running === undefined) {
          let path: string
          try {
            path = script()
          } catch (e) {
            const reason = `the spawner's script cannot be written: ${(e as NodeJS.ErrnoException).code ?? String(e)}`
            giveUp(reason)
            return resume(Effect.fail(reason))
          }
          running = start(path)
        }
        const current = running
        const id = ++ids
        const entry: Entry = { listener, resume, pid: undefined, stderrClosed: false, abandoned: false }
        current.entries.set(id, entry)
        hold(current)
        // an environment crosses the pipe once (an entity's lives share theirs)
        const { env, ...rest } = request
        const known = current.envs.get(env)
        let message: string
        if (known !== undefined) {
          message = JSON.stringify({ ...rest, id, envId: known })
        } else {
          const envId = ++envIds
          current.envs.set(env, envId)
          if (current.envs.size > keptEnvironments) {
            current.envs.delete(current.envs.keys().next().value!)
          }
          message = JSON.stringify({ ...rest, id, envId, env })
        }
        current.child.stdin!.write(message + "\n")
        // interrupted before it is up: it goes as soon as it is
        return Effect.sync(() => {
          entry.resume = undefined
          entry.abandoned = true
        })
      })

    /** the helper ends: the children are stopped by now; it kills any left, and exits */
    const close = Effect.suspend(() => {
      closing = true
      const current = running
      if (current === undefined) {
        return Effect.void
      }
      running = undefined
      return Effect.async<void>((resume) => {
        if (current.child.exitCode !== null || current.child.signalCode !== null) {
          return resume(Effect.void)
        }
        current.child.once("exit", () =>
          resume(Effect.void))
        current.child.stdin!.end()
      }).pipe(
        Effect.timeoutOption(2000),
        Effect.tap((done) => Effect.sync(() => done._tag === "None" && current.child.kill("SIGKILL")))
      )
    })
    yield* Effect.addFinalizer(() =>
      Effect.zipRight(
        close,
        Effect.sync(() => {
          if (directory !== undefined) NodeFs.rmSync(directory, { recursive: true, force: true })
        })
      )
    )

    return { spawn, pid: () => running?.child.pid, available: () => available }
  })
