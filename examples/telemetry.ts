/**
 * Metrics and traces, exported through OpenTelemetry (here to the console).
 *
 * - The HAM's metrics are Effect `Metric`s (`HamMetrics`): deaths, abnormal deaths, restarts,
 *   heartbeat misses, action failures and give-ups per entity, the death-to-restart latency and
 *   the action durations as histograms, and a gauge of running entities. Any Effect metrics
 *   exporter reads them; `Metric.value` reads one in the program.
 * - Each recovery (a condition's action list run for an event) is a `ham.recovery` span, with an
 *   event per action and alternate (name, kind, outcome, duration) and the outcome of the list.
 *   The spans go to the tracer of the HAM's context: provide the tracer layer *to* the HAM.
 *
 *   npm run example -- examples/telemetry.ts
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { PeriodicExportingMetricReader, type PushMetricExporter } from "@opentelemetry/sdk-metrics"
import { type ReadableSpan, SimpleSpanProcessor, type SpanExporter } from "@opentelemetry/sdk-trace-base"
import { Console, Effect, Layer, Metric, Queue } from "effect"
import { Action, Entity, Ham, HamMetrics } from "effect-ham"
import { CondDeath } from "effect-ham/Condition"

/** prints each span on one line (OpenTelemetry's ConsoleSpanExporter prints whole objects) */
const spanPrinter: SpanExporter = {
  export: (spans: Array<ReadableSpan>, done) => {
    for (const span of spans) {
      const events = span.events.map((e) => `${e.attributes?.["ham.action"]}=${e.attributes?.["ham.outcome"]}`)
      console.log(
        `span ${span.name} ${span.attributes["ham.condition"]} on ${span.attributes["ham.event"]}: ` +
          `${span.attributes["ham.outcome"]} [${events.join(", ")}]`
      )
    }
    done({ code: 0 })
  },
  shutdown: () => Promise.resolve()
}

/** prints the HAM's metrics, a line per data point (OpenTelemetry's ConsoleMetricExporter prints every metric whole) */
const metricPrinter: PushMetricExporter = {
  export: (metrics, done) => {
    for (const scope of metrics.scopeMetrics) {
      for (const metric of scope.metrics) {
        if (!metric.descriptor.name.startsWith("ham_")) continue
        for (const point of metric.dataPoints) {
          const tags = Object.entries(point.attributes).map(([k, v]) => `${k}=${v}`).join(",")
          const value = typeof point.value === "number" ? point.value : `count ${point.value.count}`
          console.log(`metric ${metric.descriptor.name}{${tags}} ${value}`)
        }
      }
    }
    done({ code: 0 })
  },
  forceFlush: () => Promise.resolve(),
  shutdown: () => Promise.resolve()
}

const Telemetry = NodeSdk.layer(() => ({
  resource: { serviceName: "effect-ham-example" },
  spanProcessor: new SimpleSpanProcessor(spanPrinter),
  // the metrics go to the console when the program ends (and every 60 s while it runs)
  metricReader: new PeriodicExportingMetricReader({
    exporter: metricPrinter,
    exportIntervalMillis: 60_000
  })
}))

const program = Effect.gen(function*() {
  const lives = yield* Queue.unbounded<number>()
  let life = 0
  const worker = yield* Ham.attach(
    Entity.fiber(
      "worker",
      Effect.suspend(() => {
        life++
        // the first two lives crash, the third stays up
        return Effect.zipRight(Queue.offer(lives, life), life < 3 ? Effect.fail("crash") : Effect.never)
      })
    ),
    { backoff: false }
  )
  yield* Ham.condition(worker, CondDeath).pipe(
    Ham.restart,
    // a failing step with an alternate: both are events of the recovery's span
    Ham.action(Action.effect(Effect.fail("cache not warm")).pipe(Action.orElse(Action.log("starting cold"))))
  )
  while ((yield* Queue.take(lives)) < 3) {
    // wait for the third life
  }
  const count = (metric: Metric.Metric.Counter<number>) =>
    Effect.map(Metric.value(Metric.tagged(metric, "entity", "worker")), (state) => state.count)
  const latency = yield* Metric.value(Metric.tagged(HamMetrics.restartLatency, "entity", "worker"))
  yield* Console.log(
    `worker: deaths ${yield* count(HamMetrics.deaths)}, restarts ${yield* count(HamMetrics.restarts)}, ` +
      `action failures ${yield* count(HamMetrics.actionFailures)}, restart latency measured ${latency.count} times`
  )
})

// the tracer layer is provided to the HAM: its recoveries' spans go to that tracer
program.pipe(
  Effect.provide(Ham.HamLive.pipe(Layer.provideMerge(Telemetry))),
  Effect.runPromise
)
