/**
 * One life of a process entity: spawned through the platform's `CommandExecutor`, its output
 * drained (so a pipe never fills and blocks the child), the last lines of its stderr kept, its
 * exit observed, and its whole process group stopped on request.
 *
 * @internal
 */
import type * as Command from "@effect/platform/Command"
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as NodeFs from "node:fs"
import * as NodeNet from "node:net"
import type { CommandLine } from "./action.js"

/** @internal how a process ended */
export interface ExitInfo {
  readonly exitCode?: number | undefined
  readonly signal?: string | undefined
}

/** @internal where the output of a process entity goes */
export type OutputOption = "log" | "ignore" | { readonly file: string }

/** @internal */
export interface Life {
  readonly pid: number
  /** completes when the process has exited (never fails) */
  readonly exit: Effect.Effect<ExitInfo>
  readonly exited: () => boolean
  /** how it ended, once known to the HAM (the last stderr lines are in) */
  readonly exitInfo: () => ExitInfo | undefined
  /** the last lines the process wrote to stderr (bounded) */
  readonly stderrTail: () => ReadonlyArray<string>
  /**
   * Stops the whole process group: `signal`, then SIGKILL after `graceMillis` if the process is
   * still there; finally SIGKILL to what is left of the group. Closes the life's scope.
   */
  readonly stop: (signal: string, graceMillis: number) => Effect.Effect<void>
}

/** @internal the number of stderr lines kept for a death record */
export const stderrTailLines = 20

const maxLineLength = 1000

/** a line of output, cut to a bounded length */
const clip = (line: string): string => (line.length > maxLineLength ? line.slice(0, maxLineLength) + "…" : line)

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

/**
 * A command line that writes its own output to `file` (appending, stdout and stderr together),
 * through `sh -c 'exec ...'`: the process itself is the command (exec), and its output does not
 * go through a pipe to the HAM, so it outlives the HAM. Shell lines and pipelines are left as
 * they are (they keep their pipes).
 *
 * @internal
 */
export const writingTo = (line: CommandLine, file: string): CommandLine =>
  line.shell !== false || line.pipeTo !== undefined
    ? line
    : {
      ...line,
      command: "/bin/sh",
      args: ["-c", `exec "$0" "$@" >>"$HAM_OUTPUT_FILE" 2>&1`, line.command, ...line.args],
      env: { ...line.env, HAM_OUTPUT_FILE: file }
    }

/** @internal the signal name in the platform's error for a child killed by a signal */
export const signalOf = (description: string): string | undefined => /signal:?\s*(SIG[A-Z0-9]+)/.exec(description)?.[1]

/** @internal sends a signal to a process group; false when there is none left */
export const killGroup = (pgid: number, signal: string): boolean => {
  try {
    process.kill(-pgid, signal as NodeJS.Signals)
    return true
  } catch {
    return false
  }
}

const lines = (stream: Stream.Stream<Uint8Array, unknown>) =>
  stream.pipe(
    Stream.decodeText(),
    Stream.splitLines,
    Stream.map(clip)
  )

/**
 * Spawns one life of a process entity in a scope of its own. `onLine` receives every line of
 * output (when the output goes to the log).
 *
 * @internal
 */
export const spawn = (options: {
  readonly command: Command.Command
  readonly executor: CommandExecutor.CommandExecutor
  readonly output: OutputOption
  readonly onLine: (stream: "stdout" | "stderr", line: string) => Effect.Effect<void>
  /** called once, as soon as the exit is known (and the last stderr lines are in) */
  readonly onExit: (life: Life, info: ExitInfo) => void
  /** the child writes its output to this file itself: its last lines are read from there */
  readonly tailFile?: string | undefined
}): Effect.Effect<Life, string> =>
  Effect.gen(function*() {
    // the output file is opened first: a file that cannot be opened is a spawn failure
    const output = options.output
    const fd = typeof output === "object"
      ? yield* Effect.try({
        try: () => NodeFs.openSync(output.file, "a", 0o640),
        catch: (e) => `cannot open the output file ${output.file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`
      })
      : undefined
    const scope = yield* Scope.make()
    const started = yield* options.executor.start(options.command).pipe(
      Scope.extend(scope),
      Effect.mapError((e) => e.message),
      Effect.onError(() =>
        Effect.zipRight(
          Scope.close(scope, Exit.void),
          Effect.sync(() => {
            if (fd !== undefined) NodeFs.closeSync(fd)
          })
        )
      )
    )
    const pid = started.pid
    const tail: Array<string> = []
    const rawTail: Array<Uint8Array> = []
    let rawTailBytes = 0
    const exit = yield* Deferred.make<ExitInfo>()
    const stderrDone = yield* Deferred.make<void>()
    let done = false
    let stderrEnded = false
    let exitInfo: ExitInfo | undefined

    // the output: always drained; stderr's last lines kept
    const file = fd === undefined ? undefined : NodeFs.createWriteStream("", { fd })
    // a write error (disk full, ...) must not crash the host: the output is lost, the child runs on
    file?.on("error", () => {})
    if (file !== undefined) {
      yield* Scope.addFinalizer(
        scope,
        Effect.async<void>((resume) => {
          file.end(() => resume(Effect.void))
        })
      )
    }
    const sink = (name: "stdout" | "stderr") => (line: string) =>
      Effect.suspend(() => {
        if (name === "stderr") {
          tail.push(line)
          if (tail.length > stderrTailLines) tail.shift()
        }
        if (file !== undefined) {
          file.write(`${name === "stderr" ? "[stderr] " : ""}${line}\n`)
          return Effect.void
        }
        return options.output === "log" ? options.onLine(name, line) : Effect.void
      })
    // output that goes nowhere is drained as raw chunks (no text decoding, no line splitting);
    // the stderr of such a child is kept as its last bytes and cut into lines when asked for
    const ignored = options.output === "ignore"
    const drainStderr = ignored
      ? Stream.runForEach(started.stderr, (chunk) =>
        Effect.sync(() => {
          rawTail.push(chunk)
          rawTailBytes += chunk.length
          while (rawTail.length > 1 && rawTailBytes - rawTail[0].length >= maxTailBytes) {
            rawTailBytes -= rawTail.shift()!.length
          }
        }))
      : Stream.runForEach(lines(started.stderr), sink("stderr"))
    yield* Effect.forkIn(
      (ignored ? Stream.runDrain(started.stdout) : Stream.runForEach(lines(started.stdout), sink("stdout"))).pipe(
        Effect.ignore
      ),
      scope
    )
    yield* Effect.forkIn(
      drainStderr.pipe(
        Effect.ignore,
        Effect.ensuring(Effect.suspend(() => {
          stderrEnded = true
          return Deferred.succeed(stderrDone, undefined)
        }))
      ),
      scope
    )

    const stop = (signal: string, graceMillis: number): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (!done && !killGroup(pid, signal)) tryKill(pid, signal)
        const waited = done ? Effect.void : Effect.asVoid(Effect.timeoutOption(Deferred.await(exit), graceMillis))
        return waited.pipe(
          Effect.zipRight(Effect.suspend(() => {
            if (!done && !killGroup(pid, "SIGKILL")) tryKill(pid, "SIGKILL")
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
        options.tailFile !== undefined
          ? fileTail(options.tailFile)
          : rawTail.length === 0
          ? [...tail]
          : tailLines(rawTail),
      stop
    }

    // the exit: a code, or death by a signal (the platform reports it as a failure)
    yield* started.exitCode.pipe(
      Effect.match({
        onSuccess: (code): ExitInfo => ({ exitCode: code }),
        onFailure: (e): ExitInfo => {
          const signal = signalOf(e.message)
          return signal === undefined ? { signal: "unknown" } : { signal }
        }
      }),
      Effect.tap((info) =>
        Effect.sync(() => {
          done = true
        }).pipe(
          // the last stderr lines may still be in the pipe: give them a moment to arrive
          Effect.zipRight(stderrEnded ? Effect.void : Effect.timeoutOption(Deferred.await(stderrDone), 20)),
          Effect.zipRight(Effect.sync(() => {
            exitInfo = info
            options.onExit(life, info)
          })),
          Effect.zipRight(Deferred.succeed(exit, info))
        )
      ),
      Effect.forkIn(scope)
    )

    return life
  })

/** @internal sends a signal to one process; false when it cannot */
export const signalProcess = (pid: number, signal: string): boolean => tryKill(pid, signal)

/** @internal true when a TCP connection to host:port is accepted (and closed at once) */
export const accepts = (host: string, port: number): Effect.Effect<boolean> =>
  Effect.async<boolean>((resume) => {
    const socket = NodeNet.connect({ host, port })
    const done = (ok: boolean) => {
      socket.removeAllListeners()
      socket.destroy()
      resume(Effect.succeed(ok))
    }
    socket.once("connect", () => done(true))
    socket.once("error", () => done(false))
    return Effect.sync(() => {
      socket.removeAllListeners()
      socket.destroy()
    })
  })

const tryKill = (pid: number, signal: string): boolean => {
  try {
    process.kill(pid, signal as NodeJS.Signals)
    return true
  } catch {
    return false
  }
}
