/**
 * The remote HAM's procedures: one `@effect/rpc` procedure per request of the protocol
 * (`protocol/requests.ts`), of the same name, plus `Hello` (the handshake a client makes first)
 * and `Events` as a stream.
 *
 * On the wire a call's payload is the protocol's JSON request (as a config file holds it), checked
 * by the server with the request's own Schema: a payload that does not decode is the typed
 * `InvalidArgument` of that call, never a defect, and a client checks what it sends the same way
 * before sending it (what is local to its process, a fiber or code, fails there). Each procedure's
 * success is its request's; its errors are its request's plus `InvalidArgument`, and, through the
 * `Authorization` middleware, `Unauthorized`.
 *
 * @internal
 */
import * as Rpc from "@effect/rpc/Rpc"
import * as RpcGroup from "@effect/rpc/RpcGroup"
import * as RpcMiddleware from "@effect/rpc/RpcMiddleware"
import * as Schema from "effect/Schema"
import { InvalidArgument, Unauthorized } from "../../HamError.js"
import * as cond from "../condition.js"
import * as requests from "../protocol/requests.js"
import * as tree_ from "../tree.js"

/** @internal the version of the protocol; a client and a server of different versions refuse each other */
export const ProtocolVersion = 1

/**
 * Checks every call's token (TCP) or lets every call through (a Unix socket: its file is the
 * owner's only). A refused call fails with `Unauthorized` before its handler runs.
 *
 * @internal
 */
export class Authorization extends RpcMiddleware.Tag<Authorization>()("effect-ham/remote/Authorization", {
  failure: Unauthorized,
  requiredForClient: true
}) {}

/** @internal the header that carries the token */
export const TokenHeader = "x-ham-token"

/** a procedure for a request of the protocol: its JSON in, its success out, its errors and InvalidArgument */
const call = <const Tag extends string, S extends Schema.Schema.Any, F extends Schema.Schema.All>(
  request: { readonly _tag: Tag; readonly success: S; readonly failure: F },
  success: S = request.success
) =>
  Rpc.make(request._tag, {
    payload: Schema.Unknown,
    success,
    error: Schema.Union(request.failure, InvalidArgument)
  })

/**
 * A schema whose encoding is its value as it is, unchecked: for what the server sends and made
 * itself (typed, and of a type that is its own JSON), so that the tree and every event are not
 * walked once more before they are sent. The client decodes them with the full schemas.
 */
const made = <A>(_: Schema.Schema<A>): Schema.Schema<A> => Schema.declare((_u: unknown): _u is A => true)

/** @internal what the server says of itself in the handshake */
export const HelloReply = Schema.Struct({
  protocol: Schema.Number,
  pid: Schema.Number
})

/**
 * The first element of an `Events` stream: the server's subscription is in place, so every event
 * published from now on is in the stream (what `Ham.subscribe` promises).
 *
 * @internal
 */
export const Subscribed = Schema.TaggedStruct("Subscribed", {})

/** @internal an element of an `Events` stream */
export const EventItem = Schema.Union(Subscribed, cond.ConditionEvent)

/** @internal */
export type EventItem = typeof EventItem.Type

const procedures = (tree: Schema.Schema<tree_.Tree>, item: Schema.Schema<EventItem>) =>
  RpcGroup.make(
    Rpc.make("Hello", { payload: { protocol: Schema.Number }, success: HelloReply }),
    call(requests.Attach),
    call(requests.Entity),
    call(requests.LookupEntity),
    call(requests.Detach),
    call(requests.Condition),
    call(requests.ConditionState),
    call(requests.ConditionRaise),
    call(requests.LookupCondition),
    call(requests.AddAction),
    call(requests.LookupAction),
    call(requests.Control),
    call(requests.Remove),
    call(requests.RemoveFailAction),
    call(requests.PublishState),
    call(requests.Raise),
    call(requests.RestartEntity),
    call(requests.ReloadEntity),
    call(requests.SignalEntity),
    call(requests.Verbose),
    call(requests.Snapshot, tree),
    call(requests.Stop),
    Rpc.make("Events", { payload: Schema.Unknown, success: item, error: InvalidArgument, stream: true })
  ).middleware(Authorization)

/** @internal every procedure of the remote HAM, each behind `Authorization` (the client's: it checks what it gets) */
export class HamRpcs extends procedures(tree_.Tree, EventItem) {}

/** @internal the same procedures as the server serves them: the tree and the events it made are sent unchecked */
export class HamServerRpcs extends procedures(made(tree_.Tree), made(EventItem)) {}
