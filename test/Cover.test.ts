import { describe, expect, it } from "@effect/vitest"
import { Chunk, Deferred, Effect, Either, Fiber, Schedule, type Scope, Stream, TestClock } from "effect"
import { Cover, Ham } from "effect-ham"
import { closeSync, fstatSync, openSync, readFileSync, writeFileSync } from "node:fs"
import * as NodeNet from "node:net"
import { join } from "node:path"
import { errnoError } from "../src/internal/cover.js"
import { freePort, inTempDir } from "./processes.js"
import { settle } from "./utils.js"

/** a fake connection: it fails with ECONNRESET once broken; the world counts opens and closes */
interface Conn {
  readonly id: number
  broken: boolean
}

interface World {
  readonly opened: Array<number>
  readonly closed: Array<number>
  readonly live: () => Array<number>
  readonly open: Effect.Effect<Conn, never, Scope.Scope>
  readonly request: (conn: Conn, text: string) => Effect.Effect<string, Error>
}

const makeWorld = (): World => {
  let next = 0
  const opened: Array<number> = []
  const closed: Array<number> = []
  return {
    opened,
    closed,
    live: () => opened.filter((id) => !closed.includes(id)),
    open: Effect.acquireRelease(
      Effect.sync((): Conn => {
        const conn = { id: ++next, broken: false }
        opened.push(conn.id)
        return conn
      }),
      (conn) => Effect.sync(() => closed.push(conn.id))
    ),
    request: (conn, text) =>
      conn.broken ? Effect.fail(errnoError("ECONNRESET")) : Effect.succeed(`${text} via ${conn.id}`)
  }
}

describe("Cover.make", () => {
  it.scoped("a recoverable failure: the resource is recovered and the operation runs again", () =>
    Effect.gen(function*() {
      const world = makeWorld()
      const cover = yield* Cover.make({ acquire: world.open })
      expect(yield* cover.use((c) => world.request(c, "a"))).toBe("a via 1")
      ;(yield* cover.get).broken = true
      expect(yield* cover.use((c) => world.request(c, "b"))).toBe("b via 2")
      expect(yield* cover.stats).toEqual({ recoveries: 1, failedRecoveries: 0, retries: 1, generation: 1 })
      // the broken resource was released, the new one is the only one open
      expect(world.live()).toEqual([2])
    }))

  it.scoped("an unrecoverable failure passes through untouched, with no recovery", () =>
    Effect.gen(function*() {
      const world = makeWorld()
      const cover = yield* Cover.make({ acquire: world.open })
      const denied = errnoError("EACCES")
      const result = yield* Effect.either(cover.use(() => Effect.fail(denied)))
      expect(result).toEqual(Either.left(denied))
      expect(Either.isLeft(result) && result.left).toBe(denied)
      expect((yield* cover.stats).recoveries).toBe(0)
      expect(world.opened).toEqual([1])
    }))

  it.scoped("isRecoverable decides which failures are recovered", () =>
    Effect.gen(function*() {
      const world = makeWorld()
      const cover = yield* Cover.make({ acquire: world.open, isRecoverable: (e) => e === "stale" })
      let calls = 0
      const op = Effect.suspend(() => (++calls === 1 ? Effect.fail("stale" as const) : Effect.succeed("ok")))
      expect(yield* cover.use(() => op)).toBe("ok")
      expect(yield* Effect.flip(cover.use(() => Effect.fail(errnoError("ECONNRESET"))))).toMatchObject({
        code: "ECONNRESET"
      })
      expect((yield* cover.stats).recoveries).toBe(1)
    }))

  it.effect("recovery exhaustion: RecoveryFailed after the schedule's attempts; the cover recovers later", () =>
    Effect.gen(function*() {
      const world = makeWorld()
      let serverUp = false
      const attempts: Array<number> = []
      const cover = yield* Cover.make({
        acquire: world.open,
        recover: () =>
          Effect.flatMap(TestClock.currentTimeMillis, (now) => {
            attempts.push(now)
            return serverUp ? world.open : Effect.fail(errnoError("ECONNREFUSED"))
          }),
        schedule: Schedule.spaced("100 millis").pipe(Schedule.intersect(Schedule.recurs(2)))
      })
      ;(yield* cover.get).broken = true
      const fiber = yield* Effect.fork(Effect.either(cover.use((c) => world.request(c, "x"))))
      yield* settle
      yield* TestClock.adjust("250 millis")
      const result = yield* Fiber.join(fiber)
      expect(attempts).toEqual([0, 100, 200])
      if (Either.isRight(result)) return expect.fail("recovered")
      expect(result.left).toMatchObject({ _tag: "RecoveryFailed", attempts: 3 })
      const failed = result.left as Cover.RecoveryFailed
      expect(failed.failure).toMatchObject({ code: "ECONNRESET" })
      expect(failed.cause).toMatchObject({ code: "ECONNREFUSED" })
      expect(yield* cover.stats).toMatchObject({ recoveries: 0, failedRecoveries: 1, generation: 0 })
      // the server is back: the next operation recovers
      serverUp = true
      expect(yield* cover.use((c) => world.request(c, "y"))).toBe("y via 2")
      expect(world.live()).toEqual([2])
    }).pipe(Effect.scoped))

  it.scoped("twenty fibers failing on one broken resource: one recovery, all of them succeed on the new one", () =>
    Effect.gen(function*() {
      const world = makeWorld()
      let recoveries = 0
      const gate = yield* Deferred.make<void>()
      const cover = yield* Cover.make({
        acquire: world.open,
        recover: () =>
          Effect.zipRight(
            Effect.sync(() => recoveries++),
            Effect.zipRight(Deferred.await(gate), world.open)
          )
      })
      ;(yield* cover.get).broken = true
      const fibers = yield* Effect.forEach(
        Array.from({ length: 20 }, (_, i) => i),
        (i) => Effect.fork(cover.use((c) => world.request(c, `r${i}`)))
      )
      yield* settle
      yield* Deferred.succeed(gate, undefined)
      const replies = yield* Effect.forEach(fibers, Fiber.join)
      expect(replies).toEqual(Array.from({ length: 20 }, (_, i) => `r${i} via 2`))
      expect(recoveries).toBe(1)
      expect(yield* cover.stats).toMatchObject({ recoveries: 1, retries: 20, generation: 1 })
      expect(world.live()).toEqual([2])
    }))

  it.scoped("a caller interrupted during the recovery: nothing leaks, the recovery completes, the cover works", () =>
    Effect.gen(function*() {
      const world = makeWorld()
      const gate = yield* Deferred.make<void>()
      const cover = yield* Cover.make({
        acquire: world.open,
        recover: () => Effect.zipRight(Deferred.await(gate), world.open)
      })
      ;(yield* cover.get).broken = true
      const caller = yield* Effect.fork(cover.use((c) => world.request(c, "lost")))
      yield* settle
      yield* Fiber.interrupt(caller)
      yield* Deferred.succeed(gate, undefined)
      yield* settle
      expect(yield* cover.use((c) => world.request(c, "next"))).toBe("next via 2")
      expect(world.live()).toEqual([2])
      expect((yield* cover.stats).recoveries).toBe(1)
    }))

  it.scoped("a recovery that fails after opening something: what it opened is released", () =>
    Effect.gen(function*() {
      const world = makeWorld()
      const cover = yield* Cover.make({
        acquire: world.open,
        // opens a connection, then fails: what it opened must not stay open
        recover: () => Effect.zipRight(world.open, Effect.fail(errnoError("ECONNREFUSED"))),
        schedule: Schedule.recurs(1)
      })
      ;(yield* cover.get).broken = true
      const result = yield* Effect.either(cover.use((c) => world.request(c, "x")))
      expect(Either.isLeft(result) && result.left).toBeInstanceOf(Cover.RecoveryFailed)
      expect(world.opened).toEqual([1, 2, 3])
      expect(world.live()).toEqual([1])
    }))

  it.scoped("the recovery function can be replaced while the cover lives", () =>
    Effect.gen(function*() {
      const world = makeWorld()
      const used: Array<string> = []
      const cover = yield* Cover.make({
        acquire: world.open,
        recover: () => Effect.zipRight(Effect.sync(() => used.push("first")), world.open)
      })
      ;(yield* cover.get).broken = true
      yield* cover.use((c) => world.request(c, "a"))
      yield* cover.setRecover((old) =>
        Effect.zipRight(Effect.sync(() => used.push(`second after ${old.id}`)), world.open)
      )
      ;(yield* cover.get).broken = true
      yield* cover.use((c) => world.request(c, "b"))
      expect(used).toEqual(["first", "second after 2"])
    }))

  it.scoped("recoveries are a stream of events", () =>
    Effect.gen(function*() {
      const world = makeWorld()
      const cover = yield* Cover.make({ acquire: world.open })
      const seen = yield* Effect.fork(Stream.runCollect(Stream.take(cover.recoveries, 2)))
      yield* settle
      for (const text of ["a", "b"]) {
        ;(yield* cover.get).broken = true
        yield* cover.use((c) => world.request(c, text))
      }
      const events = Chunk.toReadonlyArray(yield* Fiber.join(seen))
      expect(events.map((e) => [e._tag, e.generation])).toEqual([["Recovered", 1], ["Recovered", 2]])
      expect(events[0].failure).toContain("ECONNRESET")
    }))

  it.effect("closing: the resource is released and later operations fail with CoverClosed", () =>
    Effect.gen(function*() {
      const world = makeWorld()
      const cover = yield* Cover.make({ acquire: world.open })
      yield* cover.close
      expect(world.live()).toEqual([])
      expect(yield* Effect.flip(cover.use((c) => world.request(c, "x")))).toBeInstanceOf(Cover.CoverClosed)
    }).pipe(Effect.scoped))

  it.effect("the scope of the cover ends it: every resource it made is released", () =>
    Effect.gen(function*() {
      const world = makeWorld()
      yield* Effect.gen(function*() {
        const cover = yield* Cover.make({ acquire: world.open })
        ;(yield* cover.get).broken = true
        yield* cover.use((c) => world.request(c, "x"))
      }).pipe(Effect.scoped)
      expect(world.opened).toEqual([1, 2])
      expect(world.live()).toEqual([])
    }))

  describe("Cover.control", () => {
    it.scoped("suspend: a failure passes through untouched, no recovery; resume: recovered again", () =>
      Effect.gen(function*() {
        const world = makeWorld()
        const cover = yield* Cover.make({ acquire: world.open })
        expect(yield* Cover.control(cover, "suspend")).toMatchObject({ suspended: true, recoveries: 0 })
        ;(yield* cover.get).broken = true
        expect(yield* Effect.flip(cover.use((c) => world.request(c, "a")))).toMatchObject({ code: "ECONNRESET" })
        expect(world.opened).toEqual([1])
        expect(yield* cover.pipe(Cover.control("resume"))).toMatchObject({ suspended: false })
        expect(yield* cover.use((c) => world.request(c, "b"))).toBe("b via 2")
        expect(yield* Cover.control(cover, "get")).toEqual({
          suspended: false,
          recoveries: 1,
          maxRecoveries: "unlimited",
          attempts: 0,
          maxAttempts: "unlimited"
        })
      }))

    it.scoped("maxRecoveries: past the limit failures pass through; resetRecoveries allows more", () =>
      Effect.gen(function*() {
        const world = makeWorld()
        const cover = yield* Cover.make({ acquire: world.open })
        yield* Cover.control(cover, { maxRecoveries: 1 })
        ;(yield* cover.get).broken = true
        expect(yield* cover.use((c) => world.request(c, "a"))).toBe("a via 2")
        ;(yield* cover.get).broken = true
        expect(yield* Effect.flip(cover.use((c) => world.request(c, "b")))).toMatchObject({ code: "ECONNRESET" })
        expect(yield* Cover.control(cover, "get")).toMatchObject({ recoveries: 1, maxRecoveries: 1 })
        expect(yield* Cover.control(cover, "resetRecoveries")).toMatchObject({ recoveries: 0 })
        expect(yield* cover.use((c) => world.request(c, "c"))).toBe("c via 3")
        yield* Cover.control(cover, { maxRecoveries: "unlimited" })
        ;(yield* cover.get).broken = true
        expect(yield* cover.use((c) => world.request(c, "d"))).toBe("d via 4")
        expect(yield* cover.stats).toMatchObject({ recoveries: 3, generation: 3 })
      }))

    it.scoped("maxAttempts caps the tries of one failure; once used up, failures pass through until resetAttempts", () =>
      Effect.gen(function*() {
        const world = makeWorld()
        let serverUp = false
        let tries = 0
        const cover = yield* Cover.make({
          acquire: world.open,
          recover: () =>
            Effect.suspend(() => {
              tries++
              return serverUp ? world.open : Effect.fail(errnoError("ECONNREFUSED"))
            }),
          // the schedule alone would try 11 times
          schedule: Schedule.recurs(10)
        })
        yield* Cover.control(cover, { maxAttempts: 2 })
        ;(yield* cover.get).broken = true
        expect(yield* Effect.flip(cover.use((c) => world.request(c, "a")))).toMatchObject({
          _tag: "RecoveryFailed",
          attempts: 2
        })
        expect(tries).toBe(2)
        // used up: the next failure passes through, the recovery function is not called
        expect(yield* Effect.flip(cover.use((c) => world.request(c, "b")))).toMatchObject({ code: "ECONNRESET" })
        expect(tries).toBe(2)
        expect(yield* Cover.control(cover, "get")).toMatchObject({ attempts: 2, maxAttempts: 2, recoveries: 1 })
        serverUp = true
        expect(yield* Cover.control(cover, "resetAttempts")).toMatchObject({ attempts: 0 })
        expect(yield* cover.use((c) => world.request(c, "c"))).toBe("c via 2")
        // a successful recovery resets the attempts
        expect(yield* Cover.control(cover, "get")).toMatchObject({ attempts: 0, recoveries: 2 })
      }))

    it.scoped("setRecover replaces the recovery function of a cover", () =>
      Effect.gen(function*() {
        const world = makeWorld()
        const used: Array<string> = []
        const cover = yield* Cover.make({ acquire: world.open })
        yield* Cover.control(cover, {
          setRecover: (old: Conn) => Effect.zipRight(Effect.sync(() => used.push(`after ${old.id}`)), world.open)
        })
        ;(yield* cover.get).broken = true
        expect(yield* cover.use((c) => world.request(c, "a"))).toBe("a via 2")
        expect(used).toEqual(["after 1"])
      }))

    it.scoped("bad input: InvalidArgument, the state unchanged; a closed cover: CoverClosed", () =>
      Effect.gen(function*() {
        const world = makeWorld()
        const cover = yield* Cover.make({ acquire: world.open })
        const before = yield* Cover.control(cover, "get")
        const bad: ReadonlyArray<[unknown, string]> = [
          ["pause", "must be one of"],
          [{ maxAttempts: -1 }, "maxAttempts"],
          [{ maxRecoveries: 1.5 }, "maxRecoveries"],
          [{ maxAttempts: 1, suspended: true }, "suspended is not allowed"],
          [{ setRecover: "reconnect" }, "setRecover"],
          [undefined, ""]
        ]
        for (const [op, reason] of bad) {
          const error = yield* Effect.flip(Cover.control(cover, op as Cover.ControlOp<never>))
          expect(error).toBeInstanceOf(Ham.InvalidArgument)
          expect(error).toMatchObject({ argument: "Cover.control op" })
          expect(error.message).toContain(reason)
        }
        expect(yield* Cover.control(cover, "get")).toEqual(before)
        const notCovered = yield* Effect.flip(Cover.control({} as Cover.Controllable<never>, "suspend"))
        expect(notCovered).toMatchObject({ _tag: "InvalidArgument", argument: "Cover.control target" })
        yield* cover.close
        expect(yield* Effect.flip(Cover.control(cover, "suspend"))).toBeInstanceOf(Cover.CoverClosed)
      }))

    it.live("a covered file and a covered connection take the same control", () =>
      inTempDir("ham-cover-", (dir) =>
        Effect.gen(function*() {
          const path = join(dir, "data.txt")
          writeFileSync(path, "0123456789")
          const file = yield* Cover.open(path)
          expect(Buffer.from(yield* file.read(3)).toString()).toBe("012")
          yield* Cover.control(file, "suspend")
          closeSync(yield* file.fd)
          expect(yield* Effect.flip(file.read(3))).toMatchObject({ code: "EBADF" })
          const reopened: Array<number> = []
          yield* Cover.control(file, {
            setRecover: (state: Cover.FileState) =>
              Effect.sync(() => {
                reopened.push(state.offset)
                return openSync(state.path, "r")
              })
          })
          yield* Cover.control(file, "resume")
          expect(Buffer.from(yield* file.read(3)).toString()).toBe("345")
          expect(reopened).toEqual([3])
          expect(yield* Cover.control(file, "get")).toMatchObject({ recoveries: 1, suspended: false })
          yield* file.close
          expect(yield* Effect.flip(Cover.control(file, "get"))).toBeInstanceOf(Cover.CoverClosed)
          const port = yield* freePort
          const server = NodeNet.createServer((socket) => socket.on("data", () => socket.write("OK\n")))
          yield* Effect.async<void>((resume) => {
            server.listen(port, "127.0.0.1", () => resume(Effect.void))
          })
          yield* Effect.addFinalizer(() => Effect.sync(() => server.close()))
          const conn = yield* Cover.connect({ port })
          expect(yield* Cover.control(conn, { maxRecoveries: 0 })).toMatchObject({ maxRecoveries: 0 })
        }).pipe(Effect.scoped)))
  })

  describe("Cover.connect", () => {
    /** a line server in this process: "PING" answers "PONG <n>", n counting per connection */
    const lineServer = (port: number) =>
      Effect.acquireRelease(
        Effect.async<NodeNet.Server>((resume) => {
          const sockets = new Set<NodeNet.Socket>()
          const server = NodeNet.createServer((socket) => {
            sockets.add(socket)
            socket.on("close", () => sockets.delete(socket))
            socket.on("error", () => {})
            let n = 0
            let pending = ""
            socket.setEncoding("utf8")
            socket.on("data", (chunk: string) => {
              pending += chunk
              while (pending.includes("\n")) {
                const line = pending.slice(0, pending.indexOf("\n"))
                pending = pending.slice(pending.indexOf("\n") + 1)
                if (line.startsWith("NOTE")) continue
                socket.write(line === "HELLO" ? "WELCOME\n" : `PONG ${++n}\n`)
              }
            })
          })
          ;(server as NodeNet.Server & { kill: () => void }).kill = () => {
            for (const socket of sockets) socket.destroy()
            server.close()
          }
          server.listen(port, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) => Effect.sync(() => (server as NodeNet.Server & { kill: () => void }).kill())
      )
    const kill = (server: NodeNet.Server) => (server as NodeNet.Server & { kill: () => void }).kill()

    it.live("a request after the server restarted: a new connection, the session replayed, the request sent again", () =>
      Effect.gen(function*() {
        const port = yield* freePort
        const first = yield* lineServer(port)
        const replays: Array<string> = []
        const conn = yield* Cover.connect({
          port,
          replay: (c) => Effect.tap(c.request("HELLO"), (reply) => Effect.sync(() => replays.push(reply)))
        })
        expect(yield* conn.request("PING")).toBe("PONG 1")
        // send expects no answer: the next request gets its own
        yield* conn.send("NOTE one")
        expect(yield* conn.request("PING")).toBe("PONG 2")
        kill(first)
        // the server comes back a little later: connecting is refused until then
        const revived = yield* Effect.fork(Effect.zipRight(Effect.sleep("150 millis"), lineServer(port)))
        expect(yield* conn.request("PING")).toBe("PONG 1")
        const second = yield* Fiber.join(revived)
        expect(replays).toEqual(["WELCOME"])
        expect(yield* conn.stats).toMatchObject({ recoveries: 1, retries: 1 })
        // a send on a connection whose server went away is sent again on a new one
        kill(second)
        yield* Effect.sleep("20 millis")
        const third = yield* Effect.fork(Effect.zipRight(Effect.sleep("100 millis"), lineServer(port)))
        yield* conn.send("NOTE two")
        yield* Fiber.join(third)
        expect(yield* conn.request("PING")).toBe("PONG 1")
        expect(replays).toEqual(["WELCOME", "WELCOME"])
        expect((yield* conn.stats).recoveries).toBe(2)
      }).pipe(Effect.scoped))

    it.live("no server at all: the first connection fails with ECONNREFUSED", () =>
      Effect.gen(function*() {
        const port = yield* freePort
        const error = yield* Effect.flip(Cover.connect({ port }))
        expect(error).toMatchObject({ code: "ECONNREFUSED" })
      }).pipe(Effect.scoped))
  })

  describe("Cover.open (files)", () => {
    const text = "The quick brown fox jumps over the lazy dog."
    const decode = (bytes: Uint8Array) => Buffer.from(bytes).toString("utf8")
    const fdIsOpen = (fd: number) => {
      try {
        fstatSync(fd)
        return true
      } catch {
        return false
      }
    }

    it.live("its descriptor closed behind its back: EBADF, recovered, the read goes on from the same offset", () =>
      inTempDir("ham-cover-", (dir) =>
        Effect.gen(function*() {
          const path = join(dir, "data.txt")
          writeFileSync(path, text)
          const states: Array<Cover.FileState> = []
          const file = yield* Cover.open(path, "r", (state) =>
            Effect.sync(() => {
              states.push(state)
              return openSync(state.path, state.flags)
            }))
          expect(decode(yield* file.read(15))).toBe("The quick brown")
          const first = yield* file.fd
          closeSync(first)
          expect(decode(yield* file.read(15))).toBe(" fox jumps over")
          expect(states).toEqual([{ fd: first, path, flags: "r", offset: 15 }])
          expect(yield* file.stats).toMatchObject({ recoveries: 1, generation: 1 })
          // another recovery function from now on (the handle keeps its offset)
          yield* file.setRecover((state) => Effect.sync(() => openSync(state.path, "r")))
          closeSync(yield* file.fd)
          expect(decode(yield* file.read(5))).toBe(" the ")
          expect(states).toHaveLength(1)
          yield* Cover.close(file)
        }).pipe(Effect.scoped)))

    it.live("write, seek (start, current, end) and read back", () =>
      inTempDir("ham-cover-", (dir) =>
        Effect.gen(function*() {
          const path = join(dir, "out.txt")
          const file = yield* Cover.open(path, "w+")
          expect(yield* file.write("hello, world")).toBe(12)
          expect(yield* file.seek(0)).toBe(0)
          expect(decode(yield* file.read(5))).toBe("hello")
          expect(yield* file.seek(2, "current")).toBe(7)
          expect(decode(yield* file.read(5))).toBe("world")
          expect(yield* file.seek(-5, "end")).toBe(7)
          // a bad descriptor while writing: recovered, the write lands at the same offset
          closeSync(yield* file.fd)
          expect(yield* file.write("there")).toBe(5)
          expect(readFileSync(path, "utf8")).toBe("hello, there")
        }).pipe(Effect.scoped)))

    it.live("dup shares the offset and the recovery; the descriptor closes with the last handle", () =>
      inTempDir("ham-cover-", (dir) =>
        Effect.gen(function*() {
          const path = join(dir, "data.txt")
          writeFileSync(path, text)
          const file = yield* Cover.open(path)
          const twin = yield* Cover.dup(file)
          expect(decode(yield* file.read(4))).toBe("The ")
          expect(decode(yield* twin.read(6))).toBe("quick ")
          closeSync(yield* file.fd)
          expect(decode(yield* twin.read(6))).toBe("brown ")
          expect((yield* file.stats).recoveries).toBe(1)
          const fd = yield* file.fd
          yield* Cover.close(file)
          expect(yield* Effect.flip(file.read(1))).toBeInstanceOf(Cover.CoverClosed)
          expect(fdIsOpen(fd)).toBe(true)
          expect(decode(yield* twin.read(3))).toBe("fox")
          yield* Cover.close(twin)
          expect(fdIsOpen(fd)).toBe(false)
        }).pipe(Effect.scoped)))

    it.live("reopen at another path keeps the offset; a failure that is not recoverable passes through", () =>
      inTempDir("ham-cover-", (dir) =>
        Effect.gen(function*() {
          const a = join(dir, "a.txt")
          const b = join(dir, "b.txt")
          writeFileSync(a, "aaaaaaaaaa")
          writeFileSync(b, "0123456789")
          const file = yield* Cover.open(a)
          expect(decode(yield* file.read(4))).toBe("aaaa")
          yield* Cover.reopen(file, b)
          expect(decode(yield* file.read(3))).toBe("456")
          const error = yield* Effect.flip(Cover.open(join(dir, "missing.txt")))
          expect(error).toMatchObject({ code: "ENOENT" })
          const notAFile = yield* Cover.open(dir)
          expect(yield* Effect.flip(notAFile.read(1))).toMatchObject({ code: "EISDIR" })
          expect((yield* notAFile.stats).recoveries).toBe(0)
        }).pipe(Effect.scoped)))
  })
})
