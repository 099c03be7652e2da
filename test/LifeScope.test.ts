/**
 * Each life of a fiber entity runs in a scope of its own, closed when that life ends: a resource
 * a life acquires is released before its death is reported, whether the life fails, completes,
 * is killed by a signal action, detached or stopped with the HAM.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Exit, Ref, type Scope } from "effect"
import { Action, Entity, Ham } from "effect-ham"
import { CondDeath } from "effect-ham/Condition"
import * as layered from "../src/internal/lives/context.js"
import { settle, withHam } from "./utils.js"

/** a resource counted open while acquired (no `Effect.scoped`: it takes the Scope of its context) */
const counted = (open: Ref.Ref<number>, opened: Ref.Ref<number>) =>
  Effect.acquireRelease(
    Effect.zipRight(Ref.update(opened, (n) => n + 1), Ref.update(open, (n) => n + 1)),
    () => Ref.update(open, (n) => n - 1)
  )

describe("the scope of a fiber entity's life", () => {
  it.effect("6 restarts of a life that acquires a resource leave one resource open, not 7", () =>
    withHam(Effect.gen(function*() {
      const open = yield* Ref.make(0)
      const opened = yield* Ref.make(0)
      const lives = yield* Ref.make(0)
      // the effect requires Scope: Ham.attach does not ask the caller for one
      const life: Effect.Effect<void, string, Scope.Scope> = Effect.gen(function*() {
        yield* counted(open, opened)
        const n = yield* Ref.updateAndGet(lives, (k) => k + 1)
        if (n <= 6) return yield* Effect.fail(`life ${n} fails`)
        yield* Effect.never
      })
      const seenAtDeath: Array<number> = []
      const worker = yield* Ham.attach(Entity.fiber("worker", life), { backoff: false })
      yield* Ham.condition(worker, CondDeath).pipe(
        Ham.action(Action.effect(Effect.flatMap(Ref.get(open), (n) => Effect.sync(() => seenAtDeath.push(n))))),
        Ham.restart
      )
      yield* settle
      expect(yield* Ref.get(lives)).toBe(7)
      expect(yield* Ref.get(opened)).toBe(7)
      expect(yield* Ref.get(open)).toBe(1)
      // each death was reported once its life's resource was released
      expect(seenAtDeath).toEqual([0, 0, 0, 0, 0, 0])
      expect((yield* Ham.snapshot).entities[0]).toMatchObject({ status: "running", stats: { restarts: 6, deaths: 6 } })
      // the last life is detached: its resource goes too
      yield* Ham.detach(worker)
      expect(yield* Ref.get(open)).toBe(0)
    })))

  it.effect("a life killed by a signal action: its finalizer sees the interruption, before the death is reported", () =>
    withHam(Effect.gen(function*() {
      const exits: Array<string> = []
      const open = yield* Ref.make(0)
      const life = Effect.zipRight(
        Effect.acquireRelease(Ref.update(open, (n) => n + 1), (_, exit) =>
          Effect.zipRight(
            Ref.update(open, (n) => n - 1),
            Effect.sync(() => exits.push(Exit.isInterrupted(exit) ? "interrupted" : "other"))
          )),
        Effect.never
      )
      const seenAtDeath: Array<number> = []
      const worker = yield* Ham.attach(Entity.fiber("worker", life), { backoff: false })
      yield* Ham.condition(worker, CondDeath).pipe(
        Ham.action(Action.effect(Effect.flatMap(Ref.get(open), (n) => Effect.sync(() => seenAtDeath.push(n))))),
        Ham.restart
      )
      yield* Ham.conditionRaise(worker, { type: 9 }).pipe(Ham.signal("SIGTERM"))
      yield* settle
      expect(yield* Ref.get(open)).toBe(1)
      yield* Ham.raise(worker, { type: 9, class: 0, severity: 0 })
      yield* settle
      expect(exits).toEqual(["interrupted"])
      expect(seenAtDeath).toEqual([0])
      // the next life holds its own
      expect(yield* Ref.get(open)).toBe(1)
      const node = (yield* Ham.snapshot).entities[0]
      expect(node).toMatchObject({ status: "running", stats: { restarts: 1, abnormalDeaths: 1 } })
      expect(node.stats.lastDeath).toBe("killed by SIGTERM")
    })))

  it.effect("a detached entity's life releases its resource; so does each life when the HAM stops", () =>
    withHam(Effect.gen(function*() {
      const open = yield* Ref.make(0)
      const opened = yield* Ref.make(0)
      const life = Effect.zipRight(counted(open, opened), Effect.never)
      const a = yield* Ham.attach(Entity.fiber("a", life))
      yield* Ham.attach(Entity.fiber("b", life))
      yield* Ham.attach(Entity.fiber("c", life))
      yield* settle
      expect(yield* Ref.get(open)).toBe(3)
      yield* Ham.detach(a)
      expect(yield* Ref.get(open)).toBe(2)
      yield* Ham.stop
      expect(yield* Ref.get(open)).toBe(0)
      expect(yield* Ref.get(opened)).toBe(3)
    })))

  it.effect("a fiber a life forks shares the life's scope", () =>
    withHam(Effect.gen(function*() {
      const open = yield* Ref.make(0)
      const opened = yield* Ref.make(0)
      const life = Effect.gen(function*() {
        yield* Effect.fork(Effect.zipRight(counted(open, opened), Effect.never))
        yield* Effect.forkScoped(Effect.zipRight(counted(open, opened), Effect.never))
        return yield* Effect.never
      })
      const worker = yield* Ham.attach(Entity.fiber("worker", life))
      yield* settle
      expect(yield* Ref.get(open)).toBe(2)
      yield* Ham.detach(worker)
      yield* settle
      expect(yield* Ref.get(open)).toBe(0)
    })))
})

describe("a context that is another context plus one service", () => {
  class A extends Context.Tag("A")<A, number>() {}
  class B extends Context.Tag("B")<B, string>() {}
  class C extends Context.Tag("C")<C, boolean>() {}

  it("reads, adds, merges and compares as the context Context.add would make", () => {
    const base = Context.make(A, 1).pipe(Context.add(B, "b"))
    const ours = layered.add(base, C, true)
    const theirs = Context.add(base, C, true)
    expect(Context.get(ours, A)).toBe(1)
    expect(Context.get(ours, C)).toBe(true)
    expect(Context.getOption(ours, B)).toEqual(Context.getOption(theirs, B))
    expect(ours.unsafeMap.size).toBe(3)
    expect([...ours.unsafeMap.keys()].sort()).toEqual(["A", "B", "C"])
    // a service of the base replaced
    const replaced = layered.add(base, A, 2)
    expect(Context.get(replaced, A)).toBe(2)
    expect(replaced.unsafeMap.size).toBe(2)
    expect([...Context.add(replaced, C, false).unsafeMap.entries()].sort()).toEqual([["A", 2], ["B", "b"], [
      "C",
      false
    ]])
    expect(Context.get(Context.merge(ours, Context.make(A, 5)), A)).toBe(5)
    expect(Context.get(Context.merge(Context.make(A, 5), ours), A)).toBe(1)
    const omitted = Context.omit(C)(ours)
    expect(Context.getOption(omitted, C)._tag).toBe("None")
    expect(Context.get(omitted, B)).toBe("b")
  })

  it.effect("an effect run with it finds every service", () =>
    Effect.gen(function*() {
      const context = layered.add(Context.make(A, 1).pipe(Context.add(B, "b")), C, true)
      const read = Effect.all([A, B, C]).pipe(Effect.provide(context))
      expect(yield* read).toEqual([1, "b", true])
    }))
})
