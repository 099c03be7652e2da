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
 * A restart that a death runs before anything else, and that the intensity and back-off allow at
 * once, is decided when the death is reported (`decideAtDeath`) and started then: the restart
 * action of the death's condition takes its outcome when the dispatcher reaches it. The launcher of
 * a child is told ahead of time which exits such a restart follows (`authorise`), and starts the
 * next child by itself as soon as the last one exits; the HAM takes it up when the death reaches
 * it, or lets it go (it is killed) when the restart is not decided at once after all.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import type * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as ScheduleIntervals from "effect/ScheduleIntervals"
import { RestartIntensityExceeded } from "../../HamError.js"
import * as cond from "../condition.js"
import * as intensity_ from "../intensity.js"
import type * as launch from "../launch/launcher.js"
import { common, type Driver, driverOf, type EarlyRestart, type Engine, forkOwned, lifeDriverOf } from "./engine.js"
import { firstForDeath } from "./route.js"
import { type ConditionRec, type EntityRec, history, type Policy, restartLineOf } from "./state.js"
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

/**
 * The condition runs a restart before anything else: its first enabled action is a restart.
 *
 * @internal
 */
export const restartsFirst = (condition: ConditionRec | undefined): boolean => {
  if (condition === undefined) return false
  for (const a of condition.actions) if (a.enabled) return a.action._tag === "Restart"
  return false
}

/**
 * The entity holds a one-shot action: a restart takes them away (`discardOneShots`), so one made
 * before the conditions already queued have run would take them from those.
 */
const holdsOneShotActions = (rec: EntityRec): boolean =>
  rec.conditions.some((c) => c.actions.some((a) => a.action.oneShot))

/** a restart already decided (its history recorded), started when its death has been published */
class Early implements EarlyRestart {
  private outcome: Exit.Exit<void, string> | undefined = undefined
  private deferred: Deferred.Deferred<void, string> | undefined = undefined
  private readonly generation: number
  constructor(
    private readonly engine: Engine,
    private readonly rec: EntityRec,
    private readonly driver: Driver,
    /** how many early restarts are being started on this thread (a life that dies at once) */
    private readonly nesting: { depth: number }
  ) {
    this.generation = rec.generation
  }

  /** the entity is still the one the restart was decided for */
  private current(): boolean {
    const rec = this.rec
    return rec.attached && !this.engine.state.stopped && rec.generation === this.generation &&
      rec.status === "restarting"
  }

  run(next: launch.NextLife | undefined) {
    const nesting = this.nesting
    const now = this.driver.restartNow
    // a fiber's next life starts on this thread, unless a life that died at once is being
    // restarted here already (its next life would die at once too: a loop on the stack)
    if (now !== undefined && next === undefined && nesting.depth === 0 && this.current()) {
      nesting.depth++
      try {
        now(this.rec)
        this.settle(Exit.void)
      } catch (defect) {
        this.settle(Exit.die(defect))
      } finally {
        nesting.depth--
      }
      return
    }
    const restart = Effect.suspend(() => {
      if (this.current()) return this.driver.restart(this.rec, () => this.current(), next)
      next?.discard()
      return Effect.fail(`restart of "${this.rec.name}" abandoned: the entity changed while waiting`)
    })
    // after a yield: the death's subscribers come first, even one that yields between its two
    // events (`Effect.forever`) (a spawn holds this thread for a millisecond or more)
    forkOwned(this.engine, Effect.zipRight(Effect.yieldNow(), restart)).addObserver((exit) => this.settle(exit))
  }

  private settle(outcome: Exit.Exit<void, string>) {
    this.outcome = outcome
    if (this.deferred !== undefined) Deferred.unsafeDone(this.deferred, outcome)
  }

  get succeeded(): boolean {
    return this.outcome !== undefined && Exit.isSuccess(this.outcome)
  }

  get join(): Effect.Effect<void, string> {
    return this.outcome ??
      Effect.suspend(() =>
        this.outcome ?? Deferred.await(this.deferred ??= Deferred.unsafeMake<void, string>(FiberId.none))
      )
  }
}

/** @internal the restart action, and what a restart announces */
export const make = (engine: Engine) => {
  const nesting = { depth: 0 }

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

  /** what a decision changes in the entity's history */
  const record = (rec: EntityRec, past: RestartHistory, decision: Decision) => {
    // a restart refused by the intensity is not recorded in the window
    const refused = decision._tag === "GiveUp" && decision.reason === "intensity"
    if (!refused && decision.restartTimes !== past.restartTimes) history(rec).restartTimes = decision.restartTimes
    if (decision.backoffState !== past.backoffState) history(rec).backoffState = decision.backoffState
  }

  /**
   * A death of the entity is being reported: when the first condition it runs starts with a
   * restart, and the intensity and back-off let that restart happen now, it is decided here (the
   * entity is `restarting`). The caller publishes the death, then starts the restart (`run`).
   */
  const decideAtDeath = (rec: EntityRec, abnormal: boolean): EarlyRestart | undefined => {
    const state = engine.state
    if (!rec.attached || state.stopped) return undefined
    const driver = driverOf(engine, rec)
    if (driver === undefined || !driver.restartable || holdsOneShotActions(rec)) return undefined
    // a life that died as it was started here: its restart is the dispatcher's (a crash loop
    // neither grows the stack nor holds this thread)
    if (nesting.depth > 0 && driver.restartNow !== undefined) return undefined
    if (!restartsFirst(firstForDeath(state.global, rec, abnormal))) return undefined
    const past = rec.history
    const decision = decide(past, rec.lastStart, rec.policy, engine.now())
    // a back-off wait, or a decision the schedule must step to make: the restart action decides
    if (Effect.isEffect(decision) || decision._tag !== "Restart" || decision.delayMillis > 0) return undefined
    record(rec, past, decision)
    telemetry.setStatus(state, rec, "restarting")
    return new Early(engine, rec, driver, nesting)
  }

  /**
   * What the entity's launcher may do by itself when its running life ends: start the next one at
   * once, as `decideAtDeath` would decide then. As time goes on, restarts only leave the intensity's
   * window, and the back-off starts afresh once the life has been up long enough: the wait for
   * both is the authorisation's `afterMillis`.
   *
   * @internal
   */
  const authorise = (rec: EntityRec): launch.Authorisation | undefined => {
    const state = engine.state
    // a HAM whose store can be taken from it asks its lease before every spawn
    if (rec.status !== "running" || !rec.attached || state.stopped || engine.leased) return undefined
    if (driverOf(engine, rec)?.restartable !== true || holdsOneShotActions(rec)) return undefined
    // the launcher starts the same command again: a restart line of its own is started by the HAM
    if (restartLineOf(rec) !== undefined) return undefined
    const abnormal = restartsFirst(firstForDeath(state.global, rec, true))
    const normal = restartsFirst(firstForDeath(state.global, rec, false))
    if (!abnormal && !normal) return undefined
    const now = engine.now()
    const policy = rec.policy
    const intensityWait = intensity_.waitFor(rec.history.restartTimes, now, policy.intensity)
    if (intensityWait === undefined) return undefined
    const backoffWait = policy.backoff === undefined ? 0 : rec.lastStart + policy.backoffResetMillis - now
    const wait = Math.max(intensityWait, backoffWait, 0)
    // a millisecond more: the launcher's clock is not the HAM's
    return { abnormal, normal, afterMillis: wait > 0 ? wait + 1 : 0 }
  }

  const armOne = (rec: EntityRec) => {
    const life = rec.life
    if (life !== undefined) lifeDriverOf(engine, life).arm?.(life, authorise(rec))
  }

  /** the entity's launcher is told again what it may do when the life ends (every entity's, for the global one) */
  const rearm = (rec: EntityRec): void => {
    if (!rec.isGlobal) return armOne(rec)
    for (const each of engine.state.entities.values()) armOne(each)
  }

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
        record(rec, past, decision)
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

  return { restart, announceRestart, decideAtDeath, authorise, rearm }
}
