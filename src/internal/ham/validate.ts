/**
 * Validation at the boundary: every input of a registry call is checked here before anything
 * changes, and a bad one is an `InvalidArgument` naming the field and the rule.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { constants as osConstants } from "node:os"
import { InvalidArgument } from "../../HamError.js"
import * as cond from "../condition.js"
import * as entity_ from "../entity.js"
import type { BeatConfig, Policy } from "./state.js"

/** @internal */
export const invalid = (argument: string, reason: string) => new InvalidArgument({ argument, reason })

/** @internal a parse error as one line */
export const formatParseError = (error: ParseResult.ParseError): string =>
  ParseResult.TreeFormatter.formatErrorSync(error)

/** @internal a decoder of `argument` that fails with `InvalidArgument` */
export const decodeWith = <A, I>(schema: Schema.Schema<A, I>, argument: string) => {
  const decode = Schema.decodeUnknownEither(schema)
  return (input: unknown): Effect.Effect<A, InvalidArgument> => {
    const result = decode(input)
    return result._tag === "Right"
      ? Effect.succeed(result.right)
      : Effect.fail(invalid(argument, formatParseError(result.left)))
  }
}

const validateName = (kind: string) => decodeWith(entity_.Name, `${kind} name`)
/** @internal */
export const validateEntityName = validateName("entity")
/** @internal */
export const validateConditionName = validateName("condition")
/** @internal */
export const validateActionName = validateName("action")
/** @internal */
export const validateState = decodeWith(Schema.NonNegativeInt, "state")
/** @internal */
export const validateRaise = decodeWith(
  Schema.Struct({
    type: Schema.NonNegativeInt,
    class: Schema.NonNegativeInt,
    severity: Schema.NonNegativeInt,
    detail: Schema.optionalWith(Schema.String, { default: () => "" })
  }),
  "raise"
)
/** @internal */
export const validateStateFilter = decodeWith(cond.StateFilter, "state filter")
/** @internal */
export const validateRaiseFilter = decodeWith(cond.RaiseFilter, "raise filter")
/** @internal */
export const validateVerbosity = decodeWith(Schema.NonNegativeInt, "verbosity")
/** @internal */
export const validateConditionType = decodeWith(cond.ConditionTypeSchema, "condition type")

/** @internal a non-negative integer (the hot path's check, without Schema) */
export const isCount = (n: unknown): n is number => typeof n === "number" && Number.isInteger(n) && n >= 0

/** @internal a duration of at least `min` ms, in ms */
export const millisOf = (input: unknown, argument: string, min: number): Effect.Effect<number, InvalidArgument> =>
  Option.match(Duration.decodeUnknown(input), {
    onNone: () => Effect.fail(invalid(argument, `not a duration: ${String(input)}`)),
    onSome: (d) => {
      const ms = Duration.toMillis(d)
      return ms >= min && Number.isFinite(ms)
        ? Effect.succeed(ms)
        : Effect.fail(invalid(argument, `must be a finite duration of at least ${min} ms`))
    }
  })

/** @internal the options of a heartbeat rule */
export interface HeartbeatInput {
  readonly interval: Duration.DurationInput
  readonly missedLow: number
  readonly missedHigh: number
}

/** @internal */
export const validateHeartbeat = (
  options: HeartbeatInput | undefined
): Effect.Effect<BeatConfig | undefined, InvalidArgument> => {
  if (options === undefined) return Effect.succeed(undefined)
  return Effect.gen(function*() {
    const intervalMillis = yield* millisOf(options.interval, "heartbeat interval", 1)
    const counts = yield* decodeWith(
      Schema.Struct({ missedLow: Schema.NonNegativeInt, missedHigh: Schema.NonNegativeInt }),
      "heartbeat"
    )(options)
    if (counts.missedLow > 0 && counts.missedHigh > 0 && counts.missedLow > counts.missedHigh) {
      return yield* Effect.fail(invalid("heartbeat", "missedLow must not exceed missedHigh"))
    }
    return { intervalMillis, missedLow: counts.missedLow, missedHigh: counts.missedHigh }
  })
}

/** @internal the restart options of the layer and of an attach */
export interface PolicyInput {
  readonly restartIntensity?: {
    readonly maxRestarts?: number | undefined
    readonly within?: Duration.DurationInput | undefined
  } | undefined
  readonly backoff?: import("effect/Schedule").Schedule<unknown> | false | undefined
  readonly backoffResetAfter?: Duration.DurationInput | undefined
}

/** @internal the policy the options give, on top of `base` */
export const validatePolicy = (
  options: PolicyInput | undefined,
  base: Policy
): Effect.Effect<Policy, InvalidArgument> =>
  Effect.gen(function*() {
    if (options === undefined) return base
    let intensity = base.intensity
    if (options.restartIntensity !== undefined) {
      const max = options.restartIntensity.maxRestarts ?? intensity.maxRestarts
      if (!(max === Infinity || (Number.isInteger(max) && max >= 0))) {
        return yield* Effect.fail(invalid("restartIntensity.maxRestarts", "must be a non-negative integer or Infinity"))
      }
      const within = options.restartIntensity.within === undefined
        ? intensity.withinMillis
        : yield* millisOf(options.restartIntensity.within, "restartIntensity.within", 1)
      intensity = { maxRestarts: max, withinMillis: within }
    }
    const backoff = options.backoff === undefined
      ? base.backoff
      : options.backoff === false
      ? undefined
      : options.backoff
    const backoffResetMillis = options.backoffResetAfter === undefined
      ? base.backoffResetMillis
      : yield* millisOf(options.backoffResetAfter, "backoffResetAfter", 0)
    return { intensity, backoff, backoffResetMillis }
  })

/** @internal the signal names this platform knows */
export const validSignals: ReadonlySet<string> = new Set(Object.keys(osConstants.signals))
