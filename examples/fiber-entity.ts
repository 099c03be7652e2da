/**
 * A supervised fiber: each run of its effect is one life of the entity.
 *
 * - life 1 fails (an error in the error channel): an abnormal death, restarted;
 * - life 2 dies with a defect (a thrown exception): an abnormal death, restarted;
 * - life 3 returns: a normal death, which the restart condition does not match, so the entity
 *   stays dead (and stays in the tree with its history).
 *
 * The restart action sits on `CondAbnormalDeath`, so only crashes are restarted; a `CondDeath`
 * condition sees every death, normal or not. A crash fires `CondAbnormalDeath` first, then
 * `CondDeath`. The restart waits for its back-off (100 ms, then 200 ms by default) in a fiber of
 * its own, so the `CondDeath` condition does not wait for it.
 *
 *   npm run example -- examples/fiber-entity.ts
 */
import { Console, Deferred, Effect, Ref } from "effect"
import { Action, Entity, Ham, HamLive, Tree } from "effect-ham"
import { CondAbnormalDeath, CondDeath, CondRestart, type DeathEvent } from "effect-ham/Condition"

const program = Effect.gen(function*() {
  const lives = yield* Ref.make(0)
  const finished = yield* Deferred.make<void>()

  const worker = Effect.gen(function*() {
    const life = yield* Ref.updateAndGet(lives, (n) => n + 1)
    yield* Console.log(`worker: life ${life} started`)
    yield* Effect.sleep("20 millis")
    if (life === 1) return yield* Effect.fail("connection reset")
    if (life === 2) return yield* Effect.die(new Error("index out of range"))
    yield* Console.log("worker: life 3 finished its work and returns")
    return "done"
  })

  const handle = yield* Ham.attach(Entity.fiber("worker", worker))

  // crashes only: restart the worker (the default back-off waits 100 ms, then 200 ms)
  yield* Ham.condition(handle, CondAbnormalDeath, { name: "crashed" }).pipe(
    Ham.action(
      Action.effect((event) => Console.log(`  [crashed] abnormal death: ${(event as DeathEvent).reason}`))
    ),
    Ham.restart
  )
  // every death, normal or abnormal (it fires right after CondAbnormalDeath for a crash)
  yield* Ham.condition(handle, CondDeath, { name: "died" }).pipe(
    Ham.action(Action.effect((event) => {
      const death = event as DeathEvent
      return Effect.gen(function*() {
        yield* Console.log(`  [died] ${death.abnormal ? "abnormal" : "normal"} death (${death.reason})`)
        if (!death.abnormal) yield* Deferred.succeed(finished, undefined)
      })
    }))
  )
  yield* Ham.condition(handle, CondRestart).pipe(
    Ham.action(Action.effect((event) =>
      event._tag === "CondRestart"
        ? Console.log(`  [restart] the worker is back (restart #${event.restarts})`)
        : Effect.void
    ))
  )

  yield* Deferred.await(finished)
  const tree = yield* Ham.snapshot
  const node = tree.entities.find((e) => e.name === "worker")!
  yield* Console.log(
    `\nworker is ${node.status}: ${node.stats.deaths} deaths, ${node.stats.abnormalDeaths} abnormal, ` +
      `${node.stats.restarts} restarts`
  )
  yield* Console.log("\n" + Tree.render(tree))
})

Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(HamLive)))
