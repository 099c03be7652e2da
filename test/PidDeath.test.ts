/**
 * How a pid entity's death is reported (issue 11, item 8), with real processes. The watched
 * process is a grandchild of the test: python3 forks it and, by default, does not reap it until
 * the test closes python3's stdin, so that after its death it stays a zombie whose exit status
 * `/proc/<pid>/stat` still holds (Node would reap a child of its own at once). With `reaped`,
 * python3 ignores SIGCHLD: the kernel reaps the grandchild the moment it dies, as when someone
 * else waits for it, and its status is gone.
 *
 * - killed by a signal while unreaped: `CondAbnormalDeath` then `CondDeath`, with the signal, and
 *   a "restart on failure" (`CondAbnormalDeath` → restart) restarts it;
 * - exited with 3 while unreaped: `CondAbnormalDeath` with exit code 3; with 0, a normal death;
 * - reaped by someone else: only `CondDeath`, `abnormal: false`, `exitStatus: "unknown"`;
 * - the same rules when a HAM finds the death in its store (the process died while none watched).
 *
 * Every wait is bounded; every process is killed and reaped at the end (asked of the OS).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { Entity, Guardian, Ham } from "effect-ham"
import { CondAbnormalDeath } from "effect-ham/Condition"
import { join } from "node:path"
import { awaitEvents, grandchild, isLive, lastOf, stateOf, tempDir, waitUntil } from "./processes.js"
import { entityNode, is, tagsOf, withHam } from "./utils.js"

/** every pid the tests started, checked by the last test */
const started: Array<number> = []

/** a grandchild of the test to watch (`processes.ts`), noted for the last test */
const watchable = (mode: "unreaped" | "reaped") =>
  Effect.map(grandchild(mode), ({ parent, pid }) => {
    started.push(parent, pid)
    return pid
  })

/** attaches the process as a pid entity and subscribes (the subscription first) */
const watched = (name: string, mode: "unreaped" | "reaped") =>
  Effect.gen(function*() {
    const pid = yield* watchable(mode)
    const events = yield* Ham.subscribe
    const entity = yield* Ham.attach(Entity.pid(name, pid, { output: "ignore" }))
    return { entity, events, pid }
  })

describe("the death of a pid entity: its exit status when it can be known", () => {
  it.live("killed by SIGKILL while unreaped: CondAbnormalDeath then CondDeath with the signal; the zombie is left to its parent", () =>
    Effect.gen(function*() {
      const { events, pid } = yield* watched("ext", "unreaped")
      process.kill(pid, "SIGKILL")
      const seen = yield* awaitEvents(events, is("CondDeath", "ext"), 2000)
      expect(tagsOf(seen, "ext")).toEqual(["CondAttach", "CondAbnormalDeath", "CondDeath"])
      const death = { abnormal: true, pid, signal: "SIGKILL", reason: "killed by SIGKILL" }
      expect(seen.find(is("CondAbnormalDeath", "ext"))).toMatchObject({ _tag: "CondAbnormalDeath", ...death })
      expect(lastOf(seen)).toMatchObject({ _tag: "CondDeath", ...death })
      expect(lastOf(seen)).not.toHaveProperty("exitStatus")
      expect(lastOf(seen)).not.toHaveProperty("exitCode")
      const node = yield* entityNode("ext")
      expect([node.status, node.stats.deaths, node.stats.abnormalDeaths]).toEqual(["dead", 1, 1])
      // the HAM did not reap it: it is still its parent's zombie
      expect(stateOf(pid)).toBe("Z")
    }).pipe(withHam()))

  it.live("restart on failure works for a pid entity: CondAbnormalDeath → restart", () =>
    Effect.gen(function*() {
      const { entity, events, pid } = yield* watched("ext", "unreaped")
      yield* Ham.condition(entity, CondAbnormalDeath).pipe(Ham.restart)
      process.kill(pid, "SIGKILL")
      const seen = yield* awaitEvents(events, is("CondRestart", "ext"), 3000)
      expect(tagsOf(seen, "ext")).toEqual(["CondAttach", "CondAbnormalDeath", "CondDeath", "CondRestart"])
      const node = yield* entityNode("ext")
      expect([node.kind, node.status, node.stats.restarts]).toEqual(["process", "running", 1])
      expect(node.pid).not.toBe(pid)
      // the restarted one is the HAM's child: Ham.stop ends it
      const fresh = node.pid!
      expect(isLive(fresh)).toBe(true)
      yield* Ham.stop
      yield* waitUntil("the restarted process to end", () => !isLive(fresh), 3000)
    }).pipe(withHam()))

  it.live("exits with 3 while unreaped: CondAbnormalDeath with exitCode 3", () =>
    Effect.gen(function*() {
      const { events, pid } = yield* watched("ext", "unreaped")
      process.kill(pid, "SIGUSR1")
      const seen = yield* awaitEvents(events, is("CondDeath", "ext"), 2000)
      expect(tagsOf(seen, "ext")).toEqual(["CondAttach", "CondAbnormalDeath", "CondDeath"])
      const death = { abnormal: true, pid, exitCode: 3, reason: "exited with code 3" }
      expect(seen.find(is("CondAbnormalDeath", "ext"))).toMatchObject(death)
      expect(lastOf(seen)).toMatchObject({ _tag: "CondDeath", ...death })
      expect(lastOf(seen)).not.toHaveProperty("signal")
    }).pipe(withHam()))

  it.live("exits with 0 while unreaped: a normal death with exitCode 0, its status known", () =>
    Effect.gen(function*() {
      const { events, pid } = yield* watched("ext", "unreaped")
      process.kill(pid, "SIGUSR2")
      const seen = yield* awaitEvents(events, is("CondDeath", "ext"), 2000)
      expect(tagsOf(seen, "ext")).toEqual(["CondAttach", "CondDeath"])
      expect(lastOf(seen)).toMatchObject({ abnormal: false, pid, exitCode: 0, reason: "exited with code 0" })
      expect(lastOf(seen)).not.toHaveProperty("exitStatus")
    }).pipe(withHam()))

  it.live("reaped by someone else before the HAM looked: only CondDeath, not abnormal, exitStatus unknown", () =>
    Effect.gen(function*() {
      const { events, pid } = yield* watched("ext", "reaped")
      process.kill(pid, "SIGKILL")
      const seen = yield* awaitEvents(events, is("CondDeath", "ext"), 2000)
      expect(tagsOf(seen, "ext")).toEqual(["CondAttach", "CondDeath"])
      expect(lastOf(seen)).toMatchObject({ _tag: "CondDeath", abnormal: false, pid, exitStatus: "unknown" })
      expect((lastOf(seen) as { reason: string }).reason).toMatch(/^pid \d+ is gone, .*: its exit status is unknown$/)
      expect(lastOf(seen)).not.toHaveProperty("signal")
      expect(stateOf(pid)).toBeUndefined()
      const node = yield* entityNode("ext")
      expect([node.stats.deaths, node.stats.abnormalDeaths]).toEqual([1, 0])
    }).pipe(withHam()))
})

describe("a death found in the store (the process died while no HAM watched it)", () => {
  /** a HAM on the store at `path`, running `body` */
  const onStore = <A, E, R>(path: string, body: Effect.Effect<A, E, R>) =>
    body.pipe(withHam(), Effect.provide(Layer.fresh(Guardian.layer({ path }))))

  for (
    const [mode, expected] of [
      ["unreaped", { deaths: 1, abnormalDeaths: 1, lastDeath: "killed by SIGKILL" }],
      ["reaped", {
        deaths: 1,
        abnormalDeaths: 0,
        lastDeath: "died while no HAM was watching it: its exit status is unknown"
      }]
    ] as const
  ) {
    it.scopedLive(`${mode}: the next HAM of the store reports it ${expected.abnormalDeaths === 1 ? "with its signal" : "of unknown status"}`, () =>
      Effect.gen(function*() {
        const path = join(yield* tempDir("ham-piddeath-"), "state.ham")
        const pid = yield* watchable(mode)
        yield* onStore(path, Ham.attach(Entity.pid("ext", pid, { output: "ignore" })))
        process.kill(pid, "SIGKILL")
        yield* waitUntil("the process to die", () => !isLive(pid), 2000)
        const node = yield* onStore(path, entityNode("ext"))
        expect(node.status).toBe("dead")
        expect(node.stats.deaths).toBe(expected.deaths)
        expect(node.stats.abnormalDeaths).toBe(expected.abnormalDeaths)
        expect(node.stats.lastDeath).toContain(expected.lastDeath)
      }))
  }
})

describe("leftovers", () => {
  it.live("no process started by these tests is left, and each was reaped (asked of the OS)", () =>
    Effect.gen(function*() {
      expect(started.length).toBeGreaterThanOrEqual(14)
      yield* waitUntil("every started process to be reaped", () => started.every((pid) => stateOf(pid) === undefined))
    }))
})
