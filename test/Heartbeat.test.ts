import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Queue } from "effect"
import { Action, Entity, Ham } from "effect-ham"
import type { ConditionEvent } from "effect-ham/Condition"
import { CondBeatMissedHigh, CondBeatMissedLow } from "effect-ham/Condition"
import { at, entityNode, settle, stepTo, withHam } from "./utils.js"

const heartbeat = { interval: "1 second", missedLow: 2, missedHigh: 4 } as const

type BeatEvent = Extract<ConditionEvent, { readonly _tag: "CondBeatMissedLow" | "CondBeatMissedHigh" }>

const isBeatEvent = (e: ConditionEvent): e is BeatEvent =>
  e._tag === "CondBeatMissedLow" || e._tag === "CondBeatMissedHigh"

/** takes every missed-heartbeat event delivered so far, as [tag, time, missed] */
const takeBeatEvents = (events: Queue.Dequeue<ConditionEvent>) =>
  Effect.map(
    Queue.takeAll(events),
    (chunk) => Chunk.toReadonlyArray(chunk).filter(isBeatEvent).map((e) => [e._tag, e.time, e.missed] as const)
  )

describe("Heartbeat", () => {
  it.effect("CondBeatMissedLow fires at exactly missedLow periods, CondBeatMissedHigh at missedHigh, once each", () =>
    withHam(Effect.gen(function*() {
      const events = yield* Ham.subscribe
      yield* Ham.attachSelf("app", { heartbeat })
      yield* settle
      expect(yield* takeBeatEvents(events)).toEqual([])

      yield* at(1_000)
      expect(yield* takeBeatEvents(events)).toEqual([])
      yield* at(1_999)
      expect(yield* takeBeatEvents(events)).toEqual([])
      yield* at(2_000)
      expect(yield* takeBeatEvents(events)).toEqual([[CondBeatMissedLow, 2_000, 2]])

      yield* at(3_000)
      yield* at(3_999)
      expect(yield* takeBeatEvents(events)).toEqual([])
      yield* at(4_000)
      expect(yield* takeBeatEvents(events)).toEqual([[CondBeatMissedHigh, 4_000, 4]])

      // the episode goes on: no refire at 6 s, 8 s, ...
      yield* stepTo(12_000, 1_000)
      expect(yield* takeBeatEvents(events)).toEqual([])

      const node = yield* entityNode("app")
      expect(node.heartbeat).toEqual({
        intervalMillis: 1_000,
        missedLow: 2,
        missedHigh: 4,
        missed: 12,
        unhealthy: true
      })
      expect(node.stats.missedLow).toBe(1)
      expect(node.stats.missedHigh).toBe(1)
      expect(node.stats.heartbeats).toBe(0)
    })))

  it.effect("conditions on the missed-heartbeat types run their actions at the period boundary", () =>
    withHam(Effect.gen(function*() {
      const low = yield* Queue.unbounded<ConditionEvent>()
      const high = yield* Queue.unbounded<ConditionEvent>()
      const app = yield* Ham.attachSelf("app", { heartbeat })
      yield* Ham.condition(app, CondBeatMissedLow).pipe(Ham.notify(low))
      yield* Ham.condition(app, CondBeatMissedHigh).pipe(Ham.notify(high))
      yield* at(1_999)
      expect(yield* Queue.size(low)).toBe(0)
      yield* at(2_000)
      const lowEvent = yield* Queue.take(low)
      expect(lowEvent).toMatchObject({ _tag: CondBeatMissedLow, entity: "app", time: 2_000 })
      yield* at(3_999)
      expect(yield* Queue.size(high)).toBe(0)
      yield* at(4_000)
      expect(yield* Queue.take(high)).toMatchObject({ _tag: CondBeatMissedHigh, entity: "app", time: 4_000 })
      yield* stepTo(9_000, 1_000)
      expect(yield* Queue.size(low)).toBe(0)
      expect(yield* Queue.size(high)).toBe(0)
      const node = yield* entityNode("app")
      expect(node.conditions.map((c) => [c.type, c.fired])).toEqual([[CondBeatMissedLow, 1], [CondBeatMissedHigh, 1]])
    })))

  it.effect("steady heartbeats keep the entity healthy", () =>
    withHam(Effect.gen(function*() {
      const events = yield* Ham.subscribe
      const app = yield* Ham.attachSelf("app", { heartbeat })
      // one beat in the middle of each period, for 10 periods
      for (let period = 0; period < 10; period++) {
        yield* at(period * 1_000 + 500)
        yield* Ham.heartbeat(app)
      }
      yield* at(10_000)
      expect(yield* takeBeatEvents(events)).toEqual([])
      const node = yield* entityNode("app")
      expect(node.stats.heartbeats).toBe(10)
      expect(node.heartbeat?.unhealthy).toBe(false)
      expect(node.heartbeat?.missed).toBe(0)
      // then silence: low two periods later, at 12 s
      yield* at(11_999)
      expect(yield* takeBeatEvents(events)).toEqual([])
      yield* at(12_000)
      expect(yield* takeBeatEvents(events)).toEqual([[CondBeatMissedLow, 12_000, 2]])
    })))

  it.effect("beats inside one period count as one, seen at the period boundary", () =>
    withHam(Effect.gen(function*() {
      const events = yield* Ham.subscribe
      const app = yield* Ham.attachSelf("app", { heartbeat })
      yield* at(200)
      yield* Ham.heartbeat(app)
      yield* at(700)
      yield* Ham.heartbeat(app)
      // period 1 (0..1 s) is beaten; periods 2 and 3 are missed: LOW at 3 s, not 2 s, and not 4 s
      yield* at(2_000)
      expect(yield* takeBeatEvents(events)).toEqual([])
      const mid = yield* entityNode("app")
      expect(mid.heartbeat?.missed).toBe(1)
      yield* at(2_999)
      expect(yield* takeBeatEvents(events)).toEqual([])
      yield* at(3_000)
      expect(yield* takeBeatEvents(events)).toEqual([[CondBeatMissedLow, 3_000, 2]])
      yield* at(4_999)
      expect(yield* takeBeatEvents(events)).toEqual([])
      yield* at(5_000)
      expect(yield* takeBeatEvents(events)).toEqual([[CondBeatMissedHigh, 5_000, 4]])
      const node = yield* entityNode("app")
      expect(node.stats.heartbeats).toBe(2)
    })))

  it.effect("a beat after a missed period is seen at the next boundary and resets the count", () =>
    withHam(Effect.gen(function*() {
      const events = yield* Ham.subscribe
      const app = yield* Ham.attachSelf("app", { heartbeat })
      yield* at(1_000)
      expect((yield* entityNode("app")).heartbeat?.missed).toBe(1)
      yield* at(1_500)
      yield* Ham.heartbeat(app)
      // not yet seen: the count changes only at a period boundary
      expect((yield* entityNode("app")).heartbeat?.missed).toBe(1)
      yield* at(2_000)
      expect(yield* takeBeatEvents(events)).toEqual([])
      expect((yield* entityNode("app")).heartbeat?.missed).toBe(0)
      yield* at(3_999)
      expect(yield* takeBeatEvents(events)).toEqual([])
      yield* at(4_000)
      expect(yield* takeBeatEvents(events)).toEqual([[CondBeatMissedLow, 4_000, 2]])
    })))

  it.effect("after a LOW miss the entity stays unhealthy: late beats do not end the episode", () =>
    withHam(Effect.gen(function*() {
      const events = yield* Ham.subscribe
      const app = yield* Ham.attachSelf("app", { heartbeat })
      yield* at(2_000)
      expect(yield* takeBeatEvents(events)).toEqual([[CondBeatMissedLow, 2_000, 2]])
      // late beats in periods 3, 4 and 5
      for (const t of [2_500, 3_500, 4_500]) {
        yield* at(t)
        yield* Ham.heartbeat(app)
      }
      yield* at(5_000)
      const beaten = yield* entityNode("app")
      expect(beaten.heartbeat?.missed).toBe(0)
      expect(beaten.heartbeat?.unhealthy).toBe(true)
      expect(beaten.stats.heartbeats).toBe(3)
      // silence again: 2 misses at 7 s do not fire LOW again; HIGH (not fired yet) fires at 4 misses
      yield* at(7_000)
      expect(yield* takeBeatEvents(events)).toEqual([])
      yield* at(8_999)
      expect(yield* takeBeatEvents(events)).toEqual([])
      yield* at(9_000)
      expect(yield* takeBeatEvents(events)).toEqual([[CondBeatMissedHigh, 9_000, 4]])
      yield* stepTo(15_000, 1_000)
      expect(yield* takeBeatEvents(events)).toEqual([])
      const node = yield* entityNode("app")
      expect(node.heartbeat?.unhealthy).toBe(true)
      expect(node.stats.missedLow).toBe(1)
      expect(node.stats.missedHigh).toBe(1)
    })))

  it.effect("a heartbeatHealthy action ends the episode: LOW fires again in the next one", () =>
    withHam(Effect.gen(function*() {
      const notified = yield* Queue.unbounded<ConditionEvent>()
      const app = yield* Ham.attachSelf("app", { heartbeat: { interval: "1 second", missedLow: 2, missedHigh: 0 } })
      yield* Ham.condition(app, CondBeatMissedLow).pipe(Ham.notify(notified), Ham.heartbeatHealthy)
      yield* at(2_000)
      expect(yield* Queue.take(notified)).toMatchObject({ _tag: CondBeatMissedLow, time: 2_000 })
      const healed = yield* entityNode("app")
      expect(healed.heartbeat?.unhealthy).toBe(false)
      expect(healed.heartbeat?.missed).toBe(2)
      // the entity beats again for a while: nothing fires
      for (const t of [2_500, 3_500, 4_500]) {
        yield* at(t)
        yield* Ham.heartbeat(app)
      }
      yield* at(5_000)
      expect(yield* Queue.size(notified)).toBe(0)
      // a new episode: misses at 6 s and 7 s fire LOW again
      yield* at(6_999)
      expect(yield* Queue.size(notified)).toBe(0)
      yield* at(7_000)
      expect(yield* Queue.take(notified)).toMatchObject({ _tag: CondBeatMissedLow, time: 7_000 })
      const node = yield* entityNode("app")
      expect(node.stats.missedLow).toBe(2)
      expect(node.stats.missedHigh).toBe(0)
      expect(node.stats.heartbeats).toBe(3)
      const action = node.conditions[0].actions.find((a) => a.type === "HeartbeatHealthy")
      expect(action?.runs).toBe(2)
      expect(action?.failures).toBe(0)
    })))

  it.effect("a hung entity whose LOW is handled with [notify, heartbeatHealthy] still reaches HIGH", () =>
    withHam(Effect.gen(function*() {
      const events = yield* Ham.subscribe
      const app = yield* Ham.attachSelf("app", { heartbeat })
      yield* Ham.condition(app, CondBeatMissedLow).pipe(Ham.log("low"), Ham.heartbeatHealthy)
      yield* stepTo(5_000, 1_000)
      expect(yield* takeBeatEvents(events)).toEqual([
        [CondBeatMissedLow, 2_000, 2],
        [CondBeatMissedHigh, 4_000, 4]
      ])
    })))

  it.effect("without heartbeatHealthy, late beats then silence never fire LOW twice", () =>
    withHam(Effect.gen(function*() {
      const notified = yield* Queue.unbounded<ConditionEvent>()
      const app = yield* Ham.attachSelf("app", { heartbeat: { interval: "1 second", missedLow: 2, missedHigh: 0 } })
      yield* Ham.condition(app, CondBeatMissedLow).pipe(Ham.notify(notified))
      yield* at(2_000)
      expect(yield* Queue.take(notified)).toMatchObject({ _tag: CondBeatMissedLow, time: 2_000 })
      for (const t of [2_500, 3_500, 4_500]) {
        yield* at(t)
        yield* Ham.heartbeat(app)
      }
      yield* stepTo(20_000, 1_000)
      expect(yield* Queue.size(notified)).toBe(0)
      expect((yield* entityNode("app")).stats.missedLow).toBe(1)
    })))

  it.effect("missedLow == missedHigh fires both at the same boundary; 0 disables a level", () =>
    withHam(Effect.gen(function*() {
      const events = yield* Ham.subscribe
      yield* Ham.attachSelf("both", { heartbeat: { interval: "1 second", missedLow: 3, missedHigh: 3 } })
      yield* Ham.attachSelf("noHigh", { heartbeat: { interval: "1 second", missedLow: 3, missedHigh: 0 } })
      yield* Ham.attachSelf("noLow", { heartbeat: { interval: "1 second", missedLow: 0, missedHigh: 2 } })
      yield* at(2_000)
      const first = Chunk.toReadonlyArray(yield* Queue.takeAll(events)).filter(isBeatEvent)
      expect(first.map((e) => [e.entity, e._tag, e.time])).toEqual([["noLow", CondBeatMissedHigh, 2_000]])
      yield* at(2_999)
      expect(yield* takeBeatEvents(events)).toEqual([])
      yield* at(3_000)
      const second = Chunk.toReadonlyArray(yield* Queue.takeAll(events)).filter(isBeatEvent)
      expect(second.map((e) => [e.entity, e._tag, e.time]).sort()).toEqual([
        ["both", CondBeatMissedHigh, 3_000],
        ["both", CondBeatMissedLow, 3_000],
        ["noHigh", CondBeatMissedLow, 3_000]
      ])
      yield* stepTo(10_000, 1_000)
      expect(yield* takeBeatEvents(events)).toEqual([])
      const tree = yield* Ham.snapshot
      const stats = Object.fromEntries(tree.entities.map((e) => [e.name, [e.stats.missedLow, e.stats.missedHigh]]))
      expect(stats).toEqual({ both: [1, 1], noHigh: [1, 0], noLow: [0, 1] })
    })))

  it.effect("a sub-second interval works (any duration of at least 1 ms)", () =>
    withHam(Effect.gen(function*() {
      const events = yield* Ham.subscribe
      yield* Ham.attachSelf("fast", { heartbeat: { interval: "10 millis", missedLow: 3, missedHigh: 5 } })
      yield* stepTo(29, 1)
      expect(yield* takeBeatEvents(events)).toEqual([])
      yield* at(30)
      expect(yield* takeBeatEvents(events)).toEqual([[CondBeatMissedLow, 30, 3]])
      yield* stepTo(49, 1)
      expect(yield* takeBeatEvents(events)).toEqual([])
      yield* at(50)
      expect(yield* takeBeatEvents(events)).toEqual([[CondBeatMissedHigh, 50, 5]])
    })))

  it.effect("a fiber entity attached with heartbeat options beats through its own handle", () =>
    withHam(Effect.gen(function*() {
      const events = yield* Ham.subscribe
      const worker = Effect.gen(function*() {
        const self = yield* Ham.entityHandle("worker")
        yield* Effect.sleep("300 millis")
        // beats at 0.3, 0.8, 1.3, 1.8, 2.3, 2.8 s, then hangs without beating
        for (let i = 0; i < 6; i++) {
          yield* Ham.heartbeat(self)
          if (i < 5) yield* Effect.sleep("500 millis")
        }
        return yield* Effect.never
      })
      yield* Ham.attach(Entity.fiber("worker", worker), { heartbeat })
      yield* stepTo(4_000, 100)
      expect(yield* takeBeatEvents(events)).toEqual([])
      const mid = yield* entityNode("worker")
      expect(mid.stats.heartbeats).toBe(6)
      expect(mid.kind).toBe("fiber")
      expect(mid.heartbeat?.missed).toBe(1)
      // periods 1-3 beaten, 4 and 5 missed: LOW at 5 s, HIGH at 7 s
      yield* stepTo(4_999, 100)
      expect(yield* takeBeatEvents(events)).toEqual([])
      yield* at(5_000)
      expect(yield* takeBeatEvents(events)).toEqual([[CondBeatMissedLow, 5_000, 2]])
      yield* stepTo(6_999, 500)
      expect(yield* takeBeatEvents(events)).toEqual([])
      yield* at(7_000)
      expect(yield* takeBeatEvents(events)).toEqual([[CondBeatMissedHigh, 7_000, 4]])
      const node = yield* entityNode("worker")
      expect(node.status).toBe("running")
      expect(node.heartbeat?.unhealthy).toBe(true)
      expect(node.stats).toMatchObject({ heartbeats: 6, missedLow: 1, missedHigh: 1, deaths: 0 })
    })))

  it.effect("a heartbeat through a handle of a detached entity does nothing", () =>
    withHam(Effect.gen(function*() {
      const app = yield* Ham.attachSelf("app", { heartbeat })
      yield* Ham.heartbeat(app)
      expect((yield* entityNode("app")).stats.heartbeats).toBe(1)
      yield* Ham.detach(app)
      yield* Ham.heartbeat(app)
      const tree = yield* Ham.snapshot
      expect(tree.entities.map((e) => e.name)).toEqual([])
    })))

  describe("invalid heartbeat options fail with InvalidArgument and attach nothing", () => {
    const cases: ReadonlyArray<readonly [string, Ham.HeartbeatOptions]> = [
      ["interval 0", { interval: 0, missedLow: 2, missedHigh: 4 }],
      ["interval 0 seconds", { interval: "0 seconds", missedLow: 2, missedHigh: 4 }],
      ["interval below 1 ms", { interval: "0.5 millis", missedLow: 2, missedHigh: 4 }],
      ["infinite interval", { interval: "Infinity", missedLow: 2, missedHigh: 4 } as unknown as Ham.HeartbeatOptions],
      ["missedLow > missedHigh", { interval: "1 second", missedLow: 5, missedHigh: 4 }],
      ["negative missedLow", { interval: "1 second", missedLow: -1, missedHigh: 4 }],
      ["negative missedHigh", { interval: "1 second", missedLow: 2, missedHigh: -4 }],
      ["non-integer missedLow", { interval: "1 second", missedLow: 1.5, missedHigh: 4 }],
      ["non-integer missedHigh", { interval: "1 second", missedLow: 2, missedHigh: 4.5 }],
      ["NaN count", { interval: "1 second", missedLow: NaN, missedHigh: 4 }]
    ]
    for (const [label, options] of cases) {
      it.effect(label, () =>
        withHam(Effect.gen(function*() {
          const self = yield* Effect.flip(Ham.attachSelf("app", { heartbeat: options }))
          expect(self._tag).toBe("InvalidArgument")
          const fiber = yield* Effect.flip(Ham.attach(Entity.fiber("worker", Effect.never), { heartbeat: options }))
          expect(fiber._tag).toBe("InvalidArgument")
          const tree = yield* Ham.snapshot
          expect(tree.entities).toEqual([])
        })))
    }

    it.effect("missedLow > missedHigh is allowed when missedHigh is 0 (disabled)", () =>
      withHam(Effect.gen(function*() {
        yield* Ham.attachSelf("app", { heartbeat: { interval: "1 second", missedLow: 5, missedHigh: 0 } })
        const node = yield* entityNode("app")
        expect(node.heartbeat).toMatchObject({ missedLow: 5, missedHigh: 0 })
      })))
  })

  it.effect("a notify action on LOW can carry a heartbeatHealthy after an alternate", () =>
    withHam(Effect.gen(function*() {
      // a notify to a shut-down queue fails; its alternate is heartbeatHealthy, which re-arms LOW
      const dead = yield* Queue.unbounded<ConditionEvent>()
      yield* Queue.shutdown(dead)
      const events = yield* Ham.subscribe
      const app = yield* Ham.attachSelf("app", { heartbeat: { interval: "1 second", missedLow: 1, missedHigh: 0 } })
      yield* Ham.condition(app, CondBeatMissedLow).pipe(
        Ham.action(Action.notify(dead).pipe(Action.orElse(Action.heartbeatHealthy)))
      )
      // the alternate re-armed LOW, but the count of consecutive misses goes on (2, 3): LOW fires
      // when the count reaches 1, so only once in this episode
      yield* stepTo(3_000, 1_000)
      expect(yield* takeBeatEvents(events)).toEqual([[CondBeatMissedLow, 1_000, 1]])
      const node = yield* entityNode("app")
      expect(node.conditions[0].actions[0]).toMatchObject({ runs: 1, failures: 1 })
      expect(node.heartbeat).toMatchObject({ unhealthy: false, missed: 3 })
    })))
  describe("the shared period grid", () => {
    it.effect("an entity that starts between grid lines gets a first period of one to two intervals", () =>
      withHam(Effect.gen(function*() {
        const events = yield* Ham.subscribe
        yield* at(400)
        yield* Ham.attachSelf("late", { heartbeat: { interval: "1 second", missedLow: 1, missedHigh: 2 } })
        // its first period is [0.4 s, 2 s): the grid line at 1 s is too close to its start
        yield* at(1_000)
        yield* at(1_999)
        expect(yield* takeBeatEvents(events)).toEqual([])
        yield* at(2_000)
        expect(yield* takeBeatEvents(events)).toEqual([[CondBeatMissedLow, 2_000, 1]])
        yield* at(3_000)
        expect(yield* takeBeatEvents(events)).toEqual([[CondBeatMissedHigh, 3_000, 2]])
      })))

    it.effect("entities of one interval are judged at the same instants, each on its own beats", () =>
      withHam(Effect.gen(function*() {
        const events = yield* Ham.subscribe
        const config = { heartbeat: { interval: "1 second", missedLow: 1, missedHigh: 0 } } as const
        const a = yield* Ham.attachSelf("a", config)
        yield* at(300)
        const b = yield* Ham.attachSelf("b", config)
        yield* at(1_500)
        yield* Ham.heartbeat(b)
        // a's first period ends at 1 s (no beat: LOW); b's at 2 s (a beat at 1.5 s: healthy)
        yield* at(2_000)
        const seen = (yield* Queue.takeAll(events)).pipe(Chunk.toReadonlyArray).filter(isBeatEvent)
        expect(seen.map((e) => [e.entity, e.time])).toEqual([["a", 1_000]])
        yield* Ham.heartbeat(a)
        yield* at(3_000)
        const later = (yield* Queue.takeAll(events)).pipe(Chunk.toReadonlyArray).filter(isBeatEvent)
        expect(later.map((e) => [e.entity, e.time])).toEqual([["b", 3_000]])
      })))

    it.effect("the clock stops with its last member and starts again for a new one", () =>
      withHam(Effect.gen(function*() {
        const events = yield* Ham.subscribe
        const config = { heartbeat: { interval: "1 second", missedLow: 1, missedHigh: 0 } } as const
        const first = yield* Ham.attachSelf("first", config)
        yield* Ham.detach(first)
        yield* stepTo(5_000, 1_000)
        expect(yield* takeBeatEvents(events)).toEqual([])
        yield* at(5_200)
        yield* Ham.attachSelf("second", config)
        yield* at(6_999)
        expect(yield* takeBeatEvents(events)).toEqual([])
        yield* at(7_000)
        expect(yield* takeBeatEvents(events)).toEqual([[CondBeatMissedLow, 7_000, 1]])
      })))
  })
})
