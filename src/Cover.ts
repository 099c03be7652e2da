/**
 * The client side of high availability, after the reference's client recovery library (`ha_attach`,
 * `ha_open`, ...): a resource whose recoverable failures are repaired by a recovery function,
 * after which the failed operation runs again, so that the caller sees success instead of an
 * error. Any Effect-acquired resource can be covered (a socket, a client, a file handle).
 *
 * ```ts
 * const conn = yield* Cover.make({
 *   acquire: connect(port),                            // scoped: released when replaced
 *   recover: (old, failure) => reconnectAndReplay(old), // default: acquire again
 * })
 * const reply = yield* conn.use((socket) => request(socket, "GET /"))
 * ```
 *
 * - Which failures are recovered: `isRecoverable` (default: an error, or its cause, with the code
 *   `EBADF`, `ESTALE`, `EPIPE`, `ECONNRESET`, `ECONNREFUSED`, `ECONNABORTED`, `ENOTCONN`,
 *   `ERR_STREAM_DESTROYED` or `ERR_SOCKET_CLOSED`). Any other failure passes through untouched.
 * - The recovery function is retried by `schedule` (default: 10 ms doubling to 1 s, 10 attempts
 *   in all); when it gives up, the operation fails with `RecoveryFailed` (the failure that broke
 *   the resource and the recovery's last failure), and the next operation tries again.
 * - One operation is run again at most `retries` times (default 3).
 * - Fiber-safe: the fibers that fail on one broken resource share one recovery, and all of them
 *   run again on the new resource. Interruption-safe: the recovery runs in a fiber of the cover's
 *   own, so interrupting a caller leaks nothing and the cover stays usable.
 * - Observable: `stats` (recoveries, failed recoveries, retries, generation) and `recoveries`, a
 *   `Stream` of recovery events. The recovery function can be replaced with `setRecover`.
 * - Controlled (`ha_connection_ctrl`): `Cover.control` suspends and resumes recovery, limits the
 *   recoveries and the attempts of one, resets their counts and replaces the recovery function.
 *
 * @since 0.1.0
 * @module
 */
import type * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import type { Pipeable } from "effect/Pipeable"
import type * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { Controllable } from "./CoverLayers.js"
import type { InvalidArgument } from "./HamError.js"
import * as file from "./internal/cover-file.js"
import * as net from "./internal/cover-net.js"
import * as internal from "./internal/cover.js"

export * from "./CoverLayers.js"

/**
 * A covered resource. `EOp` is the resource's error type: what its operations fail with, and
 * what `isRecoverable` is given (default `unknown`: any failure).
 *
 * @since 0.1.0
 * @category models
 */
export interface Cover<A, EOp = unknown> extends Pipeable, Controllable<RecoverFn<A>> {
  /** runs an operation on the resource; a recoverable failure is recovered and the operation run again */
  readonly use: <B, E extends EOp, R>(
    f: (resource: A) => Effect.Effect<B, E, R>
  ) => Effect.Effect<B, E | RecoveryFailed | CoverClosed, R>
  /** the current resource */
  readonly get: Effect.Effect<A, CoverClosed>
  /** replaces the recovery function from now on */
  readonly setRecover: (recover: RecoverFn<A>) => Effect.Effect<void>
  /** recovers now, as if an operation had failed with `reason` (a reopen) */
  readonly recoverNow: (reason: unknown) => Effect.Effect<void, RecoveryFailed | CoverClosed>
  /** recoveries, failed recoveries, retries, generation */
  readonly stats: Effect.Effect<CoverStats>
  /** the recoveries, as they happen */
  readonly recoveries: Stream.Stream<RecoveryEvent>
  /** releases the current resource; later operations fail with CoverClosed */
  readonly close: Effect.Effect<void>
}

/**
 * A recovery function: the broken resource and the failure that broke it → a new resource,
 * acquired in the scope it is given (released when it is replaced in turn).
 *
 * @since 0.1.0
 * @category models
 */
export type RecoverFn<A> = (old: A, failure: unknown) => Effect.Effect<A, unknown, Scope.Scope>

/**
 * Options of `Cover.make`.
 *
 * @since 0.1.0
 * @category models
 */
export interface CoverOptions<A, E, R, EOp = unknown> {
  /** acquires the first resource; its finalizers run when it is replaced or the cover closes */
  readonly acquire: Effect.Effect<A, E, R>
  /** makes a new resource from the broken one (default: `acquire` again) */
  readonly recover?: RecoverFn<A> | undefined
  /**
   * Which failures of an operation are recovered (default: `Cover.isRecoverable`). Its parameter
   * type is the resource's error type: `use` then takes only operations that fail with it.
   */
  readonly isRecoverable?: ((error: EOp) => boolean) | undefined
  /** how the recovery function is retried (default: `defaultSchedule`) */
  readonly schedule?: Schedule.Schedule<unknown> | undefined
  /** how many times one operation is run again after recoveries (default 3) */
  readonly retries?: number | undefined
}

/**
 * What a cover reports of its recoveries: a new resource (its generation, 1 for the first
 * replacement), or a recovery that gave up.
 *
 * @since 0.1.0
 * @category models
 */
export type RecoveryEvent =
  | { readonly _tag: "Recovered"; readonly generation: number; readonly attempts: number; readonly failure: string }
  | {
    readonly _tag: "RecoveryFailed"
    readonly generation: number
    readonly attempts: number
    readonly failure: string
  }

/**
 * The counters of a cover.
 *
 * @since 0.1.0
 * @category models
 */
export interface CoverStats {
  /** recoveries that gave a new resource */
  readonly recoveries: number
  /** recoveries that gave up */
  readonly failedRecoveries: number
  /** operations run again after a recovery */
  readonly retries: number
  /** the generation of the current resource (0: the first one) */
  readonly generation: number
}

/**
 * The recovery gave up: the operation fails with the failure that broke the resource and the
 * recovery's last failure.
 *
 * @since 0.1.0
 * @category errors
 */
export const RecoveryFailed: typeof internal.RecoveryFailed = internal.RecoveryFailed

/**
 * @since 0.1.0
 * @category errors
 */
export type RecoveryFailed = internal.RecoveryFailed

/**
 * The cover was closed.
 *
 * @since 0.1.0
 * @category errors
 */
export const CoverClosed: typeof internal.CoverClosed = internal.CoverClosed

/**
 * @since 0.1.0
 * @category errors
 */
export type CoverClosed = internal.CoverClosed

/**
 * Covers a resource: acquires it now (in the caller's scope, which also ends the cover). Fails
 * with `InvalidArgument` for an option it does not know or a bad value, before acquiring.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: <A, E, R, EOp = unknown>(
  options: CoverOptions<A, E, R, EOp>
) => Effect.Effect<Cover<A, EOp>, E | InvalidArgument, Exclude<R, Scope.Scope> | Scope.Scope> = internal.make

/**
 * The default test of recoverable failures (see the module's description).
 *
 * @since 0.1.0
 * @category predicates
 */
export const isRecoverable: (error: unknown) => boolean = internal.isRecoverableDefault

/**
 * The default schedule of recovery attempts.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultSchedule: Schedule.Schedule<unknown> = internal.defaultSchedule

/**
 * One connection of a line protocol: a request is a line, its answer is a line.
 *
 * @since 0.1.0
 * @category models
 */
export interface LineConnection {
  /** sends a line, and waits for the line that answers it */
  readonly request: (line: string) => Effect.Effect<string, Error>
  /** sends a line (no answer expected) */
  readonly send: (line: string) => Effect.Effect<void, Error>
}

/**
 * Options of `Cover.connect`: where to connect (`host` default 127.0.0.1), what to `replay` on
 * every new connection, and the cover's `schedule`, `isRecoverable` and `retries`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConnectOptions {
  readonly host?: string | undefined
  readonly port: number
  /** run on every new connection after a recovery (replay a handshake or the session's state) */
  readonly replay?: ((connection: LineConnection) => Effect.Effect<unknown, unknown>) | undefined
  readonly schedule?: Schedule.Schedule<unknown> | undefined
  readonly isRecoverable?: ((error: unknown) => boolean) | undefined
  readonly retries?: number | undefined
}

/**
 * A covered TCP connection: `request(line)` and `send(line)` run on the current connection, and
 * are run again on a new one after a recovery; with the other members of a `Cover`.
 *
 * @since 0.1.0
 * @category models
 */
export interface CoverConnection extends Cover<LineConnection> {
  readonly request: (line: string) => Effect.Effect<string, Error | RecoveryFailed | CoverClosed>
  readonly send: (line: string) => Effect.Effect<void, Error | RecoveryFailed | CoverClosed>
}

/**
 * A TCP connection (line protocol) that recovers when its server dies or restarts: a broken
 * connection (reset, closed, refused while the server restarts) is replaced by a new one, on
 * which the recovery function (`recover`, or `options.replay`) runs first (a handshake, the session's state: the client keeps what it needs),
 * and the failed request is sent again. The default schedule retries the connection for about
 * ten seconds.
 *
 * ```ts
 * let offset = 0
 * const files = yield* Cover.connect({ port }, (c) => c.request(`SEEK ${offset}`))
 * const data = yield* files.request("READ 15")
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const connect: (
  options: ConnectOptions,
  recover?: (connection: LineConnection) => Effect.Effect<unknown, unknown>
) => Effect.Effect<CoverConnection, Error, Scope.Scope> = net.connect

/**
 * A covered file handle: reads and writes at its own offset; see `open`.
 *
 * @since 0.1.0
 * @category models
 */
export interface CoverFile extends Pipeable, Controllable<FileRecoverFn> {
  /** the current descriptor */
  readonly fd: Effect.Effect<number, CoverClosed>
  readonly offset: Effect.Effect<number>
  /** reads up to `length` bytes at the offset, and moves it on */
  readonly read: (length: number) => Effect.Effect<Uint8Array, Error | RecoveryFailed | CoverClosed>
  /** writes at the offset, and moves it on; the number of bytes written */
  readonly write: (data: Uint8Array | string) => Effect.Effect<number, Error | RecoveryFailed | CoverClosed>
  /** moves the offset; the new offset */
  readonly seek: (
    offset: number,
    whence?: "start" | "current" | "end"
  ) => Effect.Effect<number, Error | RecoveryFailed | CoverClosed>
  /** a second handle on the same open file: the same offset and the same recovery */
  readonly dup: Effect.Effect<CoverFile, CoverClosed>
  /** opens the file again now (at `path`, by default the same one), keeping the offset */
  readonly reopen: (path?: string) => Effect.Effect<void, RecoveryFailed | CoverClosed>
  /** closes this handle; the descriptor is closed with the last handle */
  readonly close: Effect.Effect<void>
  readonly setRecover: (recover: FileRecoverFn) => Effect.Effect<void>
  readonly stats: Effect.Effect<CoverStats>
  readonly recoveries: Stream.Stream<RecoveryEvent>
}

/**
 * What a file's recovery function is given: the descriptor that failed, the path, the flags and
 * the handle's offset.
 *
 * @since 0.1.0
 * @category models
 */
export interface FileState {
  /** the descriptor that failed */
  readonly fd: number
  readonly path: string
  readonly flags: string
  /** the handle's offset: where the next read or write goes */
  readonly offset: number
}

/**
 * A file's recovery function: the state → a new descriptor (closed by the cover when replaced).
 *
 * @since 0.1.0
 * @category models
 */
export type FileRecoverFn = (state: FileState) => Effect.Effect<number, unknown>

/**
 * Options of `Cover.open`: the cover's `schedule`, `isRecoverable` and `retries`.
 *
 * @since 0.1.0
 * @category models
 */
export interface OpenOptions {
  readonly schedule?: Schedule.Schedule<unknown> | undefined
  readonly isRecoverable?: ((error: unknown) => boolean) | undefined
  readonly retries?: number | undefined
}

/**
 * Opens a file as a covered handle (`ha_open`). When its descriptor goes bad or stale (EBADF,
 * ESTALE, ... by default), `recover` (default: open the same path again, with the same flags, but
 * "w..." becomes "r+" so that a reopen never truncates what was written) gets the
 * old descriptor and the handle's state and returns a new descriptor; the failed read or write
 * runs again from the same offset. The handle is closed with the scope, or by `close`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const open: (
  path: string,
  flags?: string,
  recover?: FileRecoverFn,
  options?: OpenOptions
) => Effect.Effect<CoverFile, Error, Scope.Scope> = file.open

/**
 * Opens a covered file again now (`ha_reopen`), at `path` (default: its own), keeping its offset
 * and its handles. Data-first (`Cover.reopen(file, path?)`) or data-last
 * (`file.pipe(Cover.reopen(path?))`).
 *
 * @since 0.1.0
 * @category combinators
 */
export const reopen: {
  (path?: string): (handle: CoverFile) => Effect.Effect<void, RecoveryFailed | CoverClosed>
  (handle: CoverFile, path?: string): Effect.Effect<void, RecoveryFailed | CoverClosed>
} = dual(
  (args) => isHandle(args[0]),
  (handle: CoverFile, path?: string): Effect.Effect<void, RecoveryFailed | CoverClosed> => handle.reopen(path)
)

/**
 * A second handle on the same covered file (`ha_dup`): the same offset and the same recovery.
 *
 * @since 0.1.0
 * @category combinators
 */
export const dup = (handle: CoverFile): Effect.Effect<CoverFile, CoverClosed> => handle.dup

/**
 * Closes a covered handle (`ha_close`) or a cover: later operations on it fail with
 * `CoverClosed`; a file's descriptor is closed with its last handle.
 *
 * @since 0.1.0
 * @category combinators
 */
export const close = (self: { readonly close: Effect.Effect<void> }): Effect.Effect<void> => self.close

// ---------------------------------------------------------------------------------------------
// the members of covers as module functions (dual: data-first, or data-last in a pipe)
// ---------------------------------------------------------------------------------------------

/** a cover or a covered handle (not a path, a length, an offset or a function) */
const isHandle = (u: unknown): boolean => typeof u === "object" && u !== null

/**
 * Runs an operation on the covered resource (`cover.use(f)`): a recoverable failure is recovered
 * and the operation run again.
 *
 * @since 0.1.0
 * @category combinators
 */
export const use: {
  <A, B, E, R>(
    f: (resource: A) => Effect.Effect<B, E, R>
  ): <EOp>(self: Cover<A, EOp>) => Effect.Effect<B, E | RecoveryFailed | CoverClosed, R>
  <A, EOp, B, E extends EOp, R>(
    self: Cover<A, EOp>,
    f: (resource: A) => Effect.Effect<B, E, R>
  ): Effect.Effect<B, E | RecoveryFailed | CoverClosed, R>
} = dual(2, <A, B, E, R>(self: Cover<A>, f: (resource: A) => Effect.Effect<B, E, R>) => self.use(f))

/**
 * The current resource of a cover (`cover.get`).
 *
 * @since 0.1.0
 * @category getters
 */
export const get = <A>(self: Cover<A, any>): Effect.Effect<A, CoverClosed> => self.get

/**
 * Replaces the recovery function of a cover or a covered file from now on (`setRecover`).
 *
 * @since 0.1.0
 * @category combinators
 */
export const setRecover: {
  <F>(recover: F): (self: { readonly setRecover: (recover: F) => Effect.Effect<void> }) => Effect.Effect<void>
  <F>(self: { readonly setRecover: (recover: F) => Effect.Effect<void> }, recover: F): Effect.Effect<void>
} = dual(
  2,
  <F>(self: { readonly setRecover: (recover: F) => Effect.Effect<void> }, recover: F) => self.setRecover(recover)
)

/**
 * Recovers a cover now, as if an operation had failed with `reason` (`cover.recoverNow`).
 *
 * @since 0.1.0
 * @category combinators
 */
export const recoverNow: {
  (reason: unknown): (self: Cover<any, any>) => Effect.Effect<void, RecoveryFailed | CoverClosed>
  (self: Cover<any, any>, reason: unknown): Effect.Effect<void, RecoveryFailed | CoverClosed>
} = dual(2, (self: Cover<any, any>, reason: unknown) => self.recoverNow(reason))

/**
 * The statistics of a cover or a covered file (`stats`).
 *
 * @since 0.1.0
 * @category getters
 */
export const stats = (self: { readonly stats: Effect.Effect<CoverStats> }): Effect.Effect<CoverStats> => self.stats

/**
 * The recoveries of a cover or a covered file, as they happen (`recoveries`).
 *
 * @since 0.1.0
 * @category getters
 */
export const recoveries = (self: { readonly recoveries: Stream.Stream<RecoveryEvent> }): Stream.Stream<RecoveryEvent> =>
  self.recoveries

/**
 * Sends a line on a covered connection and reads the reply line (`connection.request`).
 *
 * @since 0.1.0
 * @category combinators
 */
export const request: {
  (line: string): (self: CoverConnection) => Effect.Effect<string, Error | RecoveryFailed | CoverClosed>
  (self: CoverConnection, line: string): Effect.Effect<string, Error | RecoveryFailed | CoverClosed>
} = dual(2, (self: CoverConnection, line: string) => self.request(line))

/**
 * Sends a line on a covered connection, expecting no reply (`connection.send`).
 *
 * @since 0.1.0
 * @category combinators
 */
export const send: {
  (line: string): (self: CoverConnection) => Effect.Effect<void, Error | RecoveryFailed | CoverClosed>
  (self: CoverConnection, line: string): Effect.Effect<void, Error | RecoveryFailed | CoverClosed>
} = dual(2, (self: CoverConnection, line: string) => self.send(line))

/**
 * Reads up to `length` bytes of a covered file at its offset, and moves it on (`file.read`).
 *
 * @since 0.1.0
 * @category combinators
 */
export const read: {
  (length: number): (self: CoverFile) => Effect.Effect<Uint8Array, Error | RecoveryFailed | CoverClosed>
  (self: CoverFile, length: number): Effect.Effect<Uint8Array, Error | RecoveryFailed | CoverClosed>
} = dual(2, (self: CoverFile, length: number) => self.read(length))

/**
 * Writes to a covered file at its offset, and moves it on; the number of bytes written
 * (`file.write`).
 *
 * @since 0.1.0
 * @category combinators
 */
export const write: {
  (data: Uint8Array | string): (self: CoverFile) => Effect.Effect<number, Error | RecoveryFailed | CoverClosed>
  (self: CoverFile, data: Uint8Array | string): Effect.Effect<number, Error | RecoveryFailed | CoverClosed>
} = dual(2, (self: CoverFile, data: Uint8Array | string) => self.write(data))

/**
 * Moves the offset of a covered file; the new offset (`file.seek`).
 *
 * @since 0.1.0
 * @category combinators
 */
export const seek: {
  (
    offset: number,
    whence?: "start" | "current" | "end"
  ): (self: CoverFile) => Effect.Effect<number, Error | RecoveryFailed | CoverClosed>
  (
    self: CoverFile,
    offset: number,
    whence?: "start" | "current" | "end"
  ): Effect.Effect<number, Error | RecoveryFailed | CoverClosed>
} = dual(
  (args) => isHandle(args[0]),
  (self: CoverFile, offset: number, whence?: "start" | "current" | "end") => self.seek(offset, whence)
)

/**
 * One uncovered line connection (closed with the scope): what `connect` covers.
 *
 * @since 0.1.0
 * @category constructors
 */
export const connectLines: (host: string, port: number) => Effect.Effect<LineConnection, Error, Scope.Scope> =
  net.connectLines
