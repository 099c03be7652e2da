/**
 * Benchmarks of the Guardian's store (issue #4): state changes persisted per second (each one
 * committed to the LMDB file before the call returns), and the cost of the store against the
 * in-memory HAM on the same workloads, measured in the same run; the time to open a store, with
 * and without the probe of its file (issue #11).
 */
import { Deferred, Effect, Layer, type Scope } from "effect"
import { Entity, Guardian, Ham } from "effect-ham"
import { CondDeath } from "effect-ham/Condition"
import { open } from "lmdb"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import type { StoreCorrupt, StoreUnavailable } from "../src/HamError.js"
import * as lmdb from "../src/internal/store/lmdb.js"
import * as probe_ from "../src/internal/store/probe.js"
import { report } from "./core.js"

const changes = 50_000
const entityCount = 100

/** `changes` published states over `entityCount` entities; changes per second */
const publishStates = Effect.gen(function*() {
  const handles = []
  for (let i = 0; i < entityCount; i++) handles.push(yield* Ham.entity(`e${i}`))
  const t0 = performance.now()
  for (let i = 0; i < changes; i++) yield* Ham.publishState(handles[i % entityCount], (i % 1000) + 1)
  return changes / ((performance.now() - t0) / 1000)
})

/** `lives` deaths and restarts of a fiber entity; restarts per second */
const restarts = (lives: number) =>
  Effect.gen(function*() {
    const done = yield* Deferred.make<void>()
    let n = 0
    const life = Effect.suspend(() => (++n > lives ? Deferred.succeed(done, undefined) : Effect.fail("crash")))
    const t0 = performance.now()
    const e = yield* Ham.attach(Entity.fiber("crasher", life), {
      backoff: false,
      restartIntensity: { maxRestarts: Infinity }
    })
    yield* Ham.condition(e, CondDeath).pipe(Ham.restart)
    yield* Deferred.await(done)
    return lives / ((performance.now() - t0) / 1000)
  })

const inStore = <A, E>(body: Effect.Effect<A, E, Ham.Ham>, fsync = false) =>
  Effect.acquireUseRelease(
    Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "bench-guardian-"))),
    (dir) =>
      body.pipe(
        Effect.provide(Ham.layer().pipe(Layer.provide(Guardian.layer({ path: Path.join(dir, "state.ham"), fsync }))))
      ),
    (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
  )

const inMemory = <A, E>(body: Effect.Effect<A, E, Ham.Ham>) => Effect.provide(body, Ham.layer())

export const store = Effect.gen(function*() {
  // warm up both
  yield* inMemory(publishStates)
  yield* inStore(publishStates)
  const memory = yield* inMemory(publishStates)
  const stored = yield* inStore(publishStates)
  const synced = yield* inStore(Effect.map(publishStates, (x) => x), true)
  report(
    "persisted_state_changes_per_second",
    stored,
    "changes/s, each committed before its call returns (target >= 20000)",
    0
  )
  report("in_memory_state_changes_per_second", memory, "changes/s", 0)
  report("guardian_overhead_ratio_publish", memory / stored, "x (time per change, store / memory)")
  report("persisted_state_changes_per_second_fsync", synced, "changes/s with fsync: true (each waits for the disk)", 0)

  const lives = 20_000
  yield* inMemory(restarts(lives))
  yield* inStore(restarts(lives))
  const memoryRestarts = yield* inMemory(restarts(lives))
  const storedRestarts = yield* inStore(restarts(lives))
  report("fiber_restarts_per_second_in_memory", memoryRestarts, "restarts/s", 0)
  report(
    "fiber_restarts_per_second_with_store",
    storedRestarts,
    "restarts/s (deaths, restarts, runs persisted in batches)",
    0
  )
  report("guardian_overhead_ratio_restart", memoryRestarts / storedRestarts, "x (time per restart, store / memory)")
})

/** a store of `count` entities, each with a condition and an action, written by a HAM */
const storeOf = (path: string, count: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < count; i++) {
      const e = yield* Ham.attach(Entity.fiber(`e${i}`, Effect.never))
      yield* Ham.condition(e, CondDeath).pipe(Ham.restart)
    }
  }).pipe(Effect.scoped, Effect.provide(Ham.layer({ verbosity: 0 }).pipe(Layer.provide(Guardian.layer({ path })))))

/** the median time of `runs` opens (and closes) of a fresh copy of `base` (a copy: this process never left it) */
const openTime = (base: string, runs: number, probe: boolean) =>
  Effect.gen(function*() {
    const times: Array<number> = []
    for (let i = 0; i < runs; i++) {
      const path = `${base}.${probe ? "probed" : "plain"}-${i}`
      Fs.copyFileSync(base, path)
      const t0 = performance.now()
      yield* Effect.scoped(lmdb.openStore(path, { probe }))
      times.push(performance.now() - t0)
    }
    return quantile(times, 0.5)
  })

/** the median time of `runs` probes, each from its request to its verdict (`prepare` runs first, untimed) */
const probeTime = (
  runs: number,
  prepare: Effect.Effect<Effect.Effect<probe_.Sound, StoreCorrupt | StoreUnavailable>, never, Scope.Scope>
) =>
  Effect.gen(function*() {
    const times: Array<number> = []
    for (let i = 0; i < runs; i++) {
      const took = yield* Effect.scoped(Effect.gen(function*() {
        const probe = yield* prepare
        const t0 = performance.now()
        yield* Effect.orDie(probe)
        return performance.now() - t0
      }))
      times.push(took)
    }
    return quantile(times, 0.5)
  })

/**
 * Opening a store: empty, of 100 and of 10,000 entities, with the probe (a process of its own
 * walks the whole file first) and without it; the open of a file this process left as it was
 * (its SHA-256 compared instead of a probe); and the probe alone, started when it is needed or
 * started ahead (a guardian process's standby: Node up and lmdb loaded before the takeover).
 */
export const opening = Effect.gen(function*() {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "bench-open-"))
  for (const [name, count] of [["empty", 0], ["100", 100], ["10000", 10_000]] as const) {
    const base = Path.join(dir, `${name}.ham`)
    yield* storeOf(base, count)
    const size = Fs.statSync(base).size
    const plain = yield* openTime(base, 5, false)
    const probed = yield* openTime(base, 5, true)
    const what = `${count} entities, ${(size / 1024).toFixed(0)} KiB`
    report(`store_open_ms_${name}`, plain, `ms (${what}: open without the probe)`, 1)
    report(`store_open_probe_ms_${name}`, probed, `ms (${what}: open with the probe of the file)`, 1)
    report(`store_open_probe_ratio_${name}`, probed / plain, "x (with the probe / without)")
    if (count === 0) continue
    // the probe alone: a process started for it, or one started ahead and waiting
    const fresh = yield* probeTime(5, Effect.succeed(probe_.probe(base, size)))
    const ahead = yield* probeTime(
      5,
      Effect.gen(function*() {
        const standby = yield* probe_.standby(base)
        // up and waiting, as a guardian's standby is by the time its host dies
        yield* Effect.sleep("1 second")
        return standby.probe(base, size)
      })
    )
    report(`store_probe_ms_${name}`, fresh, `ms (${what}: the probe alone, its process started for it)`, 1)
    report(`store_probe_standby_ms_${name}`, ahead, `ms (${what}: the probe of a standby started ahead)`, 1)
    report(`store_probe_standby_ratio_${name}`, fresh / ahead, "x (probe started for it / standby)")
    if (count === 10_000) {
      // the same path again: the file holds what this process left in it
      const path = `${base}.again`
      Fs.copyFileSync(base, path)
      yield* Effect.scoped(lmdb.openStore(path, { probe: false }))
      const times: Array<number> = []
      for (let i = 0; i < 5; i++) {
        const t0 = performance.now()
        yield* Effect.scoped(lmdb.openStore(path))
        times.push(performance.now() - t0)
      }
      report(
        `store_open_as_left_ms_${name}`,
        quantile(times, 0.5),
        "ms (a file this process closed: its digest compared, no probe)",
        1
      )
    }
  }
  Fs.rmSync(dir, { recursive: true, force: true })
})

/** the store's records, read as another process would (a fresh read transaction each time) */
const reader = (path: string) => {
  const db = open({ path, noSubdir: true })
  return {
    get: (key: string) => {
      db.resetReadTxn()
      return db.get(key) as Record<string, any> | undefined
    },
    close: () => db.close()
  }
}

const quantile = (xs: ReadonlyArray<number>, q: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(s.length * q))]
}

const root = Path.join(import.meta.dirname, "..")

/**
 * One takeover: a host (test/fixtures/guardian-host.ts, on the built package) supervising a
 * sleeper is killed with SIGKILL; as soon as the store's lease names the guardian, the sleeper
 * is killed too; the figure is the time from the host's SIGKILL to the sleeper's new pid in the
 * store (the guardian restarted it). Also: host SIGKILL → guardian active.
 */
const takeoverOnce = (round: number) =>
  Effect.promise(async () => {
    const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "bench-takeover-"))
    const path = Path.join(dir, "state.ham")
    const marker = `${process.pid}${round}`
    const host = ChildProcess.spawn(
      process.execPath,
      ["--import", "tsx", "test/fixtures/guardian-host.ts", path, marker],
      { cwd: root, stdio: ["ignore", "pipe", "inherit"] }
    )
    const info = await new Promise<{ host: number; svc: number; guardian: number }>((resolve, reject) => {
      let out = ""
      host.stdout.on("data", (chunk: Buffer) => {
        out += chunk.toString("utf8")
        if (out.includes("\n")) resolve(JSON.parse(out.split("\n")[0]))
      })
      host.on("exit", () => reject(new Error("the host died before it was up")))
    })
    // the host does not wait for its guardian: the takeover is measured from a guardian that is up
    const up = () => {
      try {
        return Fs.readFileSync(`${path}.d/guardian.log`, "utf8").includes(`guardian ${info.guardian}: up:`)
      } catch {
        return false
      }
    }
    while (!up()) await new Promise((r) => setTimeout(r, 10))
    const store = reader(path)
    const t0 = performance.now()
    process.kill(info.host, "SIGKILL")
    while (store.get("lease")?.pid !== info.guardian) await new Promise((r) => setImmediate(r))
    const active = performance.now() - t0
    process.kill(info.svc, "SIGKILL")
    for (;;) {
      const pid = store.get("e/svc")?.life?.pid
      if (pid !== undefined && pid !== info.svc) break
      await new Promise((r) => setImmediate(r))
    }
    const restarted = performance.now() - t0
    await store.close()
    // the guardian that took over stops everything on SIGTERM
    process.kill(info.guardian, "SIGTERM")
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0)
        return true
      } catch {
        return false
      }
    }
    for (let i = 0; i < 1000 && alive(info.guardian); i++) await new Promise((r) => setTimeout(r, 10))
    Fs.rmSync(dir, { recursive: true, force: true })
    return { active, restarted }
  })

export const takeover = Effect.gen(function*() {
  const rounds = 20
  const active: Array<number> = []
  const restarted: Array<number> = []
  yield* takeoverOnce(0)
  for (let i = 1; i <= rounds; i++) {
    const r = yield* takeoverOnce(i)
    active.push(r.active)
    restarted.push(r.restarted)
  }
  report("takeover_guardian_active_median", quantile(active, 0.5), "ms (host SIGKILL -> the guardian holds the store)")
  report("takeover_guardian_active_p95", quantile(active, 0.95), `ms (of ${rounds} takeovers; target <= 500)`)
  report(
    "takeover_latency_median",
    quantile(restarted, 0.5),
    "ms (host SIGKILL -> a child killed then is restarted; target <= 100)"
  )
  report("takeover_latency_p95", quantile(restarted, 0.95), "ms")
})
