/**
 * One life of a process entity: spawned, its output drained (so a pipe never fills and blocks
 * the child), the last lines of its stderr kept, its exit observed, and its whole process group
 * stopped on request.
 *
 * A single command is spawned here, on `node:child_process`, with a supervisor's own wiring:
 * stdin is /dev/null, stdout is not even a pipe when the output is ignored, and the exit is
 * taken from the child's own `exit` event. A pipeline (`Command.pipeTo`) is started through the
 * platform's `CommandExecutor`, which joins its commands.
 *
 * @internal
 */
import * as Command from "@effect/platform/Command"
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Runtime from "effect/Runtime"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as NodeChildProcess from "node:child_process"
import * as NodeFs from "node:fs"
import { StringDecoder } from "node:string_decoder"
import { commandFrom, type CommandLine } from "./action.js"
import type * as spawner_ from "./spawner.js"

/** @internal how a process ended */
export interface ExitInfo {
  readonly exitCode?: number | undefined
  readonly signal?: string | undefined
}

/** @internal how a process ended, from what Node's `exit` event gives (a code, or else a signal) */
export const exitInfoOf = (code: number | null, signal: string | null): ExitInfo =>
  code !== null ? { exitCode: code } : { signal: signal ?? "unknown" }

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

/** @internal what `spawn` needs */
export interface SpawnOptions {
  /** what to run: a command, or a pipeline of them */
  readonly line: CommandLine
  /** added to the command line's environment */
  readonly env: { readonly [key: string]: string }
  readonly executor: CommandExecutor.CommandExecutor
  readonly output: OutputOption
  readonly onLine: (stream: "stdout" | "stderr", line: string) => Effect.Effect<void>
  /** called once, as soon as the exit is known (and the last stderr lines are in) */
  readonly onExit: (life: Life, info: ExitInfo) => void
  /** the child writes its output to this file itself: its last lines are read from there */
  readonly tailFile?: string | undefined
  /** forks single commands (else they are spawned by this process) */
  readonly spawner?: spawner_.Spawner | undefined
  /** every command goes through the platform's executor */
  readonly executorOnly?: boolean | undefined
}

/**
 * Spawns one life of a process entity in a scope of its own. `onLine` receives every line of
 * output (when the output goes to the log).
 *
 * @internal
 */
export const spawn = (options: SpawnOptions): Effect.Effect<Life, string> =>
  Effect.gen(function*() {
    // the output file is opened first: a file that cannot be opened is a spawn failure
    const output = options.output
    const fd = typeof output === "object"
      ? yield* Effect.try({
        try: () => NodeFs.openSync(output.file, "a", 0o640),
        catch: (e) => `cannot open the output file ${output.file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`
      })
      : undefined
    const closeFd = Effect.sync(() => {
      if (fd !== undefined) NodeFs.closeSync(fd)
    })
    const runtime = yield* Effect.runtime<never>()
    const scope = yield* Scope.make()
    const setting: Setting = { options, runtime, scope, fd }
    const life = yield* (options.line.pipeTo === undefined && options.executorOnly !== true
      ? spawnChild(options.line, setting)
      : spawnWithExecutor(setting)).pipe(
        Effect.onError(() => Effect.zipRight(Scope.close(scope, Exit.void), closeFd))
      )
    return life
  })

/** what every way of spawning a life is given */
interface Setting {
  readonly options: SpawnOptions
  readonly runtime: Runtime.Runtime<never>
  /** the life's own scope */
  readonly scope: Scope.CloseableScope
  /** the output file, when the output goes to one */
  readonly fd: number | undefined
}

/**
 * The parts of a life that do not depend on how it was spawned: its output (the file, the log,
 * the stderr tail), its exit, and how it is stopped.
 */
const makeLife = (pid: number, { fd, options, runtime, scope }: Setting) => {
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
    if (options.output !== "log" || lines.length === 0) return
    Runtime.runFork(runtime, Effect.forEach(lines, (line) => options.onLine(name, line), { discard: true }), {
      immediate: true
    })
  }
  /** complete lines of output */
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
  /** raw stderr of a child whose output goes nowhere: its last bytes, cut into lines when asked */
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
    options.onExit(life, info)
    Deferred.unsafeDone(exit, Exit.succeed(info))
  }
  /** the process has exited: reported once its last stderr lines are in, or after a moment */
  const onExited = (info: ExitInfo) => {
    if (done) return
    done = true
    if (stderrEnded) return finish(info)
    pending = info
    // a grandchild may hold stderr open: the exit is not held back for long
    Runtime.runFork(runtime, Effect.zipRight(Effect.sleep(stderrGraceMillis), Effect.sync(() => finish(info))))
  }
  const onStderrEnd = () => {
    stderrEnded = true
    if (pending !== undefined) finish(pending)
  }

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
  return { life, onLines, onRawStderr, onExited, onStderrEnd }
}

/** how long an exit waits for the last stderr lines of the process */
const stderrGraceMillis = 20

/** cuts a byte stream into lines (bounded: a line too long is cut, never kept whole in memory) */
const lineSplitter = (emit: (lines: ReadonlyArray<string>) => void) => {
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

/**
 * Holds what a child reports until its life is wired up: a child may write, and even exit,
 * before the fiber that spawned it runs again.
 */
const relay = () => {
  let target: spawner_.Listener | undefined
  const early: Array<(listener: spawner_.Listener) => void> = []
  const deliver = (f: (listener: spawner_.Listener) => void) => target === undefined ? early.push(f) : f(target)
  const listener: spawner_.Listener = {
    onData: (fd, chunk) => deliver((l) => l.onData(fd, chunk)),
    onStderrClosed: () => deliver((l) => l.onStderrClosed()),
    onExit: (info) => deliver((l) => l.onExit(info))
  }
  const connect = (to: spawner_.Listener) => {
    target = to
    for (const f of early.splice(0)) f(to)
  }
  return { listener, connect }
}

/** spawns a single command in this process: its own process group, stdin /dev/null */
const spawnHere = (request: spawner_.Request, listener: spawner_.Listener) =>
  Effect.async<NodeChildProcess.ChildProcess, string>((resume) => {
    let child: NodeChildProcess.ChildProcess
    try {
      child = NodeChildProcess.spawn(request.command, request.args, {
        stdio: ["ignore", request.stdout ? "pipe" : "ignore", "pipe"],
        cwd: request.cwd,
        env: request.env,
        shell: request.shell,
        detached: true
      })
    } catch (e) {
      resume(Effect.fail((e as Error).message))
      return
    }
    child.on("error", (e: NodeJS.ErrnoException) => {
      if (child.pid === undefined) resume(Effect.fail(e.code ?? e.message))
    })
    child.once("spawn", () => resume(Effect.succeed(child)))
    child.stdout?.on("data", (chunk: Buffer) => listener.onData(1, chunk))
    child.stderr!.on("data", (chunk: Buffer) => listener.onData(2, chunk))
    // the end of stderr (or its close, when it is destroyed without an end)
    let stderrClosed = false
    const onStderrClosed = () => {
      if (!stderrClosed) listener.onStderrClosed()
      stderrClosed = true
    }
    child.stderr!.once("end", onStderrClosed)
    child.stderr!.once("close", onStderrClosed)
    child.once("exit", (code, signal) => {
      listener.onExit(exitInfoOf(code, signal))
    })
    // interrupted before it is up: it goes at once
    return Effect.sync(() => {
      if (child.pid !== undefined && !killGroup(child.pid, "SIGKILL")) child.kill("SIGKILL")
    })
  })

/**
 * The whole environment of a command line and the variables added to it, made once for a given
 * pair (with `extendEnv`, from the HAM's environment as it is then): every life of an entity
 * starts with the same environment, and copying `process.env` is not cheap.
 */
const environments = new WeakMap<
  object,
  { readonly line: CommandLine; readonly env: Record<string, string | undefined> }
>()
const environmentOf = (line: CommandLine, extra: { readonly [key: string]: string }) => {
  const known = environments.get(extra)
  if (known !== undefined && known.line === line) return known.env
  const env = line.extendEnv ? { ...process.env, ...line.env, ...extra } : { ...line.env, ...extra }
  environments.set(extra, { line, env })
  return env
}

/** a single command: its own process group, stdin /dev/null; forked by the spawner when there is one */
const spawnChild = (line: CommandLine, setting: Setting): Effect.Effect<Life, string> =>
  Effect.gen(function*() {
    const { options, scope } = setting
    const cwd = line.cwd
    if (cwd !== undefined) {
      yield* Effect.try({
        try: () => NodeFs.accessSync(cwd),
        catch: (e) => `the working directory ${cwd} cannot be used: ${(e as NodeJS.ErrnoException).code ?? String(e)}`
      })
    }
    const ignored = options.output === "ignore"
    const request: spawner_.Request = {
      command: line.command,
      args: line.args,
      env: environmentOf(line, options.env),
      cwd,
      shell: line.shell,
      stdout: !ignored
    }
    const reports = relay()
    const here = Effect.map(spawnHere(request, reports.listener), (child) => ({ pid: child.pid!, child }))
    const spawner = options.spawner
    // through the spawner while it can run; when it cannot, from this process
    const spawned: Effect.Effect<{ pid: number; child: NodeChildProcess.ChildProcess | undefined }, string> =
      spawner !== undefined && spawner.available()
        ? spawner.spawn(request, reports.listener).pipe(
          Effect.map((pid) => ({ pid, child: undefined })),
          Effect.catchAll((reason) => spawner.available() ? Effect.fail(reason) : here)
        )
        : here
    const { child, pid } = yield* Effect.mapError(spawned, (reason) => `cannot start ${line.command}: ${reason}`)
    const { life, onExited, onLines, onRawStderr, onStderrEnd } = makeLife(pid, setting)
    // a live child is never left behind by its scope
    yield* Scope.addFinalizer(
      scope,
      Effect.sync(() => {
        if (!life.exited() && !killGroup(pid, "SIGKILL")) tryKill(pid, "SIGKILL")
        child?.stdout?.destroy()
        child?.stderr?.destroy()
      })
    )
    const out = lineSplitter((lines) => onLines("stdout", lines))
    const err = lineSplitter((lines) => onLines("stderr", lines))
    reports.connect({
      onData: (fd, chunk) => {
        if (ignored) {
          if (fd === 2) onRawStderr(chunk)
        } else {
          ;(fd === 1 ? out : err).push(chunk)
        }
      },
      onStderrClosed: () => {
        if (!ignored) err.end()
        onStderrEnd()
      },
      onExit: (info) => {
        if (!ignored) out.end()
        onExited(info)
      }
    })
    return life
  })

/**
 * A pipeline, started through the platform's executor (it joins the commands' pipes); a single
 * command too with `executorOnly`. The executor's wiring: stdin is a pipe nothing writes to,
 * stdout and stderr are pipes read as Effect streams.
 */
const spawnWithExecutor = (setting: Setting): Effect.Effect<Life, string> =>
  Effect.gen(function*() {
    const { options, scope } = setting
    const command = Command.env(commandFrom(options.line), options.env)
    const started = yield* options.executor.start(command).pipe(
      Scope.extend(scope),
      Effect.mapError((e) => e.message)
    )
    const { life, onExited, onLines, onRawStderr, onStderrEnd } = makeLife(started.pid, setting)
    const ignored = options.output === "ignore"
    const drain = (name: "stdout" | "stderr", stream: Stream.Stream<Uint8Array, unknown>) =>
      ignored
        ? Stream.runForEach(stream, (chunk) => Effect.sync(() => name === "stderr" && onRawStderr(chunk)))
        : Stream.runForEach(
          stream.pipe(Stream.decodeText(), Stream.splitLines, Stream.map(clip)),
          (line) => Effect.sync(() => onLines(name, [line]))
        )
    yield* Effect.forkIn(Effect.ignore(drain("stdout", started.stdout)), scope)
    yield* Effect.forkIn(
      drain("stderr", started.stderr).pipe(Effect.ignore, Effect.ensuring(Effect.sync(onStderrEnd))),
      scope
    )
    // the exit: a code, or death by a signal (the platform reports it as a failure)
    yield* started.exitCode.pipe(
      Effect.match({
        onSuccess: (code): ExitInfo => ({ exitCode: code }),
        onFailure: (e): ExitInfo => ({ signal: signalOf(e.message) ?? "unknown" })
      }),
      Effect.flatMap((info) => Effect.sync(() => onExited(info))),
      Effect.forkIn(scope)
    )
    return life
  })

/** @internal sends a signal to one process; false when it cannot */
export const signalProcess = (pid: number, signal: string): boolean => tryKill(pid, signal)

const tryKill = (pid: number, signal: string): boolean => {
  try {
    process.kill(pid, signal as NodeJS.Signals)
    return true
  } catch {
    return false
  }
}
