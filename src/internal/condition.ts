import { pipeArguments } from "effect/Pipeable"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import type * as Api from "../Condition.js"
import type * as Service from "../HamService.js"

/** @internal */
export const conditionTypes = [
  "CondAny",
  "CondDeath",
  "CondDetach",
  "CondRestart",
  "CondBeatMissedLow",
  "CondBeatMissedHigh",
  "CondAbnormalDeath",
  "CondAttach",
  "CondState",
  "CondRaise"
] as const satisfies ReadonlyArray<Api.ConditionType>

/** @internal */
export type ConditionType = Api.ConditionType

/** @internal (typed: the list holds every condition type) */
export const ConditionTypeSchema: Schema.Schema<ConditionType> = Schema.Literal(...conditionTypes)

/** @internal the QNX type code of each condition (`CONDDEATH` = 1, ...) */
export const code = (type: ConditionType): number => conditionTypes.indexOf(type)

const common = {
  entity: Schema.String,
  time: Schema.Number,
  seq: Schema.Number
}

const death = {
  ...common,
  abnormal: Schema.Boolean,
  reason: Schema.String,
  pid: Schema.optional(Schema.Number),
  exitCode: Schema.optional(Schema.Number),
  signal: Schema.optional(Schema.String),
  stderr: Schema.optional(Schema.Array(Schema.String)),
  /** present when how the process ended cannot be known (it was not the HAM's child, and is gone) */
  exitStatus: Schema.optional(Schema.Literal("unknown"))
}

/** @internal */
export const DeathEvent = Schema.TaggedStruct("CondDeath", death)
/** @internal */
export const AbnormalDeathEvent = Schema.TaggedStruct("CondAbnormalDeath", death)
/** @internal */
export const DetachEvent = Schema.TaggedStruct("CondDetach", common)
/** @internal */
export const AttachEvent = Schema.TaggedStruct("CondAttach", { ...common, pid: Schema.optional(Schema.Number) })
/** @internal */
export const RestartEvent = Schema.TaggedStruct("CondRestart", {
  ...common,
  restarts: Schema.Number,
  pid: Schema.optional(Schema.Number)
})
/** @internal */
export const BeatMissedLowEvent = Schema.TaggedStruct("CondBeatMissedLow", { ...common, missed: Schema.Number })
/** @internal */
export const BeatMissedHighEvent = Schema.TaggedStruct("CondBeatMissedHigh", { ...common, missed: Schema.Number })
/** @internal */
export const StateEvent = Schema.TaggedStruct("CondState", {
  ...common,
  from: Schema.Number,
  to: Schema.Number
})
/** @internal */
export const RaiseEvent = Schema.TaggedStruct("CondRaise", {
  ...common,
  type: Schema.Number,
  class: Schema.Number,
  severity: Schema.Number,
  detail: Schema.String
})

/** @internal */
export const ConditionEvent = Schema.Union(
  DeathEvent,
  AbnormalDeathEvent,
  DetachEvent,
  AttachEvent,
  RestartEvent,
  BeatMissedLowEvent,
  BeatMissedHighEvent,
  StateEvent,
  RaiseEvent
)

/** @internal */
export type ConditionEvent = Api.ConditionEvent

/** @internal */
export type DeathEvent = Api.DeathEvent

/** @internal */
export type RaiseEvent = Api.RaiseEvent

/** @internal */
export type StateEvent = Api.StateEvent

// ---------------------------------------------------------------------------------------------
// filters
// ---------------------------------------------------------------------------------------------

/** @internal */
export const StateAny = 0

/** @internal */
export const RaiseAny = 0

/**
 * @internal a state or a raise field: a non-negative safe integer (one rule, one message; above
 * 2 ** 53 - 1 two numbers can compare equal, so a filter could match a state that was not set)
 */
export const Count = Schema.NonNegativeInt.pipe(Schema.lessThanOrEqualTo(Number.MAX_SAFE_INTEGER)).annotations({
  message: (issue) => ({
    message: Number.isInteger(issue.actual) && (issue.actual as number) > 0
      ? "must be a non-negative integer of at most 2 ** 53 - 1"
      : "must be a non-negative integer",
    override: true
  })
})

/** @internal */
export const StateMatch: Schema.Schema<Api.StateMatch> = Schema.Union(
  Count,
  Schema.Struct({ in: Schema.Array(Count) }),
  Schema.Struct({ notIn: Schema.Array(Count) })
)

/** @internal */
export type StateMatch = Api.StateMatch

/** @internal */
export const StateFilter = Schema.Struct({
  from: Schema.optionalWith(StateMatch, { default: () => StateAny }),
  to: Schema.optionalWith(StateMatch, { default: () => StateAny })
})

/** @internal */
export type StateFilter = typeof StateFilter.Type

/** @internal */
export const RaiseFilter = Schema.Struct({
  type: Schema.optionalWith(Count, { default: () => RaiseAny }),
  class: Schema.optionalWith(Count, { default: () => RaiseAny }),
  severity: Schema.optionalWith(Count, { default: () => RaiseAny })
})

/** @internal */
export type RaiseFilter = typeof RaiseFilter.Type

/** @internal what `Ham.raise` publishes: the event's fields besides the entity, time and sequence */
export const RaiseInput = Schema.Struct({
  type: Schema.NonNegativeInt,
  class: Schema.NonNegativeInt,
  severity: Schema.NonNegativeInt,
  detail: Schema.optional(Schema.String)
})

/** @internal */
export const matchState = (match: StateMatch, state: number): boolean => {
  if (typeof match === "number") return match === StateAny || match === state
  if ("in" in match) return match.in.includes(state)
  return !match.notIn.includes(state)
}

/** @internal */
export const matchStateFilter = (filter: StateFilter, event: StateEvent): boolean =>
  matchState(filter.from, event.from) && matchState(filter.to, event.to)

const matchField = (want: number, got: number): boolean => want === RaiseAny || want === got

/** @internal */
export const matchRaiseFilter = (filter: RaiseFilter, event: RaiseEvent): boolean =>
  matchField(filter.type, event.type) && matchField(filter.class, event.class) &&
  matchField(filter.severity, event.severity)

// ---------------------------------------------------------------------------------------------
// the raise the HAM itself publishes when it gives up restarting an entity
// ---------------------------------------------------------------------------------------------

/** @internal */
export const RaiseTypeHam = 0x4841_4d00

/** @internal */
export const RaiseClassRestartGaveUp = 1

/** @internal */
export const RaiseSeverityCritical = 7

/** @internal a process over its memory limit (watch/limits.ts) */
export const RaiseClassMemoryLimit = 2

/** @internal a process over its CPU limit (watch/limits.ts) */
export const RaiseClassCpuLimit = 3

const ConditionHandleTypeId = Symbol.for("effect-ham/ConditionHandle")

const ConditionHandleProto = {
  [ConditionHandleTypeId]: ConditionHandleTypeId,
  pipe() {
    return pipeArguments(this, arguments)
  }
}

/** @internal a condition handle (pipeable) with these fields; a handle already is one */
export const conditionHandle = (fields: Service.ConditionHandleFields): Service.ConditionHandle => {
  if (Predicate.hasProperty(fields, ConditionHandleTypeId)) return fields as unknown as Service.ConditionHandle
  const self = Object.create(ConditionHandleProto)
  self._tag = "ConditionHandle"
  self.entity = fields.entity
  self.isGlobal = fields.isGlobal
  self.name = fields.name
  return self
}
