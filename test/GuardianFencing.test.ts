/**
 * At most one active HAM per store, at every instant: every write of a HAM is fenced by its lease's
 * epoch, and a HAM that finds its store held by another stops acting at once (no restart, no
 * signal, no spawn), leaving its processes to the other. The store's own record of commits shows
 * that no two epochs ever wrote at once, also after the double fault of issue 11 (the host
 * SIGKILLed, then the guardian that took over SIGKILLed too), run many times.
 */
import { Command } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { Entity, Guardian, Ham } from "effect-ham"
import { CondDeath } from "effect-ham/Condition"
import { open } from "lmdb"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import * as lease_ from "../src/internal/store/lease.js"
import { leaseOf, leftovers, sigkill, startHost, wait } from "./guardianProcesses.js"
import { inTempDir, isLive, liveWithCmdline, waitUntil } from "./processes.js"
import { failureOf } from "./utils.js"

/** the store's record of epochs, read as another process would */
const epochsOf = (path: string) => {
  const db = open({ path, noSubdir: true })
  try {
    return lease_.epochs(db)
  } finally {
    void db.close()
  }
}

/** another HAM takes the store: its lease written over this one's (as a takeover would) */
const stealLease = (path: string) => {
  const db = open({ path, noSubdir: true })
  try {
    const current = db.get("lease") as lease_.Lease
    db.putSync("lease", { ...current, instance: "another HAM", pid: 1, epoch: current.epoch + 1 })
    db.putSync("epoch", current.epoch + 1)
  } finally {
    void db.close()
  }
}

describe("Guardian: the fenced lease", () => {
  it.live("a HAM whose lease is taken stops acting at once and leaves its processes to the other", () =>
    inTempDir("ham-fence-", (dir) =>
      Effect.gen(function*() {
        const path = join(dir, "state.ham")
        const marker = `3600.${process.pid}7`
        const stored = Ham.layer({ spawner: "inline" }).pipe(Layer.provide(Guardian.layer({ path })))
        yield* Effect.gen(function*() {
          const svc = yield* Ham.attach(Entity.process("svc", Command.make("sleep", marker), { output: "ignore" }), {
            backoff: false
          })
          yield* Ham.condition(svc, CondDeath).pipe(Ham.restart)
          const db = yield* Ham.entity("db")
          yield* Ham.publishState(db, 1)
          const [pid] = liveWithCmdline(`sleep ${marker}`)
          expect((yield* Ham.snapshot).epoch).toBe(1)
          stealLease(path)
          // the next change is not acknowledged: its commit found the lease gone
          expect((yield* failureOf(Ham.publishState(db, 2)))._tag).toBe("HamStopped")
          // from now on nothing acts: a death is not even seen, nothing is restarted
          sigkill(pid)
          yield* waitUntil("the child gone", () => !isLive(pid))
          yield* Effect.sleep("300 millis")
          expect(liveWithCmdline(`sleep ${marker}`)).toEqual([])
          expect((yield* failureOf(Ham.attach(Entity.process("more", Command.make("sleep", marker)))))._tag).toBe(
            "HamStopped"
          )
        }).pipe(Effect.scoped, Effect.provide(stored))
        // the record: the first epoch's commits, none by the HAM that lost the store after it did
        const records = epochsOf(path)
        expect(records.map((r) => r.epoch)).toEqual([1])
        expect(records[0].last).toBeGreaterThan(0)
        expect(lease_.interleavings(records)).toEqual([])
      })))

  for (const spawner of ["process", "inline"] as const) {
    it.live(`spawner "${spawner}": a child that dies once the lease is taken, before a commit sees it, is not started again`, () =>
      inTempDir("ham-fence-", (dir) =>
        Effect.gen(function*() {
          const path = join(dir, "state.ham")
          const starts = join(dir, "starts")
          const marker = `3600.${process.pid}${spawner === "inline" ? 5 : 6}`
          const stored = Ham.layer({ spawner }).pipe(Layer.provide(Guardian.layer({ path })))
          yield* Effect.gen(function*() {
            // every start appends a line to the file: a child started and killed at once is seen too
            const svc = yield* Ham.attach(
              Entity.process("svc", Command.make("sh", "-c", `echo $$ >> ${starts}; exec sleep ${marker}`)),
              { backoff: false }
            )
            yield* Ham.condition(svc, CondDeath).pipe(Ham.restart)
            // the launcher is told of the restart ahead of time (the spawner reads it from its pipe)
            yield* Effect.sleep("300 millis")
            const [pid] = liveWithCmdline(`sleep ${marker}`)
            stealLease(path)
            sigkill(pid)
            yield* waitUntil("the child gone", () => !isLive(pid))
            yield* Effect.sleep("300 millis")
            expect(readFileSync(starts, "utf8").trim().split("\n")).toHaveLength(1)
            expect(liveWithCmdline(`sleep ${marker}`)).toEqual([])
          }).pipe(Effect.scoped, Effect.provide(stored))
        })))
  }

  it.live("closing a HAM that lost its store leaves the processes running (they are the other HAM's)", () =>
    inTempDir("ham-fence-", (dir) =>
      Effect.gen(function*() {
        const path = join(dir, "state.ham")
        const marker = `3600.${process.pid}8`
        const stored = Ham.layer({ spawner: "inline" }).pipe(Layer.provide(Guardian.layer({ path })))
        yield* Effect.gen(function*() {
          yield* Ham.attach(Entity.process("svc", Command.make("sleep", marker), { output: "ignore" }))
          stealLease(path)
          expect((yield* failureOf(Ham.publishState("svc", 2)))._tag).toBe("HamStopped")
        }).pipe(Effect.scoped, Effect.provide(stored))
        const left = liveWithCmdline(`sleep ${marker}`)
        expect(left).toHaveLength(1)
        for (const pid of left) sigkill(pid)
      })))

  it.live("a later HAM's epoch is above every earlier one, and their commits do not interleave", () =>
    inTempDir("ham-fence-", (dir) =>
      Effect.gen(function*() {
        const path = join(dir, "state.ham")
        const publish = (n: number) =>
          Ham.publishState("db", n).pipe(
            Effect.zipRight(Ham.snapshot),
            Effect.scoped,
            Effect.provide(Ham.layer().pipe(Layer.provide(Guardian.layer({ path }))))
          )
        yield* Ham.entity("db").pipe(
          Effect.scoped,
          Effect.provide(Ham.layer().pipe(Layer.provide(Guardian.layer({ path }))))
        )
        const epochs: Array<number | undefined> = []
        for (let i = 1; i <= 3; i++) epochs.push((yield* publish(i)).epoch)
        expect(epochs).toEqual([2, 3, 4])
        const records = epochsOf(path)
        expect(records.map((r) => r.epoch)).toEqual([1, 2, 3, 4])
        expect(lease_.interleavings(records)).toEqual([])
        // interleavings are found when there are some
        expect(lease_.interleavings([
          { ...records[0], first: 1, last: 10 },
          { ...records[1], first: 5, last: 12 }
        ])).toHaveLength(1)
      })))

  const trials = Number(process.env.HAM_DOUBLE_FAULT_TRIALS ?? 2)

  it.live(
    `the double fault, ${trials} times: the host SIGKILLed, then the guardian that took over; never two epochs at once, nothing left after the stop`,
    () =>
      Effect.gen(function*() {
        for (let trial = 0; trial < trials; trial++) {
          yield* inTempDir("ham-double-", (dir) =>
            Effect.gen(function*() {
              const path = join(dir, "state.ham")
              const marker = `${process.pid}9${trial}`
              const first = yield* startHost(path, marker, "restart-host,busy")
              sigkill(first.host)
              // the guardian took over: it holds the lease, or held it already (its restarted host
              // may take the store back between two looks)
              yield* wait(
                "the guardian to take over",
                () => leaseOf(path)?.pid === first.guardian || epochsOf(path).some((r) => r.pid === first.guardian)
              )
              yield* Effect.sleep(300 + Math.floor(Math.random() * 700))
              sigkill(first.guardian)
              // a host (restarted, or the guardian's standby's) holds the store again, and is up (it
              // commits: a host still starting would take a SIGTERM as a crash)
              yield* wait("a live host holding the store and writing to it", () => {
                const lease = leaseOf(path) as lease_.Lease | undefined
                if (lease?.role !== "host" || !isLive(lease.pid)) return false
                return epochsOf(path).some((r) => r.epoch === lease.epoch && r.first !== undefined)
              }, 40_000)
              yield* Effect.sleep("1 second")
              expect(lease_.interleavings(epochsOf(path))).toEqual([])
              // the operator stops the host: nothing is left
              const host = leaseOf(path)!.pid
              process.kill(host, "SIGTERM")
              yield* wait("nothing left", () => leftovers(path, marker).length === 0, 30_000)
              expect(lease_.interleavings(epochsOf(path))).toEqual([])
            }).pipe(Effect.ensuring(Effect.sync(() => {
              for (const pid of leftovers(join(dir, "state.ham"), `${process.pid}9${trial}`)) sigkill(pid)
            }))))
        }
      }),
    60_000 + trials * 60_000
  )
})
