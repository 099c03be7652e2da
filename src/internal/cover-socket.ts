/**
 * A covered `Socket` (@effect/platform): a platform socket opens a new connection at each `run`,
 * and its writer waits while none is open. The cover runs it again when its connection is lost
 * (refused, reset, or ended by the peer: a server that dies closes it), by the recovery schedule,
 * with the `onOpen` of the run on each new connection (the session replayed there); a write that
 * failed on the lost connection is written again on the next.
 *
 * @internal
 */
import * as Socket from "@effect/platform/Socket"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Api from "../CoverLayers.js"
import { InvalidArgument } from "../HamError.js"
import {
  AnyFunction,
  AnySchedule,
  applyControl,
  controlState,
  ControlTypeId,
  decodeControlOp,
  decodeOptions,
  makeCounts,
  mayRecover,
  recoverOf
} from "./cover-control.js"
import * as cover_ from "./cover.js"

/** @internal */
export type SocketOptions = Api.SocketOptions

const OptionsSchema = Schema.Struct({
  schedule: Schema.optional(AnySchedule),
  isRecoverable: Schema.optional(AnyFunction),
  reconnectOnEnd: Schema.optional(Schema.Boolean)
})

/** @internal the default test: a broken connection (the cover's codes), or a close that was not clean */
export const isLostConnection = (error: unknown): boolean =>
  cover_.isRecoverableDefault(error) || (Socket.SocketCloseError.is(error) && error.code !== 1000)

/** a run's end: the connection ended (`error` undefined) or failed; whether it had opened */
interface Ending {
  readonly opened: boolean
  readonly failed: boolean
  readonly error: unknown
}

/** @internal a covered socket over `socket` */
export const make = (
  socket: Socket.Socket,
  options: typeof OptionsSchema.Type
): Socket.Socket & Api.Controllable<never> => {
  const schedule = options.schedule ?? cover_.defaultSchedule
  const isRecoverable: (error: unknown) => boolean = options.isRecoverable ?? isLostConnection
  const reconnectOnEnd = options.reconnectOnEnd ?? true
  const ctl = makeCounts()
  // a close written by the user ends the run for good
  let closing = false

  const runWith = (raw: boolean) =>
  <_, E, R>(
    handler: (_: any) => Effect.Effect<_, E, R> | void,
    runOptions?: { readonly onOpen?: Effect.Effect<void> | undefined }
  ): Effect.Effect<void, Socket.SocketError | E, R> =>
    Effect.gen(function*() {
      closing = false
      const driver = yield* Schedule.driver(schedule)
      let recovering = false
      let first: unknown
      let attempts = 0
      for (;;) {
        let opened = false
        const onOpen = Effect.zipRight(
          Effect.sync(() => {
            opened = true
          }),
          runOptions?.onOpen ?? Effect.void
        )
        const once = raw ? socket.runRaw(handler, { onOpen }) : socket.run(handler, { onOpen })
        const ending: Ending = yield* Effect.match(once, {
          onSuccess: (): Ending => ({ opened, failed: false, error: undefined }),
          onFailure: (error): Ending => ({ opened, failed: true, error })
        })
        if (ending.opened && recovering) {
          // a new connection: the recovery is over
          recovering = false
          ctl.attempts = 0
          yield* driver.reset
        }
        const lost = ending.failed
          ? Socket.isSocketError(ending.error) && isRecoverable(ending.error)
          : reconnectOnEnd && !closing
        if (!lost || closing) {
          return yield* (ending.failed ? Effect.fail(ending.error as Socket.SocketError | E) : Effect.void)
        }
        const failure = ending.failed ? ending.error : cover_.errnoError("ECONNRESET", "the peer ended the connection")
        if (!recovering) {
          if (!mayRecover(ctl)) {
            return yield* (ending.failed ? Effect.fail(ending.error as Socket.SocketError | E) : Effect.void)
          }
          ctl.recoveries++
          recovering = true
          first = failure
          attempts = 0
        } else if (ctl.suspended || (ctl.maxAttempts !== "unlimited" && ctl.attempts >= ctl.maxAttempts)) {
          return yield* Effect.fail(gaveUp(attempts, first, failure))
        }
        const next = yield* Effect.either(driver.next(failure))
        if (next._tag === "Left") return yield* Effect.fail(gaveUp(attempts, first, failure))
        attempts++
        ctl.attempts++
      }
    })

  const gaveUp = (attempts: number, failure: unknown, last: unknown) =>
    new Socket.SocketGenericError({
      reason: "Open",
      cause: new cover_.RecoveryFailed({ attempts, failure, cause: last })
    })

  const writer = Effect.map(socket.writer, (write) => (chunk: Uint8Array | string | Socket.CloseEvent) => {
    if (Socket.isCloseEvent(chunk)) {
      closing = true
      return write(chunk)
    }
    // a write that failed on a lost connection waits for the next one (the writer waits while none is open)
    return Effect.retry(write(chunk), {
      schedule,
      while: (error) => !closing && !ctl.suspended && isRecoverable(error)
    })
  })

  return {
    [Socket.TypeId]: Socket.TypeId,
    run: runWith(false),
    runRaw: runWith(true),
    writer,
    [ControlTypeId]: (op: Api.ControlOp<never>) =>
      Effect.flatMap(decodeControlOp(op), (decoded) => {
        if (recoverOf(decoded) !== undefined) {
          return Effect.fail(
            new InvalidArgument({
              argument: "Cover.control op",
              reason: "a covered Socket has no recovery function to replace (its run's onOpen replays the session)"
            })
          )
        }
        applyControl(ctl, decoded, () => {})
        return Effect.succeed(controlState(ctl))
      })
  }
}

/** @internal `Cover.layerSocket` */
export const layerSocket = (
  options?: SocketOptions
): Layer.Layer<Socket.Socket, InvalidArgument, Socket.Socket> =>
  Layer.effect(
    Socket.Socket,
    Effect.gen(function*() {
      const checked = yield* decodeOptions(OptionsSchema, options, "Cover.layerSocket options")
      return make(yield* Socket.Socket, checked)
    })
  )
