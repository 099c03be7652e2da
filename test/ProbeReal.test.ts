/**
 * Probes and resource limits against real things: an HTTP server, a TCP port, commands run to
 * their end (and killed at their timeout), a child process that grows past its memory limit and
 * is restarted. Every wait is bounded; leftover processes are looked for in /proc.
 */
import { Command } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Queue } from "effect"
import { Action, Entity, Ham } from "effect-ham"
import {
  CondBeatMissedHigh,
  CondBeatMissedLow,
  CondDeath,
  CondRaise,
  CondRestart,
  RaiseClassMemoryLimit,
  RaiseTypeHam
} from "effect-ham/Condition"
import * as Http from "node:http"
import * as NodeNet from "node:net"
import { join } from "node:path"
import {
  awaitEvents,
  isLive,
  liveProcesses,
  liveWithCmdline,
  pidOf,
  tempDir,
  waitUntil,
  waitUntilEffect
} from "./processes.js"
import { entityNode, is, withHam } from "./utils.js"

/** an HTTP server on a free port answering every request with `status.code`, closed with the scope */
const httpServer = Effect.acquireRelease(
  Effect.async<{ readonly server: Http.Server; readonly port: number; readonly status: { code: number } }>(
    (resume) => {
      const status = { code: 200 }
      const server = Http.createServer((_req, res) => {
        res.statusCode = status.code
        res.end("ok")
      })
      server.listen(0, "127.0.0.1", () => {
        const address = server.address() as NodeNet.AddressInfo
        resume(Effect.succeed({ server, port: address.port, status }))
      })
    }
  ),
  ({ server }) =>
    Effect.async<void>((resume) => {
      server.closeAllConnections()
      server.close(() => resume(Effect.void))
    })
)

/** a TCP server on a free port; `close` stops listening */
const tcpServer = Effect.acquireRelease(
  Effect.async<{ readonly server: NodeNet.Server; readonly port: number }>((resume) => {
    const server = NodeNet.createServer((socket) => socket.destroy())
    server.listen(0, "127.0.0.1", () => {
      resume(Effect.succeed({ server, port: (server.address() as NodeNet.AddressInfo).port }))
    })
  }),
  ({ server }) =>
    Effect.sync(() => {
      if (server.listening) server.close()
    })
)

const probeOf = (name: string) =>
  Effect.flatMap(
    entityNode(name),
    (node) => node.probe === undefined ? Effect.dieMessage(`no probe on ${name}`) : Effect.succeed(node.probe)
  )

describe("Probes against real servers and commands", () => {
  it.live("HTTP GET: 2xx and 3xx pass, a 503 fails until CondBeatMissedHigh, a pass resets the count", () =>
    withHam(Effect.gen(function*() {
      const { port, status } = yield* httpServer
      const events = yield* Ham.subscribe
      yield* Ham.attach(Entity.fiber("web", Effect.never), {
        probe: { http: `http://127.0.0.1:${port}/health`, interval: "100 millis", timeout: "100 millis", missedHigh: 2 }
      })
      // passes (a probe may time out on a loaded machine: passes are counted, not the absence of failures)
      yield* waitUntilEffect("three passing probes", Effect.map(probeOf("web"), (p) => p.probes - p.failures >= 3))
      status.code = 503
      const seen = yield* awaitEvents(events, is(CondBeatMissedHigh, "web"))
      expect(seen.map((e) => e._tag).filter((t) => t !== "CondAttach")).toEqual([CondBeatMissedLow, CondBeatMissedHigh])
      status.code = 302
      yield* waitUntilEffect("a pass after the failures", Effect.map(probeOf("web"), (p) => p.lastPassed === true))
      expect((yield* probeOf("web")).missed).toBe(0)
    })))

  it.live("HTTP GET: a server that does not answer within the timeout fails", () =>
    withHam(Effect.gen(function*() {
      // accepts connections and never answers
      const { port } = yield* Effect.acquireRelease(
        Effect.async<{ readonly server: NodeNet.Server; readonly port: number }>((resume) => {
          const server = NodeNet.createServer(() => {})
          server.listen(0, "127.0.0.1", () =>
            resume(Effect.succeed({ server, port: (server.address() as NodeNet.AddressInfo).port })))
        }),
        ({ server }) =>
          Effect.sync(() => {
            server.close()
          })
      )
      const events = yield* Ham.subscribe
      yield* Ham.attach(Entity.fiber("mute", Effect.never), {
        probe: { http: `http://127.0.0.1:${port}/`, interval: "60 millis", timeout: "30 millis", missedLow: 2 }
      })
      const seen = yield* awaitEvents(events, is(CondBeatMissedLow, "mute"))
      expect(seen.at(-1)).toMatchObject({ _tag: CondBeatMissedLow, missed: 2 })
    })))

  it.live("TCP connect: an open port passes; once nobody listens, the probe fails", () =>
    withHam(Effect.gen(function*() {
      const { port, server } = yield* tcpServer
      const events = yield* Ham.subscribe
      yield* Ham.attach(Entity.fiber("db", Effect.never), {
        probe: { tcp: { port }, interval: "100 millis", timeout: "100 millis", missedLow: 0, missedHigh: 2 }
      })
      yield* waitUntilEffect("two passing probes", Effect.map(probeOf("db"), (p) => p.probes - p.failures >= 2))
      yield* Effect.async<void>((resume) => {
        server.close(() => resume(Effect.void))
      })
      const seen = yield* awaitEvents(events, is(CondBeatMissedHigh, "db"))
      expect(seen.at(-1)).toMatchObject({ _tag: CondBeatMissedHigh, entity: "db", missed: 2 })
    })))

  it.live("exec: exit code 0 passes, another code fails", () =>
    withHam(Effect.gen(function*() {
      const events = yield* Ham.subscribe
      yield* Ham.attach(Entity.fiber("ok", Effect.never), {
        probe: { exec: ["sh", "-c", "exit 0"], interval: "200 millis", timeout: "200 millis" }
      })
      yield* Ham.attach(Entity.fiber("bad", Effect.never), {
        probe: { exec: ["sh", "-c", "exit 3"], interval: "200 millis", timeout: "200 millis" }
      })
      yield* awaitEvents(events, is(CondBeatMissedLow, "bad"))
      yield* waitUntilEffect("two passing probes", Effect.map(probeOf("ok"), (p) => p.probes - p.failures >= 2))
    })))

  it.live("exec: a command out of time fails and is killed with its process group (no orphan)", () =>
    withHam(Effect.gen(function*() {
      const events = yield* Ham.subscribe
      // the shell's child sleeps too: the whole group goes
      const marker = "sleep 7.4321"
      yield* Ham.attach(Entity.fiber("slow", Effect.never), {
        probe: { exec: ["sh", "-c", `${marker}; true`], interval: "200 millis", timeout: "100 millis" }
      })
      yield* waitUntil("the probe's command runs", () => liveProcesses(marker).length > 0)
      yield* awaitEvents(events, is(CondBeatMissedLow, "slow"))
      yield* waitUntil("no probe command left", () => liveWithCmdline(marker).length === 0, 1_000)
      yield* Ham.detach("slow")
      yield* waitUntil("no probe command left after the detach", () => liveProcesses(marker).length === 0, 1_000)
    })))
})

describe("Start-up grace and READY=1", () => {
  it.live("a child that says READY=1 ends its start-up grace: its failures count at once", () =>
    withHam(Effect.gen(function*() {
      const events = yield* Ham.subscribe
      // says READY=1 on its notify socket, and keeps the connection open
      const script =
        `const s = require("node:net").connect(process.env.HAM_NOTIFY_SOCKET, () => s.write("READY=1\\n")); ` +
        `setInterval(() => {}, 1000)`
      const probe = { exec: ["false"], interval: "100 millis", timeout: "90 millis", startupGrace: "1 minute" } as const
      yield* Ham.attach(
        Entity.process("ready", Command.make(process.execPath, "-e", script), { output: "ignore" }),
        { probe }
      )
      // the same failing probe on a child that never says it: within its grace, nothing counts
      yield* Ham.attach(
        Entity.process("silent", Command.make(process.execPath, "-e", "setInterval(() => {}, 1000)"), {
          output: "ignore"
        }),
        { probe }
      )
      const seen = yield* awaitEvents(events, is(CondBeatMissedLow, "ready"), 5_000)
      yield* waitUntilEffect(
        "three failed probes of the silent one",
        Effect.map(probeOf("silent"), (p) => p.failures >= 3)
      )
      const later = yield* Queue.takeAll(events)
      expect([...seen, ...later].some(is(CondBeatMissedLow, "silent"))).toBe(false)
      expect((yield* probeOf("silent")).missed).toBe(0)
    })))
})

describe("Resource limits of a real process", () => {
  it.live(
    "a child growing past its memory limit raises RaiseClassMemoryLimit; a signal ends it and it is restarted",
    () =>
      withHam(Effect.gen(function*() {
        const marker = "ham-memory-grower"
        const dir = yield* tempDir("ham-limits-")
        const grown = join(dir, "grown")
        // its first life takes 8 MiB more (touched, so resident) every 20 ms; the next ones stay small
        const script = `process.title = "${marker}"; const fs = require("node:fs"); const keep = []; ` +
          `if (!fs.existsSync(${JSON.stringify(grown)})) { fs.writeFileSync(${JSON.stringify(grown)}, ""); ` +
          `setInterval(() => keep.push(Buffer.alloc(8 * 1024 * 1024, 1)), 20) } else setInterval(() => {}, 1000)`
        const events = yield* Ham.subscribe
        const grower = yield* Ham.attach(
          Entity.process("grower", Command.make(process.execPath, "-e", script), { output: "ignore" }),
          { limits: { memory: 150 * 1024 * 1024, samples: 2, interval: "50 millis" }, backoff: false }
        )
        yield* Ham.conditionRaise(grower, { type: RaiseTypeHam, class: RaiseClassMemoryLimit }).pipe(
          Ham.action(Action.signal("SIGKILL"))
        )
        yield* Ham.condition(grower, CondDeath).pipe(Ham.restart)
        const first = yield* pidOf("grower")
        const seen = yield* awaitEvents(events, is(CondRestart, "grower"), 10_000)
        const raise = seen.find(is(CondRaise, "grower"))
        expect(raise).toMatchObject({ type: RaiseTypeHam, class: RaiseClassMemoryLimit })
        expect(raise?._tag === "CondRaise" ? raise.detail : "").toMatch(/^RSS \d+\.\d MiB over the limit of 150\.0 MiB/)
        yield* waitUntil("the first life is gone", () => !isLive(first), 2_000)
        const second = yield* pidOf("grower")
        expect(second).not.toBe(first)
        // the tree shows the new life's use (its CPU from the second sample on)
        yield* waitUntilEffect(
          "the CPU and RSS of the new life in the tree",
          Effect.map(entityNode("grower"), (node) => node.cpu !== undefined && node.rss !== undefined)
        )
        const node = yield* entityNode("grower")
        expect(node.cpu).toBeGreaterThanOrEqual(0)
        expect(node.rss).toBeGreaterThan(1024 * 1024)
        expect(node.rss).toBeLessThan(150 * 1024 * 1024)
        expect(node.stats.restarts).toBe(1)
        yield* Ham.detach("grower")
        yield* waitUntil("no grower left", () => liveProcesses(marker).length === 0, 6_000)
      })),
    20_000
  )
})
