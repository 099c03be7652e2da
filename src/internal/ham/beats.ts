/**
 * Heartbeat clocks. Every entity with the same heartbeat interval is judged by one shared clock
 * (`grid.ts`), whose periods end on a grid common to all of them (multiples of the interval on
 * the HAM's clock), so 200 children beating every second cost one wake a second, not 200. An
 * entity joins the grid at its start; its first period lasts from its start to the first grid
 * line at least one interval later (between one and two intervals), so a late joiner is never
 * judged on a short first period. The clock's fiber ends when its last member leaves.
 *
 * What a period decides (a miss, a low or high condition) is the pure rule of `heartbeat.ts`.
 *
 * @internal
 */
import type { Grid } from "../grid.js"
import * as heartbeat_ from "../heartbeat.js"
import { type Beats, common, type Engine } from "./engine.js"
import type { BeatRec, EntityRec } from "./state.js"

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
    : { config, state: heartbeat_.healthy, seen: false, count: rec.beat?.count ?? 0, member: undefined }

/** @internal */
export const make = (engine: Engine, grid: Grid): Beats => {
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

  const leave = (rec: EntityRec): void => {
    const beat = rec.beat
    if (beat === undefined || beat.member === undefined) return
    grid.leave(beat.config.intervalMillis, beat.member)
    beat.member = undefined
  }

  const start = (rec: EntityRec): void => {
    const beat = rec.beat
    if (beat === undefined) return
    leave(rec)
    beat.seen = false
    beat.state = heartbeat_.healthy
    const member = grid.join(beat.config.intervalMillis, () => {
      // an entity that stopped running, or whose heartbeat was replaced, leaves the clock
      if (rec.beat !== beat || beat.member !== member || rec.status !== "running") return false
      tick(rec, beat)
    })
    beat.member = member
  }

  return { start, leave }
}
