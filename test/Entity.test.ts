import { describe, expect, it } from "@effect/vitest"
import { Chunk, Deferred, Effect, Exit, Fiber, FiberId, Queue, Ref, Scope, TestClock } from "effect"
import { Action, Entity, Ham } from "effect-ham"
import {
  CondAbnormalDeath,
  CondAttach,
  CondDeath,
  type ConditionEvent,
  CondRestart,
  CondState
} from "effect-ham/Condition"
import { entityNode, failureOf, is, registry, tagsOf, takeUntil, withHam } from "./utils.js"

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

/** heartbeats are counted only for an entity attached with a heartbeat (QNX: a no-op otherwise) */
const beating = { heartbeat: { interval: "1 second", missedLow: 2, missedHigh: 4 } } as const

/** a death event narrowed to its fields */
const asDeath = (event: ConditionEvent | undefined) => {
  if (event === undefined || (event._tag !== "CondDeath" && event._tag !== "CondAbnormalDeath")) {
    throw new Error(`not a death event: ${JSON.stringify(event)}`)
  }
  return event
}

// ---------------------------------------------------------------------------------------------
// fiber entities
// ---------------------------------------------------------------------------------------------

describe("Entity.fiber", () => {
  it.effect("a fiber that returns dies normally: CondDeath only, abnormal false", () =>
    withHam(Effect.gen(function*() {
      const events = yield* Ham.subscribe
      const gate = yield* Deferred.make<void>()
      const fired = yield* Queue.unbounded<ConditionEvent>()
      const done = yield* Ham.entity("done")
      yield* Ham.condition(done, CondAbnormalDeath).pipe(Ham.notify(fired))
      yield* Ham.condition(done, CondDeath).pipe(Ham.notify(fired))
      yield* Ham.condition(done, CondState).pipe(Ham.notify(fired))
      yield* Ham.attach(Entity.fiber("done", Effect.as(Deferred.await(gate), 42)))
      yield* Deferred.succeed(gate, undefined)
      const untilDeath = yield* takeUntil(events, is(CondDeath, "done"))
      // a marker on the same entity: every event of that death was published before it
      yield* Ham.publishState("done", 7)
      const untilMarker = yield* takeUntil(events, is(CondState, "done"))
      const all = [...untilDeath, ...untilMarker]
      expect(tagsOf(all, "done")).toEqual([CondAttach, CondDeath, CondState])
      const death = asDeath(untilDeath.at(-1))
      expect(death.abnormal).toBe(false)
      expect(death.reason.length).toBeGreaterThan(0)
      // the conditions ran in event order: the death's, then the marker's, and no abnormal one
      const ran = [yield* Queue.take(fired), yield* Queue.take(fired)].map((e) => e._tag)
      expect(ran).toEqual([CondDeath, CondState])
      const node = yield* entityNode("done")
      expect(node.status).toBe("dead")
      expect(node.stats.deaths).toBe(1)
      expect(node.stats.abnormalDeaths).toBe(0)
    })))

  const abnormalCases: ReadonlyArray<{
    readonly label: string
    readonly effect: Effect.Effect<unknown, unknown>
    readonly text: RegExp
  }> = [
    { label: "a failure", effect: Effect.fail("disk on fire"), text: /disk on fire/ },
    {
      label: "a defect",
      effect: Effect.die(new Error("null pointer in the parser")),
      text: /null pointer in the parser/
    },
    { label: "an interruption of its own", effect: Effect.interrupt, text: /interrupt/i }
  ]

  for (const { effect, label, text } of abnormalCases) {
    it.effect(`${label} is an abnormal death: CondAbnormalDeath, then CondDeath`, () =>
      withHam(Effect.gen(function*() {
        const events = yield* Ham.subscribe
        const gate = yield* Deferred.make<void>()
        const fired = yield* Queue.unbounded<ConditionEvent>()
        const e = yield* Ham.entity("crashy")
        // added in reverse order on purpose: the order of firing follows the events, not the conditions
        yield* Ham.condition(e, CondDeath).pipe(Ham.notify(fired))
        yield* Ham.condition(e, CondAbnormalDeath).pipe(Ham.notify(fired))
        yield* Ham.attach(Entity.fiber("crashy", Effect.zipRight(Deferred.await(gate), effect)))
        yield* Deferred.succeed(gate, undefined)
        const untilDeath = yield* takeUntil(events, is(CondDeath, "crashy"))
        yield* Ham.publishState("crashy", 3)
        const untilMarker = yield* takeUntil(events, is(CondState, "crashy"))
        expect(tagsOf([...untilDeath, ...untilMarker], "crashy")).toEqual([
          CondAttach,
          CondAbnormalDeath,
          CondDeath,
          CondState
        ])
        const abnormalEvent = asDeath(untilDeath.at(-2))
        const death = asDeath(untilDeath.at(-1))
        expect(abnormalEvent._tag).toBe(CondAbnormalDeath)
        expect(abnormalEvent.seq).toBeLessThan(death.seq)
        expect(abnormalEvent.abnormal).toBe(true)
        expect(death.abnormal).toBe(true)
        expect(abnormalEvent.reason).toMatch(text)
        expect(death.reason).toMatch(text)
        // the conditions ran in the order of the events
        const first = yield* Queue.take(fired)
        const second = yield* Queue.take(fired)
        expect([first._tag, second._tag]).toEqual([CondAbnormalDeath, CondDeath])
        expect(first.seq).toBe(abnormalEvent.seq)
        expect(second.seq).toBe(death.seq)
        const node = yield* entityNode("crashy")
        expect(node.stats.deaths).toBe(1)
        expect(node.stats.abnormalDeaths).toBe(1)
        expect(node.stats.lastDeath).toMatch(text)
      })))
  }

  it.effect("an interruption by another fiber (not the HAM) is an abnormal death", () =>
    withHam(Effect.gen(function*() {
      const events = yield* Ham.subscribe
      const self = yield* Deferred.make<Fiber.RuntimeFiber<unknown, unknown>>()
      yield* Ham.attach(Entity.fiber(
        "victim",
        Effect.zipRight(Effect.withFiberRuntime((fiber) => Deferred.succeed(self, fiber)), Effect.never)
      ))
      const fiber = yield* Deferred.await(self)
      yield* Fiber.interrupt(fiber)
      const seen = yield* takeUntil(events, is(CondDeath, "victim"))
      expect(tagsOf(seen, "victim")).toEqual([CondAttach, CondAbnormalDeath, CondDeath])
      expect(asDeath(seen.at(-1)).abnormal).toBe(true)
    })))

  it.effect("CondAttach comes before the death of a fiber that fails at once", () =>
    withHam(Effect.gen(function*() {
      const events = yield* Ham.subscribe
      yield* Ham.attach(Entity.fiber("instant", Effect.fail("no config")))
      const seen = yield* takeUntil(events, is(CondDeath, "instant"))
      expect(tagsOf(seen, "instant")).toEqual([CondAttach, CondAbnormalDeath, CondDeath])
    })))

  it.effect("CondRestart comes before the death of a new life that fails at once", () =>
    withHam(
      Effect.gen(function*() {
        const events = yield* Ham.subscribe
        const w = yield* Ham.entity("flaky")
        yield* Ham.condition(w, CondDeath).pipe(Ham.restart)
        yield* Ham.attach(Entity.fiber("flaky", Effect.fail("still no config")), {
          restartIntensity: { maxRestarts: 1, within: "1 minute" }
        })
        const seen = yield* takeUntil(events, (e) => e._tag === "CondRaise" && e.entity === "flaky")
        expect(tagsOf(seen, "flaky")).toEqual([
          CondAttach,
          CondAbnormalDeath,
          CondDeath,
          CondRestart,
          CondAbnormalDeath,
          CondDeath,
          "CondRaise"
        ])
      }),
      { backoff: false }
    ))

  it.effect("a restart re-runs the effect in a fresh fiber; CondRestart follows; stats count it", () =>
    withHam(
      Effect.gen(function*() {
        const events = yield* Ham.subscribe
        const runs = yield* Ref.make(0)
        const lives = yield* Queue.unbounded<FiberId.FiberId>()
        const gate = yield* Deferred.make<void>()
        const worker = Effect.gen(function*() {
          const life = yield* Ref.updateAndGet(runs, (n) => n + 1)
          yield* Queue.offer(lives, yield* Effect.fiberId)
          if (life === 1) {
            yield* Deferred.await(gate)
            return yield* Effect.fail("lost the database connection")
          }
          return yield* Effect.never
        })
        const w = yield* Ham.attach(Entity.fiber("worker", worker))
        yield* Ham.condition(w, CondDeath).pipe(Ham.restart)
        const firstLife = yield* Queue.take(lives)
        yield* Deferred.succeed(gate, undefined)
        const seen = yield* takeUntil(events, is(CondRestart, "worker"))
        expect(tagsOf(seen, "worker")).toEqual([CondAttach, CondAbnormalDeath, CondDeath, CondRestart])
        const restart = seen.at(-1)!
        expect(restart._tag === "CondRestart" && restart.restarts).toBe(1)
        const secondLife = yield* Queue.take(lives)
        expect(FiberId.threadName(secondLife)).not.toBe(FiberId.threadName(firstLife))
        expect(yield* Ref.get(runs)).toBe(2)
        const node = yield* entityNode("worker")
        expect(node.status).toBe("running")
        expect(node.stats.restarts).toBe(1)
        expect(node.stats.deaths).toBe(1)
        expect(node.stats.abnormalDeaths).toBe(1)
        expect(node.stats.lastDeath).toContain("lost the database connection")
      }),
      { backoff: false }
    ))

  it.effect("with the default back-off, the first restart waits 100 ms of Clock time", () =>
    withHam(Effect.gen(function*() {
      const events = yield* Ham.subscribe
      const runs = yield* Ref.make(0)
      const gate = yield* Deferred.make<void>()
      const worker = Effect.gen(function*() {
        const life = yield* Ref.updateAndGet(runs, (n) => n + 1)
        if (life === 1) {
          yield* Deferred.await(gate)
          return yield* Effect.fail("first life fails")
        }
        return yield* Effect.never
      })
      const w = yield* Ham.attach(Entity.fiber("slow", worker))
      yield* Ham.condition(w, CondDeath).pipe(Ham.restart)
      yield* Deferred.succeed(gate, undefined)
      const untilDeath = yield* takeUntil(events, is(CondDeath, "slow"))
      const death = untilDeath.at(-1)!
      // wait until the restart action sleeps on the clock
      while (Chunk.isEmpty(yield* TestClock.sleeps())) yield* Effect.yieldNow()
      expect((yield* entityNode("slow")).status).toBe("restarting")
      expect(yield* Ref.get(runs)).toBe(1)
      yield* TestClock.adjust("100 millis")
      const untilRestart = yield* takeUntil(events, is(CondRestart, "slow"))
      expect(untilRestart.at(-1)!.time - death.time).toBe(100)
      expect(yield* Ref.get(runs)).toBe(2)
    })))
})

// ---------------------------------------------------------------------------------------------
// self-attached entities
// ---------------------------------------------------------------------------------------------

describe("Ham.attachSelf", () => {
  it.effect("a self-attached entity cannot hold a restart action", () =>
    withHam(Effect.gen(function*() {
      const me = yield* Ham.attachSelf("me")
      const death = yield* Ham.condition(me, CondDeath)
      const abnormal = yield* Ham.condition(me, CondAbnormalDeath)
      const before = yield* registry
      const e1 = yield* failureOf(Ham.addAction(death, Action.restart))
      expect(e1._tag).toBe("InvalidArgument")
      const e2 = yield* failureOf(Ham.restart(abnormal))
      expect(e2._tag).toBe("InvalidArgument")
      expect(yield* registry).toEqual(before)
      const node = yield* entityNode("me")
      expect(node.kind).toBe("self")
      expect(node.conditions.flatMap((c) => c.actions)).toEqual([])
    })))

  it.effect("attaching self into a placeholder that holds a restart fails, leaving it as it was", () =>
    withHam(Effect.gen(function*() {
      const p = yield* Ham.entity("svc")
      yield* Ham.condition(p, CondDeath).pipe(Ham.restart)
      const before = yield* registry
      const error = yield* failureOf(Ham.attachSelf("svc"))
      expect(error._tag).toBe("InvalidArgument")
      expect(yield* registry).toEqual(before)
      expect((yield* entityNode("svc")).status).toBe("placeholder")
    })))

  it.effect("heartbeats are counted while attached", () =>
    withHam(Effect.gen(function*() {
      const me = yield* Ham.attachSelf("beater", beating)
      yield* Ham.heartbeat(me)
      yield* Ham.heartbeat(me)
      yield* Ham.heartbeat(me)
      const node = yield* entityNode("beater")
      expect(node.kind).toBe("self")
      expect(node.status).toBe("running")
      expect(node.stats.heartbeats).toBe(3)
    })))

  it.effect("closing the scope without a detach is a normal death", () =>
    withHam(Effect.gen(function*() {
      const events = yield* Ham.subscribe
      const scope = yield* Scope.make()
      yield* Scope.extend(Ham.attachSelf("client"), scope)
      expect((yield* entityNode("client")).status).toBe("running")
      yield* Scope.close(scope, Exit.void)
      const untilDeath = yield* takeUntil(events, is(CondDeath, "client"))
      yield* Ham.publishState("client", 1)
      const untilMarker = yield* takeUntil(events, is(CondState, "client"))
      expect(tagsOf([...untilDeath, ...untilMarker], "client")).toEqual([CondAttach, CondDeath, CondState])
      expect(asDeath(untilDeath.at(-1)).abnormal).toBe(false)
      const node = yield* entityNode("client")
      expect(node.status).toBe("dead")
      expect(node.stats.deaths).toBe(1)
      expect(node.stats.abnormalDeaths).toBe(0)
    })))

  it.effect("closing the scope with a failure is an abnormal death", () =>
    withHam(Effect.gen(function*() {
      const events = yield* Ham.subscribe
      const exit = yield* Effect.exit(Effect.scoped(Effect.gen(function*() {
        yield* Ham.attachSelf("fragile")
        return yield* Effect.fail("socket reset by peer")
      })))
      expect(Exit.isFailure(exit)).toBe(true)
      const seen = yield* takeUntil(events, is(CondDeath, "fragile"))
      expect(tagsOf(seen, "fragile")).toEqual([CondAttach, CondAbnormalDeath, CondDeath])
      const abnormal = asDeath(seen.at(-2))
      const death = asDeath(seen.at(-1))
      expect(abnormal.seq).toBeLessThan(death.seq)
      expect(death.abnormal).toBe(true)
      expect(death.reason).toContain("socket reset by peer")
      expect((yield* entityNode("fragile")).stats.abnormalDeaths).toBe(1)
    })))

  it.effect("after a detach, closing the scope is no death and the old handle's heartbeats go nowhere", () =>
    withHam(Effect.gen(function*() {
      const events = yield* Ham.subscribe
      const scope = yield* Scope.make()
      const old = yield* Scope.extend(Ham.attachSelf("client", beating), scope)
      yield* Ham.detach(old)
      yield* Scope.close(scope, Exit.void)
      // the name is free: attach self again, then beat on the stale handle
      const fresh = yield* Ham.attachSelf("client", beating)
      yield* Ham.heartbeat(old)
      yield* Ham.heartbeat(old)
      yield* Ham.heartbeat(fresh)
      const seen = yield* takeUntil(events, (e) => e._tag === CondAttach && e.seq > 2 && e.entity === "client")
      expect(tagsOf(seen, "client")).toEqual([CondAttach, "CondDetach", CondAttach])
      const node = yield* entityNode("client")
      expect(node.stats.heartbeats).toBe(1)
      expect(node.stats.deaths).toBe(0)
    })))
})

// ---------------------------------------------------------------------------------------------
// placeholders and the global entity
// ---------------------------------------------------------------------------------------------

describe("placeholders and the global entity", () => {
  it.effect("Ham.entity makes a placeholder; attaching fills it and fires its CondAttach", () =>
    withHam(Effect.gen(function*() {
      const attached = yield* Queue.unbounded<ConditionEvent>()
      const p = yield* Ham.entity("db")
      expect(p.name).toBe("db")
      yield* Ham.condition(p, CondAttach, { name: "onAttach" }).pipe(Ham.notify(attached))
      const before = yield* entityNode("db")
      expect(before.kind).toBe("placeholder")
      expect(before.status).toBe("placeholder")
      // asking again gives the same entity, not a new one
      const again = yield* Ham.entity("db")
      expect(again.name).toBe("db")
      expect((yield* Ham.snapshot).entities.map((e) => e.name)).toEqual(["db"])
      expect(yield* Queue.size(attached)).toBe(0)

      yield* Ham.attach(Entity.fiber("db", Effect.never))
      const event = yield* Queue.take(attached)
      expect(event._tag).toBe(CondAttach)
      expect(event.entity).toBe("db")
      const after = yield* entityNode("db")
      expect(after.kind).toBe("fiber")
      expect(after.status).toBe("running")
      expect(after.conditions.map((c) => c.name)).toEqual(["onAttach"])
      expect(after.conditions[0].fired).toBe(1)
    })))

  it.effect("a condition of the global entity fires for every entity's events", () =>
    withHam(Effect.gen(function*() {
      const deaths = yield* Queue.unbounded<ConditionEvent>()
      yield* Ham.condition(Entity.global, CondDeath, { name: "anyDeath" }).pipe(Ham.notify(deaths))
      const gateA = yield* Deferred.make<void>()
      const gateB = yield* Deferred.make<void>()
      yield* Ham.attach(Entity.fiber("a", Deferred.await(gateA)))
      yield* Ham.attach(Entity.fiber("b", Effect.zipRight(Deferred.await(gateB), Effect.fail("b broke"))))
      yield* Deferred.succeed(gateA, undefined)
      const first = yield* Queue.take(deaths)
      yield* Deferred.succeed(gateB, undefined)
      const second = yield* Queue.take(deaths)
      expect([first.entity, second.entity]).toEqual(["a", "b"])
      expect(asDeath(first).abnormal).toBe(false)
      expect(asDeath(second).abnormal).toBe(true)
      const tree = yield* Ham.snapshot
      expect(tree.global.conditions.map((c) => [c.name, c.fired])).toEqual([["anyDeath", 2]])
    })))

  it.effect("an event fires the entity's conditions before the global entity's", () =>
    withHam(Effect.gen(function*() {
      const order = yield* Queue.unbounded<string>()
      // the global condition is added first: the entity's own still run first
      yield* Ham.condition(Entity.global, CondState).pipe(Ham.notify(order, "global"))
      const e = yield* Ham.attach(Entity.fiber("e", Effect.never))
      yield* Ham.condition(e, CondState).pipe(Ham.notify(order, "entity"))
      yield* Ham.publishState(e, 2)
      const first = yield* Queue.take(order)
      const second = yield* Queue.take(order)
      expect([first, second]).toEqual(["entity", "global"])
    })))
})

// ---------------------------------------------------------------------------------------------
// names
// ---------------------------------------------------------------------------------------------

describe("names", () => {
  it.effect("an entity name is taken while the entity is alive, free again once it is dead", () =>
    withHam(Effect.gen(function*() {
      const events = yield* Ham.subscribe
      const gate = yield* Deferred.make<void>()
      yield* Ham.attach(Entity.fiber("a", Deferred.await(gate)))
      const before = yield* registry
      const e1 = yield* failureOf(Ham.attach(Entity.fiber("a", Effect.never)))
      expect(e1).toMatchObject({ _tag: "DuplicateName", kind: "entity", name: "a" })
      const e2 = yield* failureOf(Ham.attachSelf("a"))
      expect(e2).toMatchObject({ _tag: "DuplicateName", kind: "entity", name: "a" })
      expect(yield* registry).toEqual(before)
      yield* Deferred.succeed(gate, undefined)
      yield* takeUntil(events, is(CondDeath, "a"))
      yield* Ham.attach(Entity.fiber("a", Effect.never))
      const node = yield* entityNode("a")
      expect(node.status).toBe("running")
      expect(node.stats.deaths).toBe(1)
    })))

  it.effect("condition names are unique within an entity, action names within a condition", () =>
    withHam(Effect.gen(function*() {
      const e = yield* Ham.attach(Entity.fiber("e", Effect.never))
      const c = yield* Ham.condition(e, CondDeath, { name: "c" })
      yield* Ham.addAction(c, Action.log("first").pipe(Action.named("n")))
      const before = yield* registry
      const e1 = yield* failureOf(Ham.condition(e, CondState, { name: "c" }))
      expect(e1).toMatchObject({ _tag: "DuplicateName", kind: "condition", name: "c" })
      const e2 = yield* failureOf(Ham.addAction(c, Action.log("second").pipe(Action.named("n"))))
      expect(e2).toMatchObject({ _tag: "DuplicateName", kind: "action", name: "n" })
      expect(yield* registry).toEqual(before)
      // the same names are fine elsewhere
      const other = yield* Ham.attach(Entity.fiber("other", Effect.never))
      const c2 = yield* Ham.condition(other, CondDeath, { name: "c" })
      yield* Ham.addAction(c2, Action.log("x").pipe(Action.named("n")))
      const c3 = yield* Ham.condition(e, CondState, { name: "c3" })
      yield* Ham.addAction(c3, Action.log("y").pipe(Action.named("n")))
      const tree = yield* Ham.snapshot
      expect(tree.numConditions).toBe(3)
      expect(tree.numActions).toBe(3)
    })))

  const badNames: ReadonlyArray<readonly [string, string]> = [
    ["empty", ""],
    ["with a slash", "a/b"],
    ["over 255 characters", "x".repeat(256)],
    ["with \\u0001", "a\u0001b"],
    ["with a newline", "a\nb"],
    ["with DEL", "a\u007fb"]
  ]

  for (const [label, bad] of badNames) {
    it.effect(`a name ${label} is refused everywhere and changes nothing`, () =>
      withHam(Effect.gen(function*() {
        const e = yield* Ham.attach(Entity.fiber("e", Effect.never))
        const c = yield* Ham.condition(e, CondDeath, { name: "c" })
        yield* Ham.log("hello")(c)
        const before = yield* registry
        const failures = [
          yield* failureOf(Ham.attach(Entity.fiber(bad, Effect.never))),
          yield* failureOf(Ham.attachSelf(bad)),
          yield* failureOf(Ham.entity(bad)),
          yield* failureOf(Ham.condition(e, CondState, { name: bad })),
          yield* failureOf(Ham.addAction(c, Action.log("x").pipe(Action.named(bad))))
        ]
        expect(failures.map((f) => f._tag)).toEqual(Array(failures.length).fill("InvalidArgument"))
        expect(yield* registry).toEqual(before)
      })))
  }

  it.effect(`"*" is reserved for the global entity`, () =>
    withHam(Effect.gen(function*() {
      const before = yield* registry
      const e1 = yield* failureOf(Ham.attach(Entity.fiber("*", Effect.never)))
      expect(e1._tag).toBe("InvalidArgument")
      const e2 = yield* failureOf(Ham.attachSelf("*"))
      expect(e2._tag).toBe("InvalidArgument")
      expect(yield* registry).toEqual(before)
    })))

  it.effect("a name of exactly 255 characters is accepted", () =>
    withHam(Effect.gen(function*() {
      const long = "n".repeat(255)
      const e = yield* Ham.attach(Entity.fiber(long, Effect.never))
      const c = yield* Ham.condition(e, CondDeath, { name: long })
      const a = yield* Ham.addAction(c, Action.log("x").pipe(Action.named(long)))
      expect([e.name, c.name, a.name]).toEqual([long, long, long])
    })))
})

describe("first life", () => {
  it.effect("conditions added right after attach catch a fiber that dies at once, and restart it", () =>
    withHam(Effect.gen(function*() {
      const lives = yield* Ref.make(0)
      const done = yield* Deferred.make<void>()
      const flaky = Effect.flatMap(
        Ref.updateAndGet(lives, (n) => n + 1),
        (n) => n < 3 ? Effect.fail(`crash ${n}`) : Effect.zipRight(Deferred.succeed(done, undefined), Effect.never)
      )
      const e = yield* Ham.attach(Entity.fiber("flaky", flaky), { backoff: false })
      yield* Ham.condition(e, CondDeath).pipe(Ham.restart)
      yield* Deferred.await(done)
      expect(yield* Ref.get(lives)).toBe(3)
      const node = yield* entityNode("flaky")
      expect(node.stats).toMatchObject({ deaths: 2, abnormalDeaths: 2, restarts: 2 })
    })))
})
