import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Option, Queue, Schedule } from "effect"
import type { Scope } from "effect"
import * as Notify from "effect-ham/Notify"
import * as cp from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import * as notify from "../src/internal/notify.js"
import * as procfs from "../src/internal/procfs.js"

const root = path.resolve(import.meta.dirname, "..")

/** every child the tests spawn, checked at the end */
const spawned: Array<number> = []

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

const ready = notify.Ready.make({})
const watchdog = notify.Watchdog.make({})
const state = (n: number) => notify.State.make({ state: n })
const raise = (type: number, klass: number, severity: number, detail: string) =>
  notify.Raise.make({ type, class: klass, severity, detail })
const status = (text: string) => notify.Status.make({ text })
const unknown = (key: string, value: string) => notify.Unknown.make({ key, value })

const parsed = (line: string) => Either.getOrThrowWith(notify.parseLine(line), (e) => new Error(e.message))
const reason = (line: string) =>
  Either.match(notify.parseLine(line), { onLeft: (e) => e.reason, onRight: (m) => `parsed as ${m._tag}` })

/** a server on a fresh private directory, collecting messages and parse errors in queues */
const collecting = Effect.gen(function*() {
  const dir = yield* notify.makeSocketDirectory("ham-test-")
  const socketPath = path.join(dir, "n.sock")
  const messages = yield* Queue.unbounded<notify.NotifyMessage>()
  const errors = yield* Queue.unbounded<notify.NotifyParseError>()
  const server = yield* notify.serve(socketPath, (m) => Queue.offer(messages, m), {
    onParseError: (e) => Queue.offer(errors, e)
  })
  return { dir, errors, messages, path: socketPath, server }
})

/** takes n items, failing the test after 10 seconds */
const takeN = <A>(queue: Queue.Dequeue<A>, n: number) =>
  Effect.gen(function*() {
    const out: Array<A> = []
    while (out.length < n) out.push(yield* Queue.take(queue))
    return out
  }).pipe(
    Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error(`fewer than ${n} items in 10 s`) }),
    Effect.orDie
  )

/** a raw client connection that writes each piece separately, waiting between them */
const writePieces = (socketPath: string, pieces: ReadonlyArray<string | Buffer>) =>
  Effect.gen(function*() {
    const socket = yield* Effect.async<net.Socket, Error>((resume) => {
      const s = net.createConnection({ path: socketPath })
      s.once("connect", () => resume(Effect.succeed(s)))
      s.once("error", (e) => resume(Effect.fail(e)))
    })
    for (const piece of pieces) {
      yield* Effect.async<void, Error>((resume) => {
        socket.write(piece, (e) => resume(e ? Effect.fail(e) : Effect.void))
      })
      // let the server read this piece on its own
      yield* Effect.sleep("15 millis")
    }
    yield* Effect.async<void>((resume) => {
      socket.end(() => resume(Effect.void))
    })
  }).pipe(Effect.orDie)

interface ChildResult {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
  readonly ipc: ReadonlyArray<unknown>
}

/** runs a child to its end (at most 20 s, then SIGKILL), collecting output and IPC messages */
const runChild = (
  command: string,
  args: ReadonlyArray<string>,
  options: { readonly env: Record<string, string | undefined>; readonly ipc?: boolean }
): Effect.Effect<ChildResult & { readonly pid: number }, never, Scope.Scope> =>
  Effect.gen(function*() {
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        cp.spawn(command, args, {
          cwd: root,
          env: options.env,
          stdio: options.ipc === true ? ["ignore", "pipe", "pipe", "ipc"] : ["ignore", "pipe", "pipe"]
        })
      ),
      (child) => Effect.sync(() => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL"))
    )
    spawned.push(child.pid!)
    const result = yield* Effect.async<ChildResult>((resume) => {
      let stdout = ""
      let stderr = ""
      const ipc: Array<unknown> = []
      child.stdout!.on("data", (chunk: Buffer) => stdout += chunk.toString("utf8"))
      child.stderr!.on("data", (chunk: Buffer) => stderr += chunk.toString("utf8"))
      child.on("message", (m) => ipc.push(m))
      child.on("close", (code, signal) => resume(Effect.succeed({ code, signal, stdout, stderr, ipc })))
    }).pipe(
      Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => new Error(`child ${command} hung`) }),
      Effect.orDie
    )
    return { ...result, pid: child.pid! }
  })

const pythonEnv = (socketPath: string) => ({
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  HAM_NOTIFY_SOCKET: socketPath,
  HAM_ENTITY: "py"
})

// ---------------------------------------------------------------------------------------------
// the line parser
// ---------------------------------------------------------------------------------------------

describe("notify parseLine", () => {
  it("parses every key", () => {
    expect(parsed("READY=1")).toEqual(ready)
    expect(parsed("WATCHDOG=1")).toEqual(watchdog)
    expect(parsed("STATE=0")).toEqual(state(0))
    expect(parsed("STATE=42")).toEqual(state(42))
    expect(parsed("STATE=007")).toEqual(state(7))
    expect(parsed("RAISE=1,2,3")).toEqual(raise(1, 2, 3, ""))
    expect(parsed("RAISE=1,2,3,disk full")).toEqual(raise(1, 2, 3, "disk full"))
    expect(parsed("RAISE=10, 20 ,30,a, b,c")).toEqual(raise(10, 20, 30, "a, b,c"))
    expect(parsed("STATUS=serving 3 clients")).toEqual(status("serving 3 clients"))
    expect(parsed("STATUS=")).toEqual(status(""))
    expect(parsed("STATUS=a=b")).toEqual(status("a=b"))
  })

  it("ignores one trailing carriage return", () => {
    expect(parsed("READY=1\r")).toEqual(ready)
    expect(parsed("STATE=5\r")).toEqual(state(5))
  })

  it("gives unknown keys as Unknown", () => {
    expect(parsed("MAINPID=1234")).toEqual(unknown("MAINPID", "1234"))
    expect(parsed("ready=1")).toEqual(unknown("ready", "1"))
    expect(parsed("X_1=")).toEqual(unknown("X_1", ""))
  })

  it("reports malformed lines and values", () => {
    expect(reason("")).toBe("empty line")
    expect(reason("READY")).toBe("expected KEY=VALUE")
    expect(reason("=1")).toBe("invalid key")
    expect(reason("BAD KEY=1")).toBe("invalid key")
    expect(reason("READY=0")).toBe("READY takes the value 1")
    expect(reason("READY=")).toBe("READY takes the value 1")
    expect(reason("WATCHDOG=trigger")).toBe("WATCHDOG takes the value 1")
    for (const value of ["", "-1", "1.5", "abc", "1e3", "99999999999999999999"]) {
      expect(reason(`STATE=${value}`)).toBe("STATE takes a non-negative integer")
    }
    for (const value of ["", "1", "1,2", "1,2,x", "-1,2,3", "1,,3,detail"]) {
      expect(reason(`RAISE=${value}`)).toBe(
        "RAISE takes <type>,<class>,<severity>[,<detail>] with non-negative integers"
      )
    }
    const error = notify.parseLine("STATE=x")
    expect(Either.isLeft(error) && error.left).toMatchObject({ _tag: "NotifyParseError", line: "STATE=x" })
  })

  it("accepts lines of 4096 bytes and rejects longer ones", () => {
    const text = "x".repeat(4096 - "STATUS=".length)
    expect(parsed(`STATUS=${text}`)).toEqual(status(text))
    expect(reason(`STATUS=${text}y`)).toBe("line longer than 4096 bytes")
    // bytes, not characters: "é" is two bytes
    const accents = "é".repeat(2045)
    expect(Buffer.byteLength(`STATUS=${accents}`)).toBe(4097)
    expect(reason(`STATUS=${accents}`)).toBe("line longer than 4096 bytes")
    const error = notify.parseLine(`STATUS=${text}y`)
    expect(Either.isLeft(error) && error.left.line.length).toBe(200)
  })

  it("formats messages as lines that parse back", () => {
    const messages = [
      ready,
      watchdog,
      state(0),
      state(123456),
      raise(1, 2, 3, ""),
      raise(4, 5, 6, "with, commas"),
      status("hello"),
      unknown("FOO", "bar")
    ]
    for (const m of messages) expect(parsed(notify.formatMessage(m))).toEqual(m)
    expect(notify.formatMessage(raise(1, 2, 3, "a"))).toBe("RAISE=1,2,3,a")
    expect(notify.formatMessage(status("two\nlines\r\nhere"))).toBe("STATUS=two lines here")
    // cut to 4096 bytes on a character boundary
    const long = notify.formatMessage(status("é".repeat(3000)))
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(4096)
    expect(long).toBe(`STATUS=${"é".repeat(2044)}`)
  })

  it("reads IPC messages", () => {
    expect(notify.parseIpcMessage({ ham: "WATCHDOG=1" })).toEqual(Option.some(watchdog))
    expect(notify.parseIpcMessage({ ham: "RAISE=1,2,3,x" })).toEqual(Option.some(raise(1, 2, 3, "x")))
    expect(notify.parseIpcMessage({ ham: "STATE=-1" })).toEqual(Option.none())
    expect(notify.parseIpcMessage({ ham: 1 })).toEqual(Option.none())
    expect(notify.parseIpcMessage("WATCHDOG=1")).toEqual(Option.none())
    expect(notify.parseIpcMessage(null)).toEqual(Option.none())
    expect(notify.parseIpcMessage({ cmd: "NODE_CLUSTER" })).toEqual(Option.none())
  })
})

describe("notify line splitter", () => {
  const split = (maxBytes: number, chunks: ReadonlyArray<string | Buffer>, end = true) => {
    const out: Array<string> = []
    const splitter = notify.makeSplitter(
      maxBytes,
      (item) =>
        out.push(item._tag === "Line" ? item.bytes.toString("utf8") : `TOO LONG:${item.prefix.toString("utf8")}`)
    )
    for (const chunk of chunks) splitter.data(typeof chunk === "string" ? Buffer.from(chunk) : chunk)
    if (end) splitter.end()
    return out
  }

  it("splits lines across chunk boundaries", () => {
    expect(split(100, ["REA", "DY=1\nWATCH", "DOG=1\n", "\nSTATE=3\nSTA", "TUS=x"])).toEqual([
      "READY=1",
      "WATCHDOG=1",
      "",
      "STATE=3",
      "STATUS=x"
    ])
    expect(split(100, ["A=1\nB=2"], false)).toEqual(["A=1"])
  })

  it("keeps a UTF-8 character split between chunks whole", () => {
    const bytes = Buffer.from("STATUS=é€\n")
    expect(split(100, [bytes.subarray(0, 8), bytes.subarray(8, 11), bytes.subarray(11)])).toEqual(["STATUS=é€"])
  })

  it("drops an over-long line once (reporting its first bytes), then goes on with the next", () => {
    expect(split(8, ["0123456789\nA=1\n"])).toEqual(["TOO LONG:01234567", "A=1"])
    expect(split(8, ["0123", "4567", "89ab", "cdef\nA=1\n"])).toEqual(["TOO LONG:01234567", "A=1"])
    expect(split(8, ["01234567\n", "012345678"])).toEqual(["01234567", "TOO LONG:01234567"])
    expect(split(8, ["0123456", "78", "9\n", "0123456", "7\n"])).toEqual(["TOO LONG:01234567", "01234567"])
  })
})

// ---------------------------------------------------------------------------------------------
// the server, with clients in this process
// ---------------------------------------------------------------------------------------------

describe("notify server", () => {
  it.live("receives the messages of the Notify client in order", () =>
    Effect.gen(function*() {
      const { messages, path: socketPath, server } = yield* collecting
      yield* Effect.gen(function*() {
        const client = yield* Notify.client
        expect(client.transport).toBe("socket")
        yield* Notify.ready
        yield* Notify.watchdog
        yield* Notify.state(3)
        yield* Notify.raise({ type: 1, class: 2, severity: 3, detail: "disk full" })
        yield* Notify.raise({ type: 4, class: 5, severity: 6 })
        yield* Notify.status("all\ngood")
        for (let i = 0; i < 100; i++) yield* Notify.state(i)
      }).pipe(Effect.provide(Notify.layerClient({ path: socketPath })))
      const got = yield* takeN(messages, 106)
      expect(got.slice(0, 6)).toEqual([
        ready,
        watchdog,
        state(3),
        raise(1, 2, 3, "disk full"),
        raise(4, 5, 6, ""),
        status("all good")
      ])
      expect(got.slice(6)).toEqual(Array.from({ length: 100 }, (_, i) => state(i)))
      // one connection for all of them
      const stats = yield* server.stats
      expect(stats).toMatchObject({ connections: 1, messages: 106, parseErrors: 0, unknown: 0 })
    }).pipe(Effect.scoped))

  it.live("invalid arguments fail on the client and send nothing", () =>
    Effect.gen(function*() {
      const { messages, path: socketPath } = yield* collecting
      const layer = Notify.layerClient({ path: socketPath })
      const bad = yield* Effect.flip(Notify.state(-1).pipe(Effect.provide(layer)))
      expect(bad).toMatchObject({ _tag: "NotifyError", reason: "InvalidArgument" })
      const bad2 = yield* Effect.flip(
        Notify.raise({ type: 1.5, class: 0, severity: 0 }).pipe(Effect.provide(layer))
      )
      expect(bad2).toMatchObject({ _tag: "NotifyError", reason: "InvalidArgument" })
      yield* Notify.ready.pipe(Effect.provide(layer))
      expect(yield* takeN(messages, 1)).toEqual([ready])
      expect(yield* Queue.size(messages)).toBe(0)
    }).pipe(Effect.scoped))

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
      expect(stats).toEqual({ connections: 1, open: 0, messages: 7, unknown: 1, parseErrors: 2, tooLong: 1 })
    }).pipe(Effect.scoped))

  it.live("onMessageSync takes the messages it accepts at once; the order of a connection is kept", () =>
    Effect.gen(function*() {
      const dir = yield* notify.makeSocketDirectory("ham-test-")
      const socketPath = path.join(dir, "n.sock")
      const order: Array<string> = []
      const slow = yield* Queue.unbounded<void>()
      yield* notify.serve(socketPath, (m) =>
        Effect.zipRight(
          Effect.sleep("20 millis"),
          Effect.sync(() => order.push(`queued ${notify.formatMessage(m)}`)).pipe(
            Effect.zipRight(Queue.offer(slow, undefined))
          )
        ), {
        onMessageSync: (m) => {
          if (m._tag !== "Watchdog") return false
          order.push(`sync ${notify.formatMessage(m)}`)
          return true
        }
      })
      // one piece: a watchdog alone goes the fast way; behind a queued state it waits its turn
      yield* writePieces(socketPath, ["WATCHDOG=1\n", "STATE=1\nWATCHDOG=1\nSTATE=2\n"])
      yield* takeN(slow, 3)
      expect(order).toEqual(["sync WATCHDOG=1", "queued STATE=1", "queued WATCHDOG=1", "queued STATE=2"])
    }).pipe(Effect.scoped))

  it.live("the client re-opens its connection when the server went away and came back", () =>
    Effect.gen(function*() {
      const dir = yield* notify.makeSocketDirectory("ham-test-")
      const socketPath = path.join(dir, "n.sock")
      const client = yield* Notify.make({ path: socketPath })
      // no server yet: unavailable
      const down = yield* Effect.flip(client.send(ready))
      expect(down).toMatchObject({ _tag: "NotifyError", reason: "Unavailable" })
      for (const n of [1, 2, 3]) {
        yield* Effect.gen(function*() {
          const messages = yield* Queue.unbounded<notify.NotifyMessage>()
          yield* notify.serve(socketPath, (m) => Queue.offer(messages, m))
          yield* client.send(state(n))
          yield* client.send(watchdog)
          expect(yield* takeN(messages, 2)).toEqual([state(n), watchdog])
        }).pipe(Effect.scoped)
        expect(fs.existsSync(socketPath)).toBe(false)
      }
    }).pipe(Effect.scoped))

  it.live("without a socket path or IPC channel the client is a no-op", () =>
    Effect.gen(function*() {
      const client = yield* Notify.make({ path: "", ipc: false })
      expect(client.transport).toBe("none")
      yield* client.send(ready)
      const hasEnv = process.env.HAM_NOTIFY_SOCKET !== undefined
      const processWide = yield* Notify.client
      expect(processWide.transport).toBe(hasEnv ? "socket" : "none")
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
        const messages = yield* Queue.unbounded<notify.NotifyMessage>()
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
      const dir = yield* notify.makeSocketDirectory("ham-test-")
      const socketPath = path.join(dir, "n.sock")
      const messages = yield* Queue.unbounded<notify.NotifyMessage>()
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
      const dir = yield* notify.makeSocketDirectory("ham-test-")
      const socketPath = path.join(dir, "n.sock")
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

  it.live("a defect in onMessage is logged and the connection goes on", () =>
    Effect.gen(function*() {
      const dir = yield* notify.makeSocketDirectory("ham-test-")
      const socketPath = path.join(dir, "n.sock")
      const messages = yield* Queue.unbounded<notify.NotifyMessage>()
      yield* notify.serve(
        socketPath,
        (m) => m._tag === "State" && m.state === 1 ? Effect.die("boom") : Queue.offer(messages, m)
      )
      yield* writePieces(socketPath, ["STATE=1\nSTATE=2\n"])
      expect(yield* takeN(messages, 1)).toEqual([state(2)])
    }).pipe(Effect.scoped))
})

// ---------------------------------------------------------------------------------------------
// children in other languages, and Node children using the Notify module
// ---------------------------------------------------------------------------------------------

const pyOnce = `
import os, socket
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(os.environ["HAM_NOTIFY_SOCKET"])
s.sendall(b"READY=1\\nWATCHDOG=1\\nSTATE=3\\nRAISE=1,2,3,disk full\\n")
s.close()
print(os.environ["HAM_ENTITY"])
`

const pyPerMessage = `
import os, socket
for line in ["WATCHDOG=1\\n", "STATE=1\\n", "STATE=2\\n", "STATUS=no newline"]:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(os.environ["HAM_NOTIFY_SOCKET"])
    s.sendall(line.encode())
    s.close()
`

describe("notify children", () => {
  it.live("a python3 child sends READY, WATCHDOG, STATE and RAISE", () =>
    Effect.gen(function*() {
      const { messages, path: socketPath, server } = yield* collecting
      const result = yield* runChild("python3", ["-c", pyOnce], { env: pythonEnv(socketPath) })
      expect(result).toMatchObject({ code: 0, stdout: "py\n", stderr: "" })
      expect(yield* takeN(messages, 4)).toEqual([ready, watchdog, state(3), raise(1, 2, 3, "disk full")])
      expect((yield* server.stats).connections).toBe(1)
      expect(yield* procfs.isAlive(result.pid)).toBe(false)
    }).pipe(Effect.scoped))

  it.live("a child that connects and disconnects for each message", () =>
    Effect.gen(function*() {
      const { messages, path: socketPath, server } = yield* collecting
      const result = yield* runChild("python3", ["-c", pyPerMessage], { env: pythonEnv(socketPath) })
      expect(result).toMatchObject({ code: 0, stderr: "" })
      expect(yield* takeN(messages, 4)).toEqual([watchdog, state(1), state(2), status("no newline")])
      expect(yield* server.stats).toMatchObject({ connections: 4, messages: 4 })
      expect(yield* procfs.isAlive(result.pid)).toBe(false)
    }).pipe(Effect.scoped))

  const nodeChild = `
import { Effect } from "effect"
import * as Notify from "effect-ham/Notify"
const client = await Effect.runPromise(Notify.client)
console.log(client.transport)
await Effect.runPromise(Effect.gen(function*() {
  yield* Notify.ready
  yield* Notify.state(7)
  yield* Notify.raise({ type: 9, class: 8, severity: 7, detail: "from node" })
  yield* Notify.watchdog
}))
if (process.send) process.disconnect()
`
  const nodeArgs = ["--conditions=source", "--import", "tsx", "--input-type=module", "-e", nodeChild]

  it.live("a Node child using the Notify module over the socket exits on its own once done", () =>
    Effect.gen(function*() {
      const { messages, path: socketPath } = yield* collecting
      const result = yield* runChild(process.execPath, nodeArgs, {
        env: { PATH: process.env.PATH, HAM_NOTIFY_SOCKET: socketPath, HAM_ENTITY: "node" }
      })
      expect(result).toMatchObject({ code: 0, stdout: "socket\n" })
      expect(yield* takeN(messages, 4)).toEqual([ready, state(7), raise(9, 8, 7, "from node"), watchdog])
    }).pipe(Effect.scoped))

  it.live("a Node child with an IPC channel and no socket sends { ham } messages over IPC", () =>
    Effect.gen(function*() {
      const result = yield* runChild(process.execPath, nodeArgs, {
        env: { PATH: process.env.PATH, HAM_ENTITY: "node" },
        ipc: true
      })
      expect(result).toMatchObject({ code: 0, stdout: "ipc\n" })
      expect(result.ipc).toEqual([
        { ham: "READY=1" },
        { ham: "STATE=7" },
        { ham: "RAISE=9,8,7,from node" },
        { ham: "WATCHDOG=1" }
      ])
      expect(result.ipc.map(notify.parseIpcMessage)).toEqual(
        [ready, state(7), raise(9, 8, 7, "from node"), watchdog].map(Option.some)
      )
    }).pipe(Effect.scoped))

  it.live("a Node child without socket or IPC runs unsupervised (no-op)", () =>
    Effect.gen(function*() {
      const result = yield* runChild(process.execPath, nodeArgs, { env: { PATH: process.env.PATH } })
      expect(result).toMatchObject({ code: 0, stdout: "none\n" })
    }).pipe(Effect.scoped))

  it.live("no child process is left behind", () =>
    Effect.gen(function*() {
      expect(spawned.length).toBe(5)
      const alive = yield* Effect.filter(spawned, procfs.isAlive)
      expect(alive).toEqual([])
      const kids = yield* procfs.descendants(process.pid)
      expect(kids.filter((pid) => spawned.includes(pid))).toEqual([])
    }))
})
