/**
 * The server side of the remote HAM's connections: an `@effect/rpc` server protocol over the
 * sockets its listeners accept (`listen.ts`), with the limits that keep one peer from taking the
 * server down:
 *
 * - at most `maxConnections` open at once (any other is closed as soon as it is accepted);
 * - every frame at most `maxFrameBytes` long, and well formed (`frames.ts`): otherwise the
 *   connection is closed;
 * - at most `maxInFlight` calls of one connection running at once: one more closes it;
 * - reading pauses while 1024 messages of a connection wait to be handled, and while more than
 *   1 MiB of its responses wait to be read by it; a connection with more than
 *   `maxPendingWriteBytes` unread is closed;
 * - a connection that sent nothing for `idleTimeout` is closed (our clients ping every 10 s), and
 *   so is a TCP connection that made no authorized call within `authTimeout`, or whose calls were
 *   refused `maxAuthFailures` times.
 *
 * Every message of a connection is handled in order, by one fiber of its own.
 *
 * @internal
 */
import type { FromClientEncoded, FromServerEncoded } from "@effect/rpc/RpcMessage"
import { ResponseDefectEncoded } from "@effect/rpc/RpcMessage"
import * as RpcServer from "@effect/rpc/RpcServer"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as Mailbox from "effect/Mailbox"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type * as net from "node:net"
import type * as Api from "../../HamServer.js"
import * as frames from "./frames.js"

/** @internal the limits of a server's connections (see the module's doc) */
export interface Limits {
  readonly maxConnections: number
  readonly maxFrameBytes: number
  readonly maxInFlight: number
  readonly maxPendingWriteBytes: number
  readonly idleTimeoutMillis: number
  readonly authTimeoutMillis: number
  readonly maxAuthFailures: number
}

/** @internal */
export const defaultLimits: Limits = {
  maxConnections: 256,
  maxFrameBytes: 256 * 1024,
  maxInFlight: 256,
  maxPendingWriteBytes: 16 * 1024 * 1024,
  idleTimeoutMillis: 60_000,
  authTimeoutMillis: 10_000,
  maxAuthFailures: 3
}

/** pause reading when this many messages of a connection wait; resume at the low mark */
const QueueHighWater = 1024
const QueueLowWater = 256

/** pause reading while this many bytes of a connection's responses are unread */
const WriteHighWater = 1024 * 1024

/** @internal why the server closed a connection */
export type CloseReason = keyof Api.Stats["closed"]

/** @internal one open connection */
export interface Connection {
  readonly id: number
  readonly socket: net.Socket
  /** a Unix socket's: its calls need no token */
  readonly trusted: boolean
  readonly openedAt: number
  lastRead: number
  /** an authorized call was made on it */
  authenticated: boolean
  authFailures: number
  /** the last token its calls carried, and whether it was the server's */
  lastToken: string | undefined
  lastTokenOk: boolean
}

/** @internal */
export interface Transport {
  readonly protocol: RpcServer.Protocol["Type"]
  /** takes a socket a listener accepted (`trusted`: a Unix socket's) */
  readonly accept: (trusted: boolean) => (socket: net.Socket) => void
  readonly connection: (clientId: number) => Connection | undefined
  readonly close: (connection: Connection, reason: CloseReason) => void
  /** closes every connection (the listeners are closing) */
  readonly closeAll: () => void
  readonly stats: Effect.Effect<Api.Stats>
}

interface State extends Connection {
  readonly frames: frames.ServerFrames
  readonly inFlight: Set<string>
  readonly queue: Queue.Queue<FromClientEncoded>
  queued: number
  pausedByQueue: boolean
  pausedByWrites: boolean
}

/** @internal a transport with these limits; its connections are closed with the scope */
export const make = (limits: Limits): Effect.Effect<Transport, never, Scope.Scope> =>
  Effect.gen(function*() {
    const clock = yield* Effect.clock
    const now = () => clock.unsafeCurrentTimeMillis()
    const disconnects = yield* Mailbox.make<number>()
    const fibers = yield* FiberSet.make<void, never>()
    const run = yield* FiberSet.runtime(fibers)<never>()
    const connections = new Map<number, State>()
    const clientIds = new Set<number>()
    const closed: Record<CloseReason, number> = {
      idle: 0,
      unauthenticated: 0,
      authFailures: 0,
      malformed: 0,
      oversized: 0,
      inFlight: 0,
      backlog: 0
    }
    let accepted = 0
    let refused = 0
    let nextId = 0
    let shuttingDown = false
    let writeRequest: (clientId: number, message: FromClientEncoded) => Effect.Effect<void> = () => Effect.void

    const close = (connection: Connection, reason: CloseReason) => {
      if (connection.socket.destroyed) return
      closed[reason]++
      connection.socket.destroy()
    }

    const resumeIfClear = (state: State) => {
      if (!state.pausedByQueue && !state.pausedByWrites && !state.socket.destroyed) state.socket.resume()
    }

    /** a connection's end, once: its calls are interrupted by the server (`disconnects`) */
    const finish = (state: State) => {
      if (!connections.delete(state.id)) return
      clientIds.delete(state.id)
      disconnects.unsafeOffer(state.id)
      run(Queue.shutdown(state.queue))
    }

    /** one message, in order: a request counts against the connection's calls in flight */
    const handle = (state: State, message: FromClientEncoded): Effect.Effect<void> => {
      if (--state.queued <= QueueLowWater && state.pausedByQueue) {
        state.pausedByQueue = false
        resumeIfClear(state)
      }
      if (message._tag === "Request") {
        // a connection refused too often is closing: nothing more of it runs
        if (state.authFailures >= limits.maxAuthFailures) return Effect.void
        if (!state.inFlight.has(message.id) && state.inFlight.size >= limits.maxInFlight) {
          close(state, "inFlight")
          return Effect.void
        }
        state.inFlight.add(message.id)
      }
      return writeRequest(state.id, message)
    }

    const accept = (trusted: boolean) => (socket: net.Socket): void => {
      if (shuttingDown || connections.size >= limits.maxConnections) {
        refused++
        socket.destroy()
        return
      }
      accepted++
      socket.setNoDelay(true)
      const opened = now()
      const state: State = {
        id: nextId++,
        socket,
        trusted,
        openedAt: opened,
        lastRead: opened,
        authenticated: false,
        authFailures: 0,
        lastToken: undefined,
        lastTokenOk: false,
        frames: frames.makeServerFrames(limits.maxFrameBytes),
        inFlight: new Set(),
        queue: Effect.runSync(Queue.unbounded<FromClientEncoded>()),
        queued: 0,
        pausedByQueue: false,
        pausedByWrites: false
      }
      connections.set(state.id, state)
      clientIds.add(state.id)
      socket.on("data", (chunk: Buffer) => {
        state.lastRead = now()
        let messages: ReadonlyArray<FromClientEncoded>
        try {
          messages = state.frames.decode(chunk)
        } catch (error) {
          close(state, error instanceof frames.FrameError ? error.reason : "malformed")
          return
        }
        for (const message of messages) {
          state.queue.unsafeOffer(message)
          state.queued++
        }
        if (state.queued >= QueueHighWater && !state.pausedByQueue) {
          state.pausedByQueue = true
          socket.pause()
        }
      })
      socket.on("drain", () => {
        if (state.pausedByWrites) {
          state.pausedByWrites = false
          resumeIfClear(state)
        }
      })
      // a reset connection: its 'close' follows
      socket.on("error", () => {})
      socket.on("close", () => finish(state))
      run(Effect.forever(Effect.flatMap(Queue.take(state.queue), (message) => handle(state, message))))
    }

    const send = (clientId: number, response: FromServerEncoded): Effect.Effect<void> =>
      Effect.sync(() => {
        const state = connections.get(clientId)
        if (state === undefined || state.socket.destroyed || state.socket.writableEnded) return
        if (response._tag === "Exit") state.inFlight.delete(response.requestId)
        let bytes: Uint8Array | string | undefined
        try {
          bytes = state.frames.encode(response)
        } catch (cause) {
          bytes = state.frames.encode(ResponseDefectEncoded(cause))
        }
        if (bytes === undefined) return
        if (state.socket.writableLength > limits.maxPendingWriteBytes) {
          close(state, "backlog")
          return
        }
        state.socket.write(bytes)
        if (state.authFailures >= limits.maxAuthFailures) {
          // the refusal is written first, then the connection goes
          closed.authFailures++
          state.socket.destroySoon()
          return
        }
        if (state.socket.writableLength > WriteHighWater && !state.pausedByWrites) {
          state.pausedByWrites = true
          state.socket.pause()
        }
      })

    const closeAll = () => {
      shuttingDown = true
      for (const state of connections.values()) state.socket.destroy()
    }

    // the idle and authentication deadlines, checked a few times per shortest timeout
    const sweep = Effect.sync(() => {
      const t = now()
      for (const state of connections.values()) {
        if (t - state.lastRead >= limits.idleTimeoutMillis) close(state, "idle")
        else if (!state.trusted && !state.authenticated && t - state.openedAt >= limits.authTimeoutMillis) {
          close(state, "unauthenticated")
        }
      }
    })
    const period = Math.max(10, Math.floor(Math.min(limits.idleTimeoutMillis, limits.authTimeoutMillis) / 4))
    yield* Effect.forkScoped(Effect.repeat(sweep, Schedule.spaced(period)))
    yield* Effect.addFinalizer(() => Effect.sync(closeAll))

    const protocol = yield* RpcServer.Protocol.make((write) => {
      writeRequest = write
      return Effect.succeed({
        disconnects,
        send,
        end: (clientId: number) =>
          Effect.sync(() => {
            connections.get(clientId)?.socket.end()
          }),
        clientIds: Effect.sync(() => clientIds),
        initialMessage: Effect.succeedNone,
        supportsAck: true,
        supportsTransferables: false,
        supportsSpanPropagation: true
      })
    })

    return {
      protocol,
      accept,
      connection: (clientId) => connections.get(clientId),
      close,
      closeAll,
      stats: Effect.sync(() => ({ accepted, open: connections.size, refused, closed: { ...closed } }))
    }
  })
