/**
 * The driver of lives the HAM watches by pid: a pid entity's existing process, and a process
 * entity's child adopted from an earlier HAM of the store (a guardian took over, say). The
 * process is not this HAM's child (or, for a pid entity, a child Node reaps itself), so its death
 * is found by polling `/proc` (a zombie, or the pid reused by another process, is a death).
 *
 * Its exit status is known when a poll finds the process a zombie, that is exited but not yet
 * reaped by its parent: `/proc/<pid>/stat` then still holds it (`procfs.exitStatusOf`). The HAM
 * never reaps it (it is not its child). Otherwise the process is gone with its status: the death
 * is reported as normal, with `exitStatus: "unknown"` and a reason that says so.
 *
 * A restart starts the entity's command line as a child of this HAM (the process driver); from
 * then on it is a process entity.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as FiberId from "effect/FiberId"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import { type AttachError, ProcessNotFound, ProcessNotSignallable } from "../../HamError.js"
import type * as action_ from "../action.js"
import type * as entity_ from "../entity.js"
import type { EntityDoc } from "../ham/doc.js"
import {
  type AttachContext,
  common,
  type DeathRecord,
  type Driver,
  type Engine,
  forkOwned,
  notActing
} from "../ham/engine.js"
import type { EntityRec, ExternalPid } from "../ham/state.js"
import * as telemetry from "../ham/telemetry.js"
import * as validate from "../ham/validate.js"
import * as life_ from "../launch/life.js"
import * as procfs from "../procfs.js"

/** @internal */
export interface PidDriver extends Driver {
  /** attaches an existing process: its command line is read from /proc (what a restart starts) */
  readonly attach: (spec: entity_.PidSpec, context: AttachContext) => Effect.Effect<EntityRec, AttachError>
  /**
   * A process recorded in the store: watched from now on when it is still the same one (pid and
   * start time), else its death, found now (it died while no HAM watched it: its conditions run).
   * `adopted`: a child of an earlier HAM of the store, which this HAM stops as its own (its group
   * gets the stop signal, then SIGKILL).
   */
  readonly resume: (rec: EntityRec, recorded: ExternalPid, adopted: boolean) => void
}

/** @internal how often the death of an external process is looked for */
export const defaultPollMillis = 20

/** the command line of an existing process, read from /proc: what a restart starts */
const commandLineOf = (pid: number) =>
  Effect.gen(function*() {
    const notFound = () => new ProcessNotFound({ pid })
    const stat = yield* procfs.readStat(pid).pipe(Effect.mapError(notFound))
    if (!procfs.isLiveState(stat.state)) return yield* Effect.fail(notFound())
    if (!(yield* procfs.canSignal(pid))) {
      return yield* Effect.fail(new ProcessNotSignallable({ pid, reason: "not permitted to signal it" }))
    }
    const argv = yield* procfs.readCmdline(pid).pipe(Effect.mapError(notFound))
    if (argv.length === 0) {
      return yield* Effect.fail(new ProcessNotSignallable({ pid, reason: "it has no command line (kernel thread?)" }))
    }
    const cwd = yield* procfs.readCwd(pid).pipe(Effect.mapError(notFound))
    const environ = yield* procfs.readEnviron(pid).pipe(Effect.mapError(notFound))
    const line: action_.CommandLine = {
      command: argv[0],
      args: argv.slice(1),
      env: Option.getOrElse(environ, () => ({})),
      extendEnv: Option.isNone(environ),
      cwd: Option.getOrUndefined(cwd),
      shell: false
    }
    return { line, startTime: stat.startTime }
  })

/**
 * @internal a process or pid entity back from the store takes up its kind, and is dead until
 * its driver says otherwise; false when its record has no command line (nothing to take up)
 */
export const takeUp = (engine: Engine, rec: EntityRec, doc: EntityDoc): boolean => {
  if (doc.process === undefined || (doc.kind !== "process" && doc.kind !== "pid")) return false
  rec.kind = doc.kind
  telemetry.setStatus(engine.state, rec, "dead")
  rec.order = ++engine.state.attachments
  return true
}

/** @internal its record says the entity was up (a stop of the HAM is not a death of it) */
export const wasUp = (doc: EntityDoc): boolean =>
  doc.status === "running" || doc.status === "restarting" || doc.status === "stopped"

/**
 * What one look at /proc says of a watched process: alive, gone (no such process, or another one
 * under its pid), or ended and not yet reaped (a zombie), with its wait status when it may be read.
 */
type Look = "alive" | "gone" | { readonly status: number | undefined }

const lookAt = (external: ExternalPid): Look => {
  const text = procfs.statTextOf(external.pid)
  const stat = text === undefined ? undefined : Option.getOrUndefined(procfs.parseStat(text))
  if (text === undefined || stat === undefined || stat.startTime !== external.startTime) return "gone"
  return procfs.isLiveState(stat.state) ? "alive" : { status: procfs.exitStatusOf(text, external.pid) }
}

/** true while it is the same live process (not a zombie, not a reused pid) */
const aliveNow = (external: ExternalPid): Effect.Effect<boolean> => Effect.sync(() => lookAt(external) === "alive")

/**
 * The death of a watched process that a look found ended: from its wait status when there is one
 * (as a process entity's: exit code 0 is normal, another code or a signal abnormal), else of
 * unknown status (normal, `exitStatus: "unknown"`; `gone` says why when the process is gone).
 */
const deathOf = (pid: number, seen: Exclude<Look, "alive">, gone: string): DeathRecord => {
  const ended = seen === "gone" || seen.status === undefined ? undefined : procfs.decodeWaitStatus(seen.status)
  if (ended === undefined) {
    const why = seen === "gone" ? gone : "exited, and this HAM may not read its status"
    return { abnormal: false, reason: `pid ${pid} ${why}: its exit status is unknown`, pid, exitStatus: "unknown" }
  }
  return ended._tag === "Exited"
    ? { abnormal: ended.exitCode !== 0, reason: `exited with code ${ended.exitCode}`, pid, exitCode: ended.exitCode }
    : {
      abnormal: true,
      reason: `killed by ${ended.signal}${ended.coreDumped ? " (core dumped)" : ""}`,
      pid,
      signal: ended.signal
    }
}

const pollEvery = Schedule.spaced("5 millis")

/**
 * signal, then SIGKILL after the grace, to a process group this HAM did not start; once begun, it
 * runs to its end (`toTheEnd`), even when its caller is interrupted while it waits out the grace
 */
const stopGroup = (external: ExternalPid, signal: string, graceMillis: number) =>
  life_.toTheEnd(Effect.gen(function*() {
    if (!(yield* aliveNow(external))) return
    life_.signalGroupOrProcess(external.pid, signal)
    yield* aliveNow(external).pipe(
      Effect.repeat({ schedule: pollEvery, while: (up) => up }),
      Effect.timeout(graceMillis),
      Effect.ignore
    )
    life_.signalGroupOrProcess(external.pid, "SIGKILL")
  }))

/** @internal */
export const make = (engine: Engine): PidDriver => {
  const watch = (rec: EntityRec, external: ExternalPid, adopted: boolean): void => {
    const generation = ++rec.generation
    telemetry.setStatus(engine.state, rec, "running")
    const look = Effect.sync(() => {
      const seen = lookAt(external)
      if (seen === "alive") return true
      engine.reportDeath(rec, generation, deathOf(external.pid, seen, "is gone, reaped before the HAM looked"))
      return false
    })
    const loop: Effect.Effect<void> = Effect.flatMap(
      Effect.sleep(external.pollMillis),
      () => Effect.flatMap(look, (alive) => alive ? loop : Effect.void)
    )
    const watcher = forkOwned(engine, loop, { immediate: true })
    rec.life = { _tag: "Pid", external, watcher, adopted }
    engine.wake()
    engine.beats.start(rec)
  }

  const resume = (rec: EntityRec, recorded: ExternalPid, adopted: boolean): void => {
    const seen = lookAt(recorded)
    if (seen === "alive") return watch(rec, recorded, adopted)
    telemetry.setStatus(engine.state, rec, "running")
    engine.reportDeath(rec, rec.generation, deathOf(recorded.pid, seen, "died while no HAM was watching it"))
  }

  return {
    restartable: true,
    inProcess: false,
    attach: (spec, context) =>
      Effect.gen(function*() {
        const adopted = context.adoptRestored("pid")
        if (adopted !== undefined) return adopted
        const pollMillis = spec.options.pollInterval === undefined
          ? defaultPollMillis
          : yield* validate.millisOf(spec.options.pollInterval, "pollInterval", 1)
        const options = yield* validate.validateProcessOptions(spec.options)
        const existing = yield* context.claimable
        const { line, startTime } = yield* commandLineOf(spec.pid)
        const rec = context.take(existing)
        rec.kind = "pid"
        rec.process = { line, ...options }
        rec.external = { pid: spec.pid, startTime, pollMillis }
        rec.lastStart = engine.now()
        engine.enqueue(rec, { _tag: "CondAttach", ...common(engine, rec), pid: spec.pid })
        watch(rec, rec.external, false)
        return rec
      }),
    resume,
    // an existing process that was up: watched again, or its death
    restore: (rec, doc) =>
      Effect.sync(() => {
        if (takeUp(engine, rec, doc) && doc.external !== undefined && wasUp(doc)) resume(rec, doc.external, false)
      }),
    pidOf: (life) => life._tag === "Pid" ? life.external.pid : undefined,
    // an adopted child is recorded as the process entity's life (pid and start time), so that the
    // next HAM of the store adopts it again; a pid entity's process is recorded as `external`
    recordOf: (life) =>
      life._tag === "Pid" && life.adopted ? { pid: life.external.pid, startTime: life.external.startTime } : undefined,
    isReady: () => false,
    restart: (rec, current, next) => engine.drivers.process.restart(rec, current, next),
    release: () => Effect.void,
    stop: (rec, life) =>
      Effect.suspend(() => {
        if (life._tag !== "Pid") return Effect.void
        life.watcher.unsafeInterruptAsFork(FiberId.none)
        return life.adopted
          ? stopGroup(life.external, rec.process!.stopSignal, rec.process!.stopGraceMillis)
          : Effect.void
      }),
    signal: (rec, signal, awaitExitMillis) =>
      Effect.suspend(() => {
        const life = rec.life
        if (rec.status !== "running" || life?._tag !== "Pid") return Effect.fail(`entity "${rec.name}" is not running`)
        const pid = life.external.pid
        if (!engine.mayAct()) return Effect.fail(notActing)
        if (!life_.signalProcess(pid, signal)) return Effect.fail(`cannot send ${signal} to pid ${pid}`)
        if (awaitExitMillis === undefined) return Effect.void
        const gone = Effect.map(aliveNow(life.external), (alive) => !alive)
        return Effect.timeoutFail(Effect.repeat(gone, { schedule: pollEvery, until: (g) => g }), {
          duration: awaitExitMillis,
          onTimeout: () => `pid ${pid} is still alive ${awaitExitMillis} ms after ${signal}`
        }).pipe(Effect.asVoid)
      })
  }
}
