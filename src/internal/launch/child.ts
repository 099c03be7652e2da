/**
 * A single command: its own process group, stdin /dev/null, stdout not even a pipe when the
 * output is ignored, the exit taken from the child's own `exit` event. Who forks it is the
 * launcher's choice (this process, or the spawner's helper process); what it reports goes to the
 * life (`life.ts`), which is its listener.
 *
 * The spawner's helper may be authorised to start the same command again as soon as the child
 * exits (`arm`): it then reports the exit with the next child (`Relaunch`), which the launcher
 * takes up as the next life. A child forked in this process takes no such authorisation: the
 * HAM's own restart at the death is as quick, and the death is reported before the next spawn
 * holds this thread.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as NodeChildProcess from "node:child_process"
import * as NodeFs from "node:fs"
import type { Life } from "./launcher.js"
import * as life_ from "./life.js"
import type { Forked, Listener } from "./life.js"

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

export type { Forked, Listener, Relaunch } from "./life.js"

/**
 * Forks a child and reports on it to the listener; succeeds once it runs.
 *
 * @internal
 */
export type Fork = (request: Request, listener: Listener) => Effect.Effect<Forked, string>

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
      return resume(Effect.fail((e as Error).message))
    }
    child.on("error", (e: NodeJS.ErrnoException) => {
      if (child.pid === undefined) resume(Effect.fail(e.code ?? e.message))
    })
    child.once("spawn", () => resume(Effect.succeed({ pid: child.pid!, child })))
    child.stdout?.on("data", (chunk: Buffer) => listener.onData(1, chunk))
    child.stderr!.on("data", (chunk: Buffer) => listener.onData(2, chunk))
    // the end of its output, stdout and stderr (or their close, when destroyed without an end)
    let open = child.stdout === null ? 1 : 2
    const onEnd = (stream: NodeJS.ReadableStream) => {
      let ended = false
      const once = () => {
        if (!ended && --open === 0) listener.onOutputClosed()
        ended = true
      }
      stream.once("end", once)
      stream.once("close", once)
    }
    if (child.stdout !== null) onEnd(child.stdout)
    onEnd(child.stderr!)
    child.once("exit", (code, signal) => listener.onExit(life_.exitInfoOf(code, signal), undefined))
    // interrupted before it is up: it goes at once
    return Effect.sync(() => {
      if (child.pid !== undefined) life_.signalGroupOrProcess(child.pid, "SIGKILL")
    })
  })

/** @internal a single command, forked by `fork`, wired to a life */
export const launchChild = (setting: life_.Setting, fork: Fork): Effect.Effect<Life, string> =>
  Effect.suspend(() => {
    const line = setting.request.line
    const cwd = line.cwd
    if (cwd !== undefined) {
      try {
        NodeFs.accessSync(cwd)
      } catch (e) {
        return Effect.fail(
          `the working directory ${cwd} cannot be used: ${(e as NodeJS.ErrnoException).code ?? String(e)}`
        )
      }
    }
    const request: Request = {
      command: line.command,
      args: line.args,
      env: life_.environmentOf(line, setting.request.env),
      cwd,
      shell: line.shell,
      stdout: setting.request.output !== "ignore"
    }
    const life = new life_.ChildLife(setting, undefined)
    return Effect.map(
      Effect.mapError(fork(request, life), (reason) => `cannot start ${line.command}: ${reason}`),
      (forked) => {
        life.started(forked)
        return life
      }
    )
  })
