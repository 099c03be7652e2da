import { describe, expect, it } from "@effect/vitest"
import { Chunk, Deferred, Effect, Fiber, Option, Queue, Ref, Schema, Stream, TestClock } from "effect"
import { Action, Entity, Ham } from "effect-ham"
import * as Condition from "effect-ham/Condition"
import { CondDeath, CondRaise } from "effect-ham/Condition"
import { takeSoon, withHam } from "./utils.js"

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

/** waits for a forked fiber's result, letting the other fibers run; dies when it does not end */
const joinSoon = <A, E>(fiber: Fiber.RuntimeFiber<A, E>): Effect.Effect<A, E> =>
  Effect.gen(function*() {
    for (let i = 0; i < 5000; i++) {
      const exit = yield* Fiber.poll(fiber)
      if (Option.isSome(exit)) return yield* exit.value
      yield* Effect.yieldNow()
    }
    return yield* Effect.dieMessage("the fiber did not end")
  })

/** the raise type of the probe events that tell a stream has started */
const PROBE = 999

const isProbe = (event: Condition.ConditionEvent) => event._tag === "CondRaise" && event.type === PROBE

/**
 * Forks a fiber collecting the first `n` events of `stream` that are not probes, and returns it
 * once the stream is subscribed: probe raises are published on `probeEntity` until the stream
 * has seen one, so that no later event can be missed.
 */
const collectFrom = (
  stream: Stream.Stream<Condition.ConditionEvent, never, Ham.Ham>,
  n: number,
  probeEntity: Entity.EntityRef
) =>
  Effect.gen(function*() {
    const ready = yield* Deferred.make<void>()
    const fiber = yield* stream.pipe(
      Stream.tap(() => Deferred.succeed(ready, undefined)),
      Stream.filter((event) => !isProbe(event)),
      Stream.take(n),
      Stream.runCollect,
      Effect.map(Chunk.toReadonlyArray),
      Effect.fork
    )
    for (let i = 0; !(yield* Deferred.isDone(ready)); i++) {
      if (i > 1000) return yield* Effect.dieMessage("the stream never started")
      yield* Ham.raise(probeEntity, { type: PROBE, class: 1, severity: 1 })
      for (let j = 0; j < 5; j++) yield* Effect.yieldNow()
    }
    return fiber
  })

const raise = (entity: Entity.EntityRef, detail: string, type = 1) =>
  Ham.raise(entity, { type, class: 1, severity: 1, detail })

const detailOf = (event: Condition.ConditionEvent) => (event._tag === "CondRaise" ? event.detail : event._tag)

// ---------------------------------------------------------------------------------------------
// streams
// ---------------------------------------------------------------------------------------------

describe("Ham.events", () => {
  it.effect("Ham.events() streams the events of every entity, in order", () =>
    Effect.gen(function*() {
      const a = yield* Ham.attach(Entity.fiber("a", Effect.never))
      const b = yield* Ham.attach(Entity.fiber("b", Effect.never))
      const fiber = yield* collectFrom(Ham.events(), 5, a)
      yield* raise(a, "a1")
      yield* raise(b, "b1")
      yield* Ham.publishState(b, 4)
      yield* raise(a, "a2")
      yield* Ham.detach(b)
      const events = yield* joinSoon(fiber)
      expect(events.map((e) => [e.entity, detailOf(e)])).toEqual([
        ["a", "a1"],
        ["b", "b1"],
        ["b", "CondState"],
        ["a", "a2"],
        ["b", "CondDetach"]
      ])
      const seqs = events.map((e) => e.seq)
      expect([...seqs].sort((x, y) => x - y)).toEqual(seqs)
      expect(new Set(seqs).size).toBe(seqs.length)
    }).pipe(withHam()))

  it.effect("Ham.events(entity) streams only that entity's events", () =>
    Effect.gen(function*() {
      const a = yield* Ham.attach(Entity.fiber("a", Effect.never))
      const b = yield* Ham.attach(Entity.fiber("b", Effect.never))
      const byHandle = yield* collectFrom(Ham.events(a), 3, a)
      const byName = yield* collectFrom(Ham.events("b"), 2, b)
      yield* raise(b, "b1")
      yield* raise(a, "a1")
      yield* Ham.publishState(a, 7)
      yield* raise(b, "b2")
      yield* raise(a, "a2")
      const onA = yield* joinSoon(byHandle)
      const onB = yield* joinSoon(byName)
      expect(onA.map((e) => [e.entity, detailOf(e)])).toEqual([["a", "a1"], ["a", "CondState"], ["a", "a2"]])
      expect(onB.map((e) => [e.entity, detailOf(e)])).toEqual([["b", "b1"], ["b", "b2"]])
    }).pipe(withHam()))

  it.effect("Ham.events(Entity.global) streams every entity's events", () =>
    Effect.gen(function*() {
      const a = yield* Ham.attach(Entity.fiber("a", Effect.never))
      const b = yield* Ham.attach(Entity.fiber("b", Effect.never))
      const fiber = yield* collectFrom(Ham.events(Entity.global), 2, a)
      yield* raise(a, "a1")
      yield* raise(b, "b1")
      const events = yield* joinSoon(fiber)
      expect(events.map((e) => e.entity)).toEqual(["a", "b"])
    }).pipe(withHam()))

  it.effect("Ham.subscribe sees every event published after it returns, deaths included", () =>
    Effect.gen(function*() {
      const events = yield* Ham.subscribe
      const kill = yield* Deferred.make<void>()
      const e = yield* Ham.attach(Entity.fiber("d", Effect.zipRight(Deferred.await(kill), Effect.fail("boom"))))
      yield* Deferred.succeed(kill, undefined)
      const tags = [
        (yield* takeSoon(events))._tag,
        (yield* takeSoon(events))._tag,
        (yield* takeSoon(events))._tag
      ]
      expect(tags).toEqual(["CondAttach", "CondAbnormalDeath", "CondDeath"])
      yield* Ham.detach(e)
      expect(yield* takeSoon(events)).toMatchObject({ _tag: "CondDetach", entity: "d" })
    }).pipe(withHam()))

  it.effect("the stream sees heartbeat misses driven by the (test) clock", () =>
    Effect.gen(function*() {
      const events = yield* Ham.subscribe
      yield* Ham.attach(Entity.fiber("hb", Effect.never), {
        heartbeat: { interval: "100 millis", missedLow: 1, missedHigh: 3 }
      })
      expect((yield* takeSoon(events))._tag).toBe("CondAttach")
      for (let i = 0; i < 20; i++) yield* Effect.yieldNow()
      yield* TestClock.adjust("100 millis")
      expect(yield* takeSoon(events)).toMatchObject({ _tag: "CondBeatMissedLow", missed: 1 })
      yield* TestClock.adjust("200 millis")
      expect(yield* takeSoon(events)).toMatchObject({ _tag: "CondBeatMissedHigh", missed: 3 })
    }).pipe(withHam()))
})

// ---------------------------------------------------------------------------------------------
// the order of an entity's events
// ---------------------------------------------------------------------------------------------

describe("event order", () => {
  it.effect("CondAttach comes before the death of a fiber that ends at once", () =>
    Effect.gen(function*() {
      const events = yield* Ham.subscribe
      yield* Ham.attach(Entity.fiber("quick", Effect.fail("no config")))
      yield* Ham.attach(Entity.fiber("done", Effect.void))
      const tags: Array<string> = []
      for (let i = 0; i < 5; i++) {
        const event = yield* takeSoon(events)
        tags.push(`${event.entity} ${event._tag}`)
      }
      expect(tags.filter((t) => t.startsWith("quick "))).toEqual([
        "quick CondAttach",
        "quick CondAbnormalDeath",
        "quick CondDeath"
      ])
      expect(tags.filter((t) => t.startsWith("done "))).toEqual(["done CondAttach", "done CondDeath"])
    }).pipe(withHam()))

  it.effect("CondRestart comes before the death of a restarted life that ends at once", () =>
    Effect.gen(function*() {
      const events = yield* Ham.subscribe
      const kill = yield* Deferred.make<void>()
      const lives = yield* Ref.make(0)
      const worker = Effect.flatMap(Ref.updateAndGet(lives, (n) => n + 1), (life) =>
        life === 1
          ? Effect.zipRight(Deferred.await(kill), Effect.fail("first life"))
          : life === 2
          ? Effect.fail("second life")
          : Effect.never)
      yield* Ham.entity("w")
      yield* Ham.condition("w", CondDeath).pipe(Ham.restart)
      yield* Ham.attach(Entity.fiber("w", worker))
      expect((yield* takeSoon(events))._tag).toBe("CondAttach")
      yield* Deferred.succeed(kill, undefined)
      const tags: Array<string> = []
      for (let i = 0; i < 6; i++) tags.push((yield* takeSoon(events))._tag)
      expect(tags).toEqual([
        "CondAbnormalDeath",
        "CondDeath",
        "CondRestart",
        "CondAbnormalDeath",
        "CondDeath",
        "CondRestart"
      ])
      expect(yield* Ref.get(lives)).toBe(3)
    }).pipe(withHam({ backoff: false })))
})

// ---------------------------------------------------------------------------------------------
// slow subscribers
// ---------------------------------------------------------------------------------------------

describe("slow subscribers", () => {
  it.effect("a subscriber that never takes does not block the HAM; it keeps only the newest events", () =>
    Effect.gen(function*() {
      const total = 1000
      const slow = yield* Ham.subscribe
      const fast = yield* Ham.subscribe
      const counted = yield* Ref.make(0)
      const viaCondition = yield* Queue.unbounded<Condition.ConditionEvent>()
      const e = yield* Ham.attach(Entity.fiber("busy", Effect.never))
      expect(yield* takeSoon(fast)).toMatchObject({ _tag: "CondAttach" })
      yield* Ham.condition(e, CondRaise).pipe(
        Ham.action(Action.effect(Ref.update(counted, (n) => n + 1))),
        Ham.notify(viaCondition)
      )
      for (let i = 0; i < total; i++) {
        yield* raise(e, `r${i}`)
        // the fast subscriber takes each event as it comes
        const event = yield* takeSoon(fast)
        expect(detailOf(event)).toBe(`r${i}`)
      }
      // a condition sees all of them too
      for (let i = 0; i < total; i++) {
        expect(detailOf(yield* takeSoon(viaCondition))).toBe(`r${i}`)
      }
      expect(yield* Ref.get(counted)).toBe(total)
      // the slow subscriber lost the oldest ones, for itself alone: it holds the newest 8
      const kept = Chunk.toReadonlyArray(yield* Queue.takeAll(slow))
      expect(kept.map(detailOf)).toEqual(Array.from({ length: 8 }, (_, i) => `r${total - 8 + i}`))
      // and it still receives what comes next
      yield* raise(e, "after")
      expect(detailOf(yield* takeSoon(slow))).toBe("after")
      expect(detailOf(yield* takeSoon(fast))).toBe("after")
    }).pipe(withHam({ eventBuffer: 8 })))

  it.effect("a stream that never pulls does not block a stream that does", () =>
    Effect.gen(function*() {
      const total = 1000
      const e = yield* Ham.attach(Entity.fiber("busy", Effect.never))
      const gate = yield* Deferred.make<void>()
      const ready = yield* Deferred.make<void>()
      // a stream that stops pulling after its first element until the gate opens
      const stalled = yield* Ham.events(e).pipe(
        Stream.tap((event) =>
          isProbe(event) ? Effect.zipRight(Deferred.succeed(ready, undefined), Deferred.await(gate)) : Effect.void
        ),
        Stream.filter((event) => !isProbe(event)),
        Stream.take(8),
        Stream.runCollect,
        Effect.map(Chunk.toReadonlyArray),
        Effect.fork
      )
      while (!(yield* Deferred.isDone(ready))) {
        yield* Ham.raise(e, { type: PROBE, class: 1, severity: 1 })
        for (let j = 0; j < 5; j++) yield* Effect.yieldNow()
      }
      const fast = yield* collectFrom(Ham.events(e), total, e)
      for (let i = 0; i < total; i++) {
        yield* raise(e, `r${i}`)
        for (let j = 0; j < 3; j++) yield* Effect.yieldNow()
      }
      const all = yield* joinSoon(fast)
      expect(all.map(detailOf)).toEqual(Array.from({ length: total }, (_, i) => `r${i}`))
      yield* Deferred.succeed(gate, undefined)
      const late = yield* joinSoon(stalled)
      // it missed most of them but got the newest ones
      expect(late).toHaveLength(8)
      expect(late.map(detailOf)).toEqual(Array.from({ length: 8 }, (_, i) => `r${total - 8 + i}`))
    }).pipe(withHam({ eventBuffer: 8 })))

  it.effect("an eventBuffer that is not a positive integer is refused", () =>
    Effect.gen(function*() {
      for (const eventBuffer of [0, -1, 2.5]) {
        const error = yield* Effect.flip(Effect.provide(Ham.verbosity, Ham.layer({ eventBuffer })))
        expect(error._tag).toBe("InvalidArgument")
      }
    }))
})

// ---------------------------------------------------------------------------------------------
// the event schema
// ---------------------------------------------------------------------------------------------

describe("ConditionEvent schema", () => {
  it.effect("decodes the encoded form of every event taken from the stream", () =>
    Effect.gen(function*() {
      const events = yield* Ham.subscribe
      const kill = yield* Deferred.make<void>()
      const lives = yield* Ref.make(0)
      const worker = Effect.flatMap(
        Ref.updateAndGet(lives, (n) => n + 1),
        (life) => (life === 1 ? Effect.zipRight(Deferred.await(kill), Effect.fail("first life")) : Effect.never)
      )
      yield* Ham.entity("w")
      yield* Ham.condition("w", CondDeath).pipe(Ham.restart)
      const w = yield* Ham.attach(Entity.fiber("w", worker), {
        heartbeat: { interval: "1 second", missedLow: 1, missedHigh: 2 }
      })
      const taken: Array<Condition.ConditionEvent> = []
      const take = Effect.flatMap(takeSoon(events), (event) => Effect.sync(() => taken.push(event)))
      yield* take
      // abnormal death, death, restart
      yield* Deferred.succeed(kill, undefined)
      for (let i = 0; i < 3; i++) yield* take
      yield* Ham.publishState(w, 12)
      yield* take
      yield* Ham.raise(w, { type: 3, class: 2, severity: 1, detail: "über-heiß ✓" })
      yield* take
      for (let i = 0; i < 20; i++) yield* Effect.yieldNow()
      yield* TestClock.adjust("2 seconds")
      yield* take
      yield* take
      yield* Ham.detach(w)
      yield* take
      expect(taken.map((e) => e._tag)).toEqual([
        "CondAttach",
        "CondAbnormalDeath",
        "CondDeath",
        "CondRestart",
        "CondState",
        "CondRaise",
        "CondBeatMissedLow",
        "CondBeatMissedHigh",
        "CondDetach"
      ])
      const encode = Schema.encodeSync(Condition.ConditionEvent)
      const decode = Schema.decodeUnknownSync(Condition.ConditionEvent)
      for (const event of taken) {
        const wire = JSON.parse(JSON.stringify(encode(event)))
        expect(decode(wire)).toEqual(event)
        expect(Schema.is(Condition.ConditionEvent)(event)).toBe(true)
      }
      expect(taken[5]).toMatchObject({ detail: "über-heiß ✓" })
    }).pipe(withHam({ backoff: false })))

  it("refuses malformed events", () => {
    const decode = Schema.decodeUnknownSync(Condition.ConditionEvent)
    const common = { entity: "e", time: 0, seq: 1 }
    expect(decode({ _tag: "CondState", ...common, from: 1, to: 2 })).toMatchObject({ from: 1, to: 2 })
    expect(() => decode({ _tag: "CondState", ...common, from: 1 })).toThrow()
    expect(() => decode({ _tag: "CondAny", ...common })).toThrow()
    expect(() => decode({ _tag: "CondDeath", ...common, reason: "x" })).toThrow()
    expect(() => decode({ _tag: "CondRaise", ...common, type: 1, class: 1, severity: 1 })).toThrow()
  })
})
