/**
 * Consuming events as a `Stream`: `Ham.events()` streams every event from the moment the
 * stream starts, `Ham.events(entity)` only that entity's. Events are `effect/Schema` data
 * (`Condition.ConditionEvent`), so they encode to JSON as they are.
 *
 * A subscriber never slows the HAM: each one sees a sliding window of at most `eventBuffer`
 * undelivered events (4096 by default, 4 here); one that falls further behind loses its oldest
 * undelivered events, and the other subscribers are not affected.
 *
 *   npm run example -- examples/events.ts
 */
import { Chunk, Console, Deferred, Effect, Fiber, Queue, Ref, Schema, Stream } from "effect"
import { Condition, Entity, Ham } from "effect-ham"

const program = Effect.gen(function*() {
  // 1. every event, as text, until the worker is restarted
  const all = yield* Ham.events().pipe(
    Stream.map((e) => `${e.entity}: ${e._tag}${e._tag === "CondState" ? ` ${e.from} -> ${e.to}` : ""}`),
    Stream.takeUntil((line) => line === "worker: CondRestart"),
    Stream.runCollect,
    Effect.fork
  )
  // 2. the events of one entity, encoded as JSON
  const encode = Schema.encodeSync(Schema.parseJson(Condition.ConditionEvent))
  const json = yield* Ham.events("sensor").pipe(
    Stream.take(2),
    Stream.map((e) => encode(e)),
    Stream.runCollect,
    Effect.fork
  )
  // 3. a slow subscriber: it subscribes now and reads only at the end
  const slow = yield* Ham.subscribe
  yield* Effect.sleep("20 millis") // let the two streams start (a stream subscribes when it runs)

  // six events: sensor attach and state; worker attach, abnormal death, death, restart
  const sensor = yield* Ham.attach(Entity.fiber("sensor", Effect.never))
  yield* Ham.publishState(sensor, 1)
  const lives = yield* Ref.make(0)
  const restarted = yield* Deferred.make<void>()
  const worker = Effect.gen(function*() {
    const life = yield* Ref.updateAndGet(lives, (n) => n + 1)
    if (life === 1) return yield* Effect.fail("boom")
    return yield* Effect.never
  })
  const w = yield* Ham.entity("worker")
  yield* Ham.condition(w, Condition.CondAbnormalDeath).pipe(Ham.restart)
  yield* Ham.condition(w, Condition.CondRestart).pipe(Ham.notify(restarted, undefined))
  yield* Ham.attach(Entity.fiber("worker", worker))
  yield* Deferred.await(restarted)

  const join = <A>(fiber: Fiber.Fiber<A>, what: string) =>
    Fiber.join(fiber).pipe(Effect.timeoutFail({
      duration: "2 seconds",
      onTimeout: () => new Error(`${what}: the stream did not get its events within 2 seconds`)
    }))
  yield* Console.log("all events:")
  for (const line of yield* join(all, "all events")) yield* Console.log(`  ${line}`)
  yield* Console.log("sensor events as JSON:")
  for (const text of yield* join(json, "sensor events")) yield* Console.log(`  ${text}`)

  const kept = Chunk.toArray(yield* Queue.takeAll(slow))
  const names = kept.map((e) => `${e.entity} ${e._tag}`).join(", ")
  yield* Console.log(`slow subscriber kept ${kept.length} of 6 events (the newest): ${names}`)
})

Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(Ham.layer({ eventBuffer: 4 }))))
