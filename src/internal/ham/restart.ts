/**
 * Restarts: one decision (history + policy + now → restart after a delay, or give up) and the
 * restart action that carries it out through the entity's driver.
 *
 * The policy goes beyond QNX, after Erlang/OTP: at most `maxRestarts` restarts within a sliding
 * window (`intensity.ts`), consecutive restarts spaced by a back-off `Schedule`, and an entity
 * that stayed up `backoffResetMillis` restarts at once with its back-off started afresh. Giving
 * up leaves the entity `gaveUp`, fails the restart action and raises the HAM's give-up
 * `CondRaise`.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as ScheduleIntervals from "effect/ScheduleIntervals"
import { RestartIntensityExceeded } from "../../HamError.js"
import * as cond from "../condition.js"
import * as intensity_ from "../intensity.js"
import { common, driverOf, type Engine } from "./engine.js"
import { type EntityRec, history, type Policy } from "./state.js"
import * as telemetry from "./telemetry.js"

/** @internal what is known of an entity's past restarts */
export interface RestartHistory {
  /** the times of the restarts within the window */
  readonly restartTimes: ReadonlyArray<number>
  /** the back-off schedule's state */
  readonly backoffState: unknown
}

/** @internal */
export type Decision =
  | {
    readonly _tag: "Restart"
    readonly delayMillis: number
    readonly restartTimes: ReadonlyArray<number>
    readonly backoffState: unknown
  }
  | {
    readonly _tag: "GiveUp"
    readonly reason: "intensity" | "backoffEnded"
    readonly restartTimes: ReadonlyArray<number>
    readonly backoffState: unknown
  }

/**
 * The decision for a restart at `now` of an entity whose last life started at `lastStart`. It
 * reads no clock and changes nothing. When a back-off schedule must step (a `Schedule` steps as an
 * Effect), the decision comes as the effect of that step; otherwise at once (a restart's hot path
 * pays for no effect).
 *
 * @internal
 */
export const decide = (
  past: RestartHistory,
  lastStart: number,
  policy: Policy,
  now: number
): Decision | Effect.Effect<Decision> => {
  const window = intensity_.addRestart(past.restartTimes, now, policy.intensity)
  if (window._tag === "GiveUp") {
    return { _tag: "GiveUp", reason: "intensity", restartTimes: window.restarts, backoffState: past.backoffState }
  }
  const restartTimes = window.restarts
  const schedule = policy.backoff
  if (schedule === undefined) return { _tag: "Restart", delayMillis: 0, restartTimes, backoffState: past.backoffState }
  // the entity stayed up long enough: restart at once, and the back-off starts afresh
  if (now - lastStart >= policy.backoffResetMillis) {
    return { _tag: "Restart", delayMillis: 0, restartTimes, backoffState: undefined }
  }
  return Effect.map(
    (schedule as Schedule.Schedule<unknown, unknown>).step(now, undefined, past.backoffState ?? schedule.initial),
    ([backoffState, , step]): Decision =>
      ScheduleDecision.isDone(step)
        ? { _tag: "GiveUp", reason: "backoffEnded", restartTimes, backoffState }
        : {
          _tag: "Restart",
          delayMillis: Math.max(0, ScheduleIntervals.start(step.intervals) - now),
          restartTimes,
          backoffState
        }
  )
}

/** @internal true when a restart of this entity now would first wait for its back-off */
export const wouldWait = (rec: EntityRec, now: number): boolean =>
  rec.policy.backoff !== undefined && rec.status !== "running" && rec.status !== "restarting" &&
  now - rec.lastStart < rec.policy.backoffResetMillis

/** @internal the restart action, and what a restart announces */
export const make = (engine: Engine) => {
  const giveUp = (rec: EntityRec, reason: "intensity" | "backoffEnded", restarts: number) =>
    Effect.suspend(() => {
      telemetry.setStatus(engine.state, rec, "gaveUp")
      if (engine.state.metrics) telemetry.countGiveUp(rec)
      const error = new RestartIntensityExceeded({
        entity: rec.name,
        reason,
        restarts,
        withinMillis: rec.policy.intensity.withinMillis
      })
      engine.enqueue(rec, {
        _tag: "CondRaise",
        ...common(engine, rec),
        type: cond.RaiseTypeHam,
        class: cond.RaiseClassRestartGaveUp,
        severity: cond.RaiseSeverityCritical,
        detail: error.message
      })
      return Effect.fail(error.message)
    })

  const restartAfter = (rec: EntityRec, delayMillis: number): Effect.Effect<void, string> => {
    telemetry.setStatus(engine.state, rec, "restarting")
    const generation = rec.generation
    const current = () =>
      rec.attached && !engine.state.stopped && rec.generation === generation && rec.status === "restarting"
    const start = Effect.suspend(() =>
      current()
        ? driverOf(engine, rec)!.restart(rec, current)
        : Effect.fail(`restart of "${rec.name}" abandoned: the entity changed while waiting`)
    )
    return delayMillis > 0 ? Effect.zipRight(Effect.sleep(delayMillis), start) : start
  }

  const restart = (rec: EntityRec): Effect.Effect<void, string> =>
    Effect.suspend(() => {
      const driver = driverOf(engine, rec)
      if (driver === undefined) return Effect.fail(`entity "${rec.name}" is a placeholder: it cannot be restarted`)
      if (rec.status === "running" || rec.status === "restarting" || engine.state.stopped) return Effect.void
      if (!rec.attached) return Effect.fail(`entity "${rec.name}" was detached`)
      const past = rec.history
      const apply = (decision: Decision): Effect.Effect<void, string> => {
        // a restart refused by the intensity is not recorded in the window
        const refused = decision._tag === "GiveUp" && decision.reason === "intensity"
        if (!refused && decision.restartTimes !== past.restartTimes) history(rec).restartTimes = decision.restartTimes
        if (decision.backoffState !== past.backoffState) history(rec).backoffState = decision.backoffState
        if (decision._tag === "Restart") return restartAfter(rec, decision.delayMillis)
        // the restarts already made within the window (the one refused is not counted)
        return giveUp(
          rec,
          decision.reason,
          decision.reason === "intensity" ? decision.restartTimes.length - 1 : rec.history.restarts
        )
      }
      const decision = decide(past, rec.lastStart, rec.policy, engine.now())
      return Effect.isEffect(decision) ? Effect.flatMap(decision, apply) : apply(decision)
    })

  /** one-shot conditions and actions go once the entity restarted (they saw its CondRestart) */
  const discardOneShots = (rec: EntityRec) => {
    if (rec.conditions.some((c) => c.oneShot)) rec.conditions = rec.conditions.filter((c) => !c.oneShot)
    for (const c of rec.conditions) {
      if (c.actions.some((a) => a.action.oneShot)) c.actions = c.actions.filter((a) => !a.action.oneShot)
    }
  }

  const announceRestart = (rec: EntityRec, pid?: number): void => {
    history(rec).restarts++
    engine.enqueue(rec, {
      _tag: "CondRestart",
      ...common(engine, rec),
      restarts: rec.history.restarts,
      ...(pid === undefined ? {} : { pid })
    })
    discardOneShots(rec)
  }

  return { restart, announceRestart }
}
