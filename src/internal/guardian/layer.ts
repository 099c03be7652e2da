/**
 * The Guardian, built on the HAM: the store in a file (`store/lmdb.ts`), and with `process: true`
 * a guardian process (`process.ts`) that takes the HAM over when this process dies.
 *
 * It is provided around the HAM's layer, and gives the HAM:
 * - its `StateStore`;
 * - in process mode, a `HamExtension`: a launcher whose children outlive this process (so that a
 *   guardian that takes over adopts them), and the host's own entity (a pid entity for this
 *   process, whose death conditions the guardian runs when it takes over).
 *
 * @internal
 */
import * as NodeCommandExecutor from "@effect/platform-node/NodeCommandExecutor"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as NodeFs from "node:fs"
import type * as Api from "../../Guardian.js"
import { type InvalidArgument, StoreBusy, type StoreCorrupt, StoreUnavailable } from "../../HamError.js"
import * as entity_ from "../entity.js"
import { type HamControl, HamExtension, type HamExtensionService } from "../ham/extension.js"
import * as detached from "../launch/detached.js"
import * as launchMake from "../launch/make.js"
import * as options_ from "../options.js"
import * as lmdb from "../store/lmdb.js"
import type { Standby } from "../store/probe.js"
import { StateStore } from "../store/service.js"
import * as guardianProcess from "./process.js"

const optionKeys: ReadonlyArray<keyof Api.GuardianOptions> = ["path", "fsync", "process", "hostName"]

/** the options of `Guardian.layer`, checked: an unknown key or a bad value is an InvalidArgument */
const validateOptions = (options: Api.GuardianOptions): Effect.Effect<void, InvalidArgument> => {
  const problem = options_.optionsProblem(options, optionKeys, "Guardian options") ??
    (typeof options.path === "string" && options.path.length > 0
      ? undefined
      : { argument: "Guardian path", reason: `must be a non-empty string (got ${options_.show(options.path)})` }) ??
    options_.flagsProblem({ fsync: options.fsync, process: options.process }, "Guardian ") ??
    (options.hostName === undefined || (typeof options.hostName === "string" && options.hostName.length > 0)
      ? undefined
      : {
        argument: "Guardian hostName",
        reason: `must be a non-empty string (got ${options_.show(options.hostName)})`
      })
  return problem === undefined ? Effect.void : Effect.fail(options_.fromProblem(problem))
}

/** @internal what a guardian process that took over needs of its Guardian: the store and its own guardian */
export class GuardianControl extends Context.Tag("effect-ham/internal/GuardianControl")<GuardianControl, {
  readonly store: lmdb.LmdbStore
  readonly guardian: guardianProcess.GuardianProcess | undefined
  /** the HAM stops acting, its launches in flight settled and what is pending committed (`HamControl`) */
  readonly handOver: Effect.Effect<void>
}>() {}

/** how long a host waits for a guardian that took over to hand the store back */
const handoverMillis = 10_000

/**
 * Opens the store; a host whose store is held by a guardian that took over asks it for the store
 * and waits until it is handed over.
 */
const openForHost = (
  options: Api.GuardianOptions,
  role: lmdb.Lease["role"],
  takeoverOf: number | undefined,
  standby: Standby | undefined
) => {
  const openOnce = lmdb.openStore(options.path, { fsync: options.fsync, role, takeoverOf, standby })
  // the file was probed by the first attempt: the retries wait for a live guardian to hand it over
  const openAgain = lmdb.openStore(options.path, { fsync: options.fsync, role, takeoverOf, probe: false })
  const attempts = handoverMillis / 20
  const retry = (
    n: number
  ): Effect.Effect<lmdb.LmdbStore, StoreBusy | StoreCorrupt | StoreUnavailable | lmdb.StoreMoved, Scope.Scope> =>
    openAgain.pipe(
      Effect.catchTag(
        "StoreBusy",
        (busy) => n >= attempts ? Effect.fail(busy) : Effect.zipRight(Effect.sleep("20 millis"), retry(n + 1))
      )
    )
  return openOnce.pipe(
    Effect.catchTag("StoreBusy", (busy) =>
      busy.role !== "guardian" || role === "guardian"
        ? Effect.fail(busy)
        : Effect.zipRight(lmdb.requestHandover(options.path), retry(0)))
  )
}

/** the host's own entity, in process mode: a pid entity for this process */
const hostExtension = (
  hostName: string,
  outputDir: string,
  role: lmdb.Lease["role"],
  bind: (control: HamControl) => void
) =>
  Effect.map(
    launchMake.build(
      detached.layerDetached(outputDir).pipe(
        Layer.provide(NodeCommandExecutor.layer),
        Layer.provide(NodeFileSystem.layer)
      )
    ),
    (launcher): HamExtensionService => ({
      launcher,
      bind,
      // the host restored by itself: its record is of its previous life (a pid entity, or a process
      // entity once a guardian restarted it), which is not a death to act on (it is this process,
      // started again); it attaches itself again below
      prepare: (docs) =>
        role === "host"
          ? docs.map((doc) => {
            if (doc.name !== hostName) return doc
            const { external: _, life: __, ...rest } = doc
            return { ...rest, kind: "pid" as const, status: "dead" as const }
          })
          : docs,
      start: (ham) =>
        role === "host"
          ? Effect.orDie(
            Effect.asVoid(
              ham.attach(entity_.pid(hostName, process.pid, { pollInterval: "1 minute", stopSignal: "SIGTERM" }))
            )
          )
          : Effect.void
    })
  )

/**
 * The Guardian's services, and its control for a guardian process that took over; `role` is
 * "guardian" for the HAM a guardian process builds when it takes over, `takeoverOf` the epoch of
 * the HAM it takes over from (it takes nothing over when the store moved on since), `standby` the
 * probe it started ahead for the store.
 *
 * @internal
 */
export const layerWithControl = (
  options: Api.GuardianOptions,
  role: lmdb.Lease["role"] = "host",
  takeoverOf?: number,
  standby?: Standby
): Layer.Layer<
  StateStore | HamExtension | GuardianControl,
  StoreCorrupt | StoreUnavailable | StoreBusy | lmdb.StoreMoved | InvalidArgument
> =>
  Layer.scopedContext(
    Effect.gen(function*() {
      yield* validateOptions(options)
      const store = yield* openForHost(options, role, takeoverOf, standby)
      let control: HamControl | undefined
      const bind = (bound: HamControl) => {
        control = bound
      }
      const handOver = Effect.suspend(() => control?.handOver ?? Effect.void)
      if (options.process !== true) {
        return Context.make(StateStore, store).pipe(
          Context.add(HamExtension, { bind }),
          Context.add(GuardianControl, { store, guardian: undefined, handOver })
        )
      }
      const hostName = options.hostName ?? "host"
      const outputDir = `${options.path}.d`
      yield* Effect.try({
        try: () => NodeFs.mkdirSync(outputDir, { recursive: true, mode: 0o700 }),
        catch: (e) => {
          const code = (e as NodeJS.ErrnoException).code
          const reason = `cannot create ${outputDir} (${code ?? String(e)})`
          return new StoreUnavailable(
            code === undefined ? { path: options.path, reason } : { path: options.path, reason, code }
          )
        }
      })
      const guardian = yield* guardianProcess.supervise(
        options.path,
        hostName,
        outputDir,
        role === "host",
        store.lease.epoch
      )
      const extension = yield* hostExtension(hostName, outputDir, role, bind)
      const withGuardian: lmdb.LmdbStore = {
        ...store,
        info: () => ({ ...store.info(), guardianPid: guardian.pid(), guardianFailures: guardian.failures() })
      }
      return Context.make(StateStore, withGuardian).pipe(
        Context.add(HamExtension, extension),
        Context.add(GuardianControl, { store: withGuardian, guardian, handOver })
      )
    })
  )

/** @internal */
export const layer = (
  options: Api.GuardianOptions
): Layer.Layer<StateStore | HamExtension, StoreCorrupt | StoreUnavailable | StoreBusy | InvalidArgument> =>
  // a host never takes over: it cannot find the store moved on
  layerWithControl(options).pipe(
    Layer.catchAll((e) => e._tag === "StoreMoved" ? Layer.die(e) : Layer.fail(e))
  )
