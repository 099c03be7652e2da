import { describe, expect, it } from "@effect/vitest"
import { Effect, Queue, Ref, TestClock } from "effect"
import { Action, Entity, Ham } from "effect-ham"
import * as Condition from "effect-ham/Condition"
import {
  CondAbnormalDeath,
  CondAny,
  CondAttach,
  CondBeatMissedHigh,
  CondBeatMissedLow,
  CondDeath,
  CondDetach,
  CondRaise,
  CondRestart,
  CondState
} from "effect-ham/Condition"
import { barrier, conditionNode, entityNode, mortal, record, settle, takeSoon, withHam } from "./utils.js"

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// every condition type fires from its source
// ---------------------------------------------------------------------------------------------

describe("condition types", () => {
  it.effect("CondAttach fires when an entity joins a placeholder", () =>
    Effect.gen(function*() {
      const q = yield* Queue.unbounded<Condition.ConditionEvent>()
      yield* Ham.entity("a")
      yield* Ham.condition("a", CondAttach).pipe(Ham.notify(q))
      yield* Ham.attach(Entity.fiber("a", Effect.never))
      const event = yield* takeSoon(q)
      expect(event._tag).toBe("CondAttach")
      expect(event.entity).toBe("a")
      expect(yield* Queue.size(q)).toBe(0)
    }).pipe(withHam()))

  it.effect("CondDeath fires on a normal death, without CondAbnormalDeath", () =>
    Effect.gen(function*() {
      const deaths = yield* Queue.unbounded<Condition.ConditionEvent>()
      const abnormal = yield* Queue.unbounded<Condition.ConditionEvent>()
      const { effect, kill } = yield* mortal
      yield* Ham.entity("d")
      yield* Ham.condition("d", CondDeath).pipe(Ham.notify(deaths))
      yield* Ham.condition("d", CondAbnormalDeath).pipe(Ham.notify(abnormal))
      yield* Ham.attach(Entity.fiber("d", effect))
      yield* Queue.offer(kill, "ok")
      const event = yield* takeSoon(deaths)
      expect(event._tag).toBe("CondDeath")
      expect(event.entity).toBe("d")
      if (event._tag !== "CondDeath") throw new Error("unreachable")
      expect(event.abnormal).toBe(false)
      yield* barrier
      expect(yield* Queue.size(abnormal)).toBe(0)
      const node = yield* entityNode("d")
      expect(node.status).toBe("dead")
      expect(node.stats.deaths).toBe(1)
      expect(node.stats.abnormalDeaths).toBe(0)
    }).pipe(withHam()))

  it.effect("CondAbnormalDeath fires on a failure, then CondDeath for the same death", () =>
    Effect.gen(function*() {
      const q = yield* Queue.unbounded<Condition.ConditionEvent>()
      const { effect, kill } = yield* mortal
      yield* Ham.entity("d")
      // CondDeath added first: the order comes from the events, not from the conditions
      yield* Ham.condition("d", CondDeath).pipe(Ham.notify(q))
      yield* Ham.condition("d", CondAbnormalDeath).pipe(Ham.notify(q))
      yield* Ham.attach(Entity.fiber("d", effect))
      yield* Queue.offer(kill, "database lost")
      const first = yield* takeSoon(q)
      const second = yield* takeSoon(q)
      expect([first._tag, second._tag]).toEqual(["CondAbnormalDeath", "CondDeath"])
      for (const event of [first, second]) {
        if (event._tag !== "CondDeath" && event._tag !== "CondAbnormalDeath") throw new Error("not a death")
        expect(event.abnormal).toBe(true)
        expect(event.reason).toContain("database lost")
      }
      expect(second.seq).toBeGreaterThan(first.seq)
      const node = yield* entityNode("d")
      expect(node.stats.deaths).toBe(1)
      expect(node.stats.abnormalDeaths).toBe(1)
    }).pipe(withHam()))

  it.effect("CondDetach fires on Ham.detach", () =>
    Effect.gen(function*() {
      const q = yield* Queue.unbounded<Condition.ConditionEvent>()
      const e = yield* Ham.attach(Entity.fiber("x", Effect.never))
      yield* Ham.condition(e, CondDetach).pipe(Ham.notify(q))
      yield* Ham.detach(e)
      const event = yield* takeSoon(q)
      expect(event._tag).toBe("CondDetach")
      expect(event.entity).toBe("x")
      const tree = yield* Ham.snapshot
      expect(tree.entities.map((n) => n.name)).not.toContain("x")
    }).pipe(withHam()))

  it.effect("CondRestart fires once the restarted entity is up", () =>
    Effect.gen(function*() {
      const q = yield* Queue.unbounded<Condition.ConditionEvent>()
      const lives = yield* Ref.make(0)
      const worker = Effect.flatMap(
        Ref.updateAndGet(lives, (n) => n + 1),
        (life) => (life === 1 ? Effect.fail("first life") : Effect.never)
      )
      yield* Ham.entity("w")
      yield* Ham.condition("w", CondDeath).pipe(Ham.restart)
      yield* Ham.condition("w", CondRestart).pipe(Ham.notify(q))
      yield* Ham.attach(Entity.fiber("w", worker))
      const event = yield* takeSoon(q)
      expect(event._tag).toBe("CondRestart")
      if (event._tag !== "CondRestart") throw new Error("unreachable")
      expect(event.restarts).toBe(1)
      expect(yield* Ref.get(lives)).toBe(2)
      const node = yield* entityNode("w")
      expect(node.status).toBe("running")
      expect(node.stats.restarts).toBe(1)
    }).pipe(withHam({ backoff: false })))

  it.effect("CondBeatMissedLow and CondBeatMissedHigh fire from the heartbeat clock", () =>
    Effect.gen(function*() {
      const low = yield* Queue.unbounded<Condition.ConditionEvent>()
      const high = yield* Queue.unbounded<Condition.ConditionEvent>()
      yield* Ham.entity("hb")
      yield* Ham.condition("hb", CondBeatMissedLow).pipe(Ham.notify(low))
      yield* Ham.condition("hb", CondBeatMissedHigh).pipe(Ham.notify(high))
      yield* Ham.attach(Entity.fiber("hb", Effect.never), {
        heartbeat: { interval: "1 second", missedLow: 2, missedHigh: 4 }
      })
      yield* settle
      yield* TestClock.adjust("1 second")
      yield* settle
      expect(yield* Queue.size(low)).toBe(0)
      yield* TestClock.adjust("1 second")
      const l = yield* takeSoon(low)
      expect(l._tag).toBe("CondBeatMissedLow")
      if (l._tag !== "CondBeatMissedLow") throw new Error("unreachable")
      expect(l.missed).toBe(2)
      expect(yield* Queue.size(high)).toBe(0)
      yield* TestClock.adjust("2 seconds")
      const h = yield* takeSoon(high)
      expect(h._tag).toBe("CondBeatMissedHigh")
      if (h._tag !== "CondBeatMissedHigh") throw new Error("unreachable")
      expect(h.missed).toBe(4)
      const node = yield* entityNode("hb")
      expect(node.stats.missedLow).toBe(1)
      expect(node.stats.missedHigh).toBe(1)
    }).pipe(withHam()))

  it.effect("CondState fires on Ham.publishState", () =>
    Effect.gen(function*() {
      const q = yield* Queue.unbounded<Condition.ConditionEvent>()
      const e = yield* Ham.attach(Entity.fiber("s", Effect.never))
      yield* Ham.condition(e, CondState).pipe(Ham.notify(q))
      yield* Ham.publishState(e, 7)
      const event = yield* takeSoon(q)
      expect(event._tag).toBe("CondState")
      expect(event.entity).toBe("s")
    }).pipe(withHam()))

  it.effect("CondRaise fires on Ham.raise", () =>
    Effect.gen(function*() {
      const q = yield* Queue.unbounded<Condition.ConditionEvent>()
      const e = yield* Ham.attach(Entity.fiber("r", Effect.never))
      yield* Ham.condition(e, CondRaise).pipe(Ham.notify(q))
      yield* Ham.raise(e, { type: 3, class: 4, severity: 5, detail: "disk full" })
      const event = yield* takeSoon(q)
      expect(event._tag).toBe("CondRaise")
      expect(event.entity).toBe("r")
    }).pipe(withHam()))

  it.effect("CondAny matches every event of the entity", () =>
    Effect.gen(function*() {
      const q = yield* Queue.unbounded<Condition.ConditionEvent>()
      const { effect, kill } = yield* mortal
      yield* Ham.entity("any")
      yield* Ham.condition("any", CondAny).pipe(Ham.notify(q))
      yield* Ham.condition("any", CondDeath).pipe(Ham.restart)
      const e = yield* Ham.attach(Entity.fiber("any", effect), {
        heartbeat: { interval: "1 second", missedLow: 1, missedHigh: 2 }
      })
      const tags: Array<string> = []
      tags.push((yield* takeSoon(q))._tag)
      yield* Ham.publishState(e, 5)
      tags.push((yield* takeSoon(q))._tag)
      yield* Ham.raise(e, { type: 1, class: 1, severity: 1 })
      tags.push((yield* takeSoon(q))._tag)
      yield* settle
      yield* TestClock.adjust("1 second")
      tags.push((yield* takeSoon(q))._tag)
      yield* TestClock.adjust("1 second")
      tags.push((yield* takeSoon(q))._tag)
      yield* Queue.offer(kill, "crash")
      tags.push((yield* takeSoon(q))._tag)
      tags.push((yield* takeSoon(q))._tag)
      tags.push((yield* takeSoon(q))._tag)
      yield* Ham.detach(e)
      tags.push((yield* takeSoon(q))._tag)
      expect(tags).toEqual([
        "CondAttach",
        "CondState",
        "CondRaise",
        "CondBeatMissedLow",
        "CondBeatMissedHigh",
        "CondAbnormalDeath",
        "CondDeath",
        "CondRestart",
        "CondDetach"
      ])
      // every event type except CondAny itself was seen
      expect(new Set(tags)).toEqual(new Set(Condition.conditionTypes.filter((t) => t !== "CondAny")))
    }).pipe(withHam({ backoff: false })))

  it.effect("a condition does not fire for another entity's events", () =>
    Effect.gen(function*() {
      const q = yield* Queue.unbounded<Condition.ConditionEvent>()
      const a = yield* Ham.attach(Entity.fiber("a", Effect.never))
      const b = yield* Ham.attach(Entity.fiber("b", Effect.never))
      yield* barrier // the attach events are handled before the condition exists
      yield* Ham.condition(a, CondAny).pipe(Ham.notify(q))
      yield* Ham.raise(b, { type: 1, class: 1, severity: 1 })
      yield* Ham.publishState(b, 3)
      yield* barrier
      expect(yield* Queue.size(q)).toBe(0)
    }).pipe(withHam()))
})

// ---------------------------------------------------------------------------------------------
// published states
// ---------------------------------------------------------------------------------------------

describe("publishState and conditionState", () => {
  it.effect("keeps the state and fires CondState with from/to (initial from = 0)", () =>
    Effect.gen(function*() {
      const q = yield* Queue.unbounded<Condition.ConditionEvent>()
      const e = yield* Ham.attach(Entity.fiber("s", Effect.never))
      expect((yield* entityNode("s")).state).toBe(Condition.StateAny)
      yield* Ham.condition(e, CondState).pipe(Ham.notify(q))
      yield* Ham.publishState(e, 2)
      expect((yield* entityNode("s")).state).toBe(2)
      yield* Ham.publishState("s", 9)
      expect((yield* entityNode("s")).state).toBe(9)
      const first = yield* takeSoon(q)
      const second = yield* takeSoon(q)
      if (first._tag !== "CondState" || second._tag !== "CondState") throw new Error("not a state event")
      expect([first.from, first.to]).toEqual([0, 2])
      expect([second.from, second.to]).toEqual([2, 9])
    }).pipe(withHam()))

  it.effect("filters transitions: exact, StateAny, { in }, { notIn }", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const e = yield* Ham.attach(Entity.fiber("s", Effect.never))
      const recordAs = (label: string) =>
        Ham.action(Action.effect((event) =>
          event._tag === "CondState"
            ? Ref.update(log, (xs) => [...xs, `${label} ${event.from}->${event.to}`])
            : Effect.dieMessage("not a state event")
        ))
      yield* Ham.conditionState(e, { from: 2, to: 3 }).pipe(recordAs("exact"))
      yield* Ham.conditionState(e, { from: Condition.StateAny, to: 3 }).pipe(recordAs("toThree"))
      yield* Ham.conditionState(e, { to: { in: [4, 5] } }).pipe(recordAs("in"))
      yield* Ham.conditionState(e, { from: { notIn: [3] }, to: Condition.StateAny }).pipe(recordAs("notIn"))
      yield* Ham.conditionState(e, {}).pipe(recordAs("all"))
      for (const state of [2, 3, 4, 6, 5, 3]) yield* Ham.publishState(e, state)
      yield* barrier
      const got = yield* Ref.get(log)
      const of = (label: string) => got.filter((x) => x.startsWith(`${label} `)).map((x) => x.slice(label.length + 1))
      expect(of("exact")).toEqual(["2->3"])
      expect(of("toThree")).toEqual(["2->3", "5->3"])
      expect(of("in")).toEqual(["3->4", "6->5"])
      expect(of("notIn")).toEqual(["0->2", "2->3", "4->6", "6->5", "5->3"])
      expect(of("all")).toEqual(["0->2", "2->3", "3->4", "4->6", "6->5", "5->3"])
      expect((yield* entityNode("s")).state).toBe(3)
    }).pipe(withHam()))

  it.effect("refuses a negative or non-integer state and keeps the state", () =>
    Effect.gen(function*() {
      const q = yield* Queue.unbounded<Condition.ConditionEvent>()
      const e = yield* Ham.attach(Entity.fiber("s", Effect.never))
      yield* Ham.condition(e, CondState).pipe(Ham.notify(q))
      yield* Ham.publishState(e, 4)
      expect((yield* takeSoon(q))._tag).toBe("CondState")
      for (const bad of [-1, 1.5, NaN, Infinity]) {
        const error = yield* Effect.flip(Ham.publishState(e, bad))
        expect(error._tag).toBe("InvalidArgument")
      }
      expect((yield* entityNode("s")).state).toBe(4)
      yield* barrier
      expect(yield* Queue.size(q)).toBe(0)
    }).pipe(withHam()))

  it.effect("refuses the global entity and unknown entities", () =>
    Effect.gen(function*() {
      const onGlobal = yield* Effect.flip(Ham.publishState(Entity.global, 1))
      expect(onGlobal._tag).toBe("InvalidArgument")
      const unknown = yield* Effect.flip(Ham.publishState("nobody", 1))
      expect(unknown._tag).toBe("EntityNotFound")
      const tree = yield* Ham.snapshot
      expect(tree.entities.map((n) => n.name)).not.toContain("nobody")
    }).pipe(withHam()))

  it.effect("a bad state filter is refused", () =>
    Effect.gen(function*() {
      yield* Ham.attach(Entity.fiber("s", Effect.never))
      const error = yield* Effect.flip(Ham.conditionState("s", { to: -2 }))
      expect(error._tag).toBe("InvalidArgument")
      expect((yield* entityNode("s")).conditions).toEqual([])
    }).pipe(withHam()))
})

// ---------------------------------------------------------------------------------------------
// raises
// ---------------------------------------------------------------------------------------------

describe("raise and conditionRaise", () => {
  it.effect("filters on type, class and severity with RaiseAny wildcards; the detail is carried", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const e = yield* Ham.attach(Entity.fiber("r", Effect.never))
      const recordAs = (label: string) =>
        Ham.action(Action.effect((event) =>
          event._tag === "CondRaise"
            ? Ref.update(log, (xs) => [...xs, `${label} ${event.detail}`])
            : Effect.dieMessage("not a raise event")
        ))
      yield* Ham.conditionRaise(e, { type: 1 }).pipe(recordAs("typeOne"))
      yield* Ham.conditionRaise(e, { type: 1, class: 2, severity: 3 }).pipe(recordAs("exact"))
      yield* Ham.conditionRaise(e, { type: Condition.RaiseAny, class: Condition.RaiseAny, severity: 5 }).pipe(
        recordAs("sevFive")
      )
      yield* Ham.conditionRaise(e, {}).pipe(recordAs("all"))
      yield* Ham.raise(e, { type: 1, class: 2, severity: 3, detail: "a" })
      yield* Ham.raise(e, { type: 1, class: 9, severity: 5, detail: "b" })
      yield* Ham.raise(e, { type: 2, class: 2, severity: 5, detail: "c" })
      yield* Ham.raise(e, { type: 7, class: 7, severity: 7, detail: "d" })
      yield* barrier
      const got = yield* Ref.get(log)
      const of = (label: string) => got.filter((x) => x.startsWith(`${label} `)).map((x) => x.slice(label.length + 1))
      expect(of("typeOne")).toEqual(["a", "b"])
      expect(of("exact")).toEqual(["a"])
      expect(of("sevFive")).toEqual(["b", "c"])
      expect(of("all")).toEqual(["a", "b", "c", "d"])
    }).pipe(withHam()))

  it.effect("the raise event carries type, class, severity and detail (empty by default)", () =>
    Effect.gen(function*() {
      const q = yield* Queue.unbounded<Condition.ConditionEvent>()
      const e = yield* Ham.attach(Entity.fiber("r", Effect.never))
      yield* Ham.condition(e, CondRaise).pipe(Ham.notify(q))
      yield* Ham.raise(e, { type: 11, class: 12, severity: 13, detail: "temperature 90C" })
      yield* Ham.raise(e, { type: 1, class: 2, severity: 3 })
      const first = yield* takeSoon(q)
      const second = yield* takeSoon(q)
      if (first._tag !== "CondRaise" || second._tag !== "CondRaise") throw new Error("not a raise")
      expect([first.type, first.class, first.severity, first.detail]).toEqual([11, 12, 13, "temperature 90C"])
      expect([second.type, second.class, second.severity, second.detail]).toEqual([1, 2, 3, ""])
    }).pipe(withHam()))

  it.effect("refuses bad raise fields without firing anything", () =>
    Effect.gen(function*() {
      const q = yield* Queue.unbounded<Condition.ConditionEvent>()
      const e = yield* Ham.attach(Entity.fiber("r", Effect.never))
      yield* Ham.condition(e, CondRaise).pipe(Ham.notify(q))
      const bad = [
        { type: -1, class: 1, severity: 1 },
        { type: 1, class: 1.5, severity: 1 },
        { type: 1, class: 1, severity: NaN },
        { type: 1, class: 1, severity: -3 }
      ]
      for (const input of bad) {
        const error = yield* Effect.flip(Ham.raise(e, input))
        expect(error._tag).toBe("InvalidArgument")
      }
      yield* barrier
      expect(yield* Queue.size(q)).toBe(0)
      expect((yield* conditionNode("r", "raise")).fired).toBe(0)
    }).pipe(withHam()))

  it.effect("refuses the global entity and unknown entities", () =>
    Effect.gen(function*() {
      const onGlobal = yield* Effect.flip(Ham.raise(Entity.global, { type: 1, class: 1, severity: 1 }))
      expect(onGlobal._tag).toBe("InvalidArgument")
      const unknown = yield* Effect.flip(Ham.raise("nobody", { type: 1, class: 1, severity: 1 }))
      expect(unknown._tag).toBe("EntityNotFound")
    }).pipe(withHam()))

  it.effect("a bad raise filter is refused", () =>
    Effect.gen(function*() {
      yield* Ham.attach(Entity.fiber("r", Effect.never))
      const error = yield* Effect.flip(Ham.conditionRaise("r", { severity: 2.5 }))
      expect(error._tag).toBe("InvalidArgument")
      expect((yield* entityNode("r")).conditions).toEqual([])
    }).pipe(withHam()))
})

// ---------------------------------------------------------------------------------------------
// dispatch order: the entity's conditions, then the global entity's
// ---------------------------------------------------------------------------------------------

describe("dispatch order", () => {
  it.effect("an event fires the entity's matching conditions, then the global ones, in insertion order", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const done = yield* Queue.unbounded<string>()
      const e = yield* Ham.attach(Entity.fiber("e", Effect.never))
      yield* Ham.attach(Entity.fiber("f", Effect.never))
      yield* barrier // the attach events are handled before the conditions exist
      // interleave the insertions: global first, so insertion order alone would put it first
      yield* Ham.conditionRaise(Entity.global, {}, { name: "g1" }).pipe(Ham.action(record(log, "g1")))
      yield* Ham.condition(e, CondRaise, { name: "e1" }).pipe(Ham.action(record(log, "e1")))
      yield* Ham.condition(Entity.global, CondAny, { name: "g2" }).pipe(
        Ham.action(record(log, "g2")),
        Ham.notify(done, "g2")
      )
      yield* Ham.condition(e, CondState, { name: "notMe" }).pipe(Ham.action(record(log, "notMe")))
      yield* Ham.condition(e, CondAny, { name: "e2" }).pipe(Ham.action(record(log, "e2")))
      yield* Ham.raise(e, { type: 1, class: 1, severity: 1 })
      expect(yield* takeSoon(done)).toBe("g2")
      expect(yield* Ref.get(log)).toEqual(["e1", "e2", "g1", "g2"])
      // another entity's event fires only the global conditions
      yield* Ref.set(log, [])
      yield* Ham.raise("f", { type: 1, class: 1, severity: 1 })
      expect(yield* takeSoon(done)).toBe("g2")
      expect(yield* Ref.get(log)).toEqual(["g1", "g2"])
      const tree = yield* Ham.snapshot
      expect(tree.global.conditions.map((c) => [c.name, c.fired])).toEqual([["g1", 2], ["g2", 2]])
    }).pipe(withHam()))
})

// ---------------------------------------------------------------------------------------------
// condition flags
// ---------------------------------------------------------------------------------------------

describe("condition flags", () => {
  it.effect("oneShot conditions are discarded when the entity restarts; default ones are re-armed", () =>
    Effect.gen(function*() {
      const once = yield* Queue.unbounded<string>()
      const always = yield* Queue.unbounded<string>()
      const restarted = yield* Queue.unbounded<Condition.ConditionEvent>()
      const { effect, kill } = yield* mortal
      yield* Ham.entity("w")
      yield* Ham.condition("w", CondDeath, { name: "recover" }).pipe(Ham.restart)
      yield* Ham.condition("w", CondAbnormalDeath, { name: "once", oneShot: true }).pipe(Ham.notify(once, "once"))
      yield* Ham.condition("w", CondAbnormalDeath, { name: "always" }).pipe(Ham.notify(always, "always"))
      yield* Ham.condition("w", CondRestart, { name: "restarted" }).pipe(Ham.notify(restarted))
      yield* Ham.attach(Entity.fiber("w", effect))

      const names = Effect.map(entityNode("w"), (node) => node.conditions.map((c) => c.name))
      expect(yield* names).toEqual(["recover", "once", "always", "restarted"])
      expect((yield* conditionNode("w", "once")).oneShot).toBe(true)
      expect((yield* conditionNode("w", "always")).oneShot).toBe(false)

      // first death: both fire, the restart discards the one-shot condition
      yield* Queue.offer(kill, "crash 1")
      expect(yield* takeSoon(restarted)).toMatchObject({ _tag: "CondRestart", restarts: 1 })
      expect(yield* Queue.takeAll(once)).toHaveLength(1)
      expect(yield* Queue.takeAll(always)).toHaveLength(1)
      expect(yield* names).toEqual(["recover", "always", "restarted"])

      // second death: only the re-armed conditions are left, and they still work
      yield* Queue.offer(kill, "crash 2")
      expect(yield* takeSoon(restarted)).toMatchObject({ _tag: "CondRestart", restarts: 2 })
      expect(yield* Queue.takeAll(once)).toHaveLength(0)
      expect(yield* Queue.takeAll(always)).toHaveLength(1)
      expect(yield* names).toEqual(["recover", "always", "restarted"])
      expect((yield* conditionNode("w", "always")).fired).toBe(2)
      expect((yield* entityNode("w")).stats.restarts).toBe(2)
    }).pipe(withHam({ backoff: false })))

  it.effect("a noWait condition runs while a FIFO condition of the same event waits", () =>
    Effect.gen(function*() {
      const fifo = yield* Queue.unbounded<string>()
      const side = yield* Queue.unbounded<string>()
      const e = yield* Ham.attach(Entity.fiber("n", Effect.never))
      yield* Ham.condition(e, CondRaise, { name: "slow" }).pipe(Ham.waitfor("1 hour"), Ham.notify(fifo, "fifo"))
      yield* Ham.condition(e, CondRaise, { name: "quick", noWait: true }).pipe(Ham.notify(side, "noWait"))
      expect((yield* conditionNode("n", "quick")).noWait).toBe(true)
      yield* Ham.raise(e, { type: 1, class: 1, severity: 1 })
      expect(yield* takeSoon(side)).toBe("noWait")
      yield* settle
      expect(yield* Queue.size(fifo)).toBe(0)
      yield* TestClock.adjust("1 hour")
      expect(yield* takeSoon(fifo)).toBe("fifo")
    }).pipe(withHam()))

  it.effect("a noWait condition is not delayed by a FIFO condition blocked in a waitfor on an earlier event", () =>
    Effect.gen(function*() {
      const fifo = yield* Queue.unbounded<string>()
      const side = yield* Queue.unbounded<string>()
      const e = yield* Ham.attach(Entity.fiber("n", Effect.never))
      yield* Ham.conditionRaise(e, { type: 1 }, { name: "slow" }).pipe(
        Ham.waitfor("1 hour"),
        Ham.notify(fifo, "fifo")
      )
      yield* Ham.conditionRaise(e, { type: 2 }, { name: "quick", noWait: true }).pipe(Ham.notify(side, "noWait"))
      yield* Ham.raise(e, { type: 1, class: 1, severity: 1 })
      yield* settle
      // the FIFO condition is now blocked for an hour of (test) time
      yield* Ham.raise(e, { type: 2, class: 1, severity: 1 })
      expect(yield* takeSoon(side)).toBe("noWait")
      expect(yield* Queue.size(fifo)).toBe(0)
      yield* TestClock.adjust("1 hour")
      expect(yield* takeSoon(fifo)).toBe("fifo")
    }).pipe(withHam()))

  it.effect("a noWait condition cannot hold a waitfor", () =>
    Effect.gen(function*() {
      const e = yield* Ham.attach(Entity.fiber("n", Effect.never))
      const c = yield* Ham.condition(e, CondRaise, { noWait: true })
      const error = yield* Effect.flip(Ham.addAction(c, Action.waitfor("1 second")))
      expect(error._tag).toBe("InvalidArgument")
      const alternate = yield* Effect.flip(
        Ham.addAction(c, Action.effect(Effect.fail("x")).pipe(Action.orElse(Action.waitfor("1 second"))))
      )
      expect(alternate._tag).toBe("InvalidArgument")
      expect((yield* conditionNode("n", c.name)).actions).toEqual([])
    }).pipe(withHam()))

  it.effect("an independent condition with a waitfor does not delay other conditions", () =>
    Effect.gen(function*() {
      const waited = yield* Queue.unbounded<string>()
      const others = yield* Queue.unbounded<string>()
      const e = yield* Ham.attach(Entity.fiber("i", Effect.never))
      // inserted first: a FIFO run would make the next condition wait for it
      yield* Ham.conditionRaise(e, { type: 1 }, { name: "patient", independent: true }).pipe(
        Ham.waitfor("1 hour"),
        Ham.notify(waited, "independent")
      )
      yield* Ham.conditionRaise(e, { type: 1 }, { name: "sameEvent" }).pipe(Ham.notify(others, "same event"))
      yield* Ham.conditionRaise(e, { type: 2 }, { name: "nextEvent" }).pipe(Ham.notify(others, "next event"))
      expect((yield* conditionNode("i", "patient")).independent).toBe(true)
      yield* Ham.raise(e, { type: 1, class: 1, severity: 1 })
      expect(yield* takeSoon(others)).toBe("same event")
      yield* Ham.raise(e, { type: 2, class: 1, severity: 1 })
      expect(yield* takeSoon(others)).toBe("next event")
      expect(yield* Queue.size(waited)).toBe(0)
      yield* TestClock.adjust("1 hour")
      expect(yield* takeSoon(waited)).toBe("independent")
    }).pipe(withHam()))
})
