/**
 * The watchdog fiber and the HAM's own fibers watch each other: fault injection kills the
 * dispatcher, the noWait dispatcher or the watchdog with a defect, and every condition event that
 * was published still runs its actions exactly once, in order.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Action, Ham } from "effect-ham"
import { CondState } from "effect-ham/Condition"
import * as Faults from "./faults.js"
import { settle, withHam as withPlainHam } from "./utils.js"

/** a HAM whose own fibers can be made to die (`Faults.inject`) */
const withHam = <A, E, R>(self: Effect.Effect<A, E, R>) => withPlainHam(self).pipe(Effect.provide(Faults.layer))

const injectFault = Faults.inject

/** a condition on "app" whose action records the state of every event it runs on */
const recorder = (
  options?: { readonly noWait?: boolean; readonly faultAt?: number; readonly target?: "dispatcher" | "sideDispatcher" }
) =>
  Effect.gen(function*() {
    const seen: Array<number> = []
    const ham = yield* Ham.Ham
    const injectNow = yield* Faults.injector
    const app = yield* Ham.entity("app")
    yield* Ham.condition(app, CondState, { noWait: options?.noWait === true }).pipe(
      Ham.action(Action.effect((event) =>
        Effect.gen(function*() {
          const to = event._tag === CondState ? event.to : -1
          seen.push(to)
          // a defect in the HAM's own fiber right after this run
          if (to === options?.faultAt) yield* injectNow(options.target ?? "dispatcher")
        }).pipe(Effect.provideService(Ham.Ham, ham))
      ))
    )
    return seen
  })

const publish = (from: number, to: number) =>
  Effect.forEach(Array.from({ length: to - from + 1 }, (_, i) => from + i), (n) => Ham.publishState("app", n), {
    discard: true
  })

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

describe("the watchdog fiber", () => {
  it.effect("the dispatcher killed in the middle of a batch: the rest of the batch runs once, in order", () =>
    withHam(Effect.gen(function*() {
      const seen = yield* recorder({ faultAt: 50 })
      yield* publish(1, 100)
      yield* settle
      expect(seen).toEqual(range(1, 100))
      const tree = yield* Ham.snapshot
      expect(tree).toMatchObject({ hamFailures: 1, watchdogFailures: 0 })
      // and it goes on working
      yield* publish(101, 110)
      yield* settle
      expect(seen).toEqual(range(1, 110))
    })))

  it.effect("the dispatcher killed while it waits for work: nothing published later is lost", () =>
    withHam(Effect.gen(function*() {
      const seen = yield* recorder()
      yield* settle
      yield* injectFault("dispatcher")
      yield* settle
      yield* publish(1, 20)
      yield* settle
      expect(seen).toEqual(range(1, 20))
      expect((yield* Ham.snapshot).hamFailures).toBe(1)
    })))

  it.effect("the noWait dispatcher killed after a run: the others still run once", () =>
    withHam(Effect.gen(function*() {
      const seen = yield* recorder({ noWait: true, faultAt: 3, target: "sideDispatcher" })
      yield* publish(1, 10)
      yield* settle
      expect(seen).toEqual(range(1, 10))
      expect((yield* Ham.snapshot).hamFailures).toBe(1)
    })))

  it.effect("the watchdog killed: the HAM starts a new one, which then replaces a dead dispatcher", () =>
    withHam(Effect.gen(function*() {
      const seen = yield* recorder({ faultAt: 5 })
      yield* settle
      yield* injectFault("watchdog")
      yield* settle
      expect(yield* Ham.snapshot).toMatchObject({ hamFailures: 0, watchdogFailures: 1 })
      yield* publish(1, 10)
      yield* settle
      expect(seen).toEqual(range(1, 10))
      expect(yield* Ham.snapshot).toMatchObject({ hamFailures: 1, watchdogFailures: 1 })
      // twice over
      yield* injectFault("watchdog")
      yield* settle
      yield* injectFault("dispatcher")
      yield* settle
      yield* publish(11, 12)
      yield* settle
      expect(seen).toEqual(range(1, 12))
      expect(yield* Ham.snapshot).toMatchObject({ hamFailures: 2, watchdogFailures: 2 })
    })))

  it.effect("Ham.stop after failures leaves nothing behind and counts no failure of its own", () =>
    withHam(Effect.gen(function*() {
      yield* recorder()
      yield* injectFault("dispatcher")
      yield* settle
      yield* Ham.stop
      const again = yield* Effect.flip(Ham.publishState("app", 1))
      expect(again._tag).toBe("HamStopped")
    })))
})
