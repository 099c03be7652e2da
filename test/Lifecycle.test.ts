import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Layer, Queue, Ref, Scope, TestClock } from "effect"
import { Action, Entity, Ham, HamLive, Tree } from "effect-ham"
import {
  CondAttach,
  CondBeatMissedHigh,
  CondBeatMissedLow,
  CondDeath,
  CondDetach,
  type ConditionEvent,
  CondRestart,
  CondState
} from "effect-ham/Condition"
import { conditionNode, entityNode, failureOf, is, registry, tagsOf, takeUntil, withHam } from "./utils.js"

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

/**
 * A fiber entity that tells when it runs and when it is interrupted. `started` is completed by
 * its first step, so the test can wait for it before interrupting it (a fiber interrupted before
 * it starts runs no finalizer).
 */
const probe = Effect.gen(function*() {
  const started = yield* Deferred.make<void>()
  const stopped = yield* Deferred.make<void>()
  const interrupted = yield* Ref.make(false)
  const effect = Effect.zipRight(Deferred.succeed(started, undefined), Effect.never).pipe(
    Effect.onInterrupt(() => Effect.zipRight(Ref.set(interrupted, true), Deferred.succeed(stopped, undefined)))
  )
  return { effect, interrupted, started: Deferred.await(started), stopped: Deferred.await(stopped) } as const
})

/**
 * A barrier through the FIFO dispatcher: a `CondState` condition on `entity` that reports the
 * states it sees. Ordinary conditions run one after another in event order, so once the
 * barrier's state comes back, every ordinary condition of every earlier event has run.
 */
const makeBarrier = (entity: string) =>
  Effect.gen(function*() {
    const seen = yield* Queue.unbounded<ConditionEvent>()
    yield* Ham.condition(entity, CondState, { name: "barrier" }).pipe(Ham.notify(seen))
    let state = 1000
    return Effect.gen(function*() {
      const mine = ++state
      yield* Ham.publishState(entity, mine)
      while (true) {
        const event = yield* Queue.take(seen)
        if (event._tag === "CondState" && event.to === mine) return
      }
    })
  })

// ---------------------------------------------------------------------------------------------
// detach
// ---------------------------------------------------------------------------------------------

describe("Ham.detach", () => {
  it.effect("fires CondDetach, interrupts the fiber without a death, frees the name, leaves a stale handle", () =>
    withHam(Effect.gen(function*() {
      const events = yield* Ham.subscribe
      yield* Ham.attach(Entity.fiber("marker", Effect.never))
      const barrier = yield* makeBarrier("marker")
      const svc = yield* probe
      const e = yield* Ham.attach(Entity.fiber("svc", svc.effect))
      yield* svc.started
      const detached = yield* Queue.unbounded<ConditionEvent>()
      const deaths = yield* Queue.unbounded<ConditionEvent>()
      yield* Ham.condition(e, CondDetach).pipe(Ham.notify(detached))
      yield* Ham.condition(e, CondDeath).pipe(Ham.notify(deaths))

      yield* Ham.detach(e)
      // the fiber was interrupted and awaited by the detach
      expect(yield* Ref.get(svc.interrupted)).toBe(true)
      // the entity's own CondDetach condition ran
      const event = yield* Queue.take(detached)
      expect(event._tag).toBe(CondDetach)
      expect(event.entity).toBe("svc")
      yield* barrier
      const seen = yield* takeUntil(events, is(CondState, "marker"))
      expect(tagsOf(seen, "svc")).toEqual([CondAttach, CondDetach])
      expect(yield* Queue.size(deaths)).toBe(0)
      expect((yield* Ham.snapshot).entities.map((x) => x.name)).toEqual(["marker"])

      // the handle is stale
      expect(yield* failureOf(Ham.entityHandle("svc"))).toMatchObject({ _tag: "EntityNotFound", entity: "svc" })
      expect((yield* failureOf(Ham.condition(e, CondDeath)))._tag).toBe("EntityNotFound")
      expect((yield* failureOf(Ham.detach(e)))._tag).toBe("EntityNotFound")
      expect((yield* failureOf(Ham.publishState(e, 2)))._tag).toBe("EntityNotFound")
      expect((yield* failureOf(Ham.control(e, "disable")))._tag).toBe("EntityNotFound")
      yield* Ham.heartbeat(e) // always succeeds

      // the name is free again: a new entity, without the old one's conditions
      const again = yield* Ham.attach(Entity.fiber("svc", Effect.never))
      expect(again.name).toBe("svc")
      const node = yield* entityNode("svc")
      expect(node.status).toBe("running")
      expect(node.conditions).toEqual([])
      yield* takeUntil(events, is(CondAttach, "svc"))
    })))

  it.effect("detach by name, and Ham.remove on an entity handle, detach too", () =>
    withHam(Effect.gen(function*() {
      const a = yield* probe
      const b = yield* probe
      yield* Ham.attach(Entity.fiber("a", a.effect))
      const hb = yield* Ham.attach(Entity.fiber("b", b.effect))
      yield* a.started
      yield* b.started
      yield* Ham.detach("a")
      yield* Ham.remove(hb)
      expect(yield* Ref.get(a.interrupted)).toBe(true)
      expect(yield* Ref.get(b.interrupted)).toBe(true)
      expect((yield* Ham.snapshot).entities).toEqual([])
      expect((yield* failureOf(Ham.detach("a")))._tag).toBe("EntityNotFound")
    })))

  it.effect("a dead entity can be detached; the global entity cannot", () =>
    withHam(Effect.gen(function*() {
      const events = yield* Ham.subscribe
      yield* Ham.attach(Entity.fiber("short", Effect.void))
      yield* takeUntil(events, is(CondDeath, "short"))
      yield* Ham.detach("short")
      yield* takeUntil(events, is(CondDetach, "short"))
      expect((yield* Ham.snapshot).entities).toEqual([])
      expect((yield* failureOf(Ham.detach(Entity.global)))._tag).toBe("InvalidArgument")
    })))
})

// ---------------------------------------------------------------------------------------------
// handles
// ---------------------------------------------------------------------------------------------

describe("handles", () => {
  it.effect("entity, condition and action handles are found by name", () =>
    withHam(Effect.gen(function*() {
      const q = yield* Queue.unbounded<ConditionEvent>()
      yield* Ham.attach(Entity.fiber("svc", Effect.never))
      const e = yield* Ham.entityHandle("svc")
      expect(e.name).toBe("svc")
      expect(e.isGlobal).toBe(false)
      const c = yield* Ham.condition(e, CondDeath, { name: "onDeath" })
      const a = yield* Ham.addAction(c, Action.notify(q))
      // default names: an action is named after its kind
      expect(a.name).toBe("notify")
      const a2 = yield* Ham.addAction(c, Action.notify(q))
      expect(a2.name).toBe("notify-2")
      expect(yield* Ham.conditionHandle(e, "onDeath")).toEqual(c)
      expect(yield* Ham.conditionHandle("svc", "onDeath")).toEqual(c)
      expect(yield* Ham.actionHandle(c, "notify")).toEqual(a)
      expect(yield* Ham.actionHandle(c, "notify-2")).toEqual(a2)
      // a condition without a name is named after its type
      const unnamed = yield* Ham.condition(e, CondDetach)
      expect(unnamed.name).toBe("detach")
      // the global entity's conditions
      const gc = yield* Ham.condition(Entity.global, CondDeath, { name: "all" })
      expect(yield* Ham.conditionHandle(Entity.global, "all")).toEqual(gc)
    })))

  it.effect(`Ham.entityHandle("*") is the global entity, as Ham.entity("*") is`, () =>
    withHam(Effect.gen(function*() {
      const viaEntity = yield* Ham.entity("*")
      expect(viaEntity.isGlobal).toBe(true)
      const viaHandle = yield* Ham.entityHandle("*")
      expect(viaHandle.isGlobal).toBe(true)
      expect(viaHandle.name).toBe(Entity.global.name)
    })))

  it.effect("unknown names fail with EntityNotFound, ConditionNotFound, ActionNotFound", () =>
    withHam(Effect.gen(function*() {
      const e = yield* Ham.attach(Entity.fiber("svc", Effect.never))
      const c = yield* Ham.condition(e, CondDeath, { name: "onDeath" })
      expect(yield* failureOf(Ham.entityHandle("nope"))).toMatchObject({ _tag: "EntityNotFound", entity: "nope" })
      expect(yield* failureOf(Ham.conditionHandle(e, "nope"))).toMatchObject({
        _tag: "ConditionNotFound",
        entity: "svc",
        condition: "nope"
      })
      expect((yield* failureOf(Ham.conditionHandle("ghost", "onDeath")))._tag).toBe("EntityNotFound")
      expect(yield* failureOf(Ham.actionHandle(c, "nope"))).toMatchObject({
        _tag: "ActionNotFound",
        entity: "svc",
        condition: "onDeath",
        action: "nope"
      })
    })))
})

// ---------------------------------------------------------------------------------------------
// control
// ---------------------------------------------------------------------------------------------

describe("Ham.control", () => {
  it.effect("a disabled entity fires none of its conditions; enabled again, it does", () =>
    withHam(Effect.gen(function*() {
      const events = yield* Ham.subscribe
      yield* Ham.attach(Entity.fiber("marker", Effect.never))
      const barrier = yield* makeBarrier("marker")
      const own = yield* Queue.unbounded<ConditionEvent>()
      const gate = yield* Deferred.make<void>()
      const e = yield* Ham.attach(Entity.fiber("e", Effect.zipRight(Deferred.await(gate), Effect.fail("boom"))))
      yield* Ham.condition(e, CondDeath, { name: "own" }).pipe(Ham.notify(own))
      yield* Ham.condition(e, CondState, { name: "ownState" }).pipe(Ham.notify(own))
      expect(yield* Ham.control(e, "disable")).toEqual({ enabled: false, flags: {} })
      expect(yield* Ham.control(e, "getFlags")).toEqual({ enabled: false, flags: {} })
      yield* Deferred.succeed(gate, undefined)
      yield* takeUntil(events, is(CondDeath, "e"))
      yield* Ham.publishState(e, 4)
      yield* barrier
      expect(yield* Queue.size(own)).toBe(0)
      expect((yield* conditionNode("e", "own")).fired).toBe(0)
      expect((yield* conditionNode("e", "ownState")).fired).toBe(0)
      // the death is still counted
      expect((yield* entityNode("e")).stats.deaths).toBe(1)

      expect(yield* Ham.control(e, "enable")).toEqual({ enabled: true, flags: {} })
      yield* Ham.publishState(e, 5)
      const event = yield* Queue.take(own)
      expect(event._tag === "CondState" && event.to).toBe(5)
    })))

  it.effect("a disabled entity's events fire no global condition either", () =>
    withHam(Effect.gen(function*() {
      yield* Ham.attach(Entity.fiber("marker", Effect.never))
      const barrier = yield* makeBarrier("marker")
      const global = yield* Queue.unbounded<ConditionEvent>()
      const gate = yield* Deferred.make<void>()
      const e = yield* Ham.attach(Entity.fiber("e", Effect.zipRight(Deferred.await(gate), Effect.fail("boom"))))
      yield* Ham.condition(Entity.global, CondDeath, { name: "global" }).pipe(
        Ham.action(Action.effect((event) => event.entity === "e" ? Queue.offer(global, event) : Effect.void))
      )
      const events = yield* Ham.subscribe
      yield* Ham.control(e, "disable")
      yield* Deferred.succeed(gate, undefined)
      yield* takeUntil(events, is(CondDeath, "e"))
      yield* barrier
      expect(yield* Queue.size(global)).toBe(0)
      expect((yield* Ham.snapshot).global.conditions[0].fired).toBe(0)
    })))

  it.effect("a disabled condition never fires; the others of the entity still do", () =>
    withHam(Effect.gen(function*() {
      const q = yield* Queue.unbounded<string>()
      const e = yield* Ham.attach(Entity.fiber("e", Effect.never))
      const c1 = yield* Ham.condition(e, CondState, { name: "c1" }).pipe(Ham.notify(q, "c1"))
      yield* Ham.condition(e, CondState, { name: "c2" }).pipe(Ham.notify(q, "c2"))
      expect((yield* Ham.control(c1, "disable")).enabled).toBe(false)
      yield* Ham.publishState(e, 1)
      expect(yield* Queue.take(q)).toBe("c2")
      expect(yield* Queue.size(q)).toBe(0)
      expect((yield* conditionNode("e", "c1")).fired).toBe(0)
      expect((yield* conditionNode("e", "c1")).enabled).toBe(false)
      yield* Ham.control(c1, "enable")
      yield* Ham.publishState(e, 2)
      expect([yield* Queue.take(q), yield* Queue.take(q)]).toEqual(["c1", "c2"])
    })))

  it.effect("a disabled action is skipped; the rest of its list runs", () =>
    withHam(Effect.gen(function*() {
      const q = yield* Queue.unbounded<string>()
      const e = yield* Ham.attach(Entity.fiber("e", Effect.never))
      const c = yield* Ham.condition(e, CondState, { name: "c" })
      const a1 = yield* Ham.addAction(c, Action.notify(q, "a1").pipe(Action.named("a1")))
      yield* Ham.addAction(c, Action.notify(q, "a2").pipe(Action.named("a2")))
      expect((yield* Ham.control(a1, "disable")).enabled).toBe(false)
      yield* Ham.publishState(e, 1)
      expect(yield* Queue.take(q)).toBe("a2")
      expect(yield* Queue.size(q)).toBe(0)
      const node = yield* conditionNode("e", "c")
      expect(node.actions.map((a) => [a.name, a.enabled, a.runs])).toEqual([["a1", false, 0], ["a2", true, 1]])
      yield* Ham.control(a1, "enable")
      yield* Ham.publishState(e, 2)
      expect([yield* Queue.take(q), yield* Queue.take(q)]).toEqual(["a1", "a2"])
    })))

  it.effect("{ recurse: true } reaches the conditions and actions; without it only the object changes", () =>
    withHam(Effect.gen(function*() {
      const q = yield* Queue.unbounded<string>()
      const done = yield* Queue.unbounded<string>()
      const e = yield* Ham.attach(Entity.fiber("e", Effect.never))
      const c = yield* Ham.condition(e, CondState, { name: "c" })
      const a1 = yield* Ham.addAction(c, Action.notify(q, "a1").pipe(Action.named("a1")))
      const a2 = yield* Ham.addAction(c, Action.notify(q, "a2").pipe(Action.named("a2")))
      yield* Ham.control(e, "disable", { recurse: true })
      expect((yield* Ham.control(c, "getFlags")).enabled).toBe(false)
      expect((yield* Ham.control(a1, "getFlags")).enabled).toBe(false)
      expect((yield* Ham.control(a2, "getFlags")).enabled).toBe(false)

      // enabling the entity alone leaves its condition disabled
      yield* Ham.control(e, "enable")
      yield* Ham.condition(e, CondState, { name: "sentinel" }).pipe(Ham.notify(done, "done"))
      yield* Ham.publishState(e, 1)
      expect(yield* Queue.take(done)).toBe("done")
      expect(yield* Queue.size(q)).toBe(0)

      // enabling the condition alone leaves its actions disabled: it fires, nothing runs
      yield* Ham.control(c, "enable")
      yield* Ham.publishState(e, 2)
      expect(yield* Queue.take(done)).toBe("done")
      expect(yield* Queue.size(q)).toBe(0)
      expect((yield* conditionNode("e", "c")).fired).toBe(1)

      // recursively: everything runs again
      const result = yield* Ham.control(c, "enable", { recurse: true })
      expect(result.enabled).toBe(true)
      yield* Ham.publishState(e, 3)
      expect(yield* Queue.take(done)).toBe("done")
      expect(yield* Queue.takeAll(q).pipe(Effect.map((chunk) => [...chunk]))).toEqual(["a1", "a2"])

      // recursive disable of a condition reaches its actions
      yield* Ham.control(c, "disable", { recurse: true })
      expect((yield* Ham.control(a1, "getFlags")).enabled).toBe(false)
      expect((yield* Ham.control(a2, "getFlags")).enabled).toBe(false)
    })))

  it.effect("flags of conditions and actions are read and set", () =>
    withHam(Effect.gen(function*() {
      const e = yield* Ham.attach(Entity.fiber("e", Effect.never))
      const c = yield* Ham.condition(e, CondState, { name: "c" })
      const a = yield* Ham.addAction(c, Action.log("hi").pipe(Action.named("a")))
      expect(yield* Ham.control(c, "getFlags")).toEqual({
        enabled: true,
        flags: { independent: false, noWait: false, oneShot: false }
      })
      expect(yield* Ham.control(c, { setFlags: { independent: true, oneShot: true } })).toEqual({
        enabled: true,
        flags: { independent: true, noWait: false, oneShot: true }
      })
      expect((yield* Ham.control(c, "getFlags")).flags).toEqual({ independent: true, noWait: false, oneShot: true })
      yield* Ham.control(c, { setFlags: { noWait: true } })
      expect((yield* Ham.control(c, "getFlags")).flags).toEqual({ independent: true, noWait: true, oneShot: true })
      const cn = yield* conditionNode("e", "c")
      expect([cn.independent, cn.noWait, cn.oneShot]).toEqual([true, true, true])

      expect(yield* Ham.control(a, "getFlags")).toEqual({
        enabled: true,
        flags: { breakOnFail: false, removeOnFail: false, oneShot: false }
      })
      const flagsOf = Effect.map(Ham.control(a, "getFlags"), (r) => r.flags)
      yield* Ham.control(a, { setFlags: { breakOnFail: true, removeOnFail: true } })
      expect(yield* flagsOf).toEqual({ breakOnFail: true, removeOnFail: true, oneShot: false })
      yield* Ham.control(a, { setFlags: { removeOnFail: false, oneShot: true } })
      expect(yield* flagsOf).toEqual({ breakOnFail: true, removeOnFail: false, oneShot: true })
      const an = (yield* conditionNode("e", "c")).actions[0]
      expect([an.name, an.breakOnFail, an.removeOnFail, an.oneShot]).toEqual(["a", true, false, true])
    })))

  it.effect("refused flag changes fail with InvalidArgument and change nothing", () =>
    withHam(Effect.gen(function*() {
      const e = yield* Ham.attach(Entity.fiber("e", Effect.never))
      const waiting = yield* Ham.condition(e, CondState, { name: "waiting" }).pipe(Ham.waitfor("1 second"))
      const c = yield* Ham.condition(e, CondDeath, { name: "c", independent: true })
      const a = yield* Ham.addAction(c, Action.log("hi").pipe(Action.named("a")))
      const before = yield* registry

      // noWait on a condition holding a waitfor
      expect((yield* failureOf(Ham.control(waiting, { setFlags: { noWait: true } })))._tag).toBe("InvalidArgument")
      // unknown flags: a valid flag in the same call is not applied either
      expect((yield* failureOf(Ham.control(c, { setFlags: { independent: false, bogus: true } })))._tag).toBe(
        "InvalidArgument"
      )
      expect((yield* failureOf(Ham.control(a, { setFlags: { breakOnFail: true, noWait: true } })))._tag).toBe(
        "InvalidArgument"
      )
      // an entity has no flags to set
      expect((yield* failureOf(Ham.control(e, { setFlags: { oneShot: true } })))._tag).toBe("InvalidArgument")
      // a waitfor cannot join a noWait condition
      const nowait = yield* Ham.condition(e, CondState, { name: "nowait", noWait: true })
      const afterAdd = yield* registry
      expect((yield* failureOf(Ham.addAction(nowait, Action.waitfor("1 second"))))._tag).toBe("InvalidArgument")
      expect(yield* registry).toEqual(afterAdd)

      yield* Ham.remove(nowait)
      expect(yield* registry).toEqual(before)
      expect((yield* Ham.control(waiting, "getFlags")).flags.noWait).toBe(false)
      expect((yield* Ham.control(c, "getFlags")).flags.independent).toBe(true)
      expect((yield* Ham.control(a, "getFlags")).flags.breakOnFail).toBe(false)
    })))
})

// ---------------------------------------------------------------------------------------------
// remove
// ---------------------------------------------------------------------------------------------

describe("Ham.remove", () => {
  it.effect("a removed condition or action is gone from the tree and fires no more", () =>
    withHam(Effect.gen(function*() {
      const q = yield* Queue.unbounded<string>()
      const e = yield* Ham.attach(Entity.fiber("e", Effect.never))
      const c1 = yield* Ham.condition(e, CondState, { name: "c1" }).pipe(Ham.notify(q, "c1"))
      const c2 = yield* Ham.condition(e, CondState, { name: "c2" })
      const a1 = yield* Ham.addAction(c2, Action.notify(q, "c2-a1").pipe(Action.named("a1")))
      yield* Ham.addAction(c2, Action.notify(q, "c2-a2").pipe(Action.named("a2")))
      yield* Ham.publishState(e, 1)
      expect([yield* Queue.take(q), yield* Queue.take(q), yield* Queue.take(q)]).toEqual(["c1", "c2-a1", "c2-a2"])

      yield* Ham.remove(c1)
      let node = yield* entityNode("e")
      expect(node.conditions.map((c) => c.name)).toEqual(["c2"])
      expect((yield* failureOf(Ham.conditionHandle(e, "c1")))._tag).toBe("ConditionNotFound")
      expect((yield* failureOf(Ham.remove(c1)))._tag).toBe("ConditionNotFound")
      expect((yield* failureOf(Ham.addAction(c1, Action.log("x"))))._tag).toBe("ConditionNotFound")

      yield* Ham.remove(a1)
      node = yield* entityNode("e")
      expect(node.conditions[0].actions.map((a) => a.name)).toEqual(["a2"])
      expect((yield* failureOf(Ham.actionHandle(c2, "a1")))._tag).toBe("ActionNotFound")
      expect((yield* failureOf(Ham.remove(a1)))._tag).toBe("ActionNotFound")
      expect((yield* failureOf(Ham.control(a1, "disable")))._tag).toBe("ActionNotFound")

      yield* Ham.publishState(e, 2)
      expect(yield* Queue.take(q)).toBe("c2-a2")
      expect(yield* Queue.size(q)).toBe(0)
      const tree = yield* Ham.snapshot
      expect([tree.numConditions, tree.numActions]).toEqual([1, 1])
    })))

  it.effect("removing a condition removes its actions, and with them its restart", () =>
    withHam(
      Effect.gen(function*() {
        const events = yield* Ham.subscribe
        const gate = yield* Deferred.make<void>()
        const w = yield* Ham.attach(Entity.fiber("w", Effect.zipRight(Deferred.await(gate), Effect.fail("x"))))
        const c = yield* Ham.condition(w, CondDeath).pipe(Ham.restart)
        yield* Ham.remove(c)
        // the entity may hold a new restart now
        yield* Ham.condition(w, CondDeath, { name: "other" })
        yield* Ham.remove(yield* Ham.conditionHandle(w, "other"))
        const barrier = yield* makeBarrier("w")
        yield* Deferred.succeed(gate, undefined)
        yield* takeUntil(events, is(CondDeath, "w"))
        yield* barrier
        const seen = yield* takeUntil(events, is(CondState, "w"))
        expect(tagsOf(seen, "w")).not.toContain(CondRestart)
        const node = yield* entityNode("w")
        expect(node.status).toBe("dead")
        expect(node.stats.restarts).toBe(0)
      }),
      { backoff: false }
    ))
})

// ---------------------------------------------------------------------------------------------
// verbose
// ---------------------------------------------------------------------------------------------

describe("Ham.verbose", () => {
  it.effect("sets the level and returns the previous one", () =>
    withHam(Effect.gen(function*() {
      expect(yield* Ham.verbosity).toBe(1)
      expect(yield* Ham.verbose(3)).toBe(1)
      expect(yield* Ham.verbose(0)).toBe(3)
      expect(yield* Ham.verbosity).toBe(0)
      expect((yield* Ham.snapshot).verbosity).toBe(0)
    })))

  it.effect("starts at the layer's verbosity", () =>
    withHam(
      Effect.gen(function*() {
        expect(yield* Ham.verbose(5)).toBe(2)
      }),
      { verbosity: 2 }
    ))

  it.effect("refuses a negative or non-integer level and keeps the current one", () =>
    withHam(Effect.gen(function*() {
      yield* Ham.verbose(2)
      for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
        expect((yield* failureOf(Ham.verbose(bad)))._tag).toBe("InvalidArgument")
      }
      expect(yield* Ham.verbosity).toBe(2)
    })))
})

// ---------------------------------------------------------------------------------------------
// stop
// ---------------------------------------------------------------------------------------------

describe("Ham.stop", () => {
  it.effect("interrupts every supervised fiber; every later call fails with HamStopped", () =>
    withHam(Effect.gen(function*() {
      const probes = [yield* probe, yield* probe, yield* probe]
      for (const [i, p] of probes.entries()) yield* Ham.attach(Entity.fiber(`e${i}`, p.effect))
      // one with a heartbeat ticker, one placeholder, one self-attached
      const beating = yield* probe
      yield* Ham.attach(Entity.fiber("beating", beating.effect), {
        heartbeat: { interval: "1 second", missedLow: 1, missedHigh: 2 }
      })
      yield* Ham.entity("placeholder")
      const me = yield* Ham.attachSelf("me")
      for (const p of [...probes, beating]) yield* p.started

      yield* Ham.stop
      for (const p of [...probes, beating]) expect(yield* Ref.get(p.interrupted)).toBe(true)

      const refused = [
        yield* failureOf(Ham.attach(Entity.fiber("late", Effect.never))),
        yield* failureOf(Ham.attachSelf("late-self")),
        yield* failureOf(Ham.entity("late-placeholder")),
        yield* failureOf(Ham.condition("e0", CondDeath)),
        yield* failureOf(Ham.condition(Entity.global, CondDeath)),
        yield* failureOf(Ham.publishState("e0", 1)),
        yield* failureOf(Ham.raise("e0", { type: 1, class: 1, severity: 1 })),
        yield* failureOf(Ham.detach("e1")),
        yield* failureOf(Ham.control(me, "disable")),
        yield* failureOf(Ham.verbose(2)),
        yield* failureOf(Ham.remove(me))
      ]
      expect(refused.map((e) => e._tag)).toEqual(Array(refused.length).fill("HamStopped"))
      // stopping twice is fine, and a heartbeat never fails
      yield* Ham.stop
      yield* Ham.heartbeat(me)
      // the heartbeat ticker is gone: time passing fires nothing
      yield* TestClock.adjust("5 seconds")
      expect((yield* entityNode("beating")).stats.missedLow).toBe(0)
    })))

  it.effect("a supervised fiber may stop the HAM itself", () =>
    withHam(Effect.gen(function*() {
      const others = [yield* probe, yield* probe]
      for (const [i, p] of others.entries()) yield* Ham.attach(Entity.fiber(`other${i}`, p.effect))
      for (const p of others) yield* p.started
      const gate = yield* Deferred.make<void>()
      yield* Ham.attach(Entity.fiber("stopper", Effect.zipRight(Deferred.await(gate), Ham.stop)))
      yield* Deferred.succeed(gate, undefined)
      for (const p of others) yield* p.stopped
      expect((yield* failureOf(Ham.verbose(1)))._tag).toBe("HamStopped")
    })))

  it.effect("an action may stop the HAM", () =>
    withHam(Effect.gen(function*() {
      const context = yield* Effect.context<Ham.Ham>()
      const other = yield* probe
      yield* Ham.attach(Entity.fiber("other", other.effect))
      yield* other.started
      const e = yield* Ham.attach(Entity.fiber("e", Effect.never))
      yield* Ham.condition(e, CondState).pipe(Ham.action(Action.effect(Effect.provide(Ham.stop, context))))
      yield* Ham.publishState(e, 1)
      yield* other.stopped
      expect((yield* failureOf(Ham.attach(Entity.fiber("late", Effect.never))))._tag).toBe("HamStopped")
    })))

  it.effect("after a stop, handle look-ups fail with HamStopped too", () =>
    withHam(Effect.gen(function*() {
      const e = yield* Ham.attach(Entity.fiber("e", Effect.never))
      const c = yield* Ham.condition(e, CondDeath, { name: "c" }).pipe(Ham.log("x"))
      yield* Ham.stop
      const refused = [
        yield* failureOf(Ham.entityHandle("e")),
        yield* failureOf(Ham.conditionHandle(e, "c")),
        yield* failureOf(Ham.actionHandle(c, "log"))
      ]
      expect(refused.map((x) => x._tag)).toEqual(["HamStopped", "HamStopped", "HamStopped"])
    })))

  it.effect("closing the layer's scope stops the HAM the same way", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(HamLive, scope)
      const probes = [yield* probe, yield* probe]
      yield* Effect.provide(
        Effect.gen(function*() {
          yield* Ham.attach(Entity.fiber("a", probes[0].effect))
          yield* Ham.attach(Entity.fiber("b", probes[1].effect))
        }),
        context
      )
      for (const p of probes) yield* p.started
      expect(yield* Ref.get(probes[0].interrupted)).toBe(false)
      yield* Scope.close(scope, Exit.void)
      for (const p of probes) expect(yield* Ref.get(p.interrupted)).toBe(true)
      const late = yield* failureOf(Effect.provide(Ham.attach(Entity.fiber("late", Effect.never)), context))
      expect(late._tag).toBe("HamStopped")
    }))
})

// ---------------------------------------------------------------------------------------------
// snapshot
// ---------------------------------------------------------------------------------------------

describe("Ham.snapshot", () => {
  it.effect("shows entity → condition → action with counts, and Tree.render prints the names", () =>
    withHam(Effect.gen(function*() {
      const q = yield* Queue.unbounded<ConditionEvent>()
      const web = yield* Ham.attach(Entity.fiber("web", Effect.never))
      yield* Ham.condition(web, CondDeath, { name: "onDeath" }).pipe(
        Ham.log("web died"),
        Ham.restart
      )
      yield* Ham.condition(web, CondState, { name: "onState" }).pipe(
        Ham.action(Action.notify(q).pipe(Action.named("tellMe")))
      )
      yield* Ham.condition(Entity.global, CondDeath, { name: "anyDeath" }).pipe(Ham.log("something died"))
      yield* Ham.entity("db")

      const tree = yield* Ham.snapshot
      expect(tree.numEntities).toBe(2)
      expect(tree.numConditions).toBe(3)
      expect(tree.numActions).toBe(4)
      expect(tree.entities.map((e) => [e.name, e.kind, e.status])).toEqual([
        ["web", "fiber", "running"],
        ["db", "placeholder", "placeholder"]
      ])
      const node = tree.entities[0]
      expect(node.conditions.map((c) => [c.name, c.type, c.path])).toEqual([
        ["onDeath", "CondDeath", "web/onDeath"],
        ["onState", "CondState", "web/onState"]
      ])
      expect(node.conditions[0].actions.map((a) => [a.name, a.type, a.path])).toEqual([
        ["log", "Log", "web/onDeath/log"],
        ["restart", "Restart", "web/onDeath/restart"]
      ])
      expect(node.conditions[1].actions.map((a) => [a.name, a.type])).toEqual([["tellMe", "Notify"]])
      expect(tree.global.conditions.map((c) => c.name)).toEqual(["anyDeath"])

      const text = Tree.render(tree)
      for (const name of ["web", "db", "onDeath", "onState", "log", "restart", "tellMe", "anyDeath"]) {
        expect(text).toContain(name)
      }
    })))

  it.effect("counts deaths, abnormal deaths, restarts, the state and the last event", () =>
    withHam(
      Effect.gen(function*() {
        const events = yield* Ham.subscribe
        const gate = yield* Deferred.make<void>()
        const lives = yield* Ref.make(0)
        const worker = Effect.gen(function*() {
          const life = yield* Ref.updateAndGet(lives, (n) => n + 1)
          if (life === 1) return yield* Effect.zipRight(Deferred.await(gate), Effect.fail("out of memory"))
          return yield* Effect.never
        })
        const w = yield* Ham.attach(Entity.fiber("worker", worker))
        yield* Ham.condition(w, CondDeath).pipe(Ham.restart)
        let node = yield* entityNode("worker")
        expect(node.stats).toMatchObject({ deaths: 0, abnormalDeaths: 0, restarts: 0, heartbeats: 0 })
        expect(node.state).toBe(0)

        yield* TestClock.adjust("7 seconds")
        yield* Ham.publishState(w, 4)
        const stateEvent = (yield* takeUntil(events, is(CondState, "worker"))).at(-1)!
        expect(stateEvent.time).toBe(7000)
        node = yield* entityNode("worker")
        expect(node.state).toBe(4)
        expect(node.stats.lastEvent).toBe(7000)

        yield* TestClock.adjust("3 seconds")
        yield* Deferred.succeed(gate, undefined)
        const restart = (yield* takeUntil(events, is(CondRestart, "worker"))).at(-1)!
        node = yield* entityNode("worker")
        expect(node.status).toBe("running")
        expect(node.stats).toMatchObject({ deaths: 1, abnormalDeaths: 1, restarts: 1, lastEvent: restart.time })
        expect(restart.time).toBe(10_000)
        expect(node.stats.lastDeath).toContain("out of memory")
        expect(Tree.render(yield* Ham.snapshot)).toContain("deaths 1 (abnormal 1)  restarts 1")
      }),
      { backoff: false }
    ))

  it.effect("counts heartbeats and missed-heartbeat episodes", () =>
    withHam(Effect.gen(function*() {
      const events = yield* Ham.subscribe
      const me = yield* Ham.attachSelf("beater", { heartbeat: { interval: "1 second", missedLow: 1, missedHigh: 2 } })
      yield* Ham.heartbeat(me)
      yield* Ham.heartbeat(me)
      yield* TestClock.adjust("1 second") // a period with beats: no miss
      yield* TestClock.adjust("1 second") // first missed period
      yield* takeUntil(events, is(CondBeatMissedLow, "beater"))
      yield* TestClock.adjust("1 second") // second missed period
      yield* takeUntil(events, is(CondBeatMissedHigh, "beater"))
      const node = yield* entityNode("beater")
      expect(node.stats.heartbeats).toBe(2)
      expect(node.stats.missedLow).toBe(1)
      expect(node.stats.missedHigh).toBe(1)
      expect(node.heartbeat).toMatchObject({ intervalMillis: 1000, missedLow: 1, missedHigh: 2, unhealthy: true })
      expect(Tree.render(yield* Ham.snapshot)).toContain("heartbeats 2 missed low/high 1/1 UNHEALTHY")
    })))
})
