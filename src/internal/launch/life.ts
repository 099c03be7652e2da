/**
 * What every way of launching a life shares: the life itself (its output drained to the log, a
 * file or nowhere, the last lines of its stderr kept, its exit observed, its whole process group
 * stopped on request), output cut into bounded lines, the environments of an entity's lives, and
 * signals to processes and groups.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Runtime from "effect/Runtime"
import * as Scope from "effect/Scope"
import * as NodeFs from "node:fs"
import { StringDecoder } from "node:string_decoder"
import type { CommandLine } from "../action.js"
import * as procStart from "../procStart.js"
import type { ExitInfo, LaunchRequest, Life } from "./launcher.js"

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

/** @internal sends a signal to one process; false when it cannot */
export const signalProcess = (pid: number, signal: string): boolean => {
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

/** @internal what every way of spawning a life is given */
export interface Setting {
  readonly request: LaunchRequest
  readonly runtime: Runtime.Runtime<never>
  /** the life's own scope */
  readonly scope: Scope.CloseableScope
  /** the output file, when the output goes to one */
  readonly fd: number | undefined
  /** the child writes its output to this file itself: its last lines are read from there */
  readonly tailFile: string | undefined
  /** the life outlives this process: its start time is read, for a later HAM to adopt it */
  readonly outlives: boolean
}

/** @internal what a way of spawning tells the life about the process */
export interface LifeWiring {
  readonly life: Life
  /** complete lines of output */
  readonly onLines: (name: "stdout" | "stderr", lines: ReadonlyArray<string>) => void
  /** raw stderr of a child whose output goes nowhere */
  readonly onRawStderr: (chunk: Uint8Array) => void
  /** the process has exited */
  readonly onExited: (info: ExitInfo) => void
  /** its stderr has ended */
  readonly onStderrEnd: () => void
}

/** how long an exit waits for the last stderr lines of the process */
const stderrGraceMillis = 20

/**
 * The parts of a life that do not depend on how it was spawned: its output (the file, the log,
 * the stderr tail), its exit, and how it is stopped.
 *
 * @internal
 */
export const makeLife = (pid: number, { fd, outlives, request, runtime, scope, tailFile }: Setting): LifeWiring => {
  const tail: Array<string> = []
  const rawTail: Array<Uint8Array> = []
  let rawTailBytes = 0
  const exit = Deferred.unsafeMake<ExitInfo>(FiberId.none)
  let done = false
  let exitInfo: ExitInfo | undefined
  let stderrEnded = false
  let pending: ExitInfo | undefined

  // the output file (a write error, disk full..., must not crash the host: the output is lost,
  // the child runs on)
  const file = fd === undefined ? undefined : NodeFs.createWriteStream("", { fd })
  file?.on("error", () => {})
  if (file !== undefined) {
    Effect.runSync(Scope.addFinalizer(
      scope,
      Effect.async<void>((resume) => {
        file.end(() => resume(Effect.void))
      })
    ))
  }
  const logLines = (name: "stdout" | "stderr", lines: ReadonlyArray<string>) => {
    if (request.output !== "log" || lines.length === 0) return
    // a fiber of the life's scope: it goes with the life
    Runtime.runFork(runtime, Effect.forEach(lines, (line) => request.onLine(name, line), { discard: true }), {
      immediate: true,
      scope
    })
  }
  const onLines = (name: "stdout" | "stderr", lines: ReadonlyArray<string>) => {
    if (name === "stderr") {
      for (const line of lines) tail.push(line)
      if (tail.length > stderrTailLines) tail.splice(0, tail.length - stderrTailLines)
    }
    if (file !== undefined) {
      const prefix = name === "stderr" ? "[stderr] " : ""
      file.write(lines.map((line) => `${prefix}${line}\n`).join(""))
    } else {
      logLines(name, lines)
    }
  }
  /** its last bytes, cut into lines when asked */
  const onRawStderr = (chunk: Uint8Array) => {
    rawTail.push(chunk)
    rawTailBytes += chunk.length
    while (rawTail.length > 1 && rawTailBytes - rawTail[0].length >= maxTailBytes) {
      rawTailBytes -= rawTail.shift()!.length
    }
  }

  const finish = (info: ExitInfo) => {
    if (exitInfo !== undefined) return
    exitInfo = info
    request.onExit(life, info)
    Deferred.unsafeDone(exit, Exit.succeed(info))
  }
  /** reported once its last stderr lines are in, or after a moment */
  const onExited = (info: ExitInfo) => {
    if (done) return
    done = true
    if (stderrEnded) return finish(info)
    pending = info
    // a grandchild may hold stderr open: the exit is not held back for long (a fiber of the life's
    // scope; the exit is reported at the latest when the scope closes)
    Runtime.runFork(
      runtime,
      Effect.ensuring(Effect.sleep(stderrGraceMillis), Effect.sync(() => finish(info))),
      { scope }
    )
  }
  const onStderrEnd = () => {
    stderrEnded = true
    if (pending !== undefined) finish(pending)
  }

  const stop = (signal: string, graceMillis: number): Effect.Effect<void> =>
    Effect.suspend(() => {
      if (!done) signalGroupOrProcess(pid, signal)
      const waited = done ? Effect.void : Effect.asVoid(Effect.timeoutOption(Deferred.await(exit), graceMillis))
      return waited.pipe(
        Effect.zipRight(Effect.suspend(() => {
          if (!done) signalGroupOrProcess(pid, "SIGKILL")
          return done ? Effect.void : Deferred.await(exit)
        })),
        Effect.zipRight(Effect.sync(() => killGroup(pid, "SIGKILL"))),
        Effect.zipRight(Scope.close(scope, Exit.void)),
        Effect.interruptible
      )
    })

  const life: Life = {
    pid,
    exit: Deferred.await(exit),
    exited: () => done,
    exitInfo: () => exitInfo,
    stderrTail: () =>
      tailFile !== undefined
        ? fileTail(tailFile)
        : rawTail.length === 0
        ? [...tail]
        : tailLines(rawTail),
    stop,
    ...(outlives ? { startTime: procStart.startTimeOf(pid) } : {})
  }
  return { life, onLines, onRawStderr, onExited, onStderrEnd }
}

/** @internal cuts a byte stream into lines (bounded: a line too long is cut, never kept whole in memory) */
export const lineSplitter = (emit: (lines: ReadonlyArray<string>) => void) => {
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
