/**
 * Short texts for deaths and failures: the error's message, not a rendered stack (cheap, and
 * what a person reading the tree wants).
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Predicate from "effect/Predicate"

const maxReasonLength = 4000

/** @internal */
export const truncate = (text: string) => (text.length > maxReasonLength ? text.slice(0, maxReasonLength) + "…" : text)

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

/** @internal a short reason for a death or a failure */
export const describeCause = (cause: Cause.Cause<unknown>): string => {
  const failure = Cause.failureOption(cause)
  if (failure._tag === "Some") return truncate(describeValue(failure.value))
  const defect = Cause.dieOption(cause)
  if (defect._tag === "Some") return truncate(`defect: ${describeValue(defect.value)}`)
  return Cause.isInterruptedOnly(cause) ? "interrupted" : truncate(Cause.pretty(cause))
}
