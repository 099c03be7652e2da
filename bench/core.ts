/**
 * Benchmarks of the in-process HAM (issue #2). Each figure is printed as `name: value unit`; where
 * a baseline exists, the baseline and the ratio measured in the same run follow.
 */
import { Deferred, Effect, Fiber, Layer, Ref } from "effect"
import { Action, Entity, Ham } from "effect-ham"
import { CondDeath, CondRaise } from "effect-ham/Condition"

export const report = (name: string, value: number, unit: string, digits = 2) =>
  console.log(`${name}: ${value.toFixed(digits)} ${unit}`)

export const median = (xs: Array<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

const noThrottle = Ham.layer({ backoff: false, restartIntensity: { maxRestarts: Infinity } })

/** an effect that records its start, then dies at once: each life measures one restart gap */
export const lifeRecorder = (lives: number, done: Deferred.Deferred<void>) => {
  const starts: Array<number> = []
  const ends: Array<number> = []
  const effect = Effect.suspend(() => {
    starts.push(performance.now())
    if (starts.length > lives) return Deferred.succeed(done, void 0).pipe(Effect.zipRight(Effect.never))
    ends.push(performance.now())
    return Effect.fail("crash")
  })
  const gaps = () => ends.map((end, i) => (starts[i + 1] - end) * 1000)
  return { effect, gaps }
}

const hamRestart = (lives: number) =>
  Effect.gen(function*() {
    const done = yield* Deferred.make<void>()
    const rec = lifeRecorder(lives, done)
    const e = yield* Ham.attach(Entity.fiber("crasher", rec.effect))
    yield* Ham.condition(e, CondDeath).pipe(Ham.restart)
    yield* Deferred.await(done)
    return median(rec.gaps().slice(10))
  }).pipe(Effect.scoped, Effect.provide(noThrottle))

const bareRestart = (lives: number) =>
  Effect.gen(function*() {
    const done = yield* Deferred.make<void>()
    const rec = lifeRecorder(lives, done)
    const loop: Effect.Effect<void> = Effect.forkDaemon(rec.effect).pipe(
      Effect.flatMap(Fiber.await),
      Effect.flatMap(() => loop)
    )
    const fiber = yield* Effect.fork(loop)
    yield* Deferred.await(done)
    yield* Fiber.interrupt(fiber)
    return median(rec.gaps().slice(10))
  })

export const restartLatency = Effect.gen(function*() {
  const lives = 20_000
  const ours: Array<number> = []
  const bare: Array<number> = []
  for (let round = 0; round < 5; round++) {
    bare.push(yield* bareRestart(lives))
    ours.push(yield* hamRestart(lives))
  }
  const o = median(ours.slice(1))
  const b = median(bare.slice(1))
  report("fiber_restart_latency_median", o, "us")
  report("bare_refork_latency_median", b, "us")
  report("fiber_restart_ratio", o / b, "x (target <= 1.5, stretch <= 1.0)")
})

export const heartbeatCost = Effect.gen(function*() {
  const n = 1_000_000
  const rate = (effect: Effect.Effect<void>) =>
    Effect.gen(function*() {
      const start = performance.now()
      for (let i = 0; i < n; i++) yield* effect
      return n / ((performance.now() - start) / 1000)
    })
  const ours: Array<number> = []
  const bare: Array<number> = []
  yield* Effect.gen(function*() {
    const handle = yield* Ham.attachSelf("beater", { heartbeat: { interval: "1 second", missedLow: 2, missedHigh: 4 } })
    const ref = yield* Ref.make(0)
    const beat = Ham.heartbeat(handle)
    const update = Ref.update(ref, (x) => x + 1)
    for (let round = 0; round < 4; round++) {
      bare.push(yield* rate(update))
      ours.push(yield* rate(beat))
    }
  }).pipe(Effect.scoped, Effect.provide(Ham.HamLive))
  const o = median(ours.slice(1))
  const b = median(bare.slice(1))
  report("heartbeat_rate", o, "heartbeats/s", 0)
  report("ref_update_rate", b, "updates/s", 0)
  report("heartbeat_cost_ratio", b / o, "x (Ham.heartbeat time / Ref.update time, target <= 3)")
})

/**
 * Events per second through the dispatcher: `n` raises on one self-attached entity, each running a
 * one-action list, on a HAM built from `layer`; seconds of the wall clock, or of another (`cpuMillis`).
 */
export const dispatchRate = <E>(
  layer: Layer.Layer<Ham.Ham, E>,
  n: number,
  name = "publisher",
  millis: () => number = () => performance.now()
) =>
  Effect.gen(function*() {
    const done = yield* Deferred.make<void>()
    let count = 0
    const e = yield* Ham.attachSelf(name)
    yield* Ham.condition(e, CondRaise).pipe(
      Ham.action(Action.effect(Effect.suspend(() => (++count === n ? Deferred.succeed(done, void 0) : Effect.void))))
    )
    const raise = Ham.raise(e, { type: 1, class: 1, severity: 1 })
    const start = millis()
    for (let i = 0; i < n; i++) yield* raise
    yield* Deferred.await(done)
    return n / ((millis() - start) / 1000)
  }).pipe(Effect.scoped, Effect.provide(layer))

/** the CPU time this process has used (user and system), in ms: a clock other processes do not move */
export const cpuMillis = () => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}

export const dispatchThroughput = Effect.gen(function*() {
  const rates: Array<number> = []
  for (let round = 0; round < 4; round++) rates.push(yield* dispatchRate(Ham.HamLive, 200_000))
  report("dispatch_throughput", median(rates.slice(1)), "events/s (target >= 200000)", 0)
})

const heapUsed = () => {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc !== undefined) {
    gc()
    gc()
  }
  return process.memoryUsage().heapUsed
}

export const heapPerEntity = Effect.gen(function*() {
  const n = 10_000
  const measure = (withCondition: boolean) =>
    Effect.gen(function*() {
      const before = heapUsed()
      for (let i = 0; i < n; i++) {
        const e = yield* Ham.attach(Entity.fiber(`idle-${i}`, Effect.never))
        if (withCondition) yield* Ham.condition(e, CondDeath).pipe(Ham.restart)
      }
      yield* Effect.yieldNow()
      const after = heapUsed()
      return (after - before) / n
    }).pipe(Effect.scoped, Effect.provide(Layer.fresh(Ham.HamLive)))
  report("heap_per_idle_fiber_entity", yield* measure(false), "bytes (target <= 4096)", 0)
  report("heap_per_idle_fiber_entity_with_restart_condition", yield* measure(true), "bytes", 0)
})
