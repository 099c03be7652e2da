/**
 * The guardian process: a Node program of this package (`main.ts`) that watches this process and
 * takes the HAM over when it dies. It holds the read end of a pipe whose write end only this
 * process holds: when this process dies, the pipe ends (at once, whatever killed it) and the
 * guardian takes over. A `stop` line on the same pipe ends it without a takeover (the HAM stopped
 * on purpose). When the guardian dies, a new one is started.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as FiberSet from "effect/FiberSet"
import type * as Scope from "effect/Scope"
import * as NodeChildProcess from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { fileURLToPath } from "node:url"

/** @internal the guardian process watching this one */
export interface GuardianProcess {
  readonly pid: () => number | undefined
  /** how often a guardian process died and was started again */
  readonly failures: () => number
  /** tells the guardian to end (no takeover), and completes once it has been told */
  readonly dismiss: Effect.Effect<void>
}

/** the guardian program next to this module (the .ts source under tsx, the .js build otherwise) */
const guardianMain = (): string => {
  const here = fileURLToPath(import.meta.url)
  return NodePath.join(NodePath.dirname(here), `main${NodePath.extname(here)}`)
}

/**
 * Node's own conditions: Node applies each where it belongs (`import` to imports, `require` to
 * requires). Passed on with `--conditions` they would apply everywhere: on Node 22 and later, a
 * process under tsx with `--conditions import` (as a vitest worker is) cannot `require` a JSON
 * file (lmdb's loader does), and the guardian dies before it is up.
 */
const nodeConditions: ReadonlySet<string> = new Set([
  "node",
  "import",
  "require",
  "default",
  "module-sync",
  "node-addons"
])

/**
 * The flags this Node was started with that a guardian needs too (loaders, the application's own
 * conditions).
 *
 * @internal
 */
export const inheritedFlags = (main: string, execArgv: ReadonlyArray<string> = process.execArgv): Array<string> => {
  const out: Array<string> = []
  // the TypeScript source (tests, examples) runs under tsx
  if (main.endsWith(".ts") && !execArgv.some((arg) => arg.includes("tsx"))) out.push("--import", "tsx")
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i]
    if (arg === "--conditions" || arg === "-C") {
      const condition = execArgv[++i]
      if (condition !== undefined && !nodeConditions.has(condition)) out.push("--conditions", condition)
    } else if (arg.startsWith("--conditions=")) {
      if (!nodeConditions.has(arg.slice("--conditions=".length))) out.push(arg)
    } else if (arg === "--import" || arg === "--require" || arg === "-r" || arg === "--loader") {
      out.push(arg, execArgv[++i])
    } else if (arg.startsWith("--import=") || arg.startsWith("--experimental")) {
      out.push(arg)
    }
  }
  return out
}

/**
 * Starts and keeps a guardian process watching this process, until the scope closes (then it is
 * told to stop, and waited for). A host starts its guardian at once and does not wait for it to
 * be up: the guardian watches from the moment it is spawned (a death of this process before it
 * is up is seen as soon as it is), and the host serves that much sooner after a restart. A
 * guardian that took over (`atOnce` false) starts its own a moment later: spawning Node costs
 * the main thread milliseconds that the takeover needs first.
 *
 * @internal
 */
export const supervise = (
  path: string,
  hostName: string,
  outputDir: string,
  atOnce: boolean,
  /** the epoch of this HAM's lease on the store: the guardian takes over only from it */
  epoch: number
): Effect.Effect<GuardianProcess, never, Scope.Scope> =>
  Effect.gen(function*() {
    let current: NodeChildProcess.ChildProcess | undefined
    let failures = 0
    let closing = false
    const logFile = NodePath.join(outputDir, "guardian.log")
    // the restarts of a guardian that died are fibers of this scope
    const restarts = yield* FiberSet.make<void>()
    const runRestart = yield* FiberSet.runtime(restarts)<never>()

    /** spawns a guardian process: it watches this process from now on (nothing waits for it to be up) */
    const start = (): void => {
      if (closing) return
      const log = NodeFs.openSync(logFile, "a", 0o600)
      const child = NodeChildProcess.spawn(
        process.execPath,
        [...inheritedFlags(guardianMain()), guardianMain(), path, String(process.pid), hostName, String(epoch)],
        { stdio: ["pipe", log, log, "pipe"], detached: true }
      )
      NodeFs.closeSync(log)
      current = child
      // it says when it is up (warmed up) on this pipe, and logs it
      const readyPipe = child.stdio[3] as NodeJS.ReadableStream
      readyPipe.on("error", () => {})
      readyPipe.resume()
      child.stdin!.on("error", () => {})
      child.once("exit", () => {
        if (closing || current !== child) return
        current = undefined
        failures++
        // a new guardian, unless this process is going away
        runRestart(Effect.zipRight(Effect.sleep("100 millis"), Effect.sync(start)))
      })
    }

    yield* Effect.acquireRelease(
      atOnce
        ? Effect.sync(start)
        : Effect.asVoid(FiberSet.run(restarts, Effect.delay(Effect.sync(start), "200 millis"))),
      () =>
        Effect.async<void>((resume) => {
          closing = true
          const child = current
          if (child === undefined || child.exitCode !== null || child.signalCode !== null) {
            resume(Effect.void)
            return
          }
          const exited = Deferred.unsafeMake<void>(FiberId.none)
          child.once("exit", () => Deferred.unsafeDone(exited, Exit.void))
          child.stdin!.end("stop\n")
          resume(
            Deferred.await(exited).pipe(
              Effect.timeout("3 seconds"),
              Effect.catchAll(() => Effect.sync(() => child.kill("SIGKILL"))),
              Effect.asVoid
            )
          )
        })
    )
    const dismiss = Effect.async<void>((resume) => {
      closing = true
      const child = current
      if (child === undefined || child.stdin === null || child.stdin.destroyed) {
        resume(Effect.void)
        return
      }
      child.stdin.end("stop\n", () => resume(Effect.void))
    })
    return { pid: () => current?.pid, failures: () => failures, dismiss }
  })
