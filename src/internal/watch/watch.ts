/**
 * The probe and the resource limits of an entity, while a life of it runs: each joins the shared
 * clock of its interval (`../grid.ts`) when the life starts (`start`, beside its heartbeat clock),
 * and leaves it when the life ends (`leave`). No fiber per entity nor per probe: 200 probes a
 * second cost one timer wake and the probes' own I/O.
 *
 * - The probe: at each tick one probe (`checks.ts`), given up and failed at its timeout (the
 *   clock wakes at that deadline); a failure is a missed period of the heartbeat rule
 *   (`heartbeat.ts`), so `CondBeatMissedLow` and `CondBeatMissedHigh` fire as for heartbeats, and
 *   a pass resets the count; after the start, failures are not counted until the probe first
 *   passes, the life says it is ready (`READY=1`) or the start-up grace is over.
 * - The limits: at each tick one sample of the process (`usage.ts`); `samples` consecutive
 *   samples over a limit raise `CondRaise` (`RaiseClassMemoryLimit`, `RaiseClassCpuLimit`), once
 *   per episode.
 *
 * It also gives the tree the CPU and RSS of each running process (`usageOf`), read at most once a
 * second per entity.
 *
 * @internal
 */
import * as cond from "../condition.js"
import * as grid_ from "../grid.js"
import { common, type Engine, isReady, pidOf } from "../ham/engine.js"
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
    : {
      probe,
      limits,
      probeState: heartbeat_.healthy,
      probes: 0,
      failures: 0,
      lastPass: undefined,
      probeTicks: undefined,
      limitTicks: undefined,
      giveUp: undefined
    }

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
export const make = (engine: Engine, grid: grid_.Grid): Watches => {
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

  /**
   * The probe's member of its clock: at each tick one probe, unless the last one still runs; at its
   * deadline (the timeout) a probe still running is given up, and fails.
   */
  const probeMember = (rec: EntityRec, watch: WatchRec, probe: ProbeConfig, alive: () => boolean) => {
    const startedAt = engine.now()
    let counting = probe.graceMillis === 0
    const judge = (pass: boolean): void => {
      if (!alive()) return
      watch.probes++
      if (!pass) watch.failures++
      watch.lastPass = pass
      if (!counting) {
        // a life that said it is ready (READY=1) is up: its grace is over
        if (!pass && engine.now() - startedAt < probe.graceMillis && !isReady(engine, rec)) return
        counting = true
      }
      const step = heartbeat_.tick(watch.probeState, pass, probe)
      watch.probeState = step.state
      const missed = step.state.missed
      if (step.low) engine.enqueue(rec, { _tag: "CondBeatMissedLow", ...common(engine, rec), missed })
      if (step.high) engine.enqueue(rec, { _tag: "CondBeatMissedHigh", ...common(engine, rec), missed })
    }
    const member = grid.join(
      probe.intervalMillis,
      () => {
        if (!alive()) return false
        if (watch.giveUp !== undefined) return
        let over = false
        const giveUp = transport.start(probe.target, (pass) => {
          if (over) return
          over = true
          watch.giveUp = undefined
          member.deadline = undefined
          judge(pass)
        })
        if (over) return
        watch.giveUp = () => {
          over = true
          giveUp()
        }
        member.deadline = engine.now() + probe.timeoutMillis
      },
      () => {
        const giveUp = watch.giveUp
        if (giveUp === undefined) return
        watch.giveUp = undefined
        giveUp()
        judge(false)
      }
    )
    return member
  }

  /** what the limits do at each tick of their clock: one sample, judged against each limit */
  const limitTicks = (rec: EntityRec, limits: LimitConfig, alive: () => boolean) => {
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
    // the first sample at the start: the first CPU figure needs one before it
    const pid = pidOf(engine, rec)
    if (pid !== undefined) sample(rec, pid)
    return (): boolean | void => {
      if (!alive()) return false
      const pid = pidOf(engine, rec)
      if (pid === undefined) return
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
  }

  const leave = (rec: EntityRec): void => {
    const watch = rec.watch
    if (watch === undefined) return
    if (watch.probeTicks !== undefined) grid.leave(watch.probe!.intervalMillis, watch.probeTicks)
    if (watch.limitTicks !== undefined) grid.leave(watch.limits!.intervalMillis, watch.limitTicks)
    watch.probeTicks = undefined
    watch.limitTicks = undefined
    if (watch.giveUp !== undefined) {
      const giveUp = watch.giveUp
      watch.giveUp = undefined
      giveUp()
    }
  }

  const start = (rec: EntityRec): void => {
    const watch = rec.watch
    if (watch === undefined) return
    leave(rec)
    lastSamples.delete(rec)
    watch.probeState = heartbeat_.healthy
    const generation = rec.generation
    const alive = () => rec.generation === generation && rec.status === "running" && rec.watch === watch
    const { limits, probe } = watch
    if (probe !== undefined) watch.probeTicks = probeMember(rec, watch, probe, alive)
    if (limits !== undefined) watch.limitTicks = grid.join(limits.intervalMillis, limitTicks(rec, limits, alive))
  }

  return { start, leave, usageOf }
}
