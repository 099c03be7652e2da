/**
 * The engine: what the HAM's parts share. `make.ts` builds one and wires the parts into it; each
 * part (dispatch, interpret, restart, beats, registry, the entity drivers) is a function of the
 * engine, and reaches the others only through it.
 *
 * @internal
 */
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as FiberRefs from "effect/FiberRefs"
import * as FiberSet from "effect/FiberSet"
import * as Runtime from "effect/Runtime"
import type * as Tracer from "effect/Tracer"
import type { DuplicateName, InvalidArgument } from "../../HamError.js"
import type { HamService } from "../../HamService.js"
import type * as cond from "../condition.js"
import type * as launch from "../launch/launcher.js"
import type { NodeAddress } from "../node.js"
import type { EntityDoc } from "./doc.js"
import type { Changes } from "./persist.js"
import type { ActionRec, BeatConfig, ConditionRec, EntityRec, HamState, Life, LifeRecord, Policy } from "./state.js"

/** @internal how a life ended: what `reportDeath` publishes */
export interface DeathRecord {
  readonly abnormal: boolean
  readonly reason: string
  readonly pid?: number | undefined
  readonly exitCode?: number | undefined
  readonly signal?: string | undefined
  readonly stderr?: ReadonlyArray<string> | undefined
  /** "unknown": the process is gone and how it ended cannot be known (`lives/pid.ts`) */
  readonly exitStatus?: "unknown" | undefined
}

/**
 * An entity driver: how the lives of one kind of entity start, stop, take signals and end. A
 * driver reports the end of a life with `engine.reportDeath`, and nothing else does.
 *
 * @internal
 */
export interface Driver {
  /** false for a kind the HAM cannot restart (self-attached): a restart action is refused */
  readonly restartable: boolean
  /**
   * True for lives inside this process (fibers, the caller): a HAM that lost its store to another
   * stops them; the others (processes) belong to the HAM that holds the store now.
   */
  readonly inProcess: boolean
  /**
   * An entity of this kind back from the store (`restore.ts` made it a placeholder with its
   * record's conditions and statistics): what now (started again, adopted, or its death).
   */
  readonly restore: (rec: EntityRec, doc: EntityDoc) => Effect.Effect<void>
  /**
   * Starts the entity's next life after a death (a restart): on success the entity runs, its
   * `CondRestart` is announced (`engine.announceRestart`) and its heartbeat clock started.
   * `current` tells whether the entity is still the one the restart was decided for. `next`: the
   * next life, which the launcher already started as it was authorised to (`arm`).
   */
  readonly restart: (
    rec: EntityRec,
    current: () => boolean,
    next?: launch.NextLife | undefined
  ) => Effect.Effect<void, string>
  /**
   * For drivers whose restart needs no wait (fibers): what `restart` does, done now, on this
   * thread (a restart decided at death then costs no fiber of its own).
   */
  readonly restartNow?: ((rec: EntityRec) => void) | undefined
  /**
   * Authorises the launcher of the life to start the next one by itself when it ends, or
   * withdraws that (`undefined`): for drivers whose lives a launcher starts.
   */
  readonly arm?: ((life: Life, authorisation: launch.Authorisation | undefined) => void) | undefined
  /**
   * Ends a life because the HAM was asked to (a detach, a stop): this is not a death. The life is
   * no longer the entity's (`rec.life` was cleared and its generation bumped) when this runs.
   */
  readonly stop: (rec: EntityRec, life: Life) => Effect.Effect<void>
  /** the entity is done with (detached, or the HAM stops): what it keeps across lives goes */
  readonly release: (rec: EntityRec) => Effect.Effect<void>
  /** sends a signal to the current life; with `awaitExitMillis`, fails unless it ends that soon */
  readonly signal: (rec: EntityRec, signal: string, awaitExitMillis: number | undefined) => Effect.Effect<void, string>
  /** the process of a life, if it has one */
  readonly pidOf: (life: Life) => number | undefined
  /** what a stored record keeps of a life: its process, and its start time when it outlives the HAM */
  readonly recordOf: (life: Life) => LifeRecord | undefined
  /** the life said it is ready (`READY=1` on its notify socket) */
  readonly isReady: (life: Life) => boolean
}

/**
 * What a driver's attach is given by the registry: the name, checked; the entity's heartbeat rule
 * and restart policy, checked; and the registry's claims on the name.
 *
 * @internal
 */
export interface AttachContext {
  readonly name: string
  readonly beat: BeatConfig | undefined
  readonly policy: Policy
  /** the entity a new attach may take (a placeholder, a dead entity with its history), if any */
  readonly claimable: Effect.Effect<EntityRec | undefined, DuplicateName | InvalidArgument>
  /** the record the attach fills in (the claimable one, or a new one), registered in attach order */
  readonly take: (existing: EntityRec | undefined) => EntityRec
  /**
   * A process or pid entity restored from the store and up again (adopted, or started again) is
   * taken up by the application's first attach of its name, which it returns: it is not started
   * twice, and the attach's options apply from then on.
   */
  readonly adoptRestored: (kind: "process" | "pid") => EntityRec | undefined
}

/**
 * The calls of node-qualified actions (`remote/nodes.ts`): `f` given the `Ham` of `node` (this
 * HAM's own when `node` is absent), within `timeoutMillis` (connecting included). Every way it
 * can go wrong (unreachable, refused, the call's own error, no answer in time) is a failure.
 *
 * @internal
 */
export interface Nodes {
  readonly call: <A, E>(
    node: NodeAddress | undefined,
    timeoutMillis: number | undefined,
    f: (ham: HamService) => Effect.Effect<A, E>
  ) => Effect.Effect<A, E | string>
}

/** @internal the heartbeat clocks (beats.ts) */
export interface Beats {
  /** the entity's life started: its periods are counted from now */
  readonly start: (rec: EntityRec) => void
  /** the entity's life ended: it leaves its clock */
  readonly leave: (rec: EntityRec) => void
}

/** @internal */
export interface Engine {
  readonly state: HamState
  readonly now: () => number
  /** the HAM's clock in fractional milliseconds (durations in the metrics) */
  readonly preciseNow: () => number
  /** the HAM's clock in nanoseconds (span times) */
  readonly nanos: () => bigint
  /** the tracer of the recoveries' spans: one the application installed, with tracing on (telemetry.ts) */
  readonly tracer: Tracer.Tracer | undefined
  /** the HAM's runtime: its fibers are forked from it */
  readonly runtime: Runtime.Runtime<never>
  /** the owner of the HAM's own fibers (clocks, watchers, independent conditions, releases) */
  readonly fibers: FiberSet.FiberSet<unknown, unknown>
  readonly launcher: launch.ProcessLauncherService
  readonly executor: CommandExecutor.CommandExecutor
  /** the private (0700) directory of the notify sockets of process entities */
  readonly notifyDirectory: string
  /** the changes to be committed to the store */
  readonly changes: Changes
  /** this HAM and the others its node-qualified actions call */
  readonly nodes: Nodes
  readonly basePolicy: Policy
  /** told of every event, after its subscribers: in-process capabilities (groups, through `local.ts`) */
  readonly observers: Set<(event: cond.ConditionEvent) => void>
  /** the store can be taken from this HAM (it holds a lease): every act asks it first (`mayAct`) */
  readonly leased: boolean

  // ---- bound by make.ts
  /** publishes an event: the one path every detector takes (dispatch.ts) */
  enqueue: (rec: EntityRec, event: cond.ConditionEvent) => void
  /**
   * A life ended: the one death reporter (dispatch.ts). `next`: the next life, which the launcher
   * started by itself as it was authorised to; taken up when the death's restart comes first, else
   * discarded.
   */
  reportDeath: (rec: EntityRec, generation: number, death: DeathRecord, next?: launch.NextLife | undefined) => void
  /** a restart brought the entity back: counts it, discards one-shots, publishes `CondRestart` */
  announceRestart: (rec: EntityRec, pid?: number) => void
  /** restarts the entity as its restart action asks (restart.ts) */
  restart: (rec: EntityRec) => Effect.Effect<void, string>
  /**
   * A death was just reported: when the first thing it runs is a plain restart that the intensity
   * and back-off allow now, the restart is decided at once (restart.ts); its outcome, which the
   * restart action takes, or `undefined`
   */
  decideAtDeath: (rec: EntityRec, abnormal: boolean) => EarlyRestart | undefined
  /**
   * The entity's life began, or the rules that say what its death runs changed (its conditions,
   * its actions, their flags; the global entity's change every entity's): its launcher is told
   * again what it may do by itself when the life ends (`Driver.arm`).
   */
  rearm: (rec: EntityRec) => void
  /** an entity started or became ready: the waits for it look again */
  wake: () => void
  /** an action added with `doNow` runs once now, in a fiber of its own (interpret.ts) */
  runAdded: (owner: EntityRec, condition: ConditionRec, action: ActionRec) => void
  /**
   * True while the HAM may act on the world (spawn, signal): it holds its store. Asked before
   * each such act; a HAM that finds its store held by another stops acting at once.
   */
  mayAct: () => boolean
  readonly beats: Beats
  /** the driver of each kind of entity that has lives */
  readonly drivers: {
    readonly fiber: Driver
    readonly process: Driver
    readonly pid: Driver
    readonly self: Driver
  }
}

/**
 * A restart decided when its death was reported (`decideAtDeath`): started at once, its outcome
 * taken by the restart action of the death's condition when the dispatcher runs it.
 *
 * @internal
 */
export interface EarlyRestart {
  /** starts the next life (given the one the launcher already started, if any) */
  readonly run: (next: launch.NextLife | undefined) => void
  /** the restart's outcome, once it is known */
  readonly join: Effect.Effect<void, string>
  /** it is over, and it succeeded */
  readonly succeeded: boolean
}

/** @internal the reason an act of a HAM that lost its store fails with */
export const notActing = "this HAM no longer holds its store: another HAM acts for it"

/** @internal the fields every event has */
export const common = (engine: Engine, rec: EntityRec) => ({
  entity: rec.name,
  time: engine.now(),
  seq: ++engine.state.seq
})

/** @internal the driver that restarts an entity of this kind, if it has lives */
export const driverOf = (engine: Engine, rec: EntityRec): Driver | undefined =>
  rec.kind === "placeholder" ? undefined : engine.drivers[rec.kind]

const driverByLife = { Fiber: "fiber", Process: "process", Pid: "pid", Self: "self" } as const

/** @internal the driver that holds a life */
export const lifeDriverOf = (engine: Engine, life: Life): Driver => engine.drivers[driverByLife[life._tag]]

/** @internal the pid of the entity's process: its life's, or (pid entities) the one it watched */
export const pidOf = (engine: Engine, rec: EntityRec): number | undefined =>
  rec.life === undefined ? rec.external?.pid : lifeDriverOf(engine, rec.life).pidOf(rec.life)

/** @internal what the entity's stored record keeps of its life */
export const recordOf = (engine: Engine, rec: EntityRec): LifeRecord | undefined =>
  rec.life === undefined ? undefined : lifeDriverOf(engine, rec.life).recordOf(rec.life)

/** @internal the entity runs, and its life said it is ready */
export const isReady = (engine: Engine, rec: EntityRec | undefined): boolean =>
  rec !== undefined && rec.status === "running" && rec.life !== undefined &&
  lifeDriverOf(engine, rec.life).isReady(rec.life)

/**
 * Ends the entity's life because the HAM was asked to (a detach, a stop): this is not a death.
 * With `release`, what the entity keeps across lives goes too (a process's notify socket), even
 * when the caller is interrupted meanwhile. A process's stop runs to its end once begun: a caller
 * interrupted while the HAM waits out its grace would leave it running. A life in this process (a
 * fiber) is stopped as interruptibly as the caller is (`restore`: the caller's, when it calls from
 * an uninterruptible region of its own): an entity may stop itself, and a fiber cannot wait for its
 * own end.
 *
 * @internal
 */
export const quiesce = (
  engine: Engine,
  rec: EntityRec,
  release: boolean,
  restore?: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
): Effect.Effect<void> =>
  Effect.uninterruptibleMask((own) =>
    Effect.suspend(() => {
      rec.generation++
      const life = rec.life
      rec.life = undefined
      engine.beats.leave(rec)
      const lifeDriver = life === undefined ? undefined : lifeDriverOf(engine, life)
      // a HAM that lost its store leaves the processes to the HAM that holds it now
      const stopping = lifeDriver === undefined || (engine.state.fenced && !lifeDriver.inProcess)
        ? Effect.void
        : lifeDriver.inProcess
        ? (restore ?? own)(lifeDriver.stop(rec, life!))
        : lifeDriver.stop(rec, life!)
      const driver = driverOf(engine, rec)
      return release && driver !== undefined ? Effect.ensuring(stopping, driver.release(rec)) : stopping
    })
  )

/**
 * Forks `effect` as a fiber of the HAM's fiber set, its owner: the set is cleared when the HAM
 * stops, and closed with the HAM's scope. `runtime` defaults to the HAM's own; `immediate` starts
 * it at once on the current thread, else on the next scheduler turn.
 *
 * @internal
 */
export const forkOwned = <A, E>(
  engine: Engine,
  effect: Effect.Effect<A, E, any>,
  options?: { readonly runtime?: Runtime.Runtime<any> | undefined; readonly immediate?: boolean | undefined }
): Fiber.RuntimeFiber<A, E> => {
  const fiber = Runtime.runFork(
    options?.runtime ?? engine.runtime,
    effect as Effect.Effect<A, E>,
    options?.immediate === true ? undefined : { immediate: false }
  )
  FiberSet.unsafeAdd(engine.fibers, fiber)
  return fiber
}

/**
 * `forkOwned`, the fiber made once the fibers already woken have run, and run again after a yield
 * (`Effect.forever` yields between two runs): two tasks of the runtime's scheduler away, each
 * queued after theirs. Making a fiber takes a tenth of a millisecond or more on a path that has
 * not run for a while, which a death's subscribers would otherwise wait for.
 *
 * @internal
 */
export const forkOwnedLater = (engine: Engine, effect: Effect.Effect<unknown, unknown, any>): void => {
  const refs = engine.runtime.fiberRefs
  const scheduler = FiberRefs.getOrDefault(refs, FiberRef.currentScheduler)
  const priority = FiberRefs.getOrDefault(refs, FiberRef.currentSchedulingPriority)
  scheduler.scheduleTask(() => scheduler.scheduleTask(() => void forkOwned(engine, effect), priority), priority)
}
