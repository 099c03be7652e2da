/**
 * Benchmarks of the Guardian's store (issue #4): state changes persisted per second (each one
 * committed to the LMDB file before the call returns), and the cost of the store against the
 * in-memory HAM on the same workloads, measured in the same run.
 */
import { Deferred, Effect, Layer } from "effect"
import { Entity, Guardian, Ham } from "effect-ham"
import { CondDeath } from "effect-ham/Condition"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
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
  console.log("# takeover latency: not measured yet (the guardian process is not built yet)")
})
