/**
 * The HAM's metrics (HamMetrics) and spans: read back from Effect's metric registry and from a
 * recording tracer. Entity names are unique per test: the registry is shared by the file's HAMs.
 */
import { Command } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer, Metric, type MetricState, Queue, Ref, Schedule, Tracer } from "effect"
import { Action, Entity, Ham, HamMetrics } from "effect-ham"
import * as Condition from "effect-ham/Condition"
import { CondBeatMissedHigh, CondDeath } from "effect-ham/Condition"
import { isLive, pidOf } from "./processes.js"
import { at, settle, withHam } from "./utils.js"

const count = (metric: Metric.Metric.Counter<number>, entity: string, extra?: readonly [string, string]) =>
  Effect.map(
    Metric.value(
      extra === undefined
        ? Metric.tagged(metric, "entity", entity)
        : Metric.tagged(Metric.tagged(metric, "entity", entity), extra[0], extra[1])
    ),
    (state) => state.count
  )

const histogramOf = <Type, In>(
  metric: Metric.Metric<Type, In, MetricState.MetricState.Histogram>,
  key: string,
  value: string
) => Metric.value(Metric.tagged(metric, key, value))

const running = Effect.map(Metric.value(HamMetrics.entitiesRunning), (state) => state.value)

/** a fiber entity whose lives fail when `kill` is offered a value; its next life says so in `lives` */
const killable = (name: string) =>
  Effect.gen(function*() {
    const kill = yield* Queue.unbounded<void>()
    const lives = yield* Queue.unbounded<number>()
    const n = yield* Ref.make(0)
    const life = Effect.gen(function*() {
      yield* Queue.offer(lives, yield* Ref.updateAndGet(n, (i) => i + 1))
      yield* Queue.take(kill)
      return yield* Effect.fail("killed")
    })
    const handle = yield* Ham.attach(Entity.fiber(name, life), { backoff: false })
    yield* Ham.condition(handle, CondDeath).pipe(Ham.restart)
    yield* Queue.take(lives)
    return { kill, lives, handle } as const
  })

/**
 * A fiber entity restarted on its death after a back-off of `millis` (reset after an hour): it is
 * killed once, and the TestClock moved past the back-off until its second life has started.
 */
const restartedAfterBackoff = (name: string, millis: number) =>
  Effect.gen(function*() {
    const kill = yield* Queue.unbounded<void>()
    const lives = yield* Queue.unbounded<void>()
    const handle = yield* Ham.attach(
      Entity.fiber(
        name,
        Effect.zipRight(Queue.offer(lives, undefined), Effect.zipRight(Queue.take(kill), Effect.fail("x")))
      ),
      { backoff: Schedule.spaced(millis), backoffResetAfter: "1 hour" }
    )
    yield* Ham.condition(handle, CondDeath).pipe(Ham.restart)
    yield* Queue.take(lives)
    yield* Queue.offer(kill, undefined)
    yield* settle
    yield* at(millis)
    yield* Queue.take(lives)
  })

interface Recorded {
  readonly name: string
  readonly parent: string | undefined
  readonly attributes: ReadonlyMap<string, unknown>
  readonly span: Tracer.Span
}

/** a tracer that keeps every span it makes (Effect's own spans, recorded) */
const recordingTracer = Effect.map(Effect.tracer, (native) => {
  const spans: Array<Recorded> = []
  const tracer = Tracer.make({
    span: (name, parent, context, links, startTime, kind, options) => {
      const span = native.span(name, parent, context, links, startTime, kind, options)
      spans.push({
        name,
        parent: parent._tag === "Some" && parent.value._tag === "Span" ? parent.value.name : undefined,
        attributes: span.attributes,
        span
      })
      return span
    },
    context: (f) => f()
  })
  return { spans, tracer } as const
})

describe("HamMetrics", () => {
  it.effect("deaths, abnormal deaths, restarts and the death-to-restart latency of an entity", () =>
    Effect.gen(function*() {
      const { kill, lives } = yield* killable("m-restarts")
      for (let i = 0; i < 3; i++) {
        yield* Queue.offer(kill, undefined)
        yield* Queue.take(lives)
      }
      expect(yield* count(HamMetrics.deaths, "m-restarts")).toBe(3)
      // a fiber that fails is an abnormal death
      expect(yield* count(HamMetrics.abnormalDeaths, "m-restarts")).toBe(3)
      expect(yield* count(HamMetrics.restarts, "m-restarts")).toBe(3)
      const latency = yield* histogramOf(HamMetrics.restartLatency, "entity", "m-restarts")
      expect(latency.count).toBe(3)
      // on the TestClock no time passes between a death and its restart
      expect(latency.sum).toBe(0)
    }).pipe(withHam()))

  it.effect("the restart latency includes the back-off wait", () =>
    Effect.gen(function*() {
      yield* restartedAfterBackoff("m-backoff", 250)
      const latency = yield* histogramOf(HamMetrics.restartLatency, "entity", "m-backoff")
      expect(latency.count).toBe(1)
      expect(latency.max).toBe(250)
    }).pipe(withHam()))

  it.effect("heartbeat misses by level, and the give-up", () =>
    Effect.gen(function*() {
      const high = yield* Queue.unbounded<unknown>()
      yield* Ham.attachSelf("m-beats", { heartbeat: { interval: "1 second", missedLow: 1, missedHigh: 3 } })
      yield* Ham.condition("m-beats", CondBeatMissedHigh).pipe(Ham.notify(high))
      yield* at(3_500)
      yield* Queue.take(high)
      expect(yield* count(HamMetrics.heartbeatMisses, "m-beats", ["level", "low"])).toBe(1)
      expect(yield* count(HamMetrics.heartbeatMisses, "m-beats", ["level", "high"])).toBe(1)

      const gaveUp = yield* Queue.unbounded<unknown>()
      yield* Ham.conditionRaise(Entity.global, {
        type: Condition.RaiseTypeHam,
        class: Condition.RaiseClassRestartGaveUp
      }).pipe(
        Ham.notify(gaveUp)
      )
      const crash = yield* Ham.attach(Entity.fiber("m-giveup", Effect.fail("boom")), {
        restartIntensity: { maxRestarts: 2, within: "1 minute" },
        backoff: false
      })
      yield* Ham.condition(crash, CondDeath).pipe(Ham.restart)
      yield* Queue.take(gaveUp)
      expect(yield* count(HamMetrics.giveUps, "m-giveup")).toBe(1)
      expect(yield* count(HamMetrics.restarts, "m-giveup")).toBe(2)
      // the failed restart action is an action failure of the entity
      expect(yield* count(HamMetrics.actionFailures, "m-giveup")).toBe(1)
    }).pipe(withHam()))

  it.effect("action failures and durations by kind of action", () =>
    Effect.gen(function*() {
      const before = yield* histogramOf(HamMetrics.actionDuration, "action", "Local")
      const done = yield* Queue.unbounded<unknown>()
      const e = yield* Ham.attach(Entity.fiber("m-actions", Effect.never))
      yield* Ham.conditionRaise(e, { type: 7 }).pipe(
        Ham.action(Action.effect(() => Effect.zipRight(Effect.sleep("40 millis"), Effect.fail("no")))),
        Ham.action(Action.effect(() => Effect.sleep("10 millis"))),
        Ham.notify(done)
      )
      yield* Ham.raise(e, { type: 7, class: 1, severity: 1 })
      yield* settle
      yield* at(40)
      yield* at(50)
      yield* Queue.take(done)
      expect(yield* count(HamMetrics.actionFailures, "m-actions")).toBe(1)
      const after = yield* histogramOf(HamMetrics.actionDuration, "action", "Local")
      expect(after.count - before.count).toBe(2)
      expect(after.sum - before.sum).toBe(50)
    }).pipe(withHam()))

  it.effect("the gauge of running entities follows attach, death, restart and detach", () =>
    Effect.gen(function*() {
      const start = yield* running
      const { handle, kill, lives } = yield* killable("m-gauge")
      expect(yield* running).toBe(start + 1)
      yield* Ham.attach(Entity.fiber("m-gauge-2", Effect.never))
      expect(yield* running).toBe(start + 2)
      yield* Queue.offer(kill, undefined)
      yield* Queue.take(lives)
      expect(yield* running).toBe(start + 2)
      yield* Ham.detach(handle)
      expect(yield* running).toBe(start + 1)
      // a dead entity that is not restarted is not running
      const once = yield* Ham.attach(Entity.fiber("m-gauge-3", Effect.fail("once")))
      yield* settle
      expect((yield* Ham.snapshot).entities.find((x) => x.name === once.name)?.status).toBe("dead")
      expect(yield* running).toBe(start + 1)
    }).pipe(withHam()))

  it.effect("a stopped HAM leaves the gauge where it found it", () =>
    Effect.gen(function*() {
      const start = yield* running
      yield* Effect.gen(function*() {
        yield* Ham.attach(Entity.fiber("m-stop-1", Effect.never))
        yield* Ham.attach(Entity.fiber("m-stop-2", Effect.never))
        expect(yield* running).toBe(start + 2)
      }).pipe(withHam())
      expect(yield* running).toBe(start)
    }))

  it.live("a process entity's death counters are there, at 0, from its attach (a fiber's from its first death)", () =>
    Effect.gen(function*() {
      /** the counters of `entity` in the registry, by name (read without making them) */
      const countersOf = (entity: string) =>
        Effect.map(Metric.snapshot, (pairs) =>
          Object.fromEntries(
            pairs
              .filter((pair) => pair.metricKey.tags.some((tag) => tag.key === "entity" && tag.value === entity))
              .map((pair) => [pair.metricKey.name, (pair.metricState as MetricState.MetricState.Counter<number>).count])
          ))
      expect(yield* countersOf("m-warm")).toEqual({})
      const handle = yield* Ham.attach(Entity.process("m-warm", Command.make("sleep", "30"), { output: "ignore" }))
      expect(yield* countersOf("m-warm")).toEqual({ ham_deaths_total: 0, ham_abnormal_deaths_total: 0 })
      yield* Ham.attach(Entity.fiber("m-warm-fiber", Effect.never))
      expect(yield* countersOf("m-warm-fiber")).toEqual({})
      const pid = yield* pidOf("m-warm")
      yield* Ham.detach(handle)
      expect(isLive(pid)).toBe(false)
    }).pipe(withHam()))

  it.effect("{ metrics: false }: nothing is counted", () =>
    Effect.gen(function*() {
      const start = yield* running
      const { kill, lives } = yield* killable("m-off")
      yield* Queue.offer(kill, undefined)
      yield* Queue.take(lives)
      expect(yield* count(HamMetrics.deaths, "m-off")).toBe(0)
      expect(yield* count(HamMetrics.restarts, "m-off")).toBe(0)
      expect(yield* running).toBe(start)
    }).pipe(withHam({ metrics: false })))

  it.effect("metrics and tracing must be booleans", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Effect.scoped(Layer.build(Ham.layer({ metrics: "yes" as never }))))
      expect(Exit.isFailure(exit) && String(exit.cause)).toContain("metrics")
      const exit2 = yield* Effect.exit(Effect.scoped(Layer.build(Ham.layer({ tracing: 1 as never }))))
      expect(Exit.isFailure(exit2) && String(exit2.cause)).toContain("tracing")
    }))
})

describe("spans", () => {
  it.effect("a recovery is a root span with an event per action and alternate", () =>
    Effect.gen(function*() {
      const { spans, tracer } = yield* recordingTracer
      yield* Effect.gen(function*() {
        const done = yield* Queue.unbounded<unknown>()
        const { kill, lives } = yield* killable("s-restart")
        yield* Ham.condition("s-restart", CondDeath).pipe(
          Ham.action(Action.effect(() => Effect.fail("nope")).pipe(Action.orElse(Action.log("fallback")))),
          Ham.notify(done)
        )
        yield* Queue.offer(kill, undefined)
        yield* Queue.take(lives)
        yield* Queue.take(done)
        yield* settle
      }).pipe(
        // the application's own span around the HAM: recoveries are not its children
        Effect.withSpan("app"),
        withHam(),
        Effect.withTracer(tracer)
      )
      const recoveries = spans.filter((s) => s.name === "ham.recovery")
      expect(recoveries.map((s) => s.attributes.get("ham.condition"))).toEqual([
        "s-restart/death",
        "s-restart/death-2"
      ])
      for (const r of recoveries) {
        expect(r.parent).toBeUndefined()
        expect(r.attributes.get("ham.entity")).toBe("s-restart")
        expect(r.attributes.get("ham.event")).toBe("CondDeath")
        expect(r.span.status._tag).toBe("Ended")
      }
      expect(recoveries[0].attributes.get("ham.outcome")).toBe("ok")
      expect(recoveries[1].attributes.get("ham.outcome")).toBe("failed")
      // each action, and the alternate, is an event of its recovery's span
      const eventsOf = (r: Recorded) =>
        (r.span as unknown as { events: Array<[string, bigint, Record<string, unknown>]> }).events.map((
          [name, , attributes]
        ) => [name, attributes["ham.action"], attributes["ham.action.kind"], attributes["ham.outcome"]])
      expect(eventsOf(recoveries[0])).toEqual([["ham.action", "restart", "Restart", "ok"]])
      expect(eventsOf(recoveries[1])).toEqual([
        ["ham.alternate", "effect~1", "Log", "ok"],
        ["ham.action", "effect", "Local", "failed"],
        ["ham.action", "notify", "Notify", "ok"]
      ])
      const failed = (recoveries[1].span as unknown as { events: Array<[string, bigint, Record<string, unknown>]> })
        .events[1][2]
      expect(failed["ham.reason"]).toContain("nope")
      expect(failed["ham.duration_ms"]).toBe(0)
      // no other span of the HAM's: the application's span is the only other one
      expect(spans.map((s) => s.name).sort()).toEqual(["app", "ham.recovery", "ham.recovery"])
    }))

  it.effect("no span without a tracer of the application's, or with tracing off", () =>
    Effect.gen(function*() {
      const { spans, tracer } = yield* recordingTracer
      yield* Effect.gen(function*() {
        const { kill, lives } = yield* killable("s-off")
        yield* Queue.offer(kill, undefined)
        yield* Queue.take(lives)
      }).pipe(withHam({ tracing: false }), Effect.withTracer(tracer))
      expect(spans.filter((s) => s.name.startsWith("ham."))).toEqual([])
    }))

  it.effect("the rest of a list that waits for its back-off is a child span of the recovery", () =>
    Effect.gen(function*() {
      const { spans, tracer } = yield* recordingTracer
      yield* Effect.gen(function*() {
        yield* restartedAfterBackoff("s-backoff", 100)
        yield* settle
      }).pipe(withHam(), Effect.withTracer(tracer))
      const recovery = spans.find((s) => s.name === "ham.recovery")!
      const continued = spans.find((s) => s.name === "ham.recovery.continued")!
      expect(recovery.attributes.get("ham.outcome")).toBe("deferred")
      expect((continued.span.parent as { value: Tracer.Span }).value).toBe(recovery.span)
      expect(continued.attributes.get("ham.outcome")).toBe("ok")
    }))
})
