/**
 * What the HAM's metrics and spans cost (issue 13): the fiber restart and the dispatch figures of
 * one HAM with both off, with metrics on, with metrics and spans to a tracer that only keeps them
 * in memory (Effect's own spans: what the HAM itself adds), and with metrics and spans exported
 * through @effect/opentelemetry's NodeSdk (batch processor, an exporter that drops them), in
 * alternating rounds of one run. What one OpenTelemetry span costs by itself is measured beside.
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { BatchSpanProcessor, type ReadableSpan, type SpanExporter } from "@opentelemetry/sdk-trace-base"
import { BasicTracerProvider } from "@opentelemetry/sdk-trace-base"
import { Deferred, Effect, Layer, Tracer } from "effect"
import { Entity, Ham } from "effect-ham"
import { CondDeath } from "effect-ham/Condition"
import { dispatchRate, lifeRecorder, median, report } from "./core.js"

/** an exporter that counts the spans it is given and keeps none */
class Dropping implements SpanExporter {
  exported = 0
  export(spans: Array<ReadableSpan>, done: (result: { code: number }) => void): void {
    this.exported += spans.length
    done({ code: 0 })
  }
  shutdown(): Promise<void> {
    return Promise.resolve()
  }
}

const policy = { backoff: false, restartIntensity: { maxRestarts: Infinity } } as const

type Mode = "off" | "metrics" | "spans" | "otel"

/** Effect's own tracer, installed as an application's would be (the HAM makes no span for the default one) */
const inMemory = Layer.unwrapEffect(
  Effect.map(Effect.tracer, (native) => Layer.setTracer(Tracer.make({ span: native.span, context: native.context })))
)

const layerOf = (mode: Mode, exporter: Dropping) =>
  mode === "metrics"
    ? Ham.layer({ ...policy, metrics: true, tracing: false })
    : mode === "spans"
    ? Ham.layer({ ...policy, metrics: true, tracing: true }).pipe(Layer.provide(inMemory))
    : mode === "otel"
    ? Ham.layer({ ...policy, metrics: true, tracing: true }).pipe(
      Layer.provide(
        NodeSdk.layer(() => ({
          resource: { serviceName: "effect-ham-bench" },
          spanProcessor: new BatchSpanProcessor(exporter, { maxQueueSize: 65_536, maxExportBatchSize: 4_096 })
        }))
      )
    )
    : Ham.layer({ ...policy, metrics: false, tracing: false })

const restartGap = (on: Mode, exporter: Dropping, lives: number) =>
  Effect.gen(function*() {
    const done = yield* Deferred.make<void>()
    const rec = lifeRecorder(lives, done)
    const e = yield* Ham.attach(Entity.fiber(`crasher-${on}`, rec.effect))
    yield* Ham.condition(e, CondDeath).pipe(Ham.restart)
    yield* Deferred.await(done)
    return median(rec.gaps().slice(10))
  }).pipe(Effect.scoped, Effect.provide(layerOf(on, exporter)))

/** one OpenTelemetry span (started with five attributes, an event, ended) through the same kind of processor */
const otelSpanMicros = () => {
  const exporter = new Dropping()
  const provider = new BasicTracerProvider({
    spanProcessors: [new BatchSpanProcessor(exporter, { maxQueueSize: 65_536, maxExportBatchSize: 4_096 })]
  })
  const tracer = provider.getTracer("bench")
  const n = 50_000
  const round = () => {
    const start = performance.now()
    for (let i = 0; i < n; i++) {
      const span = tracer.startSpan("ham.recovery", { attributes: { a: "x", b: "y", c: "z", d: "w", e: i } })
      span.addEvent("ham.action", { kind: "Restart", outcome: "ok" })
      span.setAttribute("ham.outcome", "ok")
      span.end()
    }
    return (performance.now() - start) * 1000 / n
  }
  const rounds = [round(), round(), round(), round()]
  void provider.shutdown()
  return median(rounds.slice(1))
}

export const cost = Effect.gen(function*() {
  const exporter = new Dropping()
  const modes: ReadonlyArray<Mode> = ["off", "metrics", "spans", "otel"]
  const restart: Record<Mode, Array<number>> = { off: [], metrics: [], spans: [], otel: [] }
  const dispatch: Record<Mode, Array<number>> = { off: [], metrics: [], spans: [], otel: [] }
  // many short alternating rounds: a loaded machine's swings fall on every mode alike
  for (let round = 0; round < 12; round++) {
    for (const mode of modes) restart[mode].push(yield* restartGap(mode, exporter, 5_000))
    for (const mode of modes) {
      dispatch[mode].push(yield* dispatchRate(layerOf(mode, exporter), 50_000, `publisher-${mode}`))
    }
  }
  const r = (mode: Mode) => median(restart[mode].slice(1))
  const d = (mode: Mode) => median(dispatch[mode].slice(1))
  for (const mode of modes) report(`telemetry_fiber_restart_${mode}`, r(mode), "us")
  for (const mode of modes.slice(1)) {
    report(`telemetry_fiber_restart_${mode}_cost`, (r(mode) / r("off") - 1) * 100, "% (target <= 5)", 1)
  }
  for (const mode of modes) report(`telemetry_dispatch_${mode}`, d(mode), "events/s", 0)
  for (const mode of modes.slice(1)) {
    report(`telemetry_dispatch_${mode}_cost`, (d("off") / d(mode) - 1) * 100, "% (target <= 5)", 1)
  }
  // the spans were made and exported: the otel figures are not of a tracer that did nothing
  report("telemetry_spans_exported", exporter.exported, "spans", 0)
  report("otel_span_cost", otelSpanMicros(), "us (one span by itself, for comparison)")
})
