import { Command } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Layer, Queue } from "effect"
import { Action, Entity, Guardian, Ham } from "effect-ham"
import { CondDeath, CondRestart, CondState } from "effect-ham/Condition"
import { open } from "lmdb"
import * as ChildProcess from "node:child_process"
import { randomBytes } from "node:crypto"
import { readFileSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { awaitEvents, inTempDir, isLive, liveWithCmdline, pidOf, waitUntil, waitUntilEffect } from "./processes.js"
import { actionNode, conditionNode, entityNode, settle } from "./utils.js"

/** runs `body` against a HAM that persists to the store at `path`, then stops it */
const withStore = <A, E, R>(path: string, body: Effect.Effect<A, E, R>) =>
  body.pipe(
    Effect.scoped,
    Effect.provide(Ham.layer()),
    Effect.provide(Guardian.layer({ path }))
  )

/** the setup code an application runs at every start */
const setup = Effect.gen(function*() {
  const worker = yield* Ham.attach(Entity.fiber("worker", Effect.never))
  yield* Ham.condition(worker, CondDeath).pipe(Ham.restart, Ham.log("worker died"))
  yield* Ham.conditionState(worker, { to: 7 }, { name: "seven" }).pipe(Ham.log("state 7"))
  return worker
})

const modeOf = (path: string) => statSync(path).mode & 0o777

/** runs `f` with the path of a store in a fresh temporary directory (removed afterwards) */
const inStoreDir = <A, E, R>(f: (path: string) => Effect.Effect<A, E, R>) =>
  inTempDir("ham-guardian-", (dir) => f(join(dir, "state.ham")))

describe("Guardian: the state store", () => {
  it.live("a HAM started again with the same store gets back its conditions, actions, statistics and states", () =>
    inStoreDir((path) =>
      Effect.gen(function*() {
        yield* withStore(
          path,
          Effect.gen(function*() {
            const worker = yield* setup
            yield* Ham.publishState(worker, 3)
            yield* Ham.publishState(worker, 7)
          })
        )
        yield* withStore(
          path,
          Effect.gen(function*() {
            // before the application attaches it again: a placeholder holding what it had
            const before = yield* entityNode("worker")
            expect(before.status).toBe("placeholder")
            expect(before.state).toBe(7)
            expect(before.conditions.map((c) => c.name)).toEqual(["death", "seven"])
            expect(before.conditions[0].actions.map((a) => a.name)).toEqual(["restart", "log"])
            expect((yield* conditionNode("worker", "seven")).fired).toBe(1)
            expect((yield* actionNode("worker", "seven", "log")).runs).toBe(1)

            // the same setup code again takes everything up: nothing is duplicated
            yield* setup
            const after = yield* entityNode("worker")
            expect(after.status).toBe("running")
            expect(after.state).toBe(7)
            expect(after.conditions.map((c) => c.name)).toEqual(["death", "seven"])
            expect(after.conditions[0].actions.map((a) => a.name)).toEqual(["restart", "log"])
            expect((yield* conditionNode("worker", "seven")).fired).toBe(1)
          })
        )
      })
    ))

  it.live("deaths and restarts counted by the HAM itself are kept", () =>
    inStoreDir((path) =>
      Effect.gen(function*() {
        yield* withStore(
          path,
          Effect.gen(function*() {
            const events = yield* Ham.subscribe
            let lives = 0
            const flaky = Effect.suspend(() => (++lives < 3 ? Effect.fail("boom") : Effect.never))
            const e = yield* Ham.attach(Entity.fiber("flaky", flaky), { backoff: false })
            yield* Ham.condition(e, CondDeath).pipe(Ham.restart)
            yield* awaitEvents(events, (ev) => ev._tag === CondRestart && ev.entity === "flaky")
            yield* awaitEvents(events, (ev) => ev._tag === CondRestart && ev.entity === "flaky")
          })
        )
        yield* withStore(
          path,
          Effect.gen(function*() {
            const node = yield* entityNode("flaky")
            expect(node.stats.deaths).toBe(2)
            expect(node.stats.restarts).toBe(2)
            expect(node.stats.lastDeath).toContain("boom")
            expect((yield* actionNode("flaky", "death", "restart")).runs).toBe(2)
          })
        )
      })
    ))

  it.live("a declaration that differs from the stored one wins; a stored Action.effect waits for its code", () =>
    inStoreDir((path) =>
      Effect.gen(function*() {
        yield* withStore(
          path,
          Effect.gen(function*() {
            const app = yield* Ham.entity("app")
            yield* Ham.condition(app, CondState).pipe(Ham.action(Action.effect(Effect.void, { label: "hook" })))
            yield* Ham.conditionState(app, { to: 2 }, { name: "two" }).pipe(Ham.log("two"))
          })
        )
        yield* withStore(
          path,
          Effect.gen(function*() {
            const events = yield* Ham.subscribe
            // the stored code cannot run: its action fails (and says why) until declared again
            yield* Ham.publishState("app", 1)
            yield* awaitEvents(events, (ev) => ev._tag === CondState)
            yield* settle
            const hook = yield* actionNode("app", "state", "hook")
            expect(hook.failures).toBe(1)
            expect(hook.lastFailure).toContain("was not declared again")
            // declared again: it runs
            const app = yield* Ham.entity("app")
            yield* Ham.condition(app, CondState).pipe(Ham.action(Action.effect(Effect.void, { label: "hook" })))
            yield* Ham.publishState("app", 2)
            yield* settle
            const again = yield* actionNode("app", "state", "hook")
            expect(again).toMatchObject({ runs: 2, failures: 1 })
            // "two" declared with another filter: the declaration wins, the stored actions go
            yield* Ham.conditionState(app, { to: 5 }, { name: "two" })
            expect((yield* conditionNode("app", "two")).actions).toEqual([])
          })
        )
      })
    ))

  /** `name` attached with `life`, `before` run, then detached: the store opened again holds only `worker` */
  const detachedIsGone = (name: string, life: Effect.Effect<void>, before: Effect.Effect<void, never, Ham.Ham>) =>
    inStoreDir((path) =>
      Effect.gen(function*() {
        yield* withStore(
          path,
          Effect.gen(function*() {
            yield* setup
            yield* Ham.attach(Entity.fiber(name, life))
            yield* before
            yield* Ham.detach(name)
          })
        )
        yield* withStore(
          path,
          Effect.gen(function*() {
            const tree = yield* Ham.snapshot
            expect(tree.entities.map((e) => e.name)).toEqual(["worker"])
          })
        )
      })
    )

  it.live("a detached entity is gone from the store", () => detachedIsGone("other", Effect.never, Effect.void))

  it.live("a detached entity whose life had ended (nothing left to stop) is gone from the store too", () =>
    // its life has run and ended: the detach stops nothing, it is synchronous
    detachedIsGone(
      "ended",
      Effect.void,
      waitUntilEffect(
        "its life ended",
        Effect.map(Ham.snapshot, (tree) => tree.entities.find((e) => e.name === "ended")?.status === "dead")
      )
    ))

  it.live("a process entity is restored whole: started again, and taken up by the next attach", () =>
    inStoreDir((path) =>
      Effect.gen(function*() {
        const line = `sleep 31.${process.pid}`
        const attachSleeper = Effect.gen(function*() {
          const e = yield* Ham.attach(Entity.process("sleeper", Command.make("sleep", `31.${process.pid}`)))
          yield* Ham.condition(e, CondDeath).pipe(Ham.restart)
          return e
        })
        const first = yield* withStore(path, Effect.zipRight(attachSleeper, pidOf("sleeper")))
        expect(isLive(first)).toBe(false)
        yield* withStore(
          path,
          Effect.gen(function*() {
            const restored = yield* pidOf("sleeper")
            expect(restored).not.toBe(first)
            expect(liveWithCmdline(line)).toEqual([restored])
            yield* attachSleeper
            expect(yield* pidOf("sleeper")).toBe(restored)
            expect(liveWithCmdline(line)).toEqual([restored])
            expect((yield* entityNode("sleeper")).conditions.map((c) => c.name)).toEqual(["death"])
          })
        )
        yield* Effect.sync(() => waitUntil("no sleeper left", () => liveWithCmdline(line).length === 0))
        expect(liveWithCmdline(line)).toEqual([])
      })
    ))

  it.live("the file and its lock file are owner-only", () =>
    inStoreDir((path) =>
      Effect.gen(function*() {
        yield* withStore(path, setup)
        expect(modeOf(path)).toBe(0o600)
        expect(modeOf(`${path}-lock`)).toBe(0o600)
      })
    ))
})

describe("Guardian: files it must not use", () => {
  const refused = (path: string) =>
    Effect.gen(function*() {
      const before = readFileSync(path)
      const result = yield* Effect.either(withStore(path, setup))
      expect(readFileSync(path).equals(before)).toBe(true)
      if (Either.isRight(result)) return expect.fail("the store was opened")
      expect(result.left._tag).toBe("StoreCorrupt")
      return result.left.message
    })

  it.live("a text file", () =>
    inTempDir("ham-guardian-", (dir) =>
      Effect.gen(function*() {
        const path = join(dir, "notes.txt")
        writeFileSync(path, "these are my notes\n".repeat(1000))
        expect(yield* refused(path)).toContain("not an LMDB file")
      })))

  it.live("random bytes", () =>
    inTempDir("ham-guardian-", (dir) =>
      Effect.gen(function*() {
        const path = join(dir, "random.ham")
        writeFileSync(path, randomBytes(64 * 1024))
        expect(yield* refused(path)).toContain("not an LMDB file")
      })))

  it.live("a store cut short", () =>
    inStoreDir((path) =>
      Effect.gen(function*() {
        yield* withStore(path, setup)
        const whole = readFileSync(path)
        writeFileSync(path, whole.subarray(0, whole.length - 4096))
        expect(yield* refused(path)).toContain("cut short")
      })
    ))

  it.live("a store of another format version, and an LMDB file of another program", () =>
    inTempDir("ham-guardian-", (dir) =>
      Effect.gen(function*() {
        const newer = join(dir, "newer.ham")
        const db = open({ path: newer, noSubdir: true })
        db.putSync("meta", { app: "effect-ham", format: Guardian.formatVersion + 1 })
        yield* Effect.promise(() => db.close())
        expect(yield* refused(newer)).toContain(`store format ${Guardian.formatVersion + 1}`)

        const foreign = join(dir, "foreign.mdb")
        const other = open({ path: foreign, noSubdir: true })
        other.putSync("customer/1", { name: "Ada" })
        yield* Effect.promise(() => other.close())
        expect(yield* refused(foreign)).toContain("another program")
      })))

  it.live("a damaged entity record", () =>
    inStoreDir((path) =>
      Effect.gen(function*() {
        yield* withStore(path, setup)
        const db = open({ path, noSubdir: true })
        db.putSync("e/worker", { name: "worker", kind: "spaceship" })
        yield* Effect.promise(() => db.close())
        expect(yield* refused(path)).toContain("e/worker is damaged")
      })
    ))

  it.live("a store that cannot be opened leaves the HAM unbuilt and the program told why", () =>
    inTempDir("ham-guardian-", (dir) =>
      Effect.gen(function*() {
        const path = join(dir, "notes.txt")
        writeFileSync(path, "x".repeat(10_000))
        const layer = Ham.layer().pipe(Layer.provide(Guardian.layer({ path })))
        const result = yield* Effect.either(Effect.provide(Ham.snapshot, layer))
        expect(Either.isLeft(result) && result.left._tag).toBe("StoreCorrupt")
      })))
})

describe("Guardian: registry calls return once committed", () => {
  it.live("a state published and acknowledged is in the file, read by another reader at once", () =>
    inStoreDir((path) =>
      Effect.gen(function*() {
        yield* withStore(
          path,
          Effect.gen(function*() {
            const events = yield* Ham.subscribe
            const worker = yield* setup
            for (const state of [1, 2, 3, 4, 5]) {
              yield* Ham.publishState(worker, state)
              // another handle on the file (as another process would) sees it once acknowledged
              const reader = open({ path, noSubdir: true })
              const doc = reader.get("e/worker") as { state: number }
              yield* Effect.promise(() => reader.close())
              expect(doc.state).toBe(state)
            }
            yield* Queue.shutdown(events)
          })
        )
      })
    ))
})

describe("Guardian: one active HAM per store", () => {
  it.live("a second HAM on a store in use gets StoreBusy; once the first is closed it gets the store", () =>
    inStoreDir((path) =>
      Effect.gen(function*() {
        yield* withStore(
          path,
          Effect.gen(function*() {
            yield* setup
            const second = yield* Effect.either(withStore(path, Ham.snapshot))
            if (Either.isRight(second)) return expect.fail("two HAMs on one store")
            expect(second.left).toMatchObject({ _tag: "StoreBusy", pid: process.pid, role: "host" })
            // the refused HAM changed nothing
            expect((yield* entityNode("worker")).status).toBe("running")
          })
        )
        const tree = yield* withStore(path, Ham.snapshot)
        expect(tree.entities.map((e) => e.name)).toEqual(["worker"])
      })
    ))

  it.live("the lease of a holder that died is taken over", () =>
    inStoreDir((path) =>
      Effect.gen(function*() {
        yield* withStore(path, setup)
        // a lease left by a process that is gone (a pid that cannot be alive)
        const db = open({ path, noSubdir: true })
        db.putSync("lease", { pid: 2 ** 22 + 1, startTime: 1, instance: "gone", role: "host" })
        yield* Effect.promise(() => db.close())
        const tree = yield* withStore(path, Ham.snapshot)
        expect(tree.entities.map((e) => e.name)).toEqual(["worker"])
      })
    ))

  it.live(
    "six processes race for one store: exactly one wins, the others are told who holds it",
    () =>
      inTempDir("ham-guardian-", (dir) =>
        Effect.gen(function*() {
          const path = join(dir, "state.ham")
          const root = join(import.meta.dirname, "..")
          const children = Array.from({ length: 6 }, () =>
            ChildProcess.spawn(
              process.execPath,
              ["--conditions=source", "--import", "tsx", "test/fixtures/store-racer.ts", path],
              { cwd: root, stdio: ["pipe", "pipe", "inherit"] }
            ))
          const outputs = children.map(() => "")
          children.forEach((child, i) =>
            child.stdout.on("data", (chunk: Buffer) => {
              outputs[i] += chunk.toString("utf8")
            })
          )
          const exited = children.map((child) => new Promise<void>((resolve) => child.on("exit", () => resolve())))
          yield* Effect.addFinalizer(() => Effect.sync(() => children.forEach((child) => child.kill("SIGKILL"))))
          // all of them started, then all told to go at once
          yield* waitUntilEffect(
            "six contenders ready",
            Effect.sync(() => outputs.every((o) => o === "ready\n")),
            30_000
          )
          for (const child of children) child.stdin.write("go\n")
          yield* waitUntilEffect(
            "every contender answered",
            Effect.sync(() => outputs.every((o) => o.split("\n").length > 2)),
            10_000
          )
          const results = outputs.map((o) => o.split("\n")[1])
          expect(results.filter((r) => r === "won")).toHaveLength(1)
          const winner = children[results.indexOf("won")]
          expect(results.filter((r) => r === `busy ${winner.pid}`)).toHaveLength(5)
          for (const child of children) child.stdin.end()
          yield* Effect.promise(() => Promise.all(exited))
        })).pipe(Effect.scoped),
    60_000
  )
})
