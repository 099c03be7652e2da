/**
 * The notify server, with raw clients in this process: lines split across reads, malformed and
 * over-long lines, the one handler (at once, or an effect run in order per connection), the
 * socket file, scope close, back-pressure on a burst, defects in the handler, the connection caps
 * (per socket and shared) and the bounded rate of the warnings.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Option, Queue, Schedule, Supervisor, TestClock, TestServices } from "effect"
import type { Scope } from "effect"
import * as cp from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import * as protocol from "../src/internal/notify/protocol.js"
import * as notify from "../src/internal/notify/server.js"
import {
  capturing,
  type Client,
  collecting,
  freshSocketPath,
  openClient,
  raise,
  ready,
  state,
  status,
  takeN,
  unknown,
  waitReal,
  watchdog,
  writePieces
} from "./notify.js"

/** counts the runs of the fibers it supervises (each start, and each resumption after waiting) */
class ResumeCounter extends Supervisor.AbstractSupervisor<number> {
  count = 0
  readonly value = Effect.sync(() => this.count)
  override onResume() {
    this.count++
  }
}

/** a raw client connection, closed with the scope */
const connect = (socketPath: string): Effect.Effect<net.Socket, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<net.Socket, Error>((resume) => {
      const s = net.createConnection({ path: socketPath })
      s.once("connect", () => resume(Effect.succeed(s)))
      s.once("error", (e) => resume(Effect.fail(e)))
    }).pipe(Effect.orDie),
    (socket) => Effect.sync(() => socket.destroy())
  )

const write = (socket: net.Socket, data: string): Effect.Effect<void> =>
  Effect.async<void, Error>((resume) => {
    socket.write(data, (e) => resume(e ? Effect.fail(e) : Effect.void))
  }).pipe(Effect.orDie)

/** polls `done` until it holds, failing the test after 10 seconds */
const waitFor = (what: string, done: () => boolean): Effect.Effect<void> =>
  Effect.sync(done).pipe(
    Effect.repeat({ until: (ok) => ok, schedule: Schedule.spaced("5 millis") }),
    Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error(`no ${what} in 10 s`) }),
    Effect.asVoid,
    Effect.orDie
  )

describe("notify server", () => {
  it.live("splits lines across chunks; reports malformed, unknown and over-long lines and goes on", () =>
    Effect.gen(function*() {
      const { errors, messages, path: socketPath, server } = yield* collecting
      const accent = Buffer.from("STATUS=é\n")
      yield* writePieces(socketPath, [
        "REA",
        "DY=1\nWATCH",
        "DOG=1\nSTATE=",
        "12\r\nSTATE=oops\nFUTURE=1\n\n",
        accent.subarray(0, 8),
        accent.subarray(8),
        "x".repeat(3000),
        "y".repeat(3000) + "\nRAISE=1,2,3,after the long line\n",
        "STATUS=no newline at the end"
      ])
      const got = yield* takeN(messages, 7)
      expect(got).toEqual([
        ready,
        watchdog,
        state(12),
        unknown("FUTURE", "1"),
        status("é"),
        raise(1, 2, 3, "after the long line"),
        status("no newline at the end")
      ])
      const errs = yield* takeN(errors, 2)
      expect(errs[0]).toMatchObject({ line: "STATE=oops", reason: "STATE takes a non-negative integer" })
      expect(errs[1].reason).toBe("line longer than 4096 bytes (dropped)")
      expect(errs[1].line).toBe("x".repeat(200))
      const stats = yield* server.stats
      expect(stats).toEqual({
        connections: 1,
        open: 0,
        refused: 0,
        messages: 7,
        unknown: 1,
        parseErrors: 2,
        tooLong: 1
      })
    }).pipe(Effect.scoped))

  it.live("the handler is called in order: at once when the connection is idle, else when its turn comes", () =>
    Effect.gen(function*() {
      const socketPath = yield* freshSocketPath
      const order: Array<string> = []
      const slow = yield* Queue.unbounded<void>()
      const where = () => Option.isSome(Fiber.getCurrentFiber()) ? "in a fiber" : "in the socket's callback"
      yield* notify.serve(socketPath, (m) => {
        const line = protocol.formatMessage(m)
        order.push(`${line} ${where()}`)
        if (m._tag === "Watchdog") return undefined
        return Effect.sleep(m._tag === "State" && m.state === 3 ? "200 millis" : "20 millis").pipe(
          Effect.zipRight(Effect.sync(() => order.push(`effect of ${line}`))),
          Effect.zipRight(Queue.offer(slow, undefined))
        )
      })
      // a watchdog alone is handled at once; in one piece behind a state, it waits for the state's effect
      yield* writePieces(socketPath, ["WATCHDOG=1\n", "STATE=1\nWATCHDOG=1\nSTATE=2\n"])
      yield* takeN(slow, 2)
      // a watchdog read while the effect of an earlier line runs waits for it too
      yield* writePieces(socketPath, ["STATE=3\n", "WATCHDOG=1\n"])
      yield* takeN(slow, 1)
      yield* waitFor("the last watchdog", () => order.length === 9)
      expect(order).toEqual([
        "WATCHDOG=1 in the socket's callback",
        "STATE=1 in the socket's callback",
        "effect of STATE=1",
        "WATCHDOG=1 in a fiber",
        "STATE=2 in a fiber",
        "effect of STATE=2",
        "STATE=3 in the socket's callback",
        "effect of STATE=3",
        "WATCHDOG=1 in a fiber"
      ])
    }).pipe(Effect.scoped))

  it.live("effects run in order per connection; a message handled at once is followed by nothing", () =>
    Effect.gen(function*() {
      const socketPath = yield* freshSocketPath
      const log: Array<string> = []
      const finished = yield* Queue.unbounded<string>()
      const server = yield* notify.serve(socketPath, (m) => {
        if (m._tag !== "Unknown") return undefined
        const n = Number(m.value)
        log.push(`${m.key}${n} called`)
        if (n % 2 === 0) return undefined
        // later lines finish sooner: only the server's order keeps them in line
        return Effect.sleep(`${10 - n % 10} millis`).pipe(
          Effect.zipRight(Effect.sync(() => log.push(`${m.key}${n} done`))),
          Effect.zipRight(Queue.offer(finished, `${m.key}${n}`))
        )
      })
      const lines = (key: string) => Array.from({ length: 20 }, (_, n) => `${key}=${n}\n`)
      // two connections at once: A in one piece (its lines wait their turn), B line by line
      yield* Effect.all([writePieces(socketPath, [lines("A").join("")]), writePieces(socketPath, lines("B"))], {
        concurrency: "unbounded"
      })
      yield* takeN(finished, 20)
      const expected = (key: string) =>
        Array.from(
          { length: 20 },
          (_, n) => n % 2 === 0 ? [`${key}${n} called`] : [`${key}${n} called`, `${key}${n} done`]
        )
          .flat()
      expect(log.filter((entry) => entry.startsWith("A"))).toEqual(expected("A"))
      expect(log.filter((entry) => entry.startsWith("B"))).toEqual(expected("B"))
      expect(yield* server.stats).toMatchObject({ connections: 2, messages: 40, unknown: 40 })
    }).pipe(Effect.scoped))

  it.live("a message handled at once wakes no fiber", () =>
    Effect.gen(function*() {
      const socketPath = yield* freshSocketPath
      const resumes = new ResumeCounter()
      let beats = 0
      const states = yield* Queue.unbounded<number>()
      yield* notify.serve(socketPath, (m) => {
        if (m._tag === "Watchdog") beats++
        return m._tag === "State" ? Queue.offer(states, m.state) : undefined
      }).pipe(Effect.supervised(resumes))
      const socket = yield* connect(socketPath)
      yield* write(socket, "STATE=1\n")
      expect(yield* takeN(states, 1)).toEqual([1])
      // the connection's fiber ran the effect: it is counted, and is waiting again
      yield* Effect.sleep("20 millis")
      const before = resumes.count
      expect(before).toBeGreaterThan(0)
      for (let i = 0; i < 100; i++) yield* write(socket, "WATCHDOG=1\n")
      yield* waitFor("100 beats", () => beats === 100)
      yield* Effect.sleep("20 millis")
      expect(resumes.count).toBe(before)
      // a message with an effect wakes it
      yield* write(socket, "STATE=2\n")
      expect(yield* takeN(states, 1)).toEqual([2])
      expect(resumes.count).toBeGreaterThan(before)
    }).pipe(Effect.scoped))

  it.live("socket file: mode 0600 while serving, removed on scope close; stale files replaced", () =>
    Effect.gen(function*() {
      const dir = yield* notify.makeSocketDirectory("ham-test-")
      expect(fs.statSync(dir).mode & 0o777).toBe(0o700)
      const socketPath = path.join(dir, "n.sock")

      // a stale socket: bound by a process that exited without unlinking it
      cp.execFileSync("python3", [
        "-c",
        "import socket, sys; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(1)",
        socketPath
      ])
      expect(fs.lstatSync(socketPath).isSocket()).toBe(true)

      yield* Effect.gen(function*() {
        const messages = yield* Queue.unbounded<protocol.NotifyMessage>()
        yield* notify.serve(socketPath, (m) => Queue.offer(messages, m))
        expect(fs.lstatSync(socketPath).isSocket()).toBe(true)
        expect(fs.statSync(socketPath).mode & 0o777).toBe(0o600)
        // a second server on a live socket is refused, and leaves the first one working
        const busy = yield* Effect.flip(Effect.scoped(notify.serve(socketPath, () => Effect.void)))
        expect(busy).toMatchObject({ _tag: "NotifySocketError", reason: "a live server is listening on it" })
        yield* writePieces(socketPath, ["READY=1\n"])
        expect(yield* takeN(messages, 1)).toEqual([ready])
      }).pipe(Effect.scoped)
      expect(fs.existsSync(socketPath)).toBe(false)

      // a regular file is never removed
      fs.writeFileSync(socketPath, "data")
      const notSocket = yield* Effect.flip(Effect.scoped(notify.serve(socketPath, () => Effect.void)))
      expect(notSocket).toMatchObject({ _tag: "NotifySocketError", reason: "the path exists and is not a socket" })
      expect(fs.readFileSync(socketPath, "utf8")).toBe("data")

      // a path too long for a Unix socket
      const tooLong = yield* Effect.flip(
        Effect.scoped(notify.serve(path.join(dir, "s".repeat(120)), () => Effect.void))
      )
      expect(tooLong).toMatchObject({ _tag: "NotifySocketError" })
    }).pipe(Effect.scoped))

  it.live("scope close destroys open connections", () =>
    Effect.gen(function*() {
      const socketPath = yield* freshSocketPath
      const messages = yield* Queue.unbounded<protocol.NotifyMessage>()
      const closed = yield* Effect.gen(function*() {
        const server = yield* notify.serve(socketPath, (m) => Queue.offer(messages, m))
        const socket = net.createConnection({ path: socketPath })
        const closed = yield* Effect.async<Effect.Effect<void>>((resume) => {
          socket.once("connect", () => {
            socket.write("WATCHDOG=1\n")
            const done = Effect.async<void>((k) => {
              if (socket.closed) k(Effect.void)
              else socket.once("close", () => k(Effect.void))
            })
            resume(Effect.succeed(done))
          })
        })
        socket.on("error", () => {})
        expect(yield* takeN(messages, 1)).toEqual([watchdog])
        expect((yield* server.stats).open).toBe(1)
        return closed
      }).pipe(Effect.scoped)
      // the server closed the client's connection, and removed its file
      yield* closed.pipe(
        Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new Error("not closed") }),
        Effect.orDie
      )
      expect(fs.existsSync(socketPath)).toBe(false)
    }).pipe(Effect.scoped))

  it.live("a burst larger than the read buffer arrives whole and in order (reading pauses and resumes)", () =>
    Effect.gen(function*() {
      const socketPath = yield* freshSocketPath
      const seen: Array<number> = []
      const server = yield* notify.serve(socketPath, (m) =>
        m._tag === "State"
          ? Effect.sync(() => seen.push(m.state)).pipe(Effect.zipRight(Effect.yieldNow()))
          : Effect.void)
      const n = 20_000
      const burst = Array.from({ length: n }, (_, i) => `STATE=${i}\n`).join("")
      yield* writePieces(socketPath, [burst])
      yield* Effect.suspend(() => Effect.succeed(seen.length)).pipe(
        Effect.repeat({ until: (count) => count >= n, schedule: Schedule.spaced("10 millis") }),
        Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error(`only ${seen.length} of ${n}`) }),
        Effect.orDie
      )
      expect(seen).toEqual(Array.from({ length: n }, (_, i) => i))
      expect(yield* server.stats).toMatchObject({ connections: 1, messages: n })
    }).pipe(Effect.scoped))

  it.live("a defect in the handler is logged and the connection goes on", () =>
    Effect.gen(function*() {
      const socketPath = yield* freshSocketPath
      const messages = yield* Queue.unbounded<protocol.NotifyMessage>()
      yield* notify.serve(
        socketPath,
        (m) => m._tag === "State" && m.state === 1 ? Effect.die("boom") : Queue.offer(messages, m)
      )
      yield* writePieces(socketPath, ["STATE=1\nSTATE=2\n"])
      expect(yield* takeN(messages, 1)).toEqual([state(2)])
    }).pipe(Effect.scoped))

  it.live("a handler that throws is logged and the connection goes on", () =>
    Effect.gen(function*() {
      const socketPath = yield* freshSocketPath
      const messages = yield* Queue.unbounded<protocol.NotifyMessage>()
      yield* notify.serve(socketPath, (m) => {
        if (m._tag === "State" && m.state % 2 === 1) throw new Error("boom")
        return Queue.offer(messages, m)
      })
      // STATE=1 is handled in the socket's callback, STATE=3 in the fiber (behind STATE=2's effect)
      yield* writePieces(socketPath, ["STATE=1\n", "STATE=2\nSTATE=3\nSTATE=4\n"])
      expect(yield* takeN(messages, 2)).toEqual([state(2), state(4)])
    }).pipe(Effect.scoped))
})

describe("notify server: caps and log rate", () => {
  it.live("at most 8 connections per socket: the others are closed at once and never read", () =>
    Effect.gen(function*() {
      const { messages, path: socketPath, server } = yield* collecting
      const clients: Array<Client> = []
      for (let i = 0; i < 20; i++) clients.push(yield* openClient(socketPath, `STATE=${i}\n`))
      yield* waitReal("12 closed connections", () => clients.filter((c) => c.closed()).length === 12)
      // the 8 that stay are the first ones; nothing of the others was handled
      yield* Effect.sleep("100 millis")
      expect(clients.map((c) => c.closed())).toEqual([...Array(8).fill(false), ...Array(12).fill(true)])
      const states = (yield* takeN(messages, 8)).map((m) => m._tag === "State" ? m.state : -1)
      expect(states.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7])
      expect(yield* Queue.size(messages)).toBe(0)
      expect(yield* server.stats).toMatchObject({ connections: 8, open: 8, refused: 12, messages: 8 })
      // a connection that ends makes room for a new one
      clients[0].socket.end()
      yield* waitReal("room", () => clients[0].closed() && Effect.runSync(server.stats).open === 7)
      yield* Effect.gen(function*() {
        const next = yield* openClient(socketPath, "STATE=100\n")
        expect(yield* takeN(messages, 1)).toEqual([state(100)])
        expect(next.closed()).toBe(false)
      }).pipe(Effect.scoped)
    }).pipe(Effect.scoped))

  it.live("a budget shared by several servers caps the connections open on all of them", () => {
    const { layer, logs } = capturing()
    return Effect.gen(function*() {
      const budget = notify.makeConnectionBudget(10)
      const servers = yield* Effect.forEach(["a", "b"], () =>
        Effect.gen(function*() {
          const socketPath = yield* freshSocketPath
          const server = yield* notify.serve(socketPath, () => undefined, { budget })
          return { path: socketPath, server }
        }))
      const [a, b] = servers
      const onA: Array<Client> = []
      for (let i = 0; i < 8; i++) onA.push(yield* openClient(a.path))
      const onB: Array<Client> = []
      for (let i = 0; i < 8; i++) onB.push(yield* openClient(b.path))
      yield* waitReal("6 refused on b", () => onB.filter((c) => c.closed()).length === 6)
      yield* Effect.sleep("50 millis")
      expect(onA.filter((c) => c.closed())).toHaveLength(0)
      expect(budget.open).toBe(10)
      expect(yield* b.server.stats).toMatchObject({ open: 2, refused: 6 })
      // four of a's connections end: four more fit on b, not five
      for (const c of onA.slice(0, 4)) c.socket.end()
      yield* waitReal("a's connections to end", () => budget.open === 6)
      const more: Array<Client> = []
      for (let i = 0; i < 5; i++) more.push(yield* openClient(b.path))
      yield* waitReal("one refused", () => more.filter((c) => c.closed()).length === 1)
      yield* Effect.sleep("50 millis")
      expect(more.map((c) => c.closed())).toEqual([false, false, false, false, true])
      expect(budget.open).toBe(10)
      // b refused 7: the first 5 are logged, the others wait for the summary at the end of the 10 s
      expect(logs.filter((l) => l.level === "WARN").map((l) => l.message)).toEqual(
        Array(5).fill(
          "notify: a connection was refused: 10 are open on the HAM's notify sockets (the most they take in all)"
        )
      )
    }).pipe(Effect.scoped, Effect.provide(layer))
  })

  it.scoped("malformed lines are logged at a bounded rate: 5, then one summary per 10 s (TestClock)", () => {
    const { layer, logs } = capturing()
    const warnings = () => logs.filter((l) => l.level === "WARN" && l.message.startsWith("notify"))
    return Effect.gen(function*() {
      const socketPath = yield* freshSocketPath
      const server = yield* notify.serve(socketPath, () => undefined)
      // 1,000 bad lines on one connection, then one on each of 20 connections one after the other
      const bad = Array.from({ length: 1000 }, (_, i) => `STATE=x${i}\n`).join("")
      yield* TestServices.provideLive(writePieces(socketPath, [bad]))
      for (let i = 0; i < 20; i++) yield* TestServices.provideLive(writePieces(socketPath, ["\u001b[2J\n"]))
      yield* waitReal("1,020 parse errors", () => (server.stats.pipe(Effect.runSync)).parseErrors === 1020)
      expect(warnings().map((l) => l.message)).toEqual(
        Array.from({ length: 5 }, (_, i) => `notify: STATE takes a non-negative integer: "STATE=x${i}"`)
      )
      // the summary comes at the end of the interval
      yield* TestClock.adjust("9 seconds")
      yield* waitReal("nothing", () => true)
      expect(warnings()).toHaveLength(5)
      yield* TestClock.adjust("1 second")
      yield* waitReal("the summary", () => warnings().length === 6)
      expect(warnings()[5].message).toBe("notify: not logged in the last 10 s: 1015 malformed lines")
      // a new interval: the next bad line is logged again, escaped
      yield* TestServices.provideLive(writePieces(socketPath, ["READY=\u009b1\n"]))
      yield* waitReal("the next warning", () => warnings().length === 7)
      expect(warnings()[6].message).toBe(`notify: READY takes the value 1: "READY=\\u009b1"`)
      expect(logs.filter((l) => l.message.startsWith("notify"))).toHaveLength(7)
    }).pipe(Effect.provide(layer))
  })

  it.scoped("refused connections are logged at the same bounded rate", () => {
    const { layer, logs } = capturing()
    const warnings = () => logs.filter((l) => l.level === "WARN" && l.message.startsWith("notify"))
    return Effect.gen(function*() {
      const socketPath = yield* freshSocketPath
      const server = yield* notify.serve(socketPath, () => undefined)
      const clients: Array<Client> = []
      for (let i = 0; i < 40; i++) clients.push(yield* openClient(socketPath))
      yield* waitReal("32 refused", () => (server.stats.pipe(Effect.runSync)).refused === 32)
      expect(warnings().map((l) => l.message)).toEqual(
        Array(5).fill("notify: a connection was refused: 8 are open on this socket (the most it takes)")
      )
      yield* TestClock.adjust("10 seconds")
      yield* waitReal("the summary", () => warnings().length === 6)
      expect(warnings()[5].message).toBe("notify: not logged in the last 10 s: 27 refused connections")
    }).pipe(Effect.provide(layer))
  })
})
