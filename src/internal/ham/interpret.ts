/**
 * The action interpreter: runs a condition's action list, in order, for one event. Each action
 * is data (`action.ts`) and is interpreted here: restart (through the entity's driver), execute
 * (a command, or local code), notify, signal, waitfor, heartbeatHealthy, log, and publishState
 * and raise (on this HAM, or on another through `engine.nodes`: a node-qualified action). A failed action
 * runs its alternates in order until one succeeds, then every action of its fail list;
 * `breakOnFail` stops the list, `removeOnFail` removes the action.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as FiberSet from "effect/FiberSet"
import * as Option from "effect/Option"
import type * as Tracer from "effect/Tracer"
import * as NodeFs from "node:fs"
import { ActionFailed } from "../../HamError.js"
import * as action_ from "../action.js"
import type * as cond from "../condition.js"
import * as heartbeat_ from "../heartbeat.js"
import * as probe_ from "../probe.js"
import { describeCause } from "./describe.js"
import * as engine_ from "./engine.js"
import { type Engine, lifeDriverOf } from "./engine.js"
import * as restart_ from "./restart.js"
import type { ActionRec, ConditionRec, EntityRec } from "./state.js"
import * as telemetry from "./telemetry.js"

/** @internal one run of a condition's action list */
export interface RunContext {
  /** the entity the event happened to */
  readonly rec: EntityRec
  readonly event: cond.ConditionEvent
  readonly condition: ConditionRec
  /** the entity that holds the condition (the global entity, or `rec`) */
  readonly owner: EntityRec
  /** true when the list runs on a fiber that other conditions share (the dispatcher, the noWait fiber) */
  readonly shared: boolean
  /** the recovery's span, when the HAM traces (telemetry.ts) */
  readonly span?: Tracer.Span | undefined
  /** the restart already decided when the death was reported: the restart action takes its outcome */
  readonly early?: engine_.EarlyRestart | undefined
}

const pollEvery = 10

const poll = (check: Effect.Effect<boolean>): Effect.Effect<void> =>
  Effect.flatMap(check, (ok) => (ok ? Effect.void : Effect.zipRight(Effect.sleep(pollEvery), poll(check))))

const signalPid = (pid: number, signal: string): Effect.Effect<void, string> =>
  Effect.try({
    try: () => {
      process.kill(pid, signal as NodeJS.Signals)
    },
    catch: (e) => `cannot send ${signal} to pid ${pid}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`
  })

/** @internal an action of `owner`'s is run: counted, and the owner's record is to be committed */
export const countRun = (engine: Engine, owner: EntityRec, action: ActionRec): void => {
  action.runs++
  engine.changes.touch(owner)
}

/** @internal */
export const make = (engine: Engine) => {
  // waitfor-entity actions wait on `started`, completed (and replaced) whenever an entity starts
  // or becomes ready while someone waits
  let waiters = 0
  let started = Deferred.unsafeMake<void>(FiberId.none)
  const wake = () => {
    if (waiters === 0) return
    const previous = started
    started = Deferred.unsafeMake<void>(FiberId.none)
    Deferred.unsafeDone(previous, Exit.void)
  }

  /** waits until `check` holds, looking again whenever an entity starts or becomes ready */
  const waitUntil = (check: () => boolean): Effect.Effect<void> =>
    Effect.suspend(() => {
      if (check()) return Effect.void
      waiters++
      return Effect.zipRight(
        Effect.ensuring(
          Deferred.await(started),
          Effect.sync(() => {
            waiters--
          })
        ),
        waitUntil(check)
      )
    })

  const isRunning = (name: string) => engine.state.entities.get(name)?.status === "running"
  const isReady = (name: string) => engine_.isReady(engine, engine.state.entities.get(name))

  const runWaitFor = (action: action_.WaitForData): Effect.Effect<void, string> => {
    const within = (wait: Effect.Effect<void>, what: string) =>
      Effect.timeoutFail(wait, { duration: action.millis, onTimeout: () => `${what} within ${action.millis} ms` })
    if (action.entity !== undefined) {
      const name = action.entity
      return within(waitUntil(() => isRunning(name)), `entity "${name}" did not appear`)
    }
    if (action.ready !== undefined) {
      const name = action.ready
      return within(waitUntil(() => isReady(name)), `entity "${name}" was not ready`)
    }
    if (action.path !== undefined) {
      const path = action.path
      return within(poll(Effect.sync(() => NodeFs.existsSync(path))), `path ${path} did not appear`)
    }
    if (action.port !== undefined) {
      const host = action.host ?? "127.0.0.1"
      const port = action.port
      return within(poll(probe_.accepts({ host, port })), `nothing accepted connections on ${host}:${port}`)
    }
    return Effect.sleep(action.millis)
  }

  const runCommand = (line: action_.CommandLine, timeoutMillis: number | undefined): Effect.Effect<void, string> => {
    const rendered = action_.renderCommandLine(line)
    const run = engine.executor.exitCode(action_.commandFrom(line)).pipe(
      Effect.mapError((e) => `${rendered}: ${e.message}`),
      Effect.flatMap((code) => code === 0 ? Effect.void : Effect.fail(`${rendered} exited with code ${code}`))
    )
    return timeoutMillis === undefined
      ? run
      : Effect.timeoutFail(run, {
        duration: timeoutMillis,
        onTimeout: () => `${rendered} timed out after ${timeoutMillis} ms`
      })
  }

  const signalEntity = (rec: EntityRec, signal: string, awaitExitMillis: number | undefined) =>
    rec.life === undefined
      ? Effect.fail(`entity "${rec.name}" is not running`)
      : lifeDriverOf(engine, rec.life).signal(rec, signal, awaitExitMillis)

  /** runs one action; any failure (a reason string, or the error of local code) is the action's failure */
  const runOne = (ctx: RunContext, action: action_.ActionData, name: string): Effect.Effect<unknown, unknown> => {
    switch (action._tag) {
      case "Restart":
        return ctx.early?.join ?? engine.restart(ctx.rec)
      case "RestartEntity":
        return engine.nodes.call(undefined, undefined, (ham) => ham.restartEntity(action.entity))
      case "Execute":
        return runCommand(action.command, action.timeoutMillis)
      case "Notify": {
        const value = Option.getOrElse(action.value, () => ctx.event)
        const delivered = action.target._tag === "Queue" ? action.target.offer(value) : action.target.complete(value)
        return Effect.flatMap(
          Effect.exit(delivered),
          (exit) =>
            Exit.isSuccess(exit) && (exit.value || action.target._tag === "Deferred")
              ? Effect.void
              : Effect.fail("the notify target did not accept the value (full or shut down)")
        )
      }
      case "Signal":
        if (action.entity !== undefined) {
          const entity = action.entity
          return engine.nodes.call(action.node, action.timeoutMillis, (ham) => ham.signalEntity(entity, action.signal))
        }
        return action.pid === undefined
          ? signalEntity(ctx.rec, action.signal, action.awaitExitMillis)
          : engine.mayAct()
          ? signalPid(action.pid, action.signal)
          : Effect.fail(engine_.notActing)
      case "WaitFor":
        return runWaitFor(action)
      case "HeartbeatHealthy":
        return Effect.sync(() => {
          if (ctx.rec.beat !== undefined) ctx.rec.beat.state = heartbeat_.heal(ctx.rec.beat.state)
          if (ctx.rec.watch !== undefined) ctx.rec.watch.probeState = heartbeat_.heal(ctx.rec.watch.probeState)
        })
      case "Log": {
        if (engine.state.verbosity < action.verbosity) return Effect.void
        const path = `${ctx.owner.name}/${ctx.condition.name}/${name}`
        const text = action.attachPrefix ? `${path}: ${action.message}` : action.message
        return Effect.logInfo(text).pipe(
          Effect.annotateLogs({ entity: ctx.rec.name, condition: ctx.condition.name, event: ctx.event._tag })
        )
      }
      case "PublishState":
        return engine.nodes.call(
          action.node,
          action.timeoutMillis,
          (ham) => ham.publishState(action.entity, action.state)
        )
      case "Raise": {
        const detail = action.raise.detail ?? `${ctx.event._tag} of "${ctx.rec.name}" (seq ${ctx.event.seq})`
        return engine.nodes.call(
          action.node,
          action.timeoutMillis,
          (ham) => ham.raise(action.entity, { ...action.raise, detail })
        )
      }
      case "NotifyEntity": {
        const target = engine.state.entities.get(action.entity)
        const channel = target?.channel
        if (channel === undefined) {
          return Effect.fail(
            target === undefined
              ? `no entity "${action.entity}"`
              : `entity "${action.entity}" has no notify socket (not a process entity of this HAM)`
          )
        }
        return Effect.flatMap(
          channel.send(action_.messageLine(action.message)),
          (sent) => sent > 0 ? Effect.void : Effect.fail(`entity "${action.entity}" has no notify connection open`)
        )
      }
      case "Local": {
        // suspended: code that throws instead of returning an effect is a failure, not a crash
        const run = Effect.suspend(() => action.run(ctx.event))
        // traced, the application's code runs in the recovery's span (its own spans are children)
        return ctx.span === undefined ? run : Effect.withParentSpan(run, ctx.span)
      }
    }
  }

  const succeeded = Effect.succeed(undefined)

  /** runs an action, then its alternates in order until one succeeds; reports the primary's failure */
  const runWithAlternates = (
    ctx: RunContext,
    action: action_.ActionData,
    name: string
  ): Effect.Effect<ActionFailed | undefined> =>
    Effect.matchCauseEffect(runOne(ctx, action, name), {
      onSuccess: () => succeeded,
      onFailure: (cause) => {
        // an interruption while the HAM stops is the executor's own: pass it on; any other
        // interruption (the action's code interrupted itself) is a failure of the action
        if (engine.state.stopped && Cause.isInterruptedOnly(cause)) {
          return Effect.failCause(cause as Cause.Cause<never>)
        }
        const failure = new ActionFailed({
          entity: ctx.rec.name,
          condition: `${ctx.owner.name}/${ctx.condition.name}`,
          action: name,
          reason: describeCause(cause)
        })
        const logFailure = engine.state.verbosity >= 1
          ? Effect.logWarning(failure.message).pipe(Effect.annotateLogs({ entity: ctx.rec.name, action: name }))
          : Effect.void
        const tryAlternates = (i: number): Effect.Effect<void> => {
          if (i >= action.alternates.length) return Effect.void
          const alternate = action.alternates[i]
          const alternateName = `${name}~${i + 1}`
          const start = ctx.span === undefined ? 0 : engine.preciseNow()
          return Effect.flatMap(runWithAlternates(ctx, alternate, alternateName), (r) => {
            if (ctx.span !== undefined) actionEvent(ctx.span, alternateName, alternate, start, r, name)
            return r === undefined ? Effect.void : tryAlternates(i + 1)
          })
        }
        // the fail list (QNX's): every fail action runs, whatever the others did
        const failList = action.onFail ?? []
        const failNames = failList.length === 0 ? [] : action_.failNames(failList)
        const runFailList = (i: number): Effect.Effect<void> => {
          if (i >= failList.length) return Effect.void
          const failAction = failList[i]
          const failName = `${name}/${failNames[i]}`
          const start = ctx.span === undefined ? 0 : engine.preciseNow()
          return Effect.flatMap(runWithAlternates(ctx, failAction, failName), (r) => {
            if (ctx.span !== undefined) actionEvent(ctx.span, failName, failAction, start, r, name)
            return runFailList(i + 1)
          })
        }
        return Effect.as(Effect.zipRight(logFailure, Effect.zipRight(tryAlternates(0), runFailList(0))), failure)
      }
    })

  /**
   * An action's event in its recovery's span: its name and kind, how it went, how long it took; an
   * alternate's names the action it stands in for. (Events, not child spans: a span per action
   * would cost an exporting tracer several microseconds each.)
   */
  const actionEvent = (
    span: Tracer.Span,
    name: string,
    action: action_.ActionData,
    start: number,
    failure: ActionFailed | undefined,
    alternateOf?: string
  ) => {
    const attributes: Record<string, unknown> = {
      "ham.action": name,
      "ham.action.kind": action._tag,
      "ham.outcome": failure === undefined ? "ok" : "failed",
      "ham.duration_ms": engine.preciseNow() - start
    }
    if (failure !== undefined) attributes["ham.reason"] = failure.reason
    if (alternateOf !== undefined) attributes["ham.alternate_of"] = alternateOf
    span.event(alternateOf === undefined ? "ham.action" : "ham.alternate", engine.nanos(), attributes)
  }

  /** runs one action of a condition's list (counted, timed), and keeps its failure: its count, removeOnFail */
  const runListed = (ctx: RunContext, rec: ActionRec): Effect.Effect<ActionFailed | undefined> => {
    countRun(engine, ctx.owner, rec)
    // timed here, in the list's own steps: a wrapper effect per action would cost more than the clock
    const metered = engine.state.metrics
    const start = metered || ctx.span !== undefined ? engine.preciseNow() : 0
    return Effect.map(runWithAlternates(ctx, rec.action, rec.name), (failure) => {
      if (metered) telemetry.recordAction(rec.action._tag, engine.preciseNow() - start)
      if (ctx.span !== undefined) actionEvent(ctx.span, rec.name, rec.action, start, failure)
      if (failure === undefined) return failure
      rec.failures++
      if (engine.state.metrics) telemetry.countActionFailure(ctx.rec)
      engine.changes.touch(ctx.owner)
      rec.lastFailure = failure.reason
      if (rec.action.removeOnFail) {
        ctx.condition.actions = ctx.condition.actions.filter((a) => a !== rec)
        engine.rearm(ctx.owner)
      }
      return failure
    })
  }

  /**
   * An action added with `doNow` (QNX `HACTIONDONOW`) runs once at once, on its condition's
   * entity, in a fiber of its own: its event is a `CondAttach` of that entity, of the current
   * sequence number (no event is published).
   */
  const runAdded = (owner: EntityRec, condition: ConditionRec, rec: ActionRec): void => {
    if (engine.state.fenced || engine.state.stopped) return
    const event: cond.ConditionEvent = {
      _tag: "CondAttach",
      entity: owner.name,
      time: engine.now(),
      seq: engine.state.seq
    }
    engine_.forkOwned(engine, runListed({ rec: owner, event, condition, owner, shared: false }, rec))
  }

  /** how a run of an action list ended (a recovery span's `ham.outcome`) */
  type Outcome = "ok" | "failed" | "stopped" | "deferred"

  const runList = (ctx: RunContext, from: number): Effect.Effect<Outcome> => {
    const actions = ctx.condition.actions
    const loop = (i: number, outcome: Outcome): Effect.Effect<Outcome> => {
      // a HAM that lost its store acts no more, not even the rest of a list it had begun
      if (engine.state.fenced) return Effect.succeed(i >= actions.length ? outcome : "stopped")
      if (i >= actions.length) return Effect.succeed(outcome)
      const rec = actions[i]
      if (!rec.enabled) return loop(i + 1, outcome)
      if (ctx.shared && rec.action._tag === "Restart" && restart_.wouldWait(ctx.rec, engine.now())) {
        // A back-off wait must not stall the conditions of other entities: the rest of this list
        // (the restart and what follows it) goes on in a fiber of its own, in the same order.
        return Effect.as(FiberSet.run(engine.fibers, runCondition({ ...ctx, shared: false }, i, true)), "deferred")
      }
      return Effect.flatMap(
        runListed(ctx, rec),
        (failure) =>
          failure === undefined
            ? loop(i + 1, outcome)
            : rec.action.breakOnFail
            ? Effect.succeed("stopped")
            : loop(i + 1, "failed")
      )
    }
    return loop(from, "ok")
  }

  /**
   * The action list of a condition for one event, from action `from` on. Traced, a run is a
   * recovery span (a root: the HAM's fibers may have been forked inside an application's span),
   * made on the tracer directly: the HAM's fiber does not run inside it (an exporting tracer would
   * wrap each of its steps), only the application's code of a `Local` action does. The rest of a
   * list that waits for a back-off (`continued`) runs later in a span of its own, the recovery's
   * child.
   */
  const runCondition = (ctx: RunContext, from = 0, continued = false): Effect.Effect<void> => {
    const tracer = engine.tracer
    if (tracer === undefined) return Effect.asVoid(Effect.suspend(() => runList(ctx, from)))
    return Effect.suspend(() => {
      const span = tracer.span(
        continued ? "ham.recovery.continued" : "ham.recovery",
        continued && ctx.span !== undefined ? Option.some(ctx.span) : Option.none(),
        Context.empty(),
        [],
        engine.nanos(),
        "internal"
      )
      span.attribute("ham.entity", ctx.rec.name)
      span.attribute("ham.condition", `${ctx.owner.name}/${ctx.condition.name}`)
      span.attribute("ham.condition.type", ctx.condition.type)
      span.attribute("ham.event", ctx.event._tag)
      span.attribute("ham.event.seq", ctx.event.seq)
      if (continued) span.attribute("ham.from_action", from)
      return Effect.onExit(runList({ ...ctx, span }, from), (exit) =>
        Effect.sync(() => {
          span.attribute("ham.outcome", Exit.isSuccess(exit) ? exit.value : "interrupted")
          span.end(engine.nanos(), exit)
        }))
    })
  }

  return { runAdded, runCondition, wake }
}
