/**
 * Multistage recovery: one death condition holds a list of actions run in order.
 *
 *   1. restart the cache (a fiber entity);
 *   2. wait until the "database" entity is attached and running (it appears 150 ms later; the
 *      wait fails if it has not appeared within 1 second);
 *   3. warm the cache with a real command; it fails, so its alternates are tried in order until
 *      one succeeds: a second command (fails too), then local code (succeeds);
 *   4. a health check flagged `breakOnFail`: it fails; its alternate still runs, but the rest of
 *      the list is skipped;
 *   5. "announce": never runs, because of 4.
 *
 *   npm run example -- examples/multistage-recovery.ts
 */
import { Command } from "@effect/platform"
import { Console, Deferred, Effect, Ref } from "effect"
import { Action, Entity, Ham, HamLive, Tree } from "effect-ham"
import { CondDeath } from "effect-ham/Condition"

const node = (code: string) => Command.make(process.execPath, "-e", code)

const program = Effect.gen(function*() {
  const lives = yield* Ref.make(0)
  const done = yield* Deferred.make<void>()
  const cache = Effect.gen(function*() {
    const life = yield* Ref.updateAndGet(lives, (n) => n + 1)
    yield* Console.log(`cache: life ${life} started`)
    if (life === 1) return yield* Effect.fail("out of memory")
    return yield* Effect.never
  })

  const step = (text: string) => Action.effect(Console.log(text), { label: "say" })

  // conditions first, on a placeholder, so that no early death can be missed
  const placeholder = yield* Ham.entity("cache")
  yield* Ham.condition(placeholder, CondDeath, { name: "recover" }).pipe(
    Ham.action(step("step 0: the cache died, recovering")),
    Ham.restart,
    Ham.waitfor({ entity: "database", timeout: "1 second" }),
    Ham.action(step("step 2: the database is up")),
    Ham.action(
      Action.execute(node("process.exit(3)")).pipe( // warm from the snapshot file: fails
        Action.orElse(Action.execute(node("process.exit(4)"))), // warm from the replica: fails too
        Action.orElse(
          Action.effect(Console.log("step 3: warm-up commands failed: the cache starts cold"), { label: "cold" })
        ),
        Action.named("warm")
      )
    ),
    Ham.action(
      Action.effect(Effect.fail("hit ratio 0%"), { label: "check" }).pipe(
        Action.orElse(Action.effect(
          Effect.zipRight(
            Console.log("step 4: health check failed: the rest of the list is skipped"),
            Deferred.succeed(done, undefined)
          ),
          { label: "report" }
        )),
        Action.withOptions({ name: "health", breakOnFail: true })
      )
    ),
    Ham.action(Action.named(step("step 5: announce the cache (never printed)"), "announce"))
  )
  // the placeholder now gets its fiber; the database is not there yet
  yield* Ham.attach(Entity.fiber("cache", cache))
  yield* Effect.sleep("150 millis")
  yield* Console.log("main: attaching the database")
  yield* Ham.attach(Entity.fiber("database", Effect.never))

  yield* Deferred.await(done)
  yield* Effect.sleep("20 millis") // let the dispatcher finish its bookkeeping
  yield* Console.log("\n" + Tree.render(yield* Ham.snapshot))
})

Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(HamLive)))
