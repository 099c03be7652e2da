/**
 * The tree both sides of the remote benchmark hold: `n` placeholder entities, each with a death
 * condition holding a restart and a log action.
 */
import { Effect } from "effect"
import { Ham } from "effect-ham"
import { CondDeath } from "effect-ham/Condition"

export const populate = (n: number) =>
  Effect.forEach(
    Array.from({ length: n }, (_, i) => `svc-${i}`),
    (name) =>
      Effect.zipRight(Ham.entity(name), Ham.condition(name, CondDeath).pipe(Ham.restart, Ham.log(`${name} died`))),
    { discard: true }
  )
