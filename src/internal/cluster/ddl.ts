/**
 * Nodes started together create @effect/cluster's tables together. PostgreSQL then refuses one
 * node's `CREATE TABLE` (a duplicate key in its catalog, `pg_type_typname_nsp_index`, or the
 * table there already) while another's runs. @effect/cluster's message storage runs its
 * migrations as a defect (`Effect.orDie`), its runner storage as a failure: either way the
 * layer is built again, a few times, a moment later; any other error is not.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

/** PostgreSQL's codes for it: unique_violation, duplicate_table, duplicate_object */
const codes = new Set(["23505", "42P07", "42710"])

/** an error, or one of its causes, is PostgreSQL refusing a table or type that another made */
const isConcurrentDdl = (error: unknown, depth = 0): boolean => {
  if (typeof error !== "object" || error === null || depth > 5) return false
  const { cause, code } = error as { readonly code?: unknown; readonly cause?: unknown }
  return (typeof code === "string" && codes.has(code)) || isConcurrentDdl(cause, depth + 1)
}

/** @internal the layer's build failed, or died, only because another node created the same tables */
export const concurrentDdl = (cause: Cause.Cause<unknown>): boolean => {
  const errors = [...Cause.failures(cause), ...Cause.defects(cause)]
  return errors.length > 0 && errors.every((error) => isConcurrentDdl(error))
}

/**
 * The layer `make` builds, built again (a fresh one, after `delayMillis`) while its build fails or
 * dies of a concurrent creation of tables, at most `attempts` more times.
 *
 * @internal
 */
export const rebuiltOnConcurrentDdl = <A, E, R>(
  make: () => Layer.Layer<A, E, R>,
  attempts: number,
  delayMillis: number
): Layer.Layer<A, E, R> =>
  Layer.catchAllCause(Layer.fresh(make()), (cause) =>
    attempts > 0 && concurrentDdl(cause)
      ? Layer.unwrapEffect(
        Effect.as(Effect.sleep(delayMillis), rebuiltOnConcurrentDdl(make, attempts - 1, delayMillis))
      )
      : Layer.failCause(cause))
