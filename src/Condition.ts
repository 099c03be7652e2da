/**
 * Conditions: the kinds of event a HAM detects, and the events themselves. A condition is
 * attached to an entity (or to `Entity.global`) with `Ham.condition`, `Ham.conditionState` or
 * `Ham.conditionRaise`; when an event of its type occurs on the entity, it fires and runs its
 * actions. `CondAny` matches every type.
 *
 * When an entity dies abnormally, `CondAbnormalDeath` fires first, then `CondDeath` (the same
 * death fires both, as in QNX). Each event fires the matching conditions of the entity, then
 * those of the global entity, in the order they were added.
 *
 * @since 0.1.0
 * @module
 */
import type * as Schema from "effect/Schema"
import * as internal from "./internal/condition.js"

/**
 * The type of a condition.
 *
 * @since 0.1.0
 * @category models
 */
export type ConditionType =
  | typeof CondAny
  | typeof CondDeath
  | typeof CondDetach
  | typeof CondRestart
  | typeof CondBeatMissedLow
  | typeof CondBeatMissedHigh
  | typeof CondAbnormalDeath
  | typeof CondAttach
  | typeof CondState
  | typeof CondRaise

/**
 * Every condition type, in QNX code order (`CondAny` = 0 … `CondRaise` = 9).
 *
 * @since 0.1.0
 * @category models
 */
export const conditionTypes: ReadonlyArray<ConditionType> = internal.conditionTypes

/**
 * The QNX type code of a condition type (`CONDDEATH` = 1 …).
 *
 * @since 0.1.0
 * @category getters
 */
export const code: (type: ConditionType) => number = internal.code

/**
 * Matches every condition type: one action list can serve many events.
 *
 * @since 0.1.0
 * @category conditions
 */
export const CondAny = "CondAny" as const

/**
 * The entity died, normally or not. The only type (with `CondAbnormalDeath`) that may hold a
 * restart action.
 *
 * @since 0.1.0
 * @category conditions
 */
export const CondDeath = "CondDeath" as const

/**
 * The entity was detached with `Ham.detach`: its last event.
 *
 * @since 0.1.0
 * @category conditions
 */
export const CondDetach = "CondDetach" as const

/**
 * The entity was restarted by a restart action; fires once the new instance is up.
 *
 * @since 0.1.0
 * @category conditions
 */
export const CondRestart = "CondRestart" as const

/**
 * `missedLow` consecutive heartbeat periods went by without a heartbeat.
 *
 * @since 0.1.0
 * @category conditions
 */
export const CondBeatMissedLow = "CondBeatMissedLow" as const

/**
 * `missedHigh` consecutive heartbeat periods went by without a heartbeat.
 *
 * @since 0.1.0
 * @category conditions
 */
export const CondBeatMissedHigh = "CondBeatMissedHigh" as const

/**
 * The entity died abnormally: failure, defect, or an interruption the HAM did not ask for.
 * `CondDeath` fires right after it for the same death.
 *
 * @since 0.1.0
 * @category conditions
 */
export const CondAbnormalDeath = "CondAbnormalDeath" as const

/**
 * An entity of this name joined the HAM (into a placeholder, a dead entity, or new).
 *
 * @since 0.1.0
 * @category conditions
 */
export const CondAttach = "CondAttach" as const

/**
 * The entity published a new state whose transition matches the condition's from/to filter.
 *
 * @since 0.1.0
 * @category conditions
 */
export const CondState = "CondState" as const

/**
 * Someone raised a condition on the entity whose type/class/severity match the filter.
 *
 * @since 0.1.0
 * @category conditions
 */
export const CondRaise = "CondRaise" as const

/**
 * The wildcard state: in a filter it matches any state; it is also every entity's state before
 * it publishes one. Because it is 0, state 0 cannot be matched exactly (as in QNX).
 *
 * @since 0.1.0
 * @category models
 */
export const StateAny: 0 = internal.StateAny

/**
 * The wildcard for each raise field (`type`, `class`, `severity`) in a filter.
 *
 * @since 0.1.0
 * @category models
 */
export const RaiseAny: 0 = internal.RaiseAny

/**
 * The raise `type` of the conditions the HAM raises itself.
 *
 * @since 0.1.0
 * @category models
 */
export const RaiseTypeHam: number = internal.RaiseTypeHam

/**
 * The raise `class` of the condition the HAM raises on an entity when it gives up restarting
 * it (restart intensity exceeded, or the back-off schedule ended). Its `severity` is
 * `RaiseSeverityCritical` and its `detail` says why. Subscribe with
 * `Ham.conditionRaise(entity, { type: RaiseTypeHam, class: RaiseClassRestartGaveUp })` to
 * escalate.
 *
 * @since 0.1.0
 * @category models
 */
export const RaiseClassRestartGaveUp: number = internal.RaiseClassRestartGaveUp

/**
 * The raise `class` of the condition the HAM raises on a process or pid entity whose resident
 * memory stayed over its `limits.memory` for `limits.samples` consecutive samples (`type` is
 * `RaiseTypeHam`, `severity` `RaiseSeverityCritical`, `detail` gives the RSS and the limit).
 * End the process on it, and restart it on its death:
 * `Ham.conditionRaise(entity, { type: RaiseTypeHam, class: RaiseClassMemoryLimit })` piped to
 * `Ham.action(Action.signal("SIGTERM"))`, and `Ham.condition(entity, CondDeath)` to `Ham.restart`.
 *
 * @since 0.1.0
 * @category models
 */
export const RaiseClassMemoryLimit: number = internal.RaiseClassMemoryLimit

/**
 * The raise `class` of the condition the HAM raises on a process or pid entity whose CPU use
 * stayed over its `limits.cpu` (percent of one core) for `limits.samples` consecutive samples.
 *
 * @since 0.1.0
 * @category models
 */
export const RaiseClassCpuLimit: number = internal.RaiseClassCpuLimit

/**
 * The severity of the HAM's give-up raise.
 *
 * @since 0.1.0
 * @category models
 */
export const RaiseSeverityCritical: number = internal.RaiseSeverityCritical

/**
 * One side of a state filter: an exact state, `StateAny`, a set (`{ in: [...] }`) or the
 * complement of a set (`{ notIn: [...] }`): QNX `HCONDSTATEFROMSET` / `HCONDSTATEFROMINV`.
 *
 * @since 0.1.0
 * @category models
 */
export type StateMatch = number | { readonly in: ReadonlyArray<number> } | { readonly notIn: ReadonlyArray<number> }

/**
 * The filter of `Ham.conditionState`: the transitions it fires on (each side absent: any state).
 *
 * @since 0.1.0
 * @category models
 */
export interface StateFilterInput {
  readonly from?: StateMatch | undefined
  readonly to?: StateMatch | undefined
}

/**
 * The filter of `Ham.conditionRaise`: each field exact, or `RaiseAny` / absent for any.
 *
 * @since 0.1.0
 * @category models
 */
export interface RaiseFilterInput {
  readonly type?: number | undefined
  readonly class?: number | undefined
  readonly severity?: number | undefined
}

/**
 * The occurrence of a condition: a Schema tagged union, one member per type (all but
 * `CondAny`). Every event carries the entity name, the time (Clock millis) and a sequence
 * number; deaths carry the reason (and, for processes, pid, exit code or signal and stderr).
 *
 * @since 0.1.0
 * @category models
 */
export const ConditionEvent = internal.ConditionEvent

/**
 * @since 0.1.0
 * @category models
 */
export type ConditionEvent =
  | DeathEvent
  | AbnormalDeathEvent
  | DetachEvent
  | AttachEvent
  | RestartEvent
  | BeatMissedLowEvent
  | BeatMissedHighEvent
  | StateEvent
  | RaiseEvent

/**
 * A death: `abnormal`, the `reason`, and for processes the pid, exit code or signal and the last
 * lines of stderr. `exitStatus: "unknown"` says that how the process ended cannot be known (a pid
 * entity, or a process adopted from an earlier HAM, that was reaped by its parent before the HAM
 * looked): such a death is reported as normal, and only `CondDeath` fires.
 *
 * @since 0.1.0
 * @category models
 */
export interface DeathEvent extends Schema.Schema.Type<typeof internal.DeathEvent> {}

/**
 * An abnormal death (the same death then fires `CondDeath`).
 *
 * @since 0.1.0
 * @category models
 */
export interface AbnormalDeathEvent extends Schema.Schema.Type<typeof internal.AbnormalDeathEvent> {}

/**
 * @since 0.1.0
 * @category models
 */
export interface DetachEvent extends Schema.Schema.Type<typeof internal.DetachEvent> {}

/**
 * @since 0.1.0
 * @category models
 */
export interface AttachEvent extends Schema.Schema.Type<typeof internal.AttachEvent> {}

/**
 * A restart, with the number of restarts so far (and the new pid of a process).
 *
 * @since 0.1.0
 * @category models
 */
export interface RestartEvent extends Schema.Schema.Type<typeof internal.RestartEvent> {}

/**
 * @since 0.1.0
 * @category models
 */
export interface BeatMissedLowEvent extends Schema.Schema.Type<typeof internal.BeatMissedLowEvent> {}

/**
 * @since 0.1.0
 * @category models
 */
export interface BeatMissedHighEvent extends Schema.Schema.Type<typeof internal.BeatMissedHighEvent> {}

/**
 * A published state: `from` and `to`.
 *
 * @since 0.1.0
 * @category models
 */
export interface StateEvent extends Schema.Schema.Type<typeof internal.StateEvent> {}

/**
 * A raise: `type`, `class`, `severity` and `detail`.
 *
 * @since 0.1.0
 * @category models
 */
export interface RaiseEvent extends Schema.Schema.Type<typeof internal.RaiseEvent> {}

/**
 * The schema of a condition type name.
 *
 * @since 0.1.0
 * @category models
 */
export const ConditionTypeSchema: Schema.Schema<ConditionType> = internal.ConditionTypeSchema
