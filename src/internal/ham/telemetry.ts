/**
 * What the HAM tells Effect's metrics and tracer.
 *
 * The metrics are Effect `Metric`s in the global registry (what `@effect/opentelemetry` and the
 * other exporters read): counters per entity, histograms of the time from a death to the next life
 * and of each action's run, and a gauge of the running entities. They are updated synchronously on
 * the event path, through hooks cached per entity (no effect is run, no key is built per update).
 *
 * The spans: one per run of a condition's action list (a recovery), with a child span per action
 * and, under it, its alternates. They are made only when the HAM's tracer is not Effect's default
 * one: with no tracer installed, a recovery costs nothing more.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricLabel from "effect/MetricLabel"
import type * as Tracer from "effect/Tracer"
import type * as cond from "../condition.js"
import type { EntityRec, HamState, Meter, Status } from "./state.js"

// ---------------------------------------------------------------------------------------------
// the metrics (public through HamMetrics.ts)
// ---------------------------------------------------------------------------------------------

/** @internal */
export const deaths = Metric.counter("ham_deaths_total", {
  description: "deaths of the entity's lives (CondDeath)",
  incremental: true
})

/** @internal */
export const abnormalDeaths = Metric.counter("ham_abnormal_deaths_total", {
  description: "abnormal deaths of the entity's lives: a signal or a non-zero exit (CondAbnormalDeath)",
  incremental: true
})

/** @internal */
export const restarts = Metric.counter("ham_restarts_total", {
  description: "restarts of the entity (CondRestart)",
  incremental: true
})

/** @internal */
export const heartbeatMisses = Metric.counter("ham_heartbeat_misses_total", {
  description: "heartbeats the entity missed, counted when the low and the high counts are reached",
  incremental: true
})

/** @internal */
export const actionFailures = Metric.counter("ham_action_failures_total", {
  description: "actions run for the entity that failed (whether an alternate then succeeded or not)",
  incremental: true
})

/** @internal */
export const giveUps = Metric.counter("ham_give_ups_total", {
  description: "times the HAM gave up restarting the entity (restart intensity or back-off exhausted)",
  incremental: true
})

/** @internal milliseconds, from 50 µs to about 3.3 minutes */
const millisBoundaries = MetricBoundaries.exponential({ start: 0.05, factor: 2, count: 22 })

/** @internal */
export const restartLatency = Metric.histogram(
  "ham_restart_latency_ms",
  millisBoundaries,
  "time from the death of the entity's life to its next life (back-off waits included), in ms"
)

/** @internal */
export const actionDuration = Metric.histogram(
  "ham_action_duration_ms",
  millisBoundaries,
  "time an action took, its alternates included, by kind of action, in ms"
)

/** @internal */
export const entitiesRunning = Metric.gauge("ham_entities_running", {
  description: "entities whose life is running, in every HAM of the process"
})

// ---------------------------------------------------------------------------------------------
// per entity
// ---------------------------------------------------------------------------------------------

const meterOf = (rec: EntityRec): Meter => {
  if (rec.meter !== undefined) return rec.meter
  const entity = MetricLabel.make("entity", rec.name)
  const meter: Meter = {
    entity: [entity],
    low: [entity, MetricLabel.make("level", "low")],
    high: [entity, MetricLabel.make("level", "high")],
    diedAt: undefined
  }
  rec.meter = meter
  return meter
}

const actionTags = new Map<string, ReadonlyArray<MetricLabel.MetricLabel>>()
const actionTagsOf = (kind: string) => {
  let tags = actionTags.get(kind)
  if (tags === undefined) {
    tags = [MetricLabel.make("action", kind)]
    actionTags.set(kind, tags)
  }
  return tags
}

const noTags: ReadonlyArray<MetricLabel.MetricLabel> = []

/**
 * Counts an event of the entity (called by `enqueue` for every event, when metrics are on).
 * `preciseNow` is the HAM's clock in fractional milliseconds.
 *
 * @internal
 */
export const countEvent = (rec: EntityRec, event: cond.ConditionEvent, preciseNow: () => number): void => {
  switch (event._tag) {
    case "CondAttach":
      // the hooks a process's death updates, made now: its first death does not build them
      if (rec.process !== undefined) {
        const meter = meterOf(rec)
        deaths.unsafeValue(meter.entity)
        abnormalDeaths.unsafeValue(meter.entity)
      }
      return
    case "CondDeath": {
      const meter = meterOf(rec)
      meter.diedAt = preciseNow()
      deaths.unsafeUpdate(1, meter.entity)
      return
    }
    case "CondAbnormalDeath":
      abnormalDeaths.unsafeUpdate(1, meterOf(rec).entity)
      return
    case "CondRestart": {
      const meter = meterOf(rec)
      restarts.unsafeUpdate(1, meter.entity)
      if (meter.diedAt !== undefined) {
        restartLatency.unsafeUpdate(preciseNow() - meter.diedAt, meter.entity)
        meter.diedAt = undefined
      }
      return
    }
    case "CondBeatMissedLow":
      heartbeatMisses.unsafeUpdate(1, meterOf(rec).low)
      return
    case "CondBeatMissedHigh":
      heartbeatMisses.unsafeUpdate(1, meterOf(rec).high)
      return
  }
}

/** @internal the HAM gave up restarting the entity */
export const countGiveUp = (rec: EntityRec): void => giveUps.unsafeUpdate(1, meterOf(rec).entity)

/** @internal an action run for the entity failed */
export const countActionFailure = (rec: EntityRec): void => actionFailures.unsafeUpdate(1, meterOf(rec).entity)

/** @internal an action of this kind took `millis` */
export const recordAction = (kind: string, millis: number): void =>
  actionDuration.unsafeUpdate(millis, actionTagsOf(kind))

/**
 * Sets an entity's status; the gauge of running entities follows (when metrics are on).
 *
 * @internal
 */
export const setStatus = (state: HamState, rec: EntityRec, status: Status): void => {
  const was = rec.status === "running"
  rec.status = status
  if (state.metrics && was !== (status === "running")) entitiesRunning.unsafeModify(was ? -1 : 1, noTags)
}

// ---------------------------------------------------------------------------------------------
// spans
// ---------------------------------------------------------------------------------------------

let defaultTracer: Tracer.Tracer | undefined

/**
 * True when `tracer` is one an application installed (not Effect's default, which keeps nothing).
 *
 * @internal
 */
export const isInstalled = (tracer: Tracer.Tracer): boolean =>
  tracer !== (defaultTracer ??= Effect.runSync(Effect.tracer))
