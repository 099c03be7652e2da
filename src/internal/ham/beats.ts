/**
 * Heartbeat clocks. Every entity with the same heartbeat interval shares one clock fiber, whose
 * periods end on a grid common to all of them (multiples of the interval on the HAM's clock), so
 * 200 children beating every second cost one wake a second, not 200. An entity joins the grid at
 * its start; its first period lasts from its start to the first grid line at least one interval
 * later (between one and two intervals), so a late joiner is never judged on a short first
 * period. The clock fiber ends when its last member leaves.
 *
 * What a period decides (a miss, a low or high condition) is the pure rule of `heartbeat.ts`.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as heartbeat_ from "../heartbeat.js"
import { type Beats, common, type Engine, forkOwned } from "./engine.js"
import type { BeatClock, BeatRec, EntityRec } from "./state.js"

/** @internal a heartbeat of the entity (the application's `Ham.heartbeat`, a child's `WATCHDOG=1`) */
export const mark = (rec: EntityRec): void => {
  const beat = rec.beat
  if (beat !== undefined && rec.status === "running") {
    beat.seen = true
    beat.count++
  }
}

/** @internal the heartbeat record of a (re)attached entity; the count of beats carries over */
export const beatRecFor = (rec: EntityRec, config: BeatRec["config"] | undefined): BeatRec | undefined =>
  config === undefined
    ? undefined
    : { config, state: heartbeat_.healthy, seen: false, count: rec.beat?.count ?? 0, clock: undefined, firstDue: 0 }

/** @internal */
export const make = (engine: Engine): Beats => {
  const clocks = new Map<number, BeatClock>()

  const tick = (rec: EntityRec, beat: BeatRec) => {
    const seen = beat.seen
    beat.seen = false
    const step = heartbeat_.tick(beat.state, seen, beat.config)
    beat.state = step.state
    if (step.low) engine.enqueue(rec, { _tag: "CondBeatMissedLow", ...common(engine, rec), missed: step.state.missed })
    if (step.high) {
      engine.enqueue(rec, { _tag: "CondBeatMissedHigh", ...common(engine, rec), missed: step.state.missed })
    }
  }

  const run = (clock: BeatClock): Effect.Effect<void> => {
    const period = clock.intervalMillis
    let last = 0
    const step = Effect.suspend(() => {
      const t = engine.now()
      const next = Math.max(Math.floor(t / period) * period + period, last + period)
      return Effect.zipRight(
        Effect.sleep(next - t),
        Effect.sync(() => {
          last = next
          for (const rec of clock.members) {
            const beat = rec.beat
            if (beat === undefined || beat.clock !== clock || rec.status !== "running") {
              clock.members.delete(rec)
            } else if (next >= beat.firstDue) {
              tick(rec, beat)
            }
          }
        })
      )
    })
    const loop: Effect.Effect<void> = Effect.flatMap(step, () => {
      if (clock.members.size > 0) return loop
      clock.fiber = undefined
      clocks.delete(period)
      return Effect.void
    })
    return loop
  }

  const leave = (rec: EntityRec): void => {
    const beat = rec.beat
    if (beat === undefined || beat.clock === undefined) return
    beat.clock.members.delete(rec)
    beat.clock = undefined
  }

  const start = (rec: EntityRec): void => {
    const beat = rec.beat
    if (beat === undefined) return
    leave(rec)
    const period = beat.config.intervalMillis
    beat.seen = false
    beat.state = heartbeat_.healthy
    beat.firstDue = Math.ceil((engine.now() + period) / period) * period
    let clock = clocks.get(period)
    if (clock === undefined) {
      clock = { intervalMillis: period, members: new Set(), fiber: undefined }
      clocks.set(period, clock)
    }
    clock.members.add(rec)
    beat.clock = clock
    if (clock.fiber === undefined) {
      clock.fiber = forkOwned(engine, run(clock))
    }
  }

  return { start, leave }
}
