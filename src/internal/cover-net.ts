/**
 * A covered TCP connection speaking a line protocol: each request is one line, each reply one
 * line. A connection that breaks (reset, closed by the server's death, refused while it
 * restarts) fails its requests with a recoverable error; the cover then connects again, lets the
 * client replay its session (a handshake, a position), and runs the request again.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as NodeNet from "node:net"
import type * as Api from "../Cover.js"
import { InvalidArgument } from "../HamError.js"
import * as cover_ from "./cover.js"
import * as options_ from "./options.js"

/** @internal */
export type LineConnection = Api.LineConnection

/** @internal */
export type ConnectOptions = Api.ConnectOptions

/** @internal a covered line connection */
export type CoverConnection = Api.CoverConnection

const closedError = () => cover_.errnoError("ECONNRESET", "the connection was closed")

interface Waiter {
  readonly resolve: (line: string) => void
  readonly reject: (error: Error) => void
  abandoned: boolean
}

/** @internal opens one connection (closed with the scope) */
export const connectLines = (host: string, port: number): Effect.Effect<LineConnection, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<NodeNet.Socket, Error>((resume) => {
      const socket = NodeNet.connect({ host, port })
      const onError = (error: Error) => resume(Effect.fail(error))
      socket.once("error", onError)
      socket.once("connect", () => {
        socket.off("error", onError)
        resume(Effect.succeed(socket))
      })
      return Effect.sync(() => socket.destroy())
    }),
    (socket) => Effect.sync(() => socket.destroy())
  ).pipe(Effect.map((socket) => {
    socket.setNoDelay(true)
    const waiters: Array<Waiter> = []
    let broken: Error | undefined
    let pending = ""
    socket.setEncoding("utf8")
    socket.on("data", (chunk: string) => {
      pending += chunk
      let newline = pending.indexOf("\n")
      while (newline >= 0) {
        const line = pending.slice(0, newline)
        pending = pending.slice(newline + 1)
        const waiter = waiters.shift()
        if (waiter !== undefined && !waiter.abandoned) waiter.resolve(line)
        newline = pending.indexOf("\n")
      }
    })
    const breakWith = (error: Error) => {
      if (broken !== undefined) return
      broken = error
      for (const waiter of waiters.splice(0)) if (!waiter.abandoned) waiter.reject(error)
    }
    socket.on("error", (error) => breakWith(error))
    socket.on("close", () => breakWith(closedError()))
    const write = (line: string) => socket.write(`${line}\n`)
    const connection: LineConnection = {
      request: (line) =>
        Effect.async<string, Error>((resume) => {
          if (broken !== undefined) {
            resume(Effect.fail(broken))
            return
          }
          const waiter: Waiter = {
            resolve: (reply) => resume(Effect.succeed(reply)),
            reject: (error) => resume(Effect.fail(error)),
            abandoned: false
          }
          waiters.push(waiter)
          write(line)
          // an interrupted request keeps its place: its answer is read and dropped
          return Effect.sync(() => {
            waiter.abandoned = true
          })
        }),
      send: (line) =>
        Effect.suspend(() => {
          if (broken !== undefined) return Effect.fail(broken)
          write(line)
          return Effect.void
        })
    }
    return connection
  }))

const connectKeys: ReadonlyArray<keyof ConnectOptions> = [
  "host",
  "port",
  "replay",
  "schedule",
  "isRecoverable",
  "retries"
]

/** @internal */
export const connect = (
  options: ConnectOptions,
  recover?: (connection: LineConnection) => Effect.Effect<unknown, unknown>
): Effect.Effect<CoverConnection, Error, Scope.Scope> =>
  Effect.gen(function*() {
    yield* cover_.validateOptions(options, connectKeys, "Cover.connect options")
    if (!(Number.isInteger(options.port) && options.port > 0 && options.port < 65536)) {
      return yield* Effect.fail(
        new InvalidArgument({
          argument: "Cover.connect port",
          reason: `must be an integer from 1 to 65535 (got ${options_.show(options.port)})`
        })
      )
    }
    const host = options.host ?? "127.0.0.1"
    const replay = recover ?? options.replay
    const cover = yield* cover_.make({
      acquire: connectLines(host, options.port),
      recover: () =>
        Effect.flatMap(
          connectLines(host, options.port),
          (
            connection
          ) => (replay === undefined ? Effect.succeed(connection) : Effect.as(replay(connection), connection))
        ),
      schedule: options.schedule,
      isRecoverable: options.isRecoverable,
      retries: options.retries
    })
    return {
      ...cover,
      request: (line: string) => cover.use((connection) => connection.request(line)),
      send: (line: string) => cover.use((connection) => connection.send(line))
    }
  })
