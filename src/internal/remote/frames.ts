/**
 * The frames of the remote HAM: msgpack or ndjson (the server takes either, per connection, from
 * its first byte: a JSON message starts with `{`, a msgpack one never does), each at most
 * `maxFrameBytes` long, and the envelope of each message a client sends checked before
 * `@effect/rpc` sees it. A frame that does not decode, one over the limit, or a message of the
 * wrong shape is a `FrameError`: the connection is closed (a peer that sends it is not one of our
 * clients; nothing it sent is run).
 *
 * @internal
 */
import type { FromClientEncoded } from "@effect/rpc/RpcMessage"
import * as RpcSerialization from "@effect/rpc/RpcSerialization"
import * as Data from "effect/Data"
import * as Predicate from "effect/Predicate"

/** @internal the serializations a client may speak */
export type Serialization = "msgpack" | "ndjson"

/** @internal why a connection's input was refused */
export class FrameError extends Data.TaggedError("FrameError")<{
  readonly reason: "malformed" | "oversized"
  readonly detail: string
}> {}

/** @internal the serialization of a client, its frames at most `maxFrameBytes` long */
export const serialization = (kind: Serialization, maxFrameBytes: number): RpcSerialization.RpcSerialization["Type"] =>
  kind === "ndjson"
    ? RpcSerialization.makeNdjson({ maxBufferSize: maxFrameBytes })
    : RpcSerialization.makeMsgPack({ useRecords: true, maxBufferSize: maxFrameBytes })

/** the first byte of an ndjson stream: `{` or blank */
const isJsonStart = (byte: number) => byte === 0x7b || byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09

/** a request id: a decimal integer (`@effect/rpc` makes a bigint of it) */
const isId = (u: unknown): u is string => typeof u === "string" && /^\d{1,20}$/.test(u)

const isHeaders = (u: unknown): boolean =>
  Array.isArray(u) &&
  u.length <= 64 &&
  u.every((h) => Array.isArray(h) && h.length === 2 && typeof h[0] === "string" && typeof h[1] === "string")

/** the reason a decoded message is not one a client sends, or `undefined` when it is */
const envelopeError = (m: unknown): string | undefined => {
  if (!Predicate.isRecord(m) || typeof m._tag !== "string") return "a message is an object with a _tag"
  switch (m._tag) {
    case "Request":
      if (!isId(m.id)) return "a request's id is a decimal integer"
      if (typeof m.tag !== "string") return "a request's tag is a string"
      if (!isHeaders(m.headers)) return "a request's headers are at most 64 [name, value] pairs of strings"
      if (!("payload" in m)) return "a request has a payload"
      return undefined
    case "Ack":
    case "Interrupt":
      return isId(m.requestId) ? undefined : `an ${m._tag}'s requestId is a decimal integer`
    case "Ping":
    case "Eof":
      return undefined
    default:
      return `unknown message ${JSON.stringify(m._tag).slice(0, 40)}`
  }
}

/**
 * The frames of one server connection: `decode` turns bytes into the messages they complete
 * (throwing `FrameError`), `encode` a response into bytes, in the serialization the client chose.
 *
 * @internal
 */
export interface ServerFrames {
  readonly decode: (bytes: Uint8Array) => ReadonlyArray<FromClientEncoded>
  readonly encode: (response: unknown) => Uint8Array | string | undefined
}

/** @internal */
export const makeServerFrames = (maxFrameBytes: number): ServerFrames => {
  let parser: RpcSerialization.Parser | undefined
  const pick = (bytes: Uint8Array) =>
    serialization(isJsonStart(bytes[0]) ? "ndjson" : "msgpack", maxFrameBytes).unsafeMake()
  return {
    decode: (bytes) => {
      if (bytes.length === 0) return []
      parser ??= pick(bytes)
      let messages: ReadonlyArray<unknown>
      try {
        messages = parser.decode(bytes)
      } catch (error) {
        throw Predicate.isTagged(error, "RpcSerializationError")
          ? new FrameError({ reason: "oversized", detail: `a frame is over ${maxFrameBytes} bytes` })
          : new FrameError({ reason: "malformed", detail: error instanceof Error ? error.message : String(error) })
      }
      for (const message of messages) {
        const error = envelopeError(message)
        if (error !== undefined) throw new FrameError({ reason: "malformed", detail: error })
      }
      return messages as ReadonlyArray<FromClientEncoded>
    },
    // a response is only sent to a client that sent something: the parser is chosen by then
    encode: (response) => parser?.encode(response)
  }
}
