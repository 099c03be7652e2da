/**
 * The Guardian layer: the state store, and with `process: true` a guardian process that watches
 * this one and takes the HAM over when it dies.
 *
 * The guardian process is a Node program of this package (`guardian-main`). It holds the read
 * end of a pipe whose write end only this process holds: when this process dies, the pipe ends
 * (at once, whatever killed it) and the guardian takes over. A `stop` line on the same pipe ends
 * it without a takeover (the HAM stopped on purpose). When the guardian dies, a new one is
 * started.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as NodeChildProcess from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { fileURLToPath } from "node:url"
import type * as Api from "../Guardian.js"
import { type InvalidArgument, StoreBusy, type StoreCorrupt } from "../HamError.js"
import * as options_ from "./options.js"
import * as store_ from "./store.js"

const optionKeys: ReadonlyArray<keyof Api.GuardianOptions> = ["path", "fsync", "process", "hostName"]

/** the options of `Guardian.layer`, checked: an unknown key or a bad value is an InvalidArgument */
const validateOptions = (options: Api.GuardianOptions): Effect.Effect<void, InvalidArgument> => {
  const problem = options_.optionsProblem(options, optionKeys, "Guardian options") ??
    (typeof options.path === "string" && options.path.length > 0
      ? undefined
      : {
        argument: "Guardian path",
        reason: `must be a non-empty string (got ${options_.show(options.path)})`
      }) ??
    options_.flagsProblem({ fsync: options.fsync, process: options.process }, "Guardian ") ??
    (options.hostName === undefined || (typeof options.hostName === "string" && options.hostName.length > 0)
      ? undefined
      : {
        argument: "Guardian hostName",
        reason: `must be a non-empty string (got ${options_.show(options.hostName)})`
      })
  return problem === undefined ? Effect.void : Effect.fail(options_.fromProblem(problem))
}

/** how long a host waits for a guardian that took over to hand the store back */
const handoverMillis = 10_000
/** how long a guardian process may take to start */
const guardianBootMillis = 30_000

/** the guardian program next to this module (the .ts source under tsx, the .js build otherwise) */
const guardianMain = (): string => {
  const here = fileURLToPath(import.meta.url)
  return NodePath.join(NodePath.dirname(here), `guardian-main${NodePath.extname(here)}`)
}

/** the flags this Node was started with that a guardian needs too (loaders, conditions) */
const inheritedFlags = (main: string): Array<string> => {
  const out: Array<string> = []
  // the TypeScript source (tests, examples) runs under tsx
  if (main.endsWith(".ts") && !process.execArgv.some((arg) => arg.includes("tsx"))) out.push("--import", "tsx")
  const args = process.execArgv
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]
    if (arg === "--import" || arg === "--require" || arg === "-r" || arg === "--loader" || arg === "--conditions") {
      out.push(arg, args[++i])
    } else if (arg.startsWith("--conditions=") || arg.startsWith("--import=") || arg.startsWith("--experimental")) {
      out.push(arg)
    }
  }
  return out
}

/**
 * Starts and keeps a guardian process watching this process, until the scope closes (then it
 * is told to stop, and waited for).
 */
const superviseGuardian = (
  path: string,
  hostName: string,
  outputDir: string,
  awaitReady: boolean
): Effect.Effect<store_.GuardianProcess, never, Scope.Scope> =>
  Effect.gen(function*() {
    let current: NodeChildProcess.ChildProcess | undefined
    let failures = 0
    let closing = false
    const logFile = NodePath.join(outputDir, "guardian.log")

    const start = (): Effect.Effect<void> =>
      Effect.async<void>((resume) => {
        const log = NodeFs.openSync(logFile, "a", 0o600)
        const child = NodeChildProcess.spawn(
          process.execPath,
          [...inheritedFlags(guardianMain()), guardianMain(), path, String(process.pid), hostName],
          { stdio: ["pipe", log, log, "pipe"], detached: true }
        )
        NodeFs.closeSync(log)
        current = child
        let ready = false
        const readyPipe = child.stdio[3] as NodeJS.ReadableStream
        readyPipe.on("data", () => {
          if (!ready) {
            ready = true
            resume(Effect.void)
          }
        })
        readyPipe.on("error", () => {})
        child.stdin!.on("error", () => {})
        child.once("exit", () => {
          if (!ready) {
            ready = true
            resume(Effect.void)
          }
          if (closing || current !== child) return
          current = undefined
          failures++
          // a new guardian, unless this process is going away
          Effect.runFork(
            Effect.zipRight(Effect.sleep("100 millis"), Effect.suspend(() => closing ? Effect.void : start()))
          )
        })
      }).pipe(Effect.timeout(guardianBootMillis), Effect.ignore)

    // a host waits for its guardian to be up; a guardian that took over does not (its new
    // guardian boots while it already supervises)
    // a guardian that took over starts its own a moment later: spawning Node costs the main
    // thread milliseconds that the takeover needs first
    const later = Effect.zipRight(Effect.sleep("200 millis"), Effect.suspend(() => (closing ? Effect.void : start())))
    yield* Effect.acquireRelease(awaitReady ? start() : Effect.asVoid(Effect.forkDaemon(later)), () =>
      Effect.async<void>((resume) => {
        closing = true
        const child = current
        if (child === undefined || child.exitCode !== null || child.signalCode !== null) {
          resume(Effect.void)
          return
        }
        const timer = Deferred.unsafeMake<void>(FiberId.none)
        child.once("exit", () =>
          Deferred.unsafeDone(timer, Exit.void))
        child.stdin!.end("stop\n")
        resume(
          Deferred.await(timer).pipe(
            Effect.timeout("3 seconds"),
            Effect.catchAll(() => Effect.sync(() => child.kill("SIGKILL"))),
            Effect.asVoid
          )
        )
      }))
    const dismiss = Effect.async<void>((resume) => {
      closing = true
      const child = current
      if (child === undefined || child.stdin === null || child.stdin.destroyed) {
        resume(Effect.void)
        return
      }
      child.stdin.end("stop\n", () =>
        resume(Effect.void))
    })
    return { pid: () => current?.pid, failures: () => failures, dismiss }
  })

/**
 * Opens the store; a host whose store is held by a guardian that took over asks it for the store
 * and waits until it is handed over.
 */
const openForHost = (options: Api.GuardianOptions, role: store_.Lease["role"]) => {
  const openOnce = store_.openStore(options.path, {
    fsync: options.fsync,
    role,
    process: options.process,
    hostName: options.hostName
  })
  const attempts = handoverMillis / 20
  const retry = (n: number): Effect.Effect<store_.StateStoreService, StoreBusy | StoreCorrupt, Scope.Scope> =>
    openOnce.pipe(
      Effect.catchTag(
        "StoreBusy",
        (busy) => n >= attempts ? Effect.fail(busy) : Effect.zipRight(Effect.sleep("20 millis"), retry(n + 1))
      )
    )
  return openOnce.pipe(
    Effect.catchTag("StoreBusy", (busy) =>
      busy.role !== "guardian" || role === "guardian"
        ? Effect.fail(busy)
        : Effect.zipRight(store_.requestHandover(options.path), retry(0)))
  )
}

/**
 * The store layer; `role` is "guardian" for the HAM a guardian process builds when it takes over.
 *
 * @internal
 */
export const layer = (
  options: Api.GuardianOptions,
  role: store_.Lease["role"] = "host"
): Layer.Layer<store_.StateStore, StoreCorrupt | StoreBusy | InvalidArgument> =>
  Layer.scoped(
    store_.StateStore,
    Effect.gen(function*() {
      yield* validateOptions(options)
      const store = yield* openForHost(options, role)
      if (store.mode.process) {
        const guardian = yield* superviseGuardian(
          options.path,
          store.mode.hostName,
          store.mode.outputDir,
          store.mode.role === "host"
        )
        return { ...store, guardian }
      }
      return store
    })
  )
