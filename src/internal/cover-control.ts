/**
 * The control of a cover (the reference's `ha_connection_ctrl`): suspend and resume recovery,
 * limit the recoveries and the attempts of one recovery, reset their counts, replace the recovery
 * function. The operations are data, checked with a Schema at the boundary.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Predicate from "effect/Predicate"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Api from "../CoverLayers.js"
import { InvalidArgument } from "../HamError.js"
import { formatParseError } from "./ham/validate.js"
import { show } from "./options.js"

/** @internal the key under which a covered thing holds its control */
export const ControlTypeId: Api.ControlTypeId = Symbol.for("effect-ham/Cover/Control") as Api.ControlTypeId

/** @internal */
export type ControlOp<F> = Api.ControlOp<F>

/** @internal */
export type ControlState = Api.ControlState

/** @internal the control's state, kept by the cover */
export interface ControlCounts {
  suspended: boolean
  /** recoveries started since the last reset */
  recoveries: number
  maxRecoveries: number | "unlimited"
  /** attempts of the recovery function since the last successful recovery or reset */
  attempts: number
  maxAttempts: number | "unlimited"
}

const Limit = Schema.Union(Schema.NonNegativeInt, Schema.Literal("unlimited"))

/** @internal a function, for the Schemas of options */
export const AnyFunction = Schema.declare(
  (u: unknown): u is (...args: Array<any>) => any => Predicate.isFunction(u),
  { description: "a function" }
)

/** @internal a Schedule, for the Schemas of options */
export const AnySchedule = Schema.declare((u: unknown): u is Schedule.Schedule<unknown> => Schedule.isSchedule(u), {
  description: "a Schedule"
})

/** @internal the options of a covered service, checked: `InvalidArgument` for an unknown key or a bad value */
export const decodeOptions = <A, I>(
  schema: Schema.Schema<A, I>,
  options: unknown,
  what: string
): Effect.Effect<A, InvalidArgument> =>
  Either.match(Schema.decodeUnknownEither(schema)(options ?? {}, { onExcessProperty: "error" }), {
    onLeft: (error) => Effect.fail(new InvalidArgument({ argument: what, reason: formatParseError(error) })),
    onRight: Effect.succeed
  })

const Command = Schema.Literal("get", "suspend", "resume", "resetAttempts", "resetRecoveries")

/** the operations with an argument, by their one field */
const withArgument = {
  maxRecoveries: Schema.Struct({ maxRecoveries: Limit }),
  maxAttempts: Schema.Struct({ maxAttempts: Limit }),
  setRecover: Schema.Struct({ setRecover: AnyFunction })
}

type Decoded =
  | typeof Command.Type
  | { readonly maxRecoveries: number | "unlimited" }
  | { readonly maxAttempts: number | "unlimited" }
  | { readonly setRecover: (...args: Array<any>) => any }

const invalid = (reason: string) => new InvalidArgument({ argument: "Cover.control op", reason })

/**
 * A control operation, checked: `InvalidArgument` for anything else. A command is one of the
 * names; an object is told by its field and decoded with that operation's Schema (no other field).
 *
 * @internal
 */
export const decodeControlOp = (op: unknown): Effect.Effect<Decoded, InvalidArgument> => {
  const fields = Object.keys(withArgument) as Array<keyof typeof withArgument>
  const field = Predicate.isRecord(op) ? fields.find((key) => key in op) : undefined
  if (Predicate.isRecord(op) && field === undefined) {
    return Effect.fail(invalid(`an object must have one of the fields ${fields.join(", ")} (got ${show(op)})`))
  }
  const result = field === undefined
    ? Schema.decodeUnknownEither(Command)(op)
    : Schema.decodeUnknownEither(withArgument[field] as Schema.Schema<Decoded, any>)(op, {
      onExcessProperty: "error"
    })
  return result._tag === "Right"
    ? Effect.succeed(result.right)
    : Effect.fail(invalid(formatParseError(result.left)))
}

/** @internal whether an operation replaces the recovery function (and with what) */
export const recoverOf = (op: Decoded): ((...args: Array<any>) => any) | undefined =>
  typeof op === "object" && "setRecover" in op ? op.setRecover : undefined

/** @internal applies a checked operation to the counts (`setRecover` is given the new recovery function) */
export const applyControl = (
  ctl: ControlCounts,
  op: Decoded,
  setRecover: (recover: (...args: Array<any>) => any) => void
): void => {
  if (typeof op === "string") {
    if (op === "suspend") ctl.suspended = true
    else if (op === "resume") ctl.suspended = false
    else if (op === "resetAttempts") ctl.attempts = 0
    else if (op === "resetRecoveries") ctl.recoveries = 0
    return
  }
  if ("maxRecoveries" in op) ctl.maxRecoveries = op.maxRecoveries
  else if ("maxAttempts" in op) ctl.maxAttempts = op.maxAttempts
  else setRecover(op.setRecover)
}

/** @internal whether the control lets a new recovery start now (suspended, or a limit reached: no) */
export const mayRecover = (ctl: ControlCounts): boolean =>
  !ctl.suspended &&
  (ctl.maxRecoveries === "unlimited" || ctl.recoveries < ctl.maxRecoveries) &&
  (ctl.maxAttempts === "unlimited" || ctl.attempts < ctl.maxAttempts)

/** @internal a new control: not suspended, no limits */
export const makeCounts = (): ControlCounts => ({
  suspended: false,
  recoveries: 0,
  maxRecoveries: "unlimited",
  attempts: 0,
  maxAttempts: "unlimited"
})

/** @internal what `Cover.control` answers */
export const controlState = (ctl: ControlCounts): ControlState => ({
  suspended: ctl.suspended,
  recoveries: ctl.recoveries,
  maxRecoveries: ctl.maxRecoveries,
  attempts: ctl.attempts,
  maxAttempts: ctl.maxAttempts
})

/** @internal whether `u` is a covered thing (a cover, a covered file or connection, a covered platform file) */
export const isControllable = (u: unknown): u is Api.Controllable<unknown> =>
  Predicate.hasProperty(u, ControlTypeId) && Predicate.isFunction(u[ControlTypeId])

/** @internal `Cover.control` */
export const control = (self: unknown, op: unknown): ReturnType<Api.Controllable<unknown>[Api.ControlTypeId]> =>
  isControllable(self)
    ? self[ControlTypeId](op as ControlOp<unknown>)
    : Effect.fail(
      new InvalidArgument({
        argument: "Cover.control target",
        reason: "is not a covered resource (a cover, a covered file or connection, a file of Cover.layerFileSystem, " +
          "the client of Cover.layerHttpClient, the socket of Cover.layerSocket)"
      })
    )
