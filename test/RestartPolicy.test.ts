import { describe, expect, it } from "@effect/vitest"
import { Chunk, Clock, Duration, Effect, Metric, Queue, Ref, Schedule, TestClock } from "effect"
import { Action, Entity, Ham, HamMetrics } from "effect-ham"
import * as Condition from "effect-ham/Condition"
import type { ConditionEvent } from "effect-ham/Condition"
import { CondAbnormalDeath, CondDeath, CondRaise, CondRestart } from "effect-ham/Condition"
import { actionNode, at, drain, entityNode, settle, withHam } from "./utils.js"

/** an entity effect that counts its lives in `runs`, then behaves as `life(n)` says */
const counted = <A, E>(runs: Ref.Ref<number>, life: (n: number) => Effect.Effect<A, E>) =>
  Effect.flatMap(Ref.updateAndGet(runs, (n) => n + 1), life)

/**
 * Subscribes to the events, then attaches a "crash" entity whose every death restarts it; its
 * lives run `life(n)` and are counted in `runs`.
 */
const restartedCrash = <A, E>(life: (n: number) => Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const runs = yield* Ref.make(0)
    const events = yield* Ham.subscribe
    const crash = yield* Ham.entity("crash")
    yield* Ham.condition(crash, CondDeath).pipe(Ham.restart)
    yield* Ham.attach(Entity.fiber("crash", counted(runs, life)))
    return { runs, events } as const
  })

/** a life that stays up for `duration`, then fails */
const failAfter = (duration: Duration.DurationInput) => Effect.zipRight(Effect.sleep(duration), Effect.fail("late"))

/** the times (Clock millis) of the events of this type delivered so far */
const timesOf = (events: Queue.Dequeue<ConditionEvent>, tag: ConditionEvent["_tag"]) =>
  Effect.map(
    Queue.takeAll(events),
    (chunk) => Chunk.toReadonlyArray(chunk).filter((e) => e._tag === tag).map((e) => e.time)
  )

const gaveUpFilter = { type: Condition.RaiseTypeHam, class: Condition.RaiseClassRestartGaveUp }

/** an action that records the clock time it ran at */
const mark = (log: Queue.Queue<readonly [string, number]>, label: string) =>
  Action.effect(Effect.flatMap(Clock.currentTimeMillis, (t) => Queue.offer(log, [label, t] as const)), { label })

/** at most 3 restarts within 10 s, no back-off */
const threeIn10s: Ham.HamOptions = { restartIntensity: { maxRestarts: 3, within: "10 seconds" }, backoff: false }

describe("restart intensity", () => {
  it.effect("an entity that always fails is restarted maxRestarts times, then the HAM gives up", () =>
    Effect.gen(function*() {
      const runs = yield* Ref.make(0)
      const raised = yield* Queue.unbounded<ConditionEvent>()
      const alternate = yield* Queue.unbounded<ConditionEvent>()
      // conditions first (on the placeholder), so that the first death cannot be missed
      const crash = yield* Ham.entity("crash")
      yield* Ham.condition(crash, CondDeath).pipe(
        Ham.action(Action.restart.pipe(Action.orElse(Action.effect((event) => Queue.offer(alternate, event)))))
      )
      yield* Ham.conditionRaise(crash, gaveUpFilter).pipe(Ham.notify(raised))
      yield* Ham.attach(Entity.fiber("crash", counted(runs, () => Effect.fail("boom"))))
      // no back-off: every restart happens at once, no time passes
      const raise = yield* Queue.take(raised)
      expect(raise).toMatchObject({
        _tag: CondRaise,
        entity: "crash",
        type: Condition.RaiseTypeHam,
        class: Condition.RaiseClassRestartGaveUp,
        severity: Condition.RaiseSeverityCritical
      })
      yield* settle
      // the alternate of the restart ran, once, with the death event that could not be recovered
      const alternates = yield* drain(alternate)
      expect(alternates.map((e) => e._tag)).toEqual([CondDeath])
      const node = yield* entityNode("crash")
      expect(node.status).toBe("gaveUp")
      expect(node.stats.restarts).toBe(3)
      expect(yield* Ref.get(runs)).toBe(4)
      const restart = node.conditions[0].actions[0]
      expect(restart.type).toBe("Restart")
      expect(restart.failures).toBe(1)
      expect(restart.runs).toBe(4)
      // the typed error, in the raise's detail and as the action's last failure
      const error = new Ham.RestartIntensityExceeded({
        entity: "crash",
        reason: "intensity",
        restarts: 3,
        withinMillis: 10_000
      })
      expect(error.message).toBe(`entity "crash" already restarted 3 times within 10000 ms: giving up`)
      expect(raise).toMatchObject({ detail: error.message })
      expect(restart.lastFailure).toBe(error.message)
      // and it stays down
      yield* at(120_000)
      expect(yield* Ref.get(runs)).toBe(4)
      expect((yield* entityNode("crash")).status).toBe("gaveUp")
    }).pipe(withHam(threeIn10s)))

  it.effect("events come in causal order: each life is announced (attach, restart) before its death", () =>
    Effect.gen(function*() {
      const events = yield* Ham.subscribe
      const crash = yield* Ham.entity("crash")
      yield* Ham.condition(crash, CondDeath).pipe(Ham.restart)
      yield* Ham.attach(Entity.fiber("crash", Effect.fail("boom")))
      const seen: Array<string> = []
      while (seen.at(-1) !== CondRaise) {
        const event = yield* Queue.take(events)
        seen.push(event._tag === CondRestart ? `${event._tag}#${event.restarts}` : event._tag)
      }
      const death = [CondAbnormalDeath, CondDeath]
      expect(seen).toEqual([
        "CondAttach",
        ...death,
        "CondRestart#1",
        ...death,
        "CondRestart#2",
        ...death,
        "CondRestart#3",
        ...death,
        CondRaise
      ])
    }).pipe(withHam(threeIn10s)))

  it.effect("gives up at the exact death that exceeds the window (deaths 3 s apart)", () =>
    Effect.gen(function*() {
      const { events, runs } = yield* restartedCrash(() =>
        Effect.zipRight(Effect.sleep("3 seconds"), Effect.fail("boom"))
      )
      // deaths at 3, 6, 9: restarts; death at 12 s: the restarts at 3, 6, 9, 12 are 4 within 10 s
      for (const t of [3_000, 6_000, 9_000]) {
        yield* at(t - 1)
        expect(yield* timesOf(events, CondRestart)).toEqual([])
        yield* at(t)
        expect(yield* timesOf(events, CondRestart)).toEqual([t])
      }
      yield* at(12_000)
      const last = Chunk.toReadonlyArray(yield* Queue.takeAll(events))
      expect(last.filter((e) => e._tag === CondRestart)).toEqual([])
      expect(last.filter((e) => e._tag === CondRaise).map((e) => e.time)).toEqual([12_000])
      expect((yield* entityNode("crash")).status).toBe("gaveUp")
      expect(yield* Ref.get(runs)).toBe(4)
    }).pipe(withHam(threeIn10s)))

  it.effect("deaths spaced beyond the window never exhaust the intensity", () =>
    Effect.gen(function*() {
      const runs = yield* Ref.make(0)
      const events = yield* Ham.subscribe
      const raised = yield* Queue.unbounded<ConditionEvent>()
      const crash = yield* Ham.entity("crash")
      yield* Ham.condition(crash, CondDeath).pipe(Ham.restart)
      yield* Ham.conditionRaise(crash, gaveUpFilter).pipe(Ham.notify(raised))
      yield* Ham.attach(
        Entity.fiber("crash", counted(runs, () => Effect.zipRight(Effect.sleep("6 seconds"), Effect.fail("boom"))))
      )
      for (let k = 1; k <= 12; k++) {
        yield* at(6_000 * k - 1)
        expect(yield* timesOf(events, CondRestart)).toEqual([])
        yield* at(6_000 * k)
        expect(yield* timesOf(events, CondRestart)).toEqual([6_000 * k])
      }
      expect(yield* Queue.size(raised)).toBe(0)
      const node = yield* entityNode("crash")
      expect(node.status).toBe("running")
      expect(node.stats.restarts).toBe(12)
      expect(node.stats.deaths).toBe(12)
      expect(node.stats.abnormalDeaths).toBe(12)
      expect(yield* Ref.get(runs)).toBe(13)
    }).pipe(withHam(threeIn10s)))

  it.effect("a restart exactly `within` after the oldest one still counted does not give up", () =>
    Effect.gen(function*() {
      const { events } = yield* restartedCrash(() => Effect.zipRight(Effect.sleep("5 seconds"), Effect.fail("boom")))
      // restarts at 5, 10, 15, 20 s: at each, the one 10 s before has just left the window
      for (const t of [5_000, 10_000, 15_000, 20_000, 25_000]) {
        yield* at(t)
        expect(yield* timesOf(events, CondRestart)).toEqual([t])
      }
      expect((yield* entityNode("crash")).status).toBe("running")
    }).pipe(withHam({ restartIntensity: { maxRestarts: 2, within: "10 seconds" }, backoff: false })))

  it.effect("a per-entity restartIntensity and backoff override the HAM's defaults", () =>
    Effect.gen(function*() {
      const strictRuns = yield* Ref.make(0)
      const defaultRuns = yield* Ref.make(0)
      const raised = yield* Queue.unbounded<ConditionEvent>()
      const strict = yield* Ham.entity("strict")
      const lax = yield* Ham.entity("lax")
      yield* Ham.condition(strict, CondDeath).pipe(Ham.restart)
      yield* Ham.condition(lax, CondDeath).pipe(Ham.restart)
      yield* Ham.conditionRaise(strict, gaveUpFilter).pipe(Ham.notify(raised))
      yield* Ham.attach(Entity.fiber("strict", counted(strictRuns, () => Effect.fail("boom"))), {
        restartIntensity: { maxRestarts: 1, within: "1 minute" },
        backoff: false
      })
      // strict: no back-off, one restart at 0 ms, then gives up, all without time passing
      expect(yield* Queue.take(raised)).toMatchObject({ entity: "strict", time: 0 })
      expect(yield* Ref.get(strictRuns)).toBe(2)
      expect((yield* entityNode("strict")).status).toBe("gaveUp")
      yield* Ham.attach(Entity.fiber("lax", counted(defaultRuns, () => Effect.fail("boom"))))
      yield* settle
      // lax keeps the HAM's default back-off: nothing restarted before 100 ms
      expect(yield* Ref.get(defaultRuns)).toBe(1)
      expect((yield* entityNode("lax")).status).toBe("restarting")
      yield* at(100)
      expect(yield* Ref.get(defaultRuns)).toBe(2)
    }).pipe(withHam()))

  it.effect("a per-entity backoff schedule applies when the HAM has none", () =>
    Effect.gen(function*() {
      const runs = yield* Ref.make(0)
      const events = yield* Ham.subscribe
      const e = yield* Ham.entity("e")
      yield* Ham.condition(e, CondDeath).pipe(Ham.restart)
      yield* Ham.attach(Entity.fiber("e", counted(runs, () => Effect.fail("boom"))), {
        backoff: Schedule.spaced("2 seconds")
      })
      yield* at(1_999)
      expect(yield* Ref.get(runs)).toBe(1)
      yield* at(2_000)
      expect(yield* timesOf(events, CondRestart)).toEqual([2_000])
      expect(yield* Ref.get(runs)).toBe(2)
    }).pipe(withHam({ backoff: false })))

  describe("invalid policies fail with InvalidArgument", () => {
    const badIntensities: ReadonlyArray<Ham.RestartIntensityOptions> = [
      { maxRestarts: -1 },
      { maxRestarts: 1.5 },
      { maxRestarts: NaN },
      { within: 0 },
      { within: "0 seconds" }
    ]
    for (const restartIntensity of badIntensities) {
      it.effect(`attach with restartIntensity ${JSON.stringify(restartIntensity)}`, () =>
        Effect.gen(function*() {
          const error = yield* Effect.flip(Ham.attach(Entity.fiber("e", Effect.never), { restartIntensity }))
          expect(error._tag).toBe("InvalidArgument")
          expect((yield* Ham.snapshot).entities).toEqual([])
        }).pipe(withHam()))
      it.effect(`layer with restartIntensity ${JSON.stringify(restartIntensity)}`, () =>
        Effect.gen(function*() {
          const error = yield* Effect.flip(Effect.provide(Ham.snapshot, Ham.layer({ restartIntensity })))
          expect(error._tag).toBe("InvalidArgument")
        }))
    }
  })
})

describe("a restart that comes first: decided when the death is reported", () => {
  /** the entity's status, as the tree shows it */
  const statusOf = (name: string) => Effect.map(entityNode(name), (node) => node.status)
  /** an action that records the entity's status when it runs */
  const status = (log: Queue.Queue<string>, name: string, label: string) =>
    Effect.map(Ham.Ham, (ham) =>
      Action.effect(
        Effect.flatMap(Effect.provideService(statusOf(name), Ham.Ham, ham), (s) => Queue.offer(log, `${label}: ${s}`)),
        { label }
      ))

  it.effect("the restart is made at once; the rest of its list runs after it, in order; events in order", () =>
    Effect.gen(function*() {
      const events = yield* Ham.subscribe
      const log = yield* Queue.unbounded<string>()
      const runs = yield* Ref.make(0)
      yield* Ham.entity("w")
      yield* Ham.condition("w", CondDeath, { name: "death" }).pipe(
        Ham.restart,
        Ham.action(yield* status(log, "w", "after"))
      )
      yield* Ham.attach(Entity.fiber("w", counted(runs, (n) => (n === 1 ? Effect.fail("boom") : Effect.never))))
      yield* settle
      expect(yield* Ref.get(runs)).toBe(2)
      expect(yield* drain(log)).toEqual(["after: running"])
      const tags = (yield* drain(events)).map((e) => e._tag)
      expect(tags).toEqual(["CondAttach", "CondAbnormalDeath", "CondDeath", "CondRestart"])
      expect((yield* actionNode("w", "death", "restart")).runs).toBe(1)
    }).pipe(withHam({ backoff: false })))

  it.effect("a restart alone in its list: counted once per death", () =>
    Effect.gen(function*() {
      const before = yield* Metric.value(Metric.tagged(HamMetrics.actionDuration, "action", "Restart"))
      const runs = yield* Ref.make(0)
      yield* Ham.entity("w")
      yield* Ham.condition("w", CondDeath, { name: "death" }).pipe(Ham.restart)
      yield* Ham.attach(Entity.fiber("w", counted(runs, (n) => (n <= 3 ? Effect.fail("boom") : Effect.never))))
      yield* settle
      expect(yield* Ref.get(runs)).toBe(4)
      expect((yield* actionNode("w", "death", "restart")).runs).toBe(3)
      expect((yield* entityNode("w")).stats.restarts).toBe(3)
      // and timed as an action (the metrics are on by default)
      const timed = yield* Metric.value(Metric.tagged(HamMetrics.actionDuration, "action", "Restart"))
      expect(timed.count - before.count).toBe(3)
    }).pipe(withHam({ backoff: false })))

  it.effect("a condition that comes before the restart runs first: the restart waits for its whole list", () =>
    Effect.gen(function*() {
      const log = yield* Queue.unbounded<string>()
      const runs = yield* Ref.make(0)
      yield* Ham.entity("w")
      // CondAbnormalDeath comes before CondDeath: its list runs first, and takes 2 s
      yield* Ham.condition("w", CondAbnormalDeath).pipe(
        Ham.action(yield* status(log, "w", "cleanup")),
        Ham.action(Action.waitfor("2 seconds"))
      )
      yield* Ham.condition("w", CondDeath).pipe(Ham.restart)
      yield* Ham.attach(Entity.fiber("w", counted(runs, (n) => (n === 1 ? Effect.fail("boom") : Effect.never))))
      yield* settle
      expect(yield* drain(log)).toEqual(["cleanup: dead"])
      expect(yield* Ref.get(runs)).toBe(1)
      yield* TestClock.adjust("2 seconds")
      yield* settle
      expect(yield* Ref.get(runs)).toBe(2)
    }).pipe(withHam({ backoff: false })))

  it.effect("a global condition that comes before the restart runs first too", () =>
    Effect.gen(function*() {
      const log = yield* Queue.unbounded<string>()
      yield* Ham.condition(Entity.global, CondAbnormalDeath).pipe(Ham.action(yield* status(log, "w", "global")))
      yield* Ham.entity("w")
      yield* Ham.condition("w", CondDeath).pipe(Ham.restart)
      const runs = yield* Ref.make(0)
      yield* Ham.attach(Entity.fiber("w", counted(runs, (n) => (n === 1 ? Effect.fail("boom") : Effect.never))))
      yield* settle
      expect(yield* drain(log)).toEqual(["global: dead"])
      expect(yield* Ref.get(runs)).toBe(2)
    }).pipe(withHam({ backoff: false })))

  it.effect("a one-shot action after the restart still runs, once (it is taken away by the restart after its list)", () =>
    Effect.gen(function*() {
      const log = yield* Queue.unbounded<string>()
      const runs = yield* Ref.make(0)
      yield* Ham.entity("w")
      yield* Ham.condition("w", CondDeath).pipe(
        Ham.restart,
        Ham.action((yield* status(log, "w", "once")).pipe(Action.withOptions({ oneShot: true })))
      )
      yield* Ham.attach(Entity.fiber("w", counted(runs, (n) => (n <= 2 ? Effect.fail("boom") : Effect.never))))
      yield* settle
      expect(yield* Ref.get(runs)).toBe(3)
      expect(yield* drain(log)).toEqual(["once: running"])
    }).pipe(withHam({ backoff: false })))

  it.effect("a life that dies at once, thousands of times: restarted every time, no stack overflow", () =>
    Effect.gen(function*() {
      const runs = yield* Ref.make(0)
      yield* Ham.entity("w")
      yield* Ham.condition("w", CondDeath).pipe(Ham.restart)
      yield* Ham.attach(Entity.fiber("w", counted(runs, (n) => (n <= 5000 ? Effect.fail("boom") : Effect.never))))
      for (let i = 0; i < 100_000 && (yield* Ref.get(runs)) <= 5000; i++) yield* Effect.yieldNow()
      expect(yield* Ref.get(runs)).toBe(5001)
      expect((yield* entityNode("w")).stats.restarts).toBe(5000)
    }).pipe(withHam({ backoff: false, restartIntensity: { maxRestarts: Infinity } })))
})

describe("back-off", () => {
  it.effect("default back-off: an entity that fails at once restarts after 100 ms, then 200 ms, then 400 ms", () =>
    Effect.gen(function*() {
      const { events, runs } = yield* restartedCrash(() => Effect.fail("boom"))
      yield* settle
      expect(yield* Ref.get(runs)).toBe(1)
      // restarts at 100, 300 (= 100 + 200), 700 (= 300 + 400), 1500 (= 700 + 800)
      let lives = 1
      for (const t of [100, 300, 700, 1_500]) {
        yield* at(t - 1)
        expect(yield* timesOf(events, CondRestart)).toEqual([])
        expect(yield* Ref.get(runs)).toBe(lives)
        expect((yield* entityNode("crash")).status).toBe("restarting")
        yield* at(t)
        lives++
        expect(yield* timesOf(events, CondRestart)).toEqual([t])
        expect(yield* Ref.get(runs)).toBe(lives)
      }
      expect((yield* entityNode("crash")).stats.restarts).toBe(4)
    }).pipe(withHam()))

  it.effect("default back-off is capped at 10 seconds", () =>
    Effect.gen(function*() {
      const events = yield* Ham.subscribe
      const crash = yield* Ham.entity("crash")
      yield* Ham.condition(crash, CondDeath).pipe(Ham.restart)
      yield* Ham.attach(Entity.fiber("crash", Effect.fail("boom")))
      // delays 100, 200, ..., 6 400, then 10 000 (not 12 800), 10 000
      const expected = [100, 300, 700, 1_500, 3_100, 6_300, 12_700, 22_700, 32_700]
      const seen: Array<number> = []
      for (const t of expected) {
        yield* at(t - 1)
        seen.push(...(yield* timesOf(events, CondRestart)))
        yield* at(t)
        seen.push(...(yield* timesOf(events, CondRestart)))
      }
      expect(seen).toEqual(expected)
    }).pipe(withHam({ restartIntensity: { maxRestarts: 100, within: "1 minute" } })))

  it.effect("a custom back-off schedule: Schedule.spaced(5 seconds)", () =>
    Effect.gen(function*() {
      const { events, runs } = yield* restartedCrash(() => Effect.fail("boom"))
      for (const [t, lives] of [[5_000, 2], [10_000, 3], [15_000, 4]] as const) {
        yield* at(t - 1)
        expect(yield* Ref.get(runs)).toBe(lives - 1)
        yield* at(t)
        expect(yield* timesOf(events, CondRestart)).toEqual([t])
        expect(yield* Ref.get(runs)).toBe(lives)
      }
    }).pipe(withHam({ backoff: Schedule.spaced("5 seconds") })))

  it.effect("an entity up longer than backoffResetAfter restarts at once, then back-off starts afresh", () =>
    Effect.gen(function*() {
      // life 1 fails at once; life 2 runs 11 s then fails; later lives fail at once
      const { events, runs } = yield* restartedCrash((n) => n === 2 ? failAfter("11 seconds") : Effect.fail("boom"))
      yield* at(99)
      expect(yield* timesOf(events, CondRestart)).toEqual([])
      yield* at(100)
      expect(yield* timesOf(events, CondRestart)).toEqual([100])
      // life 2 dies at 11.1 s after 11 s up: restarted at once, not after 200 ms
      yield* at(11_099)
      expect(yield* Ref.get(runs)).toBe(2)
      yield* at(11_100)
      expect(yield* timesOf(events, CondRestart)).toEqual([11_100])
      expect(yield* Ref.get(runs)).toBe(3)
      // life 3 fails at once: the back-off starts again from 100 ms
      yield* at(11_199)
      expect(yield* timesOf(events, CondRestart)).toEqual([])
      yield* at(11_200)
      expect(yield* timesOf(events, CondRestart)).toEqual([11_200])
      yield* at(11_399)
      expect(yield* timesOf(events, CondRestart)).toEqual([])
      yield* at(11_400)
      expect(yield* timesOf(events, CondRestart)).toEqual([11_400])
    }).pipe(withHam()))

  it.effect("a shorter backoffResetAfter resets sooner", () =>
    Effect.gen(function*() {
      // life 1 fails at once, life 2 stays up 2 s, later lives fail at once
      const { events } = yield* restartedCrash((n) => n === 2 ? failAfter("2 seconds") : Effect.fail("boom"))
      yield* at(100)
      expect(yield* timesOf(events, CondRestart)).toEqual([100])
      yield* at(2_100)
      expect(yield* timesOf(events, CondRestart)).toEqual([2_100])
    }).pipe(withHam({ backoffResetAfter: "1 second" })))

  it.effect("a back-off wait delays the rest of its own list, not the conditions of other entities", () =>
    Effect.gen(function*() {
      const log = yield* Queue.unbounded<readonly [string, number]>()
      const crash = yield* Ham.entity("crash")
      yield* Ham.condition(crash, CondDeath).pipe(Ham.restart, Ham.action(mark(log, "after restart")))
      const other = yield* Ham.attach(Entity.fiber("other", Effect.never))
      yield* Ham.condition(other, CondRaise).pipe(Ham.action(mark(log, "other raised")))
      yield* Ham.attach(Entity.fiber("crash", Effect.zipRight(Effect.sleep("1 second"), Effect.fail("boom"))))
      // crash dies at 1 s; its restart waits 5 s (until 6 s)
      yield* at(2_000)
      yield* Ham.raise(other, { type: 1, class: 1, severity: 1 })
      yield* settle
      expect(yield* drain(log)).toEqual([["other raised", 2_000]])
      yield* at(5_999)
      expect(yield* drain(log)).toEqual([])
      yield* at(6_000)
      expect(yield* drain(log)).toEqual([["after restart", 6_000]])
    }).pipe(withHam({ backoff: Schedule.spaced("5 seconds") })))

  it.effect("a back-off schedule that ends makes the HAM give up", () =>
    Effect.gen(function*() {
      const runs = yield* Ref.make(0)
      const events = yield* Ham.subscribe
      const alternate = yield* Queue.unbounded<readonly [string, number]>()
      const crash = yield* Ham.entity("crash")
      yield* Ham.condition(crash, CondDeath).pipe(
        Ham.action(Action.restart.pipe(Action.orElse(mark(alternate, "gave up"))))
      )
      yield* Ham.attach(Entity.fiber("crash", counted(runs, () => Effect.fail("boom"))))
      // two restarts, 1 s apart, then the schedule is done
      yield* at(1_000)
      expect(yield* timesOf(events, CondRestart)).toEqual([1_000])
      yield* at(2_000)
      const last = Chunk.toReadonlyArray(yield* Queue.takeAll(events))
      expect(last.filter((e) => e._tag === CondRestart).map((e) => e.time)).toEqual([2_000])
      const raises = last.filter((e) => e._tag === CondRaise)
      expect(raises).toHaveLength(1)
      expect(raises[0]).toMatchObject({
        entity: "crash",
        time: 2_000,
        type: Condition.RaiseTypeHam,
        class: Condition.RaiseClassRestartGaveUp
      })
      expect(yield* drain(alternate)).toEqual([["gave up", 2_000]])
      yield* at(60_000)
      expect(yield* Ref.get(runs)).toBe(3)
      const node = yield* entityNode("crash")
      expect(node.status).toBe("gaveUp")
      expect(node.stats.restarts).toBe(2)
    }).pipe(withHam({ backoff: Schedule.intersect(Schedule.spaced("1 second"), Schedule.recurs(2)) })))

  it.effect("Schedule.recurs(2) alone: two immediate restarts, then give up", () =>
    Effect.gen(function*() {
      const runs = yield* Ref.make(0)
      const raised = yield* Queue.unbounded<ConditionEvent>()
      yield* Ham.conditionRaise(yield* Ham.entity("crash"), gaveUpFilter).pipe(Ham.notify(raised))
      yield* Ham.condition("crash", CondAbnormalDeath).pipe(Ham.restart)
      yield* Ham.attach(Entity.fiber("crash", counted(runs, () => Effect.fail("boom"))))
      expect(yield* Queue.take(raised)).toMatchObject({ entity: "crash", time: 0 })
      expect(yield* Ref.get(runs)).toBe(3)
      expect((yield* entityNode("crash")).status).toBe("gaveUp")
    }).pipe(withHam({ backoff: Schedule.recurs(2) })))
})

describe("waitfor", () => {
  /**
   * An "app" entity whose raise condition waits for the entity "db" (at most 2 s, alternate
   * "alternate"), then runs "after"; raises it once and returns the log of [label, time].
   */
  const raiseWaitingForDb = Effect.gen(function*() {
    const log = yield* Queue.unbounded<readonly [string, number]>()
    const app = yield* Ham.attach(Entity.fiber("app", Effect.never))
    yield* Ham.condition(app, CondRaise).pipe(
      Ham.action(Action.waitfor({ entity: "db", timeout: "2 seconds" }).pipe(Action.orElse(mark(log, "alternate")))),
      Ham.action(mark(log, "after"))
    )
    yield* Ham.raise(app, { type: 1, class: 1, severity: 1 })
    return log
  })

  it.effect("waitfor a duration: the next action runs exactly 3 s later", () =>
    Effect.gen(function*() {
      const log = yield* Queue.unbounded<readonly [string, number]>()
      const app = yield* Ham.attach(Entity.fiber("app", Effect.never))
      yield* Ham.condition(app, CondRaise).pipe(Ham.waitfor("3 seconds"), Ham.action(mark(log, "after")))
      yield* Ham.raise(app, { type: 1, class: 1, severity: 1 })
      yield* at(2_999)
      expect(yield* drain(log)).toEqual([])
      yield* at(3_000)
      expect(yield* drain(log)).toEqual([["after", 3_000]])
    }).pipe(withHam()))

  it.effect("waitfor a duration with notify: notified at exactly 3 s", () =>
    Effect.gen(function*() {
      const notified = yield* Queue.unbounded<ConditionEvent>()
      const app = yield* Ham.attach(Entity.fiber("app", Effect.never))
      yield* at(500)
      yield* Ham.condition(app, CondRaise).pipe(Ham.waitfor("3 seconds"), Ham.notify(notified))
      yield* Ham.raise(app, { type: 1, class: 1, severity: 1 })
      yield* at(3_499)
      expect(yield* Queue.size(notified)).toBe(0)
      yield* at(3_500)
      const event = yield* Queue.take(notified)
      expect(event).toMatchObject({ _tag: CondRaise, entity: "app", time: 500 })
      expect(yield* Clock.currentTimeMillis).toBe(3_500)
    }).pipe(withHam()))

  it.effect("waitfor an entity succeeds when it attaches within the timeout", () =>
    Effect.gen(function*() {
      const log = yield* raiseWaitingForDb
      yield* at(999)
      expect(yield* drain(log)).toEqual([])
      yield* at(1_000)
      yield* Ham.attach(Entity.fiber("db", Effect.never))
      yield* settle
      expect(yield* drain(log)).toEqual([["after", 1_000]])
      yield* at(5_000)
      expect(yield* drain(log)).toEqual([])
      const waitfor = (yield* entityNode("app")).conditions[0].actions[0]
      expect(waitfor).toMatchObject({ type: "WaitFor", runs: 1, failures: 0 })
    }).pipe(withHam()))

  it.effect("waitfor an entity that is down succeeds when the HAM restarts it", () =>
    Effect.gen(function*() {
      const lives = yield* Ref.make(0)
      const db = yield* Ham.entity("db")
      yield* Ham.condition(db, CondDeath).pipe(Ham.restart)
      // the first life dies at 50 ms; the default back-off restarts it 100 ms later, at 150 ms
      yield* Ham.attach(Entity.fiber(
        "db",
        Effect.flatMap(Ref.updateAndGet(lives, (n) => n + 1), (n) =>
          n === 1 ? Effect.zipRight(Effect.sleep("50 millis"), Effect.fail("crash")) : Effect.never)
      ))
      yield* at(60)
      expect((yield* entityNode("db")).status).toBe("restarting")
      const log = yield* raiseWaitingForDb
      yield* at(149)
      expect(yield* drain(log)).toEqual([])
      yield* at(150)
      expect(yield* drain(log)).toEqual([["after", 150]])
      expect(yield* Ref.get(lives)).toBe(2)
    }).pipe(withHam()))

  it.effect("waitfor an entity that is already running succeeds at once", () =>
    Effect.gen(function*() {
      const log = yield* Queue.unbounded<readonly [string, number]>()
      yield* Ham.attach(Entity.fiber("db", Effect.never))
      const app = yield* Ham.attach(Entity.fiber("app", Effect.never))
      yield* Ham.condition(app, CondRaise).pipe(
        Ham.waitfor({ entity: "db", timeout: "2 seconds" }),
        Ham.action(mark(log, "after"))
      )
      yield* Ham.raise(app, { type: 1, class: 1, severity: 1 })
      yield* settle
      expect(yield* drain(log)).toEqual([["after", 0]])
    }).pipe(withHam()))

  it.effect("waitfor an entity fails at the timeout: its alternate runs, the failure is counted", () =>
    Effect.gen(function*() {
      const log = yield* raiseWaitingForDb
      yield* at(1_999)
      expect(yield* drain(log)).toEqual([])
      yield* at(2_000)
      expect(yield* drain(log)).toEqual([["alternate", 2_000], ["after", 2_000]])
      // db appearing later changes nothing
      yield* Ham.attach(Entity.fiber("db", Effect.never))
      yield* at(3_000)
      expect(yield* drain(log)).toEqual([])
      const waitfor = (yield* entityNode("app")).conditions[0].actions[0]
      expect(waitfor).toMatchObject({ type: "WaitFor", runs: 1, failures: 1 })
    }).pipe(withHam()))

  it.effect("a waitfor for a placeholder (not running) entity still waits", () =>
    Effect.gen(function*() {
      const log = yield* Queue.unbounded<readonly [string, number]>()
      yield* Ham.entity("db")
      const app = yield* Ham.attach(Entity.fiber("app", Effect.never))
      yield* Ham.condition(app, CondRaise).pipe(
        Ham.action(
          Action.waitfor({ entity: "db", timeout: "2 seconds" }).pipe(
            Action.orElse(mark(log, "alternate")),
            Action.withOptions({ breakOnFail: true })
          )
        ),
        Ham.action(mark(log, "after"))
      )
      yield* Ham.raise(app, { type: 1, class: 1, severity: 1 })
      yield* at(1_999)
      expect(yield* drain(log)).toEqual([])
      yield* at(2_000)
      // breakOnFail: the alternate runs, the rest of the list is skipped
      expect(yield* drain(log)).toEqual([["alternate", 2_000]])
    }).pipe(withHam()))

  describe("invalid waitfor actions fail with InvalidArgument when added", () => {
    const cases = [
      ["0 duration", Action.waitfor(0)],
      ["0 seconds", Action.waitfor("0 seconds")],
      ["negative duration", Action.waitfor(-5)],
      ["negative millis string", Action.waitfor("-5 millis")],
      ["not a duration", Action.waitfor("soon" as never)],
      ["entity with 0 timeout", Action.waitfor({ entity: "db", timeout: 0 })],
      ["entity with negative timeout", Action.waitfor({ entity: "db", timeout: -1 })],
      ["entity with a bad name", Action.waitfor({ entity: "a/b", timeout: "1 second" })],
      ["as an alternate with 0 duration", Action.log("x").pipe(Action.orElse(Action.waitfor(0)))]
    ] as const
    for (const [label, action] of cases) {
      it.effect(label, () =>
        Effect.gen(function*() {
          const app = yield* Ham.attach(Entity.fiber("app", Effect.never))
          const cond = yield* Ham.condition(app, CondRaise)
          const error = yield* Effect.flip(Ham.addAction(cond, action))
          expect(error._tag).toBe("InvalidArgument")
          expect((yield* entityNode("app")).conditions[0].actions).toEqual([])
        }).pipe(withHam()))
    }

    it.effect("a waitfor in a noWait condition", () =>
      Effect.gen(function*() {
        const app = yield* Ham.attach(Entity.fiber("app", Effect.never))
        const cond = yield* Ham.condition(app, CondRaise, { noWait: true })
        expect((yield* Effect.flip(Ham.addAction(cond, Action.waitfor("1 second"))))._tag).toBe("InvalidArgument")
        const entityWait = Action.waitfor({ entity: "db", timeout: "1 second" })
        expect((yield* Effect.flip(Ham.addAction(cond, entityWait)))._tag).toBe("InvalidArgument")
        const asAlternate = Action.log("x").pipe(Action.orElse(Action.waitfor("1 second")))
        expect((yield* Effect.flip(Ham.addAction(cond, asAlternate)))._tag).toBe("InvalidArgument")
        // the pipeable adder fails the same way
        const piped = yield* Effect.flip(
          Ham.condition(app, CondRaise, { noWait: true, name: "other" }).pipe(Ham.waitfor("1 second"))
        )
        expect(piped._tag).toBe("InvalidArgument")
        const node = yield* entityNode("app")
        expect(node.conditions.flatMap((c) => c.actions)).toEqual([])
        // a noWait condition with independent too: noWait wins, still refused
        const both = yield* Ham.condition(app, CondRaise, { noWait: true, independent: true, name: "both" })
        expect((yield* Effect.flip(Ham.addAction(both, Action.waitfor("1 second"))))._tag).toBe("InvalidArgument")
      }).pipe(withHam()))

    it.effect("setting noWait on a condition that holds a waitfor", () =>
      Effect.gen(function*() {
        const app = yield* Ham.attach(Entity.fiber("app", Effect.never))
        const cond = yield* Ham.condition(app, CondRaise).pipe(Ham.waitfor("1 second"))
        const error = yield* Effect.flip(Ham.control(cond, { setFlags: { noWait: true } }))
        expect(error._tag).toBe("InvalidArgument")
        expect((yield* entityNode("app")).conditions[0].noWait).toBe(false)
      }).pipe(withHam()))
  })
})
