/**
 * The event path: every detector (a life's end, a heartbeat clock, a published state or raise)
 * calls `enqueue`, and `enqueue` alone updates the statistics, publishes the event to
 * subscribers and hands each matching condition to its executor:
 *
 * - ordinary conditions run FIFO on the dispatcher fiber;
 * - `noWait` conditions share one side fiber (they promise not to wait);
 * - each `independent` condition runs in a fiber of its own.
 *
 * Routing happens in `enqueue`, synchronously and in event order, so noWait and independent
 * conditions never wait for whatever the FIFO conditions are waiting for.
 *
 * A watchdog fiber replaces a dispatcher killed by a defect (a run that had started is not run
 * again, the runs that had not started are run by the new dispatcher, in order); the HAM replaces
 * a dead watchdog. They watch each other with fiber observers, not by polling.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import type * as Types from "effect/Types"
import * as cond from "../condition.js"
import type * as launch from "../launch/launcher.js"
import { common, type DeathRecord, type EarlyRestart, type Engine, forkOwned } from "./engine.js"
import { countRun, type RunContext } from "./interpret.js"
import { matches } from "./route.js"
import { type ActionRec, type ConditionRec, type EntityRec, history } from "./state.js"
import * as telemetry from "./telemetry.js"

/** @internal the HAM's own fibers a fault can be injected into (tests) */
export type HamFiber = "dispatcher" | "sideDispatcher" | "watchdog"

/**
 * Fault injection, for tests only: a HAM built with this service in its context lets the test
 * make one of its own fibers die of a defect at its next step (`test/faults.ts`).
 *
 * @internal
 */
export class Faults extends Context.Tag("effect-ham/internal/Faults")<Faults, {
  /** set by the HAM: injects a fault into one of its fibers */
  inject: ((target: HamFiber) => Effect.Effect<void>) | undefined
}>() {}

/** @internal a state published for the entity: kept, and `CondState` fires */
export const setState = (engine: Engine, rec: EntityRec, state: number): void => {
  const from = rec.state
  rec.state = state
  engine.enqueue(rec, { _tag: "CondState", ...common(engine, rec), from, to: state })
}

/** @internal a condition raised on the entity */
export const raise = (
  engine: Engine,
  rec: EntityRec,
  input: {
    readonly type: number
    readonly class: number
    readonly severity: number
    readonly detail?: string | undefined
  }
): void => {
  engine.enqueue(rec, {
    _tag: "CondRaise",
    ...common(engine, rec),
    type: input.type,
    class: input.class,
    severity: input.severity,
    detail: input.detail ?? ""
  })
}

/** the condition's one enabled action, when it is a restart */
const onlyRestart = (condition: ConditionRec): ActionRec | undefined => {
  let restart: ActionRec | undefined
  for (const a of condition.actions) {
    if (!a.enabled) continue
    if (restart !== undefined || a.action._tag !== "Restart") return undefined
    restart = a
  }
  return restart
}

const account = (engine: Engine, rec: EntityRec, event: cond.ConditionEvent) => {
  rec.lastEvent = event.time
  if (engine.state.metrics) telemetry.countEvent(rec, event, engine.preciseNow)
  switch (event._tag) {
    case "CondDeath": {
      const h = history(rec)
      h.deaths++
      h.lastDeath = event.reason
      break
    }
    case "CondAbnormalDeath":
      history(rec).abnormalDeaths++
      break
    case "CondBeatMissedLow":
      history(rec).missedLow++
      break
    case "CondBeatMissedHigh":
      history(rec).missedHigh++
      break
  }
}

/** @internal the dispatcher, its executors and its watchdog */
export const make = (
  engine: Engine,
  pubsub: PubSub.PubSub<cond.ConditionEvent>,
  runCondition: (ctx: RunContext) => Effect.Effect<void>,
  faults: { inject: ((target: HamFiber) => Effect.Effect<void>) | undefined } | undefined
) =>
  Effect.gen(function*() {
    const state = engine.state
    // the dispatcher's mailbox: a plain array, and the dispatcher's resumption while it waits
    // (cheaper than a Queue, or a Deferred made at every wait)
    let mailbox: Array<Effect.Effect<void>> = []
    let wakeUp: ((resume: Effect.Effect<void>) => void) | undefined
    const idle = Effect.async<void>((resume) => {
      wakeUp = resume
    })
    const sideQueue = yield* Queue.unbounded<Effect.Effect<void>>()

    /** while a death is reported, the dispatcher is woken at its end (`reportDeath`) */
    let holding = false
    /** the run of the death's condition whose one action is the restart decided at death */
    let restartRun:
      | { readonly run: Effect.Effect<void>; readonly owner: EntityRec; readonly restart: ActionRec }
      | undefined
    /** `first`: what the dispatcher does when it wakes, before its next run */
    const wakeDispatcher = (first: Effect.Effect<void> = Effect.void) => {
      if (wakeUp !== undefined && !holding && mailbox.length > 0) {
        const resume = wakeUp
        wakeUp = undefined
        resume(first)
      }
    }
    const toDispatcher = (run: Effect.Effect<void>) => {
      mailbox.push(run)
      wakeDispatcher()
    }

    const routeTo = (
      owner: EntityRec,
      rec: EntityRec,
      event: cond.ConditionEvent,
      early: EarlyRestart | undefined
    ) => {
      if (!owner.enabled) return
      for (const condition of owner.conditions) {
        if (!matches(condition, event)) continue
        condition.fired++
        if (owner !== rec) engine.changes.touch(owner)
        if (condition.noWait) {
          sideQueue.unsafeOffer(runCondition({ rec, event, condition, owner, shared: true, early }))
        } else if (condition.independent) {
          forkOwned(engine, runCondition({ rec, event, condition, owner, shared: false, early }))
        } else {
          const run = runCondition({ rec, event, condition, owner, shared: true, early })
          toDispatcher(run)
          // (traced, each run is a recovery span: it goes to the dispatcher)
          if (early !== undefined && engine.tracer === undefined) {
            const restart = onlyRestart(condition)
            if (restart !== undefined) restartRun = { run, owner, restart }
          }
        }
      }
    }

    /**
     * Publishes an event. Synchronously, in event order: the statistics are updated, the event
     * goes to subscribers, and every matching condition (the entity's, then the global entity's)
     * is handed to its executor. `early`: the restart a death's restart action takes the outcome of.
     */
    const enqueue = (rec: EntityRec, event: cond.ConditionEvent, early?: EarlyRestart): void => {
      if (state.stopped) return
      account(engine, rec, event)
      engine.changes.touch(rec)
      // the fast path skips the pubsub's strategy; when the buffer is full, publish through it
      // (sliding: it drops the oldest event of the lagging subscribers only, and never waits)
      if (!pubsub.unsafeOffer(event)) Effect.runSync(PubSub.publish(pubsub, event))
      for (const observe of engine.observers) observe(event)
      if (state.verbosity >= 3) {
        toDispatcher(
          Effect.logDebug(`event ${event._tag} on ${rec.name}`).pipe(
            Effect.annotateLogs({ entity: rec.name, seq: event.seq })
          )
        )
      }
      // a disabled entity's events are counted and seen by subscribers, but trigger nothing
      if (!rec.enabled) return
      routeTo(rec, rec, event, early)
      routeTo(state.global, rec, event, early)
    }

    /** a death's event, its optional fields present only when known */
    const deathEvent = (
      _tag: "CondDeath" | "CondAbnormalDeath",
      rec: EntityRec,
      death: DeathRecord
    ): cond.ConditionEvent => {
      const event: Types.Mutable<typeof cond.DeathEvent.Type> = {
        _tag: _tag as "CondDeath",
        entity: rec.name,
        time: engine.now(),
        seq: ++state.seq,
        abnormal: death.abnormal,
        reason: death.reason
      }
      if (death.pid !== undefined) event.pid = death.pid
      if (death.exitCode !== undefined) event.exitCode = death.exitCode
      if (death.signal !== undefined) event.signal = death.signal
      if (death.stderr !== undefined) event.stderr = death.stderr
      if (death.exitStatus !== undefined) event.exitStatus = death.exitStatus
      return event as cond.ConditionEvent
    }

    /**
     * The one death reporter: a life ended (ignored when it is not the entity's current life). A
     * restart that comes first and is allowed now is decided before the death is published, and
     * started once it is: `CondAbnormalDeath`, `CondDeath`, then `CondRestart`. `next`: the life
     * the launcher started by itself, taken up by that restart, or discarded.
     */
    const reportDeath = (rec: EntityRec, generation: number, death: DeathRecord, next?: launch.NextLife): void => {
      if (rec.generation !== generation || rec.status !== "running") return next?.discard()
      telemetry.setStatus(state, rec, "dead")
      rec.life = undefined
      engine.beats.leave(rec)
      const early = engine.decideAtDeath(rec, death.abnormal)
      // the dispatcher wakes once the restart has started (its conditions run in event order all
      // the same): the next life does not wait for it
      const held = holding
      holding = true
      try {
        if (death.abnormal) enqueue(rec, deathEvent("CondAbnormalDeath", rec, death), early)
        enqueue(rec, deathEvent("CondDeath", rec, death), early)
        const only = restartRun
        restartRun = undefined
        const start = state.metrics && only !== undefined ? engine.preciseNow() : 0
        if (early !== undefined) early.run(next)
        else next?.discard()
        // the restart is all that condition runs, and it is done: counted (and timed) here, the
        // dispatcher does not wake for it
        if (only !== undefined && early?.succeeded === true) {
          const at = mailbox.lastIndexOf(only.run)
          if (at >= 0) {
            mailbox.splice(at, 1)
            countRun(engine, only.owner, only.restart)
            if (state.metrics) telemetry.recordAction(only.restart.action._tag, engine.preciseNow() - start)
          }
        }
      } finally {
        holding = held
        // after a yield: the fibers the death woke (its subscribers) run first
        if (!held) wakeDispatcher(Effect.yieldNow())
      }
    }

    // ---- the fibers
    /** a defect in the HAM's own code while it runs one condition must not stop the dispatcher */
    const survive = (cause: Cause.Cause<never>): Effect.Effect<void> =>
      state.stopped && Cause.isInterruptedOnly(cause)
        ? Effect.failCause(cause)
        : Effect.logError("effect-ham: defect while dispatching", cause)

    const injected = { dispatcher: false, sideDispatcher: false, watchdog: false }
    const dead: Array<"dispatcher" | "sideDispatcher"> = []
    let watchdogWake: Deferred.Deferred<void> | undefined

    // the batch being run: a new dispatcher carries on from `batchIndex`
    let batch: Array<Effect.Effect<void>> = []
    let batchIndex = 0
    const nextStep: Effect.Effect<void> = Effect.suspend(() => {
      if (injected.dispatcher) {
        injected.dispatcher = false
        return Effect.dieMessage("effect-ham: a fault injected into the dispatcher")
      }
      if (batchIndex < batch.length) {
        const run = batch[batchIndex]
        batch[batchIndex++] = Effect.void
        return Effect.catchAllCause(run, survive)
      }
      if (mailbox.length === 0) {
        batch = []
        batchIndex = 0
        return idle
      }
      batch = mailbox
      batchIndex = 0
      mailbox = []
      return Effect.void
    })
    const nextSide: Effect.Effect<void> = Effect.suspend(() => {
      if (injected.sideDispatcher) {
        injected.sideDispatcher = false
        return Effect.dieMessage("effect-ham: a fault injected into the noWait dispatcher")
      }
      return Effect.flatMap(Queue.take(sideQueue), (run) => Effect.catchAllCause(run, survive))
    })

    let dispatcher: Fiber.RuntimeFiber<never> = undefined as never
    let sideDispatcher: Fiber.RuntimeFiber<never> = undefined as never
    let watchdog: Fiber.RuntimeFiber<never> = undefined as never

    const wakeWatchdog = () => {
      const wake = watchdogWake
      if (wake !== undefined) {
        watchdogWake = undefined
        Deferred.unsafeDone(wake, Exit.void)
      }
    }
    const onDispatcherExit = (which: "dispatcher" | "sideDispatcher") => () => {
      if (state.stopped) return
      state.hamFailures++
      dead.push(which)
      wakeWatchdog()
    }
    // a plain loop: `Effect.forever` would yield to the scheduler after every run; the runtime
    // still yields on its own after a long run of synchronous steps
    const dispatchLoop: Effect.Effect<never> = Effect.flatMap(nextStep, () => dispatchLoop)
    // The three fibers are owned by the HAM's fiber set: the observers below replace one that
    // dies, and the shutdown interrupts all three.
    const startDispatcher = () => {
      dispatcher = forkOwned(engine, dispatchLoop, { immediate: true })
      dispatcher.addObserver(onDispatcherExit("dispatcher"))
    }
    const startSideDispatcher = () => {
      sideDispatcher = forkOwned(engine, Effect.forever(nextSide), { immediate: true })
      sideDispatcher.addObserver(onDispatcherExit("sideDispatcher"))
    }
    const watchdogStep: Effect.Effect<void> = Effect.suspend(() => {
      if (injected.watchdog) {
        injected.watchdog = false
        return Effect.dieMessage("effect-ham: a fault injected into the watchdog")
      }
      const which = dead.shift()
      if (which === undefined) {
        watchdogWake = Deferred.unsafeMake<void>(FiberId.none)
        return Deferred.await(watchdogWake)
      }
      if (which === "dispatcher") startDispatcher()
      else startSideDispatcher()
      return Effect.logWarning(`effect-ham: the ${which} died; the watchdog started a new one`)
    })
    const startWatchdog = () => {
      watchdogWake = undefined
      watchdog = forkOwned(engine, Effect.forever(watchdogStep), { immediate: true })
      watchdog.addObserver(() => {
        if (state.stopped) return
        state.watchdogFailures++
        startWatchdog()
      })
    }
    if (faults !== undefined) {
      faults.inject = (target) =>
        Effect.sync(() => {
          injected[target] = true
          if (target === "dispatcher") toDispatcher(Effect.void)
          else if (target === "sideDispatcher") sideQueue.unsafeOffer(Effect.void)
          else wakeWatchdog()
        })
    }
    startDispatcher()
    startSideDispatcher()
    startWatchdog()

    /** ends the dispatchers and the watchdog, and the queues (the HAM is stopping) */
    const shutdown = Effect.suspend(() => Fiber.interruptAll([watchdog, dispatcher, sideDispatcher])).pipe(
      Effect.zipRight(Queue.shutdown(sideQueue))
    )

    return { enqueue, reportDeath, shutdown }
  })
