/**
 * The notify channel between the HAM and its child processes, modelled on systemd's
 * `sd_notify`: the HAM listens on a Unix stream socket per process entity and passes its path to
 * the child in `HAM_NOTIFY_SOCKET` (and the entity name in `HAM_ENTITY`). The child writes
 * newline-terminated `KEY=VALUE` lines: `READY=1`, `WATCHDOG=1`, `STATE=<n>`,
 * `RAISE=<type>,<class>,<severity>[,<detail>]`, `STATUS=<text>`. A Node child spawned with an IPC
 * channel may instead send `{ ham: "<line>" }` objects with `process.send`.
 *
 * This file holds the pure parser, the server (`serve`) and the client (used by `Notify.ts`).
 * The protocol for child authors is in `docs/notify-protocol.md`.
 *
 * @internal
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import type * as Ham from "../Ham.js"
import type * as Api from "../Notify.js"

// ---------------------------------------------------------------------------------------------
// constants
// ---------------------------------------------------------------------------------------------

/** @internal the variable holding the socket path */
export const EnvSocket = "HAM_NOTIFY_SOCKET"

/** @internal the variable holding the entity name */
export const EnvEntity = "HAM_ENTITY"

/** @internal the longest line accepted, in bytes, without its newline */
export const MaxLineBytes = 4096

/** @internal the longest Unix socket path on Linux, in bytes (`sun_path` is 108 with its NUL) */
export const MaxSocketPathBytes = 107

// ---------------------------------------------------------------------------------------------
// messages
// ---------------------------------------------------------------------------------------------

/** @internal `READY=1`: the service finished starting up */
export const Ready = Schema.TaggedStruct("Ready", {})

/** @internal `WATCHDOG=1`: a heartbeat */
export const Watchdog = Schema.TaggedStruct("Watchdog", {})

/** @internal `STATE=<n>`: publish a state (a non-negative integer) */
export const State = Schema.TaggedStruct("State", { state: Schema.NonNegativeInt })

/** @internal `RAISE=<type>,<class>,<severity>[,<detail>]`: raise a condition */
export const Raise = Schema.TaggedStruct("Raise", {
  type: Schema.NonNegativeInt,
  class: Schema.NonNegativeInt,
  severity: Schema.NonNegativeInt,
  detail: Schema.String
})

/** @internal `STATUS=<text>`: free text for the logs */
export const Status = Schema.TaggedStruct("Status", { text: Schema.String })

/** @internal a well-formed line with a key this version does not know (forward compatibility) */
export const Unknown = Schema.TaggedStruct("Unknown", { key: Schema.String, value: Schema.String })

/** @internal */
export const NotifyMessage = Schema.Union(Ready, Watchdog, State, Raise, Status, Unknown)

/** @internal */
export type NotifyMessage = typeof NotifyMessage.Type

/** @internal what `raise` takes: `detail` defaults to the empty string */
export type RaiseInput = Ham.RaiseInput

// ---------------------------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------------------------

/**
 * A line of the notify protocol that could not be understood. Not fatal: the connection goes on
 * with the next line.
 *
 * @internal
 */
export class NotifyParseError extends Schema.TaggedError<NotifyParseError>()("NotifyParseError", {
  /** the offending line (its first 200 characters) */
  line: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `notify: ${this.reason}: ${JSON.stringify(this.line)}`
  }
}

/**
 * The notify socket could not be set up (path too long, in use by a live server, occupied by a
 * file that is not a socket, bind or chmod failed).
 *
 * @internal
 */
export class NotifySocketError extends Schema.TaggedError<NotifySocketError>()("NotifySocketError", {
  path: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `notify socket ${this.path}: ${this.reason}`
  }
}

/**
 * A client-side failure: an invalid argument (`STATE=-1`), or the HAM's socket or IPC channel
 * is not reachable.
 *
 * @internal
 */
export class NotifyError extends Schema.TaggedError<NotifyError>()("NotifyError", {
  reason: Schema.Literal("InvalidArgument", "Unavailable"),
  description: Schema.String
}) {
  override get message(): string {
    return `notify: ${this.description}`
  }
}

// ---------------------------------------------------------------------------------------------
// parsing and formatting (pure)
// ---------------------------------------------------------------------------------------------

const shown = (line: string): string => line.length > 200 ? line.slice(0, 200) : line

const parseNat = (s: string): number | undefined => {
  const t = s.trim()
  if (!/^\d+$/.test(t)) return undefined
  const n = Number(t)
  return Number.isSafeInteger(n) ? n : undefined
}

const KeyPattern = /^[A-Za-z0-9_]+$/

/**
 * Parses one line of the protocol (without its newline; one trailing `\r` is ignored). Unknown
 * keys give `Unknown`; malformed lines and values, and lines over 4096 bytes, give a
 * `NotifyParseError`.
 *
 * @internal
 */
// the messages are built as plain objects (the values are checked here; Schema's `make` would
// check them again on every heartbeat)
const readyMessage: NotifyMessage = { _tag: "Ready" }
const watchdogMessage: NotifyMessage = { _tag: "Watchdog" }

export const parseLine = (input: string): Either.Either<NotifyMessage, NotifyParseError> => {
  const line = input.endsWith("\r") ? input.slice(0, -1) : input
  const error = (reason: string) => Either.left(new NotifyParseError({ line: shown(line), reason }))
  if (Buffer.byteLength(line, "utf8") > MaxLineBytes) return error(`line longer than ${MaxLineBytes} bytes`)
  if (line.length === 0) return error("empty line")
  const eq = line.indexOf("=")
  if (eq < 0) return error("expected KEY=VALUE")
  const key = line.slice(0, eq)
  const value = line.slice(eq + 1)
  if (!KeyPattern.test(key)) return error("invalid key")
  switch (key) {
    case "READY":
      return value === "1" ? Either.right(readyMessage) : error("READY takes the value 1")
    case "WATCHDOG":
      return value === "1" ? Either.right(watchdogMessage) : error("WATCHDOG takes the value 1")
    case "STATE": {
      const state = parseNat(value)
      return state === undefined
        ? error("STATE takes a non-negative integer")
        : Either.right({ _tag: "State", state })
    }
    case "RAISE": {
      const parts = value.split(",")
      const [type, klass, severity] = parts.slice(0, 3).map(parseNat)
      if (parts.length < 3 || type === undefined || klass === undefined || severity === undefined) {
        return error("RAISE takes <type>,<class>,<severity>[,<detail>] with non-negative integers")
      }
      return Either.right({ _tag: "Raise", type, class: klass, severity, detail: parts.slice(3).join(",") })
    }
    case "STATUS":
      return Either.right({ _tag: "Status", text: value })
    default:
      return Either.right({ _tag: "Unknown", key, value })
  }
}

/**
 * Reads a message sent over Node IPC: an object `{ ham: "<line>" }`. Anything else (other IPC
 * traffic of the child) and malformed lines give `None`.
 *
 * @internal
 */
export const parseIpcMessage = (u: unknown): Option.Option<NotifyMessage> =>
  Predicate.hasProperty(u, "ham") && typeof u.ham === "string" ? Either.getRight(parseLine(u.ham)) : Option.none()

/** cuts a string to at most `max` UTF-8 bytes, on a character boundary */
const cutBytes = (s: string, max: number): string => {
  const bytes = Buffer.from(s, "utf8")
  if (bytes.length <= max) return s
  let end = max
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--
  return bytes.subarray(0, end).toString("utf8")
}

const oneLine = (text: string): string => text.replace(/[\r\n]+/g, " ")

/**
 * Formats a message as a protocol line (without its newline). Newlines in free text become
 * spaces, and the line is cut to 4096 bytes.
 *
 * @internal
 */
export const formatMessage = (message: NotifyMessage): string => {
  switch (message._tag) {
    case "Ready":
      return "READY=1"
    case "Watchdog":
      return "WATCHDOG=1"
    case "State":
      return `STATE=${message.state}`
    case "Raise": {
      const head = `RAISE=${message.type},${message.class},${message.severity}`
      return cutBytes(message.detail === "" ? head : `${head},${oneLine(message.detail)}`, MaxLineBytes)
    }
    case "Status":
      return cutBytes(`STATUS=${oneLine(message.text)}`, MaxLineBytes)
    case "Unknown":
      return cutBytes(`${message.key}=${oneLine(message.value)}`, MaxLineBytes)
  }
}

// ---------------------------------------------------------------------------------------------
// line splitting (bytes → lines, across chunk boundaries)
// ---------------------------------------------------------------------------------------------

/** @internal what the splitter emits */
export type SplitItem =
  | { readonly _tag: "Line"; readonly bytes: Buffer }
  | { readonly _tag: "TooLong"; readonly prefix: Buffer }

/**
 * A stateful splitter: feed it chunks, it emits the complete lines (without `\n`) in order. A
 * line that grows over `maxBytes` is emitted once as `TooLong` (with its first bytes) and the
 * rest of it, up to the next newline, is dropped. `end()` emits a last unterminated line.
 *
 * @internal
 */
export const makeSplitter = (maxBytes: number, emit: (item: SplitItem) => void) => {
  let pending: Array<Buffer> = []
  let pendingBytes = 0
  let discarding = false
  const reset = () => {
    pending = []
    pendingBytes = 0
  }
  const tooLong = (last: Buffer) => {
    const prefix = Buffer.concat([...pending, last]).subarray(0, Math.min(maxBytes, 256))
    emit({ _tag: "TooLong", prefix })
  }
  return {
    data: (chunk: Buffer): void => {
      let start = 0
      while (start <= chunk.length) {
        const nl = chunk.indexOf(10, start)
        if (nl < 0) {
          const rest = chunk.subarray(start)
          if (!discarding && rest.length > 0) {
            if (pendingBytes + rest.length > maxBytes) {
              tooLong(rest)
              reset()
              discarding = true
            } else {
              pending.push(rest)
              pendingBytes += rest.length
            }
          }
          return
        }
        const piece = chunk.subarray(start, nl)
        if (discarding) {
          discarding = false
        } else if (pendingBytes + piece.length > maxBytes) {
          tooLong(piece)
        } else {
          emit({ _tag: "Line", bytes: pending.length === 0 ? piece : Buffer.concat([...pending, piece]) })
        }
        reset()
        start = nl + 1
      }
    },
    end: (): void => {
      if (!discarding && pendingBytes > 0) emit({ _tag: "Line", bytes: Buffer.concat(pending) })
      reset()
      discarding = false
    }
  }
}

// ---------------------------------------------------------------------------------------------
// server
// ---------------------------------------------------------------------------------------------

/** @internal */
export interface ServeOptions<R> {
  /** called for every malformed or over-long line; default: `Effect.logWarning` */
  readonly onParseError?: ((error: NotifyParseError) => Effect.Effect<void, never, R>) | undefined
  /**
   * A synchronous fast path: called at once, in the socket's data callback, for every message
   * it accepts (returns true); the others go to `onMessage` in order as usual. Heartbeats are
   * many and tiny: handling them without waking a fiber keeps an idle supervisor cheap.
   */
  readonly onMessageSync?: ((message: NotifyMessage) => boolean) | undefined
}

/** @internal counters of a notify server since it started */
export interface NotifyStats {
  /** connections accepted */
  readonly connections: number
  /** connections open now */
  readonly open: number
  /** messages handed to `onMessage` (including `Unknown` ones) */
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
}

const errorText = (u: unknown): string => u instanceof Error ? u.message : String(u)

const lstatOption = (path: string): Option.Option<fs.Stats> => {
  try {
    return Option.some(fs.lstatSync(path))
  } catch {
    return Option.none()
  }
}

/** whether a live server accepts connections on the socket path */
const probe = (path: string): Effect.Effect<boolean> =>
  Effect.async<boolean>((resume) => {
    const socket = net.createConnection({ path })
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.succeed(true))
    })
    socket.once("error", () => {
      socket.destroy()
      resume(Effect.succeed(false))
    })
    return Effect.sync(() => socket.destroy())
  })

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
    if (yield* probe(path)) {
      return yield* new NotifySocketError({ path, reason: "a live server is listening on it" })
    }
    unlinkQuietly(path)
  })

/** queue items of one connection */
type ConnItem = SplitItem | { readonly _tag: "End" }
const End: ConnItem = { _tag: "End" }

/** pause reading a connection when this many lines wait for `onMessage`; resume at the low mark */
const HighWater = 1024
const LowWater = 256

/**
 * Listens on the Unix socket `path` for notify connections and calls `onMessage` for every
 * message, in order per connection (connections run concurrently). A stale socket file is
 * removed first; a live one, or a path that is not a socket, is an error. The socket file is
 * made mode 0600 (put it in a private directory too: the file is reachable between bind and
 * chmod). Malformed lines go to `onParseError` and the connection goes on. A defect in
 * `onMessage` is logged and the connection goes on.
 *
 * On scope close: stops listening, destroys the connections, interrupts their fibers and
 * unlinks the path.
 *
 * @internal
 */
export const serve = <R = never>(
  path: string,
  onMessage: (message: NotifyMessage) => Effect.Effect<void, never, R>,
  options?: ServeOptions<R>
): Effect.Effect<NotifyServer, NotifySocketError, Scope.Scope | R> =>
  Effect.gen(function*() {
    if (path.length === 0 || Buffer.byteLength(path, "utf8") > MaxSocketPathBytes) {
      return yield* new NotifySocketError({ path, reason: `a socket path has 1 to ${MaxSocketPathBytes} bytes` })
    }
    yield* removeStale(path)
    const onParseError = options?.onParseError ?? ((error: NotifyParseError) => Effect.logWarning(error.message))

    const stats = { connections: 0, open: 0, messages: 0, unknown: 0, parseErrors: 0, tooLong: 0 }
    const sockets = new Set<net.Socket>()
    let closing = false

    // connection fibers belong to this set, which the scope closes after the server's finalizer
    const fibers = yield* FiberSet.make<void, never>()
    const run = yield* FiberSet.runtime(fibers)<R>()

    const handleLine = (bytes: Buffer): Effect.Effect<void, never, R> => {
      const text = bytes.toString("utf8")
      if (text.trim().length === 0) return Effect.void
      return Either.match(parseLine(text), {
        onLeft: (error) => {
          stats.parseErrors++
          return onParseError(error)
        },
        onRight: (message) => {
          stats.messages++
          if (message._tag === "Unknown") stats.unknown++
          return onMessage(message).pipe(
            Effect.catchAllDefect((defect) =>
              Effect.logWarning(`notify: onMessage died on ${formatMessage(message)}`, defect)
            )
          )
        }
      })
    }

    const onConnection = (socket: net.Socket): void => {
      if (closing) {
        socket.destroy()
        return
      }
      stats.connections++
      stats.open++
      sockets.add(socket)
      const queue = Effect.runSync(Queue.unbounded<ConnItem>())
      let waiting = 0
      let paused = false
      const fast = options?.onMessageSync
      let queued = 0
      const push = (item: ConnItem) => {
        // the fast path only while nothing of this connection waits in the queue (keeps the order)
        if (fast !== undefined && item._tag === "Line" && queued === 0) {
          const text = item.bytes.toString("utf8")
          const parsed = text.trim().length === 0 ? undefined : parseLine(text)
          if (parsed !== undefined && parsed._tag === "Right" && fast(parsed.right)) {
            stats.messages++
            return
          }
        }
        queued++
        queue.unsafeOffer(item)
        if (item._tag === "Line" && ++waiting >= HighWater && !paused) {
          paused = true
          socket.pause()
        }
      }
      const splitter = makeSplitter(MaxLineBytes, push)
      socket.on("data", splitter.data)
      socket.on("end", () => {
        splitter.end()
        push(End)
      })
      // a reset connection: what was read before goes on, the partial line is dropped
      socket.on("error", () => push(End))
      socket.on("close", () => {
        push(End)
        if (sockets.delete(socket)) stats.open--
      })

      const consume: Effect.Effect<void, never, R> = Effect.gen(function*() {
        while (true) {
          const item = yield* Queue.take(queue)
          queued--
          switch (item._tag) {
            case "End":
              return
            case "Line": {
              if (--waiting <= LowWater && paused) {
                paused = false
                socket.resume()
              }
              yield* handleLine(item.bytes)
              break
            }
            case "TooLong": {
              stats.parseErrors++
              stats.tooLong++
              yield* onParseError(
                new NotifyParseError({
                  line: shown(item.prefix.toString("utf8")),
                  reason: `line longer than ${MaxLineBytes} bytes (dropped)`
                })
              )
              break
            }
          }
        }
      }).pipe(
        Effect.ensuring(Effect.sync(() => {
          socket.destroy()
          if (sockets.delete(socket)) stats.open--
        }))
      )
      run(consume)
    }

    const server = net.createServer({ allowHalfOpen: false }, onConnection)

    yield* Effect.acquireRelease(
      Effect.async<void, NotifySocketError>((resume) => {
        const onError = (error: Error) => resume(Effect.fail(new NotifySocketError({ path, reason: errorText(error) })))
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
      stats: Effect.sync(() => ({ ...stats }))
    }
  })

/**
 * Makes a private directory (mode 0700, under the OS temp directory) for notify sockets,
 * removed with its content when the scope closes. The paths stay short (a socket path has at
 * most 107 bytes): name the sockets by a short id, not by the entity name.
 *
 * @internal
 */
export const makeSocketDirectory = (
  prefix = "ham-"
): Effect.Effect<string, NotifySocketError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.try({
      try: () => fs.mkdtempSync(`${fs.realpathSync(os.tmpdir())}/${prefix}`),
      catch: (u) => new NotifySocketError({ path: prefix, reason: `mkdtemp: ${errorText(u)}` })
    }),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )

// ---------------------------------------------------------------------------------------------
// client
// ---------------------------------------------------------------------------------------------

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

/**
 * The bridge a Node child of the HAM gets with the option `nodeIpc` (preloaded with
 * `--require`): when the child has no IPC channel, it gets a `process.send` that carries
 * `{ ham: "<line>" }` messages over its notify socket (other messages go nowhere, as with no
 * parent listening). Plain CommonJS, no dependency.
 *
 * @internal
 */
export const ipcBridgeSource = `"use strict"
// effect-ham: process.send({ ham: "<line>" }) over HAM_NOTIFY_SOCKET (Entity.process option nodeIpc)
const path = process.env.HAM_NOTIFY_SOCKET
if (typeof path === "string" && path.length > 0 && typeof process.send !== "function") {
  const net = require("node:net")
  let socket
  process.send = function send(message, ...rest) {
    const callback = rest.find((arg) => typeof arg === "function")
    if (message !== null && typeof message === "object" && typeof message.ham === "string") {
      if (socket === undefined || socket.destroyed) {
        socket = net.createConnection(path)
        socket.on("error", () => {})
        socket.unref()
      }
      socket.write(message.ham.replace(/[\\r\\n]+/g, " ") + "\\n")
    }
    if (callback !== undefined) process.nextTick(callback, null)
    return true
  }
}
`
