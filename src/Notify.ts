/**
 * The client side of the HAM's notify channel, for Node children supervised as process
 * entities (the protocol, for any language, is in `docs/notify-protocol.md`).
 *
 * The HAM gives each child process the path of a Unix socket in `HAM_NOTIFY_SOCKET` and its
 * entity name in `HAM_ENTITY`. The functions here send one line each: `ready` (`READY=1`: the
 * service is up, what a `waitfor` of the entity's readiness waits for), `watchdog`
 * (`WATCHDOG=1`: a heartbeat), `state(n)` (`STATE=n`: `Ham.publishState`), `raise(...)`
 * (`RAISE=t,c,s,detail`: `Ham.raise`) and `status(text)` (`STATUS=text`: logged).
 *
 * Transport: the socket when `HAM_NOTIFY_SOCKET` is set (one connection, opened at the first
 * message, re-opened if it broke, and never keeping the process alive on its own); otherwise
 * Node IPC (`process.send({ ham: "WATCHDOG=1" })`) when the process has an IPC channel and
 * `HAM_ENTITY` is set; otherwise nothing: every function is a no-op, so the application runs
 * unsupervised too.
 *
 * The functions use the `Notifier` in the context when there is one (`Notify.layer`,
 * `Notify.layerClient({ path })` for an explicit socket path), else a process-wide client read
 * from the environment.
 *
 * @example
 * ```ts
 * import * as Notify from "effect-ham/Notify"
 * import { Effect, Schedule } from "effect"
 *
 * const main = Effect.gen(function*() {
 *   yield* startServer
 *   yield* Notify.ready
 *   yield* Notify.watchdog.pipe(Effect.ignore, Effect.repeat(Schedule.spaced("1 second")), Effect.forkScoped)
 * })
 * ```
 *
 * @since 0.1.0
 * @module
 */
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as Ham from "./Ham.js"
import * as internal from "./internal/notify/client.js"
import * as protocol from "./internal/notify/protocol.js"
import type { NotifyError } from "./internal/notify/protocol.js"

export {
  /**
   * A client-side failure: `reason` is `"InvalidArgument"` (for example a negative state) or
   * `"Unavailable"` (the HAM's socket or IPC channel cannot be reached).
   *
   * @since 0.1.0
   * @category errors
   */
  NotifyError
} from "./internal/notify/protocol.js"

/**
 * The environment variable that holds the notify socket path: `HAM_NOTIFY_SOCKET`.
 *
 * @since 0.1.0
 * @category models
 */
export const EnvSocket: "HAM_NOTIFY_SOCKET" = protocol.EnvSocket

/**
 * The environment variable that holds the entity name: `HAM_ENTITY`.
 *
 * @since 0.1.0
 * @category models
 */
export const EnvEntity: "HAM_ENTITY" = protocol.EnvEntity

/**
 * The longest protocol line, in bytes (4096). Longer free text is cut by this client.
 *
 * @since 0.1.0
 * @category models
 */
export const MaxLineBytes: number = protocol.MaxLineBytes

/**
 * A message of the protocol: `Ready`, `Watchdog`, `State { state }`,
 * `Raise { type, class, severity, detail }`, `Status { text }`, or `Unknown { key, value }` for
 * a key this version does not know.
 *
 * @since 0.1.0
 * @category models
 */
export type NotifyMessage = protocol.NotifyMessage

/**
 * What `Notify.raise` takes: non-negative integers `type`, `class`, `severity`, and free text
 * `detail` (default empty; newlines become spaces). The same as `Ham.raise` takes.
 *
 * @since 0.1.0
 * @category models
 */
export type RaiseInput = Ham.RaiseInput

/**
 * How a client reaches the HAM: `"socket"`, `"ipc"` or `"none"` (unsupervised: messages are
 * dropped).
 *
 * @since 0.1.0
 * @category models
 */
export type Transport = "socket" | "ipc" | "none"

/**
 * A notify client: its transport and `send`.
 *
 * @since 0.1.0
 * @category models
 */
export interface NotifyClient {
  /** `socket` when a socket path is known, else `ipc` when supervised over Node IPC, else `none` */
  readonly transport: Transport
  /** sends one message; a no-op with transport `none` */
  readonly send: (message: NotifyMessage) => Effect.Effect<void, NotifyError>
}

/**
 * Options of a client: `path` (default `process.env.HAM_NOTIFY_SOCKET`) and `ipc` (use Node IPC
 * when no socket path is known; default `true`).
 *
 * @since 0.1.0
 * @category models
 */
export interface NotifyClientOptions {
  /** the socket path; default: `process.env.HAM_NOTIFY_SOCKET` */
  readonly path?: string | undefined
  /**
   * when no socket path is known, send `{ ham: line }` with `process.send` if the process has an
   * IPC channel and `HAM_ENTITY` is set; default `true`
   */
  readonly ipc?: boolean | undefined
}

/**
 * The notify client service tag. Optional: without it the functions of this module use a
 * process-wide client read from the environment.
 *
 * @since 0.1.0
 * @category tags
 */
export const Notifier: typeof internal.Notifier = internal.Notifier

/**
 * @since 0.1.0
 * @category tags
 */
export type Notifier = internal.Notifier

/**
 * Makes a client whose connection (opened at the first message) closes with the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options?: NotifyClientOptions) => Effect.Effect<NotifyClient, never, Scope.Scope> =
  internal.makeClient

/**
 * The `Notifier` read from the environment (`HAM_NOTIFY_SOCKET`, IPC, or none), its connection
 * closed with the layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Notifier> = internal.layer

/**
 * A `Notifier` with explicit options, for example `{ path }` in tests or for a socket path that
 * does not come from the environment.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerClient: (options: NotifyClientOptions) => Layer.Layer<Notifier> = internal.layerClient

/**
 * Sends one message.
 *
 * @since 0.1.0
 * @category actions
 */
export const send: (message: NotifyMessage) => Effect.Effect<void, NotifyError> = internal.send

/**
 * `READY=1`: the service finished starting up and serves (what the HAM's `waitfor` of the
 * entity's readiness waits for).
 *
 * @since 0.1.0
 * @category actions
 */
export const ready: Effect.Effect<void, NotifyError> = internal.ready

/**
 * `WATCHDOG=1`: a heartbeat, counted against the entity's heartbeat options. Repeat it at
 * least once per heartbeat interval.
 *
 * @since 0.1.0
 * @category actions
 */
export const watchdog: Effect.Effect<void, NotifyError> = internal.watchdog

/**
 * `STATE=n`: publishes a state (a non-negative integer), as `Ham.publishState` does.
 *
 * @since 0.1.0
 * @category actions
 */
export const state: (state: number) => Effect.Effect<void, NotifyError> = internal.state

/**
 * `RAISE=type,class,severity[,detail]`: raises a condition on the entity, as `Ham.raise` does.
 *
 * @since 0.1.0
 * @category actions
 */
export const raise: (input: RaiseInput) => Effect.Effect<void, NotifyError> = internal.raise

/**
 * `STATUS=text`: free text the HAM writes to its log (newlines become spaces).
 *
 * @since 0.1.0
 * @category actions
 */
export const status: (text: string) => Effect.Effect<void, NotifyError> = internal.status

/**
 * The client in use: the `Notifier` in the context, else the process-wide one.
 *
 * @since 0.1.0
 * @category getters
 */
export const client: Effect.Effect<NotifyClient> = internal.client

/**
 * The entity name the HAM gave this process (`HAM_ENTITY`), if any.
 *
 * @since 0.1.0
 * @category getters
 */
export const entity: Effect.Effect<Option.Option<string>> = internal.entity
