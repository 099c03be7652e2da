/**
 * TLS for the remote HAM's TCP listener (`node:tls`), with a self-signed certificate made here by
 * `openssl`: a client that trusts it works (calls, events, a node-qualified action), and the
 * token and the calls do not travel in clear (a relay in the middle sees neither); a client that
 * does not trust it, that expects another name, or that speaks plain TCP gets nowhere; the token
 * is still required; a key file others may read, or a certificate without its key, is refused.
 */
import { Command } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Context, Effect, Layer, Option, Stream } from "effect"
import { Action, Entity, Ham } from "effect-ham"
import * as HamClient from "effect-ham/HamClient"
import * as HamServer from "effect-ham/HamServer"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import { selfSigned } from "./certs.js"
import { tempDir } from "./processes.js"
import { failureOf } from "./utils.js"

const token = "tls-test-token-0123456789abcdefgh"

/** a self-signed certificate for 127.0.0.1 and ham.test, its key (0600) and the token file, in `dir` */
const makeCert = (dir: string) => {
  const { certFile, keyFile } = selfSigned(dir, ["IP:127.0.0.1", "DNS:ham.test"])
  const tokenFile = path.join(dir, "token")
  fs.writeFileSync(tokenFile, token, { mode: 0o600 })
  return { certFile, keyFile, tokenFile }
}

/** a HAM served with TLS on 127.0.0.1 (port 0) */
const serveTls = (dir: string) =>
  Effect.gen(function*() {
    const files = makeCert(dir)
    const context = yield* Layer.build(
      HamServer.layer({
        listen: { tcp: { port: 0, tls: { certFile: files.certFile, keyFile: files.keyFile } } },
        auth: { tokenFile: files.tokenFile }
      }).pipe(Layer.provideMerge(Ham.layer()))
    )
    const port = Option.getOrThrow(Context.get(context, HamServer.HamServer).tcp).port
    return { ...files, port, ham: Context.get(context, Ham.Ham), server: Context.get(context, HamServer.HamServer) }
  })

/** a relay from a port of its own to `port`, keeping every byte it passes */
const relay = (port: number) =>
  Effect.acquireRelease(
    Effect.async<{ readonly server: net.Server; readonly seen: Array<Buffer>; readonly port: number }>((resume) => {
      const seen: Array<Buffer> = []
      const server = net.createServer((inbound) => {
        const outbound = net.connect(port, "127.0.0.1")
        inbound.on("data", (d) => seen.push(d))
        outbound.on("data", (d) => seen.push(d))
        inbound.pipe(outbound).pipe(inbound)
        inbound.on("error", () => outbound.destroy())
        outbound.on("error", () => inbound.destroy())
      })
      server.listen(0, "127.0.0.1", () =>
        resume(Effect.succeed({ server, seen, port: (server.address() as net.AddressInfo).port })))
    }),
    ({ server }) =>
      Effect.sync(() =>
        server.close()
      )
  )

const call = (options: HamClient.ClientOptions) =>
  Effect.provide(Ham.snapshot, HamClient.layer({ connectTimeout: "1 second", ...options }))

describe("TLS", () => {
  it.live("a client that trusts the certificate calls and streams; nothing readable travels", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("ham-tls-")
      const { certFile, port, tokenFile } = yield* serveTls(dir)
      const { port: relayPort, seen } = yield* relay(port)
      yield* Effect.gen(function*() {
        const web = yield* Ham.attach(Entity.process("web", Command.make("sleep", "30")))
        const events = yield* Ham.subscribe
        yield* Ham.publishState(web, 3)
        const tree = yield* Ham.snapshot
        expect(tree.entities.map((e) => e.name)).toContain("web")
        const event = yield* Stream.runCollect(Stream.take(Stream.fromQueue(events), 1))
        expect(Chunk.toReadonlyArray(event)[0]._tag).toBe("CondState")
      }).pipe(
        Effect.provide(HamClient.layer({ tcp: { port: relayPort }, auth: { tokenFile }, tls: { caFile: certFile } }))
      )
      const bytes = Buffer.concat(seen).toString("latin1")
      expect(bytes.length).toBeGreaterThan(500)
      expect(bytes).not.toContain(token)
      expect(bytes).not.toContain("PublishState")
      expect(bytes).not.toContain("web")
    }).pipe(Effect.scoped))

  it.live("an untrusted certificate, another name, plain TCP or a wrong token get nowhere", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("ham-tls-")
      const { certFile, ham, port, tokenFile } = yield* serveTls(dir)
      const auth = { tokenFile }
      const untrusted = yield* failureOf(call({ tcp: { port }, auth, tls: {} }))
      expect(untrusted._tag).toBe("HamUnreachable")
      expect(untrusted.message).toMatch(/self.signed/)
      const otherName = yield* failureOf(
        call({ tcp: { port }, auth, tls: { caFile: certFile, servername: "other.test" } })
      )
      expect(otherName.message).toMatch(/other\.test/)
      // by name: the certificate lists ham.test
      const byName = yield* call({ tcp: { port }, auth, tls: { caFile: certFile, servername: "ham.test" } })
      expect(byName.entities).toEqual([])
      const plain = yield* failureOf(call({ tcp: { port }, auth }))
      expect(plain._tag).toBe("HamUnreachable")
      const wrong = yield* failureOf(
        call({ tcp: { port }, auth: { token: "another-token-0123456789abcdef" }, tls: { caFile: certFile } })
      )
      expect(wrong._tag).toBe("Unauthorized")
      expect((yield* ham.snapshot).entities).toEqual([])
    }).pipe(Effect.scoped))

  it.live("a node-qualified action reaches a HAM over TLS", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("ham-tls-")
      const { certFile, ham: b, port, tokenFile } = yield* serveTls(dir)
      yield* b.attach(Entity.fiber("db", Effect.never))
      const events = yield* b.subscribe
      yield* Effect.gen(function*() {
        const web = yield* Ham.entity("web")
        yield* Ham.conditionRaise(web, { type: 1, class: 0, severity: 0 }).pipe(
          Ham.action(Action.publishState("db", 8, { node: { tcp: { port }, tokenFile, tls: { caFile: certFile } } }))
        )
        yield* Ham.raise(web, { type: 1, class: 1, severity: 1 })
        while (true) {
          const event = yield* events.take
          if (event._tag === "CondState" && event.entity === "db") {
            expect(event.to).toBe(8)
            break
          }
        }
      }).pipe(Effect.provide(Ham.layer()), Effect.scoped)
    }).pipe(Effect.scoped))

  it.live("a key file others may read, or a certificate without its key, is refused", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("ham-tls-")
      const { certFile, keyFile, tokenFile } = makeCert(dir)
      const build = (tls: HamServer.ServerTls) =>
        failureOf(Layer.build(
          HamServer.layer({ listen: { tcp: { port: 0, tls } }, auth: { tokenFile } }).pipe(
            Layer.provideMerge(Ham.layer())
          )
        ))
      fs.chmodSync(keyFile, 0o644)
      const open = yield* build({ certFile, keyFile })
      expect(open._tag).toBe("InvalidArgument")
      expect(open.message).toMatch(/chmod 600/)
      fs.chmodSync(keyFile, 0o600)
      expect((yield* build({ certFile }))._tag).toBe("InvalidArgument")
      const mismatched = yield* build({ certFile, key: fs.readFileSync(certFile) })
      expect(mismatched._tag).toBe("InvalidArgument")
    }).pipe(Effect.scoped))
})
