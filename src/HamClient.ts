/**
 * The remote HAM's client: a layer that provides the `Ham` service over a connection to a
 * `HamServer`, so that code reads the same against a local HAM and a remote one:
 *
 * ```ts
 * const program = Effect.gen(function*() {
 *   const web = yield* Ham.attach(Entity.process("web", Command.make("node", "server.js")))
 *   yield* Ham.condition(web, CondDeath).pipe(Ham.restart)
 *   yield* Ham.events(web).pipe(Stream.take(3), Stream.runForEach(Console.log))
 * })
 * program.pipe(Effect.provide(HamClient.layer({ tcp: { port: 7410 }, auth: { tokenEnv: "HAM_TOKEN" } })))
 * ```
 *
 * Every operation of `Ham` works remotely, with its own errors, except what is local to a process:
 * a fiber entity, `Action.effect` and `Action.notify` (code and queues of this process), a custom
 * back-off `Schedule`, and `Ham.attachSelf` fail with `InvalidArgument` before anything is sent;
 * `Ham.heartbeat` of a remote handle does nothing (a child heartbeats through its notify channel).
 * `Ham.events` and `Ham.subscribe` stream the remote HAM's events (a subscriber that falls behind
 * loses its oldest events, as locally).
 *
 * The layer connects, and checks that the server answers, speaks this protocol and takes the
 * token, before it is built: it fails with `HamUnreachable` or `Unauthorized` otherwise. When the
 * connection is lost later, the calls made meanwhile die with `HamUnreachable` (the `Ham`
 * service's operations have no transport error) and the client connects again in the background.
 *
 * @since 0.1.0
 * @module
 */
import type * as Duration from "effect/Duration"
import type * as Layer from "effect/Layer"
import type { HamUnreachable, InvalidArgument, Unauthorized } from "./HamError.js"
import type { TokenSource } from "./HamServer.js"
import type { Ham } from "./internal/ham/tag.js"
import * as internal from "./internal/remote/client.js"

/**
 * The options of `HamClient.layer`: exactly one of `tcp` (a port, on `host`, default
 * `127.0.0.1`) and `unix` (a socket path); the token (TCP); `tls`, to speak TLS to a server that
 * listens with it (see `ClientTls`); the frames (`ndjson`, the default,
 * or `msgpack`); how long the handshake may take (5 seconds); the longest frame accepted from the
 * server (64 MiB); how many undelivered events a `Ham.subscribe` queue keeps (4096).
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientOptions {
  readonly tcp?: { readonly port: number; readonly host?: string | undefined } | undefined
  readonly unix?: string | undefined
  readonly auth?: TokenSource | undefined
  readonly tls?: ClientTls | undefined
  readonly serialization?: "msgpack" | "ndjson" | undefined
  readonly connectTimeout?: Duration.DurationInput | undefined
  readonly maxFrameBytes?: number | undefined
  readonly eventBuffer?: number | undefined
}

/**
 * TLS to the server (TCP only): its certificate is checked against `ca` (PEM, given or read from
 * `caFile`; the system's CAs when neither is given) and against `servername` (by default the
 * host: a name, or an address the certificate lists). The check cannot be turned off; the token
 * is still sent, inside TLS.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientTls {
  readonly ca?: string | Uint8Array | undefined
  readonly caFile?: string | undefined
  readonly servername?: string | undefined
}

/**
 * The `Ham` service of a remote HAM (see the module's doc).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: (options: ClientOptions) => Layer.Layer<Ham, InvalidArgument | Unauthorized | HamUnreachable> =
  internal.layer
