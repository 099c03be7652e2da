/**
 * The remote HAM's server: serves the `Ham` of its context to other processes with
 * `@effect/rpc`, so that a `HamClient` elsewhere uses it as its own (QNX `ham_connect` and the
 * `*_node` calls). Nothing listens unless asked:
 *
 * ```ts
 * const Served = HamServer.layer({
 *   listen: { unix: "/run/user/1000/ham/ham.sock", tcp: { port: 7410 } },
 *   auth: { tokenFile: "/home/me/.config/ham/token" }
 * }).pipe(Layer.provideMerge(HamLive))
 * ```
 *
 * Security:
 * - A Unix socket is its owner's only: the socket file is made mode 0600, in a directory that is
 *   made (mode 0700) or must be private already (this user's, mode 0700 or stricter). Its calls
 *   need no token.
 * - TCP binds to loopback (`127.0.0.1`) unless `host` says otherwise, and every call must carry the
 *   token (`auth`: the token itself, a file only its owner may read, or an environment variable):
 *   it is compared in constant time, and a call without it, or with another, fails with
 *   `Unauthorized` before it reaches the HAM, and changes nothing. A TCP listener without a token
 *   is refused (`InvalidArgument`). There is no TLS yet: beyond loopback the token and the calls
 *   travel in clear text (the server logs a warning).
 * - Every payload is decoded with its request's Schema (`InvalidArgument` otherwise); fiber
 *   entities and `Action.effect` cannot be sent (they are local code).
 * - Per-connection limits (`limits`): connections open at once, frame size, calls in flight,
 *   unread responses, idle and authentication timeouts, refused calls. A peer that breaks one is
 *   disconnected; the server goes on serving the others.
 *
 * The frames are msgpack or ndjson (the server takes either, per connection; see `HamClient`).
 *
 * @since 0.1.0
 * @module
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import type { InvalidArgument, ListenFailed } from "./HamError.js"
import type { Ham } from "./internal/ham/make.js"
import * as auth from "./internal/remote/auth.js"
import * as internal from "./internal/remote/server.js"

/**
 * Where a token comes from: at most one of `token` (the token itself), `tokenFile` (a file that
 * only its owner, this user, may read or write: mode 0600 or stricter; its content trimmed) and
 * `tokenEnv` (the name of an environment variable). A token has 16 to 1024 printable ASCII
 * characters, no spaces (`HamServer.generateToken` makes one).
 *
 * @since 0.1.0
 * @category models
 */
export interface TokenSource {
  readonly token?: string | Redacted.Redacted<string> | undefined
  readonly tokenFile?: string | undefined
  readonly tokenEnv?: string | undefined
}

/**
 * The limits of each connection (defaults in parentheses). A connection that breaks one is
 * closed; the server goes on.
 *
 * @since 0.1.0
 * @category models
 */
export interface Limits {
  /** connections open at once (256); more are closed as soon as accepted */
  readonly maxConnections?: number | undefined
  /** the longest frame a client may send, in bytes (256 KiB) */
  readonly maxFrameBytes?: number | undefined
  /** calls of one connection running at once (256) */
  readonly maxInFlight?: number | undefined
  /**
   * responses a connection has not read, in bytes (16 MiB); reading from it pauses at 1 MiB
   */
  readonly maxPendingWriteBytes?: number | undefined
  /** a connection that sends nothing for this long is closed (60 seconds; clients ping every 10) */
  readonly idleTimeout?: Duration.DurationInput | undefined
  /** a TCP connection that makes no authorized call within this is closed (10 seconds) */
  readonly authTimeout?: Duration.DurationInput | undefined
  /** a TCP connection whose calls were refused this many times is closed (3) */
  readonly maxAuthFailures?: number | undefined
}

/**
 * TLS for the TCP listener: the server's certificate chain and its private key, each in PEM,
 * given (`cert`, `key`) or read from a file (`certFile`, `keyFile`; the key's file must be its
 * owner's only, mode 0600). TLS 1.2 or later; a handshake not done within `limits.authTimeout`
 * closes the connection.
 *
 * @since 0.1.0
 * @category models
 */
export interface ServerTls {
  readonly cert?: string | Uint8Array | undefined
  readonly certFile?: string | undefined
  readonly key?: string | Uint8Array | undefined
  readonly keyFile?: string | undefined
}

/**
 * The options of `HamServer.layer`: where to listen (`tcp`: a port, on `host`, default
 * `127.0.0.1`; port 0 lets the system pick; `tls` to speak TLS on it; `unix`: a socket path), the
 * token TCP calls must carry, and the connections' limits.
 *
 * @since 0.1.0
 * @category models
 */
export interface ServerOptions {
  readonly listen: {
    readonly tcp?:
      | {
        readonly port: number
        readonly host?: string | undefined
        readonly tls?: ServerTls | undefined
      }
      | undefined
    readonly unix?: string | undefined
  }
  readonly auth?: TokenSource | undefined
  readonly limits?: Limits | undefined
}

/**
 * What a connection counter of the server says: connections accepted and open, refused (the
 * server was full), and closed by the server, by reason (`idle`, `unauthenticated`,
 * `authFailures`, `malformed`, `oversized`, `inFlight`, `backlog`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  readonly accepted: number
  readonly open: number
  readonly refused: number
  readonly closed: Readonly<
    Record<"idle" | "unauthenticated" | "authFailures" | "malformed" | "oversized" | "inFlight" | "backlog", number>
  >
}

/**
 * A running server: the addresses it listens on (the TCP port the system picked, for port 0;
 * the Unix socket's absolute path) and its connection counts.
 *
 * @since 0.1.0
 * @category models
 */
export interface HamServerService {
  readonly tcp: Option.Option<{ readonly host: string; readonly port: number }>
  readonly unix: Option.Option<string>
  readonly stats: Effect.Effect<Stats>
}

/**
 * The server's tag.
 *
 * @since 0.1.0
 * @category tags
 */
export const HamServer: typeof internal.HamServer = internal.HamServer

/**
 * @since 0.1.0
 * @category tags
 */
export type HamServer = internal.HamServer

/**
 * Serves the `Ham` of the context on the listeners asked for, until the layer's scope closes
 * (then the listeners stop, every connection is closed and the socket file removed). Fails with
 * `ListenFailed` (the address is in use, the socket's directory is not private, ...) or
 * `InvalidArgument` (a TCP listener without a token, a token file others may read, a bad limit).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: (options: ServerOptions) => Layer.Layer<HamServer, InvalidArgument | ListenFailed, Ham> =
  internal.layer

/**
 * A new random token: 32 random bytes, base64url.
 *
 * @since 0.1.0
 * @category constructors
 */
export const generateToken: () => Redacted.Redacted<string> = auth.generateToken

/**
 * The token of a token file, which is made first when it does not exist (a new random token,
 * mode 0600). A file others may read or write, or of another user, fails with `InvalidArgument`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const tokenFile: (path: string) => Effect.Effect<Redacted.Redacted<string>, InvalidArgument> =
  auth.ensureTokenFile
