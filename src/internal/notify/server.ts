/**
 * The HAM's end of the notify channel: a Unix socket server per process entity that reads
 * protocol lines (see `protocol.ts`) and hands each message to one handler, in order per
 * connection, within the limits of `limits.ts` (connections per socket and in all, the log rate).
 * Also the private directory the sockets live in.
 *
 * @internal
 */
import type * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FiberSet from "effect/FiberSet"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as net from "node:net"
import * as probe_ from "../probe.js"
import * as tmpdirs from "../tmpdirs.js"
import * as limits from "./limits.js"
import {
  errorText,
  escapeText,
  formatMessage,
  makeSplitter,
  MaxLineBytes,
  MaxSocketPathBytes,
  type NotifyMessage,
  NotifyParseError,
  NotifySocketError,
  parseLine,
  shownLine,
  type SplitItem
} from "./protocol.js"

// ---------------------------------------------------------------------------------------------
// models
// ---------------------------------------------------------------------------------------------

/**
 * What the server does with each message. It is called in order per connection: at once, in the
 * socket's data callback, when nothing of that connection is waiting, else when the message's
 * turn comes. Returning `undefined` means the message was handled then and there (heartbeats are
 * many and tiny: no fiber wakes for them, which keeps an idle supervisor cheap); an effect returned
 * is run by the connection's fiber, after the effects of earlier messages and before anything of
 * later ones.
 *
 * @internal
 */
export type NotifyHandler<R = never> = (message: NotifyMessage) => Effect.Effect<void, never, R> | undefined

/** @internal */
export interface ServeOptions<R> {
  /** called for every malformed or over-long line; default: a warning, at the rate of `logRate` */
  readonly onParseError?: ((error: NotifyParseError) => Effect.Effect<void, never, R>) | undefined
  /** the most connections open at once on this socket (default 8); more are closed at once, unread */
  readonly maxConnections?: number | undefined
  /** a count shared with other servers: the connections open at once on all of them (default: none) */
  readonly budget?: limits.ConnectionBudget | undefined
  /** how many warnings (malformed lines, refused connections) are logged (default 5 per 10 s, then a summary) */
  readonly logRate?: limits.LogRate | undefined
}

/** @internal */
export const makeConnectionBudget = limits.makeConnectionBudget

/** @internal counters of a notify server since it started */
export interface NotifyStats {
  /** connections accepted */
  readonly connections: number
  /** connections open now */
  readonly open: number
  /** connections closed at once, unread: over this socket's cap or the shared budget */
  readonly refused: number
  /** messages handed to the handler (including `Unknown` ones) */
  readonly messages: number
  /** lines with an unknown key */
  readonly unknown: number
  /** malformed lines, over-long lines included */
  readonly parseErrors: number
  /** lines over 4096 bytes */
  readonly tooLong: number
}

/** @internal */
export interface NotifyServer {
  readonly path: string
  readonly stats: Effect.Effect<NotifyStats>
  /**
   * Writes `line` and a newline to every connection open now (the HAM's message to its child:
   * QNX's pulse to a recipient); how many it was written to
   */
  readonly send: (line: string) => Effect.Effect<number>
}

// ---------------------------------------------------------------------------------------------
// the socket file
// ---------------------------------------------------------------------------------------------

const lstatOption = (path: string): Option.Option<fs.Stats> => {
  try {
    return Option.some(fs.lstatSync(path))
  } catch {
    return Option.none()
  }
}

const unlinkQuietly = (path: string): void => {
  try {
    fs.unlinkSync(path)
  } catch {
    // already gone
  }
}

/** removes a stale socket file left by a dead server; refuses to touch anything else */
const removeStale = (path: string): Effect.Effect<void, NotifySocketError> =>
  Effect.gen(function*() {
    const stat = lstatOption(path)
    if (Option.isNone(stat)) return
    if (!stat.value.isSocket()) {
      return yield* new NotifySocketError({ path, reason: "the path exists and is not a socket" })
    }
    if (yield* probe_.accepts({ path })) {
      return yield* new NotifySocketError({ path, reason: "a live server is listening on it" })
    }
    unlinkQuietly(path)
  })

// ---------------------------------------------------------------------------------------------
// the server
// ---------------------------------------------------------------------------------------------

/**
 * What waits in a connection's queue: a line not handled yet (it waits behind an earlier one), an
 * over-long line, the effect the handler returned for a line, or the end of the connection.
 */
type Pending<R> =
  | SplitItem
  | { readonly _tag: "Run"; readonly effect: Effect.Effect<void, never, R> }
  | { readonly _tag: "End" }

const End = { _tag: "End" } as const

/**
 * The warnings of one server about what its children do wrong (malformed lines, refused
 * connections), logged at the rate of `limits.admit`: the first of an interval at once, the others
 * counted for a summary that a fiber of the server logs at the interval's end.
 */
class Warnings {
  private window = limits.idleWindow
  private readonly summary = Effect.suspend(() => {
    const { message, window } = limits.summarize(this.rate, this.window, this.clock.unsafeCurrentTimeMillis())
    this.window = window
    return Effect.logWarning(message)
  })

  constructor(
    private readonly rate: limits.LogRate,
    private readonly clock: Clock.Clock,
    private readonly fork: (effect: Effect.Effect<void>) => unknown
  ) {}

  /** the warning to log now, or `undefined` when it is only counted (`message` is made only to be logged) */
  report(kind: limits.Report, message: () => string): Effect.Effect<void> | undefined {
    const now = this.clock.unsafeCurrentTimeMillis()
    const admission = limits.admit(this.rate, this.window, now, kind)
    this.window = admission.window
    if (admission.summaryAt !== undefined) {
      this.fork(Effect.zipRight(Effect.sleep(admission.summaryAt - now), this.summary))
    }
    return admission.log ? Effect.logWarning(message()) : undefined
  }
}

/** pause reading a connection when this many lines wait for the handler; resume at the low mark */
const HighWater = 1024
const LowWater = 256

/**
 * Listens on the Unix socket `path` for notify connections and gives every message to `handler`,
 * in order per connection (connections run concurrently; see `NotifyHandler` for when it is
 * called and how the effects it returns run). A stale socket file is removed first; a live one,
 * or a path that is not a socket, is an error. The socket file is made mode 0600 (put it in a
 * private directory too: the file is reachable between bind and chmod). Malformed lines go to
 * `onParseError` and the connection goes on. A defect in the handler (thrown, or in its effect) is
 * logged and the connection goes on. Reading a connection pauses while 1024 of its lines wait for
 * the handler, and resumes when 256 are left.
 *
 * At most `maxConnections` connections (default 8) are open at once, and no more than the shared
 * `budget` allows: any other is closed as soon as it is accepted, before anything of it is read.
 * Without `onParseError`, malformed lines and refused connections are logged as warnings at the
 * rate of `logRate` (the first 5 in 10 seconds, then one summary with the counts of the others),
 * with the child's text escaped (`escapeText`).
 *
 * On scope close: stops listening, destroys the connections, interrupts their fibers and
 * unlinks the path.
 *
 * @internal
 */
export const serve = <R = never>(
  path: string,
  handler: NotifyHandler<R>,
  options?: ServeOptions<R>
): Effect.Effect<NotifyServer, NotifySocketError, Scope.Scope | R> =>
  Effect.gen(function*() {
    if (path.length === 0 || Buffer.byteLength(path, "utf8") > MaxSocketPathBytes) {
      return yield* new NotifySocketError({ path, reason: `a socket path has 1 to ${MaxSocketPathBytes} bytes` })
    }
    yield* removeStale(path)
    const maxConnections = options?.maxConnections ?? limits.MaxConnectionsPerSocket
    const budget = options?.budget
    const rate = options?.logRate ?? limits.DefaultLogRate
    const clock = yield* Effect.clock

    const stats = { connections: 0, open: 0, refused: 0, messages: 0, unknown: 0, parseErrors: 0, tooLong: 0 }
    const sockets = new Set<net.Socket>()
    let closing = false

    // connection fibers belong to this set, which the scope closes after the server's finalizer
    const fibers = yield* FiberSet.make<void, never>()
    const run = yield* FiberSet.runtime(fibers)<R>()

    // made at the first warning: a child that never misbehaves costs its server nothing for them
    let warnings: Warnings | undefined
    const onParseError = (error: NotifyParseError): Effect.Effect<void, never, R> | undefined =>
      options?.onParseError !== undefined
        ? options.onParseError(error)
        : (warnings ??= new Warnings(rate, clock, run)).report("line", () => error.message)

    /** a connection's end: counted once, whichever of its close and its fiber's end comes first */
    const forget = (socket: net.Socket): void => {
      if (!sockets.delete(socket)) return
      stats.open--
      if (budget !== undefined) budget.open--
    }

    const died = (message: NotifyMessage) => (defect: unknown) =>
      Effect.logWarning(`notify: the handler died on ${escapeText(formatMessage(message))}`, defect)

    /** the handler's call for one message, its defects logged */
    const handle = (message: NotifyMessage): Effect.Effect<void, never, R> | undefined => {
      let effect: Effect.Effect<void, never, R> | undefined
      try {
        effect = handler(message)
      } catch (defect) {
        return died(message)(defect)
      }
      return effect === undefined ? undefined : Effect.catchAllDefect(effect, died(message))
    }

    /** parses and handles one line or over-long line; `undefined` when nothing is left to run */
    const handleItem = (item: SplitItem): Effect.Effect<void, never, R> | undefined => {
      if (item._tag === "TooLong") {
        stats.parseErrors++
        stats.tooLong++
        return onParseError(
          new NotifyParseError({
            line: shownLine(item.prefix.toString("utf8")),
            reason: `line longer than ${MaxLineBytes} bytes (dropped)`
          })
        )
      }
      const text = item.bytes.toString("utf8")
      if (text.trim().length === 0) return undefined
      return Either.match(parseLine(text), {
        onLeft: (error) => {
          stats.parseErrors++
          return onParseError(error)
        },
        onRight: (message) => {
          stats.messages++
          if (message._tag === "Unknown") stats.unknown++
          return handle(message)
        }
      })
    }

    const onConnection = (socket: net.Socket): void => {
      if (closing) {
        socket.destroy()
        return
      }
      if (stats.open >= maxConnections || (budget !== undefined && budget.open >= budget.max)) {
        // closed before anything of it is read
        socket.destroy()
        stats.refused++
        const warning = (warnings ??= new Warnings(rate, clock, run)).report("connection", () =>
          stats.open >= maxConnections
            ? `notify: a connection was refused: ${maxConnections} are open on this socket (the most it takes)`
            : `notify: a connection was refused: ${budget?.max} are open on the HAM's notify sockets ` +
              "(the most they take in all)")
        if (warning !== undefined) {
          run(warning)
        }
        return
      }
      stats.connections++
      stats.open++
      if (budget !== undefined) {
        budget.open++
      }
      sockets.add(socket)
      const queue = Effect.runSync(Queue.unbounded<Pending<R>>())
      // items queued or being run: while there are any, a new line waits its turn in the queue
      let busy = 0
      // lines in the queue, for back-pressure
      let waiting = 0
      let paused = false
      const enqueue = (item: Pending<R>) => {
        busy++
        queue.unsafeOffer(item)
        if (item._tag !== "TooLong" && item._tag !== "End" && ++waiting >= HighWater && !paused) {
          paused = true
          socket.pause()
        }
      }
      const push = (item: SplitItem) => {
        if (busy > 0 || item._tag === "TooLong") {
          return enqueue(item)
        }
        const effect = handleItem(item)
        if (effect !== undefined) {
          enqueue({ _tag: "Run", effect })
        }
      }
      const splitter = makeSplitter(MaxLineBytes, push)
      socket.on("data", splitter.data)
      socket.on("end", () => {
        splitter.end()
        enqueue(End)
      })
      // a reset connection: what was read before goes on, the partial line is dropped
      socket.on("error", () =>
        enqueue(End))
      socket.on("close", () => {
        enqueue(End)
        forget(socket)
      })

      const consume: Effect.Effect<void, never, R> = Effect.gen(function*() {
        while (true) {
          const item = yield* Queue.take(queue)
          if (item._tag === "End") {
            return
          }
          if (item._tag !== "TooLong" && --waiting <= LowWater && paused) {
            paused = false
            socket.resume()
          }
          const effect = item._tag === "Run" ? item.effect : handleItem(item)
          if (effect !== undefined) {
            yield* effect
          }
          busy--
        }
      }).pipe(
        Effect.ensuring(Effect.sync(() => {
          socket.destroy()
          forget(socket)
        }))
      )
      run(consume)
    }

    const server = net.createServer({ allowHalfOpen: false }, onConnection)

    yield* Effect.acquireRelease(
      Effect.async<void, NotifySocketError>((resume) => {
        const onError = (error: Error) =>
          resume(Effect.fail(new NotifySocketError({ path, reason: errorText(error) })))
        server.once("error", onError)
        server.listen({ path, exclusive: true }, () => {
          server.off("error", onError)
          resume(Effect.void)
        })
      }),
      () =>
        Effect.async<void>((resume) => {
          closing = true
          server.close(() => resume(Effect.void))
          for (const socket of sockets) socket.destroy()
        }).pipe(
          Effect.interruptible,
          Effect.timeoutOption("2 seconds"),
          Effect.ensuring(Effect.sync(() => unlinkQuietly(path)))
        )
    )
    // after listening, a server error (rare: the fd is gone) is logged, never thrown
    server.on("error", (error) => run(Effect.logWarning(`notify socket ${path}: ${errorText(error)}`)))

    yield* Effect.try({
      try: () => fs.chmodSync(path, 0o600),
      catch: (u) => new NotifySocketError({ path, reason: `chmod 0600: ${errorText(u)}` })
    })

    return {
      path,
      stats: Effect.sync(() => ({ ...stats })),
      send: (line: string) =>
        Effect.sync(() => {
          let sent = 0
          for (const socket of sockets) {
            if (socket.writable && !socket.destroyed) {
              socket.write(`${line}\n`)
              sent++
            }
          }
          return sent
        })
    }
  })

/**
 * Makes a private directory (mode 0700, under the OS temp directory, named after this process)
 * for notify sockets, removed with its content when the scope closes; those a HAM killed by
 * SIGKILL left are removed first (`tmpdirs.ts`). The paths stay short (a socket path has at
 * most 107 bytes): name the sockets by a short id, not by the entity name.
 *
 * @internal
 */
export const makeSocketDirectory = (
  prefix = "ham-"
): Effect.Effect<string, NotifySocketError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.try({
      try: () => tmpdirs.makePrivate(prefix),
      catch: (u) => new NotifySocketError({ path: prefix, reason: `mkdtemp: ${errorText(u)}` })
    }),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )
