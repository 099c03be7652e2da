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
import * as FiberSet from "effect/FiberSet"
import * as Runtime from "effect/Runtime"
import type * as cond from "../condition.js"
import type * as launch from "../launch/launcher.js"
import type { Changes } from "./persist.js"
import type { EntityRec, HamState, Life, Policy } from "./state.js"

/** @internal how a life ended: what `reportDeath` publishes */
export interface DeathRecord {
  readonly abnormal: boolean
  readonly reason: string
  readonly pid?: number | undefined
  readonly exitCode?: number | undefined
  readonly signal?: string | undefined
  readonly stderr?: ReadonlyArray<string> | undefined
}

/**
 * An entity driver: how the lives of one kind of entity start, stop, take signals and end. A
 * driver reports the end of a life with `engine.reportDeath`, and nothing else does.
 *
 * @internal
 */
export interface Driver {
  /**
   * Starts the entity's next life after a death (a restart): on success the entity runs, its
   * `CondRestart` is announced (`engine.announceRestart`) and its heartbeat clock started.
   * `current` tells whether the entity is still the one the restart was decided for.
   */
  readonly restart: (rec: EntityRec, current: () => boolean) => Effect.Effect<void, string>
  /**
   * Ends a life because the HAM was asked to (a detach, a stop): this is not a death. The life is
   * no longer the entity's (`rec.life` was cleared and its generation bumped) when this runs.
   */
  readonly stop: (rec: EntityRec, life: Life) => Effect.Effect<void>
  /** the entity is done with (detached, or the HAM stops): what it keeps across lives goes */
  readonly release: (rec: EntityRec) => Effect.Effect<void>
  /** sends a signal to the current life; with `awaitExitMillis`, fails unless it ends that soon */
  readonly signal: (rec: EntityRec, signal: string, awaitExitMillis: number | undefined) => Effect.Effect<void, string>
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
  readonly basePolicy: Policy

  // ---- bound by make.ts
  /** publishes an event: the one path every detector takes (dispatch.ts) */
  enqueue: (rec: EntityRec, event: cond.ConditionEvent) => void
  /** a life ended: the one death reporter (dispatch.ts) */
  reportDeath: (rec: EntityRec, generation: number, death: DeathRecord) => void
  /** a restart brought the entity back: counts it, discards one-shots, publishes `CondRestart` */
  announceRestart: (rec: EntityRec, pid?: number) => void
  /** restarts the entity as its restart action asks (restart.ts) */
  restart: (rec: EntityRec) => Effect.Effect<void, string>
  /** an entity started or became ready: the waits for it look again */
  wake: () => void
  readonly beats: Beats
  /** the driver of each kind of entity that has lives */
  readonly drivers: {
    readonly fiber: Driver
    readonly process: Driver
    readonly pid: Driver
    readonly self: Driver
  }
}

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

/**
 * Ends the entity's life because the HAM was asked to (a detach, a stop): this is not a death.
 * With `release`, what the entity keeps across lives goes too.
 *
 * @internal
 */
export const quiesce = (engine: Engine, rec: EntityRec, release: boolean): Effect.Effect<void> =>
  Effect.suspend(() => {
    rec.generation++
    const life = rec.life
    rec.life = undefined
    engine.beats.leave(rec)
    const stopping = life === undefined ? Effect.void : lifeDriverOf(engine, life).stop(rec, life)
    const driver = driverOf(engine, rec)
    return release && driver !== undefined ? Effect.zipRight(stopping, driver.release(rec)) : stopping
  })

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
