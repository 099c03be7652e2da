/**
 * The remote HAM's security: nothing listens unless asked; TCP binds to loopback by default and
 * requires a token (given, from an owner-only file, or from an environment variable), checked in
 * constant time; a call without it, or with another, gets `Unauthorized` and changes nothing; a
 * connection refused too often, or that makes no authorized call in time, is closed; the Unix
 * socket is its owner's only (0600 in a 0700 directory); a payload that does not decode is a typed
 * `InvalidArgument` and changes nothing.
 */
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as Headers from "@effect/platform/Headers"
import * as RpcClient from "@effect/rpc/RpcClient"
import * as RpcMiddleware from "@effect/rpc/RpcMiddleware"
import * as RpcSerialization from "@effect/rpc/RpcSerialization"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer, Option, Redacted, Stream } from "effect"
import { Ham, HamLive } from "effect-ham"
import * as HamClient from "effect-ham/HamClient"
import * as HamServer from "effect-ham/HamServer"
import * as cp from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as auth from "../src/internal/remote/auth.js"
import * as frames from "../src/internal/remote/frames.js"
import * as rpcs from "../src/internal/remote/rpcs.js"
import { liveProcesses, tempDir, waitUntil, waitUntilEffect } from "./processes.js"
import { failureOf } from "./utils.js"

const token = "security-test-token-0123456789abcdef"

/** a served HAM (TCP on port 0, a Unix socket in `dir`) with these limits */
const served = (dir: string, limits?: HamServer.Limits) =>
  HamServer.layer({ listen: { tcp: { port: 0 }, unix: `${dir}/ham.sock` }, auth: { token }, limits }).pipe(
    Layer.provideMerge(Ham.layer())
  )

/** an @effect/rpc client of the HAM's procedures that sends the headers given (no token unless told) */
const rawClient = (connect: net.NetConnectOpts, headers: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(Layer.merge(
      RpcClient.layerProtocolSocket().pipe(
        Layer.provide(NodeSocket.layerNet(connect)),
        Layer.provide(Layer.succeed(RpcSerialization.RpcSerialization, frames.serialization("msgpack", 1 << 20)))
      ),
      RpcMiddleware.layerClient(
        rpcs.Authorization,
        ({ request }) =>
          Effect.succeed({ ...request, headers: Headers.merge(request.headers, Headers.fromInput(headers)) })
      )
    ))
    return yield* Effect.provide(RpcClient.make(rpcs.HamRpcs), context)
  })

const tcpOf = (server: HamServer.HamServerService) => ({ port: Option.getOrThrow(server.tcp).port, host: "127.0.0.1" })

/** the listening servers of this process */
const listeners = () =>
  (process as unknown as { _getActiveHandles(): Array<unknown> })._getActiveHandles().filter((h) =>
    h instanceof net.Server
  ).length

describe("Remote HAM security", () => {
  it.live("nothing listens unless asked: a HAM, and a server asked for no listener, open no socket", () =>
    Effect.gen(function*() {
      const before = listeners()
      yield* Effect.gen(function*() {
        yield* Ham.snapshot
        const server = yield* HamServer.HamServer
        expect(Option.isNone(server.tcp) && Option.isNone(server.unix)).toBe(true)
        expect(listeners()).toBe(before)
      }).pipe(Effect.provide(HamServer.layer({ listen: {} }).pipe(Layer.provideMerge(HamLive))))
    }))

  it.live("TCP binds to loopback by default: another address of this machine is refused", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("ham-sec-")
      const server = yield* Effect.provide(HamServer.HamServer, served(dir))
      expect(Option.getOrThrow(server.tcp).host).toBe("127.0.0.1")
      const other = Object.values(os.networkInterfaces()).flat().find((i) =>
        i !== undefined && !i.internal && i.family === "IPv4"
      )
      if (other === undefined) return console.log("no address beyond loopback on this machine: not checked")
      const connected = yield* Effect.async<boolean>((resume) => {
        const socket = net.connect({ host: other.address, port: Option.getOrThrow(server.tcp).port })
        socket.once("connect", () => (socket.destroy(), resume(Effect.succeed(true))))
        socket.once("error", () => resume(Effect.succeed(false)))
      })
      expect(connected).toBe(false)
    }).pipe(Effect.scoped))

  it.live("a TCP listener without a token is refused", () =>
    Effect.gen(function*() {
      const error = yield* failureOf(Layer.build(HamServer.layer({ listen: { tcp: { port: 0 } } })))
      expect(error).toMatchObject({ _tag: "InvalidArgument", argument: "auth" })
    }).pipe(Effect.scoped, Effect.provide(HamLive)))

  it.live("a call without the token, or with another, gets Unauthorized and changes nothing", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("ham-sec-")
      yield* Effect.gen(function*() {
        const server = yield* HamServer.HamServer
        yield* Ham.entity("web")
        const before = yield* Ham.snapshot
        const marker = `${process.pid}${Date.now() % 100000}`
        const attach = {
          _tag: "Attach",
          spec: { _tag: "Process", name: "intruder", command: { command: "sleep", args: [`30.${marker}`] } }
        }
        for (
          const headers of [{}, { [rpcs.TokenHeader]: "" }, { [rpcs.TokenHeader]: `${token}x` }, {
            [rpcs.TokenHeader]: token.replace(/.$/, "X")
          }, { authorization: `Bearer ${token}` }]
        ) {
          const client = yield* rawClient(tcpOf(server), headers)
          const refused = [
            yield* failureOf(client.Attach(attach)),
            yield* failureOf(client.PublishState({ _tag: "PublishState", entity: "web", state: 7 })),
            yield* failureOf(client.Verbose({ _tag: "Verbose", level: 5 })),
            yield* failureOf(client.Snapshot({ _tag: "Snapshot" })),
            yield* failureOf(client.Stop({ _tag: "Stop" })),
            yield* failureOf(Stream.runDrain(client.Events({ _tag: "Events" })))
          ]
          expect(refused.map((e) => e._tag)).toEqual(Array(6).fill("Unauthorized"))
        }
        // nothing changed: the same tree, no intruder process, the HAM not stopped
        yield* Effect.sleep("200 millis")
        const after = yield* Ham.snapshot
        expect({ ...after, time: 0 }).toEqual({ ...before, time: 0 })
        expect(liveProcesses(marker)).toEqual([])
        expect(yield* Ham.entity("still-serving")).toMatchObject({ name: "still-serving" })
        // with the token, the same client code is served
        const client = yield* rawClient(tcpOf(server), { [rpcs.TokenHeader]: token })
        expect(yield* client.Verbose({ _tag: "Verbose", level: 1 })).toBe(1)
      }).pipe(Effect.provide(served(dir, { maxAuthFailures: 100 })))
    }).pipe(Effect.scoped))

  it.live("a client with a wrong token fails to build with Unauthorized; refused calls close their connection", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("ham-sec-")
      yield* Effect.gen(function*() {
        const server = yield* HamServer.HamServer
        const exit = yield* Effect.exit(
          Layer.build(HamClient.layer({ tcp: { port: tcpOf(server).port }, auth: { token: `${token}-wrong` } }))
        )
        expect(exit).toMatchObject({ _tag: "Failure", cause: { _tag: "Fail", error: { _tag: "Unauthorized" } } })
        // a raw client keeps calling: its third refusal closes the connection
        const client = yield* rawClient(tcpOf(server))
        for (let i = 0; i < 3; i++) yield* failureOf(client.Snapshot({ _tag: "Snapshot" }))
        yield* waitUntilEffect(
          "the refused connection to be closed",
          Effect.map(server.stats, (s) => s.closed.authFailures === 1)
        )
      }).pipe(Effect.provide(served(dir)))
    }).pipe(Effect.scoped))

  it.live(
    "a TCP connection with no authorized call within authTimeout is closed; an idle one after idleTimeout",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir("ham-sec-")
        yield* Effect.gen(function*() {
          const server = yield* HamServer.HamServer
          const open = (options: net.NetConnectOpts) => {
            const socket = net.connect(options)
            const state = { closed: false }
            socket.on("close", () => (state.closed = true))
            socket.on("error", () => {})
            return state
          }
          const tcp = open(tcpOf(server))
          const unix = open({ path: Option.getOrThrow(server.unix) })
          yield* waitUntil("the TCP connection to be closed", () => tcp.closed, 3000)
          expect(unix.closed).toBe(false)
          yield* waitUntil("the idle Unix connection to be closed", () => unix.closed, 5000)
          expect((yield* server.stats).closed).toMatchObject({ unauthenticated: 1, idle: 1 })
          // a client that calls within the idle timeout keeps its connection
          const client = yield* Layer.build(HamClient.layer({ tcp: { port: tcpOf(server).port }, auth: { token } }))
          const accepted = (yield* server.stats).accepted
          for (let i = 0; i < 6; i++) {
            yield* Effect.sleep("300 millis")
            yield* Effect.provide(Ham.publishState("x", i), client).pipe(Effect.ignore)
          }
          expect(yield* server.stats).toMatchObject({ accepted, closed: { unauthenticated: 1, idle: 1 } })
          // left idle (it pings every 10 s), its connection is closed: a read is tried again on a new one
          yield* waitUntilEffect("the idle client to be closed", Effect.map(server.stats, (s) => s.closed.idle === 2))
          expect(yield* Effect.provide(Ham.verbosity, client)).toBe(1)
          expect((yield* server.stats).accepted).toBe(accepted + 1)
        }).pipe(Effect.provide(served(dir, { authTimeout: "300 millis", idleTimeout: "1 second" })))
      }).pipe(Effect.scoped),
    20_000
  )

  it.live("the token from an owner-only file or an environment variable; anything else is refused", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("ham-sec-")
      const file = `${dir}/token`
      const made = yield* HamServer.tokenFile(file)
      expect(fs.statSync(file).mode & 0o777).toBe(0o600)
      expect(Redacted.value(made)).toMatch(/^[A-Za-z0-9_-]{43}$/)
      expect(Redacted.value(yield* HamServer.tokenFile(file))).toBe(Redacted.value(made))
      process.env.HAM_SECURITY_TEST_TOKEN = Redacted.value(made)
      yield* Effect.addFinalizer(() => Effect.sync(() => delete process.env.HAM_SECURITY_TEST_TOKEN))

      yield* Effect.gen(function*() {
        const port = tcpOf(yield* HamServer.HamServer).port
        for (const source of [{ tokenFile: file }, { tokenEnv: "HAM_SECURITY_TEST_TOKEN" }, { token: made }]) {
          expect(yield* Effect.provide(Ham.verbosity, HamClient.layer({ tcp: { port }, auth: source }))).toBe(1)
        }
      }).pipe(Effect.provide(
        HamServer.layer({ listen: { tcp: { port: 0 } }, auth: { tokenFile: file } }).pipe(Layer.provideMerge(HamLive))
      ))

      const refusedWith = (source: HamServer.TokenSource) =>
        failureOf(Layer.build(HamServer.layer({ listen: { tcp: { port: 0 } }, auth: source }))).pipe(
          Effect.provide(HamLive),
          Effect.map((e) => `${e._tag}: ${e.message}`)
        )
      fs.chmodSync(file, 0o640)
      expect(yield* refusedWith({ tokenFile: file })).toMatch(/InvalidArgument: .*mode 0640.*chmod 600/)
      expect(yield* refusedWith({ tokenFile: `${dir}/missing` })).toMatch(/InvalidArgument: .*ENOENT/)
      expect(yield* refusedWith({ tokenFile: dir })).toMatch(/InvalidArgument: .*not a regular file/)
      expect(yield* refusedWith({ tokenEnv: "HAM_SECURITY_TEST_UNSET" })).toMatch(/is not set/)
      expect(yield* refusedWith({ token: "short" })).toMatch(/16 to 1024 characters/)
      expect(yield* refusedWith({ token: "a token with spaces inside" })).toMatch(/without spaces/)
      expect(yield* refusedWith({ token, tokenEnv: "HAM_SECURITY_TEST_TOKEN" })).toMatch(/give one of/)
    }).pipe(Effect.scoped))

  it("the token check: only the same token passes, whatever the length given", () => {
    const check = auth.tokenChecker(Redacted.make(token))
    expect(check(token)).toBe(true)
    expect(check(`${token} `)).toBe(false)
    expect(check(token.slice(0, -1))).toBe(false)
    expect(check(token.replace(/^./, "X"))).toBe(false)
    expect(check("")).toBe(false)
    expect(check(undefined)).toBe(false)
    expect(check("x".repeat(100_000))).toBe(false)
  })

  it.live("the Unix socket is its owner's only: 0600 in a 0700 directory; anything else at its path is refused", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("ham-sec-")
      const listenAt = (path: string) =>
        Layer.build(HamServer.layer({ listen: { unix: path } })).pipe(Effect.provide(HamLive), Effect.scoped)
      // a missing directory is made 0700; the socket is 0600
      yield* Effect.gen(function*() {
        const server = yield* HamServer.HamServer
        const path = Option.getOrThrow(server.unix)
        expect(path).toBe(`${dir}/private/ham.sock`)
        expect(fs.lstatSync(`${dir}/private`).mode & 0o777).toBe(0o700)
        expect(fs.lstatSync(path).isSocket() && (fs.lstatSync(path).mode & 0o777)).toBe(0o600)
        // a second server on the same path: a live server listens there
        expect(yield* failureOf(listenAt(path))).toMatchObject({ _tag: "ListenFailed", code: "EADDRINUSE" })
      }).pipe(Effect.provide(HamServer.layer({ listen: { unix: `${dir}/private/ham.sock` } })), Effect.provide(HamLive))
      // a directory open to others
      fs.mkdirSync(`${dir}/open`, { mode: 0o755 })
      fs.chmodSync(`${dir}/open`, 0o755)
      expect((yield* failureOf(listenAt(`${dir}/open/ham.sock`))).message).toMatch(/open to others \(mode 0755\)/)
      // a file that is not a socket is left alone
      fs.writeFileSync(`${dir}/private/file`, "data")
      expect((yield* failureOf(listenAt(`${dir}/private/file`))).message).toMatch(/not a socket/)
      expect(fs.readFileSync(`${dir}/private/file`, "utf8")).toBe("data")
      // a stale socket (its server SIGKILLed) is replaced
      yield* Effect.async<void>((resume) => {
        const child = cp.spawn(process.execPath, [
          "-e",
          "require('net').createServer().listen(process.argv[1], () => console.log('up'))",
          `${dir}/private/stale.sock`
        ], { stdio: ["ignore", "pipe", "inherit"] })
        child.stdout.once("data", () => child.kill("SIGKILL"))
        child.once("exit", () => resume(Effect.void))
      })
      expect(fs.lstatSync(`${dir}/private/stale.sock`).isSocket()).toBe(true)
      const exit = yield* Effect.exit(listenAt(`${dir}/private/stale.sock`))
      expect(Exit.isSuccess(exit)).toBe(true)
    }).pipe(Effect.scoped))

  it.live("a payload that does not decode is InvalidArgument, and changes nothing", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("ham-sec-")
      yield* Effect.gen(function*() {
        const server = yield* HamServer.HamServer
        const client = yield* rawClient({ path: Option.getOrThrow(server.unix) })
        const failures = [
          yield* failureOf(client.Attach({ _tag: "Attach", spec: { _tag: "Process", name: "x", command: 5 } })),
          yield* failureOf(client.Attach({ _tag: "Detach", entity: "x" })),
          yield* failureOf(client.Attach("Attach")),
          yield* failureOf(client.PublishState({ _tag: "PublishState", entity: "x", state: 1, extra: true })),
          yield* failureOf(client.Snapshot({ _tag: "Snapshot", spec: {} })),
          yield* failureOf(Stream.runDrain(client.Events({ _tag: "Events", entity: 5 })))
        ]
        expect(failures.map((e) => e._tag)).toEqual(Array(6).fill("InvalidArgument"))
        expect((yield* Ham.snapshot).entities).toEqual([])
      }).pipe(Effect.provide(served(dir)))
    }).pipe(Effect.scoped))
})
