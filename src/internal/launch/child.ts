/**
 * A single command: its own process group, stdin /dev/null, stdout not even a pipe when the
 * output is ignored, the exit taken from the child's own `exit` event. Who forks it is the
 * launcher's choice (this process, or the spawner's helper process); what it reports is wired to
 * the life here.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"
import * as NodeChildProcess from "node:child_process"
import * as NodeFs from "node:fs"
import type { ExitInfo, Life } from "./launcher.js"
import * as life_ from "./life.js"

/** @internal what is forked */
export interface Request {
  readonly command: string
  readonly args: ReadonlyArray<string>
  readonly env: { readonly [key: string]: string | undefined }
  readonly cwd?: string | undefined
  readonly shell: boolean | string
  /** a pipe for stdout (else /dev/null) */
  readonly stdout: boolean
}

/** @internal what is reported about one child */
export interface Listener {
  readonly onData: (fd: 1 | 2, chunk: Buffer) => void
  readonly onStderrClosed: () => void
  readonly onExit: (info: ExitInfo) => void
}

/**
 * Forks a child and reports on it to the listener; succeeds once it runs, with its pid (and the
 * Node handle, when it is a child of this process).
 *
 * @internal
 */
export type Fork = (
  request: Request,
  listener: Listener
) => Effect.Effect<{ readonly pid: number; readonly child?: NodeChildProcess.ChildProcess | undefined }, string>

/**
 * Holds what a child reports until its life is wired up: a child may write, and even exit,
 * before the fiber that spawned it runs again.
 */
const relay = () => {
  let target: Listener | undefined
  const early: Array<(listener: Listener) => void> = []
  const deliver = (f: (listener: Listener) => void) => target === undefined ? early.push(f) : f(target)
  const listener: Listener = {
    onData: (fd, chunk) => deliver((l) => l.onData(fd, chunk)),
    onStderrClosed: () => deliver((l) => l.onStderrClosed()),
    onExit: (info) => deliver((l) => l.onExit(info))
  }
  const connect = (to: Listener) => {
    target = to
    for (const f of early.splice(0)) f(to)
  }
  return { listener, connect }
}

/** @internal forks a single command from this process */
export const forkHere: Fork = (request, listener) =>
  Effect.async((resume) => {
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
    child.once("spawn", () => resume(Effect.succeed({ pid: child.pid!, child })))
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
      listener.onExit(life_.exitInfoOf(code, signal))
    })
    // interrupted before it is up: it goes at once
    return Effect.sync(() => {
      if (child.pid !== undefined) life_.signalGroupOrProcess(child.pid, "SIGKILL")
    })
  })

/** @internal a single command, forked by `fork`, wired to a life */
export const launchChild = (setting: life_.Setting, fork: Fork): Effect.Effect<Life, string> =>
  Effect.gen(function*() {
    const { request: { env, line, output }, scope } = setting
    const cwd = line.cwd
    if (cwd !== undefined) {
      yield* Effect.try({
        try: () => NodeFs.accessSync(cwd),
        catch: (e) => `the working directory ${cwd} cannot be used: ${(e as NodeJS.ErrnoException).code ?? String(e)}`
      })
    }
    const ignored = output === "ignore"
    const request: Request = {
      command: line.command,
      args: line.args,
      env: life_.environmentOf(line, env),
      cwd,
      shell: line.shell,
      stdout: !ignored
    }
    const reports = relay()
    const { child, pid } = yield* Effect.mapError(
      fork(request, reports.listener),
      (reason) => `cannot start ${line.command}: ${reason}`
    )
    const { life, onExited, onLines, onRawStderr, onStderrEnd } = life_.makeLife(pid, setting)
    // a live child is never left behind by its scope
    yield* Scope.addFinalizer(
      scope,
      Effect.sync(() => {
        if (!life.exited()) life_.signalGroupOrProcess(pid, "SIGKILL")
        child?.stdout?.destroy()
        child?.stderr?.destroy()
      })
    )
    const out = life_.lineSplitter((lines) => onLines("stdout", lines))
    const err = life_.lineSplitter((lines) => onLines("stderr", lines))
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
