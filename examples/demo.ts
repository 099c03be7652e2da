/**
 * The main demo: a worker fiber crashes; the HAM runs a multistage recovery (log, restart,
 * wait until its database entity is back, then re-register), where the last step fails and its
 * alternate runs; then the /proc/ham tree is printed.
 *
 *   npm run demo
 */
import { Duration, Effect, Ref } from "effect"
import { Action, Entity, Ham, HamLive, Tree } from "effect-ham"
import { CondDeath, CondRestart } from "effect-ham/Condition"

const program = Effect.gen(function*() {
  const lives = yield* Ref.make(0)
  // a worker that crashes on its first life and then runs
  const worker = Effect.gen(function*() {
    const life = yield* Ref.updateAndGet(lives, (n) => n + 1)
    yield* Effect.log(`worker: life ${life} started`)
    if (life === 1) {
      yield* Effect.sleep("50 millis")
      return yield* Effect.fail("lost the connection to the database")
    }
    return yield* Effect.never
  })

  yield* Ham.attach(Entity.fiber("database", Effect.never))
  const w = yield* Ham.attach(Entity.fiber("worker", worker))

  // multistage recovery: log, restart, wait for the database, re-register (fails: alternate runs)
  yield* Ham.condition(w, CondDeath).pipe(
    Ham.log("worker died: recovering"),
    Ham.restart,
    Ham.waitfor({ entity: "database", timeout: "1 second" }),
    Ham.action(
      Action.effect(Effect.fail("registry unavailable"), { label: "register" }).pipe(
        Action.orElse(
          Action.effect(Effect.log("registry down: registered through the fallback"), { label: "fallback" })
        )
      )
    )
  )
  yield* Ham.condition(w, CondRestart).pipe(Ham.log("worker is back"))

  const events = yield* Ham.subscribe
  // wait for the restart to be announced
  while (true) {
    const event = yield* events.take
    yield* Effect.log(`event: ${event._tag} on ${event.entity}`)
    if (event._tag === "CondRestart") break
  }
  yield* Effect.sleep(Duration.millis(20))
  const tree = yield* Ham.snapshot
  console.log("\n" + Tree.render(tree) + "\n")
})

Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(HamLive)))
