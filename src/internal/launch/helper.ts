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
 * starts them, reaps them and reports how they end. A child's stdout and stderr are connections
 * to the HAM's own output socket, which the helper makes ahead of time and hands to the child:
 * the HAM reads the output itself, and sees a death when the child's output ends and /proc shows
 * it dead (its wait status read there). A dying process's files are closed before its parent is
 * told: that end comes about 0.2 ms before Node's `exit` event in the helper, whose report then
 * takes another hop. A child the helper started again by itself (an authorised restart) is the
 * exception: the helper holds its connections too until it has reaped it, so that the HAM's work
 * does not hold the next restart back (script.ts). When the HAM goes away (its end of
 * the pipe closes, even after a SIGKILL of the HAM), the helper kills every child it started and
 * exits: no orphan is left. When the helper dies, the HAM kills the children it had started and
 * reports their deaths; the next spawn starts a new helper.
 *
 * The helper's script is written to a private directory (0700, named after the HAM's process)
 * made on the first start and removed with the scope; those a HAM killed by SIGKILL left are
 * removed by the next one (`tmpdirs.ts`).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import * as NodeChildProcess from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { StringDecoder } from "node:string_decoder"
import * as procfs from "../procfs.js"
import * as tmpdirs from "../tmpdirs.js"
import type { Forked, Listener, Relaunch, Request } from "./child.js"
import type { Authorisation, ExitInfo } from "./launcher.js"
import * as life_ from "./life.js"
import * as outputs_ from "./outputs.js"
import { keptEnvironments, source } from "./script.js"

/** @internal */
export interface Helper {
  /** starts a child; succeeds once it runs (its command was exec'ed) */
  readonly spawn: (request: Request, listener: Listener) => Effect.Effect<Forked, string>
  /** the helper's own pid, when one runs */
  readonly pid: () => number | undefined
  /** false once a helper could not start: the spawns are then made by the HAM's process */
  readonly available: () => boolean
  /** for tests: the helper's reports are left unread while held (what `pull` reads is read) */
  readonly holdReports: (held: boolean) => void
}

/** what the helper reports; `out` and `err` number the child's output connections (`out` 0: none) */
type Report =
  | { readonly op: "spawned"; readonly id: number; readonly pid: number; readonly out: number; readonly err: number }
  | {
    readonly op: "failed"
    readonly id: number
    readonly reason: string
    readonly out?: number | undefined
    readonly err?: number | undefined
  }
  | {
    readonly op: "exit"
    readonly id: number
    readonly code: number | null
    readonly signal: string | null
    readonly next?: number | undefined
  }

/** what an entry tells its listener: held, for a relaunched child, until it is taken up */
type Told =
  | { readonly _tag: "data"; readonly fd: 1 | 2; readonly chunk: Buffer }
  | { readonly _tag: "closed" }
  | { readonly _tag: "exit"; readonly info: ExitInfo; readonly next: Relaunch | undefined }

/** a helper process that runs, and the HAM's output socket its children's output comes in on */
interface Running {
  readonly child: NodeChildProcess.ChildProcess
  readonly outputs: outputs_.Outputs
  readonly entries: Map<number, Entry>
  /** the environments this helper holds, and their ids (as it keeps them: the last ones) */
  readonly envs: Map<object, number>
  /** it has reported something */
  heard: boolean
  /**
   * Reads what the helper has written and not been read yet, now (its reports, handled as they
   * would be when they come): a child the helper has reaped is reported without a turn of the
   * event loop, which would first handle the ends of the child's output connections.
   */
  readonly pull: () => void
}

/** what every entry of a helper uses */
interface Shared {
  readonly nextId: () => number
  /** the HAM's clock, in milliseconds */
  readonly now: () => number
}

/**
 * One child of the helper, as the HAM knows it: the `Forked` its life holds (arm, signal), and,
 * for a child the helper started by itself (an authorised restart), the `Relaunch` that takes it
 * up, what it tells held until then.
 */
class Entry implements Forked, Relaunch, outputs_.Owner {
  pid = 0
  resume: ((result: Effect.Effect<Forked, string>) => void) | undefined = undefined
  /** its output connections not ended yet (set when it is spawned) */
  open = -1
  /** how many output connections it has (set when it is spawned) */
  given = 0
  /** its output connections, as they are accepted */
  readonly conns: Array<outputs_.Conn> = []
  /** its /proc stat file, open while it runs: read in one call when its output ends */
  stat: number | undefined = undefined
  outputClosed = false
  /** the spawn was interrupted, or the relaunch let go: the child is killed as soon as it is up */
  abandoned = false
  /** the helper reported its exit (nothing more is said to the helper about it) */
  exited = false
  /** its listener was told of its exit (by the HAM's own sight of it, or by the helper's report) */
  told = false
  /** the spawn failed: why (a relaunch's join fails with it) */
  failure: string | undefined = undefined
  /** the id the next child would take, while this one is armed */
  armedNext: number | undefined = undefined
  armedAfter = 0
  armedAt = 0
  armedAbnormal = false
  armedNormal = false
  /** what a relaunched child tells, held until it is taken up */
  held: Array<Told> | undefined = undefined
  constructor(
    readonly id: number,
    readonly current: Running,
    readonly shared: Shared,
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
    this.armedNext ??= this.shared.nextId()
    this.armedAbnormal = abnormal
    this.armedNormal = normal
    this.armedAfter = afterMillis
    this.armedAt = afterMillis > 0 ? this.shared.now() : 0
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
      for (const told of held) this.tell(told)
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

  /** told to the listener, or held until the child is taken up */
  tell(told: Told) {
    if (this.held !== undefined) return void this.held.push(told)
    const listener = this.listener
    if (listener === undefined || this.abandoned) return
    switch (told._tag) {
      case "data":
        return listener.onData(told.fd, told.chunk)
      case "closed":
        return listener.onOutputClosed()
      case "exit":
        return listener.onExit(told.info, told.next)
    }
  }

  data(fd: 1 | 2, chunk: Buffer) {
    this.tell({ _tag: "data", fd, chunk })
  }

  /**
   * One of its output connections has ended; when all have, its output is over. The first end
   * may be its death: see `dead`.
   */
  connEnded() {
    this.open--
    if (!this.told && !this.exited && this.pid !== 0) this.dead()
    if (this.open === 0 && !this.outputClosed) {
      this.outputClosed = true
      this.tell({ _tag: "closed" })
    }
  }

  /**
   * When /proc shows the child dead (a zombie, or exiting), its exit is told at once, with its
   * wait status read there, and what is left in its connections first: the helper's report
   * would come a hop later. Not when the helper is authorised to start it again: the two are
   * reported together then, and the HAM keeps quiet meanwhile (its work while the helper forks
   * the next child slowed that restart by half a millisecond on two cores; the connections of a
   * child the helper restarted by itself end only once it is reaped). When /proc no
   * longer shows it, the helper has reaped it and its report is in the pipe: read now (`pull`),
   * it is handled before the ends of the child's other connections, which the event loop would
   * deal with first (about 0.3 ms on an idle machine).
   */
  private dead() {
    const text = this.stat === undefined ? undefined : procfs.readOpenStat(this.stat)
    // reaped by the helper already: its report is written, or about to be
    if (text === undefined) {
      if (this.stat !== undefined) this.current.pull()
      return
    }
    const status = procfs.dyingStatusIn(text)
    const ended = status === undefined ? undefined : procfs.decodeWaitStatus(status)
    if (ended === undefined) return
    const info: ExitInfo = ended._tag === "Exited" ? { exitCode: ended.exitCode } : { signal: ended.signal }
    if (this.covers(info)) return
    if (!this.outputIn()) return
    this.closeStat()
    this.told = true
    this.tell({ _tag: "exit", info, next: undefined })
  }

  /**
   * The child is dead: all it wrote is in its connections, read now, and its output is in (what
   * a grandchild holding them writes later still comes, as data). Not while a connection of its
   * is not known yet (accepted, not yet named: a child that wrote and died at once): its output
   * then ends as it comes, and false is returned.
   */
  outputIn(): boolean {
    if (this.conns.length < this.given) return false
    for (const conn of this.conns) {
      if (!conn.ended && conn.drain()) this.open--
    }
    if (!this.outputClosed) {
      this.outputClosed = true
      this.tell({ _tag: "closed" })
    }
    return true
  }

  closeStat() {
    const fd = this.stat
    this.stat = undefined
    if (fd !== undefined) NodeFs.closeSync(fd)
  }

  /** the HAM's own view of whether this exit is one the helper was authorised to restart */
  private covers(info: ExitInfo): boolean {
    if (this.armedNext === undefined) return false
    const abnormal = info.signal !== undefined || info.exitCode !== 0
    if (!(abnormal ? this.armedAbnormal : this.armedNormal)) return false
    return this.armedAfter === 0 || this.shared.now() - this.armedAt >= this.armedAfter
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

/** what `pull` reads into */
const pullBuffer = Buffer.alloc(16384)

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
    const clock = yield* Effect.clock
    let running: Running | undefined
    let available = true
    let closing = false
    let ids = 0
    let envIds = 0
    let sockets = 0
    let directory: string | undefined
    let scriptPath: string | undefined

    /** the private directory (mkdtemp makes it 0700), made on the first start */
    const privateDirectory = (): string => directory ??= tmpdirs.makePrivate("ham-spawner-")

    /** the script, written on the first start */
    const script = (): string => {
      if (scriptPath === undefined) {
        const path = NodePath.join(privateDirectory(), "spawner.cjs")
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

    const shared: Shared = { nextId: () => ++ids, now: () => clock.unsafeCurrentTimeMillis() }

    /** the helper went away: its children go too, and are reported dead */
    const lost = (current: Running, reason: string) => {
      if (running === current) running = undefined
      current.outputs.close()
      // it never said a word: it cannot run here
      if (!current.heard && available && !closing) giveUp(reason)
      for (const [id, entry] of current.entries) {
        current.entries.delete(id)
        entry.closeStat()
        const killed = entry.pid !== 0 && !entry.exited && kill(entry.pid)
        entry.exited = true
        if (entry.resume !== undefined) {
          entry.resume(Effect.fail(reason))
          continue
        }
        if (entry.abandoned) continue
        if (entry.told) continue
        if (entry.listener === undefined) {
          // a relaunched child not taken up yet: taking it up fails
          entry.failure ??= reason
          continue
        }
        entry.told = true
        entry.tell({ _tag: "exit", info: { signal: killed ? "SIGKILL" : "unknown" }, next: undefined })
      }
    }

    const onReport = (current: Running, report: Report): void => {
      current.heard = true
      const entry = current.entries.get(report.id)
      if (entry === undefined) return
      switch (report.op) {
        case "spawned": {
          entry.pid = report.pid
          entry.open = entry.given = report.out > 0 ? 2 : 1
          entry.stat = procfs.openStat(report.pid)
          current.outputs.claim(report.out, entry, 1)
          current.outputs.claim(report.err, entry, 2)
          const resume = entry.resume
          entry.resume = undefined
          if (entry.abandoned) kill(report.pid)
          else resume?.(Effect.succeed(entry))
          return
        }
        case "failed": {
          current.outputs.claim(report.out, undefined, 1)
          current.outputs.claim(report.err, undefined, 2)
          current.entries.delete(report.id)
          entry.exited = true
          entry.failure = report.reason
          const resume = entry.resume
          entry.resume = undefined
          resume?.(Effect.fail(report.reason))
          return
        }
        case "exit": {
          current.entries.delete(report.id)
          entry.closeStat()
          entry.exited = true
          entry.armedNext = undefined
          let next: Entry | undefined
          if (report.next !== undefined) {
            next = new Entry(report.next, current, shared, undefined)
            next.held = []
            current.entries.set(report.next, next)
            // nobody will take it up
            if (entry.abandoned || (entry.listener === undefined && entry.held === undefined)) next.discard()
          }
          // its death was seen here first (and the helper was not to start it again)
          if (entry.told) return next?.discard()
          entry.told = true
          entry.outputIn()
          return entry.tell({ _tag: "exit", info: life_.exitInfoOf(report.code, report.signal), next })
        }
      }
    }

    const start = (path: string): Running => {
      const holder: { current?: Running } = {}
      const outputs = outputs_.listen(NodePath.join(privateDirectory(), `out-${++sockets}.sock`), (e) => {
        const current = holder.current!
        if (running === current) current.child.kill("SIGKILL")
        lost(current, `the spawner's output socket failed: ${e.message}`)
      })
      const child = NodeChildProcess.spawn(options?.execPath ?? process.execPath, [path, outputs.path], {
        stdio: ["pipe", "pipe", "inherit"],
        env: scriptEnv()
      })
      const decoder = new StringDecoder("utf8")
      let buffered = ""
      let receiving = false
      const received = (text: string) => {
        receiving = true
        try {
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
        } finally {
          receiving = false
        }
        hold(current)
      }
      // not while its reports are handled: they are handled in order
      const pull = () => {
        if (!receiving) outputs_.readNow(child.stdout!, pullBuffer, (chunk) => received(decoder.write(chunk)), true)
      }
      const current: Running = holder.current = {
        child,
        outputs,
        entries: new Map(),
        envs: new Map(),
        heard: false,
        pull
      }
      child.stdout!.on("data", (chunk: Buffer) => received(decoder.write(chunk)))
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
          try {
            running = start(script())
          } catch (e) {
            const reason = `the spawner cannot start: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`
            giveUp(reason)
            return resume(Effect.fail(reason))
          }
        }
        const current = running
        const id = shared.nextId()
        const entry = new Entry(id, current, shared, listener)
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
      current.outputs.close()
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

    const holdReports = (held: boolean) => {
      const stdout = running?.child.stdout
      if (held) stdout?.pause()
      else stdout?.resume()
    }
    return { spawn, pid: () => running?.child.pid, available: () => available, holdReports }
  })
