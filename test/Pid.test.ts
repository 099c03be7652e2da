/**
 * External process entities (`Entity.pid`) with real processes the test starts itself (with
 * node:child_process, so they are not the HAM's children): attach, death detection by polling
 * /proc (default and custom interval), restart with the same command line, working directory and
 * environment (read back from /proc), the typed errors of a refused attach (the registry unchanged),
 * and detach / stop leaving the external process alone. Every wait is bounded; every process the
 * tests start is killed at the end, and the last test asks the OS that none is left.
 */
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Queue } from "effect"
import type { Scope } from "effect"
import { Entity, Ham } from "effect-ham"
import { CondDeath } from "effect-ham/Condition"
import * as cp from "node:child_process"
import { readFileSync, readlinkSync, realpathSync } from "node:fs"
import {
  awaitEvents,
  grandchild,
  isLive,
  liveWithCmdline,
  stateOf,
  tempDir,
  unusedPid,
  waitUntil
} from "./processes.js"
import { entityNode, failureOf, is, registry, tagsOf, withHam } from "./utils.js"

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

/** every pid the tests started (directly or through python3), checked by the last test */
const started: Array<number> = []

/** the raw command line of a process (its arguments separated by NUL); undefined when gone */
const rawCmdline = (pid: number): string | undefined => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8")
  } catch {
    return undefined
  }
}

/** the environment of a process as KEY=VALUE strings */
const environOf = (pid: number): Array<string> =>
  readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").filter((s) => s.length > 0)

const testEnvKey = "HAM_PID_TEST_VAR"
const testEnvValue = "value-41"

/**
 * Starts `sleep <seconds>` as a child of the test process (not of the HAM), in `cwd`, with
 * `HAM_PID_TEST_VAR` in its environment. SIGKILLed when the scope closes if it still runs (Node
 * reaps its own children, so it leaves no zombie).
 */
const startSleep = (seconds: string, cwd?: string): Effect.Effect<number, never, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(
      Effect.sync(() =>
        cp.spawn("sleep", [seconds], {
          stdio: "ignore",
          env: { ...process.env, [testEnvKey]: testEnvValue },
          ...(cwd === undefined ? {} : { cwd })
        })
      ),
      (child) =>
        Effect.sync(() => {
          if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
        })
    ),
    (child) => {
      started.push(child.pid!)
      return child.pid!
    }
  )

/**
 * `sleep <seconds>` as `startSleep` starts it, but as a grandchild that its parent (python3)
 * reaps the moment it dies, so that its death is always one of unknown status (a child of the
 * test itself is reaped by Node at once, but a poll may see it as a zombie first: either way).
 */
const reapedSleep = (seconds: string, cwd?: string): Effect.Effect<number, never, Scope.Scope> =>
  Effect.map(
    grandchild("reaped", {
      command: ["sleep", seconds],
      env: { ...process.env, [testEnvKey]: testEnvValue },
      ...(cwd === undefined ? {} : { cwd })
    }),
    ({ parent, pid }) => {
      started.push(parent, pid)
      return pid
    }
  )

/** a zombie: a grandchild that exited with 0 and that its parent (python3) has not reaped */
const zombie: Effect.Effect<number, never, Scope.Scope> = Effect.gen(function*() {
  const { parent, pid } = yield* grandchild("unreaped")
  started.push(parent, pid)
  process.kill(pid, "SIGUSR2")
  yield* waitUntil(`pid ${pid} to be a zombie`, () => stateOf(pid) === "Z", 2000)
  return pid
})

// ---------------------------------------------------------------------------------------------
// attach and death
// ---------------------------------------------------------------------------------------------

describe("Entity.pid: attach and death", () => {
  it.live("attach: CondAttach with the pid; the tree shows kind pid and the pid", () =>
    Effect.gen(function*() {
      const pid = yield* startSleep("41.51")
      const events = yield* Ham.subscribe
      yield* Ham.attach(Entity.pid("ext", pid))
      const seen = yield* awaitEvents(events, is("CondAttach", "ext"), 3000)
      expect(seen[seen.length - 1]).toMatchObject({ _tag: "CondAttach", entity: "ext", pid })
      const node = yield* entityNode("ext")
      expect([node.kind, node.status, node.pid]).toEqual(["pid", "running", pid])
    }).pipe(withHam()))

  it.live("a SIGKILL from outside is detected by polling (default interval): CondDeath, not abnormal (reaped at once: status unknown), with the pid", () =>
    Effect.gen(function*() {
      // reaped by its parent the moment it dies: the HAM cannot know how it ended
      const pid = yield* reapedSleep("41.52")
      const events = yield* Ham.subscribe
      yield* Ham.attach(Entity.pid("ext", pid))
      // let a few polls see it alive first
      yield* Effect.sleep("60 millis")
      expect((yield* entityNode("ext")).status).toBe("running")
      const killedAt = yield* Clock.currentTimeMillis
      process.kill(pid, "SIGKILL")
      const seen = yield* awaitEvents(events, is("CondDeath", "ext"), 1000)
      const elapsed = (yield* Clock.currentTimeMillis) - killedAt
      expect(tagsOf(seen, "ext")).toEqual(["CondAttach", "CondDeath"])
      expect(seen[seen.length - 1]).toMatchObject({ _tag: "CondDeath", abnormal: false, pid, exitStatus: "unknown" })
      // the default poll is 20 ms: far less than this bound
      expect(elapsed).toBeLessThan(250)
      const node = yield* entityNode("ext")
      expect([node.status, node.stats.deaths, node.stats.abnormalDeaths]).toEqual(["dead", 1, 0])
    }).pipe(withHam()))

  it.live("a custom pollInterval: the death is seen at the first poll, one interval after the attach", () =>
    Effect.gen(function*() {
      const pid = yield* reapedSleep("41.53")
      const events = yield* Ham.subscribe
      const attachedAt = yield* Clock.currentTimeMillis
      yield* Ham.attach(Entity.pid("slow", pid, { pollInterval: "400 millis" }))
      process.kill(pid, "SIGKILL")
      yield* waitUntil("the kill to take effect", () => !isLive(pid), 2000)
      const seen = yield* awaitEvents(events, is("CondDeath", "slow"), 2000)
      const elapsed = (yield* Clock.currentTimeMillis) - attachedAt
      expect(seen[seen.length - 1]).toMatchObject({ _tag: "CondDeath", abnormal: false, pid })
      // no poll before 400 ms (a default poller would have seen it within a few tens of ms) ...
      expect(elapsed).toBeGreaterThanOrEqual(380)
      // ... and the first poll sees it
      expect(elapsed).toBeLessThan(900)
    }).pipe(withHam()))
})

// ---------------------------------------------------------------------------------------------
// restart
// ---------------------------------------------------------------------------------------------

describe("Entity.pid: restart", () => {
  it.live("a restart re-spawns the same command line, cwd and environment; then it is a process entity stopped by Ham.stop", () =>
    Effect.gen(function*() {
      const dir = realpathSync(yield* tempDir("ham-pid-"))
      const pid = yield* reapedSleep("41.5", dir)
      const cmdline = rawCmdline(pid)
      expect(cmdline).toBe("sleep\u000041.5\u0000")
      expect(readlinkSync(`/proc/${pid}/cwd`)).toBe(dir)
      expect(environOf(pid)).toContain(`${testEnvKey}=${testEnvValue}`)
      const events = yield* Ham.subscribe
      const e = yield* Ham.attach(Entity.pid("again", pid, { output: "ignore" }))
      yield* Ham.condition(e, CondDeath).pipe(Ham.restart)
      process.kill(pid, "SIGKILL")
      const seen = yield* awaitEvents(events, is("CondRestart", "again"), 3000)
      expect(tagsOf(seen, "again")).toEqual(["CondAttach", "CondDeath", "CondRestart"])
      const restart = seen[seen.length - 1]
      if (restart._tag !== "CondRestart" || restart.pid === undefined) throw new Error("no pid in CondRestart")
      const fresh = restart.pid
      expect(fresh).not.toBe(pid)
      expect(restart.restarts).toBe(1)
      // asked of the OS: the same command line, working directory and environment variable
      expect(isLive(fresh)).toBe(true)
      // a child seen between its fork and its exec still has the spawner's command line
      yield* waitUntil("the new child to run its command", () => rawCmdline(fresh) === cmdline, 5000)
      expect(readlinkSync(`/proc/${fresh}/cwd`)).toBe(dir)
      const environ = environOf(fresh)
      expect(environ).toContain(`${testEnvKey}=${testEnvValue}`)
      expect(environ).toContain("HAM_ENTITY=again")
      const node = yield* entityNode("again")
      expect([node.kind, node.status, node.pid, node.stats.restarts]).toEqual(["process", "running", fresh, 1])
      // now the HAM's own child: Ham.stop ends it
      yield* Ham.stop
      yield* waitUntil("no sleep 41.5 left", () => liveWithCmdline("sleep 41.5").length === 0, 2000)
      expect(isLive(fresh)).toBe(false)
    }).pipe(withHam()))
})

// ---------------------------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------------------------

describe("Entity.pid: refused attaches leave the registry unchanged", () => {
  it.live("ProcessNotFound for a pid that does not exist", () =>
    Effect.gen(function*() {
      const before = yield* registry
      const pid = unusedPid()
      const error = yield* failureOf(Ham.attach(Entity.pid("ghost", pid)))
      expect(error).toMatchObject({ _tag: "ProcessNotFound", pid })
      expect(yield* registry).toEqual(before)
    }).pipe(withHam()))

  it.live("ProcessNotFound for a zombie (exited, not yet reaped)", () =>
    Effect.gen(function*() {
      const pid = yield* zombie
      // kill(pid, 0) succeeds on a zombie: only /proc tells it is dead
      expect(() => process.kill(pid, 0)).not.toThrow()
      const before = yield* registry
      const error = yield* failureOf(Ham.attach(Entity.pid("undead", pid)))
      expect(error).toMatchObject({ _tag: "ProcessNotFound", pid })
      expect(yield* registry).toEqual(before)
    }).pipe(withHam()))

  for (const pid of [0, -1, 1.5]) {
    it.live(`InvalidArgument for pid ${pid}`, () =>
      Effect.gen(function*() {
        const before = yield* registry
        const error = yield* failureOf(Ham.attach(Entity.pid("bad", pid)))
        expect(error._tag).toBe("InvalidArgument")
        expect(yield* registry).toEqual(before)
      }).pipe(withHam()))
  }

  it.live("DuplicateName for a name taken by a running entity; the first keeps its pid", () =>
    Effect.gen(function*() {
      const first = yield* startSleep("41.54")
      const second = yield* startSleep("41.55")
      yield* Ham.attach(Entity.pid("taken", first))
      const before = yield* registry
      const error = yield* failureOf(Ham.attach(Entity.pid("taken", second)))
      expect(error).toMatchObject({ _tag: "DuplicateName", name: "taken" })
      expect(yield* registry).toEqual(before)
      expect((yield* entityNode("taken")).pid).toBe(first)
    }).pipe(withHam()))
})

// ---------------------------------------------------------------------------------------------
// detach, stop, leftovers
// ---------------------------------------------------------------------------------------------

describe("Entity.pid: the HAM leaves an external process alone", () => {
  it.live("detach fires CondDetach and leaves the process running (it is not the HAM's child)", () =>
    Effect.gen(function*() {
      const pid = yield* startSleep("41.56")
      const events = yield* Ham.subscribe
      yield* Ham.attach(Entity.pid("ext", pid))
      yield* Ham.detach("ext")
      const seen = yield* awaitEvents(events, is("CondDetach", "ext"), 3000)
      expect(tagsOf(seen, "ext")).toEqual(["CondAttach", "CondDetach"])
      expect((yield* Ham.snapshot).entities.map((n) => n.name)).not.toContain("ext")
      // well after many poll intervals: still alive, and no death was reported
      yield* Effect.sleep("150 millis")
      expect(isLive(pid)).toBe(true)
      const later = yield* Queue.takeAll(events)
      expect([...later].filter((x) => x.entity === "ext")).toEqual([])
    }).pipe(withHam()))

  it.live("Ham.stop ends the monitoring and leaves the external process running", () =>
    Effect.gen(function*() {
      const pid = yield* startSleep("41.57")
      yield* Ham.attach(Entity.pid("ext", pid)).pipe(Effect.zipRight(Ham.stop), withHam())
      yield* Effect.sleep("100 millis")
      expect(isLive(pid)).toBe(true)
    }).pipe(Effect.scoped))

  it.live("the HAM's own pid: watched (kept in the store for a HAM that takes over) but never dead in this HAM", () =>
    Effect.gen(function*() {
      const events = yield* Ham.subscribe
      const me = yield* Ham.attach(Entity.pid("me", process.pid))
      yield* Ham.condition(me, CondDeath).pipe(Ham.restart)
      const node = yield* entityNode("me")
      expect([node.kind, node.status, node.pid]).toEqual(["pid", "running", process.pid])
      // many polls later: still running, no death, no restart
      yield* Effect.sleep("150 millis")
      expect((yield* entityNode("me")).status).toBe("running")
      // detach and stop only end the watching (this process is still here to check)
      yield* Ham.detach(me)
      yield* Ham.attach(Entity.pid("me", process.pid))
      yield* Effect.sleep("50 millis")
      const seen = [...yield* Queue.takeAll(events)].filter((x) => x.entity === "me").map((x) => x._tag)
      expect(seen).toEqual(["CondAttach", "CondDetach", "CondAttach"])
      yield* Ham.stop
    }).pipe(withHam()))

  it.live("no process started by these tests is left (asked of the OS)", () =>
    Effect.gen(function*() {
      expect(started.length).toBeGreaterThanOrEqual(10)
      // gone, and reaped (Node reaps its children on its event loop: a zombie may linger a moment)
      yield* waitUntil(
        "every started process to be reaped",
        () => started.every((pid) => stateOf(pid) === undefined),
        2000
      )
      for (const seconds of ["41.5", "41.51", "41.52", "41.53", "41.54", "41.55", "41.56", "41.57"]) {
        expect(liveWithCmdline(`sleep ${seconds}`)).toEqual([])
      }
    }))
})
