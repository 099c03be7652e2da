/**
 * The probe and the resource limits of an entity, while a life of it runs: one fiber per life,
 * started with the life (`start`, beside its heartbeat clock) and interrupted when it ends
 * (`leave`), which runs
 *
 * - the probe loop: every interval one probe (`checks.ts`) within its timeout; a failure is a
 *   missed period of the heartbeat rule (`heartbeat.ts`), so `CondBeatMissedLow` and
 *   `CondBeatMissedHigh` fire as for heartbeats, and a pass resets the count; after the start,
 *   failures are not counted until the probe first passes or the start-up grace is over;
 * - the limits loop: every interval one sample of the process (`usage.ts`); `samples`
 *   consecutive samples over a limit raise `CondRaise` (`RaiseClassMemoryLimit`,
 *   `RaiseClassCpuLimit`), once per episode.
 *
 * It also gives the tree the CPU and RSS of each running process (`usageOf`), read at most once a
 * second per entity.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as FiberId from "effect/FiberId"
import * as cond from "../condition.js"
import { common, type Engine, forkOwned, pidOf } from "../ham/engine.js"
import type { EntityRec } from "../ham/state.js"
import * as heartbeat_ from "../heartbeat.js"
import * as checks from "./checks.js"
import type { LimitConfig, ProbeConfig } from "./config.js"
import type { WatchRec } from "./record.js"
import * as usage from "./usage.js"

/** @internal the record of an entity's probe and limits; undefined when it has neither */
export const watchRecFor = (
  probe: ProbeConfig | undefined,
  limits: LimitConfig | undefined
): WatchRec | undefined =>
  probe === undefined && limits === undefined
    ? undefined
    : { probe, limits, probeState: heartbeat_.healthy, probes: 0, failures: 0, lastPass: undefined, fiber: undefined }

/** @internal the CPU (percent of one core) and RSS (bytes) of a running process, as the tree shows */
export interface Usage {
  readonly cpu: number | undefined
  readonly rss: number
}

/** @internal */
export interface Watches {
  readonly start: (rec: EntityRec) => void
  readonly leave: (rec: EntityRec) => void
  /** the entity's process use now (at most a second old), when it runs a process */
  readonly usageOf: (rec: EntityRec) => Usage | undefined
}

interface Last {
  readonly sample: usage.Sample
  readonly at: number
  cpu: number | undefined
}

const megabyte = 1024 * 1024

/** @internal */
export const make = (engine: Engine): Watches => {
  const transport = checks.transportOf(engine.runtime.context)
  const reader = usage.readerOf(engine.runtime.context)
  /** the last sample of each process entity (the limits loop's, or the tree's) */
  const lastSamples = new WeakMap<EntityRec, Last>()

  /** a new sample of the entity's process; undefined when it has none or it is gone */
  const sample = (rec: EntityRec, pid: number): Last | undefined => {
    const now = engine.now()
    const read = reader.read(pid)
    if (read === undefined) return undefined
    const before = lastSamples.get(rec)
    const last: Last = {
      sample: read,
      at: now,
      cpu: before !== undefined && read.cpuMillis >= before.sample.cpuMillis
        ? usage.cpuPercent(before.sample, read, now - before.at)
        : rec.kind === "process" && now - rec.lastStart >= 100
        // a child the HAM started at `lastStart`: its use on average since then
        ? usage.cpuPercent({ cpuMillis: 0, rssBytes: 0 }, read, now - rec.lastStart)
        : undefined
    }
    lastSamples.set(rec, last)
    return last
  }

  const usageOf = (rec: EntityRec): Usage | undefined => {
    if (rec.status !== "running" || (rec.kind !== "process" && rec.kind !== "pid")) return undefined
    const pid = pidOf(engine, rec)
    if (pid === undefined) return undefined
    const before = lastSamples.get(rec)
    const last = before !== undefined && engine.now() - before.at < 1_000 ? before : sample(rec, pid)
    return last === undefined ? undefined : { cpu: last.cpu ?? before?.cpu, rss: last.sample.rssBytes }
  }

  const probeLoop = (rec: EntityRec, watch: WatchRec, probe: ProbeConfig, alive: () => boolean) => {
    const startedAt = engine.now()
    let counting = probe.graceMillis === 0
    const judge = (pass: boolean): void => {
      if (!alive()) return
      watch.probes++
      if (!pass) watch.failures++
      watch.lastPass = pass
      if (!counting) {
        if (!pass && engine.now() - startedAt < probe.graceMillis) return
        counting = true
      }
      const step = heartbeat_.tick(watch.probeState, pass, probe)
      watch.probeState = step.state
      const missed = step.state.missed
      if (step.low) engine.enqueue(rec, { _tag: "CondBeatMissedLow", ...common(engine, rec), missed })
      if (step.high) engine.enqueue(rec, { _tag: "CondBeatMissedHigh", ...common(engine, rec), missed })
    }
    const one = Effect.zipRight(
      Effect.sleep(probe.intervalMillis),
      Effect.map(checks.once(transport, probe.target, probe.timeoutMillis), judge)
    )
    return Effect.whileLoop({ while: alive, body: () => one, step: () => {} })
  }

  const limitsLoop = (rec: EntityRec, limits: LimitConfig, alive: () => boolean) => {
    let memory = usage.underLimit
    let cpu = usage.underLimit
    const raise = (klass: number, detail: string) =>
      engine.enqueue(rec, {
        _tag: "CondRaise",
        ...common(engine, rec),
        type: cond.RaiseTypeHam,
        class: klass,
        severity: cond.RaiseSeverityCritical,
        detail
      })
    const judge = (): void => {
      const pid = pidOf(engine, rec)
      if (!alive() || pid === undefined) return
      const last = sample(rec, pid)
      if (last === undefined) return
      if (limits.memoryBytes !== undefined) {
        const step = usage.overStep(memory, last.sample.rssBytes, limits.memoryBytes, limits.samples)
        memory = step.state
        if (step.fire) {
          const rss = (last.sample.rssBytes / megabyte).toFixed(1)
          raise(
            cond.RaiseClassMemoryLimit,
            `RSS ${rss} MiB over the limit of ${(limits.memoryBytes / megabyte).toFixed(1)} MiB ` +
              `for ${limits.samples} samples`
          )
        }
      }
      if (limits.cpuPercent !== undefined && last.cpu !== undefined) {
        const step = usage.overStep(cpu, last.cpu, limits.cpuPercent, limits.samples)
        cpu = step.state
        if (step.fire) {
          raise(
            cond.RaiseClassCpuLimit,
            `CPU ${last.cpu.toFixed(1)} % over the limit of ${limits.cpuPercent} % for ${limits.samples} samples`
          )
        }
      }
    }
    const one = Effect.zipRight(Effect.sleep(limits.intervalMillis), Effect.sync(judge))
    // the first sample at the start: the first CPU figure needs one before it
    return Effect.zipRight(
      Effect.sync(() => {
        const pid = pidOf(engine, rec)
        if (pid !== undefined) sample(rec, pid)
      }),
      Effect.whileLoop({ while: alive, body: () => one, step: () => {} })
    )
  }

  const leave = (rec: EntityRec): void => {
    const watch = rec.watch
    if (watch === undefined || watch.fiber === undefined) return
    watch.fiber.unsafeInterruptAsFork(FiberId.none)
    watch.fiber = undefined
  }

  const start = (rec: EntityRec): void => {
    const watch = rec.watch
    if (watch === undefined) return
    leave(rec)
    lastSamples.delete(rec)
    watch.probeState = heartbeat_.healthy
    const generation = rec.generation
    const alive = () => rec.generation === generation && rec.status === "running" && rec.watch === watch
    const loops: Array<Effect.Effect<void>> = []
    if (watch.probe !== undefined) loops.push(probeLoop(rec, watch, watch.probe, alive))
    if (watch.limits !== undefined) loops.push(limitsLoop(rec, watch.limits, alive))
    watch.fiber = forkOwned(engine, Effect.all(loops, { concurrency: "unbounded", discard: true }))
  }

  return { start, leave, usageOf }
}
