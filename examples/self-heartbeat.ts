/**
 * The application attaches itself (`Ham.attachSelf`) with a heartbeat: it must call
 * `Ham.heartbeat` at least once per 80 ms period. Beats are quantised to the period grid: a
 * period that saw at least one beat counts as a beat, a period that saw none counts as a miss.
 *
 * - `CondBeatMissedLow` fires at 2 consecutive missed periods, `CondBeatMissedHigh` at 4;
 * - each level fires once per episode: after the low level fired, the entity is unhealthy and
 *   low does not fire again, even after the beats came back and stopped again, until a
 *   `heartbeatHealthy` action runs (here: the last action of the high condition);
 * - the caller's scope is its connection: closing it without `Ham.detach` is a death.
 *
 *   npm run example -- examples/self-heartbeat.ts
 */
import { Clock, Console, Effect, Fiber, Queue, Schedule } from "effect"
import { Action, Ham, HamLive } from "effect-ham"
import { CondBeatMissedHigh, CondBeatMissedLow, CondDeath, type ConditionEvent } from "effect-ham/Condition"

const program = Effect.gen(function*() {
  const start = yield* Clock.currentTimeMillis
  const at = Effect.map(Clock.currentTimeMillis, (t) => `${String(t - start).padStart(4)} ms`)
  const say = (text: string) => Effect.flatMap(at, (t) => Console.log(`${t}  ${text}`))
  const events = yield* Ham.subscribe
  const waitFor = (tag: ConditionEvent["_tag"]) =>
    Effect.iterate(undefined as ConditionEvent | undefined, {
      while: (event) => event === undefined || event._tag !== tag,
      body: () => Queue.take(events)
    })
  const health = Effect.map(Ham.snapshot, (tree) => {
    const hb = tree.entities.find((e) => e.name === "app")?.heartbeat
    return hb === undefined ? "no heartbeat" : `missed ${hb.missed}, unhealthy ${hb.unhealthy}`
  })

  // the self-attached part runs in its own scope: the scope is the app's connection to the HAM
  yield* Effect.scoped(Effect.gen(function*() {
    const app = yield* Ham.attachSelf("app", {
      heartbeat: { interval: "80 millis", missedLow: 2, missedHigh: 4 }
    })
    yield* Ham.condition(app, CondBeatMissedLow).pipe(
      Ham.action(Action.effect((e) => say(`[low]  missed ${e._tag === "CondBeatMissedLow" ? e.missed : 0} periods`)))
    )
    yield* Ham.condition(app, CondBeatMissedHigh).pipe(
      Ham.action(Action.effect((e) => say(`[high] missed ${e._tag === "CondBeatMissedHigh" ? e.missed : 0} periods`))),
      Ham.heartbeatHealthy,
      Ham.action(Action.effect(say("[high] heartbeatHealthy ran: both levels are re-armed")))
    )
    yield* Ham.condition(app, CondDeath).pipe(
      Ham.action(Action.effect((e) => say(`[death] app died: ${e._tag === "CondDeath" ? e.reason : ""}`)))
    )

    const beating = Effect.repeat(Ham.heartbeat(app), Schedule.spaced("20 millis"))

    yield* say("beating every 20 ms")
    let beater = yield* Effect.fork(beating)
    yield* Effect.sleep("300 millis")
    yield* say(`healthy: ${yield* health}`)

    yield* say("beats stop")
    yield* Fiber.interrupt(beater)
    yield* waitFor("CondBeatMissedLow")
    yield* say(`after low: ${yield* health}`)

    yield* say("beats resume for 300 ms")
    beater = yield* Effect.fork(beating)
    yield* Effect.sleep("300 millis")
    yield* say(`beats are back but no healthy action ran: ${yield* health}`)

    yield* say("beats stop again: low does not fire again in this episode, high does")
    yield* Fiber.interrupt(beater)
    yield* waitFor("CondBeatMissedHigh")
    yield* Effect.sleep("10 millis")
    yield* say(`after high and heartbeatHealthy: ${yield* health}`)
    yield* say("closing the app's scope without Ham.detach")
  }))
  yield* waitFor("CondDeath")
  yield* Effect.sleep("10 millis")
  const tree = yield* Ham.snapshot
  const stats = tree.entities.find((e) => e.name === "app")!.stats
  yield* Console.log(
    `app: ${stats.heartbeats} heartbeats, missed low ${stats.missedLow} time(s), high ${stats.missedHigh} time(s), ` +
      `deaths ${stats.deaths}`
  )
})

Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(HamLive)))
