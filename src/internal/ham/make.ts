/**
 * The HAM: builds the engine from its parts and serves the registry as the `Ham` service.
 *
 * The path of an event, from a detector to a recovery: a driver (`lives/*.ts`) sees a life end
 * and calls `engine.reportDeath`; `dispatch.ts` publishes the event and routes each matching
 * condition to its executor; `interpret.ts` runs the action list; a restart action goes through
 * `restart.ts` (decide) back to the driver (start the next life).
 *
 * @internal
 */
import * as NodeCommandExecutor from "@effect/platform-node/NodeCommandExecutor"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as CommandExecutor from "@effect/platform/CommandExecutor"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Runtime from "effect/Runtime"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Types from "effect/Types"
import type { InvalidArgument } from "../../HamError.js"
import type * as Api from "../../HamService.js"
import type * as cond from "../condition.js"
import type * as entity_ from "../entity.js"
import * as grid_ from "../grid.js"
import type * as intensity_ from "../intensity.js"
import * as inlineLauncher from "../launch/inline.js"
import * as launch from "../launch/launcher.js"
import * as launchMake from "../launch/make.js"
import * as spawnerLauncher from "../launch/spawner.js"
import * as fiberLives from "../lives/fiber.js"
import * as orphans from "../lives/orphans.js"
import * as pidLives from "../lives/pid.js"
import * as processLives from "../lives/process.js"
import * as selfLives from "../lives/self.js"
import * as notifyServer from "../notify/server.js"
import * as nodes_ from "../remote/nodes.js"
import * as store_ from "../store/service.js"
import type { GroupNode } from "../tree.js"
import * as watch from "../watch/watch.js"
import * as beats from "./beats.js"
import * as conditions from "./conditions.js"
import * as dispatch from "./dispatch.js"
import type { EntityDoc } from "./doc.js"
import { type Engine, forkOwned, isReady, pidOf, quiesce, recordOf } from "./engine.js"
import { HamExtension } from "./extension.js"
import * as interpret from "./interpret.js"
import { localOf } from "./local.js"
import * as operate from "./operate.js"
import * as persist from "./persist.js"
import * as registry from "./registry.js"
import * as restart from "./restart.js"
import { restore } from "./restore.js"
import * as snapshot_ from "./snapshot.js"
import { makeState, type Policy } from "./state.js"
import { Ham } from "./tag.js"
import * as telemetry from "./telemetry.js"
import * as validate from "./validate.js"

/** @internal the tag lives in `tag.ts`, so that a client of a HAM does not load the engine */
export { Ham }

/** @internal */
export const defaultIntensity: intensity_.Intensity = { maxRestarts: 10, withinMillis: 60_000 }

/** @internal */
export const defaultBackoff: Schedule.Schedule<unknown> = Schedule.union(
  Schedule.exponential("100 millis", 2),
  Schedule.spaced("10 seconds")
)

/** @internal */
export const defaultBackoffResetMillis = 10_000

/** @internal a heartbeat of the entity of this handle (nothing when it is not running) */
export const heartbeat = (handle: entity_.EntityHandle): Effect.Effect<void> =>
  Effect.sync(() => {
    const rec = registry.recordOf(handle)
    if (rec !== undefined && rec.attached) beats.mark(rec)
  })

/** the store each HAM built here commits to (read by `wiringDefect`) */
const storeOf = new WeakMap<Api.HamService, store_.StateStoreService>()

/**
 * A defect when the context holds a store (the Guardian's) that this HAM does not commit to: the
 * HAM was built beside the store (`Layer.merge(HamLive, Guardian.layer(...))`) or outside it, and
 * keeps nothing in it. Undefined when the wiring is right (or the HAM was not built here).
 *
 * @internal
 */
export const wiringDefect = (
  context: Context.Context<never>,
  ham: Api.HamService
): Effect.Effect<never> | undefined => {
  const store = context.unsafeMap.get(store_.StateStore.key) as store_.StateStoreService | undefined
  const own = storeOf.get(ham)
  if (store === undefined || own === undefined || own === store) return undefined
  return Effect.dieMessage(
    "effect-ham: the HAM in this context was built without the store beside it (Guardian.layer) and keeps " +
      "nothing in it. Provide the store to the HAM's layer, not beside it: " +
      "HamLive.pipe(Layer.provide(Guardian.layer(options))), or Guardian.layerHam(options), " +
      "or program.pipe(Effect.provide(HamLive), Effect.provide(Guardian.layer(options))); never " +
      "Layer.merge(HamLive, Guardian.layer(options))."
  )
}

/** the launcher the HAM's children are started by: the extension's, the context's, or the option's */
const launcherFor = (
  spawner: "process" | "inline",
  extension: Option.Option<{ readonly launcher?: launch.ProcessLauncherService | undefined }>
) =>
  Effect.gen(function*() {
    const fromExtension = Option.flatMapNullable(extension, (e) => e.launcher)
    if (Option.isSome(fromExtension)) return fromExtension.value
    const fromContext = yield* Effect.serviceOption(launch.ProcessLauncher)
    if (Option.isSome(fromContext)) return fromContext.value
    return yield* launchMake.build(spawner === "inline" ? inlineLauncher.layerInline : spawnerLauncher.layerSpawner)
  })

/** @internal */
export const make = (
  options?: Api.HamOptions
): Effect.Effect<Api.HamService, InvalidArgument, Scope.Scope | CommandExecutor.CommandExecutor> =>
  Effect.gen(function*() {
    const { eventBuffer, metrics, policy: basePolicy, spawner, tracing, verbosity } = yield* validate
      .validateHamOptions(options, {
        intensity: defaultIntensity,
        backoff: defaultBackoff,
        backoffResetMillis: defaultBackoffResetMillis
      })

    // a HAM built where another is provided shadows it for the code it is given to
    if (Option.isSome(yield* Effect.serviceOption(Ham))) {
      yield* Effect.logWarning(
        "effect-ham: a HAM is being built where another HAM is already provided: the code it is provided to " +
          "sees only the new one (none of the other's entities). Provide HamLive once, at the edge of the program."
      )
    }
    const clock = yield* Effect.clock
    const now = () => clock.unsafeCurrentTimeMillis()
    const preciseNow = () => Number(clock.unsafeCurrentTimeNanos()) / 1e6
    // spans only for a tracer the application installed: the default one keeps nothing
    const appTracer = yield* Effect.tracer
    const tracer = tracing && telemetry.isInstalled(appTracer) ? appTracer : undefined
    const runtime = yield* Effect.runtime<never>()
    const executor = yield* CommandExecutor.CommandExecutor
    const store = yield* store_.current
    const extension = yield* Effect.serviceOption(HamExtension)
    const faults = yield* Effect.serviceOption(dispatch.Faults)
    // the private (0700) directory of the notify sockets of process entities
    const notifyDirectory = yield* Effect.orDie(notifyServer.makeSocketDirectory())
    const launcher = yield* launcherFor(spawner, extension)

    const state = makeState("*", now(), basePolicy, verbosity, metrics)
    const fibers = yield* FiberSet.make<unknown, unknown>()
    const pubsub = yield* PubSub.sliding<cond.ConditionEvent>(eventBuffer)
    // the store held by another HAM now: this one stops acting at once (no restart, no signal, no
    // spawn), and leaves its processes to that HAM
    const fence = () => {
      if (state.fenced) return
      state.fenced = true
      state.stopped = true
      // no launcher starts a life by itself any more
      engine.rearm(state.global)
      Runtime.runSync(runtime)(Effect.logError(
        "effect-ham: the store is held by another HAM now: this HAM stops acting (its processes are the other's)"
      ))
    }
    const changes = persist.make(state, store, (rec) => recordOf(engine, rec), fence)
    // the other HAMs of node-qualified actions: made before the stop is registered, so that their
    // connections close after the HAM has stopped
    const own: { service?: Api.HamService } = {}
    const nodes = yield* nodes_.make(() => own.service!)

    // the engine is assembled here: each part is made from it and bound into it
    const engine: Types.Mutable<Engine> = {
      state,
      now,
      preciseNow,
      nanos: () => clock.unsafeCurrentTimeNanos(),
      tracer,
      runtime,
      fibers,
      launcher,
      executor,
      notifyDirectory,
      changes,
      nodes,
      basePolicy,
      observers: new Set(),
      // a store with a lease (epoch) can be taken over by another HAM
      leased: store.info().epoch !== undefined,
      enqueue: undefined as never,
      reportDeath: undefined as never,
      announceRestart: undefined as never,
      restart: undefined as never,
      decideAtDeath: undefined as never,
      rearm: undefined as never,
      wake: undefined as never,
      runAdded: undefined as never,
      mayAct: () => {
        if (state.fenced) return false
        if (store.holds()) return true
        fence()
        return false
      },
      beats: undefined as never,
      drivers: undefined as never
    }
    // a life's start and end also start and stop its probe and limits (watch/watch.ts)
    const grid = grid_.make(now, (effect) => forkOwned(engine, effect))
    const clocks = beats.make(engine, grid)
    const watches = watch.make(engine, grid)
    engine.beats = {
      start: (rec) => {
        clocks.start(rec)
        watches.start(rec)
      },
      leave: (rec) => {
        clocks.leave(rec)
        watches.leave(rec)
      }
    }
    const interpreter = interpret.make(engine)
    engine.wake = interpreter.wake
    engine.runAdded = interpreter.runAdded
    const restarts = restart.make(engine)
    engine.restart = restarts.restart
    engine.announceRestart = restarts.announceRestart
    engine.decideAtDeath = restarts.decideAtDeath
    engine.rearm = restarts.rearm
    const pid = pidLives.make(engine)
    const drivers = {
      fiber: fiberLives.make(engine),
      process: processLives.make(engine, pid.resume),
      pid,
      self: selfLives.make(engine)
    }
    engine.drivers = drivers
    const dispatcher = yield* dispatch.make(
      engine,
      pubsub,
      interpreter.runCondition,
      Option.getOrUndefined(faults)
    )
    engine.enqueue = dispatcher.enqueue
    engine.reportDeath = dispatcher.reportDeath

    const entities = registry.make(engine, drivers)
    const conds = conditions.make(engine, entities)
    const operations = operate.make(engine, entities, drivers.process)

    // ---- stopping: entities in reverse attach order, one after another (OTP's order)
    const shutdown = Effect.suspend(() => {
      const all = [...state.entities.values()]
      for (const rec of all) {
        rec.attached = false
        if (rec.status !== "placeholder") telemetry.setStatus(state, rec, "stopped")
      }
      all.sort((a, b) => b.order - a.order)
      return Effect.forEach(all, (rec) => quiesce(engine, rec, true), { discard: true }).pipe(
        Effect.zipRight(FiberSet.clear(fibers)),
        Effect.zipRight(dispatcher.shutdown),
        Effect.zipRight(PubSub.shutdown(pubsub)),
        // the last statistics (beats counted, final states) go to the store
        Effect.zipRight(Effect.sync(() => {
          for (const rec of all) changes.touch(rec)
          changes.touch(state.global)
          changes.flush()
        }))
      )
    })
    let stopping: Fiber.RuntimeFiber<void> | undefined
    // `Ham.stop` may be called by an entity's own fiber or by an action on the dispatcher, both of
    // which the shutdown interrupts: the shutdown is detached on purpose (a daemon fiber), so that
    // it completes even when its caller is interrupted by it. Every `stop`, and the layer's
    // finalizer, awaits it.
    const stop = Effect.suspend(() => {
      if (stopping !== undefined) return Effect.asVoid(Fiber.await(stopping))
      state.stopped = true
      // no launcher starts a life by itself any more (the lives are stopped one after another)
      engine.rearm(state.global)
      return Effect.flatMap(Effect.forkDaemon(shutdown), (fiber) => {
        stopping = fiber
        return Effect.asVoid(Fiber.await(fiber))
      })
    })
    yield* Effect.addFinalizer(() => stop)

    const filterFor = (ref: entity_.EntityRef | undefined) => {
      if (ref === undefined || (typeof ref !== "string" && ref.isGlobal)) return undefined
      const name = typeof ref === "string" ? ref : ref.name
      return (event: cond.ConditionEvent) => event.entity === name
    }

    // the groups' nodes in the tree (local.ts)
    const groups = new Map<string, () => GroupNode>()
    // the calls that change the registry return once their change is committed
    const commit = changes.committing
    const service: Api.HamService = {
      attach: commit(entities.attach) as Api.HamService["attach"],
      attachSelf: commit(entities.attachSelf),
      entity: commit(entities.entity),
      entityHandle: entities.entityHandle,
      detach: commit(entities.detach),
      condition: commit(conds.condition),
      conditionState: commit(conds.conditionState),
      conditionRaise: commit(conds.conditionRaise),
      conditionHandle: conds.conditionHandle,
      addAction: commit(conds.addAction),
      actionHandle: conds.actionHandle,
      publishState: commit(entities.publishState),
      raise: commit(entities.raise),
      restartEntity: commit(operations.restartEntity),
      reloadEntity: commit(operations.reloadEntity),
      signalEntity: operations.signalEntity,
      subscribe: PubSub.subscribe(pubsub),
      events: (ref) => {
        const keep = filterFor(ref)
        const all = Stream.fromPubSub(pubsub)
        return keep === undefined ? all : Stream.filter(all, keep)
      },
      control: commit(conds.control),
      remove: commit((handle: Api.Handle) =>
        handle._tag === "EntityHandle" ? entities.detach(handle) : conds.remove(handle)
      ),
      removeFailAction: commit(conds.removeFailAction),
      snapshot: Effect.sync(() => {
        const tree = snapshot_.snapshot(
          state,
          now(),
          store.info(),
          launcher.helperPid(),
          (rec) => pidOf(engine, rec),
          watches.usageOf
        )
        return groups.size === 0 ? tree : { ...tree, groups: Array.from(groups.values(), (node) => node()) }
      }),
      verbose: (level) =>
        Effect.gen(function*() {
          yield* entities.guard
          const valid = yield* validate.validateVerbosity(level)
          const previous = state.verbosity
          state.verbosity = valid
          return previous
        }),
      verbosity: Effect.sync(() => state.verbosity),
      stop
    }

    own.service = service
    localOf.set(service, {
      hold: operations.hold,
      resume: operations.resume,
      statusOf: (name) => state.entities.get(name)?.status,
      isReady: (name) => isReady(engine, state.entities.get(name)),
      fork: (effect) => {
        forkOwned(engine, effect)
      },
      stopped: () => state.stopped || state.fenced,
      observe: (observer) => {
        engine.observers.add(observer)
        return () => engine.observers.delete(observer)
      },
      groups
    })

    yield* Effect.forkScoped(changes.flusher)
    yield* Effect.forkScoped(Effect.zipRight(store.lost, Effect.sync(fence)))
    const policyOf = (doc: EntityDoc): Policy => ({
      intensity: { maxRestarts: doc.policy.maxRestarts, withinMillis: doc.policy.withinMillis },
      backoff: doc.policy.backoff ? basePolicy.backoff ?? defaultBackoff : undefined,
      backoffResetMillis: doc.policy.backoffResetMillis
    })
    const docs = extension._tag === "Some" && extension.value.prepare !== undefined
      ? extension.value.prepare(store.entities)
      : store.entities
    // children an earlier HAM started and never recorded go before the registry is restored
    if (store.launches.length > 0) {
      const ended = yield* orphans.endUnrecorded(store.launches)
      for (const intent of store.launches) changes.settle(intent.id)
      if (ended.length > 0) {
        yield* Effect.logWarning(
          `effect-ham: ended ${ended.length} process(es) started by an earlier HAM of the store that died before ` +
            `it recorded them: ${ended.map((e) => `${e.entity} (pid ${e.pid})`).join(", ")}`
        )
      }
    }
    yield* restore(engine, docs, policyOf)
    if (extension._tag === "Some") {
      extension.value.bind?.({ handOver: handOver(engine) })
      if (extension.value.start !== undefined) yield* extension.value.start(service)
    }
    storeOf.set(service, store)
    return service
  })

/** how long a HAM handing its store over waits for its launches in flight to settle */
const handOverMillis = 5_000

/** see `HamControl.handOver` */
const handOver = (engine: Engine): Effect.Effect<void> =>
  Effect.gen(function*() {
    const state = engine.state
    state.fenced = true
    state.stopped = true
    for (let waited = 0; state.launching > 0 && waited < handOverMillis; waited += 5) yield* Effect.sleep("5 millis")
    engine.changes.flushLast()
  })

/** @internal */
export const layer = (options?: Api.HamOptions): Layer.Layer<Ham, InvalidArgument> =>
  Layer.scoped(Ham, make(options)).pipe(
    Layer.provide(NodeCommandExecutor.layer),
    Layer.provide(NodeFileSystem.layer)
  )

/** @internal */
export const HamLive: Layer.Layer<Ham> = Layer.orDie(layer())
