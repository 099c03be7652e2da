/**
 * The `Notify` client against a notify server in this process, and children that notify: python3
 * over the socket, Node children using `effect-ham/Notify` over the socket, over IPC, and
 * unsupervised. The last test asks the OS that no child is left.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, Queue } from "effect"
import type { Scope } from "effect"
import * as Notify from "effect-ham/Notify"
import * as cp from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import * as protocol from "../src/internal/notify/protocol.js"
import * as notify from "../src/internal/notify/server.js"
import { collecting, freshSocketPath, raise, ready, state, status, takeN, watchdog } from "./notify.js"
import * as procfs from "./procfs.js"

const root = path.resolve(import.meta.dirname, "..")

/** every child the tests spawn, checked at the end */
const spawned: Array<number> = []

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
// the client, against a server in this process
// ---------------------------------------------------------------------------------------------

describe("Notify client", () => {
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

  it.live("the client re-opens its connection when the server went away and came back", () =>
    Effect.gen(function*() {
      const socketPath = yield* freshSocketPath
      const client = yield* Notify.make({ path: socketPath })
      // no server yet: unavailable
      const down = yield* Effect.flip(client.send(ready))
      expect(down).toMatchObject({ _tag: "NotifyError", reason: "Unavailable" })
      for (const n of [1, 2, 3]) {
        yield* Effect.gen(function*() {
          const messages = yield* Queue.unbounded<protocol.NotifyMessage>()
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
      expect(result.ipc.map(protocol.parseIpcMessage)).toEqual(
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
