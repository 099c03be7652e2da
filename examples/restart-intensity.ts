/**
 * A crash loop, throttled and stopped.
 *
 * The worker crashes 10 ms into every life. Its restart policy (given to `Ham.attach`; the same
 * options on `Ham.layer` set the default of every entity):
 *
 * - back-off: each restart of an entity that crashed soon after it started waits for the next
 *   delay of the `backoff` schedule (here exponential from 10 ms: 10, 20, 40, 80 ms...);
 * - restart intensity: at most 4 restarts within 1 second; the 5th attempt gives up.
 *
 * When the HAM gives up, the entity stays down (status `gaveUp`), the restart action fails (its
 * alternate runs) and the HAM raises `CondRaise` with type `RaiseTypeHam` and class
 * `RaiseClassRestartGaveUp` on the entity. A condition on that raise escalates: here it
 * attaches a standby worker.
 *
 * A second worker shows the other way to give up: its back-off schedule allows only 2
 * restarts (`Schedule.recurs(2)`), whatever the intensity.
 *
 *   npm run example -- examples/restart-intensity.ts
 */
import { Clock, Console, Deferred, Effect, Schedule } from "effect"
import { Action, Condition, Entity, Ham, HamLive, Tree } from "effect-ham"
import { CondAbnormalDeath, CondDeath, CondRestart } from "effect-ham/Condition"

const program = Effect.gen(function*() {
  const start = yield* Clock.currentTimeMillis
  const stamp = Effect.map(Clock.currentTimeMillis, (t) => String(t - start).padStart(4) + " ms")

  const crashing = (name: string) =>
    Effect.gen(function*() {
      yield* Console.log(`${yield* stamp}  ${name}: started`)
      yield* Effect.sleep("10 millis")
      return yield* Effect.fail("crash")
    })

  // local code in an action has no context of its own: give it this HAM's service
  const ham = yield* Ham.Ham
  const escalated = yield* Deferred.make<void>()
  const secondGaveUp = yield* Deferred.make<void>()

  // --- worker 1: stopped by restart intensity ---------------------------------------------------
  const w1 = yield* Ham.entity("worker")
  yield* Ham.condition(w1, CondDeath).pipe(
    Ham.action(Action.restart.pipe(
      Action.orElse(
        Action.effect(Console.log("  the restart action failed: its alternate ran"), { label: "restart-failed" })
      )
    ))
  )
  yield* Ham.conditionRaise(w1, { type: Condition.RaiseTypeHam, class: Condition.RaiseClassRestartGaveUp }, {
    name: "gave-up"
  }).pipe(
    Ham.action(Action.effect((e) => Console.log(`  ESCALATE: ${e._tag === "CondRaise" ? e.detail : ""}`))),
    Ham.action(Action.effect(
      Effect.gen(function*() {
        yield* Ham.attach(Entity.fiber("worker-standby", Effect.never))
        yield* Console.log("  the standby worker is attached")
        yield* Deferred.succeed(escalated, undefined)
      }).pipe(Effect.provideService(Ham.Ham, ham)),
      { label: "failover" }
    ))
  )
  yield* Ham.attach(Entity.fiber("worker", crashing("worker")), {
    backoff: Schedule.exponential("10 millis"),
    restartIntensity: { maxRestarts: 4, within: "1 second" }
  })
  yield* Deferred.await(escalated)

  // --- worker 2: stopped by the end of its back-off schedule ------------------------------------
  yield* Console.log("")
  const w2 = yield* Ham.entity("batch")
  yield* Ham.condition(w2, CondAbnormalDeath).pipe(Ham.restart)
  yield* Ham.condition(w2, CondRestart).pipe(Ham.log("batch restarted"))
  yield* Ham.conditionRaise(w2, { type: Condition.RaiseTypeHam, class: Condition.RaiseClassRestartGaveUp }).pipe(
    Ham.action(Action.effect((e) => Console.log(`  ESCALATE: ${e._tag === "CondRaise" ? e.detail : ""}`))),
    Ham.notify(secondGaveUp, undefined)
  )
  yield* Ham.attach(Entity.fiber("batch", crashing("batch")), {
    backoff: Schedule.intersect(Schedule.spaced("20 millis"), Schedule.recurs(2))
  })
  yield* Deferred.await(secondGaveUp)

  yield* Effect.sleep("20 millis")
  const tree = yield* Ham.snapshot
  for (const e of tree.entities) yield* Console.log(`${e.name}: ${e.status}, restarts ${e.stats.restarts}`)
  yield* Console.log("\n" + Tree.render(tree))
})

Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(HamLive)))
