/**
 * The drop-in covers: platform services whose resources recover (`Cover.layerFileSystem`,
 * `Cover.layerHttpClient`), tried with real files and real processes.
 */
import { Command, FileSystem, HttpClient, HttpClientRequest, Socket } from "@effect/platform"
import { NodeFileSystem, NodeHttpClient, NodeSocket } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Fiber, Layer, Option, pipe, Ref, Schedule } from "effect"
import { Cover, Entity, Ham, HamLive } from "effect-ham"
import { CondDeath } from "effect-ham/Condition"
import { closeSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs"
import * as NodeHttp from "node:http"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { freePort, inTempDir } from "./processes.js"

const text = "The quick brown fox jumps over the lazy dog."
const decode = (bytes: Uint8Array) => Buffer.from(bytes).toString("utf8")

/** the covered FileSystem over Node's */
const covered = (options?: Cover.FileSystemOptions) =>
  Cover.layerFileSystem(options).pipe(Layer.provide(NodeFileSystem.layer))

/** reads `n` bytes (fewer at the end of the file) */
const read = (file: FileSystem.File, n: number) =>
  Effect.map(file.readAlloc(n), (chunk) => Option.match(chunk, { onNone: () => "", onSome: decode }))

/** reads to the end */
const readRest = (file: FileSystem.File) =>
  Effect.gen(function*() {
    let all = ""
    for (;;) {
      const chunk = yield* read(file, 8)
      if (chunk === "") return all
      all += chunk
    }
  })

/** replaces `path` by a rename over it, as an editor or a log rotation does */
const renameOver = (path: string, content: string) => {
  writeFileSync(`${path}.new`, content)
  renameSync(`${path}.new`, path)
}

/** a server script (its port its one argument) on a free port, run by the HAM as `name` and restarted when it dies */
const servedByHam = (name: string, script: URL) =>
  Effect.gen(function*() {
    const port = yield* freePort
    const entity = yield* Ham.attach(
      Entity.process(name, Command.make(process.execPath, fileURLToPath(script), String(port)), { output: "ignore" })
    )
    yield* Ham.condition(entity, CondDeath).pipe(Ham.restart)
    return port
  })
describe("Cover.layerFileSystem", () => {
  it.live("a file renamed over under its open handle: at the end of the old one, reads go on in the new one at the same offset", () =>
    inTempDir("ham-cover-fs-", (dir) =>
      Effect.gen(function*() {
        const path = join(dir, "data.txt")
        writeFileSync(path, text)
        const fs = yield* FileSystem.FileSystem
        const file = yield* fs.open(path)
        expect(yield* read(file, 15)).toBe("The quick brown")
        const first = file.fd
        renameOver(path, text.toUpperCase() + " AND MORE")
        // what the handle had open is read to its end (it is still there), then the new file from byte 44
        expect(yield* readRest(file)).toBe(" fox jumps over the lazy dog. AND MORE")
        expect(file.fd).not.toBe(first)
        expect(yield* Cover.control(file, "get")).toMatchObject({ recoveries: 1 })
      }).pipe(Effect.scoped, Effect.provide(covered()))))

  it.live("checkPath always: the next read after the rename is the new file's, at the same offset", () =>
    inTempDir("ham-cover-fs-", (dir) =>
      Effect.gen(function*() {
        const path = join(dir, "data.txt")
        writeFileSync(path, text)
        const fs = yield* FileSystem.FileSystem
        const file = yield* fs.open(path)
        expect(yield* read(file, 15)).toBe("The quick brown")
        renameOver(path, text.toUpperCase())
        expect(yield* read(file, 15)).toBe(" FOX JUMPS OVER")
        // removed and created again
        unlinkSync(path)
        writeFileSync(path, "0123456789012345678901234567890123456789")
        expect(yield* read(file, 5)).toBe("01234")
        expect(yield* Cover.control(file, "get")).toMatchObject({ recoveries: 2 })
      }).pipe(Effect.scoped, Effect.provide(covered({ checkPath: "always" })))))

  it.live("removed and created again, read at the end: the new file from the same offset", () =>
    inTempDir("ham-cover-fs-", (dir) =>
      Effect.gen(function*() {
        const path = join(dir, "log.txt")
        writeFileSync(path, "line 1\n")
        const fs = yield* FileSystem.FileSystem
        const file = yield* fs.open(path)
        expect(yield* readRest(file)).toBe("line 1\n")
        unlinkSync(path)
        writeFileSync(path, "line 1\nline 2\n")
        expect(yield* readRest(file)).toBe("line 2\n")
      }).pipe(Effect.scoped, Effect.provide(covered()))))

  it.live("removed for good: the recovery gives up, a SystemError NotFound whose cause is RecoveryFailed", () =>
    inTempDir("ham-cover-fs-", (dir) =>
      Effect.gen(function*() {
        const path = join(dir, "gone.txt")
        writeFileSync(path, "abc")
        const fs = yield* FileSystem.FileSystem
        const file = yield* fs.open(path)
        expect(yield* read(file, 3)).toBe("abc")
        unlinkSync(path)
        const error = yield* Effect.flip(file.readAlloc(3))
        expect(error).toMatchObject({ _tag: "SystemError", reason: "NotFound", method: "readAlloc" })
        expect(error.cause).toBeInstanceOf(Cover.RecoveryFailed)
        expect(error.cause).toMatchObject({ attempts: 3 })
        // the path is back: the next read recovers
        writeFileSync(path, "abcdef")
        expect(yield* read(file, 3)).toBe("def")
      }).pipe(Effect.scoped, Effect.provide(covered({ schedule: Schedule.recurs(2) })))))

  it.live("a descriptor closed behind its back (EBADF): reopened, the offset restored, the old number never closed again", () =>
    inTempDir("ham-cover-fs-", (dir) =>
      Effect.gen(function*() {
        const path = join(dir, "data.txt")
        writeFileSync(path, text)
        const fs = yield* FileSystem.FileSystem
        const file = yield* fs.open(path)
        expect(yield* read(file, 4)).toBe("The ")
        closeSync(file.fd)
        expect(yield* read(file, 6)).toBe("quick ")
        // the new descriptor often has the old number: closing the broken file must not close it
        expect(yield* read(file, 6)).toBe("brown ")
        expect(yield* Cover.control(file, "get")).toMatchObject({ recoveries: 1 })
        // seek, then a failure: the offset is the seeked one
        yield* file.seek(4, "start")
        closeSync(file.fd)
        expect(yield* read(file, 5)).toBe("quick")
      }).pipe(Effect.scoped, Effect.provide(covered()))))

  it.live("writes: a file opened with w recovers without being truncated, and writes on at its offset", () =>
    inTempDir("ham-cover-fs-", (dir) =>
      Effect.gen(function*() {
        const path = join(dir, "out.txt")
        const fs = yield* FileSystem.FileSystem
        yield* Effect.scoped(Effect.gen(function*() {
          const file = yield* fs.open(path, { flag: "w" })
          yield* file.writeAll(new TextEncoder().encode("hello, "))
          closeSync(file.fd)
          yield* file.writeAll(new TextEncoder().encode("world"))
        }))
        expect(readFileSync(path, "utf8")).toBe("hello, world")
        // a failure that is not recoverable passes through, with no recovery
        const directory = yield* fs.open(dir)
        expect(yield* Effect.flip(directory.readAlloc(1))).toMatchObject({ _tag: "SystemError", syscall: "read" })
        expect(yield* Cover.control(directory, "get")).toMatchObject({ recoveries: 0 })
        // the other methods pass through
        expect(yield* fs.readFileString(path)).toBe("hello, world")
        expect(yield* fs.exists(join(dir, "nothing"))).toBe(false)
      }).pipe(Effect.scoped, Effect.provide(covered()))))

  it.live("Cover.control: suspended, a failure passes through as the platform's error; resumed, recovered", () =>
    inTempDir("ham-cover-fs-", (dir) =>
      Effect.gen(function*() {
        const path = join(dir, "data.txt")
        writeFileSync(path, text)
        const fs = yield* FileSystem.FileSystem
        const file = yield* fs.open(path)
        yield* Cover.control(file, "suspend")
        closeSync(file.fd)
        expect(yield* Effect.flip(read(file, 3))).toMatchObject({ _tag: "SystemError", syscall: "read" })
        const offsets: Array<bigint> = []
        yield* pipe(file, Cover.control("resume"))
        yield* Cover.control(file, {
          setRecover: (state: Cover.FileSystemFileState) =>
            Effect.zipRight(Effect.sync(() => offsets.push(state.offset)), fs.open(state.path))
        })
        expect(yield* read(file, 3)).toBe("The")
        expect(offsets).toEqual([BigInt(0)])
      }).pipe(Effect.scoped, Effect.provide(covered()))))

  it.live("bad options fail the layer with InvalidArgument", () =>
    Effect.gen(function*() {
      const bad: ReadonlyArray<[unknown, string]> = [
        [{ retry: 3 }, "retry is not allowed"],
        [{ retries: -1 }, "retries"],
        [{ checkPath: "sometimes" }, "checkPath"],
        [{ schedule: "10 millis" }, "schedule"],
        [{ isRecoverable: true }, "isRecoverable"],
        ["fast", ""]
      ]
      for (const [options, reason] of bad) {
        const error = yield* Effect.flip(Effect.scoped(Layer.build(covered(options as Cover.FileSystemOptions))))
        expect(error).toMatchObject({ _tag: "InvalidArgument", argument: "Cover.layerFileSystem options" })
        expect(error.message).toContain(reason)
      }
    }))
})

describe("Cover.layerHttpClient", () => {
  const coveredHttp = (options?: Cover.HttpClientOptions) =>
    Cover.layerHttpClient(options).pipe(Layer.provide(NodeHttpClient.layer))

  /** an HTTP server in this process: `handle` answers, or destroys the socket to fail the request */
  const serve = (
    port: number,
    handle: (request: NodeHttp.IncomingMessage, response: NodeHttp.ServerResponse) => void
  ) =>
    Effect.acquireRelease(
      Effect.async<NodeHttp.Server>((resume) => {
        const server = NodeHttp.createServer(handle)
        server.listen(port, "127.0.0.1", () => resume(Effect.succeed(server)))
      }),
      (server) =>
        Effect.async<void>((resume) => {
          server.closeAllConnections()
          server.close(() => resume(Effect.void))
        })
    )

  const text = (request: HttpClientRequest.HttpClientRequest) =>
    Effect.flatMap(HttpClient.execute(request), (response) => response.text)

  it.live(
    "an HTTP server SIGKILLed twice and restarted by the HAM: no request of four loops through the covered client fails",
    () =>
      Effect.gen(function*() {
        const port = yield* servedByHam("web", new URL("../examples/http-server.mjs", import.meta.url))
        const url = `http://127.0.0.1:${port}/`
        const client = yield* HttpClient.HttpClient
        // the first request waits for the server (refused until it listens: never sent, so sent again)
        expect(yield* text(HttpClientRequest.get(url))).toMatch(/^pong \d+ 1$/)
        const answers = yield* Ref.make<Array<string>>([])
        const failures = yield* Ref.make<Array<unknown>>([])
        let running = true
        const loop = Effect.gen(function*() {
          while (running) {
            const result = yield* Effect.either(text(HttpClientRequest.get(url)))
            if (result._tag === "Right") yield* Ref.update(answers, (all) => [...all, result.right])
            else yield* Ref.update(failures, (all) => [...all, result.left])
          }
        })
        const loops = yield* Effect.forkAll([loop, loop, loop, loop])
        const pidOf = Effect.map(
          Ham.snapshot,
          (tree) => tree.entities.find((entity) => entity.name === "web")?.pid
        )
        const answeredBy = (pid: number) =>
          Effect.map(Ref.get(answers), (all) => all.filter((a) => a.startsWith(`pong ${pid} `)).length)
        for (let kill = 0; kill < 2; kill++) {
          const pid = (yield* pidOf)!
          // some requests on this life, then the kill, while the loops run
          yield* answeredBy(pid).pipe(Effect.repeat({ schedule: Schedule.spaced("5 millis"), until: (n) => n >= 20 }))
          process.kill(pid, "SIGKILL")
          // the next life answers
          yield* pidOf.pipe(
            Effect.flatMap((next) => next !== undefined && next !== pid ? answeredBy(next) : Effect.succeed(0)),
            Effect.repeat({ schedule: Schedule.spaced("10 millis"), until: (n) => n >= 20 }),
            Effect.timeoutFail({ duration: "15 seconds", onTimeout: () => new Error("no answer from the next life") })
          )
        }
        running = false
        yield* Fiber.join(loops)
        expect(yield* Ref.get(failures)).toEqual([])
        const pids = new Set((yield* Ref.get(answers)).map((a) => a.split(" ")[1]))
        expect(pids.size).toBe(3)
        expect((yield* Ham.snapshot).entities.find((e) => e.name === "web")?.stats.restarts).toBe(2)
        // requests failed and were sent again: recoveries counted by the control
        expect((yield* Cover.control(client, "get")).recoveries).toBeGreaterThan(0)
      }).pipe(Effect.scoped, Effect.provide(coveredHttp()), Effect.provide(HamLive)),
    30_000
  )

  it.live("a connection reset after the request was sent: GET sent again, PUT and POST not (unless methods allows them)", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      let served = 0
      // every other request: the socket is destroyed before an answer
      yield* serve(port, (request, response) => {
        if (served++ % 2 === 0) request.socket.destroy()
        else response.end(`${request.method} ok`)
      })
      const url = `http://127.0.0.1:${port}/`
      const run = <A, E>(effect: Effect.Effect<A, E, HttpClient.HttpClient>, options?: Cover.HttpClientOptions) =>
        Effect.provide(effect, coveredHttp(options))
      expect(yield* run(text(HttpClientRequest.get(url)))).toBe("GET ok")
      // by default the safe methods only: a PUT is not sent again, unless asked
      served = 0
      expect(yield* Effect.flip(run(text(HttpClientRequest.put(url))))).toMatchObject({ reason: "Transport" })
      served = 0
      expect(yield* run(text(HttpClientRequest.put(url)), { methods: "idempotent" })).toBe("PUT ok")
      served = 0
      const post = yield* Effect.flip(run(text(HttpClientRequest.post(url))))
      expect(post).toMatchObject({ _tag: "RequestError", reason: "Transport" })
      expect((post as { cause?: unknown }).cause).not.toBeInstanceOf(Cover.RecoveryFailed)
      served = 0
      expect(yield* run(text(HttpClientRequest.post(url)), { methods: "all" })).toBe("POST ok")
      served = 0
      expect(yield* Effect.flip(run(text(HttpClientRequest.put(url)), { methods: "safe" }))).toMatchObject({
        reason: "Transport"
      })
      served = 0
      expect(yield* run(text(HttpClientRequest.post(url)), { methods: ["POST"] })).toBe("POST ok")
    }).pipe(Effect.scoped))

  it.live("a POST to a server not yet listening (refused: never sent) is sent again once it listens", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const later = yield* Effect.fork(
        Effect.zipRight(Effect.sleep("150 millis"), serve(port, (_, response) => response.end("created")))
      )
      expect(yield* text(HttpClientRequest.post(`http://127.0.0.1:${port}/`))).toBe("created")
      yield* Fiber.join(later)
    }).pipe(Effect.scoped, Effect.provide(coveredHttp())))

  it.live("no server for good: the schedule gives up, a Transport RequestError whose cause is RecoveryFailed", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const error = yield* Effect.flip(text(HttpClientRequest.get(`http://127.0.0.1:${port}/`)))
      expect(error).toMatchObject({ _tag: "RequestError", reason: "Transport" })
      expect((error as { cause?: unknown }).cause).toBeInstanceOf(Cover.RecoveryFailed)
      expect((error as { cause?: unknown }).cause).toMatchObject({ attempts: 3 })
      const client = yield* HttpClient.HttpClient
      expect(yield* Cover.control(client, "get")).toMatchObject({ recoveries: 1, attempts: 3 })
      // suspended: the failure passes through at once, nothing sent again
      yield* Cover.control(client, "suspend")
      const plain = yield* Effect.flip(text(HttpClientRequest.get(`http://127.0.0.1:${port}/`)))
      expect((plain as { cause?: unknown }).cause).not.toBeInstanceOf(Cover.RecoveryFailed)
      expect(yield* Cover.control(client, "get")).toMatchObject({ recoveries: 1, attempts: 3 })
    }).pipe(Effect.provide(coveredHttp({ schedule: Schedule.recurs(3) }))))

  it.live("recover runs before each new sending; bad options fail the layer with InvalidArgument", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const seen: Array<string> = []
      const later = yield* Effect.fork(
        Effect.zipRight(Effect.sleep("100 millis"), serve(port, (_, response) => response.end("up")))
      )
      const answer = yield* text(HttpClientRequest.get(`http://127.0.0.1:${port}/`)).pipe(
        Effect.provide(coveredHttp({
          recover: (request) => Effect.sync(() => seen.push(request.method)),
          schedule: Schedule.spaced("20 millis")
        }))
      )
      expect(answer).toBe("up")
      expect(seen.length).toBeGreaterThan(0)
      expect(new Set(seen)).toEqual(new Set(["GET"]))
      yield* Fiber.join(later)
      const bad: ReadonlyArray<[unknown, string]> = [
        [{ retries: 3 }, "retries is not allowed"],
        [{ methods: "most" }, "methods"],
        [{ methods: ["GET", "FETCH"] }, "methods"],
        [{ schedule: 5 }, "schedule"],
        [{ recover: "again" }, "recover"]
      ]
      for (const [options, reason] of bad) {
        const error = yield* Effect.flip(Effect.scoped(Layer.build(coveredHttp(options as Cover.HttpClientOptions))))
        expect(error).toMatchObject({ _tag: "InvalidArgument", argument: "Cover.layerHttpClient options" })
        expect(error.message).toContain(reason)
      }
    }).pipe(Effect.scoped))
})

describe("Cover.layerSocket", () => {
  it.live(
    "a TCP server SIGKILLed and restarted by the HAM: the run goes on, onOpen replayed, writes answered by the new life",
    () =>
      Effect.gen(function*() {
        const port = yield* servedByHam("pong", new URL("./fixtures/pong-server.mjs", import.meta.url))
        const pidOf = Effect.map(Ham.snapshot, (tree) => tree.entities.find((e) => e.name === "pong")?.pid ?? 0)
        const layer = Cover.layerSocket().pipe(Layer.provide(NodeSocket.layerNet({ host: "127.0.0.1", port })))
        const socket = Context.get(yield* Layer.build(layer), Socket.Socket)
        const write = yield* socket.writer
        const lines: Array<string> = []
        let opens = 0
        let pending = ""
        const runner = yield* Effect.fork(socket.run((chunk) => {
          pending += new TextDecoder().decode(chunk)
          const parts = pending.split("\n")
          pending = parts.pop()!
          lines.push(...parts)
        }, {
          onOpen: Effect.suspend(() => write(`HELLO ${++opens}\n`)).pipe(Effect.orDie)
        }))
        const pings = yield* Effect.fork(
          Effect.forever(Effect.zipRight(write("PING\n"), Effect.sleep("10 millis")))
        )
        const answeredBy = (pid: number) => lines.filter((line) => line.startsWith(`PONG ${pid} PING`)).length
        const waitAnswers = (pid: () => number) =>
          Effect.sync(() => answeredBy(pid())).pipe(
            Effect.repeat({ schedule: Schedule.spaced("10 millis"), until: (n) => n >= 5 }),
            Effect.timeoutFail({
              duration: "15 seconds",
              onTimeout: () => new Error(`no answers: ${lines.join(", ")}`)
            })
          )
        const first = yield* pidOf
        yield* waitAnswers(() => first)
        process.kill(first, "SIGKILL")
        let second = 0
        yield* Effect.gen(function*() {
          second = yield* pidOf
        }).pipe(
          Effect.repeat({ schedule: Schedule.spaced("10 millis"), until: () => second !== 0 && second !== first })
        )
        yield* waitAnswers(() => second)
        yield* Fiber.interrupt(pings)
        // the run is still going: it did not end with the first connection
        expect(runner.unsafePoll()).toBeNull()
        expect(opens).toBeGreaterThanOrEqual(2)
        expect(lines).toContain(`PONG ${second} HELLO ${opens}`)
        expect((yield* Cover.control(socket, "get")).recoveries).toBeGreaterThanOrEqual(1)
        yield* Fiber.interrupt(runner)
      }).pipe(Effect.scoped, Effect.provide(HamLive)),
    30_000
  )

  it.live("no server for good: the run fails with an Open SocketError whose cause is RecoveryFailed; bad input", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const layer = Cover.layerSocket({ schedule: Schedule.recurs(2) }).pipe(
        Layer.provide(NodeSocket.layerNet({ host: "127.0.0.1", port }))
      )
      const socket = Context.get(yield* Layer.build(layer), Socket.Socket)
      const error = yield* Effect.flip(socket.run(() => {}))
      expect(error).toMatchObject({ _tag: "SocketError", reason: "Open" })
      expect((error as { cause?: unknown }).cause).toBeInstanceOf(Cover.RecoveryFailed)
      expect((error as { cause?: unknown }).cause).toMatchObject({ attempts: 2 })
      expect(yield* Cover.control(socket, "get")).toMatchObject({ recoveries: 1, attempts: 2 })
      const noRecoverFn = yield* Effect.flip(Cover.control(socket, { setRecover: (() => Effect.void) as never }))
      expect(noRecoverFn).toMatchObject({ _tag: "InvalidArgument" })
      for (const options of [{ reconnect: true }, { reconnectOnEnd: "yes" }, { schedule: [] }]) {
        const bad = yield* Effect.flip(
          Effect.scoped(Layer.build(
            Cover.layerSocket(options as Cover.SocketOptions).pipe(
              Layer.provide(NodeSocket.layerNet({ host: "127.0.0.1", port }))
            )
          ))
        )
        expect(bad).toMatchObject({ _tag: "InvalidArgument", argument: "Cover.layerSocket options" })
      }
    }).pipe(Effect.scoped))
})
