/**
 * The client end of the notify channel, used by `Notify.ts`: it sends protocol lines to the
 * HAM over the socket in `HAM_NOTIFY_SOCKET`, else over Node IPC (`{ ham: "<line>" }`), else
 * nowhere (an unsupervised process). The protocol itself is in `protocol.ts`.
 *
 * @internal
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as net from "node:net"
import type * as Api from "../../Notify.js"
import {
  EnvEntity,
  EnvSocket,
  errorText,
  formatMessage,
  NotifyError,
  type NotifyMessage,
  Raise,
  type RaiseInput,
  Ready,
  State,
  Status,
  Watchdog
} from "./protocol.js"

/** @internal how a client reaches the HAM */
export type Transport = Api.Transport

/** @internal */
export type NotifyClient = Api.NotifyClient

/** @internal */
export type NotifyClientOptions = Api.NotifyClientOptions

/** @internal */
export class Notifier extends Context.Tag("effect-ham/Notify/Notifier")<Notifier, NotifyClient>() {}

const unavailable = (description: string) => new NotifyError({ reason: "Unavailable", description })

const resolveTransport = (options?: NotifyClientOptions): "ipc" | "none" | { readonly path: string } => {
  const path = options?.path ?? process.env[EnvSocket]
  if (path !== undefined && path !== "") return { path }
  if (options?.ipc !== false && typeof process.send === "function" && process.env[EnvEntity] !== undefined) {
    return "ipc"
  }
  return "none"
}

/** a client over a lazily opened, re-opened when broken, unref'd socket connection */
const socketClient = (path: string): { readonly client: NotifyClient; readonly close: Effect.Effect<void> } => {
  let current: net.Socket | undefined
  const lock = Effect.runSync(Effect.makeSemaphore(1))

  const connect = Effect.async<net.Socket, NotifyError>((resume) => {
    const socket = net.createConnection({ path })
    const onError = (error: Error) => {
      socket.destroy()
      resume(Effect.fail(unavailable(`cannot connect to ${path}: ${errorText(error)}`)))
    }
    socket.once("error", onError)
    socket.once("connect", () => {
      socket.off("error", onError)
      // write errors surface in the write callback; a closed connection is dropped and re-opened
      socket.on("error", () => socket.destroy())
      socket.on("close", () => {
        if (current === socket) current = undefined
      })
      // the HAM sends nothing; reading lets us see its end of the connection close
      socket.on("data", () => {})
      socket.unref()
      resume(Effect.succeed(socket))
    })
    return Effect.sync(() => socket.destroy())
  })

  const write = (socket: net.Socket, data: string) =>
    Effect.async<void, NotifyError>((resume) => {
      // keep the process alive only while a write is under way
      socket.ref()
      socket.write(data, (error) => {
        socket.unref()
        resume(error ? Effect.fail(unavailable(`cannot write to ${path}: ${errorText(error)}`)) : Effect.void)
      })
    })

  const attempt = (data: string) =>
    Effect.gen(function*() {
      if (current === undefined || current.destroyed || !current.writable) {
        current = yield* connect
      }
      const socket = current
      return yield* write(socket, data).pipe(
        Effect.tapError(() =>
          Effect.sync(() => {
            socket.destroy()
            if (current === socket) current = undefined
          })
        )
      )
    })

  const client: NotifyClient = {
    transport: "socket",
    // one retry on a fresh connection: the HAM may have closed the old one
    send: (message) => lock.withPermits(1)(Effect.retry(attempt(formatMessage(message) + "\n"), { times: 1 }))
  }
  const close = Effect.sync(() => {
    current?.end()
    current = undefined
  })
  return { client, close }
}

const ipcClient: NotifyClient = {
  transport: "ipc",
  send: (message) =>
    Effect.async<void, NotifyError>((resume) => {
      if (process.send === undefined || !process.connected) {
        resume(Effect.fail(unavailable("the IPC channel is closed")))
        return
      }
      process.send({ ham: formatMessage(message) }, (error: Error | null) => {
        resume(error ? Effect.fail(unavailable(`IPC send: ${errorText(error)}`)) : Effect.void)
      })
    })
}

const noneClient: NotifyClient = { transport: "none", send: () => Effect.void }

/** @internal a client and its release, for the process-wide default */
export const unsafeMakeClient = (
  options?: NotifyClientOptions
): { readonly client: NotifyClient; readonly close: Effect.Effect<void> } => {
  const transport = resolveTransport(options)
  if (transport === "ipc") return { client: ipcClient, close: Effect.void }
  if (transport === "none") return { client: noneClient, close: Effect.void }
  return socketClient(transport.path)
}

/**
 * A client for the scope: its connection (opened at the first message) is closed with the scope.
 *
 * @internal
 */
export const makeClient = (options?: NotifyClientOptions): Effect.Effect<NotifyClient, never, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(Effect.sync(() => unsafeMakeClient(options)), ({ close }) => close),
    ({ client }) => client
  )

/** @internal the client read from the environment */
export const layer: Layer.Layer<Notifier> = Layer.scoped(Notifier, makeClient())

/** @internal a client of the given options */
export const layerClient = (options: NotifyClientOptions): Layer.Layer<Notifier> =>
  Layer.scoped(Notifier, makeClient(options))

let defaultClient: NotifyClient | undefined

/** the process-wide client from the environment, made at first use (its socket is unref'd) */
const getDefaultClient = (): NotifyClient => {
  if (defaultClient === undefined) defaultClient = unsafeMakeClient().client
  return defaultClient
}

/** @internal the client in the context, or the process-wide one from the environment */
export const client: Effect.Effect<NotifyClient> = Effect.map(
  Effect.serviceOption(Notifier),
  Option.getOrElse(getDefaultClient)
)

/** @internal */
export const send = (message: NotifyMessage): Effect.Effect<void, NotifyError> =>
  Effect.flatMap(client, (c) => c.send(message))

const invalid = (description: string) => Effect.fail(new NotifyError({ reason: "InvalidArgument", description }))

const isNat = (n: number): boolean => Number.isSafeInteger(n) && n >= 0

/** @internal */
export const ready: Effect.Effect<void, NotifyError> = Effect.suspend(() => send(Ready.make({})))

/** @internal */
export const watchdog: Effect.Effect<void, NotifyError> = Effect.suspend(() => send(Watchdog.make({})))

/** @internal */
export const state = (state: number): Effect.Effect<void, NotifyError> =>
  isNat(state) ? send(State.make({ state })) : invalid(`STATE takes a non-negative integer, got ${state}`)

/** @internal */
export const raise = (input: RaiseInput): Effect.Effect<void, NotifyError> =>
  isNat(input.type) && isNat(input.class) && isNat(input.severity)
    ? send(Raise.make({ type: input.type, class: input.class, severity: input.severity, detail: input.detail ?? "" }))
    : invalid(
      `RAISE takes non-negative integers, got ${input.type},${input.class},${input.severity}`
    )

/** @internal */
export const status = (text: string): Effect.Effect<void, NotifyError> => send(Status.make({ text }))

/** @internal the entity name the HAM gave this process (`HAM_ENTITY`) */
export const entity: Effect.Effect<Option.Option<string>> = Effect.sync(() =>
  Option.fromNullable(process.env[EnvEntity])
)
