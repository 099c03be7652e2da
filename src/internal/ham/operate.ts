/**
 * The operations on an entity's current life that an operator asks for (`ham restart`,
 * `ham signal`): a restart now (the life stopped as a detach stops it, a new one started, counted
 * and announced as a restart) and a signal. Each checks its input first: a bad one changes
 * nothing.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schema from "effect/Schema"
import {
  type EntityNotFound,
  EntityNotRunning,
  type HamStopped,
  type InvalidArgument,
  ProcessNotSignallable,
  type ReloadEntityError,
  ReloadFailed,
  type RestartEntityError,
  type SignalEntityError,
  SpawnFailed
} from "../../HamError.js"
import type { ReloadOptions } from "../../HamService.js"
import * as action_ from "../action.js"
import type * as entity_ from "../entity.js"
import type { ProcessDriver } from "../lives/process.js"
import * as options_ from "../options.js"
import { driverOf, type Engine, forkOwned, lifeDriverOf, notActing, quiesce } from "./engine.js"
import { type EntityRec, isUp } from "./state.js"
import * as telemetry from "./telemetry.js"
import * as validate from "./validate.js"

/** @internal what the operations are given of the registry */
export interface Lookups {
  readonly guard: Effect.Effect<void, HamStopped>
  readonly findRealEntity: (
    ref: entity_.EntityRef,
    what: string
  ) => Effect.Effect<EntityRec, EntityNotFound | InvalidArgument>
}

const isCommandLine = Schema.is(action_.CommandLine)

/** how long a reloaded process may take to say READY=1, by default */
const defaultReadyMillis = 30_000

const notRunning = (rec: EntityRec) => new EntityNotRunning({ entity: rec.name, status: rec.status })

/** what an entity runs, as written in a `SpawnFailed` */
const commandOf = (rec: EntityRec): string =>
  rec.process === undefined ? `a ${rec.kind} entity` : action_.renderCommandLine(rec.process.line)

/** @internal */
export const make = (engine: Engine, lookups: Lookups, processes: Pick<ProcessDriver, "reload">) => {
  const state = engine.state

  /**
   * Stops the current life (not a death: `quiesce`), then starts the next through the driver,
   * which counts and announces the restart. Uninterruptible: a caller that goes away does not
   * leave the entity without a life.
   *
   * A fiber entity may restart itself (its life, or a fiber of it, calls this): its life ends in
   * the restart, and a fiber cannot wait for its own end. Its restart runs in a fiber of the
   * HAM's own, to its end, and the caller waits for it as a fiber may be interrupted: a caller
   * that is the life ends there.
   */
  const restartEntity = (ref: entity_.EntityRef): Effect.Effect<void, RestartEntityError> =>
    Effect.gen(function*() {
      yield* lookups.guard
      const rec = yield* lookups.findRealEntity(ref, "restartEntity")
      if (rec.life?._tag !== "Fiber") return yield* restartRec(rec)
      return yield* Fiber.join(forkOwned(engine, restartRec(rec), { immediate: true }))
    })

  const restartRec = (rec: EntityRec): Effect.Effect<void, RestartEntityError> =>
    Effect.uninterruptible(Effect.gen(function*() {
      const driver = driverOf(engine, rec)
      if (driver === undefined || rec.status !== "running" || rec.life === undefined) {
        return yield* notRunning(rec)
      }
      if (!driver.restartable) {
        return yield* validate.invalid("entity", `"${rec.name}" is a ${rec.kind} entity: the HAM cannot restart it`)
      }
      telemetry.setStatus(state, rec, "restarting")
      yield* quiesce(engine, rec, false)
      const generation = rec.generation
      const current = () =>
        rec.attached && !state.stopped && rec.generation === generation && rec.status === "restarting"
      if (!current()) return yield* notRunning(rec)
      yield* Effect.mapError(
        driver.restart(rec, current),
        (reason) => new SpawnFailed({ entity: rec.name, command: commandOf(rec), reason })
      )
    }))

  const signalEntity = (ref: entity_.EntityRef, signal: string): Effect.Effect<void, SignalEntityError> =>
    Effect.gen(function*() {
      yield* lookups.guard
      if (typeof signal !== "string" || !validate.validSignals.has(signal)) {
        return yield* validate.invalid(
          "signal",
          `must be a signal name such as SIGTERM (got ${JSON.stringify(signal)})`
        )
      }
      const rec = yield* lookups.findRealEntity(ref, "signalEntity")
      const life = rec.life
      if (rec.status !== "running" || life === undefined) return yield* notRunning(rec)
      const driver = lifeDriverOf(engine, life)
      const pid = driver.pidOf(life)
      yield* Effect.mapError(
        driver.signal(rec, signal, undefined),
        (reason): SignalEntityError =>
          pid === undefined ? validate.invalid("signal", reason) : new ProcessNotSignallable({ pid, reason })
      )
    })

  /**
   * A graceful reload: the new process started beside the old one, which is stopped once the new
   * one says `READY=1`. Uninterruptible, bounded by the ready timeout: a caller that goes away
   * leaves one process, never two.
   */
  const reloadEntity = (ref: entity_.EntityRef, options?: ReloadOptions): Effect.Effect<void, ReloadEntityError> =>
    Effect.uninterruptible(Effect.gen(function*() {
      yield* lookups.guard
      yield* options_.checkOptions(options, ["command", "env", "readyTimeout"], "reload options")
      const readyMillis = options?.readyTimeout === undefined
        ? defaultReadyMillis
        : yield* validate.millisOf(options.readyTimeout, "readyTimeout", 1)
      const env = options?.env
      if (
        env !== undefined &&
        !(typeof env === "object" && env !== null && Object.values(env).every((v) => typeof v === "string"))
      ) {
        return yield* validate.invalid("env", "must be an object of strings")
      }
      const command = options?.command
      if (command !== undefined && !isCommandLine(command)) {
        return yield* validate.invalid("command", "must be a command line (a platform Command, or its JSON form)")
      }
      const rec = yield* lookups.findRealEntity(ref, "reloadEntity")
      if (rec.status !== "running" || rec.life === undefined) return yield* notRunning(rec)
      if (rec.kind !== "process" || rec.process === undefined) {
        return yield* validate.invalid("entity", `"${rec.name}" is a ${rec.kind} entity: only a process entity reloads`)
      }
      const base = command ?? rec.process.line
      const line = env === undefined ? base : { ...base, env: { ...base.env, ...env } }
      yield* Effect.mapError(
        processes.reload(rec, line, readyMillis),
        (reason) => new ReloadFailed({ entity: rec.name, reason })
      )
    }))

  /** a group's stop of a member (local.ts `hold`): its life ends, not a death; its status is "stopped" */
  const hold = (name: string): Effect.Effect<void> =>
    Effect.uninterruptible(Effect.suspend(() => {
      const rec = state.entities.get(name)
      if (rec === undefined || !isUp(rec)) return Effect.void
      telemetry.setStatus(state, rec, "stopped")
      return quiesce(engine, rec, false)
    }))

  /** starts a stopped or dead entity's next life through its driver (local.ts `resume`): a restart */
  const resume = (name: string): Effect.Effect<void, string> =>
    Effect.uninterruptible(Effect.suspend(() => {
      const rec = state.entities.get(name)
      if (rec === undefined || !rec.attached) return Effect.fail(`no entity "${name}"`)
      if (isUp(rec) || state.stopped) return Effect.void
      const driver = driverOf(engine, rec)
      if (driver === undefined || !driver.restartable) return Effect.fail(`"${name}" cannot be restarted`)
      if (!engine.mayAct()) return Effect.fail(notActing)
      telemetry.setStatus(state, rec, "restarting")
      const generation = rec.generation
      const current = () =>
        rec.attached && !state.stopped && rec.generation === generation && rec.status === "restarting"
      return driver.restart(rec, current)
    }))

  return { hold, restartEntity, reloadEntity, resume, signalEntity }
}
