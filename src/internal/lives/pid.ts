/**
 * The driver of lives the HAM watches by pid: a pid entity's existing process, and a process
 * entity's child adopted from an earlier HAM of the store (a guardian took over, say). The
 * process is not this HAM's child, so its death is found by polling `/proc` (a zombie, or the pid
 * reused by another process, is a death) and its exit status is unknown.
 *
 * A restart starts the entity's command line as a child of this HAM (the process driver); from
 * then on it is a process entity.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as FiberId from "effect/FiberId"
import * as Schedule from "effect/Schedule"
import { type Driver, type Engine, forkOwned } from "../ham/engine.js"
import type { EntityRec, ExternalPid } from "../ham/state.js"
import * as life_ from "../launch/life.js"
import * as procfs from "../procfs.js"

/** @internal */
export interface PidDriver extends Driver {
  /**
   * Watches the process from now on. `adopted`: a child of an earlier HAM of the store, which
   * this HAM stops as its own (its group gets the stop signal, then SIGKILL).
   */
  readonly watch: (rec: EntityRec, external: ExternalPid, adopted: boolean) => void
}

/** true while it is the same live process (not a zombie, not a reused pid) */
const aliveNow = (external: ExternalPid): Effect.Effect<boolean> =>
  Effect.match(procfs.readStat(external.pid), {
    onFailure: () => false,
    onSuccess: (stat) => procfs.isLiveState(stat.state) && stat.startTime === external.startTime
  })

const pollEvery = Schedule.spaced("5 millis")

/** signal, then SIGKILL after the grace, to a process group this HAM did not start */
const stopGroup = (external: ExternalPid, signal: string, graceMillis: number) =>
  Effect.gen(function*() {
    if (!(yield* aliveNow(external))) return
    life_.signalGroupOrProcess(external.pid, signal)
    yield* aliveNow(external).pipe(
      Effect.repeat({ schedule: pollEvery, while: (up) => up }),
      Effect.timeout(graceMillis),
      Effect.ignore
    )
    life_.signalGroupOrProcess(external.pid, "SIGKILL")
  })

/** @internal */
export const make = (engine: Engine): PidDriver => {
  const watch = (rec: EntityRec, external: ExternalPid, adopted: boolean): void => {
    const generation = ++rec.generation
    rec.status = "running"
    const loop: Effect.Effect<void> = Effect.flatMap(
      Effect.sleep(external.pollMillis),
      () =>
        Effect.flatMap(
          aliveNow(external),
          (alive) =>
            alive ? loop : Effect.sync(() =>
              engine.reportDeath(rec, generation, {
                abnormal: false,
                reason: `pid ${external.pid} is gone (not a child of the HAM: no exit status)`,
                pid: external.pid
              })
            )
        )
    )
    const watcher = forkOwned(engine, loop, { immediate: true })
    rec.life = { _tag: "Pid", external, watcher, adopted }
    engine.wake()
    engine.beats.start(rec)
  }

  return {
    watch,
    restart: (rec, current) => engine.drivers.process.restart(rec, current),
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
