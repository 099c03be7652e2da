/**
 * Option objects at the boundary: an unknown key is a mistake (a typo such as `restartIntensty`
 * or a wrong shape such as `{ restart: { intensity: 3 } }`), never silently ignored. Pure helpers,
 * shared by the HAM's validation, the action constructors, the Guardian and the Cover.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Predicate from "effect/Predicate"
import { InvalidArgument } from "../HamError.js"

/** control characters (`String` leaves them in a symbol's text) and the Unicode line separators (JSON too) */
const breaking = /[\p{Cc}\u2028\u2029]/gu

/** text with its control characters and line separators escaped (`\n`, `\u2028`) */
const oneLine = (text: string): string =>
  text.replace(breaking, (c) => c === "\n" ? "\\n" : `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)

/** @internal a value as an error message shows it: short, on one line */
export const show = (value: unknown): string => oneLine(shown(value))

const shown = (value: unknown): string => {
  if (typeof value === "string") return JSON.stringify(value.length > 60 ? value.slice(0, 60) + "…" : value)
  if (typeof value === "function") return "a function"
  if (typeof value === "symbol" || typeof value === "bigint") return String(value)
  if (typeof value === "number" && !Number.isFinite(value)) return String(value)
  try {
    const json = JSON.stringify(value)
    if (json === undefined) return String(value)
    return json.length > 60 ? json.slice(0, 60) + "…" : json
  } catch {
    return String(value)
  }
}

/**
 * A duration that Effect's `Duration` would quietly take as 0: a negative or NaN number of
 * milliseconds, a negative bigint of nanoseconds, a negative string (`"-1 seconds"`) or a
 * `[seconds, nanos]` pair with a negative or NaN part. A caller who wrote one made a mistake.
 *
 * @internal
 */
export const isNegativeDuration = (input: unknown): boolean => {
  if (typeof input === "number") return !(input >= 0)
  if (typeof input === "bigint") return input < BigInt(0)
  if (typeof input === "string") return input.trimStart().startsWith("-")
  if (Array.isArray(input)) return input.some((part) => typeof part === "number" && !(part >= 0))
  return false
}

/** @internal what is wrong with an argument: the field and the rule it breaks */
export interface Problem {
  readonly argument: string
  readonly reason: string
}

/**
 * What is wrong with the keys of an options object (`what` names it in the message): not an
 * object, or a key that is not one of `known`. Undefined when nothing is.
 *
 * @internal
 */
export const optionsProblem = (input: unknown, known: ReadonlyArray<string>, what: string): Problem | undefined => {
  if (input === undefined) return undefined
  if (!Predicate.isRecord(input)) return { argument: what, reason: `must be an object (got ${show(input)})` }
  for (const key of Object.keys(input)) {
    if (!known.includes(key)) {
      return { argument: what, reason: `unknown option ${JSON.stringify(key)} (known: ${known.join(", ")})` }
    }
  }
  return undefined
}

/** @internal the first flag that is neither a boolean nor absent (named `prefix` + its key) */
export const flagsProblem = (flags: Record<string, unknown>, prefix = ""): Problem | undefined => {
  for (const [key, value] of Object.entries(flags)) {
    if (value !== undefined && typeof value !== "boolean") {
      return { argument: `${prefix}${key}`, reason: `must be a boolean (got ${show(value)})` }
    }
  }
  return undefined
}

/** @internal */
export const fromProblem = (problem: Problem): InvalidArgument => new InvalidArgument(problem)

/**
 * Fails with `InvalidArgument` when an options object is not an object or has a key that is not
 * one of `known`.
 *
 * @internal
 */
export const checkOptions = (
  input: unknown,
  known: ReadonlyArray<string>,
  what: string
): Effect.Effect<void, InvalidArgument> => {
  const problem = optionsProblem(input, known, what)
  return problem === undefined ? Effect.void : Effect.fail(fromProblem(problem))
}
