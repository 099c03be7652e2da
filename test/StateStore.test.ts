/**
 * Persistence as a service: the HAM commits through whatever `StateStore` its context holds. The
 * memory store keeps what a HAM commits for a later HAM of the same process; the file store reads
 * the records of the earlier store format and writes them in the current one.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { Guardian, Ham } from "effect-ham"
import { CondDeath, CondState } from "effect-ham/Condition"
import { open } from "lmdb"
import * as ChildProcess from "node:child_process"
import { createRequire } from "node:module"
import { join } from "node:path"
import * as check from "../src/internal/store/check.js"
import * as lmdb from "../src/internal/store/lmdb.js"
import * as store from "../src/internal/store/service.js"
import { inTempDir } from "./processes.js"

describe("StateStore", () => {
  it.live("a HAM built again on the same memory store gets back what the first one committed", () =>
    Effect.gen(function*() {
      const memory = Context.get(yield* Layer.build(store.layerMemory), store.StateStore)
      const withStore = <A, E, R>(self: Effect.Effect<A, E, R>) =>
        self.pipe(Effect.scoped, Effect.provide(Ham.layer()), Effect.provideService(store.StateStore, memory))
      yield* withStore(Effect.gen(function*() {
        const db = yield* Ham.entity("db")
        yield* Ham.condition(db, CondState, { name: "watch" }).pipe(Ham.log("state changed"))
        yield* Ham.publishState(db, 3)
      }))
      expect(memory.entities.map((doc) => doc.name).sort()).toEqual(["*", "db"])
      expect(memory.written()).toBeGreaterThan(0)
      const tree = yield* withStore(Ham.snapshot)
      expect(tree.entities).toMatchObject([{ name: "db", state: 3, conditions: [{ name: "watch", type: CondState }] }])
    }).pipe(Effect.scoped))

  it.live("a HAM without a store keeps nothing: the next one starts empty", () =>
    Effect.gen(function*() {
      yield* Ham.entity("db").pipe(Effect.scoped, Effect.provide(Ham.layer()))
      const tree = yield* Ham.snapshot.pipe(Effect.scoped, Effect.provide(Ham.layer()))
      expect(tree.entities).toEqual([])
    }))

  it.live("a store file of format 1 opens with its records, and is written in the current format", () =>
    inTempDir("ham-store-", (dir) =>
      Effect.gen(function*() {
        const path = join(dir, "state.ham")
        const db = open({ path, noSubdir: true })
        db.putSync("meta", { app: "effect-ham", format: 1 })
        // a record as effect-ham wrote it before the core's reshape
        db.putSync("e/worker", {
          name: "worker",
          isGlobal: false,
          kind: "fiber",
          status: "dead",
          enabled: true,
          state: 4,
          heartbeat: { intervalMillis: 1000, missedLow: 2, missedHigh: 5, count: 17 },
          policy: { maxRestarts: 10, withinMillis: 60000, backoff: true, backoffResetMillis: 10000 },
          created: 1000,
          lastStart: 1500,
          lastEvent: 2000,
          history: {
            deaths: 3,
            abnormalDeaths: 2,
            restarts: 3,
            missedLow: 1,
            missedHigh: 0,
            lastDeath: "boom",
            restartTimes: [1200, 1300]
          },
          conditions: [{
            name: "death",
            type: "CondDeath",
            enabled: true,
            independent: false,
            noWait: false,
            oneShot: false,
            fired: 3,
            actions: [{
              name: "restart",
              enabled: true,
              runs: 3,
              failures: 0,
              action: { _tag: "Restart", breakOnFail: false, removeOnFail: false, oneShot: false, alternates: [] }
            }]
          }]
        })
        yield* Effect.promise(() => db.close())
        const tree = yield* Ham.snapshot.pipe(
          Effect.scoped,
          Effect.provide(Ham.layer()),
          Effect.provide(Guardian.layer({ path }))
        )
        expect(tree.entities).toMatchObject([{
          name: "worker",
          kind: "placeholder",
          state: 4,
          stats: {
            created: 1000,
            deaths: 3,
            abnormalDeaths: 2,
            restarts: 3,
            heartbeats: 17,
            missedLow: 1,
            lastEvent: 2000,
            lastDeath: "boom"
          },
          heartbeat: { intervalMillis: 1000, missedLow: 2, missedHigh: 5 },
          conditions: [{ name: "death", type: CondDeath, fired: 3, actions: [{ name: "restart", runs: 3 }] }]
        }])
        const again = open({ path, noSubdir: true })
        expect(again.get("meta")).toEqual({ app: "effect-ham", format: Guardian.formatVersion })
        expect(again.get("e/worker")).toMatchObject({
          stats: { deaths: 3, heartbeats: 17 },
          restartTimes: [1200, 1300]
        })
        yield* Effect.promise(() => again.close())
      })))
  it.live(
    "a store held open keeps its reader slot when this process checks its paths again and another process opens it",
    () =>
      inTempDir("ham-store-", (dir) =>
        Effect.gen(function*() {
          // closing any descriptor of the lock file drops LMDB's fcntl lock on it, which tells the
          // others this process is alive: another process opening the store then frees its reader
          // slot, and its next read fails with MDB_BAD_RSLOT
          const path = join(dir, "state.ham")
          const held = yield* lmdb.openStore(path)
          expect(held.holds()).toBe(true)
          expect(held.commit([], [])).toBe(true)
          // another open's checks, in this process
          yield* check.prepare(path, { probe: false })
          // another process opens the store (LMDB checks the readers at every open): it sees this
          // process's reader slot still in use
          const entry = createRequire(import.meta.url).resolve("lmdb")
          const other = ChildProcess.spawnSync(process.execPath, [
            "-e",
            `const db = require(process.argv[1]).open({ path: process.argv[2], noSubdir: true })
            process.stdout.write(db.readerList())`,
            entry,
            path
          ], { encoding: "utf8", timeout: 20_000 })
          expect(other.status).toBe(0)
          const readers = other.stdout.split("\n").map((line) => line.trim().split(/\s+/)[0])
          expect(readers).toContain(String(process.pid))
          // and this process still reads and commits
          expect(held.holds()).toBe(true)
          expect(held.commit([], [])).toBe(true)
          expect(held.currentLease()).toMatchObject({ pid: process.pid, epoch: held.lease.epoch })
        }).pipe(Effect.scoped)),
    30_000
  )
})
