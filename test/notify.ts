/**
 * Helpers shared by the notify test files: messages, a server collecting what it receives, a
 * bounded take, a raw client connection that writes its pieces one by one, raw connections held
 * open, a logger that keeps what it is given, a real-time wait that works under the TestClock, and a
 * probe of a process entity's readiness.
 */
import { Clock, type Duration, Effect, Logger, Queue, Schedule, TestServices } from "effect"
import type { Scope } from "effect"
import { Action, Ham } from "effect-ham"
import * as net from "node:net"
import * as path from "node:path"
import * as protocol from "../src/internal/notify/protocol.js"
import * as server from "../src/internal/notify/server.js"

export const ready = protocol.Ready.make({})
export const watchdog = protocol.Watchdog.make({})
export const state = (n: number) => protocol.State.make({ state: n })
export const raise = (type: number, klass: number, severity: number, detail: string) =>
  protocol.Raise.make({ type, class: klass, severity, detail })
export const status = (text: string) => protocol.Status.make({ text })
export const unknown = (key: string, value: string) => protocol.Unknown.make({ key, value })

/** a socket path in a fresh private directory, removed with the scope */
export const freshSocketPath = Effect.map(server.makeSocketDirectory("ham-test-"), (dir) => path.join(dir, "n.sock"))

/** a server on a fresh private directory, collecting messages and parse errors in queues */
export const collecting = Effect.gen(function*() {
  const socketPath = yield* freshSocketPath
  const messages = yield* Queue.unbounded<protocol.NotifyMessage>()
  const errors = yield* Queue.unbounded<protocol.NotifyParseError>()
  const notifyServer = yield* server.serve(socketPath, (m) => Queue.offer(messages, m), {
    onParseError: (e) => Queue.offer(errors, e)
  })
  return { errors, messages, path: socketPath, server: notifyServer }
})

/** takes n items, failing the test after 10 seconds */
export const takeN = <A>(queue: Queue.Dequeue<A>, n: number) =>
  Effect.gen(function*() {
    const out: Array<A> = []
    while (out.length < n) out.push(yield* Queue.take(queue))
    return out
  }).pipe(
    Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error(`fewer than ${n} items in 10 s`) }),
    Effect.orDie
  )

/** a raw client connection that writes each piece separately, waiting between them */
export const writePieces = (socketPath: string, pieces: ReadonlyArray<string | Buffer>) =>
  Effect.gen(function*() {
    const socket = yield* Effect.async<net.Socket, Error>((resume) => {
      const s = net.createConnection({ path: socketPath })
      s.once("connect", () => resume(Effect.succeed(s)))
      s.once("error", (e) => resume(Effect.fail(e)))
    })
    for (const piece of pieces) {
      yield* Effect.async<void, Error>((resume) => {
        socket.write(piece, (e) => resume(e ? Effect.fail(e) : Effect.void))
      })
      // let the server read this piece on its own
      yield* Effect.sleep("15 millis")
    }
    yield* Effect.async<void>((resume) => {
      socket.end(() => resume(Effect.void))
    })
  }).pipe(Effect.orDie)

/** a log line seen by `capturing`: its level and its message (the parts of a message joined by spaces) */
export interface Logged {
  readonly level: string
  readonly message: string
}

/** a logger that keeps what it is given in `logs`, in place of the default one */
export const capturing = () => {
  const logs: Array<Logged> = []
  const logger = Logger.make(({ logLevel, message }) => {
    logs.push({ level: logLevel.label, message: Array.isArray(message) ? message.join(" ") : String(message) })
  })
  return { layer: Logger.replace(Logger.defaultLogger, logger), logs }
}

/** a raw client connection as the server's cap sees it: `closed` once the server closed it */
export interface Client {
  readonly socket: net.Socket
  readonly closed: () => boolean
}

/** opens a raw connection (Unix sockets connect before the server accepts) and writes `first`, if any */
export const openClient = (socketPath: string, first?: string): Effect.Effect<Client, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<Client, Error>((resume) => {
      const socket = net.createConnection({ path: socketPath })
      let closed = false
      socket.on("close", () => {
        closed = true
      })
      socket.once("error", (e) => resume(Effect.fail(e)))
      socket.once("connect", () => {
        socket.on("error", () => {})
        if (first !== undefined) socket.write(first)
        resume(Effect.succeed({ socket, closed: () => closed }))
      })
    }).pipe(Effect.orDie),
    ({ socket }) => Effect.sync(() => socket.destroy())
  )

/** polls `done` (in real time, also under the TestClock) until it holds, failing the test after `millis` */
export const waitReal = (what: string, done: () => boolean, millis = 5000): Effect.Effect<void> =>
  TestServices.provideLive(
    Effect.sync(done).pipe(
      Effect.repeat({ until: (ok) => ok, schedule: Schedule.spaced("5 millis") }),
      Effect.timeoutFail({ duration: millis, onTimeout: () => new Error(`no ${what} in ${millis} ms`) }),
      Effect.asVoid,
      Effect.orDie
    )
  )

/**
 * A placeholder `probe` whose raise runs [waitfor ready (else "timed out"), "after"]; returns a
 * function that raises it and returns what was delivered and how long it took.
 */
export const readyProbe = (entity: string, timeout: Duration.DurationInput) =>
  Effect.gen(function*() {
    const outcome = yield* Queue.unbounded<string>()
    const probe = yield* Ham.entity("probe")
    yield* Ham.conditionRaise(probe, {}, { name: "wait" }).pipe(
      Ham.action(
        Action.waitfor({ ready: entity, timeout }).pipe(
          Action.orElse(Action.notify(outcome, "timed out")),
          Action.named("ready")
        )
      ),
      Ham.notify(outcome, "after")
    )
    return Effect.gen(function*() {
      const started = yield* Clock.currentTimeMillis
      yield* Ham.raise(probe, { type: 1, class: 1, severity: 1 })
      const first = yield* Queue.take(outcome).pipe(Effect.timeout("8 seconds"), Effect.orDie)
      const elapsed = (yield* Clock.currentTimeMillis) - started
      const rest = first === "after" ? [] : [yield* Queue.take(outcome).pipe(Effect.timeout("1 second"), Effect.orDie)]
      return { delivered: [first, ...rest], elapsed }
    })
  })
