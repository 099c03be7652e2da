/**
 * The driver of fiber entities: each life is a fiber running the entity's effect, forked from
 * the runtime captured when the entity was attached (its context, fiber refs and clock), with a
 * scope of its own (`scope.ts`).
 *
 * A life is a root fiber on purpose: it belongs to the HAM's registry (its entity record holds
 * it), not to the fiber that happened to start it, and the HAM's shutdown interrupts every one.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import type * as FiberRefs from "effect/FiberRefs"
import * as Runtime from "effect/Runtime"
import * as Scope from "effect/Scope"
import type { AttachError } from "../../HamError.js"
import * as entity_ from "../entity.js"
import { describeCause } from "../ham/describe.js"
import { type AttachContext, common, type Driver, type Engine, forkOwned } from "../ham/engine.js"
import { handleOf } from "../ham/handle.js"
import type { EntityRec } from "../ham/state.js"
import * as telemetry from "../ham/telemetry.js"
import * as layered from "./context.js"
import * as lifeScope from "./scope.js"

/** a life's context: the attaching fiber's, its code as its `Scope`, its entity's handle as `Entity.Current` */
const lifeContext = layered.addDerived(
  Scope.Scope,
  entity_.Current,
  (code) => handleOf((code as lifeScope.Code).owner as EntityRec)
)

/** signals that end a fiber (by interrupting it) */
const terminatingSignals = new Set(["SIGTERM", "SIGKILL", "SIGINT", "SIGHUP", "SIGQUIT", "SIGABRT"])

/** @internal */
export interface FiberDriver extends Driver {
  /**
   * Attaches a fiber entity: its first life starts on the next scheduler turn, so that the
   * caller of `Ham.attach` can add its conditions first (a restart starts a life at once on the
   * current thread: no scheduler hop between the decision to restart and the new life).
   */
  readonly attach: (spec: entity_.FiberSpec<any>, context: AttachContext) => Effect.Effect<EntityRec, AttachError, any>
}

/** @internal */
export const make = (engine: Engine): FiberDriver => {
  // Entities attached from the same fiber in a row share the fiber refs and the context of one
  // runtime: an idle entity should cost little more than its fiber. Two runtimes are alike when
  // they hold the same context, flags, and fiber ref values (a fiber's refs are a new copy at
  // every `Effect.runtime`).
  let lastRuntime: Runtime.Runtime<any> | undefined
  const sameRefs = (a: FiberRefs.FiberRefs, b: FiberRefs.FiberRefs): boolean => {
    if (a === b) return true
    if (a.locals.size !== b.locals.size) return false
    for (const [ref, stack] of a.locals) {
      const other = b.locals.get(ref)
      if (other === undefined) return false
      if (other !== stack && other[0][1] !== stack[0][1]) return false
    }
    return true
  }
  const shareRuntime = <R>(runtime: Runtime.Runtime<R>): Runtime.Runtime<R> => {
    if (
      lastRuntime !== undefined && lastRuntime.context === runtime.context &&
      lastRuntime.runtimeFlags === runtime.runtimeFlags && sameRefs(lastRuntime.fiberRefs, runtime.fiberRefs)
    ) return lastRuntime
    lastRuntime = runtime
    return runtime
  }

  const report = (
    rec: EntityRec,
    generation: number,
    exit: Exit.Exit<unknown, unknown>,
    signal: string | undefined
  ) => {
    if (Exit.isSuccess(exit)) {
      engine.reportDeath(rec, generation, { abnormal: false, reason: "completed" })
    } else {
      const reason = signal !== undefined ? `killed by ${signal}` : describeCause(exit.cause)
      engine.reportDeath(rec, generation, { abnormal: true, reason, signal })
    }
  }

  /**
   * The life ended by itself: its scope closes, then its death is reported. (A life the HAM
   * stopped is no longer the entity's: `stop` closes its scope.)
   */
  const onExit = (rec: EntityRec, generation: number, code: lifeScope.Code) => (exit: Exit.Exit<unknown, unknown>) => {
    if (rec.generation !== generation || rec.status !== "running") return
    const closing = lifeScope.close(code, exit)
    const signal = code.killedBy
    if (closing === undefined) return report(rec, generation, exit, signal)
    forkOwned(
      engine,
      Effect.zipRight(Effect.uninterruptible(closing), Effect.sync(() => report(rec, generation, exit, signal)))
    )
  }

  const start = (rec: EntityRec, immediate: boolean): void => {
    const code = rec.code!
    lifeScope.renew(code)
    const generation = ++rec.generation
    telemetry.setStatus(engine.state, rec, "running")
    rec.lastStart = engine.now()
    // owned by the entity's record: its `life` holds the fiber until it ends, and the HAM's
    // shutdown stops every entity's life (a fiber set would cost an idle entity 130 bytes more)
    const fiber = Runtime.runFork(code, code.effect, immediate ? undefined : { immediate: false })
    if (rec.generation === generation && rec.status === "running") rec.life = { _tag: "Fiber", fiber }
    fiber.addObserver(onExit(rec, generation, code))
    engine.wake()
    engine.beats.start(rec)
  }

  const restartNow = (rec: EntityRec): void => {
    // announced before the new life starts (it starts at once and may end at once): its
    // CondRestart comes before its death
    engine.announceRestart(rec)
    start(rec, true)
  }

  return {
    restartable: true,
    inProcess: true,
    attach: (spec, context) =>
      Effect.gen(function*() {
        const runtime = shareRuntime(yield* Effect.runtime<any>())
        const rec = context.take(yield* context.claimable)
        rec.kind = "fiber"
        rec.code = lifeScope.make(spec.effect, runtime, rec, lifeContext)
        engine.enqueue(rec, { _tag: "CondAttach", ...common(engine, rec) })
        start(rec, false)
        return rec
      }),
    // code cannot be stored: the entity waits as a placeholder for the application's next attach
    restore: () => Effect.void,
    pidOf: () => undefined,
    recordOf: () => undefined,
    isReady: () => false,
    restart: (rec) => Effect.sync(() => restartNow(rec)),
    restartNow,
    release: () => Effect.void,
    // the life's scope is closed however the wait for its end ends: a life that stops itself
    // (a detach from its own fiber) is interrupted in that wait, and closes it then
    stop: (rec, life) =>
      life._tag !== "Fiber" ? Effect.void : Effect.onExit(Fiber.interrupt(life.fiber), (waited) => {
        const code = rec.code
        const exit = Exit.isSuccess(waited) ? waited.value : waited
        return (code === undefined ? undefined : lifeScope.close(code, exit)) ?? Effect.void
      }),
    signal: (rec, signal) =>
      Effect.suspend(() => {
        const life = rec.life
        if (rec.status !== "running" || life?._tag !== "Fiber") {
          return Effect.fail(`entity "${rec.name}" is not running`)
        }
        if (!terminatingSignals.has(signal)) {
          return Effect.fail(`a fiber entity only takes terminating signals, not ${signal}`)
        }
        rec.code!.killedBy = signal
        // an interruption the HAM was asked for by the action: a death, reported by the observer
        return Effect.asVoid(
          Effect.zipRight(Effect.sync(() => life.fiber.unsafeInterruptAsFork(FiberId.none)), life.fiber.await)
        )
      })
  }
}
