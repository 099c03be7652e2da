/**
 * The output of the spawner's children goes straight to the HAM (each child's stdout and stderr
 * is a connection to the HAM's own socket), and the HAM sees a death itself, when the child's
 * output ends and /proc shows it dead, before the spawner reports it. The spawner is stopped
 * (SIGSTOP) to tell the two apart: what still happens then is the HAM's own doing. Real
 * processes, bounded waits; the checks read /proc.
 */
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { readdirSync } from "node:fs"
import type { Authorisation, ExitInfo, LaunchRequest, Life, NextLife } from "../src/internal/launch/launcher.js"
import * as spawner_ from "../src/internal/launch/spawner.js"
import { launchRequest, liveWithCmdline, waitUntil } from "./processes.js"

/** a command launched by the spawner: its exits (with the next life given) and its output lines */
const commandLife = (command: string, args: ReadonlyArray<string>) => {
  const { request } = launchRequest("svc", command, args)
  const exits: Array<{ readonly info: ExitInfo; readonly next: NextLife | undefined; readonly lines: number }> = []
  const lines: Array<string> = []
  const logged: LaunchRequest = {
    ...request,
    onLine: (_stream, line) => Effect.sync(() => lines.push(line)),
    onExit: (_life, info, next) => {
      exits.push({ info, next, lines: lines.length })
    }
  }
  return { exits, lines, request: logged }
}

/** a shell line launched by the spawner */
const shLife = (script: string) => commandLife("sh", ["-c", script])

/** the spawner stopped while `self` runs, and let go again whatever happens */
const withSpawnerStopped = <A, E, R>(pid: number, self: Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => process.kill(pid, "SIGSTOP")),
    () => self,
    () => Effect.sync(() => process.kill(pid, "SIGCONT"))
  )

/** `pid` SIGKILLed while the spawner is stopped; `then` runs before it is let go */
const killWithSpawnerStopped = <A, E, R>(spawnerPid: number, pid: number, then: Effect.Effect<A, E, R>) =>
  withSpawnerStopped(spawnerPid, Effect.zipRight(Effect.sync(() => process.kill(pid, "SIGKILL")), then))

/** this process's event loop held for `millis`: nothing it would read is read meanwhile */
const holdEventLoop = (millis: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, millis)

/** the descriptors this process has open */
const openFds = () => readdirSync("/proc/self/fd").length

const abnormal: Authorisation = { abnormal: true, normal: false, afterMillis: 0 }

/** whether each of a life's output connections has ended, as the HAM's end of it knows */
const connsEnded = (life: Life) =>
  (life as unknown as { readonly forked: { readonly conns: ReadonlyArray<{ readonly ended: boolean }> } }).forked
    .conns.map((conn) => conn.ended)

describe("the spawner's children and the HAM's output socket", () => {
  it.live("a child's output reaches the HAM while the spawner is stopped: it does not pass through the spawner", () =>
    Effect.gen(function*() {
      const launcher = yield* spawner_.make()
      // it writes once the spawner is stopped
      const { exits, lines, request } = shLife("sleep 0.3; echo out; echo err >&2; sleep 31.71")
      const life = yield* launcher.launch(request)
      yield* withSpawnerStopped(
        launcher.helperPid()!,
        waitUntil("both lines, with the spawner stopped", () => lines.length === 2, 3000)
      )
      expect([...lines].sort()).toEqual(["err", "out"])
      expect(exits).toEqual([])
      yield* life.stop("SIGTERM", 1000)
    }).pipe(Effect.scoped, Effect.provide(NodeContext.layer)))

  it.live("a death is seen by the HAM itself, with its wait status and its last lines, before the spawner reaps it", () =>
    Effect.gen(function*() {
      const launcher = yield* spawner_.make()
      const cases: ReadonlyArray<readonly [string, ExitInfo]> = [
        ["kill -KILL $$", { signal: "SIGKILL" }],
        ["kill -TERM $$", { signal: "SIGTERM" }],
        ["exit 7", { exitCode: 7 }]
      ]
      for (const [end, expected] of cases) {
        // the last lines are written just before the death: still in the connection when it is seen
        const { exits, request } = shLife(`sleep 0.3; seq 1 300; seq 1 5 >&2; ${end}`)
        const life = yield* launcher.launch(request)
        yield* withSpawnerStopped(
          launcher.helperPid()!,
          Effect.gen(function*() {
            yield* waitUntil(`the death (${end}), with the spawner stopped`, () => exits.length === 1, 3000)
            // not reaped: the spawner is stopped; the HAM read its status in /proc
            expect(readdirSync("/proc").includes(String(life.pid))).toBe(true)
          })
        )
        expect([end, exits[0].info, exits[0].lines]).toEqual([end, expected, 305])
        expect(exits[0].next).toBeUndefined()
        // the spawner's own report, once it runs again, tells nothing more
        yield* Effect.sleep("200 millis")
        expect(exits.length).toBe(1)
        yield* life.stop("SIGKILL", 0)
      }
    }).pipe(Effect.scoped, Effect.provide(NodeContext.layer)))

  it.live("a death the spawner has reaped and reported is read when the child's output ends, not a turn later", () =>
    Effect.gen(function*() {
      const launcher = yield* spawner_.make()
      const { exits, lines, request } = shLife("seq 1 300; seq 1 5 >&2; exec sleep 31.73")
      const life = yield* launcher.launch(request)
      yield* waitUntil("its lines", () => lines.length === 305)
      // the spawner's reports are left unread from here (the stream paused): only a read at the
      // output's end brings this death
      launcher.holdReports(true)
      process.kill(life.pid, "SIGKILL")
      // meanwhile the child dies, and the spawner reaps it and reports it: gone from /proc when the
      // HAM sees the output's end
      holdEventLoop(300)
      yield* Effect.ensuring(
        waitUntil("the death, with the spawner's reports left unread", () => exits.length === 1, 3000),
        Effect.sync(() => launcher.holdReports(false))
      )
      expect([exits[0].info, exits[0].lines, exits[0].next]).toEqual([{ signal: "SIGKILL" }, 305, undefined])
      // the reports read on the way are not told again, and the next ones come as they did
      const after = shLife("echo after; exit 4")
      yield* launcher.launch(after.request)
      yield* waitUntil("the next child's exit", () => after.exits.length === 1)
      expect([after.exits[0].info, after.lines]).toEqual([{ exitCode: 4 }, ["after"]])
      expect(exits.length).toBe(1)
    }).pipe(Effect.scoped, Effect.provide(NodeContext.layer)))

  it.live("a child that writes and dies before the HAM knows its connections: its exit waits for its output", () =>
    Effect.gen(function*() {
      for (let i = 0; i < 3; i++) {
        // a new spawner: its first connections are made as the first start comes, and the HAM,
        // held meanwhile, may read the child's reports before it has read their names
        yield* Effect.scoped(Effect.gen(function*() {
          const launcher = yield* spawner_.make()
          const { exits, lines, request } = shLife("echo out; echo err >&2; exit 3")
          const launched = yield* Effect.fork(launcher.launch(request))
          yield* Effect.yieldNow()
          holdEventLoop(200)
          yield* Fiber.join(launched)
          yield* waitUntil("the exit", () => exits.length === 1)
          // its exit was told once both lines were in
          expect([i, exits[0].info, exits[0].lines, [...lines].sort()]).toEqual([i, { exitCode: 3 }, 2, ["err", "out"]])
        }))
      }
    }).pipe(Effect.provide(NodeContext.layer)))

  it.live("an exit code 0 is left to the spawner's report (/proc shows 0 to whoever may not inspect a process)", () =>
    Effect.gen(function*() {
      const launcher = yield* spawner_.make()
      const { exits, request } = shLife("sleep 0.3; exit 0")
      yield* launcher.launch(request)
      yield* withSpawnerStopped(launcher.helperPid()!, Effect.sleep("800 millis"))
      expect(exits).toEqual([])
      yield* waitUntil("the spawner's report", () => exits.length === 1, 3000)
      expect(exits[0].info).toEqual({ exitCode: 0 })
    }).pipe(Effect.scoped, Effect.provide(NodeContext.layer)))

  it.live("an armed child's death is left to the spawner, which restarts it and reports the two together", () =>
    Effect.gen(function*() {
      const launcher = yield* spawner_.make()
      // no shell: a grandchild holding its output would keep its end from being seen
      const { exits, request } = commandLife("sleep", ["31.72"])
      const first = yield* launcher.launch({ ...request, output: "ignore" })
      first.arm(abnormal)
      // the spawner has read the authorisation
      yield* Effect.sleep("150 millis")
      yield* killWithSpawnerStopped(
        launcher.helperPid()!,
        first.pid,
        Effect.gen(function*() {
          yield* Effect.sleep("500 millis")
          expect(exits).toEqual([])
        })
      )
      yield* waitUntil("the spawner's report", () => exits.length === 1, 3000)
      expect(exits[0].info).toEqual({ signal: "SIGKILL" })
      expect(exits[0].next).toBeDefined()
      const next = yield* exits[0].next!.take
      expect(next.pid).not.toBe(first.pid)
      yield* next.stop("SIGKILL", 0)
      yield* waitUntil("nothing left", () => liveWithCmdline("sleep 31.72").length === 0)
    }).pipe(Effect.scoped, Effect.provide(NodeContext.layer)))

  it.live(
    "a child the spawner restarted by itself: its connections end only once the spawner has reaped it, until it is disarmed",
    () =>
      Effect.gen(function*() {
        const launcher = yield* spawner_.make()
        const { exits, request } = commandLife("sleep", ["31.74"])
        const first = yield* launcher.launch(request)
        first.arm(abnormal)
        yield* Effect.sleep("150 millis")
        process.kill(first.pid, "SIGKILL")
        yield* waitUntil("the first exit", () => exits.length === 1, 3000)
        const second = yield* exits[0].next!.take
        second.arm(abnormal)
        yield* Effect.sleep("150 millis")
        expect(connsEnded(second)).toEqual([false, false])
        // the spawner stopped: the child dies, and its connections stay open, held by the spawner
        yield* killWithSpawnerStopped(
          launcher.helperPid()!,
          second.pid,
          Effect.gen(function*() {
            yield* Effect.sleep("500 millis")
            expect([connsEnded(second), exits.length]).toEqual([[false, false], 1])
          })
        )
        // reaped: the exit comes with its next child, its connections ended first
        yield* waitUntil("the second exit", () => exits.length === 2, 3000)
        expect(exits[1].info).toEqual({ signal: "SIGKILL" })
        const third = yield* exits[1].next!.take
        // disarmed: the spawner lets go of its copies, and the HAM sees the death itself again
        third.arm(abnormal)
        third.arm(undefined)
        yield* Effect.sleep("150 millis")
        yield* killWithSpawnerStopped(
          launcher.helperPid()!,
          third.pid,
          waitUntil("the third exit, seen by the HAM", () => exits.length === 3, 3000)
        )
        expect([exits[2].info, exits[2].next]).toEqual([{ signal: "SIGKILL" }, undefined])
        yield* waitUntil("nothing left", () => liveWithCmdline("sleep 31.74").length === 0)
      }).pipe(Effect.scoped, Effect.provide(NodeContext.layer)),
    15_000
  )

  it.live("a child the spawner restarted by itself: all it wrote is in when its exit is reported", () =>
    Effect.gen(function*() {
      const launcher = yield* spawner_.make()
      // each life writes 201 lines and kills itself; the restarts are authorised one at a time
      const { exits, request } = shLife("seq 1 200; echo err-$$ >&2; sleep 0.2; kill -KILL $$")
      let life = yield* launcher.launch(request)
      for (let n = 1; n <= 3; n++) {
        life.arm(abnormal)
        yield* waitUntil(`exit ${n}`, () => exits.length === n, 3000)
        expect([exits[n - 1].info, exits[n - 1].lines]).toEqual([{ signal: "SIGKILL" }, 201 * n])
        life = yield* exits[n - 1].next!.take
      }
      life.arm(undefined)
      yield* life.stop("SIGKILL", 0)
      yield* waitUntil("the last exit", () => exits.length === 4, 3000)
    }).pipe(Effect.scoped, Effect.provide(NodeContext.layer)))

  it.live(
    "a hundred children started at once: each gets connections of its own, its output is its own",
    () =>
      Effect.gen(function*() {
        const launcher = yield* spawner_.make()
        const lives = Array.from({ length: 100 }, (_, i) => shLife(`echo out-${i}; echo err-${i} >&2; exit 3`))
        yield* Effect.forEach(lives, ({ request }) => launcher.launch(request), { concurrency: "unbounded" })
        yield* waitUntil("every exit", () => lives.every(({ exits }) => exits.length === 1), 20_000)
        lives.forEach(({ exits, lines }, i) => {
          expect([i, [...lines].sort(), exits[0].info]).toEqual([i, [`err-${i}`, `out-${i}`], { exitCode: 3 }])
        })
      }).pipe(Effect.scoped, Effect.provide(NodeContext.layer)),
    30_000
  )

  it.live(
    "no descriptor is left behind: children that lived and died, and spawns that failed",
    () =>
      Effect.gen(function*() {
        const launcher = yield* spawner_.make()
        // the first start opens the output socket and its first connections
        const first = shLife("echo first")
        yield* launcher.launch(first.request)
        yield* waitUntil("the first exit", () => first.exits.length === 1)
        yield* Effect.sleep("100 millis")
        const before = openFds()
        for (let i = 0; i < 30; i++) {
          const { exits, request } = shLife(i % 3 === 0 ? "kill -KILL $$" : `echo ${i}; echo ${i} >&2; exit ${i % 5}`)
          const life = yield* launcher.launch(request)
          yield* waitUntil(`exit ${i}`, () => exits.length === 1)
          yield* life.stop("SIGKILL", 0)
          const failed = yield* Effect.exit(launcher.launch(launchRequest("svc", "/no/such/command", []).request))
          expect(failed._tag).toBe("Failure")
        }
        yield* Effect.sleep("200 millis")
        expect(openFds()).toBeLessThanOrEqual(before + 2)
      }).pipe(Effect.scoped, Effect.provide(NodeContext.layer)),
    30_000
  )
})
