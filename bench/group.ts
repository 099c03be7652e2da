/**
 * What a group adds to a restart: a fiber entity's life fails (triggered from outside, through a
 * queue) and the time until the next life announces itself is taken, for a plain entity restarted
 * by its own restart action and for the same entity as the member of a `oneForOne` group (the
 * group's fiber takes the death from the HAM's events and starts the next life), in alternating
 * blocks, neither throttled.
 */
import { Effect, Layer } from "effect"
import { Entity, Ham } from "effect-ham"
import { CondDeath } from "effect-ham/Condition"
import { report } from "./core.js"
import { fromOutside } from "./restart.js"

const plain = (life: Effect.Effect<never, string>) =>
  Effect.gen(function*() {
    const e = yield* Ham.attach(Entity.fiber("outside", life))
    yield* Ham.condition(e, CondDeath).pipe(Ham.restart)
  }).pipe(Effect.orDie)

const member = (life: Effect.Effect<never, string>) =>
  Ham.attach(Entity.group("g", [Entity.fiber("outside", life)], { intensity: { maxRestarts: Infinity } })).pipe(
    Effect.asVoid,
    Effect.orDie
  )

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

export const groupRestart = Effect.gen(function*() {
  const restarts = 2_000
  const blocks = 6
  const plainTimes: Array<number> = []
  const memberTimes: Array<number> = []
  const noThrottle = Ham.layer({ backoff: false, restartIntensity: { maxRestarts: Infinity } })
  for (let block = 0; block < blocks; block++) {
    // the first block of each warms up
    const p = yield* fromOutside(plain, restarts).pipe(Effect.provide(Layer.fresh(noThrottle)))
    const m = yield* fromOutside(member, restarts).pipe(Effect.provide(Layer.fresh(noThrottle)))
    if (block > 0) {
      plainTimes.push(...p)
      memberTimes.push(...m)
    }
  }
  const p = median(plainTimes)
  const m = median(memberTimes)
  report("plain_entity_restart_from_outside_median", p, "us")
  report("group_member_restart_from_outside_median", m, "us")
  report("group_member_vs_plain_restart_ratio", m / p, "x (median)")
})

if (import.meta.url === `file://${process.argv[1]}`) Effect.runPromise(groupRestart)
