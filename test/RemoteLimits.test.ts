/**
 * The remote HAM's limits, with real sockets: a HAM served by another process keeps serving, with
 * bounded memory, through thousands of malformed and oversized frames and a thousand half-open
 * connections (scaled to run in about 20 seconds on a small machine); in this process, each limit
 * closes only the connection that breaks it: connections open at once, calls in flight, responses
 * left unread. A HAM served by another process is also used for real: a process entity attached
 * there is restarted after a SIGKILL, and the client sees it in the events it streams.
 */
import { Command } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option, Queue } from "effect"
import type { Scope } from "effect"
import { Entity, Ham } from "effect-ham"
import { CondDeath } from "effect-ham/Condition"
import * as HamClient from "effect-ham/HamClient"
import * as HamServer from "effect-ham/HamServer"
import * as cp from "node:child_process"
import * as net from "node:net"
import { fileURLToPath } from "node:url"
import { isLive, tempDir, waitUntil, waitUntilEffect } from "./processes.js"
import { is, takeUntil } from "./utils.js"

const root = fileURLToPath(new URL("..", import.meta.url))
const token = "limits-test-token-0123456789abcdef"

interface ServerInfo {
  readonly pid: number
  readonly tcp: { readonly host: string; readonly port: number }
  readonly unix: string
}

interface ServerReport {
  readonly stats: HamServer.Stats
  readonly rss: number
  readonly heapUsed: number
}

/**
 * A HAM served by a child process (`test/fixtures/ham-server.ts`, with `--expose-gc`) on TCP and on
 * a Unix socket in `dir`; `report` asks it for its connection counts and its memory after a GC.
 * The child ends when the scope closes (its stdin is closed; SIGKILL if it lingers).
 */
const childServer = (dir: string, limits: HamServer.Limits) =>
  Effect.gen(function*() {
    const options = { listen: { tcp: { port: 0 }, unix: `${dir}/ham.sock` }, auth: { token }, limits }
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        cp.spawn(
          process.execPath,
          [
            "--expose-gc",
            "--conditions=source",
            "--import",
            "tsx",
            "test/fixtures/ham-server.ts",
            JSON.stringify(options)
          ],
          { cwd: root, stdio: ["pipe", "pipe", "inherit"] }
        )
      ),
      (child) =>
        Effect.async<void>((resume) => {
          if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
          child.once("exit", () => resume(Effect.void))
          child.stdin.end()
        }).pipe(
          Effect.timeoutTo({
            duration: "5 seconds",
            onSuccess: () => Effect.void,
            onTimeout: () => Effect.sync(() => child.kill("SIGKILL"))
          }),
          Effect.flatten
        )
    )
    const lines = yield* Queue.unbounded<string>()
    let pending = ""
    child.stdout.on("data", (chunk: Buffer) => {
      pending += chunk.toString("utf8")
      let newline = pending.indexOf("\n")
      while (newline >= 0) {
        lines.unsafeOffer(pending.slice(0, newline))
        pending = pending.slice(newline + 1)
        newline = pending.indexOf("\n")
      }
    })
    const nextLine = Queue.take(lines).pipe(
      Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => "the served HAM did not answer" }),
      Effect.orDie
    )
    const info = JSON.parse(yield* nextLine) as ServerInfo
    const report = Effect.zipRight(
      Effect.sync(() => child.stdin.write("stats\n")),
      Effect.map(nextLine, (line) => JSON.parse(line) as ServerReport)
    )
    return { info, report }
  })

/**
 * opens a raw connection (destroyed with the scope), reading and dropping what it gets (pause it
 * to stop reading); `closed` tells whether the server closed it
 */
const raw = (options: net.NetConnectOpts) =>
  Effect.acquireRelease(
    Effect.async<{ readonly socket: net.Socket; readonly closed: () => boolean }>((resume) => {
      const socket = net.connect(options)
      let closed = false
      socket.on("close", () => (closed = true))
      socket.on("error", () => {})
      socket.resume()
      socket.once("connect", () => resume(Effect.succeed({ socket, closed: () => closed })))
    }),
    ({ socket }) => Effect.sync(() => socket.destroy())
  )

/** sends `bytes` on a new connection and waits until the server closes it (5 s at most) */
const sendAndAwaitClose = (options: net.NetConnectOpts, bytes: Uint8Array | string) =>
  Effect.async<boolean>((resume) => {
    const socket = net.connect(options)
    socket.on("error", () => {})
    socket.resume()
    socket.once("connect", () => socket.write(bytes))
    socket.once("close", () => resume(Effect.succeed(true)))
    return Effect.sync(() => socket.destroy())
  }).pipe(Effect.timeoutTo({ duration: "5 seconds", onSuccess: (x) => x, onTimeout: () => false }))

/** frames no client of ours sends: garbage, bad JSON, bad envelopes, and (every tenth) one over the limit */
const badFrame = (i: number, maxFrameBytes: number): Uint8Array | string => {
  switch (i % 10) {
    case 0:
      return `{"_tag":"Request","id":"1","tag":"Snapshot","payload":"${"x".repeat(maxFrameBytes)}`
    case 1:
      return Uint8Array.from([0xc1, 0xc1, 0xc1, i & 0xff])
    case 2:
      return "{not json at all\n"
    case 3:
      return `{"_tag":"Nope","n":${i}}\n`
    case 4:
      return `{"_tag":"Request","id":"x${i}","tag":"Snapshot","payload":{},"headers":[]}\n`
    case 5:
      return `{"_tag":"Request","id":"${i}","tag":"Snapshot","payload":{},"headers":{"a":"b"}}\n`
    case 6:
      return `[1,2,3]\n`
    case 7:
      return `{"_tag":"Ack","requestId":"${"9".repeat(40)}"}\n`
    case 8:
      return "null\n"
    default:
      // msgpack of { _tag: "Bad" }
      return Uint8Array.from([0x81, 0xa4, ...Buffer.from("_tag"), 0xa3, ...Buffer.from("Bad")])
  }
}

const MiB = 1024 * 1024

describe("Remote HAM limits (a server in another process)", () => {
  it.live(
    "thousands of malformed and oversized frames and a thousand half-open connections: it serves on, with bounded memory",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir("ham-limits-")
        const maxFrameBytes = 64 * 1024
        const { info, report } = yield* childServer(dir, {
          maxConnections: 1500,
          maxFrameBytes,
          authTimeout: "6 seconds"
        })
        const tcp = { host: "127.0.0.1", port: info.tcp.port }
        const client = yield* Layer.build(HamClient.layer({ tcp: { port: info.tcp.port }, auth: { token } }))
        const call = Effect.provide(Ham.snapshot, client)
        yield* call
        const baseline = yield* report

        // malformed and oversized frames, each on a connection of its own, 64 at a time
        const frames = 10_000
        const t0 = Date.now()
        const closedByServer = yield* Effect.forEach(
          Array.from({ length: frames }, (_, i) => i),
          (i) => sendAndAwaitClose(i % 2 === 0 ? tcp : { path: info.unix }, badFrame(i, maxFrameBytes)),
          { concurrency: 64 }
        )
        const floodMillis = Date.now() - t0
        expect(closedByServer.filter((closed) => !closed).length).toBe(0)
        yield* call
        const afterFlood = yield* report
        expect(afterFlood.stats.closed.malformed + afterFlood.stats.closed.oversized).toBe(frames)
        expect(afterFlood.stats.closed.oversized).toBe(frames / 10)

        // half-open connections: each sent part of a frame and waits; a quarter of them closed their side too
        const t1 = Date.now()
        const halfOpen = yield* Effect.forEach(
          Array.from({ length: 1000 }, (_, i) => i),
          (i) =>
            Effect.tap(raw(tcp), ({ socket }) =>
              Effect.sync(() => {
                socket.write(i % 3 === 0 ? Uint8Array.from([0x85, 0xa4]) : `{"_tag":"Request","id":"${i}","payload":"`)
                if (i % 4 === 0) socket.end()
              })),
          { concurrency: 50 }
        )
        // every one of them accepted by the server (a connect returns once the kernel has queued it)
        yield* waitUntilEffect(
          "the server to accept them",
          Effect.map(report, (r) => r.stats.accepted >= afterFlood.stats.accepted + 1000),
          5000
        )
        // the client is served while they are open (each call within a second)
        for (let i = 0; i < 20; i++) {
          yield* call.pipe(Effect.timeoutFail({ duration: "1 second", onTimeout: () => "a call took over a second" }))
        }
        const held = yield* report
        expect(held.stats.open).toBeGreaterThanOrEqual(751)
        // the server closes them at its authentication timeout
        yield* waitUntil("the half-open connections to be closed", () => halfOpen.every((c) => c.closed()), 15_000)
        const after = yield* report
        const halfOpenMillis = Date.now() - t1
        expect(after.stats.closed.unauthenticated).toBeGreaterThanOrEqual(750)
        expect(after.stats.open).toBe(1)
        yield* call

        const mib = (n: number) => (n / MiB).toFixed(1)
        console.log(
          `${frames} bad frames in ${floodMillis} ms; 1000 half-open connections held and reaped in ${halfOpenMillis} ms; ` +
            `server rss ${mib(baseline.rss)} -> ${mib(afterFlood.rss)} -> ${mib(held.rss)} (held) -> ${
              mib(after.rss)
            } MiB, ` +
            `heap ${mib(baseline.heapUsed)} -> ${mib(held.heapUsed)} (held) -> ${mib(after.heapUsed)} MiB`
        )
        // bounded: the flood leaves nothing behind, the held connections cost little each
        expect(afterFlood.heapUsed - baseline.heapUsed).toBeLessThan(16 * MiB)
        expect(held.heapUsed - baseline.heapUsed).toBeLessThan(64 * MiB)
        expect(after.heapUsed - baseline.heapUsed).toBeLessThan(16 * MiB)
        expect(held.rss - baseline.rss).toBeLessThan(200 * MiB)
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "a process entity attached on a HAM of another process is restarted after a SIGKILL; the client sees it",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir("ham-limits-")
        const { info } = yield* childServer(dir, {})
        yield* Effect.gen(function*() {
          const events = yield* Ham.subscribe
          const job = yield* Ham.attach(Entity.process("job", Command.make("sleep", "30")))
          yield* Ham.condition(job, CondDeath).pipe(Ham.restart)
          const first = (yield* Ham.snapshot).entities[0].pid!
          expect(isLive(first)).toBe(true)
          process.kill(first, "SIGKILL")
          const seen = yield* takeUntil(events, is("CondRestart", "job")).pipe(Effect.timeout("10 seconds"))
          expect(seen.map((e) => e._tag)).toEqual(["CondAttach", "CondAbnormalDeath", "CondDeath", "CondRestart"])
          const second = (yield* Ham.snapshot).entities[0].pid!
          expect(second).not.toBe(first)
          expect(isLive(second)).toBe(true)
          yield* Ham.detach(job)
          yield* waitUntil("the child to end", () => !isLive(second))
        }).pipe(Effect.provide(HamClient.layer({ unix: info.unix })))
      }).pipe(Effect.scoped),
    40_000
  )
})

describe("Remote HAM limits (in this process)", () => {
  const served = (dir: string, limits: HamServer.Limits) =>
    HamServer.layer({ listen: { unix: `${dir}/ham.sock` }, limits }).pipe(Layer.provideMerge(Ham.layer()))

  const withServer = <A, E>(
    limits: HamServer.Limits,
    body: (server: HamServer.HamServerService, path: string) => Effect.Effect<A, E, Ham.Ham | Scope.Scope>
  ) =>
    Effect.gen(function*() {
      const dir = yield* tempDir("ham-limits-")
      return yield* Effect.flatMap(HamServer.HamServer, (server) => body(server, Option.getOrThrow(server.unix))).pipe(
        Effect.provide(served(dir, limits))
      )
    }).pipe(Effect.scoped)

  const request = (id: number, tag: string, payload: unknown) =>
    `${JSON.stringify({ _tag: "Request", id: String(id), tag, payload, headers: [] })}\n`

  it.live("beyond maxConnections a connection is closed at once; the others are served", () =>
    withServer({ maxConnections: 5 }, (server, path) =>
      Effect.gen(function*() {
        const open = yield* Effect.forEach(Array.from({ length: 5 }), () => raw({ path }))
        yield* waitUntilEffect("5 connections open", Effect.map(server.stats, (s) => s.open === 5))
        const extra = yield* raw({ path })
        yield* waitUntil("the extra connection to be closed", extra.closed)
        expect(open.some((c) => c.closed())).toBe(false)
        expect((yield* server.stats).refused).toBe(1)
        for (const c of open) c.socket.destroy()
        yield* waitUntilEffect("the connections to close", Effect.map(server.stats, (s) => s.open === 0))
        expect(yield* Effect.provide(Ham.verbosity, HamClient.layer({ unix: path }))).toBe(1)
      })))

  it.live("one call more than maxInFlight closes its connection; the server serves the others", () =>
    withServer({ maxInFlight: 4 }, (server, path) =>
      Effect.gen(function*() {
        const greedy = yield* raw({ path })
        // event streams stay in flight
        for (let i = 1; i <= 5; i++) greedy.socket.write(request(i, "Events", { _tag: "Events" }))
        yield* waitUntil("the greedy connection to be closed", greedy.closed)
        expect((yield* server.stats).closed.inFlight).toBe(1)
        expect(yield* Effect.provide(Ham.verbosity, HamClient.layer({ unix: path }))).toBe(1)
      })))

  it.live(
    "a connection that does not read its responses is closed past maxPendingWriteBytes",
    () =>
      withServer({ maxPendingWriteBytes: 256 * 1024 }, (server, path) =>
        Effect.gen(function*() {
          // a large tree: each snapshot is tens of kilobytes
          for (let i = 0; i < 100; i++) {
            yield* Ham.entity(`entity-${i}-${"x".repeat(100)}`)
            yield* Ham.condition(`entity-${i}-${"x".repeat(100)}`, CondDeath).pipe(Ham.log("a log action"))
          }
          const reader = yield* raw({ path })
          reader.socket.pause()
          for (let i = 1; i <= 200; i++) reader.socket.write(request(i, "Snapshot", { _tag: "Snapshot" }))
          yield* waitUntilEffect(
            "the non-reading connection to be closed",
            Effect.map(server.stats, (s) => s.closed.backlog === 1 && s.open === 0),
            10_000
          )
          expect((yield* Effect.provide(Ham.snapshot, HamClient.layer({ unix: path }))).entities.length).toBe(100)
        })),
    20_000
  )
})
