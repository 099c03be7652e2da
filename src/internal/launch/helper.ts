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
 * starts them and reports what they write and how they end. A death is reported as soon as the
 * child's stderr ends and /proc shows it dead, with its wait status: a dying process's files are
 * closed before its parent is told, and Node's `exit` event comes 0.1-0.3 ms after that end. When the HAM goes away (its end of
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
import type { Forked, Listener, Relaunch, Request } from "./child.js"
import type { Authorisation } from "./launcher.js"
import * as life_ from "./life.js"
import { keptEnvironments, source } from "./script.js"

/** @internal */
export interface Helper {
  /** starts a child; succeeds once it runs (its command was exec'ed) */
  readonly spawn: (request: Request, listener: Listener) => Effect.Effect<Forked, string>
  /** the helper's own pid, when one runs */
  readonly pid: () => number | undefined
  /** false once a helper could not start: the spawns are then made by the HAM's process */
  readonly available: () => boolean
}

type Report =
  | { readonly op: "spawned"; readonly id: number; readonly pid: number }
  | { readonly op: "failed"; readonly id: number; readonly reason: string }
  | { readonly op: "data"; readonly id: number; readonly fd: 1 | 2; readonly data: string }
  | { readonly op: "closed"; readonly id: number }
  | {
    readonly op: "exit"
    readonly id: number
    readonly code: number | null
    readonly signal: string | null
    /** its stderr had ended by then */
    readonly closed: boolean
    readonly next?: number | undefined
  }

/** a helper process that runs */
interface Running {
  readonly child: NodeChildProcess.ChildProcess
  readonly entries: Map<number, Entry>
  /** children that exited, their output not ended yet: its last lines can come after the exit */
  readonly ending: Map<number, Entry>
  /** the environments this helper holds, and their ids (as it keeps them: the last ones) */
  readonly envs: Map<object, number>
  /** it has reported something */
  heard: boolean
}

/**
 * One child of the helper, as the HAM knows it: the `Forked` its life holds (arm, signal), and,
 * for a child the helper started by itself (an authorised restart), the `Relaunch` that takes it
 * up, its reports held until then.
 */
class Entry implements Forked, Relaunch {
  pid = 0
  resume: ((result: Effect.Effect<Forked, string>) => void) | undefined = undefined
  outputClosed = false
  /** the spawn was interrupted, or the relaunch let go: the child is killed as soon as it is up */
  abandoned = false
  exited = false
  /** the spawn failed: why (a relaunch's join fails with it) */
  failure: string | undefined = undefined
  /** the id the next child would take, while this one is armed */
  armedNext: number | undefined = undefined
  armedAfter = 0
  armedAbnormal = false
  armedNormal = false
  /** the reports of a relaunched child, held until it is taken up */
  held: Array<Report> | undefined = undefined
  constructor(
    readonly id: number,
    readonly current: Running,
    readonly nextId: () => number,
    public listener: Listener | undefined
  ) {}

  private write(message: object) {
    if (!this.exited) this.current.child.stdin!.write(JSON.stringify(message) + "\n")
  }

  arm(authorisation: Authorisation | undefined) {
    if (authorisation === undefined) {
      if (this.armedNext === undefined) return
      this.armedNext = undefined
      return this.write({ op: "arm", id: this.id })
    }
    const { abnormal, afterMillis, normal } = authorisation
    // the same authorisation again, with no wait: nothing to say
    if (
      this.armedNext !== undefined && this.armedAbnormal === abnormal && this.armedNormal === normal &&
      afterMillis === 0 && this.armedAfter === 0
    ) return
    this.armedNext ??= this.nextId()
    this.armedAbnormal = abnormal
    this.armedNormal = normal
    this.armedAfter = afterMillis
    this.write({ op: "arm", id: this.id, next: this.armedNext, abnormal, normal, after: afterMillis })
  }

  /** through the helper, which disarms the child first: no next child once a stop has begun */
  signal(signal: string) {
    this.armedNext = undefined
    if (this.exited) life_.signalGroupOrProcess(this.pid, signal)
    else this.write({ op: "signal", id: this.id, signal })
  }

  join(listener: Listener): Effect.Effect<Forked, string> {
    return Effect.async<Forked, string>((resume) => {
      this.listener = listener
      const held = this.held ?? []
      this.held = undefined
      for (const report of held) deliver(this, report)
      if (this.failure !== undefined) return resume(Effect.fail(this.failure))
      if (this.pid !== 0) return resume(Effect.succeed(this))
      this.resume = resume
      // interrupted before it runs: it goes as soon as it does
      return Effect.sync(() => {
        this.resume = undefined
        this.discard()
      })
    })
  }

  discard() {
    this.abandoned = true
    this.held = undefined
    this.listener = undefined
    if (this.pid !== 0 && !this.exited) kill(this.pid)
  }
}

/** what a report tells the child's listener */
const deliver = (entry: Entry, report: Report): void => {
  const listener = entry.listener
  if (listener === undefined || entry.abandoned) return
  switch (report.op) {
    case "data":
      return listener.onData(report.fd, Buffer.from(report.data, "base64"))
    case "closed":
      return listener.onOutputClosed()
    case "exit":
      // the child the helper started in its place is reported with the exit, and held until taken up
      return listener.onExit(
        life_.exitInfoOf(report.code, report.signal),
        report.next === undefined ? undefined : entry.current.entries.get(report.next)
      )
  }
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

    const nextId = () => ++ids

    /** the helper went away: its children go too, and are reported dead */
    const lost = (current: Running, reason: string) => {
      if (running === current) running = undefined
      // it never said a word: it cannot run here
      if (!current.heard && available && !closing) giveUp(reason)
      // exited already, their output not ended: it has ended now
      for (const entry of current.ending.values()) {
        if (entry.listener !== undefined && !entry.abandoned) entry.listener.onOutputClosed()
      }
      current.ending.clear()
      for (const [id, entry] of current.entries) {
        current.entries.delete(id)
        const killed = entry.pid !== 0 && !entry.exited && kill(entry.pid)
        entry.exited = true
        if (entry.resume !== undefined) {
          entry.resume(Effect.fail(reason))
          continue
        }
        if (entry.abandoned) continue
        if (entry.listener === undefined) {
          // a relaunched child not taken up yet: taking it up fails
          entry.failure ??= reason
          continue
        }
        if (!entry.outputClosed) entry.listener.onOutputClosed()
        entry.listener.onExit({ signal: killed ? "SIGKILL" : "unknown" }, undefined)
      }
    }

    const onReport = (current: Running, report: Report): void => {
      current.heard = true
      const entry = current.entries.get(report.id) ?? current.ending.get(report.id)
      if (entry === undefined) return
      if (report.op === "exit" && report.closed && !entry.outputClosed) {
        onReport(current, { op: "closed", id: report.id })
      }
      switch (report.op) {
        case "spawned": {
          entry.pid = report.pid
          const resume = entry.resume
          entry.resume = undefined
          if (entry.abandoned) kill(report.pid)
          else resume?.(Effect.succeed(entry))
          return
        }
        case "failed": {
          current.entries.delete(report.id)
          entry.exited = true
          entry.failure = report.reason
          const resume = entry.resume
          entry.resume = undefined
          resume?.(Effect.fail(report.reason))
          return
        }
        case "closed":
          entry.outputClosed = true
          current.ending.delete(report.id)
          break
        case "exit": {
          // kept until its output has ended: its last lines can come after its exit (an exited
          // child does not hold the HAM's event loop)
          current.entries.delete(report.id)
          if (!entry.outputClosed) current.ending.set(report.id, entry)
          entry.exited = true
          entry.armedNext = undefined
          if (report.next !== undefined) {
            const next = new Entry(report.next, current, nextId, undefined)
            next.held = []
            current.entries.set(report.next, next)
            // nobody will take it up
            if (entry.abandoned || (entry.listener === undefined && entry.held === undefined)) next.discard()
          }
          break
        }
      }
      // held until the child is taken up (a relaunched child), or told at once
      if (entry.held !== undefined) entry.held.push(report)
      else deliver(entry, report)
    }

    const start = (path: string): Running => {
      const child = NodeChildProcess.spawn(options?.execPath ?? process.execPath, [path], {
        stdio: ["pipe", "pipe", "inherit"],
        env: scriptEnv()
      })
      const current: Running = { child, entries: new Map(), ending: new Map(), envs: new Map(), heard: false }
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
      child.once(
        "exit",
        (code, signal) => lost(current, `the spawner exited (${signal ?? `code ${code}`}) before the process was up`)
      )
      return current
    }

    const spawn = (request: Request, listener: Listener): Effect.Effect<Forked, string> =>
      Effect.async<Forked, string>((resume) => {
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
        const id = nextId()
        const entry = new Entry(id, current, nextId, listener)
        entry.resume = resume
        current.entries.set(id, entry)
        hold(current)
        // an environment crosses the pipe once (an entity's lives share theirs)
        const { env, ...rest } = request
        const known = current.envs.get(env)
        let message: string
        if (known !== undefined) {
          message = JSON.stringify({ op: "start", ...rest, id, envId: known })
        } else {
          const envId = ++envIds
          current.envs.set(env, envId)
          if (current.envs.size > keptEnvironments) {
            current.envs.delete(current.envs.keys().next().value!)
          }
          message = JSON.stringify({ op: "start", ...rest, id, envId, env })
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
        current.child.once("exit", () => resume(Effect.void))
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
