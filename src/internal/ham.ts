import * as NodeCommandExecutor from "@effect/platform-node/NodeCommandExecutor"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as CommandExecutor from "@effect/platform/CommandExecutor"
import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import type * as FiberRefs from "effect/FiberRefs"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import * as Runtime from "effect/Runtime"
import * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as ScheduleIntervals from "effect/ScheduleIntervals"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as NodeFs from "node:fs"
import type * as Api from "../Ham.js"
import {
  ActionFailed,
  ActionNotFound,
  type AttachError,
  ConditionNotFound,
  DuplicateName,
  EntityNotFound,
  HamStopped,
  InvalidArgument,
  ProcessNotFound,
  ProcessNotSignallable,
  type PublishError,
  RestartIntensityExceeded,
  SpawnFailed
} from "../HamError.js"
import * as action_ from "./action.js"
import * as cond from "./condition.js"
import * as entity_ from "./entity.js"
import {
  invalid,
  millisOf,
  validateActionData,
  validateActionName,
  validateAttachOptions,
  validateConditionName,
  validateConditionOptions,
  validateConditionType,
  validateControl,
  validateEntityName,
  validateEntitySpec,
  validateHamOptions,
  validateProcessOptions,
  validateRaise,
  validateRaiseFilter,
  validateState,
  validateStateFilter,
  validateVerbosity
} from "./ham/validate.js"
import type * as validate from "./ham/validate.js"
import * as heartbeat_ from "./heartbeat.js"
import * as intensity_ from "./intensity.js"
import * as notify_ from "./notify.js"
import * as process_ from "./process.js"
import * as procfs from "./procfs.js"
import * as spawner_ from "./spawner.js"
import * as store_ from "./store.js"
import type * as tree_ from "./tree.js"

// =============================================================================================
// public-facing models (declared by the public module)
// =============================================================================================

type AttachOptions = Api.AttachOptions
type HamOptions = Api.HamOptions
type ConditionOptions = Api.ConditionOptions
type ConditionHandle = Api.ConditionHandle
type ActionHandle = Api.ActionHandle
type Handle = Api.Handle
type ControlOp = Api.ControlOp
type ControlOptions = Api.ControlOptions
type RaiseInput = Api.RaiseInput
type HamService = Api.HamService

/** @internal */
export class Ham extends Context.Tag("effect-ham/Ham")<Ham, HamService>() {}

const FaultKey = Symbol.for("effect-ham/internal/injectFault")

/**
 * Test hook (fault injection): makes one of the HAM's own fibers die of a defect at its next
 * step. Not part of the public API.
 *
 * @internal
 */
export const injectFault = (target: "dispatcher" | "sideDispatcher" | "guardian"): Effect.Effect<void, never, Ham> =>
  Effect.flatMap(
    Ham,
    (service) => (service as unknown as Record<symbol, (t: typeof target) => Effect.Effect<void>>)[FaultKey](target)
  )

// =============================================================================================
// defaults
// =============================================================================================

/** @internal */
export const defaultIntensity: intensity_.Intensity = { maxRestarts: 10, withinMillis: 60_000 }

/** @internal */
export const defaultBackoff: Schedule.Schedule<unknown> = Schedule.union(
  Schedule.exponential("100 millis", 2),
  Schedule.spaced("10 seconds")
)

/** @internal */
export const defaultBackoffResetMillis = 10_000

/** @internal how often the death of an external process is looked for */
export const defaultPollMillis = 20

// =============================================================================================
// registry records (mutable; only touched in synchronous sections)
// =============================================================================================

type Status = "placeholder" | "running" | "restarting" | "dead" | "gaveUp" | "stopped"

interface ActionRec {
  readonly name: string
  action: action_.Action
  /** read from the store and not declared again by the application since */
  restored: boolean
  enabled: boolean
  runs: number
  failures: number
  lastFailure: ActionFailed | undefined
}

interface ConditionRec {
  readonly name: string
  readonly type: cond.ConditionType
  enabled: boolean
  independent: boolean
  noWait: boolean
  oneShot: boolean
  readonly stateFilter: cond.StateFilter | undefined
  readonly raiseFilter: cond.RaiseFilter | undefined
  actions: ReadonlyArray<ActionRec>
  fired: number
  /** read from the store and not declared again by the application since */
  restored: boolean
}

interface EntityRec {
  readonly name: string
  readonly isGlobal: boolean
  kind: entity_.EntityKind
  status: Status
  enabled: boolean
  attached: boolean
  conditions: ReadonlyArray<ConditionRec>
  // fiber entities
  effect: Effect.Effect<unknown, unknown, any> | undefined
  // process entities
  proc: ProcRec | undefined
  runtime: Runtime.Runtime<any> | undefined
  fiber: Fiber.RuntimeFiber<unknown, unknown> | undefined
  generation: number
  killedBy: string | undefined
  // heartbeat (only for entities attached with heartbeat options)
  beat: BeatRec | undefined
  // published state
  state: number
  // restart policy (shared by every entity with the same options)
  policy: Policy
  lastStart: number
  // statistics: an idle entity shares one empty history until something happens to it
  created: number
  lastEvent: number | undefined
  history: History
  /** read from the store and not attached again by the application since */
  restored: boolean
}

interface ProcRec {
  readonly line: action_.CommandLine
  readonly output: process_.OutputOption
  readonly stopSignal: string
  readonly stopGraceMillis: number
  life: process_.Life | undefined
  ready: boolean
  /** an external process (Entity.pid) being watched, until the HAM restarts it as its own child */
  external: { readonly pid: number; readonly startTime: number; readonly pollMillis: number } | undefined
  watcher: Fiber.RuntimeFiber<unknown, unknown> | undefined
  /** the entity's notify socket (HAM_NOTIFY_SOCKET), the same for every life */
  notify: { readonly path: string; readonly scope: Scope.CloseableScope } | undefined
  /** the start time of the current life (process mode: to adopt it again by pid) */
  startTime: number | undefined
  /** a Node child gets the process.send bridge (Entity.process option nodeIpc) */
  readonly nodeIpc: boolean
  /** what its lives are started with, made once for the notify socket it is given */
  launch: Launch | undefined
}

/** how the lives of a process entity are started */
interface Launch {
  /** the notify socket they are given */
  readonly path: string
  readonly line: action_.CommandLine
  readonly env: Record<string, string>
  /** process mode: the file the child writes its own output to */
  readonly outputFile: string | undefined
}

interface BeatRec {
  readonly config: { readonly intervalMillis: number; readonly missedLow: number; readonly missedHigh: number }
  state: heartbeat_.BeatState
  seen: boolean
  count: number
  /** the shared clock this entity's periods are counted by, while it runs */
  clock: BeatClock | undefined
  /** the end of its first period: the first grid line at least one interval after its start */
  firstDue: number
}

interface BeatClock {
  readonly intervalMillis: number
  readonly members: Set<EntityRec>
  fiber: Fiber.RuntimeFiber<unknown, unknown> | undefined
}

interface History {
  deaths: number
  abnormalDeaths: number
  restarts: number
  missedLow: number
  missedHigh: number
  lastDeath: string | undefined
  restartTimes: ReadonlyArray<number>
  backoffState: unknown
}

const emptyHistory: History = Object.freeze({
  deaths: 0,
  abnormalDeaths: 0,
  restarts: 0,
  missedLow: 0,
  missedHigh: 0,
  lastDeath: undefined,
  restartTimes: [],
  backoffState: undefined
})

/** the entity's own history, made on first write */
const history = (rec: EntityRec): History =>
  rec.history === emptyHistory ? (rec.history = { ...emptyHistory }) : rec.history

interface RunContext {
  readonly rec: EntityRec
  readonly event: cond.ConditionEvent
  readonly condition: ConditionRec
  readonly owner: EntityRec
  /** true when the list runs on a fiber that other conditions share (the dispatcher, the noWait fiber) */
  readonly shared: boolean
}

/** one shared empty array: lists are replaced, never mutated, so idle entities can share it */
const none: ReadonlyArray<never> = []

const makeRec = (name: string, isGlobal: boolean, now: number, policy: Policy): EntityRec => ({
  name,
  isGlobal,
  kind: "placeholder",
  status: "placeholder",
  enabled: true,
  attached: true,
  conditions: none,
  effect: undefined,
  proc: undefined,
  runtime: undefined,
  fiber: undefined,
  generation: 0,
  killedBy: undefined,
  beat: undefined,
  state: cond.StateAny,
  policy,
  lastStart: now,
  created: now,
  lastEvent: undefined,
  history: emptyHistory,
  restored: false
})

type Policy = validate.Policy

/** the hidden link from a handle to its record, for a heartbeat without a lookup */
const RecordKey = Symbol.for("effect-ham/Entity/Record")

const handleOf = (rec: EntityRec): entity_.EntityHandle =>
  entity_.makeHandle(rec.name, rec.isGlobal, { [RecordKey]: rec })

/** @internal */
export const heartbeat = (handle: entity_.EntityHandle): Effect.Effect<void> =>
  Effect.sync(() => {
    const rec = (handle as unknown as { readonly [RecordKey]?: EntityRec })[RecordKey]
    if (rec !== undefined && rec.status === "running" && rec.attached) {
      const beat = rec.beat
      if (beat !== undefined) {
        beat.seen = true
        beat.count++
      }
    }
  })

// =============================================================================================
// helpers (the validation at the boundary is in ./ham/validate.ts)
// =============================================================================================

/** signals that end an in-process fiber entity (by interrupting it) */
const terminatingSignals = new Set(["SIGTERM", "SIGKILL", "SIGINT", "SIGHUP", "SIGQUIT", "SIGABRT"])

const conditionDefaultName = (type: cond.ConditionType): string => {
  const bare = type.slice(4)
  return bare.charAt(0).toLowerCase() + bare.slice(1)
}

const sameJson = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b)

const uniqueName = (base: string, taken: (name: string) => boolean): string => {
  if (!taken(base)) return base
  for (let i = 2;; i++) {
    const candidate = `${base}-${i}`
    if (!taken(candidate)) return candidate
  }
}

const maxReasonLength = 4000

const truncate = (text: string) => (text.length > maxReasonLength ? text.slice(0, maxReasonLength) + "…" : text)

const describeValue = (value: unknown): string => {
  if (value instanceof Error) return `${value.name}: ${value.message}`
  if (typeof value === "string") return value
  if (Predicate.hasProperty(value, "_tag") && typeof value._tag === "string") {
    const message = Predicate.hasProperty(value, "message") && typeof value.message === "string" ? value.message : ""
    return message === "" ? value._tag : `${value._tag}: ${message}`
  }
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}

/** a short reason for a death or a failure: the error's message, not a rendered stack (cheap) */
const describeCause = (cause: Cause.Cause<unknown>): string => {
  const failure = Cause.failureOption(cause)
  if (failure._tag === "Some") return truncate(describeValue(failure.value))
  const defect = Cause.dieOption(cause)
  if (defect._tag === "Some") return truncate(`defect: ${describeValue(defect.value)}`)
  return Cause.isInterruptedOnly(cause) ? "interrupted" : truncate(Cause.pretty(cause))
}

// =============================================================================================
// the HAM
// =============================================================================================

/** @internal */
export const make = (
  options?: HamOptions
): Effect.Effect<HamService, InvalidArgument, Scope.Scope | CommandExecutor.CommandExecutor> =>
  Effect.gen(function*() {
    const checked = yield* validateHamOptions(options, {
      intensity: defaultIntensity,
      backoff: defaultBackoff,
      backoffResetMillis: defaultBackoffResetMillis
    })
    const { eventBuffer, policy: basePolicy, spawner: spawnerOption } = checked
    let verbosity = checked.verbosity

    const clock: Clock.Clock = yield* Effect.clock
    // the private (0700) directory of the notify sockets of process entities
    const notifyDirectory = yield* Effect.orDie(notify_.makeSocketDirectory())
    let notifyCounter = 0
    const hamRuntime = yield* Effect.runtime<never>()
    const executor = yield* CommandExecutor.CommandExecutor
    const now = () => clock.unsafeCurrentTimeMillis()

    const entities = new Map<string, EntityRec>()
    const globalRec = makeRec(entity_.globalName, true, now(), basePolicy)
    globalRec.kind = "placeholder"
    let seq = 0
    let stopped = false

    // the dispatcher's mailbox: a plain array and a wake-up signal (cheaper than a Queue)
    let mailbox: Array<Effect.Effect<void>> = []
    let wakeUp: Deferred.Deferred<void> | undefined
    const sideQueue = yield* Queue.unbounded<Effect.Effect<void>>()
    const pubsub = yield* PubSub.sliding<cond.ConditionEvent>(eventBuffer)
    const fibers = yield* FiberSet.make<unknown, unknown>()
    let attachSignal = Deferred.unsafeMake<void>(FiberId.none)

    // waitfor-entity actions wait on `attachSignal`, completed (and replaced) whenever an entity
    // starts: on attach, and on restart when someone waits
    let entityWaiters = 0
    const signalAttach = () => {
      const previous = attachSignal
      attachSignal = Deferred.unsafeMake<void>(FiberId.none)
      Deferred.unsafeDone(previous, Exit.void)
    }

    // -------------------------------------------------------------------------------------------
    // persistence (when a Guardian store is in the context)
    // -------------------------------------------------------------------------------------------

    // Every change marks its entity dirty. Registry calls (attach, condition, action,
    // publishState, control, remove, detach, ...) commit their change synchronously before they
    // return: no other fiber runs between the change and its commit, so a registry call behaves
    // exactly as in memory. The statistics that detectors change (deaths, restarts, runs of
    // actions) are committed by a flusher fiber in one transaction per scheduler turn.
    const store = Option.getOrUndefined(yield* Effect.serviceOption(store_.StateStore))
    // single commands are forked by the spawner process, unless the children must outlive the
    // HAM (a guardian's process mode adopts them) or the application asked for inline spawns
    // (by the HAM's process, or by the platform's command executor)
    const spawner = spawnerOption !== "process" || store?.mode.process === true
      ? undefined
      : yield* spawner_.make(notifyDirectory)
    const executorOnly = spawnerOption === "executor"
    const dirty = new Set<EntityRec>()
    const deletedNames = new Set<string>()
    let flushWake: Deferred.Deferred<void> | undefined

    const wakeFlusher = () => {
      const wake = flushWake
      if (wake !== undefined) {
        flushWake = undefined
        Deferred.unsafeDone(wake, Exit.void)
      }
    }
    const touch = (rec: EntityRec): void => {
      if (store === undefined) return
      dirty.add(rec)
      deletedNames.delete(rec.name)
      wakeFlusher()
    }
    const forget = (rec: EntityRec): void => {
      if (store === undefined) return
      dirty.delete(rec)
      deletedNames.add(rec.name)
      wakeFlusher()
    }
    const flushSync = (): void => {
      if (store === undefined || (dirty.size === 0 && deletedNames.size === 0)) return
      const puts: Array<store_.EntityDoc> = []
      for (const rec of dirty) {
        if (rec.isGlobal || entities.get(rec.name) === rec) puts.push(toDoc(rec))
      }
      dirty.clear()
      const deletes = [...deletedNames]
      deletedNames.clear()
      store.writeSync(puts, deletes)
    }
    // every write is synchronous: a write prepared earlier can never land after a later one
    const flushOnce: Effect.Effect<void> = Effect.sync(() => flushSync())
    const flusher: Effect.Effect<never> = Effect.forever(Effect.suspend(() => {
      if (dirty.size === 0 && deletedNames.size === 0) {
        flushWake = Deferred.unsafeMake<void>(FiberId.none)
        return Deferred.await(flushWake)
      }
      // one turn of the scheduler gathers the changes made around this one into one commit
      return Effect.zipRight(Effect.yieldNow(), flushOnce)
    }))
    /** commits every pending change now, in one synchronous transaction */
    const flushNow = Effect.sync(flushSync)
    /** a registry call that returns once its change is committed */
    const durable = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
      store === undefined ? self : Effect.zipLeft(self, flushNow)

    const toDoc = (rec: EntityRec): store_.EntityDoc => {
      const h = rec.history
      const proc = rec.proc
      const pid = proc?.life?.pid ?? proc?.external?.pid
      const startTime = proc?.life !== undefined ? proc.startTime : proc?.external?.startTime
      return {
        name: rec.name,
        isGlobal: rec.isGlobal,
        kind: rec.kind,
        status: rec.status,
        enabled: rec.enabled,
        state: rec.state,
        ...(proc === undefined ? {} : {
          process: {
            line: proc.line,
            output: proc.output,
            stopSignal: proc.stopSignal,
            stopGraceMillis: proc.stopGraceMillis,
            ...(proc.nodeIpc ? { nodeIpc: true } : {}),
            ...(pid === undefined ? {} : { pid }),
            ...(startTime === undefined ? {} : { startTime }),
            ...(proc.external === undefined ? {} : { external: proc.external })
          }
        }),
        ...(rec.beat === undefined ? {} : { heartbeat: { ...rec.beat.config, count: rec.beat.count } }),
        policy: {
          maxRestarts: rec.policy.intensity.maxRestarts,
          withinMillis: rec.policy.intensity.withinMillis,
          backoff: rec.policy.backoff !== undefined,
          backoffResetMillis: rec.policy.backoffResetMillis
        },
        created: rec.created,
        lastStart: rec.lastStart,
        ...(rec.lastEvent === undefined ? {} : { lastEvent: rec.lastEvent }),
        history: {
          deaths: h.deaths,
          abnormalDeaths: h.abnormalDeaths,
          restarts: h.restarts,
          missedLow: h.missedLow,
          missedHigh: h.missedHigh,
          ...(h.lastDeath === undefined ? {} : { lastDeath: h.lastDeath }),
          restartTimes: h.restartTimes
        },
        conditions: rec.conditions.map((c) => ({
          name: c.name,
          type: c.type,
          enabled: c.enabled,
          independent: c.independent,
          noWait: c.noWait,
          oneShot: c.oneShot,
          ...(c.stateFilter === undefined ? {} : { stateFilter: c.stateFilter }),
          ...(c.raiseFilter === undefined ? {} : { raiseFilter: c.raiseFilter }),
          fired: c.fired,
          actions: c.actions.map((a) => ({
            name: a.name,
            enabled: a.enabled,
            runs: a.runs,
            failures: a.failures,
            action: store_.storeAction(a.action)
          }))
        }))
      }
    }

    const guard = Effect.suspend(() => (stopped ? Effect.fail(new HamStopped()) : Effect.void))

    const toDispatcher = (run: Effect.Effect<void>) => {
      mailbox.push(run)
      if (wakeUp !== undefined) {
        const deferred = wakeUp
        wakeUp = undefined
        Deferred.unsafeDone(deferred, Exit.void)
      }
    }

    const common = (rec: EntityRec) => ({ entity: rec.name, time: now(), seq: ++seq })

    // -------------------------------------------------------------------------------------------
    // lookups
    // -------------------------------------------------------------------------------------------

    const refName = (ref: entity_.EntityRef): string => (typeof ref === "string" ? ref : ref.name)
    const isGlobalRef = (ref: entity_.EntityRef) => typeof ref !== "string" && ref.isGlobal

    const findEntity = (ref: entity_.EntityRef): Effect.Effect<EntityRec, EntityNotFound> =>
      Effect.suspend(() => {
        if (isGlobalRef(ref)) return Effect.succeed(globalRec)
        const rec = entities.get(refName(ref))
        return rec === undefined ? Effect.fail(new EntityNotFound({ entity: refName(ref) })) : Effect.succeed(rec)
      })

    const findRealEntity = (ref: entity_.EntityRef, what: string) =>
      Effect.flatMap(findEntity(ref), (rec) =>
        rec.isGlobal
          ? Effect.fail(invalid("entity", `${what} needs a real entity, not the global one`))
          : Effect.succeed(rec))

    const findCondition = (handle: ConditionHandle) =>
      Effect.flatMap(findEntity(handle.isGlobal ? entity_.global : handle.entity), (rec) => {
        const condition = rec.conditions.find((c) => c.name === handle.name)
        return condition === undefined
          ? Effect.fail(new ConditionNotFound({ entity: rec.name, condition: handle.name }))
          : Effect.succeed([rec, condition] as const)
      })

    const findAction = (handle: ActionHandle) =>
      Effect.flatMap(
        findCondition({
          _tag: "ConditionHandle",
          entity: handle.entity,
          isGlobal: handle.isGlobal,
          name: handle.condition
        }),
        ([rec, condition]) => {
          const action = condition.actions.find((a) => a.name === handle.name)
          return action === undefined
            ? Effect.fail(new ActionNotFound({ entity: rec.name, condition: condition.name, action: handle.name }))
            : Effect.succeed([rec, condition, action] as const)
        }
      )

    const conditionHandleOf = (rec: EntityRec, condition: ConditionRec): ConditionHandle => ({
      _tag: "ConditionHandle",
      entity: rec.name,
      isGlobal: rec.isGlobal,
      name: condition.name
    })

    // -------------------------------------------------------------------------------------------
    // fibers of fiber entities
    // -------------------------------------------------------------------------------------------

    /**
     * Heartbeat clocks. Every entity with the same heartbeat interval shares one clock fiber,
     * whose periods end on a grid common to all of them (multiples of the interval on the HAM's
     * clock), so 200 children beating every second cost one wake a second, not 200. An entity
     * joins the grid at its start; its first period lasts from its start to the first grid line
     * at least one interval later (between one and two intervals), so a late joiner is never
     * judged on a short first period. The clock fiber ends when its last member leaves.
     */
    const beatClocks = new Map<number, BeatClock>()

    const stopTicker = (rec: EntityRec): Effect.Effect<void> =>
      Effect.sync(() => {
        leaveClock(rec)
      })

    const leaveClock = (rec: EntityRec): void => {
      const beat = rec.beat
      if (beat === undefined || beat.clock === undefined) return
      beat.clock.members.delete(rec)
      beat.clock = undefined
    }

    const tick = (rec: EntityRec, beat: BeatRec) => {
      const seen = beat.seen
      beat.seen = false
      const step = heartbeat_.tick(beat.state, seen, beat.config)
      beat.state = step.state
      if (step.low) enqueue(rec, { _tag: "CondBeatMissedLow", ...common(rec), missed: step.state.missed })
      if (step.high) enqueue(rec, { _tag: "CondBeatMissedHigh", ...common(rec), missed: step.state.missed })
    }

    const runClock = (beatClock: BeatClock): Effect.Effect<void> => {
      const period = beatClock.intervalMillis
      let last = 0
      const step = Effect.suspend(() => {
        const t = now()
        const next = Math.max(Math.floor(t / period) * period + period, last + period)
        return Effect.zipRight(
          Effect.sleep(next - t),
          Effect.sync(() => {
            last = next
            for (const rec of beatClock.members) {
              const beat = rec.beat
              if (beat === undefined || beat.clock !== beatClock || rec.status !== "running") {
                beatClock.members.delete(rec)
              } else if (next >= beat.firstDue) {
                tick(rec, beat)
              }
            }
          })
        )
      })
      const loop: Effect.Effect<void> = Effect.flatMap(step, () => {
        if (beatClock.members.size > 0) return loop
        beatClock.fiber = undefined
        beatClocks.delete(period)
        return Effect.void
      })
      return loop
    }

    const startTicker = (rec: EntityRec): Effect.Effect<void> =>
      Effect.sync(() => {
        const beat = rec.beat
        if (beat === undefined) return
        leaveClock(rec)
        const period = beat.config.intervalMillis
        beat.seen = false
        beat.state = heartbeat_.healthy
        beat.firstDue = Math.ceil((now() + period) / period) * period
        let beatClock = beatClocks.get(period)
        if (beatClock === undefined) {
          beatClock = { intervalMillis: period, members: new Set(), fiber: undefined }
          beatClocks.set(period, beatClock)
        }
        beatClock.members.add(rec)
        beat.clock = beatClock
        if (beatClock.fiber === undefined) {
          beatClock.fiber = Runtime.runFork(hamRuntime, runClock(beatClock), { immediate: false })
          FiberSet.unsafeAdd(fibers, beatClock.fiber)
        }
      })

    const onFiberExit = (rec: EntityRec, generation: number) => (exit: Exit.Exit<unknown, unknown>) => {
      if (rec.generation !== generation || rec.status !== "running") return
      rec.fiber = undefined
      rec.status = "dead"
      leaveClock(rec)
      const signal = rec.killedBy
      rec.killedBy = undefined
      if (Exit.isSuccess(exit)) {
        enqueue(rec, { _tag: "CondDeath", ...common(rec), abnormal: false, reason: "completed" })
        return
      }
      const reason = signal !== undefined ? `killed by ${signal}` : describeCause(exit.cause)
      const fields = { abnormal: true, reason, ...(signal === undefined ? {} : { signal }) }
      enqueue(rec, { _tag: "CondAbnormalDeath", ...common(rec), ...fields })
      enqueue(rec, { _tag: "CondDeath", ...common(rec), ...fields })
    }

    /**
     * Starts (or restarts) the fiber of a fiber entity. The fiber is forked from the runtime
     * captured when the entity was attached (its context, fiber refs and clock). A restart starts
     * it at once on the current thread: no scheduler hop between the decision to restart and the
     * new life. The first life starts on the next scheduler turn instead, so that the caller of
     * `Ham.attach` can add its conditions first. It is a root fiber on purpose: it belongs to the
     * HAM's registry, not to the fiber that happened to start it, and `Ham.stop` (run by the HAM's
     * scope) interrupts every one of them.
     */
    const startFiber = (rec: EntityRec, immediate: boolean): Effect.Effect<void> =>
      Effect.suspend(() => {
        const generation = ++rec.generation
        rec.status = "running"
        rec.lastStart = now()
        const fiber = Runtime.runFork(rec.runtime!, rec.effect!, immediate ? undefined : { immediate: false })
        if (rec.generation === generation && rec.status === "running") rec.fiber = fiber
        fiber.addObserver(onFiberExit(rec, generation))
        if (entityWaiters > 0) signalAttach()
        return rec.beat === undefined ? Effect.void : startTicker(rec)
      })

    /** stops an adopted process's group: `signal`, then SIGKILL after the grace */
    const stopAdopted = (external: NonNullable<ProcRec["external"]>, signal: string, graceMillis: number) => {
      const alive = Effect.sync(() => store_.startTimeOf(external.pid) === external.startTime)
      return Effect.gen(function*() {
        if (!(yield* alive)) return
        if (!process_.killGroup(external.pid, signal)) process_.signalProcess(external.pid, signal)
        yield* alive.pipe(
          Effect.repeat({ schedule: Schedule.spaced("5 millis"), while: (up) => up }),
          Effect.timeout(graceMillis),
          Effect.ignore
        )
        if (!process_.killGroup(external.pid, "SIGKILL")) process_.signalProcess(external.pid, "SIGKILL")
      })
    }

    /** ends an entity's fiber and ticker because the HAM asked: this is not a death */
    const quiesce = (rec: EntityRec): Effect.Effect<void> =>
      Effect.suspend(() => {
        rec.generation++
        const fiber = rec.fiber
        rec.fiber = undefined
        const life = rec.proc?.life
        const watcher = rec.proc?.watcher
        if (rec.proc !== undefined) {
          rec.proc.life = undefined
          rec.proc.watcher = undefined
        }
        if (watcher !== undefined) watcher.unsafeInterruptAsFork(FiberId.none)
        // a process this HAM adopted by pid (started by an earlier HAM of the store) is its own
        const adopted = rec.kind === "process" && life === undefined ? rec.proc?.external : undefined
        return Effect.zipRight(
          stopTicker(rec),
          fiber !== undefined
            ? Effect.asVoid(Fiber.interrupt(fiber))
            : life !== undefined
            ? life.stop(rec.proc!.stopSignal, rec.proc!.stopGraceMillis)
            : adopted !== undefined
            ? stopAdopted(adopted, rec.proc!.stopSignal, rec.proc!.stopGraceMillis)
            : Effect.void
        ).pipe(Effect.zipRight(closeNotify(rec.proc)))
      })

    // -------------------------------------------------------------------------------------------
    // process entities
    // -------------------------------------------------------------------------------------------

    /** the process.send bridge of Node children (option nodeIpc), written once in the private directory */
    let bridgePath: string | undefined
    const ipcBridge = (): string => {
      if (bridgePath === undefined) {
        const file = `${notifyDirectory}/ipc-bridge.cjs`
        NodeFs.writeFileSync(file, notify_.ipcBridgeSource, { mode: 0o600 })
        bridgePath = file
      }
      return bridgePath
    }

    /** in process mode, a child writes its own output to a file: it outlives the HAM */
    const outputFileOf = (name: string) =>
      store?.mode.process === true ? `${store.mode.outputDir}/${encodeURIComponent(name)}.log` : undefined

    /** the command line and the environment of an entity's lives (the same for every life) */
    const launchOf = (name: string, proc: ProcRec, path: string): Launch => {
      if (proc.launch?.path === path) return proc.launch
      const outputFile = outputFileOf(name)
      const line = outputFile === undefined ? proc.line : process_.writingTo(proc.line, outputFile)
      const env: Record<string, string> = { [notify_.EnvEntity]: name, [notify_.EnvSocket]: path }
      if (proc.nodeIpc) {
        const inherited = line.env.NODE_OPTIONS ?? (line.extendEnv ? process.env.NODE_OPTIONS : undefined)
        env.NODE_OPTIONS = `${inherited === undefined ? "" : `${inherited} `}--require=${ipcBridge()}`
      }
      proc.launch = { path, line, env, outputFile }
      return proc.launch
    }

    const spawnLife = (name: string, proc: ProcRec): Effect.Effect<process_.Life, string> =>
      Effect.flatMap(openNotify(name, proc), (path) => {
        const { env, line, outputFile } = launchOf(name, proc, path)
        return process_.spawn({
          line,
          env,
          spawner,
          executorOnly,
          executor,
          output: outputFile === undefined ? proc.output : "ignore",
          tailFile: outputFile,
          onLine: (stream, line) => Effect.logInfo(line).pipe(Effect.annotateLogs({ entity: name, stream })),
          onExit: (life, info) => {
            const rec = entities.get(name)
            if (rec !== undefined && rec.proc?.life === life) onProcessExit(rec, rec.generation, life, info)
            else releaseLife(life)
          }
        })
      })

    /** the entity's notify socket, opened on its first spawn and kept for its later lives */
    const openNotify = (name: string, proc: ProcRec): Effect.Effect<string, string> => {
      if (proc.notify !== undefined) return Effect.succeed(proc.notify.path)
      return Effect.gen(function*() {
        const scope = yield* Scope.make()
        const path = `${notifyDirectory}/${++notifyCounter}.sock`
        yield* notify_.serve(path, onNotify(name), { onMessageSync: onNotifySync(name) }).pipe(
          Scope.extend(scope),
          Effect.mapError((e) => e.message),
          Effect.tapError(() => Scope.close(scope, Exit.void))
        )
        proc.notify = { path, scope }
        return path
      })
    }

    const closeNotify = (proc: ProcRec | undefined): Effect.Effect<void> => {
      const open = proc?.notify
      if (open === undefined) return Effect.void
      proc!.notify = undefined
      return Scope.close(open.scope, Exit.void)
    }

    /** the heartbeat and readiness messages, handled in the socket's callback (no fiber wakes) */
    const onNotifySync = (name: string) => (message: notify_.NotifyMessage): boolean => {
      if (message._tag !== "Watchdog" && message._tag !== "Ready") return false
      const rec = entities.get(name)
      if (rec === undefined || rec.proc === undefined || rec.status !== "running") return true
      if (message._tag === "Ready") {
        rec.proc.ready = true
        if (entityWaiters > 0) signalAttach()
      } else if (rec.beat !== undefined) {
        rec.beat.seen = true
        rec.beat.count++
      }
      return true
    }

    /** what a child says on its notify socket (see docs/notify-protocol.md) */
    const onNotify = (name: string) => (message: notify_.NotifyMessage): Effect.Effect<void> =>
      Effect.suspend(() => {
        const rec = entities.get(name)
        if (rec === undefined || rec.proc === undefined || rec.status !== "running") return Effect.void
        switch (message._tag) {
          case "Ready": {
            rec.proc.ready = true
            if (entityWaiters > 0) signalAttach()
            return Effect.void
          }
          case "Watchdog": {
            const beat = rec.beat
            if (beat !== undefined) {
              beat.seen = true
              beat.count++
            }
            return Effect.void
          }
          case "State":
            return Effect.ignore(publishState(rec.name, message.state))
          case "Raise":
            return Effect.ignore(raise(rec.name, message))
          case "Status":
            return Effect.logInfo(`status: ${message.text}`).pipe(Effect.annotateLogs({ entity: rec.name }))
          case "Unknown":
            return Effect.void
        }
      })

    /** a new life of a process entity is up: watch its exit, start its heartbeat clock */
    const startProcess = (rec: EntityRec, life: process_.Life): Effect.Effect<void> =>
      Effect.suspend(() => {
        const proc = rec.proc!
        const generation = ++rec.generation
        rec.status = "running"
        rec.lastStart = now()
        proc.life = life
        proc.ready = false
        proc.startTime = store?.mode.process === true ? store_.startTimeOf(life.pid) : undefined
        if (entityWaiters > 0) signalAttach()
        // a life that ended before it was taken up here: its exit went unseen, handle it now
        const ended = life.exitInfo()
        if (ended !== undefined) {
          onProcessExit(rec, generation, life, ended)
          return Effect.void
        }
        return rec.beat === undefined ? Effect.void : startTicker(rec)
      })

    /** whatever is left of an ended life's process group goes, and the life's resources with it */
    const releaseLife = (life: process_.Life) => {
      FiberSet.unsafeAdd(fibers, Runtime.runFork(hamRuntime, life.stop("SIGKILL", 0), { immediate: false }))
    }

    const onProcessExit = (rec: EntityRec, generation: number, life: process_.Life, info: process_.ExitInfo) => {
      // the life is released after its death is announced: the fibers woken by the death run first
      if (rec.generation !== generation || rec.status !== "running") return releaseLife(life)
      rec.status = "dead"
      rec.proc!.life = undefined
      leaveClock(rec)
      const abnormal = info.signal !== undefined || info.exitCode !== 0
      const fields = {
        abnormal,
        reason: info.signal !== undefined ? `killed by ${info.signal}` : `exited with code ${info.exitCode}`,
        pid: life.pid,
        ...(info.exitCode === undefined ? {} : { exitCode: info.exitCode }),
        ...(info.signal === undefined ? {} : { signal: info.signal }),
        stderr: life.stderrTail()
      }
      if (abnormal) enqueue(rec, { _tag: "CondAbnormalDeath", ...common(rec), ...fields })
      enqueue(rec, { _tag: "CondDeath", ...common(rec), ...fields })
      releaseLife(life)
    }

    /** waits for the entity's current process to exit; false when it is still alive after `millis` */
    const awaitProcessExit = (life: process_.Life, millis: number): Effect.Effect<boolean> =>
      Effect.map(Effect.timeoutOption(life.exit, millis), Option.isSome)

    // -------------------------------------------------------------------------------------------
    // actions
    // -------------------------------------------------------------------------------------------

    const restartEntity = (rec: EntityRec): Effect.Effect<void, string> =>
      Effect.suspend(() => {
        if (rec.kind !== "fiber" && rec.kind !== "process" && rec.kind !== "pid") {
          return Effect.fail(`entity "${rec.name}" of kind ${rec.kind} cannot be restarted`)
        }
        if (rec.status === "running" || rec.status === "restarting" || stopped) return Effect.void
        if (!rec.attached) return Effect.fail(`entity "${rec.name}" was detached`)
        const at = now()
        const decision = intensity_.addRestart(rec.history.restartTimes, at, rec.policy.intensity)
        // the restarts already made within the window (the one refused is not counted)
        if (decision._tag === "GiveUp") return giveUp(rec, "intensity", decision.restarts.length - 1)
        if (decision.restarts !== rec.history.restartTimes) history(rec).restartTimes = decision.restarts
        const schedule = rec.policy.backoff
        if (schedule === undefined) return restartAfter(rec, 0)
        if (at - rec.lastStart >= rec.policy.backoffResetMillis) {
          // the entity stayed up long enough: restart at once, and the back-off starts afresh
          if (rec.history !== emptyHistory) rec.history.backoffState = undefined
          return restartAfter(rec, 0)
        }
        return Effect.flatMap(backoffDelay(rec, schedule, at), (delay) => restartAfter(rec, delay))
      })

    const restartAfter = (rec: EntityRec, delay: number | undefined): Effect.Effect<void, string> => {
      if (delay === undefined) return giveUp(rec, "backoffEnded", rec.history.restarts)
      rec.status = "restarting"
      const generation = rec.generation
      const unchanged = () => rec.attached && !stopped && rec.generation === generation && rec.status === "restarting"
      const abandoned = `restart of "${rec.name}" abandoned: the entity changed while waiting`
      const start = Effect.suspend(() => {
        if (!unchanged()) return Effect.fail(abandoned)
        if (rec.kind === "process" || rec.kind === "pid") {
          // CondRestart fires once the new process is up (spawned); an external process restarted
          // by the HAM is from then on its own child
          return spawnLife(rec.name, rec.proc!).pipe(
            Effect.tapError(() =>
              Effect.sync(() => {
                if (unchanged()) rec.status = "dead"
              })
            ),
            Effect.flatMap((life) => {
              if (!unchanged()) return Effect.zipRight(life.stop("SIGKILL", 0), Effect.fail(abandoned))
              history(rec).restarts++
              discardOneShots(rec)
              rec.kind = "process"
              rec.proc!.external = undefined
              return Effect.zipRight(
                startProcess(rec, life),
                Effect.sync(() => {
                  enqueue(rec, { _tag: "CondRestart", ...common(rec), restarts: rec.history.restarts, pid: life.pid })
                })
              )
            })
          )
        }
        history(rec).restarts++
        // announced before the new life starts (it starts at once and may end at once): its
        // CondRestart comes before its death; one-shot conditions see it, then are discarded
        enqueue(rec, { _tag: "CondRestart", ...common(rec), restarts: rec.history.restarts })
        discardOneShots(rec)
        return startFiber(rec, true)
      })
      return delay > 0 ? Effect.zipRight(Effect.sleep(delay), start) : start
    }

    /** the delay before this restart, from the back-off schedule; undefined when it has ended */
    const backoffDelay = (
      rec: EntityRec,
      schedule: Schedule.Schedule<unknown>,
      at: number
    ): Effect.Effect<number | undefined> => {
      const h = history(rec)
      return Effect.map(schedule.step(at, undefined, h.backoffState ?? schedule.initial), ([state, , decision]) => {
        h.backoffState = state
        if (ScheduleDecision.isDone(decision)) return undefined
        return Math.max(0, ScheduleIntervals.start(decision.intervals) - at)
      })
    }

    const giveUp = (
      rec: EntityRec,
      reason: "intensity" | "backoffEnded",
      restarts: number
    ): Effect.Effect<never, string> =>
      Effect.suspend(() => {
        rec.status = "gaveUp"
        const error = new RestartIntensityExceeded({
          entity: rec.name,
          reason,
          restarts,
          withinMillis: rec.policy.intensity.withinMillis
        })
        enqueue(rec, {
          _tag: "CondRaise",
          ...common(rec),
          type: cond.RaiseTypeHam,
          class: cond.RaiseClassRestartGaveUp,
          severity: cond.RaiseSeverityCritical,
          detail: error.message
        })
        return Effect.fail(error.message)
      })

    const discardOneShots = (rec: EntityRec) => {
      if (rec.conditions.some((c) => c.oneShot)) rec.conditions = rec.conditions.filter((c) => !c.oneShot)
      for (const c of rec.conditions) {
        if (c.actions.some((a) => a.action.oneShot)) c.actions = c.actions.filter((a) => !a.action.oneShot)
      }
    }

    const signalEntity = (
      rec: EntityRec,
      signal: string,
      awaitExitMillis: number | undefined
    ): Effect.Effect<void, string> =>
      Effect.suspend(() => {
        const life = rec.proc?.life
        const external = rec.proc?.external
        if (rec.kind === "pid" && external !== undefined) {
          if (rec.status !== "running") return Effect.fail(`entity "${rec.name}" is not running`)
          if (!process_.signalProcess(external.pid, signal)) {
            return Effect.fail(`cannot send ${signal} to pid ${external.pid}`)
          }
          if (awaitExitMillis === undefined) return Effect.void
          const gone = Effect.map(procfs.isAlive(external.pid), (alive) => !alive)
          return Effect.timeoutFail(poll(gone), {
            duration: awaitExitMillis,
            onTimeout: () => `pid ${external.pid} is still alive ${awaitExitMillis} ms after ${signal}`
          })
        }
        if (rec.kind === "process") {
          if (rec.status !== "running" || life === undefined) return Effect.fail(`entity "${rec.name}" is not running`)
          if (!process_.signalProcess(life.pid, signal)) return Effect.fail(`cannot send ${signal} to pid ${life.pid}`)
          if (awaitExitMillis === undefined) return Effect.void
          return Effect.flatMap(awaitProcessExit(life, awaitExitMillis), (exited) =>
            exited
              ? Effect.void
              : Effect.fail(`pid ${life.pid} is still alive ${awaitExitMillis} ms after ${signal}`))
        }
        if (rec.kind !== "fiber") return Effect.fail(`entity "${rec.name}" of kind ${rec.kind} cannot be signalled`)
        const fiber = rec.fiber
        if (rec.status !== "running" || fiber === undefined) return Effect.fail(`entity "${rec.name}" is not running`)
        if (!terminatingSignals.has(signal)) {
          return Effect.fail(`a fiber entity only takes terminating signals, not ${signal}`)
        }
        rec.killedBy = signal
        // an interruption the HAM was asked for by the action: it is a death, reported by the observer
        return Effect.asVoid(Effect.zipRight(Effect.sync(() => fiber.unsafeInterruptAsFork(FiberId.none)), fiber.await))
      })

    const signalPid = (pid: number, signal: string): Effect.Effect<void, string> =>
      Effect.try({
        try: () => {
          process.kill(pid, signal as NodeJS.Signals)
        },
        catch: (e) => `cannot send ${signal} to pid ${pid}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`
      })

    const isReady = (name: string) => {
      const rec = entities.get(name)
      return rec !== undefined && rec.status === "running" && rec.proc?.ready === true
    }

    /** waits until `check` holds, re-checking whenever an entity starts or becomes ready */
    const waitForSignal = (check: () => boolean): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (check()) return Effect.void
        entityWaiters++
        return Effect.zipRight(
          Effect.ensuring(
            Deferred.await(attachSignal),
            Effect.sync(() => {
              entityWaiters--
            })
          ),
          waitForSignal(check)
        )
      })

    const pollEvery = 10
    const poll = (check: Effect.Effect<boolean>): Effect.Effect<void> =>
      Effect.flatMap(check, (ok) => (ok ? Effect.void : Effect.zipRight(Effect.sleep(pollEvery), poll(check))))

    const runWaitFor = (action: action_.WaitForData): Effect.Effect<void, string> => {
      const within = (wait: Effect.Effect<void>, what: string) =>
        Effect.timeoutFail(wait, {
          duration: action.millis,
          onTimeout: () => `${what} within ${action.millis} ms`
        })
      if (action.entity !== undefined) {
        const name = action.entity
        return within(waitForSignal(() => entities.get(name)?.status === "running"), `entity "${name}" did not appear`)
      }
      if (action.ready !== undefined) {
        const name = action.ready
        return within(waitForSignal(() => isReady(name)), `entity "${name}" was not ready`)
      }
      if (action.path !== undefined) {
        const path = action.path
        return within(poll(Effect.sync(() => NodeFs.existsSync(path))), `path ${path} did not appear`)
      }
      if (action.port !== undefined) {
        const host = action.host ?? "127.0.0.1"
        const port = action.port
        return within(poll(process_.accepts(host, port)), `nothing accepted connections on ${host}:${port}`)
      }
      return Effect.sleep(action.millis)
    }

    const runCommand = (line: action_.CommandLine, timeoutMillis: number | undefined): Effect.Effect<void, string> => {
      const run = executor.exitCode(action_.commandFrom(line)).pipe(
        Effect.mapError((e) => `${action_.renderCommandLine(line)}: ${e.message}`),
        Effect.flatMap((code) =>
          code === 0 ? Effect.void : Effect.fail(`${action_.renderCommandLine(line)} exited with code ${code}`)
        )
      )
      return timeoutMillis === undefined
        ? run
        : Effect.timeoutFail(run, {
          duration: timeoutMillis,
          onTimeout: () => `${action_.renderCommandLine(line)} timed out after ${timeoutMillis} ms`
        })
    }

    const pathOf = (ctx: RunContext, name: string) => `${ctx.owner.name}/${ctx.condition.name}/${name}`

    /** runs one action; any failure (a reason string, or the error of local code) is the action's failure */
    const runOne = (ctx: RunContext, action: action_.ActionData, name: string): Effect.Effect<unknown, unknown> => {
      switch (action._tag) {
        case "Restart":
          return restartEntity(ctx.rec)
        case "Execute":
          return runCommand(action.command, action.timeoutMillis)
        case "Notify": {
          const value = Option.getOrElse(action.value, () => ctx.event)
          const delivered = action.target._tag === "Queue"
            ? action.target.offer(value)
            : action.target.complete(value)
          return Effect.flatMap(
            Effect.exit(delivered),
            (exit) =>
              Exit.isSuccess(exit) && (exit.value || action.target._tag === "Deferred")
                ? Effect.void
                : Effect.fail("the notify target did not accept the value (full or shut down)")
          )
        }
        case "Signal":
          return action.pid === undefined
            ? signalEntity(ctx.rec, action.signal, action.awaitExitMillis)
            : signalPid(action.pid, action.signal)
        case "WaitFor":
          return runWaitFor(action)
        case "HeartbeatHealthy":
          return Effect.sync(() => {
            if (ctx.rec.beat !== undefined) ctx.rec.beat.state = heartbeat_.heal(ctx.rec.beat.state)
          })
        case "Log": {
          if (verbosity < action.verbosity) return Effect.void
          const text = action.attachPrefix ? `${pathOf(ctx, name)}: ${action.message}` : action.message
          return Effect.logInfo(text).pipe(
            Effect.annotateLogs({ entity: ctx.rec.name, condition: ctx.condition.name, event: ctx.event._tag })
          )
        }
        case "Local":
          // suspended: code that throws instead of returning an effect is a failure, not a crash
          return Effect.suspend(() => action.run(ctx.event))
      }
    }

    /** runs an action, then its alternates in order until one succeeds; reports the primary's failure */
    const succeeded = Effect.succeed(undefined)

    const runWithAlternates = (
      ctx: RunContext,
      action: action_.ActionData,
      name: string
    ): Effect.Effect<ActionFailed | undefined> =>
      Effect.matchCauseEffect(runOne(ctx, action, name), {
        onSuccess: () => succeeded,
        onFailure: (cause) => {
          // an interruption while the HAM stops is the executor's own: pass it on; any other
          // interruption (the action's code interrupted itself) is a failure of the action
          if (stopped && Cause.isInterruptedOnly(cause)) return Effect.failCause(cause as Cause.Cause<never>)
          const failure = new ActionFailed({
            entity: ctx.rec.name,
            condition: `${ctx.owner.name}/${ctx.condition.name}`,
            action: name,
            reason: describeCause(cause)
          })
          const logFailure = verbosity >= 1
            ? Effect.logWarning(failure.message).pipe(Effect.annotateLogs({ entity: ctx.rec.name, action: name }))
            : Effect.void
          const tryAlternates = (i: number): Effect.Effect<void> => {
            if (i >= action.alternates.length) return Effect.void
            return Effect.flatMap(
              runWithAlternates(ctx, action.alternates[i], `${name}~${i + 1}`),
              (r) => (r === undefined ? Effect.void : tryAlternates(i + 1))
            )
          }
          return Effect.as(Effect.zipRight(logFailure, tryAlternates(0)), failure)
        }
      })

    /** true when a restart of this entity now would first wait for its back-off */
    const restartWouldWait = (rec: EntityRec) =>
      rec.policy.backoff !== undefined && rec.status !== "running" && rec.status !== "restarting" &&
      now() - rec.lastStart < rec.policy.backoffResetMillis

    const runCondition = (ctx: RunContext, from = 0): Effect.Effect<void> =>
      Effect.suspend(() => runConditionNow(ctx, from))

    const runConditionNow = (ctx: RunContext, from: number): Effect.Effect<void> => {
      const actions = ctx.condition.actions
      const loop = (i: number): Effect.Effect<void> => {
        if (i >= actions.length) return Effect.void
        const rec = actions[i]
        if (!rec.enabled) return loop(i + 1)
        if (ctx.shared && rec.action._tag === "Restart" && restartWouldWait(ctx.rec)) {
          // A back-off wait must not stall the conditions of other entities: the rest of this list
          // (the restart and what follows it) goes on in a fiber of its own, in the same order.
          return Effect.asVoid(FiberSet.run(fibers, runCondition({ ...ctx, shared: false }, i)))
        }
        rec.runs++
        touch(ctx.owner)
        return Effect.flatMap(runWithAlternates(ctx, rec.action, rec.name), (failure) => {
          if (failure === undefined) return loop(i + 1)
          rec.failures++
          touch(ctx.owner)
          rec.lastFailure = failure
          if (rec.action.removeOnFail) ctx.condition.actions = ctx.condition.actions.filter((a) => a !== rec)
          return rec.action.breakOnFail ? Effect.void : loop(i + 1)
        })
      }
      return loop(from)
    }

    // -------------------------------------------------------------------------------------------
    // the dispatcher
    // -------------------------------------------------------------------------------------------

    const matches = (condition: ConditionRec, event: cond.ConditionEvent): boolean => {
      if (!condition.enabled) return false
      if (condition.type === "CondAny") return true
      if (condition.type !== event._tag) return false
      if (event._tag === "CondState" && condition.stateFilter !== undefined) {
        return cond.matchStateFilter(condition.stateFilter, event)
      }
      if (event._tag === "CondRaise" && condition.raiseFilter !== undefined) {
        return cond.matchRaiseFilter(condition.raiseFilter, event)
      }
      return true
    }

    const account = (rec: EntityRec, event: cond.ConditionEvent) => {
      rec.lastEvent = event.time
      switch (event._tag) {
        case "CondDeath":
          history(rec).deaths++
          history(rec).lastDeath = event.reason
          break
        case "CondAbnormalDeath":
          history(rec).abnormalDeaths++
          break
        case "CondBeatMissedLow":
          history(rec).missedLow++
          break
        case "CondBeatMissedHigh":
          history(rec).missedHigh++
          break
      }
    }

    /** a defect in the HAM's own code while it runs one condition must not stop the dispatcher */
    const survive = (cause: Cause.Cause<never>): Effect.Effect<void> =>
      stopped && Cause.isInterruptedOnly(cause)
        ? Effect.failCause(cause)
        : Effect.logError("effect-ham: defect while dispatching", cause)

    const routeTo = (owner: EntityRec, rec: EntityRec, event: cond.ConditionEvent) => {
      if (!owner.enabled) return
      for (const condition of owner.conditions) {
        if (!matches(condition, event)) continue
        condition.fired++
        if (owner !== rec) touch(owner)
        if (condition.noWait) {
          sideQueue.unsafeOffer(runCondition({ rec, event, condition, owner, shared: true }))
        } else if (condition.independent) {
          const fiber = Runtime.runFork(hamRuntime, runCondition({ rec, event, condition, owner, shared: false }), {
            immediate: false
          })
          FiberSet.unsafeAdd(fibers, fiber)
        } else {
          toDispatcher(runCondition({ rec, event, condition, owner, shared: true }))
        }
      }
    }

    /**
     * Publishes an event: the one path every detector takes. Synchronously, in event order: the
     * statistics are updated, the event goes to subscribers, and every matching condition (the
     * entity's, then the global entity's) is handed to its executor: the FIFO dispatcher fiber,
     * the shared noWait fiber, or a fiber of its own. Routing here, not in the dispatcher, keeps
     * noWait and independent conditions free of whatever the FIFO conditions are waiting for.
     */
    function enqueue(rec: EntityRec, event: cond.ConditionEvent) {
      if (stopped) return
      account(rec, event)
      touch(rec)
      // the fast path skips the pubsub's strategy; when the buffer is full, publish through it
      // (sliding: it drops the oldest event of the lagging subscribers only, and never waits)
      if (!pubsub.unsafeOffer(event)) Effect.runSync(PubSub.publish(pubsub, event))
      if (verbosity >= 3) {
        toDispatcher(
          Effect.logDebug(`event ${event._tag} on ${rec.name}`).pipe(
            Effect.annotateLogs({ entity: rec.name, seq: event.seq })
          )
        )
      }
      // a disabled entity's events are counted and seen by subscribers, but trigger nothing
      if (!rec.enabled) return
      routeTo(rec, rec, event)
      routeTo(globalRec, rec, event)
    }

    // -------------------------------------------------------------------------------------------
    // the HAM's own fibers and their guardian
    // -------------------------------------------------------------------------------------------

    // The dispatcher, the noWait dispatcher and a guardian fiber watch each other (fiber
    // observers: no polling). When a defect kills a dispatcher, the guardian starts a new one on
    // the same mailbox: a run that had started is not run again, the runs that had not started
    // are run by the new dispatcher, in order. When the guardian dies, the HAM starts a new one.
    // The registry itself is untouched by such a death (and is in the store when there is one).
    type HamFiber = "dispatcher" | "sideDispatcher"
    const faults = { dispatcher: false, sideDispatcher: false, guardian: false }
    let hamFailures = 0
    let guardianFailures = 0
    const deadFibers: Array<HamFiber> = []
    let guardianWake: Deferred.Deferred<void> | undefined

    // the batch being run: a new dispatcher carries on from `batchIndex`
    let batch: Array<Effect.Effect<void>> = []
    let batchIndex = 0
    const nextStep: Effect.Effect<void> = Effect.suspend(() => {
      if (faults.dispatcher) {
        faults.dispatcher = false
        return Effect.dieMessage("effect-ham: a fault injected into the dispatcher")
      }
      if (batchIndex < batch.length) {
        const run = batch[batchIndex]
        batch[batchIndex++] = Effect.void
        return Effect.catchAllCause(run, survive)
      }
      if (mailbox.length === 0) {
        batch = []
        batchIndex = 0
        wakeUp = Deferred.unsafeMake<void>(FiberId.none)
        return Deferred.await(wakeUp)
      }
      batch = mailbox
      batchIndex = 0
      mailbox = []
      return Effect.void
    })
    const nextSide: Effect.Effect<void> = Effect.suspend(() => {
      if (faults.sideDispatcher) {
        faults.sideDispatcher = false
        return Effect.dieMessage("effect-ham: a fault injected into the noWait dispatcher")
      }
      return Effect.flatMap(Queue.take(sideQueue), (run) => Effect.catchAllCause(run, survive))
    })

    let dispatcher: Fiber.RuntimeFiber<never> = undefined as never
    let sideDispatcher: Fiber.RuntimeFiber<never> = undefined as never
    let guardian: Fiber.RuntimeFiber<never> = undefined as never

    const onHamFiberExit = (which: HamFiber) => () => {
      if (stopped) return
      hamFailures++
      deadFibers.push(which)
      const wake = guardianWake
      if (wake !== undefined) {
        guardianWake = undefined
        Deferred.unsafeDone(wake, Exit.void)
      }
    }
    // a plain loop: `Effect.forever` would yield to the scheduler after every run; the runtime
    // still yields on its own after a long run of synchronous steps
    const dispatchLoop: Effect.Effect<never> = Effect.flatMap(nextStep, () => dispatchLoop)
    const startDispatcher = () => {
      dispatcher = Runtime.runFork(hamRuntime, dispatchLoop)
      dispatcher.addObserver(onHamFiberExit("dispatcher"))
    }
    const startSideDispatcher = () => {
      sideDispatcher = Runtime.runFork(hamRuntime, Effect.forever(nextSide))
      sideDispatcher.addObserver(onHamFiberExit("sideDispatcher"))
    }
    const guardianStep: Effect.Effect<void> = Effect.suspend(() => {
      if (faults.guardian) {
        faults.guardian = false
        return Effect.dieMessage("effect-ham: a fault injected into the guardian")
      }
      const which = deadFibers.shift()
      if (which === undefined) {
        guardianWake = Deferred.unsafeMake<void>(FiberId.none)
        return Deferred.await(guardianWake)
      }
      if (which === "dispatcher") startDispatcher()
      else startSideDispatcher()
      return Effect.logWarning(`effect-ham: the ${which} died; the guardian started a new one`)
    })
    const startGuardian = () => {
      guardianWake = undefined
      guardian = Runtime.runFork(hamRuntime, Effect.forever(guardianStep))
      guardian.addObserver(() => {
        if (stopped) return
        guardianFailures++
        startGuardian()
      })
    }
    /** test hook: a defect in one of the HAM's own fibers, at its next step */
    const injectFault = (target: HamFiber | "guardian") =>
      Effect.sync(() => {
        faults[target] = true
        if (target === "dispatcher") toDispatcher(Effect.void)
        else if (target === "sideDispatcher") sideQueue.unsafeOffer(Effect.void)
        else {
          const wake = guardianWake
          guardianWake = undefined
          if (wake !== undefined) Deferred.unsafeDone(wake, Exit.void)
        }
      })
    startDispatcher()
    startSideDispatcher()
    startGuardian()

    // -------------------------------------------------------------------------------------------
    // registry operations
    // -------------------------------------------------------------------------------------------

    /** the record an attach fills in: a new one, a placeholder, or a dead entity taking up its history */
    const claim = (name: string, policy: Policy): Effect.Effect<EntityRec, DuplicateName | InvalidArgument> =>
      Effect.suspend((): Effect.Effect<EntityRec, DuplicateName | InvalidArgument> => {
        if (name === entity_.globalName) {
          return Effect.fail(invalid("entity name", `"*" is reserved for the global entity`))
        }
        const existing = entities.get(name)
        if (existing === undefined) {
          const rec = makeRec(name, false, now(), policy)
          return Effect.succeed(rec)
        }
        if (existing.status === "running" || existing.status === "restarting") {
          return Effect.fail(new DuplicateName({ kind: "entity", name }))
        }
        existing.policy = policy
        existing.restored = false
        if (existing.history !== emptyHistory) {
          existing.history.backoffState = undefined
          existing.history.restartTimes = none
        }
        return Effect.succeed(existing)
      })

    // Entities attached from the same fiber in a row share one runtime object: an idle entity
    // should cost little more than its fiber. Two runtimes are alike when they hold the same
    // context, flags, and fiber ref values.
    let lastRuntime: Runtime.Runtime<any> | undefined
    const sameRefs = (a: FiberRefs.FiberRefs, b: FiberRefs.FiberRefs): boolean => {
      if (a === b) return true
      if (a.locals.size !== b.locals.size) return false
      for (const [ref, stack] of a.locals) {
        const other = b.locals.get(ref)
        if (other === undefined) return false
        if (other !== stack && other[0][1] !== stack[0][1]) return false
      }
      return true
    }
    const shareRuntime = <R>(runtime: Runtime.Runtime<R>): Runtime.Runtime<R> => {
      if (
        lastRuntime !== undefined && lastRuntime.context === runtime.context &&
        lastRuntime.runtimeFlags === runtime.runtimeFlags && sameRefs(lastRuntime.fiberRefs, runtime.fiberRefs)
      ) return lastRuntime
      lastRuntime = runtime
      return runtime
    }

    /** the heartbeat record of a (re)attached entity; the count of beats received carries over */
    const beatRecFor = (rec: EntityRec, config: BeatRec["config"] | undefined): BeatRec | undefined =>
      config === undefined
        ? undefined
        : { config, state: heartbeat_.healthy, seen: false, count: rec.beat?.count ?? 0, clock: undefined, firstDue: 0 }

    /** a restart action declared on the entity (one read from the store counts once it is declared again) */
    const hasRestart = (rec: EntityRec) =>
      rec.conditions.some((c) => c.actions.some((a) => !a.restored && action_.restarts(a.action)))

    /**
     * A process or pid entity that was restored from the store and is running again is taken up
     * by the application's first attach of its name (the process is not started twice); the
     * attach's options apply from then on.
     */
    const adoptRestored = (
      name: string,
      kind: "process" | "pid",
      heartbeat: BeatRec["config"] | undefined,
      policy: Policy
    ): EntityRec | undefined => {
      const rec = entities.get(name)
      if (rec === undefined || !rec.restored || rec.kind !== kind) return undefined
      if (rec.status !== "running" && rec.status !== "restarting") return undefined
      rec.restored = false
      rec.policy = policy
      if (heartbeat !== undefined && rec.beat === undefined) {
        rec.beat = beatRecFor(rec, heartbeat)
        runSyncIn(startTicker(rec))
      }
      touch(rec)
      return rec
    }

    const runSyncIn = (effect: Effect.Effect<void>) => Runtime.runSync(hamRuntime, effect)

    const policyOf = (doc: store_.EntityDoc["policy"]): Policy => ({
      intensity: { maxRestarts: doc.maxRestarts, withinMillis: doc.withinMillis },
      backoff: doc.backoff ? basePolicy.backoff ?? defaultBackoff : undefined,
      backoffResetMillis: doc.backoffResetMillis
    })

    /** an entity back from the store: its conditions, actions, statistics and state */
    const restoreRec = (doc: store_.EntityDoc): EntityRec => {
      const rec = doc.isGlobal ? globalRec : makeRec(doc.name, false, doc.created, policyOf(doc.policy))
      rec.enabled = doc.enabled
      rec.state = doc.state
      rec.lastEvent = doc.lastEvent
      rec.lastStart = doc.lastStart ?? doc.created
      rec.restored = !doc.isGlobal
      const h = doc.history
      if (h.deaths + h.abnormalDeaths + h.restarts + h.missedLow + h.missedHigh > 0 || h.lastDeath !== undefined) {
        rec.history = { ...h, lastDeath: h.lastDeath, restartTimes: [...h.restartTimes], backoffState: undefined }
      }
      rec.conditions = doc.conditions.map((c): ConditionRec => ({
        name: c.name,
        type: c.type,
        enabled: c.enabled,
        independent: c.independent,
        noWait: c.noWait,
        oneShot: c.oneShot,
        stateFilter: c.stateFilter,
        raiseFilter: c.raiseFilter,
        fired: c.fired,
        restored: true,
        actions: c.actions.map((a): ActionRec => ({
          name: a.name,
          // checked when the store was opened
          action: Either.getOrThrow(store_.restoreAction(a.action)),
          enabled: a.enabled,
          runs: a.runs,
          failures: a.failures,
          lastFailure: undefined,
          restored: true
        }))
      }))
      if (doc.heartbeat !== undefined) {
        const { count, ...config } = doc.heartbeat
        rec.beat = { config, state: heartbeat_.healthy, seen: false, count, clock: undefined, firstDue: 0 }
      }
      return rec
    }

    /**
     * Rebuilds the registry from the store. Fiber and self-attached entities wait as placeholders
     * until the application attaches them again (code cannot be stored); process entities are
     * started again with their stored command line; a pid entity is watched again when its
     * process is still the same one, and is dead otherwise.
     */
    const restore = (docs: ReadonlyArray<store_.EntityDoc>): Effect.Effect<void> =>
      Effect.forEach(docs, (doc) =>
        Effect.gen(function*() {
          const rec = restoreRec(doc)
          if (doc.isGlobal) return
          entities.set(rec.name, rec)
          const stored = doc.process
          if ((doc.kind !== "process" && doc.kind !== "pid") || stored === undefined) return
          const options = {
            stopSignal: stored.stopSignal,
            stopGraceMillis: stored.stopGraceMillis,
            output: stored.output,
            nodeIpc: stored.nodeIpc
          }
          rec.kind = doc.kind
          rec.status = "dead"
          const processMode = store?.mode.process === true
          // the host restored by itself: the record of its previous life; it attaches itself again
          if (processMode && store?.mode.role === "host" && rec.name === store.mode.hostName) {
            rec.kind = "pid"
            rec.proc = newProcRec(stored.line, options, undefined)
            return
          }
          // the process the record names, if it is still the same one
          const live = stored.external ??
            (stored.pid !== undefined && stored.startTime !== undefined
              ? { pid: stored.pid, startTime: stored.startTime, pollMillis: defaultPollMillis }
              : undefined)
          const same = live !== undefined && store_.startTimeOf(live.pid) === live.startTime
          if (doc.kind === "pid" || processMode) {
            rec.proc = newProcRec(stored.line, options, same ? live : stored.external)
            if (same) {
              // adopted by pid: watched by polling (it is not this process's child)
              yield* watchExternal(rec, true)
              return
            }
            // in process mode a process that died while no HAM watched it is a death: its
            // conditions run (a restart, the host's own recovery)
            if (processMode && live !== undefined) {
              enqueue(rec, {
                _tag: "CondDeath",
                ...common(rec),
                abnormal: false,
                reason: `pid ${live.pid} died while no HAM was watching it (no exit status)`,
                pid: live.pid
              })
            }
            return
          }
          const proc = newProcRec(stored.line, options, undefined)
          rec.proc = proc
          const life = yield* Effect.either(spawnLife(rec.name, proc))
          if (Either.isLeft(life)) {
            yield* closeNotify(proc)
            history(rec).lastDeath = `could not be started again from the store: ${life.left}`
            return
          }
          enqueue(rec, { _tag: "CondAttach", ...common(rec), pid: life.right.pid })
          yield* startProcess(rec, life.right)
        }), { discard: true })

    const attach = <S extends entity_.EntitySpec<any>>(
      spec: S,
      options?: AttachOptions
    ): Effect.Effect<entity_.EntityHandle, AttachError, entity_.Requirements<S>> =>
      Effect.gen(function*() {
        yield* guard
        const name = yield* validateEntityName(spec.name)
        yield* validateEntitySpec(spec)
        const { heartbeat, policy } = yield* validateAttachOptions(options, basePolicy)
        if (spec._tag === "Process") return yield* attachProcess(name, spec, heartbeat, policy)
        if (spec._tag === "Pid") return yield* attachPid(name, spec, heartbeat, policy)
        const runtime = shareRuntime(yield* Effect.runtime<entity_.Requirements<S>>())
        const rec = yield* claim(name, policy)
        rec.kind = "fiber"
        rec.beat = beatRecFor(rec, heartbeat)
        rec.effect = spec.effect
        rec.proc = undefined
        rec.runtime = runtime
        rec.attached = true
        entities.set(name, rec)
        enqueue(rec, { _tag: "CondAttach", ...common(rec) })
        yield* startFiber(rec, false)
        return handleOf(rec)
      })

    /** the options every process entity takes, checked; and a refusal of a taken name */
    const processOptions = (name: string, options: entity_.ProcessOptions, adopting?: EntityRec) =>
      Effect.gen(function*() {
        const checked = yield* validateProcessOptions(options)
        const existing = entities.get(name)
        if (
          existing !== undefined && existing !== adopting &&
          (existing.status === "running" || existing.status === "restarting")
        ) {
          return yield* Effect.fail(new DuplicateName({ kind: "entity", name }))
        }
        return checked
      })

    const newProcRec = (
      line: action_.CommandLine,
      options: {
        readonly stopSignal: string
        readonly stopGraceMillis: number
        readonly output: process_.OutputOption
        readonly nodeIpc?: boolean | undefined
      },
      external: ProcRec["external"]
    ): ProcRec => ({
      line,
      ...options,
      nodeIpc: options.nodeIpc === true,
      life: undefined,
      ready: false,
      external,
      watcher: undefined,
      notify: undefined,
      launch: undefined,
      startTime: undefined
    })

    const attachProcess = (
      name: string,
      spec: entity_.ProcessSpec,
      heartbeat: BeatRec["config"] | undefined,
      policy: Policy
    ) =>
      Effect.gen(function*() {
        const adopted = adoptRestored(name, "process", heartbeat, policy)
        if (adopted !== undefined) {
          const options = yield* processOptions(name, spec.options, adopted)
          adopted.proc = { ...adopted.proc!, line: spec.command, ...options }
          return handleOf(adopted)
        }
        // checked, and a taken name refused, before anything is started
        const proc = newProcRec(spec.command, yield* processOptions(name, spec.options), undefined)
        const life = yield* spawnLife(name, proc).pipe(
          Effect.tapError(() => closeNotify(proc)),
          Effect.mapError((reason) =>
            new SpawnFailed({ entity: name, command: action_.renderCommandLine(spec.command), reason })
          )
        )
        const rec = yield* claim(name, policy).pipe(Effect.tapError(() => life.stop("SIGKILL", 0)))
        rec.kind = "process"
        rec.beat = beatRecFor(rec, heartbeat)
        rec.effect = undefined
        rec.runtime = undefined
        rec.proc = proc
        rec.attached = true
        entities.set(name, rec)
        enqueue(rec, { _tag: "CondAttach", ...common(rec), pid: life.pid })
        yield* startProcess(rec, life)
        return handleOf(rec)
      })

    const attachPid = (
      name: string,
      spec: entity_.PidSpec,
      heartbeat: BeatRec["config"] | undefined,
      policy: Policy
    ) =>
      Effect.gen(function*() {
        const pid = spec.pid
        const adopted = adoptRestored(name, "pid", heartbeat, policy)
        if (adopted !== undefined) return handleOf(adopted)
        const pollMillis = spec.options.pollInterval === undefined
          ? defaultPollMillis
          : yield* millisOf(spec.options.pollInterval, "pollInterval", 1)
        const options = yield* processOptions(name, spec.options)
        const notFound = () => new ProcessNotFound({ pid })
        const stat = yield* procfs.readStat(pid).pipe(Effect.mapError(notFound))
        if (!procfs.isLiveState(stat.state)) return yield* Effect.fail(notFound())
        if (!(yield* procfs.canSignal(pid))) {
          return yield* Effect.fail(new ProcessNotSignallable({ pid, reason: "not permitted to signal it" }))
        }
        const argv = yield* procfs.readCmdline(pid).pipe(Effect.mapError(notFound))
        if (argv.length === 0) {
          return yield* Effect.fail(
            new ProcessNotSignallable({ pid, reason: "it has no command line (kernel thread?)" })
          )
        }
        const cwd = yield* procfs.readCwd(pid).pipe(Effect.mapError(notFound))
        const environ = yield* procfs.readEnviron(pid).pipe(Effect.mapError(notFound))
        const line: action_.CommandLine = {
          command: argv[0],
          args: argv.slice(1),
          env: Option.getOrElse(environ, () => ({})),
          extendEnv: Option.isNone(environ),
          cwd: Option.getOrUndefined(cwd),
          shell: false
        }
        const rec = yield* claim(name, policy)
        rec.kind = "pid"
        rec.beat = beatRecFor(rec, heartbeat)
        rec.effect = undefined
        rec.runtime = undefined
        rec.proc = newProcRec(line, options, { pid, startTime: stat.startTime, pollMillis })
        rec.attached = true
        entities.set(name, rec)
        enqueue(rec, { _tag: "CondAttach", ...common(rec), pid })
        yield* watchExternal(rec)
        return handleOf(rec)
      })

    /** polls /proc for the death of an external process (a zombie, or the pid reused, is a death) */
    /** `adopted`: a process that an earlier HAM of the store started keeps its start time */
    const watchExternal = (rec: EntityRec, adopted = false): Effect.Effect<void> =>
      Effect.suspend(() => {
        const proc = rec.proc!
        const external = proc.external!
        const generation = ++rec.generation
        rec.status = "running"
        if (!adopted) rec.lastStart = now()
        const alive = Effect.match(procfs.readStat(external.pid), {
          onFailure: () => false,
          onSuccess: (stat) => procfs.isLiveState(stat.state) && stat.startTime === external.startTime
        })
        const loop: Effect.Effect<void> = Effect.flatMap(Effect.sleep(external.pollMillis), () =>
          Effect.flatMap(alive, (ok) => {
            if (ok) return loop
            return Effect.sync(() => {
              if (rec.generation !== generation || rec.status !== "running") {
                return
              }
              rec.status = "dead"
              proc.watcher = undefined
              leaveClock(rec)
              enqueue(rec, {
                _tag: "CondDeath",
                ...common(rec),
                abnormal: false,
                reason: `pid ${external.pid} is gone (not a child of the HAM: no exit status)`,
                pid: external.pid
              })
            })
          }))
        proc.watcher = Runtime.runFork(hamRuntime, loop)
        FiberSet.unsafeAdd(fibers, proc.watcher)
        if (entityWaiters > 0) {
          signalAttach()
        }
        return rec.beat === undefined ? Effect.void : startTicker(rec)
      })

    const attachSelf = (name: string, options?: AttachOptions) =>
      Effect.gen(function*() {
        yield* guard
        const valid = yield* validateEntityName(name)
        const { heartbeat, policy } = yield* validateAttachOptions(options, basePolicy)
        const existing = entities.get(valid)
        if (existing !== undefined && hasRestart(existing)) {
          return yield* Effect.fail(
            invalid("entity", `"${valid}" holds a restart action: a self-attached entity cannot be restarted`)
          )
        }
        const rec = yield* claim(valid, policy)
        rec.kind = "self"
        rec.beat = beatRecFor(rec, heartbeat)
        rec.effect = undefined
        rec.runtime = undefined
        rec.attached = true
        rec.status = "running"
        rec.lastStart = now()
        const generation = ++rec.generation
        entities.set(valid, rec)
        yield* startTicker(rec)
        enqueue(rec, { _tag: "CondAttach", ...common(rec) })
        signalAttach()
        // the caller's scope is its "connection": closing it without a detach is a death
        yield* Effect.addFinalizer((exit) =>
          Effect.suspend(() => {
            if (rec.generation !== generation || rec.status !== "running" || !rec.attached) {
              return Effect.void
            }
            rec.status = "dead"
            rec.generation++
            const abnormal = Exit.isFailure(exit)
            const reason = Exit.isFailure(exit) ? describeCause(exit.cause) : "scope closed without detach"
            if (abnormal) {
              enqueue(rec, { _tag: "CondAbnormalDeath", ...common(rec), abnormal, reason })
            }
            enqueue(rec, { _tag: "CondDeath", ...common(rec), abnormal, reason })
            return stopTicker(rec)
          })
        )
        return handleOf(rec)
      })

    const entity = (name: string) =>
      Effect.gen(function*() {
        yield* guard
        const valid = yield* validateEntityName(name)
        if (valid === entity_.globalName) {
          return entity_.global
        }
        const existing = entities.get(valid)
        if (existing !== undefined) {
          return handleOf(existing)
        }
        const rec = makeRec(valid, false, now(), basePolicy)
        entities.set(valid, rec)
        touch(rec)
        return handleOf(rec)
      })

    const entityHandle = (name: string) =>
      Effect.zipRight(
        guard,
        Effect.map(
          findEntity(name === entity_.globalName ? entity_.global : name),
          (rec) =>
            rec.isGlobal ? entity_.global : handleOf(rec)
        )
      )

    const detach = (ref: entity_.EntityRef) =>
      Effect.gen(function*() {
        yield* guard
        const rec = yield* findRealEntity(ref, "detach")
        entities.delete(rec.name)
        forget(rec)
        rec.attached = false
        rec.status = "dead"
        yield* quiesce(rec)
        enqueue(rec, { _tag: "CondDetach", ...common(rec) })
      })

    const addCondition = (
      ref: entity_.EntityRef,
      type: cond.ConditionType,
      options: ConditionOptions | undefined,
      filters: { readonly stateFilter?: cond.StateFilter; readonly raiseFilter?: cond.RaiseFilter }
    ) =>
      Effect.gen(function*() {
        yield* guard
        yield* validateConditionOptions(options)
        const rec = yield* findEntity(ref)
        // a condition read from the store is taken up by the first declaration of its name
        const taken = (n: string) => rec.conditions.some((c) => c.name === n && !c.restored)
        const name = options?.name === undefined
          ? uniqueName(conditionDefaultName(type), taken)
          : yield* validateConditionName(options.name)
        if (taken(name)) return yield* Effect.fail(new DuplicateName({ kind: "condition", name }))
        const restored = rec.conditions.find((c) => c.name === name)
        // what the code declares wins; the actions and count of a restored condition stay when it
        // is declared again alike (same type and filters)
        const alike = restored !== undefined && restored.type === type &&
          sameJson(restored.stateFilter, filters.stateFilter) && sameJson(restored.raiseFilter, filters.raiseFilter)
        const condition: ConditionRec = {
          name,
          type,
          enabled: true,
          independent: options?.independent === true,
          noWait: options?.noWait === true,
          oneShot: options?.oneShot === true,
          stateFilter: filters.stateFilter,
          raiseFilter: filters.raiseFilter,
          actions: alike ? restored.actions : [],
          fired: alike ? restored.fired : 0,
          restored: false
        }
        rec.conditions = restored === undefined
          ? [...rec.conditions, condition]
          : rec.conditions.map((c) => c === restored ? condition : c)
        touch(rec)
        return conditionHandleOf(rec, condition)
      })

    const condition = (ref: entity_.EntityRef, type: cond.ConditionType, options?: ConditionOptions) =>
      Effect.flatMap(validateConditionType(type), (t) => addCondition(ref, t, options, {}))

    const conditionState = (
      ref: entity_.EntityRef,
      filter: { readonly from?: cond.StateMatch | undefined; readonly to?: cond.StateMatch | undefined },
      options?: ConditionOptions
    ) =>
      Effect.flatMap(
        validateStateFilter(filter),
        (stateFilter) => addCondition(ref, "CondState", options, { stateFilter })
      )

    const conditionRaise = (
      ref: entity_.EntityRef,
      filter: {
        readonly type?: number | undefined
        readonly class?: number | undefined
        readonly severity?: number | undefined
      },
      options?: ConditionOptions
    ) =>
      Effect.flatMap(
        validateRaiseFilter(filter),
        (raiseFilter) => addCondition(ref, "CondRaise", options, { raiseFilter })
      )

    const conditionHandle = (ref: entity_.EntityRef, name: string) =>
      Effect.zipRight(
        guard,
        Effect.map(
          findCondition({ _tag: "ConditionHandle", entity: refName(ref), isGlobal: isGlobalRef(ref), name }),
          ([rec, c]) => conditionHandleOf(rec, c)
        )
      )

    const validateAction = (
      rec: EntityRec,
      condition: ConditionRec,
      action: action_.ActionData,
      primary: boolean
    ): Effect.Effect<void, InvalidArgument> =>
      Effect.gen(function*() {
        switch (action._tag) {
          case "Restart": {
            if (!primary) return yield* Effect.fail(invalid("action", "a restart cannot be an alternate"))
            if (rec.isGlobal) return yield* Effect.fail(invalid("action", "the global entity cannot hold a restart"))
            if (condition.type !== "CondDeath" && condition.type !== "CondAbnormalDeath") {
              return yield* Effect.fail(
                invalid("action", `a restart belongs to a death condition, not ${condition.type}`)
              )
            }
            if (rec.kind === "self") {
              return yield* Effect.fail(invalid("action", `"${rec.name}" is self-attached: it cannot be restarted`))
            }
            if (hasRestart(rec)) {
              return yield* Effect.fail(invalid("action", `entity "${rec.name}" already has a restart action`))
            }
            break
          }
          case "WaitFor": {
            if (condition.noWait) {
              return yield* Effect.fail(invalid("action", "a noWait condition cannot hold a waitfor"))
            }
            break
          }
        }
        yield* validateActionData(action, primary)
        for (const alternate of action.alternates) yield* validateAction(rec, condition, alternate, false)
      })

    const addAction = (handle: ConditionHandle, action: action_.Action) =>
      Effect.gen(function*() {
        yield* guard
        const [rec, condition] = yield* findCondition(handle)
        if (!action_.isAction(action)) return yield* Effect.fail(invalid("action", "not an Action"))
        yield* validateAction(rec, condition, action, true)
        // an action read from the store is taken up by the first declaration of its name: the
        // declared action replaces it, its statistics stay
        const taken = (n: string) => condition.actions.some((a) => a.name === n && !a.restored)
        const name = action.name === undefined
          ? uniqueName(action_.defaultName(action), taken)
          : yield* validateActionName(action.name)
        if (taken(name)) return yield* Effect.fail(new DuplicateName({ kind: "action", name }))
        const restored = condition.actions.find((a) => a.name === name)
        if (restored !== undefined) {
          restored.action = action
          restored.restored = false
        } else {
          condition.actions = [...condition.actions, {
            name,
            action,
            enabled: true,
            runs: 0,
            failures: 0,
            lastFailure: undefined,
            restored: false
          }]
        }
        touch(rec)
        const result: ActionHandle = {
          _tag: "ActionHandle",
          entity: rec.name,
          isGlobal: rec.isGlobal,
          condition: condition.name,
          name
        }
        return result
      })

    const actionHandle = (handle: ConditionHandle, name: string) =>
      Effect.zipRight(
        guard,
        Effect.map(
          findAction({
            _tag: "ActionHandle",
            entity: handle.entity,
            isGlobal: handle.isGlobal,
            condition: handle.name,
            name
          }),
          ([rec, c, a]): ActionHandle => ({
            _tag: "ActionHandle",
            entity: rec.name,
            isGlobal: rec.isGlobal,
            condition: c.name,
            name: a.name
          })
        )
      )

    const isCount = (n: unknown): n is number => typeof n === "number" && Number.isInteger(n) && n >= 0

    /** the entity for a publish: hot path, checked without Schema (which only words the error) */
    const publisher = (
      ref: entity_.EntityRef,
      what: string
    ): EntityRec | Effect.Effect<never, PublishError> => {
      if (stopped) return Effect.fail(new HamStopped())
      if (isGlobalRef(ref)) return Effect.fail(invalid("entity", `${what} needs a real entity, not the global one`))
      const rec = entities.get(refName(ref))
      return rec === undefined ? Effect.fail(new EntityNotFound({ entity: refName(ref) })) : rec
    }

    const publishState = (
      ref: entity_.EntityRef,
      state: number
    ): Effect.Effect<void, PublishError> =>
      Effect.suspend(() => {
        if (!isCount(state)) return Effect.asVoid(validateState(state))
        const rec = publisher(ref, "publishState")
        if (Effect.isEffect(rec)) return rec
        const from = rec.state
        rec.state = state
        enqueue(rec, { _tag: "CondState", ...common(rec), from, to: state })
        return Effect.void
      })

    const raise = (
      ref: entity_.EntityRef,
      input: RaiseInput
    ): Effect.Effect<void, PublishError> =>
      Effect.suspend(() => {
        if (
          !Predicate.isRecord(input) || !isCount(input.type) || !isCount(input.class) || !isCount(input.severity) ||
          (input.detail !== undefined && typeof input.detail !== "string")
        ) return Effect.asVoid(validateRaise(input))
        const rec = publisher(ref, "raise")
        if (Effect.isEffect(rec)) return rec
        enqueue(rec, {
          _tag: "CondRaise",
          ...common(rec),
          type: input.type,
          class: input.class,
          severity: input.severity,
          detail: input.detail ?? ""
        })
        return Effect.void
      })

    const filterFor = (ref: entity_.EntityRef | undefined) => {
      if (ref === undefined || isGlobalRef(ref)) return undefined
      const name = refName(ref)
      return (event: cond.ConditionEvent) => event.entity === name
    }

    const subscribe = PubSub.subscribe(pubsub)

    const events = (ref?: entity_.EntityRef): Stream.Stream<cond.ConditionEvent> => {
      const keep = filterFor(ref)
      const all = Stream.fromPubSub(pubsub)
      return keep === undefined ? all : Stream.filter(all, keep)
    }

    const conditionFlags = (c: ConditionRec) => ({
      independent: c.independent,
      noWait: c.noWait,
      oneShot: c.oneShot
    })

    const actionFlags = (a: ActionRec) => ({
      breakOnFail: a.action.breakOnFail,
      removeOnFail: a.action.removeOnFail,
      oneShot: a.action.oneShot
    })

    const setEnabled = (op: ControlOp) => op === "enable" ? true : op === "disable" ? false : undefined

    const control = (handle: Handle, op: ControlOp, options?: ControlOptions) =>
      Effect.gen(function*() {
        yield* guard
        yield* validateControl(op, options)
        const enabled = setEnabled(op)
        const recurse = options?.recurse === true
        const setFlags = typeof op === "object" ? op.setFlags : undefined
        switch (handle._tag) {
          case "EntityHandle": {
            const rec = yield* findEntity(handle)
            if (setFlags !== undefined) return yield* Effect.fail(invalid("control", "an entity has no flags to set"))
            if (enabled !== undefined) {
              rec.enabled = enabled
              if (recurse) {
                for (const c of rec.conditions) {
                  c.enabled = enabled
                  for (const a of c.actions) a.enabled = enabled
                }
              }
            }
            return { enabled: rec.enabled, flags: {} }
          }
          case "ConditionHandle": {
            const [, c] = yield* findCondition(handle)
            if (setFlags !== undefined) {
              const next = { ...conditionFlags(c) }
              for (const [key, value] of Object.entries(setFlags)) {
                if (!(key in next)) return yield* Effect.fail(invalid("control", `a condition has no flag "${key}"`))
                next[key as keyof typeof next] = value
              }
              if (next.noWait && c.actions.some((a) => action_.waits(a.action))) {
                return yield* Effect.fail(invalid("control", "noWait cannot be set on a condition holding a waitfor"))
              }
              c.independent = next.independent
              c.noWait = next.noWait
              c.oneShot = next.oneShot
            }
            if (enabled !== undefined) {
              c.enabled = enabled
              if (recurse) { for (const a of c.actions) a.enabled = enabled }
            }
            return { enabled: c.enabled, flags: conditionFlags(c) }
          }
          case "ActionHandle": {
            const [, , a] = yield* findAction(handle)
            if (setFlags !== undefined) {
              const next = { ...actionFlags(a) }
              for (const [key, value] of Object.entries(setFlags)) {
                if (!(key in next)) return yield* Effect.fail(invalid("control", `an action has no flag "${key}"`))
                next[key as keyof typeof next] = value
              }
              a.action = action_.withOptions(a.action, next)
            }
            if (enabled !== undefined) a.enabled = enabled
            return { enabled: a.enabled, flags: actionFlags(a) }
          }
        }
      })

    const remove = (handle: Handle) =>
      Effect.gen(function*() {
        yield* guard
        switch (handle._tag) {
          case "EntityHandle":
            return yield* detach(handle)
          case "ConditionHandle": {
            const [rec, c] = yield* findCondition(handle)
            rec.conditions = rec.conditions.filter((x) => x !== c)
            return
          }
          case "ActionHandle": {
            const [, c, a] = yield* findAction(handle)
            c.actions = c.actions.filter((x) => x !== a)
            return
          }
        }
      })

    // -------------------------------------------------------------------------------------------
    // the tree
    // -------------------------------------------------------------------------------------------

    const filterText = (c: ConditionRec): string | undefined => {
      const state = (m: cond.StateMatch) =>
        typeof m === "number" ? (m === cond.StateAny ? "any" : String(m)) : "in" in m
          ? `{${m.in.join(",")}}`
          : `not {${m.notIn.join(",")}}`
      if (c.stateFilter !== undefined) return `${state(c.stateFilter.from)} -> ${state(c.stateFilter.to)}`
      if (c.raiseFilter !== undefined) {
        const f = (n: number) => (n === cond.RaiseAny ? "any" : String(n))
        return `type ${f(c.raiseFilter.type)} class ${f(c.raiseFilter.class)} severity ${f(c.raiseFilter.severity)}`
      }
      return undefined
    }

    const alternateNodes = (action: action_.ActionData): Array<tree_.AlternateNode> =>
      action.alternates.map((alt) => ({
        type: alt._tag,
        summary: action_.summary(alt),
        alternates: alternateNodes(alt)
      }))

    const conditionNodes = (rec: EntityRec): Array<tree_.ConditionNode> =>
      rec.conditions.map((c) => {
        const path = `${rec.name}/${c.name}`
        const filter = filterText(c)
        return {
          name: c.name,
          path,
          type: c.type,
          enabled: c.enabled,
          independent: c.independent,
          noWait: c.noWait,
          oneShot: c.oneShot,
          ...(filter === undefined ? {} : { filter }),
          fired: c.fired,
          actions: c.actions.map((a) => ({
            name: a.name,
            path: `${path}/${a.name}`,
            type: a.action._tag,
            summary: action_.summary(a.action),
            enabled: a.enabled,
            breakOnFail: a.action.breakOnFail,
            removeOnFail: a.action.removeOnFail,
            oneShot: a.action.oneShot,
            runs: a.runs,
            failures: a.failures,
            ...(a.lastFailure === undefined ? {} : { lastFailure: a.lastFailure.reason }),
            alternates: alternateNodes(a.action)
          }))
        }
      })

    const snapshot = Effect.sync((): tree_.Tree => {
      let numConditions = globalRec.conditions.length
      let numActions = 0
      for (const c of globalRec.conditions) numActions += c.actions.length
      const nodes: Array<tree_.EntityNode> = []
      for (const rec of entities.values()) {
        numConditions += rec.conditions.length
        for (const c of rec.conditions) numActions += c.actions.length
        nodes.push({
          name: rec.name,
          path: rec.name,
          kind: rec.kind,
          status: rec.status,
          enabled: rec.enabled,
          ...(rec.proc?.life !== undefined
            ? { pid: rec.proc.life.pid }
            : rec.proc?.external !== undefined
            ? { pid: rec.proc.external.pid }
            : {}),
          state: rec.state,
          ...(rec.beat === undefined ? {} : {
            heartbeat: {
              ...rec.beat.config,
              missed: rec.beat.state.missed,
              unhealthy: heartbeat_.isUnhealthy(rec.beat.state)
            }
          }),
          stats: {
            created: rec.created,
            deaths: rec.history.deaths,
            abnormalDeaths: rec.history.abnormalDeaths,
            restarts: rec.history.restarts,
            heartbeats: rec.beat?.count ?? 0,
            missedLow: rec.history.missedLow,
            missedHigh: rec.history.missedHigh,
            ...(rec.lastEvent === undefined ? {} : { lastEvent: rec.lastEvent }),
            ...(rec.history.lastDeath === undefined ? {} : { lastDeath: rec.history.lastDeath })
          },
          conditions: conditionNodes(rec)
        })
      }
      return {
        time: now(),
        verbosity,
        numEntities: nodes.length,
        numConditions,
        numActions,
        hamFailures,
        guardianFailures: guardianFailures + (store?.guardian?.failures() ?? 0),
        ...(store === undefined ? {} : { store: store.path, role: store.mode.role }),
        ...(store?.guardian?.pid() === undefined ? {} : { guardianPid: store.guardian.pid() }),
        ...(spawner?.pid() === undefined ? {} : { spawnerPid: spawner.pid() }),
        global: { conditions: conditionNodes(globalRec) },
        entities: nodes
      }
    })

    const verbose = (level: number) =>
      Effect.gen(function*() {
        yield* guard
        const valid = yield* validateVerbosity(level)
        const previous = verbosity
        verbosity = valid
        return previous
      })

    let stopping: Fiber.RuntimeFiber<void> | undefined
    const shutdown = Effect.suspend(() => {
      const all = [...entities.values()]
      for (const rec of all) {
        rec.attached = false
        if (rec.status !== "placeholder") rec.status = "stopped"
      }
      return Effect.forEach(all.reverse(), quiesce, { discard: true, concurrency: "unbounded" }).pipe(
        Effect.zipRight(FiberSet.clear(fibers)),
        Effect.zipRight(Effect.suspend(() => Fiber.interruptAll([guardian, dispatcher, sideDispatcher]))),
        Effect.zipRight(Queue.shutdown(sideQueue)),
        Effect.zipRight(PubSub.shutdown(pubsub)),
        // the last statistics (beats counted, final states) go to the store
        Effect.zipRight(Effect.suspend(() => {
          for (const rec of all) touch(rec)
          touch(globalRec)
          return flushOnce
        }))
      )
    })
    // `Ham.stop` may be called by an entity's own fiber or by an action on the dispatcher, both of
    // which the shutdown interrupts: so the shutdown runs in a fiber of its own (a deliberate
    // daemon, awaited here) and completes even when its caller is interrupted by it.
    const stop = Effect.suspend(() => {
      if (stopping === undefined) {
        stopped = true
        stopping = Effect.runFork(shutdown)
      }
      return Effect.asVoid(Fiber.await(stopping))
    })

    yield* Effect.addFinalizer(() => stop)

    if (store !== undefined) {
      yield* Effect.forkScoped(flusher)
      yield* restore(store.entities)
      // in process mode the host stands as an entity of its own, so that a guardian that takes
      // over runs its death conditions (a restart of the host with its command line, say)
      if (store.mode.process && store.mode.role === "host") {
        yield* Effect.orDie(
          attach(entity_.pid(store.mode.hostName, process.pid, { pollInterval: "1 minute", stopSignal: "SIGTERM" }))
        )
      }
    }

    /** marks the entity a handle names as changed */
    const touchHandle = (handle: Handle) =>
      Effect.sync(() => {
        const name = handle._tag === "EntityHandle" ? handle.name : handle.entity
        const rec = handle.isGlobal ? globalRec : entities.get(name)
        if (rec !== undefined) touch(rec)
      })

    const service: HamService = {
      attach: (spec, options) => durable(attach(spec, options)),
      attachSelf: (name, options) => durable(attachSelf(name, options)),
      entity: (name) => durable(entity(name)),
      entityHandle,
      detach: (ref) => durable(detach(ref)),
      condition: (ref, type, options) => durable(condition(ref, type, options)),
      conditionState: (ref, filter, options) => durable(conditionState(ref, filter, options)),
      conditionRaise: (ref, filter, options) => durable(conditionRaise(ref, filter, options)),
      conditionHandle,
      addAction: (handle, action) => durable(addAction(handle, action)),
      actionHandle,
      publishState: store === undefined ? publishState : (ref, state) => durable(publishState(ref, state)),
      raise: store === undefined ? raise : (ref, input) => durable(raise(ref, input)),
      subscribe,
      events,
      control: (handle, op, options) =>
        store === undefined
          ? control(handle, op, options)
          : durable(Effect.tap(control(handle, op, options), () => touchHandle(handle))),
      remove: (handle) =>
        store === undefined ? remove(handle) : durable(Effect.zipRight(remove(handle), touchHandle(handle))),
      snapshot,
      verbose,
      verbosity: Effect.sync(() => verbosity),
      stop
    }
    Object.defineProperty(service, FaultKey, { value: injectFault })
    return service
  })

/** @internal */
export const layer = (options?: HamOptions): Layer.Layer<Ham, InvalidArgument> =>
  Layer.scoped(Ham, make(options)).pipe(
    Layer.provide(NodeCommandExecutor.layer),
    Layer.provide(NodeFileSystem.layer)
  )

/** @internal */
export const HamLive: Layer.Layer<Ham> = Layer.orDie(layer())
