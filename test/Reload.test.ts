/**
 * Graceful reload (`Ham.reloadEntity`) with real processes: a server on a shared port
 * (SO_REUSEPORT, a Python fixture) is replaced by a new one that starts beside it; the old one is
 * stopped once the new one says READY=1. A client that asks all along sees no gap as long as the
 * server's start-up (a restart shows one), the new command and environment are used, and no death,
 * restart or statistic is counted. A new process that exits or is late leaves the old one untouched.
 */
import { Command } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Clock, Effect, Fiber, Option, Queue, TestClock, TestServices } from "effect"
import { Entity, Ham } from "effect-ham"
import type { ConditionEvent } from "effect-ham/Condition"
import * as NodeNet from "node:net"
import { join } from "node:path"
import { freePort, isLive, liveProcesses, liveWithCmdline, waitUntil, waitUntilEffect } from "./processes.js"
import { entityNode, failureOf, registry, withHam } from "./utils.js"

const fixture = join(import.meta.dirname, "fixtures", "reuseport-server.py")

/** the server: its port, version, start-up delay and mode */
const server = (port: number, version: string, delayMillis: number, mode = "ok") =>
  Command.make("python3", fixture, String(port), version, String(delayMillis), mode)

/** one request: the server's line ("<version> <pid>"), or undefined when the connection failed */
const ask = (port: number) =>
  Effect.async<string | undefined>((resume) => {
    const socket = NodeNet.connect({ port, host: "127.0.0.1" })
    let data = ""
    socket.setTimeout(2000)
    socket.on("connect", () => socket.write("GET\n"))
    socket.on("data", (chunk) => data += chunk.toString())
    socket.on("end", () => resume(Effect.succeed(data.endsWith("\n") ? data.trim() : undefined)))
    socket.on("timeout", () => socket.destroy())
    socket.on("error", () => resume(Effect.succeed(undefined)))
    socket.on("close", () => resume(Effect.succeed(data.endsWith("\n") ? data.trim() : undefined)))
    return Effect.sync(() => socket.destroy())
  })

/** asks again and again until interrupted: each answer with its time */
const client = (port: number, answers: Array<{ readonly at: number; readonly line: string | undefined }>) =>
  Effect.forever(Effect.flatMap(ask(port), (line) => Effect.sync(() => answers.push({ at: performance.now(), line }))))

/** the longest time between two answers */
const longestGap = (answers: ReadonlyArray<{ readonly at: number; readonly line: string | undefined }>) => {
  const ok = answers.filter((a) => a.line !== undefined)
  let gap = 0
  for (let i = 1; i < ok.length; i++) gap = Math.max(gap, ok[i].at - ok[i - 1].at)
  return gap
}

const versionsOf = (answers: ReadonlyArray<{ readonly line: string | undefined }>) => [
  ...new Set(answers.flatMap((a) => a.line === undefined ? [] : [a.line.split(" ")[0]]))
]

/** the events of an entity taken so far */
const drained = (events: Queue.Dequeue<ConditionEvent>, entity: string) =>
  Effect.map(Queue.takeAll(events), (all) => [...all].filter((e) => e.entity === entity).map((e) => e._tag))

const startup = 1500

describe("graceful reload", () => {
  it.live(
    "the new process serves before the old one stops: no gap as long as a start-up (a restart has one), new command and env",
    () =>
      Effect.gen(function*() {
        const port = yield* freePort
        yield* Ham.attach(Entity.process("web", server(port, "v1", startup), { output: "ignore" }))
        yield* waitUntilEffect("v1 to serve", Effect.map(ask(port), (line) => line?.startsWith("v1 ") === true), 10_000)
        const before = yield* entityNode("web")
        const events = yield* Ham.subscribe

        // a reload to a new command: both versions answer, with no gap as long as its start-up
        const answers: Array<{ readonly at: number; readonly line: string | undefined }> = []
        const asking = yield* Effect.fork(client(port, answers))
        yield* Ham.reloadEntity("web", { command: server(port, "v2", startup) })
        const after = yield* entityNode("web")
        expect(after.pid).not.toBe(before.pid)
        yield* waitUntil("the old process to be gone", () => !isLive(before.pid!), 10_000)
        yield* waitUntil("v2 answering alone", () => answers.at(-1)?.line?.startsWith("v2 ") === true)
        const mark = answers.length
        yield* waitUntil("a few more answers", () => answers.length > mark + 20)
        yield* Fiber.interrupt(asking)
        expect(versionsOf(answers)).toEqual(["v1", "v2"])
        // the old server takes what is queued before it closes its listener; a connection that reaches
        // it in the microseconds between its last accept and the close is reset by the kernel (unless
        // net.ipv4.tcp_migrate_req=1): at most one, retried at once (the gap above covers it)
        expect(answers.filter((a) => a.line === undefined).length).toBeLessThanOrEqual(1)
        expect(longestGap(answers)).toBeLessThan(startup / 2)
        // neither a death nor a restart; the statistics are unchanged, the tree shows the new pid
        expect(yield* drained(events, "web")).toEqual([])
        expect([after.status, after.stats.deaths, after.stats.restarts]).toEqual(["running", 0, 0])
        expect(after.pid).toBe(Number(answers.at(-1)!.line!.split(" ")[1]))

        // a reload with a variable set: the same command, run with it (VERSION overrides argv)
        const envAnswers: Array<{ readonly at: number; readonly line: string | undefined }> = []
        const asking2 = yield* Effect.fork(client(port, envAnswers))
        yield* Ham.reloadEntity("web", { env: { VERSION: "v3" } })
        const v3 = yield* entityNode("web")
        yield* waitUntil("v3 answering", () => envAnswers.at(-1)?.line?.startsWith("v3 ") === true)
        yield* Fiber.interrupt(asking2)
        expect(versionsOf(envAnswers)).toEqual(["v2", "v3"])
        expect(longestGap(envAnswers)).toBeLessThan(startup / 2)

        // the contrast: a restart stops the old process first, and the start-up is a gap
        const restartAnswers: Array<{ readonly at: number; readonly line: string | undefined }> = []
        const asking3 = yield* Effect.fork(client(port, restartAnswers))
        yield* Ham.restartEntity("web")
        yield* waitUntil(
          "an answer after the restart",
          () =>
            restartAnswers.filter((a) => a.line !== undefined).length > 0 && longestGap(restartAnswers) > 0 &&
            restartAnswers.at(-1)?.line !== undefined &&
            restartAnswers.at(-1)!.line!.split(" ")[1] !== String(v3.pid),
          10_000
        )
        yield* Fiber.interrupt(asking3)
        expect(longestGap(restartAnswers)).toBeGreaterThanOrEqual(startup * 0.9)
        // the reloaded command line is the entity's: its restart runs v3's environment on v2's command
        expect(versionsOf(restartAnswers).at(-1)).toBe("v3")
      }).pipe(withHam()),
    60_000
  )

  it.live(
    "a new process that exits before READY=1, or is late, is gone; the old one runs on untouched",
    () =>
      Effect.gen(function*() {
        const port = yield* freePort
        yield* Ham.attach(Entity.process("web", server(port, "v1", 0), { output: "ignore" }))
        yield* waitUntilEffect("v1 to serve", Effect.map(ask(port), (line) => line?.startsWith("v1 ") === true), 10_000)
        const before = yield* entityNode("web")
        const events = yield* Ham.subscribe

        const exited = yield* failureOf(
          Ham.reloadEntity("web", { command: server(port, "v2", 50, "exit-before-ready") })
        )
        expect(exited._tag).toBe("ReloadFailed")
        expect(exited.message).toContain("exited before it said READY=1")

        const late = yield* failureOf(
          Ham.reloadEntity("web", { command: server(port, "v2", 0, "never-ready"), readyTimeout: "400 millis" })
        )
        expect(late._tag).toBe("ReloadFailed")
        expect(late.message).toContain("did not say READY=1 within 400 ms")
        // the late one was listening: it is gone, only v1 answers. Only this test's servers are
        // counted (its fixture on its port): other test files run Python children at the same time
        const pythons = () => liveProcesses(`${fixture} ${port} `).filter((pid) => pid !== before.pid)
        yield* waitUntil("no new process left", () => pythons().length === 0, 5000)
        for (let i = 0; i < 10; i++) expect((yield* ask(port))?.startsWith("v1 ")).toBe(true)

        const after = yield* entityNode("web")
        expect([after.pid, after.status, after.stats.deaths, after.stats.restarts]).toEqual([
          before.pid,
          "running",
          0,
          0
        ])
        expect(yield* drained(events, "web")).toEqual([])
        // the entity's command line is still its own: a restart runs v1
        yield* Ham.restartEntity("web")
        yield* waitUntilEffect("v1 again", Effect.map(ask(port), (line) => line?.startsWith("v1 ") === true), 10_000)
      }).pipe(withHam()),
    60_000
  )

  it.live("only a running process entity reloads; bad options are refused and change nothing", () =>
    Effect.gen(function*() {
      yield* Ham.attach(Entity.fiber("worker", Effect.never))
      yield* Ham.entity("placeholder")
      yield* Ham.attach(Entity.process("sleeper", Command.make("sleep", "30"), { output: "ignore" }))
      const before = yield* registry
      const refusals = [
        [Ham.reloadEntity("worker"), "InvalidArgument", "only a process entity"],
        [Ham.reloadEntity("placeholder"), "EntityNotRunning", "placeholder"],
        [Ham.reloadEntity("nobody"), "EntityNotFound", "nobody"],
        [Ham.reloadEntity("sleeper", { readyTimout: "1 second" } as never), "InvalidArgument", `"readyTimout"`],
        [Ham.reloadEntity("sleeper", { readyTimeout: -5 }), "InvalidArgument", "readyTimeout"],
        [Ham.reloadEntity("sleeper", { env: { A: 1 } } as never), "InvalidArgument", "env"]
      ] as const
      for (const [call, tag, word] of refusals) {
        const error = yield* failureOf(call)
        expect(error._tag).toBe(tag)
        expect(error.message).toContain(word)
      }
      expect(yield* registry).toEqual(before)
    }).pipe(withHam()))
})

describe("graceful reload: the ready timeout (TestClock)", () => {
  it.effect("the new process is ended exactly when its ready timeout runs out, not before", () =>
    Effect.gen(function*() {
      yield* Ham.attach(Entity.process("web", Command.make("sleep", "300"), { output: "ignore" }))
      const old = (yield* entityNode("web")).pid!
      // a new process that never says READY=1
      const reload = yield* Effect.fork(
        Ham.reloadEntity("web", { command: Command.make("sleep", "301.5"), readyTimeout: "10 seconds" })
      )
      // real time passes while the new process starts; the HAM's clock does not move. The HAM waits
      // for READY=1 once it has a sleep until now + 10 s on the test clock
      const now = yield* Clock.currentTimeMillis
      const waiting = Effect.map(TestClock.sleeps(), (sleeps) => Chunk.some(sleeps, (at) => at === now + 10_000))
      for (let tries = 0; !(yield* waiting); tries++) {
        if (tries > 1000) return yield* Effect.dieMessage("the HAM does not wait for READY=1")
        yield* TestServices.provideLive(Effect.sleep("10 millis"))
      }
      const fresh = liveWithCmdline("sleep 301.5")
      expect(fresh).toHaveLength(1)
      const pid = fresh[0]
      yield* TestClock.adjust("9999 millis")
      expect(yield* Fiber.poll(reload)).toEqual(Option.none())
      expect(isLive(pid)).toBe(true)
      yield* TestClock.adjust("1 millis")
      // the new process is ended now; its exit may wait a moment (on the HAM's clock) for its stderr
      for (let tries = 0; Option.isNone(yield* Fiber.poll(reload)); tries++) {
        if (tries > 1000) return yield* Effect.dieMessage("the reload did not end")
        yield* TestClock.adjust("5 millis")
        yield* TestServices.provideLive(Effect.sleep("10 millis"))
      }
      const failure = yield* failureOf(Fiber.join(reload))
      expect(failure._tag).toBe("ReloadFailed")
      expect(isLive(pid)).toBe(false)
      expect((yield* entityNode("web")).pid).toBe(old)
    }).pipe(withHam()))
})
