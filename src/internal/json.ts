/**
 * Schema pieces for data written as JSON (the state store, the remote protocol, the daemon's
 * config file): durations a person can write, defaults left out of the JSON, and values that are
 * local to a process and cannot be written at all.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

const durationRule = `a number of milliseconds or a duration such as "5 seconds"`

const parseMillis = (input: number | string): number | undefined =>
  typeof input === "number"
    ? input
    : Option.match(Duration.decodeUnknown(input), { onNone: () => undefined, onSome: Duration.toMillis })

/**
 * A duration kept as a number of milliseconds, written as that number or as a string that
 * `Duration.decode` accepts ("5 seconds"); always written back as the number.
 *
 * @internal
 */
export const Millis: Schema.Schema<number, number | string> = Schema.transformOrFail(
  Schema.Union(Schema.Number, Schema.String),
  Schema.Number,
  {
    strict: true,
    decode: (input, _, ast) => {
      const millis = parseMillis(input)
      return millis === undefined
        ? ParseResult.fail(new ParseResult.Type(ast, input, `must be ${durationRule}`))
        : ParseResult.succeed(millis)
    },
    encode: ParseResult.succeed
  }
).annotations({ identifier: "Millis", description: durationRule })

/**
 * A `Duration.DurationInput` as the caller gave it: a number of milliseconds or a string such as
 * "5 seconds" stay as they are (a config file reads as it was written); any other input (a
 * `Duration`, nanoseconds as a bigint, ...) is written as its number of milliseconds.
 *
 * @internal
 */
export const DurationInput: Schema.Schema<Duration.DurationInput, number | string> = Schema.transformOrFail(
  Schema.Union(Schema.Number, Schema.String),
  Schema.declare((u): u is Duration.DurationInput => Option.isSome(Duration.decodeUnknown(u)), {
    identifier: "DurationInput",
    description: durationRule
  }),
  {
    strict: true,
    decode: (input, _, ast) =>
      parseMillis(input) === undefined
        ? ParseResult.fail(new ParseResult.Type(ast, input, `must be ${durationRule}`))
        : ParseResult.succeed(input as Duration.DurationInput),
    encode: (input, _, ast) => {
      if (typeof input === "string" || (typeof input === "number" && Number.isFinite(input))) {
        return ParseResult.succeed(input)
      }
      const millis = Duration.toMillis(input)
      return Number.isFinite(millis)
        ? ParseResult.succeed(millis)
        : ParseResult.fail(new ParseResult.Type(ast, input, "expected a finite duration"))
    }
  }
)

/**
 * An optional field that decodes to `fallback` when it is absent and is left out of the JSON
 * when it holds its fallback (`isFallback`), so that a config file only spells what differs.
 *
 * @internal
 */
export const withDefault = <A, I>(
  schema: Schema.Schema<A, I>,
  fallback: () => A,
  isFallback: (a: A) => boolean
) =>
  Schema.optionalToRequired(schema, Schema.typeSchema(schema), {
    decode: Option.getOrElse(fallback),
    encode: (a) => (isFallback(a) ? Option.none() : Option.some(a))
  })

/** @internal a boolean field that is false unless written */
export const flag = withDefault(Schema.Boolean, () => false, (b) => !b)

/** @internal a list field that is empty unless written */
export const list = <A, I>(item: Schema.Schema<A, I>) =>
  withDefault(Schema.Array(item), (): ReadonlyArray<A> => [], (items) => items.length === 0)

/**
 * A value local to this process (code, a fiber, a queue, a schedule): it can be held in a
 * request that runs locally, but encoding it fails with `what` named ("local code cannot be sent
 * or stored"), and nothing decodes to it.
 *
 * @internal
 */
export const localOnly = <A>(guard: (u: unknown) => u is A, what: string): Schema.Schema<A, never> =>
  Schema.declare([], {
    decode: () => (input, _, ast) =>
      guard(input) ? ParseResult.succeed(input) : ParseResult.fail(new ParseResult.Type(ast, input)),
    encode: () => (input, _, ast) =>
      ParseResult.fail(
        new ParseResult.Forbidden(ast, input, `${what} is local to its process and cannot be sent or written as data`)
      )
  }, { identifier: what })
