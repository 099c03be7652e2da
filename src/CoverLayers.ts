/**
 * The control of covers and the drop-in covers (also exported by `Cover`, which is where they are
 * used: `Cover.control`, `Cover.layerFileSystem`, `Cover.layerHttpClient`).
 *
 * - `control` (the reference's `ha_connection_ctrl`): suspend and resume recovery, limit the
 *   recoveries and the attempts of one, reset their counts, replace the recovery function.
 * - The drop-in covers: the platform's services (`FileSystem`, `HttpClient`) over the ones in
 *   their context, whose resources recover, so that code written against them becomes HA-aware
 *   when a layer is swapped (the reference's cover functions replacing `read()`, `write()`).
 *
 * @since 0.1.0
 * @module
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpMethod from "@effect/platform/HttpMethod"
import type * as Socket from "@effect/platform/Socket"
import type * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import type * as Layer from "effect/Layer"
import type * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type { InvalidArgument } from "./HamError.js"
import * as controlInternal from "./internal/cover-control.js"
import * as fs from "./internal/cover-fs.js"
import * as http from "./internal/cover-http.js"
import * as socket from "./internal/cover-socket.js"
import type { CoverClosed } from "./internal/cover.js"

// ---------------------------------------------------------------------------------------------
// control (ha_connection_ctrl)
// ---------------------------------------------------------------------------------------------

/**
 * The key under which a covered thing holds its control (see `control`).
 *
 * @since 0.1.0
 * @category type ids
 */
export const ControlTypeId: unique symbol = controlInternal.ControlTypeId

/**
 * @since 0.1.0
 * @category type ids
 */
export type ControlTypeId = typeof ControlTypeId

/**
 * What `Cover.control` does (the reference's `ha_connection_ctrl` commands):
 *
 * - `"suspend"` (`HA_RECOVERY_SUSPEND`): no new recovery; a failure passes through as on a plain
 *   resource. `"resume"` (`HA_RECOVERY_ENABLE`) undoes it.
 * - `{ maxRecoveries }` (`HA_RECOVERY_ACOUNT`): how many recoveries may start (counted from the
 *   last `"resetRecoveries"`, `HA_RECOVERY_RESET_ACOUNT`); once reached, failures pass through.
 * - `{ maxAttempts }` (`HA_RECOVERY_ICOUNT`): how many times the recovery function may be tried
 *   for one failure, counted until a recovery succeeds or `"resetAttempts"`
 *   (`HA_RECOVERY_RESET_ICOUNT`); it caps the schedule, and once reached, failures pass through.
 *   Both limits take a non-negative integer or `"unlimited"` (the default).
 * - `{ setRecover }`: replaces the recovery function (the reference's `HAREPLACERECOVERYFN`).
 * - `"get"`: changes nothing.
 *
 * @since 0.1.0
 * @category models
 */
export type ControlOp<F> =
  | "get"
  | "suspend"
  | "resume"
  | "resetAttempts"
  | "resetRecoveries"
  | { readonly maxRecoveries: number | "unlimited" }
  | { readonly maxAttempts: number | "unlimited" }
  | { readonly setRecover: F }

/**
 * What `Cover.control` answers: the control's state after the operation.
 *
 * @since 0.1.0
 * @category models
 */
export interface ControlState {
  readonly suspended: boolean
  /** recoveries started since the last `"resetRecoveries"` */
  readonly recoveries: number
  readonly maxRecoveries: number | "unlimited"
  /** attempts of the recovery function since the last successful recovery or `"resetAttempts"` */
  readonly attempts: number
  readonly maxAttempts: number | "unlimited"
}

/**
 * A covered thing that `Cover.control` takes; `F` is its recovery function's type.
 *
 * @since 0.1.0
 * @category models
 */
export interface Controllable<F> {
  readonly [ControlTypeId]: (op: ControlOp<F>) => Effect.Effect<ControlState, InvalidArgument | CoverClosed>
}

/**
 * Controls the recovery of a cover, a covered file or connection, a file opened through
 * `Cover.layerFileSystem` or the client of `Cover.layerHttpClient` (the reference's
 * `ha_connection_ctrl`; see `ControlOp`), and answers
 * the control's state. An operation it does not know, or a target that is not covered, fails with
 * `InvalidArgument` and changes nothing; a closed cover fails with `CoverClosed`. An explicit
 * `reopen` or `recoverNow` recovers whatever the control says (and is counted).
 *
 * ```ts
 * yield* Cover.control(file, "suspend")                 // failures pass through
 * yield* file.pipe(Cover.control({ maxAttempts: 3 }))
 * const { recoveries } = yield* Cover.control(file, "get")
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const control: {
  <F>(
    op: ControlOp<F>
  ): (
    self: Controllable<F> | FileSystem.File | HttpClient.HttpClient | Socket.Socket
  ) => Effect.Effect<ControlState, InvalidArgument | CoverClosed>
  <F>(
    self: Controllable<F> | FileSystem.File | HttpClient.HttpClient | Socket.Socket,
    op: ControlOp<F>
  ): Effect.Effect<ControlState, InvalidArgument | CoverClosed>
} = dual(2, controlInternal.control)

// ---------------------------------------------------------------------------------------------
// drop-in layers: platform services whose resources recover
// ---------------------------------------------------------------------------------------------

/**
 * Options of `Cover.layerFileSystem`: those of `Cover.open` (`schedule`, `isRecoverable`,
 * `retries`), and when a file checks that its path still names it (`checkPath`):
 *
 * - `"atEnd"` (the default): when a read reaches the end of the file (reads 0 bytes), the moment a
 *   reader of a file replaced by a rename (or removed and created again) would otherwise stop;
 * - `"always"`: before every operation (an `fstat` and a `stat` more each);
 * - `"never"`.
 *
 * @since 0.1.0
 * @category models
 */
export interface FileSystemOptions {
  readonly schedule?: Schedule.Schedule<unknown> | undefined
  readonly isRecoverable?: ((error: unknown) => boolean) | undefined
  readonly retries?: number | undefined
  readonly checkPath?: "atEnd" | "always" | "never" | undefined
}

/**
 * What the recovery function of a file of `Cover.layerFileSystem` is given: its path, its open
 * flag and its offset (restored by the cover after the recovery).
 *
 * @since 0.1.0
 * @category models
 */
export interface FileSystemFileState {
  readonly path: string
  readonly flag: FileSystem.OpenFlag
  readonly offset: bigint
}

/**
 * The recovery function of a file of `Cover.layerFileSystem` (replaced with
 * `Cover.control(file, { setRecover })`): its state → a new `File`, opened in the scope it is given
 * (closed when it is replaced in turn). The cover then seeks it to the offset.
 *
 * @since 0.1.0
 * @category models
 */
export type FileSystemRecoverFn = (
  state: FileSystemFileState
) => Effect.Effect<FileSystem.File, unknown, Scope.Scope>

/**
 * A `FileSystem` whose open files recover: put it over the platform's (`NodeFileSystem.layer`), and
 * code that uses `FileSystem` becomes HA-aware unchanged. A file opened with `open` (and the
 * `stream` and `sink` built on it) is covered: when an operation fails recoverably (by default a
 * bad or stale descriptor, `EBADF`, `ESTALE`, ...) or the file is found replaced or removed under
 * its handle (`checkPath`; a stale handle, `ESTALE`), it is opened again by path (a file opened to
 * be written, without truncating it), seeked to the offset the handle had, and the operation runs
 * again. Every other method passes through to the underlying `FileSystem`.
 *
 * The files keep the platform's types: when the recovery gives up, the operation fails with a
 * `SystemError` whose `cause` is the `RecoveryFailed` (its `reason` is the last failure's: `NotFound`
 * when the path is gone). A file takes `Cover.control`. Bad options (an unknown key, a bad value)
 * fail the layer with `InvalidArgument`.
 *
 * ```ts
 * const covered = Cover.layerFileSystem({ retries: 3 }).pipe(Layer.provide(NodeFileSystem.layer))
 * program.pipe(Effect.provide(covered))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFileSystem: (
  options?: FileSystemOptions
) => Layer.Layer<FileSystem.FileSystem, InvalidArgument, FileSystem.FileSystem> = fs.layerFileSystem

/**
 * Options of `Cover.layerHttpClient`:
 *
 * - `methods`: the methods of the requests sent again after a transport failure: `"safe"` (the
 *   default: RFC 9110's safe methods, GET, HEAD and OPTIONS, which change nothing on the server),
 *   `"idempotent"` (PUT and DELETE too: RFC 9110's idempotent methods, which the RFC lets a client
 *   send again after a communication failure), `"all"` (POST and PATCH too), or a list. A request
 *   that never reached a server (the connection refused, the name not resolved) is sent again
 *   whatever its method.
 * - `schedule`: how the request is sent again (default `Cover.defaultSchedule`).
 * - `isRecoverable`: which failures (default: a `RequestError` of reason `Transport`: refused,
 *   reset, closed before the response).
 * - `recover`: run before each new sending (the reference's recovery function), e.g. to wait
 *   until the HAM reports the server up; its failures are ignored. Default: none (the new
 *   connection is the recovery).
 *
 * @since 0.1.0
 * @category models
 */
export interface HttpClientOptions {
  readonly methods?: "idempotent" | "safe" | "all" | ReadonlyArray<HttpMethod.HttpMethod> | undefined
  readonly schedule?: Schedule.Schedule<unknown> | undefined
  readonly isRecoverable?: ((error: HttpClientError.HttpClientError) => boolean) | undefined
  readonly recover?: HttpRecoverFn | undefined
}

/**
 * The recovery function of a covered `HttpClient`: the request and its last failure → an Effect
 * run before the request is sent again.
 *
 * @since 0.1.0
 * @category models
 */
export type HttpRecoverFn = (
  request: HttpClientRequest.HttpClientRequest,
  failure: unknown
) => Effect.Effect<unknown, unknown>

/**
 * An `HttpClient` over the one in its context (`NodeHttpClient.layer`) whose requests survive
 * their server's restart: a request that fails at the transport level (the connection refused or
 * reset) is sent again, on a new connection, by the recovery schedule, when its method allows it
 * (`HttpClientOptions.methods`: RFC 9110's safe methods by default). A failure after the
 * response came (a status, the body) is the caller's, as before. When the schedule gives up, the
 * request fails with a `RequestError` (`Transport`) whose `cause` is the `RecoveryFailed`. The
 * client takes `Cover.control`. Bad options fail the layer with `InvalidArgument`.
 *
 * ```ts
 * const covered = Cover.layerHttpClient().pipe(Layer.provide(NodeHttpClient.layer))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerHttpClient: (
  options?: HttpClientOptions
) => Layer.Layer<HttpClient.HttpClient, InvalidArgument, HttpClient.HttpClient> = http.layerHttpClient

/**
 * Options of `Cover.layerSocket`: the recovery `schedule` (default `Cover.defaultSchedule`),
 * `isRecoverable` (default: a broken connection, by the codes of `Cover.isRecoverable`, or a close
 * that was not clean), and `reconnectOnEnd` (default true: a connection the peer ends is lost, as
 * when a server dies; false: the run ends with it).
 *
 * @since 0.1.0
 * @category models
 */
export interface SocketOptions {
  readonly schedule?: Schedule.Schedule<unknown> | undefined
  readonly isRecoverable?: ((error: Socket.SocketError) => boolean) | undefined
  readonly reconnectOnEnd?: boolean | undefined
}

/**
 * A `Socket` over the one in its context (`NodeSocket.layerNet({ host, port })`) whose runs outlive
 * their connections: a platform socket opens a new connection at each `run`, and its writer waits
 * while none is open; the covered one runs again when the connection is lost (refused, reset, or
 * ended by the peer), by the recovery schedule, with the run's `onOpen` on every new connection
 * (replay a handshake or the session's state there), and writes again a write that failed on the
 * lost connection. Writing a `CloseEvent` ends the run for good. When the schedule gives up, the
 * run fails with a `SocketGenericError` (`Open`) whose `cause` is the `RecoveryFailed`. The socket
 * takes `Cover.control` (it has no recovery function to replace). Bad options fail the layer with
 * `InvalidArgument`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSocket: (
  options?: SocketOptions
) => Layer.Layer<Socket.Socket, InvalidArgument, Socket.Socket> = socket.layerSocket
