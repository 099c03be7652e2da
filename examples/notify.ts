/**
 * Notify actions: our counterpart of a QNX pulse. The HAM delivers a value into a `Queue`, a
 * `PubSub` or a `Deferred` the subscriber owns; without a value, it delivers the event that
 * fired the condition.
 *
 * - a Queue gets every abnormal death event of the worker;
 * - a PubSub fans "worker restarted" out to two listeners;
 * - a Deferred completes when the worker is detached (a deferred already complete is fine);
 * - a dropping Queue that is full refuses the value: the notify action fails and its alternate
 *   runs.
 *
 *   npm run example -- examples/notify.ts
 */
import { Console, Deferred, Effect, Fiber, PubSub, Queue, Ref } from "effect"
import { Action, Entity, Ham, HamLive } from "effect-ham"
import { CondAbnormalDeath, CondDetach, type ConditionEvent, CondRestart } from "effect-ham/Condition"

const program = Effect.gen(function*() {
  const lives = yield* Ref.make(0)
  const worker = Effect.gen(function*() {
    const life = yield* Ref.updateAndGet(lives, (n) => n + 1)
    if (life <= 2) {
      yield* Effect.sleep("10 millis")
      return yield* Effect.fail(`crash in life ${life}`)
    }
    return yield* Effect.never
  })

  const deaths = yield* Queue.unbounded<ConditionEvent>()
  const restarts = yield* PubSub.unbounded<string>()
  const detached = yield* Deferred.make<ConditionEvent>()
  const pager = yield* Queue.dropping<string>(1)
  yield* Queue.offer(pager, "an earlier page nobody read") // the pager is now full

  // two listeners subscribed to the pubsub before anything happens
  const listener = (name: string) =>
    Effect.gen(function*() {
      const subscription = yield* PubSub.subscribe(restarts)
      return yield* Effect.fork(
        Effect.forever(Effect.flatMap(Queue.take(subscription), (text) => Console.log(`  ${name} heard: ${text}`)))
      )
    })
  const listeners = [yield* listener("listener A"), yield* listener("listener B")]
  const mine = yield* PubSub.subscribe(restarts)

  const w = yield* Ham.entity("worker")
  yield* Ham.condition(w, CondAbnormalDeath).pipe(
    Ham.notify(deaths), // no value: the event itself
    Ham.restart
  )
  yield* Ham.condition(w, CondRestart).pipe(
    Ham.notify(restarts, "worker restarted"),
    Ham.action(
      Action.notify(pager, "worker restarted").pipe(
        Action.orElse(Action.effect(Console.log("  the pager queue is full: the notify failed, its alternate ran"))),
        Action.named("page")
      )
    )
  )
  yield* Ham.condition(w, CondDetach).pipe(Ham.notify(detached))

  yield* Ham.attach(Entity.fiber("worker", worker))

  for (let i = 1; i <= 2; i++) {
    const event = yield* Queue.take(deaths)
    const reason = event._tag === "CondAbnormalDeath" ? event.reason : ""
    yield* Console.log(`queue got: ${event._tag} of ${event.entity} (${reason})`)
  }
  // wait until the second restart is announced, then detach
  yield* Queue.take(mine)
  yield* Queue.take(mine)
  yield* Ham.detach(w)
  const last = yield* Deferred.await(detached)
  yield* Console.log(`deferred completed with: ${last._tag} of ${last.entity}`)
  yield* Effect.forEach(listeners, Fiber.interrupt)
})

Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(HamLive)))
