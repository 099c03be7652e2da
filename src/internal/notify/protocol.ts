/**
 * The line protocol of the notify channel between the HAM and its child processes, modelled on
 * systemd's `sd_notify`: the HAM listens on a Unix stream socket per process entity and passes
 * its path to the child in `HAM_NOTIFY_SOCKET` (and the entity name in `HAM_ENTITY`). The child
 * writes newline-terminated `KEY=VALUE` lines: `READY=1`, `WATCHDOG=1`, `STATE=<n>`,
 * `RAISE=<type>,<class>,<severity>[,<detail>]`, `STATUS=<text>`. A Node child spawned with an IPC
 * channel may instead send `{ ham: "<line>" }` objects with `process.send`.
 *
 * This file holds what both ends share, none of it doing I/O: the messages, the errors, the parser and
 * its inverse, the line splitter, and the IPC bridge a Node child can preload. The server is in
 * `server.ts`, the client (used by `Notify.ts`) in `client.ts`. The protocol for child authors is
 * in `docs/notify-protocol.md`.
 *
 * @internal
 */
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

// ---------------------------------------------------------------------------------------------
// constants
// ---------------------------------------------------------------------------------------------

/** @internal the variable holding the socket path */
export const EnvSocket = "HAM_NOTIFY_SOCKET"

/** @internal the variable holding the entity name */
export const EnvEntity = "HAM_ENTITY"

/**
 * @internal the environment variable that holds the id of a child's launch, under a store: the
 * HAM records it before it starts the child, so that the next HAM of the store finds a child whose
 * HAM died before it recorded it
 */
export const EnvLaunch = "HAM_LAUNCH_ID"

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
export interface RaiseInput {
  readonly type: number
  readonly class: number
  readonly severity: number
  readonly detail?: string | undefined
}

// ---------------------------------------------------------------------------------------------
// a child's text in the log
// ---------------------------------------------------------------------------------------------

/** what a child's text may not carry into a log line: C0 and C1 controls, DEL, line and bidi separators */
// eslint-disable-next-line no-control-regex -- control characters are what it looks for
const Unsafe = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g

const escapeChar = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`

/**
 * A child's text made safe for a log line: control characters (C0, DEL, C1), the Unicode line
 * separators and the bidi controls are shown as `\uXXXX`, so a child can neither end a log line,
 * forge another one, reorder what follows nor send terminal escapes. The rest is unchanged.
 *
 * @internal
 */
export const escapeText = (text: string): string => text.replace(Unsafe, escapeChar)

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
  /** the offending line (its first 200 characters; `message` shows it escaped, see `escapeText`) */
  line: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `notify: ${this.reason}: "${escapeText(this.line.replace(/["\\]/g, "\\$&"))}"`
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

/** a non-negative integer in its one canonical decimal form: no sign, space, leading zero or exponent */
const CanonicalNat = /^(?:0|[1-9][0-9]{0,15})$/

const parseNat = (s: string): number | undefined => {
  if (!CanonicalNat.test(s)) return undefined
  const n = Number(s)
  return n <= Number.MAX_SAFE_INTEGER ? n : undefined
}

/** @internal the offending line of a `NotifyParseError`: its first 200 characters */
export const shownLine = (line: string): string => line.length > 200 ? line.slice(0, 200) : line

/** @internal the text of a thrown value, for error reasons */
export const errorText = (u: unknown): string => u instanceof Error ? u.message : String(u)

const KeyPattern = /^[A-Za-z0-9_]+$/

// the messages are built as plain objects (the values are checked here; Schema's `make` would
// check them again on every heartbeat)
const readyMessage: NotifyMessage = { _tag: "Ready" }
const watchdogMessage: NotifyMessage = { _tag: "Watchdog" }

/**
 * Parses one line of the protocol (without its newline; one trailing `\r` is ignored). Unknown
 * keys give `Unknown`; malformed lines and values, and lines over 4096 bytes, give a
 * `NotifyParseError`.
 *
 * @internal
 */
export const parseLine = (input: string): Either.Either<NotifyMessage, NotifyParseError> => {
  const line = input.endsWith("\r") ? input.slice(0, -1) : input
  const error = (reason: string) => Either.left(new NotifyParseError({ line: shownLine(line), reason }))
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
// the IPC bridge (preloaded into Node children)
// ---------------------------------------------------------------------------------------------

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
