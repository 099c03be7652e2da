/**
 * What every way of launching a life shares: the life itself (its output drained to the log, a
 * file or nowhere, the last lines of its stderr kept, its exit observed, its whole process group
 * stopped on request), output cut into bounded lines, the environments of an entity's lives, and
 * signals to processes and groups.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Runtime from "effect/Runtime"
import * as Scope from "effect/Scope"
import type { ChildProcess } from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import { StringDecoder } from "node:string_decoder"
import type { CommandLine } from "../action.js"
import * as procStart from "../procStart.js"
import type { Authorisation, ExitInfo, LaunchRequest, Life, NextLife } from "./launcher.js"
import * as output_ from "./output.js"

/** @internal how a process ended, from what Node's `exit` event gives (a code, or else a signal) */
export const exitInfoOf = (code: number | null, signal: string | null): ExitInfo =>
  code !== null ? { exitCode: code } : { signal: signal ?? "unknown" }

/** @internal the number of stderr lines kept for a death record */
export const stderrTailLines = 20

const maxLineLength = 1000

/** @internal a line of output, cut to a bounded length */
export const clip = (line: string): string => line.length > maxLineLength ? line.slice(0, maxLineLength) + "…" : line

/** the bytes of stderr kept for a child whose output goes nowhere */
const maxTailBytes = stderrTailLines * maxLineLength

const tailLines = (chunks: ReadonlyArray<Uint8Array>): Array<string> => {
  const text = Buffer.concat(chunks).toString("utf8")
  const all = text.split(/\r?\n/)
  if (all.length > 0 && all[all.length - 1] === "") all.pop()
  return all.slice(-stderrTailLines).map(clip)
}

/** the last lines of a file (its last few kilobytes, cut into lines) */
const fileTail = (path: string): Array<string> => {
  try {
    const fd = NodeFs.openSync(path, "r")
    try {
      const size = NodeFs.fstatSync(fd).size
      const length = Math.min(size, maxTailBytes)
      const buffer = Buffer.alloc(length)
      NodeFs.readSync(fd, buffer, 0, length, size - length)
      return tailLines([buffer])
    } finally {
      NodeFs.closeSync(fd)
    }
  } catch {
    return []
  }
}

/** @internal sends a signal to a process group; false when there is none left */
export const killGroup = (pgid: number, signal: string): boolean => signalProcess(-pgid, signal)

/**
 * `kill(2)` as Node's own `process.kill` makes it, without the exception it throws when there is
 * no such process: a stop kills what is left of a dead child's group, which is nothing most of
 * the time, and an `ErrnoException` costs more than the system call.
 */
const rawKill = (process as unknown as { _kill?: (pid: number, signal: number) => number })._kill

/** @internal sends a signal to one process (a process group when `pid` is negative); false when it cannot */
export const signalProcess = (pid: number, signal: string): boolean => {
  const number = NodeOs.constants.signals[signal as NodeJS.Signals] as number | undefined
  if (typeof rawKill === "function" && number !== undefined) return rawKill.call(process, pid, number) === 0
  try {
    process.kill(pid, signal as NodeJS.Signals)
    return true
  } catch {
    return false
  }
}

/** @internal sends a signal to a process group, or to the process alone when it has no group left */
export const signalGroupOrProcess = (pid: number, signal: string): boolean =>
  killGroup(pid, signal) || signalProcess(pid, signal)

/** @internal the authorisation covers this exit, `upMillis` after it was given */
export const authorises = (authorisation: Authorisation, info: ExitInfo, upMillis: number): boolean =>
  (info.signal !== undefined || info.exitCode !== 0 ? authorisation.abnormal : authorisation.normal) &&
  upMillis >= authorisation.afterMillis

/**
 * The whole environment of a command line and the variables added to it, made once for a given
 * pair (with `extendEnv`, from the HAM's environment as it is then): every life of an entity
 * starts with the same environment, and copying `process.env` is not cheap.
 */
const environments = new WeakMap<
  object,
  { readonly line: CommandLine; readonly env: Record<string, string | undefined> }
>()

/** @internal the environment a single command is spawned with (cached by the identity of `extra`) */
export const environmentOf = (line: CommandLine, extra: { readonly [key: string]: string }) => {
  const known = environments.get(extra)
  if (known !== undefined && known.line === line) return known.env
  const env = line.extendEnv ? { ...process.env, ...line.env, ...extra } : { ...line.env, ...extra }
  environments.set(extra, { line, env })
  return env
}

/** @internal what is reported about one child */
export interface Listener {
  readonly onData: (fd: 1 | 2, chunk: Buffer) => void
  readonly onOutputClosed: () => void
  /** `next`: the child the forker started in its place, as it was authorised to (`Forked.arm`) */
  readonly onExit: (info: ExitInfo, next: Relaunch | undefined) => void
}

/** @internal a child that runs */
export interface Forked {
  readonly pid: number
  /** the Node handle, when it is a child of this process */
  readonly child?: ChildProcess | undefined
  /** authorises the forker to start the same command again as soon as the child exits, or withdraws it */
  readonly arm?: ((authorisation: Authorisation | undefined) => void) | undefined
  /** signals the child's group (or the child) through the forker, which withdraws any authorisation first */
  readonly signal?: ((signal: string) => void) | undefined
}

/**
 * A child a forker started by itself when the last one exited: `join` takes it up (its reports go
 * to `listener` from then on, and it succeeds once the child runs); `discard` lets it go (it is
 * killed as soon as it is up). One of the two is called once.
 *
 * @internal
 */
export interface Relaunch {
  readonly join: (listener: Listener) => Effect.Effect<Forked, string>
  readonly discard: () => void
}

/**
 * Runs `self` to its end even when the caller is interrupted meanwhile, and waits for it: a stop
 * (a signal, a grace, SIGKILL, the resources released) is a finalizer's work. `self` runs in a
 * fiber of its own, detached on purpose (a daemon fiber): an interrupted fiber interrupts its
 * children at once, even in an uninterruptible region, and a timeout's wait is such a child. `self`
 * runs interruptibly (nothing interrupts it; its timeouts fire, in a finalizer too); the caller
 * awaits it uninterruptibly.
 *
 * @internal
 */
export const toTheEnd = <A>(self: Effect.Effect<A>): Effect.Effect<A> =>
  Effect.uninterruptible(Effect.flatMap(Effect.forkDaemon(Effect.interruptible(self)), Fiber.join))

/** @internal what every way of spawning a life is given */
export interface Setting {
  readonly request: LaunchRequest
  readonly runtime: Runtime.Runtime<never>
  /** the output file, when the output goes to one */
  readonly fd: number | undefined
  /** the child writes its output to this file itself: its last lines are read from there */
  readonly tailFile: string | undefined
  /** the life outlives this process: its start time is read, for a later HAM to adopt it */
  readonly outlives: boolean
  /** the next life of the same request: the child a forker started by itself (`Relaunch`) */
  readonly again: (relaunch: Relaunch) => NextLife
}

/** how long an exit waits for the last output lines of the process (its stdout and stderr to end) */
const outputGraceMillis = 20

/**
 * One life of a process: its output (the file, the log, the stderr tail), its exit, and how it is
 * stopped; the listener of a single command's reports (`child.ts`), or told directly by a
 * pipeline's. One object with its methods on the prototype: an idle child costs the HAM little
 * (its scope, its exit's deferred, its line splitters are made when first needed).
 *
 * @internal
 */
export class ChildLife implements Life, Listener {
  /** 0 until the forker says the process runs */
  pid = 0
  startTime: number | undefined = undefined
  private forked: Forked | undefined = undefined
  private tail: Array<string> | undefined = undefined
  private rawTail: Array<Uint8Array> | undefined = undefined
  private rawTailBytes = 0
  private out: Splitter | undefined = undefined
  private err: Splitter | undefined = undefined
  private deferred: Deferred.Deferred<ExitInfo> | undefined = undefined
  /** the process exited */
  private done = false
  /** how it ended, once reported (the last output lines are in) */
  private info: ExitInfo | undefined = undefined
  private outputEnded = false
  /** an exit waiting for the last output lines, or (reported before the process was known to run) for its pid */
  private pending: { readonly info: ExitInfo; readonly next: Relaunch | undefined } | undefined = undefined
  private file: output_.OutputWriter | undefined = undefined

  /** the output file is still open */
  private fileOpen: boolean

  constructor(readonly setting: Setting, private scope: Scope.CloseableScope | undefined) {
    this.fileOpen = setting.fd !== undefined
  }

  /** the output file's writer, made on the first write */
  private fileOf(fd: number, output: output_.FileOutput): output_.OutputWriter {
    return this.file ??= new output_.OutputWriter(output, fd)
  }

  /** the process runs: its pid (and start time, when it outlives this process) */
  started(forked: Forked) {
    this.pid = forked.pid
    if (forked.arm !== undefined || forked.signal !== undefined || forked.child !== undefined) this.forked = forked
    if (this.setting.outlives) this.startTime = procStart.startTimeOf(forked.pid)
    const pending = this.pending
    if (pending !== undefined) {
      this.pending = undefined
      this.onExited(pending.info, pending.next)
    }
  }

  /** the life's own scope (its log lines and its exit's grace are fibers of it), made when first needed */
  private scopeOf(): Scope.CloseableScope {
    return this.scope ??= Effect.runSync(Scope.make())
  }

  get exit(): Effect.Effect<ExitInfo> {
    return Effect.suspend(() => {
      const info = this.info
      if (info !== undefined) return Effect.succeed(info)
      return Deferred.await(this.deferred ??= Deferred.unsafeMake<ExitInfo>(FiberId.none))
    })
  }

  exited() {
    return this.done
  }

  get outputFile(): string | undefined {
    const output = this.setting.request.output
    return this.setting.tailFile ?? (typeof output === "object" ? output.file : undefined)
  }

  exitInfo() {
    return this.info
  }

  stderrTail(): ReadonlyArray<string> {
    const tailFile = this.setting.tailFile
    if (tailFile !== undefined) return fileTail(tailFile)
    const raw = this.rawTail
    return raw !== undefined && raw.length > 0 ? tailLines(raw) : [...(this.tail ?? [])]
  }

  // ---- what the process reports

  onData(fd: 1 | 2, chunk: Buffer) {
    if (this.setting.request.output === "ignore") {
      if (fd === 2) this.onRawStderr(chunk)
      return
    }
    if (fd === 1) (this.out ??= lineSplitter((lines) => this.onLines("stdout", lines))).push(chunk)
    else (this.err ??= lineSplitter((lines) => this.onLines("stderr", lines))).push(chunk)
  }

  /** its output has ended, stdout and stderr: their last partial lines are in */
  onOutputClosed() {
    this.out?.end()
    this.err?.end()
    this.onOutputEnd()
  }

  onExit(info: ExitInfo, next: Relaunch | undefined) {
    // reported before the forker said it runs: taken up when it does
    if (this.pid === 0) {
      this.pending = { info, next }
      return
    }
    this.onExited(info, next)
  }

  /** complete lines of output */
  onLines(name: "stdout" | "stderr", lines: ReadonlyArray<string>) {
    if (name === "stderr") {
      const tail = this.tail ??= []
      for (const line of lines) tail.push(line)
      if (tail.length > stderrTailLines) tail.splice(0, tail.length - stderrTailLines)
    }
    const { fd, request } = this.setting
    if (fd !== undefined) {
      if (!this.fileOpen || typeof request.output !== "object") return
      const now = request.output.timestamps === true
        ? Runtime.runSync(this.setting.runtime, Clock.currentTimeMillis)
        : undefined
      this.fileOf(fd, request.output).write(lines, name === "stderr" ? "[stderr] " : "", now)
    } else if (request.output === "log" && lines.length > 0) {
      // a fiber of the life's scope: it goes with the life
      Runtime.runFork(
        this.setting.runtime,
        Effect.forEach(lines, (line) => request.onLine(name, line), { discard: true }),
        { immediate: true, scope: this.scopeOf() }
      )
    }
  }

  /** raw stderr of a child whose output goes nowhere: its last bytes, cut into lines when asked */
  onRawStderr(chunk: Uint8Array) {
    const raw = this.rawTail ??= []
    raw.push(chunk)
    this.rawTailBytes += chunk.length
    while (raw.length > 1 && this.rawTailBytes - raw[0].length >= maxTailBytes) {
      this.rawTailBytes -= raw.shift()!.length
    }
  }

  /** the process has exited: reported once its last output lines are in, or after a moment */
  onExited(info: ExitInfo, next?: Relaunch | undefined) {
    if (this.done) {
      next?.discard()
      return
    }
    this.done = true
    if (this.outputEnded) return this.finish(info, next)
    this.pending = { info, next }
    // a grandchild may hold its output open: the exit is not held back for long (a fiber of the life's
    // scope; the exit is reported at the latest when the scope closes)
    Runtime.runFork(
      this.setting.runtime,
      Effect.ensuring(Effect.sleep(outputGraceMillis), Effect.sync(() => this.finishPending())),
      { scope: this.scopeOf() }
    )
  }

  /** its output (stdout and stderr) has ended */
  onOutputEnd() {
    this.outputEnded = true
    if (this.done) this.finishPending()
  }

  private finishPending() {
    const pending = this.pending
    if (pending === undefined) return
    this.pending = undefined
    this.finish(pending.info, pending.next)
  }

  private finish(info: ExitInfo, next: Relaunch | undefined) {
    if (this.info !== undefined) return next?.discard()
    // the partial last lines, when the output has not ended (a grandchild may hold it open)
    this.out?.end()
    this.err?.end()
    this.info = info
    this.forked = this.forked?.child === undefined ? undefined : this.forked
    this.setting.request.onExit(this, info, next === undefined ? undefined : this.setting.again(next))
    const deferred = this.deferred
    if (deferred !== undefined) Deferred.unsafeDone(deferred, Exit.succeed(info))
  }

  // ---- what the HAM asks

  arm(authorisation: Authorisation | undefined) {
    if (!this.done) this.forked?.arm?.(authorisation)
  }

  /** a stop's signal: through the forker, which withdraws any authorisation first, or from here */
  private signal(signal: string) {
    const forked = this.forked
    if (forked?.signal !== undefined) return forked.signal(signal)
    forked?.arm?.(undefined)
    signalGroupOrProcess(this.pid, signal)
  }

  /**
   * Stops the whole process group: `signal`, then SIGKILL after `graceMillis` if the process is
   * still there; finally SIGKILL to what is left of the group. Its resources go with it.
   *
   * It runs to its end even when its caller is interrupted meanwhile (`toTheEnd`): a stop cut short
   * while it waits out the grace would leave the process running. (The stop of a process that has
   * exited, as at every death, waits for nothing: it needs no fiber of its own.)
   */
  stop(signal: string, graceMillis: number): Effect.Effect<void> {
    const stopping = Effect.suspend(() => {
      if (!this.done) this.signal(signal)
      const waited = this.done ? Effect.void : Effect.asVoid(Effect.timeoutOption(this.exit, graceMillis))
      return waited.pipe(
        Effect.zipRight(Effect.suspend(() => {
          if (!this.done) this.signal("SIGKILL")
          return this.done ? Effect.void : this.exit
        })),
        Effect.zipRight(Effect.sync(() => killGroup(this.pid, "SIGKILL"))),
        Effect.zipRight(Effect.suspend(() => this.release()))
      )
    })
    return this.done ? Effect.uninterruptible(stopping) : toTheEnd(stopping)
  }

  /** the streams of a child of this process, the output file, the life's scope */
  private release(): Effect.Effect<void> {
    const child = this.forked?.child
    child?.stdout?.destroy()
    child?.stderr?.destroy()
    const file = this.file
    this.file = undefined
    const fd = this.setting.fd
    if (this.fileOpen && file === undefined && fd !== undefined) NodeFs.closeSync(fd)
    this.fileOpen = false
    const scope = this.scope
    const closing = scope === undefined ? Effect.void : Scope.close(scope, Exit.void)
    return file === undefined
      ? closing
      : Effect.zipRight(
        Effect.async<void>((resume) => {
          file.close(() => resume(Effect.void))
        }),
        closing
      )
  }
}

interface Splitter {
  readonly push: (chunk: Buffer) => void
  readonly end: () => void
}

/** @internal cuts a byte stream into lines (bounded: a line too long is cut, never kept whole in memory) */
export const lineSplitter = (emit: (lines: ReadonlyArray<string>) => void): Splitter => {
  const decoder = new StringDecoder("utf8")
  let partial = ""
  return {
    push: (chunk: Buffer) => {
      const parts = (partial + decoder.write(chunk)).split("\n")
      partial = parts.pop()!
      if (partial.length > maxLineLength) {
        parts.push(partial)
        partial = ""
      }
      if (parts.length > 0) emit(parts.map((line) => clip(line.endsWith("\r") ? line.slice(0, -1) : line)))
    },
    end: () => {
      const rest = partial + decoder.end()
      partial = ""
      if (rest !== "") emit([clip(rest)])
    }
  }
}
