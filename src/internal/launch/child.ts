/**
 * A single command: its own process group, stdin /dev/null, stdout not even a pipe when the
 * output is ignored, the exit taken from the child's own `exit` event. Who forks it is the
 * launcher's choice (this process, or the spawner's helper process); what it reports goes to the
 * life (`life.ts`), which is its listener.
 *
 * A forker may be authorised to start the same command again as soon as the child exits (`arm`):
 * it then reports the exit with the next child (`Relaunch`), which the launcher takes up as the
 * next life.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as NodeChildProcess from "node:child_process"
import * as NodeFs from "node:fs"
import type { Authorisation, Life } from "./launcher.js"
import * as life_ from "./life.js"
import type { Forked, Listener, Relaunch } from "./life.js"

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

/** a child forked here again, until it is taken up: how its start went, and who waits for it */
class Starting implements Relaunch {
  result: Effect.Effect<Forked, string> | undefined = undefined
  waiting: ((result: Effect.Effect<Forked, string>) => void) | undefined = undefined
  /** what the child reported before it was taken up */
  held: Array<(listener: Listener) => void> | undefined = []
  target: Listener | undefined = undefined
  pid = 0

  settle(result: Effect.Effect<Forked, string>) {
    this.result = result
    const waiting = this.waiting
    this.waiting = undefined
    waiting?.(result)
  }

  /** the listener the child reports to: its reports are held until it is taken up */
  readonly listener: Listener = {
    onData: (fd, chunk) => this.deliver((l) => l.onData(fd, chunk)),
    onStderrClosed: () => this.deliver((l) => l.onStderrClosed()),
    onExit: (info, next) => this.deliver((l) => l.onExit(info, next))
  }

  private deliver(f: (listener: Listener) => void) {
    if (this.target !== undefined) f(this.target)
    else if (this.held !== undefined) this.held.push(f)
  }

  join(listener: Listener): Effect.Effect<Forked, string> {
    return Effect.async((resume) => {
      this.target = listener
      const held = this.held ?? []
      this.held = undefined
      for (const f of held) f(listener)
      if (this.result !== undefined) return resume(this.result)
      this.waiting = resume
      // interrupted before it runs: it goes
      return Effect.sync(() => {
        this.waiting = undefined
        this.discard()
      })
    })
  }

  discarded = false

  discard() {
    this.discarded = true
    this.held = undefined
    this.target = undefined
    if (this.pid !== 0) life_.signalGroupOrProcess(this.pid, "SIGKILL")
  }

  /** starts the child, unless it was let go already */
  start(request: Request, now: () => number) {
    if (this.discarded) return
    const child = spawnHere(request, this.listener, now, (result) => this.settle(result))
    this.pid = child?.pid ?? 0
  }
}

/**
 * Spawns a child from this process, reporting to `listener`; `settle` learns whether it runs. An
 * armed child is spawned again at once when it exits as authorised (`now`: the HAM's clock).
 */
const spawnHere = (
  request: Request,
  listener: Listener,
  now: () => number,
  settle: (result: Effect.Effect<Forked, string>) => void
): NodeChildProcess.ChildProcess | undefined => {
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
    settle(Effect.fail((e as Error).message))
    return undefined
  }
  let armed: { readonly authorisation: Authorisation; readonly from: number } | undefined
  const forked: Forked = {
    get pid() {
      return child.pid!
    },
    child,
    arm: (authorisation) => {
      armed = authorisation === undefined ? undefined : { authorisation, from: now() }
    }
  }
  child.on("error", (e: NodeJS.ErrnoException) => {
    if (child.pid === undefined) settle(Effect.fail(e.code ?? e.message))
  })
  child.once("spawn", () => settle(Effect.succeed(forked)))
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
    const info = life_.exitInfoOf(code, signal)
    const next = armed !== undefined && life_.authorises(armed.authorisation, info, now() - armed.from) &&
        (armed.authorisation.ask?.() ?? true)
      ? new Starting()
      : undefined
    // the exit is reported first, then the same command spawned again (held until taken up)
    listener.onExit(info, next)
    next?.start(request, now)
  })
  return child
}

/** @internal forks a single command from this process */
export const forkHere: Fork = (request, listener) =>
  Effect.clockWith((clock) =>
    Effect.async((resume) => {
      const child = spawnHere(request, listener, () => clock.unsafeCurrentTimeMillis(), resume)
      // interrupted before it is up: it goes at once
      return Effect.sync(() => {
        if (child?.pid !== undefined) life_.signalGroupOrProcess(child.pid, "SIGKILL")
      })
    })
  )

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
