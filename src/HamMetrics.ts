/**
 * The HAM's metrics: Effect `Metric`s in Effect's global registry, so that any metrics exporter
 * (`@effect/opentelemetry`'s, Prometheus through it, or `Metric.value` in a test) reads them.
 *
 * Counters are tagged with `entity` (the entity's name); heartbeat misses also with `level`
 * (`low` or `high`); the action histogram with `action` (the kind: `Restart`, `Execute`, ...).
 * Times are in milliseconds, on the HAM's `Clock`. A HAM built with `{ metrics: false }` updates
 * none of them.
 *
 * The HAM's spans (one `ham.recovery` per run of a condition's action list, a `ham.action` child
 * per action and alternate) go to the tracer of its context; see the guide's "Metrics and traces".
 *
 * @since 0.1.0
 * @module
 */
import type * as Metric from "effect/Metric"
import type * as MetricKeyType from "effect/MetricKeyType"
import type * as MetricState from "effect/MetricState"
import * as internal from "./internal/ham/telemetry.js"

/**
 * Deaths of the entity's lives (each `CondDeath`). Tagged `entity`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const deaths: Metric.Metric.Counter<number> = internal.deaths

/**
 * Abnormal deaths (each `CondAbnormalDeath`: a signal or a non-zero exit). Tagged `entity`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const abnormalDeaths: Metric.Metric.Counter<number> = internal.abnormalDeaths

/**
 * Restarts of the entity (each `CondRestart`). Tagged `entity`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const restarts: Metric.Metric.Counter<number> = internal.restarts

/**
 * Heartbeat misses: each `CondBeatMissedLow` and `CondBeatMissedHigh`. Tagged `entity` and
 * `level` (`low`, `high`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const heartbeatMisses: Metric.Metric.Counter<number> = internal.heartbeatMisses

/**
 * Actions run for the entity that failed, whether an alternate then succeeded or not. Tagged
 * `entity`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const actionFailures: Metric.Metric.Counter<number> = internal.actionFailures

/**
 * Times the HAM gave up restarting the entity (its restart intensity or its back-off schedule
 * exhausted: the give-up `CondRaise`). Tagged `entity`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const giveUps: Metric.Metric.Counter<number> = internal.giveUps

/**
 * Time from the death of the entity's life to its next life (`CondDeath` to `CondRestart`,
 * back-off waits included), in milliseconds. Tagged `entity`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const restartLatency: Metric.Metric<
  MetricKeyType.MetricKeyType.Histogram,
  number,
  MetricState.MetricState.Histogram
> = internal.restartLatency

/**
 * Time each action of an action list took, its alternates included, in milliseconds. Tagged
 * `action` (its kind).
 *
 * @since 0.1.0
 * @category metrics
 */
export const actionDuration: Metric.Metric<
  MetricKeyType.MetricKeyType.Histogram,
  number,
  MetricState.MetricState.Histogram
> = internal.actionDuration

/**
 * Entities whose life is running, in every HAM of the process (not tagged).
 *
 * @since 0.1.0
 * @category metrics
 */
export const entitiesRunning: Metric.Metric.Gauge<number> = internal.entitiesRunning
