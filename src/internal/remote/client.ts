/**
 * The remote HAM's client: the `Ham` service over a connection to a `HamServer`, so that code
 * reads the same against a local HAM and a remote one. Each operation sends its protocol request
 * (checked here first: what is local to this process, a fiber entity or `Action.effect`, and bad
 * input fail with `InvalidArgument` before anything is sent) and gives back the server's answer
 * with the operation's own errors. A connection lost after the handshake makes the calls made
 * meanwhile die with `HamUnreachable` (the service's operations have no transport error), but for
 * the reads (snapshot, verbosity, handle lookups), which are tried again while the connection is
 * made again in the background, for up to `connectTimeout`.
 *
 * @internal
 */
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as Headers from "@effect/platform/Headers"
import * as Socket from "@effect/platform/Socket"
import * as RpcClient from "@effect/rpc/RpcClient"
import { RpcClientError } from "@effect/rpc/RpcClientError"
import * as RpcMiddleware from "@effect/rpc/RpcMiddleware"
import * as RpcSerialization from "@effect/rpc/RpcSerialization"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as ClientApi from "../../HamClient.js"
import { HamUnreachable, InvalidArgument, type Unauthorized } from "../../HamError.js"
import type * as Api from "../../HamService.js"
import * as cond from "../condition.js"
import { Ham } from "../ham/tag.js"
import * as protocol from "../protocol.js"
import * as auth from "./auth.js"
import * as frames from "./frames.js"
import * as listen from "./listen.js"
import * as rpcs from "./rpcs.js"
import * as tls from "./tls.js"

const invalid = (argument: string, reason: string) => new InvalidArgument({ argument, reason })

/** a reload's options as the wire carries them: the ready timeout in milliseconds */
const wireReloadOptions = (
  options: Api.ReloadOptions | undefined
): Effect.Effect<typeof protocol.ReloadEntity.Type["options"], InvalidArgument> => {
  if (options?.readyTimeout === undefined) {
    return Effect.succeed(options as typeof protocol.ReloadEntity.Type["options"])
  }
  const timeout = Duration.decodeUnknown(options.readyTimeout)
  return Option.isNone(timeout)
    ? Effect.fail(invalid("readyTimeout", "must be a duration"))
    : Effect.succeed({ ...options, readyTimeout: Duration.toMillis(timeout.value) })
}

type Success<R> = Schema.WithResult.Success<R>
type Failure<R> = Schema.WithResult.Failure<R>

/**
 * A call ended by its connection rather than by its caller: `@effect/rpc` ends the calls of a
 * connection that closes, or of a server that stops, as interrupted by its "transient" fiber id
 * (-503). They are lost calls, not interruptions of the caller.
 */
const isClosedByPeer = (cause: Cause.Cause<unknown>): boolean =>
  Cause.isInterruptedOnly(cause) &&
  Array.from(Cause.interruptors(cause)).some((id) => id._tag === "Runtime" && id.id === -503)

const closedByPeer = new RpcClientError({ reason: "Protocol", message: "the connection or the server closed the call" })

/** the requests that change nothing: tried again when their connection is lost */
const reads: ReadonlySet<string> = new Set(["LookupEntity", "LookupCondition", "LookupAction", "Snapshot"])

/** each request's JSON, by its own schema (what is local to this process fails: `InvalidArgument`) */
const encoders: Record<string, (request: protocol.Request) => Effect.Effect<unknown, ParseResult.ParseError>> = Object
  .fromEntries(
    protocol.Request.members.map((member) => [member._tag, Schema.encode(member as Schema.Schema<any, any>)])
  )

const encode = (request: protocol.Request): Effect.Effect<unknown, InvalidArgument> =>
  Effect.mapError(encoders[request._tag](request), (error) => protocol.invalidArgument(error, request))

/** for each request's tag, whether an error is one its operation can fail with */
const expected: Record<string, (u: unknown) => boolean> = Object.fromEntries(
  protocol.Call.members.map((member) => [member._tag, Schema.is(member.failure as Schema.Schema<unknown, unknown>)])
)

const causeText = (u: unknown): string => {
  if (Predicate.hasProperty(u, "cause") && u.cause !== undefined && u.cause !== u) {
    const inner = causeText(u.cause)
    if (inner.length > 0) return inner
  }
  return u instanceof Error ? u.message : Predicate.hasProperty(u, "message") ? String(u.message) : ""
}

/** where the options point to, as written in errors, and how to open a socket to it */
const endpointOf = (
  options: ClientApi.ClientOptions
): Effect.Effect<
  { readonly address: string; readonly open: Effect.Effect<Socket.Socket, Socket.SocketError> },
  InvalidArgument
> => {
  const { tcp, unix } = options
  if (unix !== undefined && tcp === undefined) {
    if (options.tls !== undefined) return Effect.fail(invalid("HamClient", "tls is for tcp, not for a Unix socket"))
    return Effect.succeed({ address: listen.unixAddress(unix), open: NodeSocket.makeNet({ path: unix }) })
  }
  if (tcp !== undefined && unix === undefined) {
    const host = tcp.host ?? "127.0.0.1"
    const address = listen.tcpAddress(host, tcp.port)
    if (options.tls === undefined) {
      return Effect.succeed({ address, open: NodeSocket.makeNet({ host, port: tcp.port, noDelay: true }) })
    }
    return Effect.map(tls.clientOptions(options.tls, host, tcp.port), (connect) => ({
      address: address.replace(/^tcp:/, "tls:"),
      open: tls.socket(connect)
    }))
  }
  return Effect.fail(invalid("HamClient", "give exactly one of tcp and unix"))
}

/** @internal */
export const make = (
  options: ClientApi.ClientOptions
): Effect.Effect<Api.HamService, InvalidArgument | Unauthorized | HamUnreachable, Scope.Scope> =>
  Effect.gen(function*() {
    const { address, open } = yield* endpointOf(options)
    const token = yield* auth.resolveToken(options.auth, "auth")
    const eventBuffer = options.eventBuffer ?? 4096
    const connectTimeout = options.connectTimeout ?? "5 seconds"
    const unreachable = (u: unknown) => new HamUnreachable({ address, reason: causeText(u) || String(u) })

    const serialization = frames.serialization(options.serialization ?? "ndjson", options.maxFrameBytes ?? 64 << 20)
    const withToken = RpcMiddleware.layerClient(rpcs.Authorization, ({ request }) =>
      Effect.succeed(
        Option.isSome(token)
          ? { ...request, headers: Headers.set(request.headers, rpcs.TokenHeader, Redacted.value(token.value)) }
          : request
      ))
    const context = yield* Layer.build(Layer.merge(
      RpcClient.layerProtocolSocket().pipe(
        Layer.provide(Layer.effect(Socket.Socket, Effect.mapError(open, unreachable))),
        Layer.provide(Layer.succeed(RpcSerialization.RpcSerialization, serialization))
      ),
      withToken
    ))
    const client = yield* Effect.provide(RpcClient.make(rpcs.HamRpcs, { disableTracing: true }), context)

    // the handshake: the server answers, speaks this protocol, and takes the token
    const hello = yield* client.Hello({ protocol: rpcs.ProtocolVersion }).pipe(
      Effect.timeoutFail({
        duration: connectTimeout,
        onTimeout: () =>
          new HamUnreachable({
            address,
            reason: `no answer within ${Duration.format(Duration.decode(connectTimeout))}`
          })
      }),
      Effect.catchTag("RpcClientError", (error) => Effect.fail(unreachable(error)))
    )
    if (hello.protocol !== rpcs.ProtocolVersion) {
      return yield* new HamUnreachable({
        address,
        reason: `the server speaks protocol ${hello.protocol}, this client ${rpcs.ProtocolVersion}`
      })
    }

    /** an error of the operation's own set fails it; a lost connection, or anything else, is a defect */
    const settle = (tag: string) => (error: unknown) =>
      expected[tag]?.(error) === true
        ? Effect.fail(error)
        : Effect.die(Predicate.isTagged(error, "RpcClientError") ? unreachable(error) : error)

    const send = client as unknown as Record<string, (json: unknown) => Effect.Effect<unknown, unknown>>
    const isLost = (error: unknown) => Predicate.isTagged(error, "RpcClientError")
    // a read whose connection is lost is tried again while the client connects again
    const again = Schedule.spaced("100 millis").pipe(Schedule.upTo(connectTimeout))
    const call = <R extends protocol.Call>(request: R): Effect.Effect<Success<R>, Failure<R>> => {
      const sent = Effect.flatMap(encode(request), (json) => send[request._tag](json)).pipe(
        Effect.catchAllCause((cause) => isClosedByPeer(cause) ? Effect.fail(closedByPeer) : Effect.failCause(cause))
      )
      return (reads.has(request._tag)
        ? Effect.catchIf(sent, isLost, () => Effect.retry(sent, { schedule: again, while: isLost }))
        : sent).pipe(
          Effect.catchAll(settle(request._tag))
        ) as Effect.Effect<Success<R>, Failure<R>>
    }

    const eventsOf = (entity: Parameters<Api.HamService["events"]>[0]) =>
      Stream.unwrap(Effect.map(
        Effect.orDie(encode(new protocol.Events({ entity }, true))),
        (json) => client.Events(json)
      )).pipe(
        Stream.catchAllCause((cause) =>
          isClosedByPeer(cause)
            ? Stream.die(unreachable(closedByPeer))
            : Stream.failCause(cause)
        ),
        Stream.catchAll((error) => Stream.die(Predicate.isTagged(error, "RpcClientError") ? unreachable(error) : error))
      )

    const isEvent = (item: rpcs.EventItem): item is cond.ConditionEvent => item._tag !== "Subscribed"

    const subscribe = Effect.gen(function*() {
      const queue = yield* Queue.sliding<cond.ConditionEvent>(eventBuffer)
      const ready = yield* Deferred.make<void>()
      yield* eventsOf(undefined).pipe(
        Stream.runForEachChunk((items) =>
          Chunk.every(items, isEvent)
            ? Queue.offerAll(queue, items)
            : Effect.zipRight(Deferred.succeed(ready, undefined), Queue.offerAll(queue, Chunk.filter(items, isEvent)))
        ),
        Effect.onExit((exit) => Effect.zipRight(Deferred.done(ready, exit), Queue.shutdown(queue))),
        Effect.forkScoped
      )
      yield* Deferred.await(ready)
      return queue as Queue.Dequeue<cond.ConditionEvent>
    })

    const snapshot = call(new protocol.Snapshot({}, true))

    /** a condition handle as the local HAM gives it: pipeable into the action adders */
    const pipeable = <E>(effect: Effect.Effect<Api.ConditionHandleFields, E>) =>
      Effect.map(effect, cond.conditionHandle)

    const service: Api.HamService = {
      attach: (spec, attachOptions) => call(new protocol.Attach({ spec, options: attachOptions }, true)),
      attachSelf: () =>
        Effect.fail(
          invalid(
            "attachSelf",
            "a remote HAM cannot attach its caller: attach a process entity, which uses the notify channel"
          )
        ),
      entity: (name) => call(new protocol.Entity({ name }, true)),
      entityHandle: (name) => call(new protocol.LookupEntity({ name }, true)),
      detach: (entity) => call(new protocol.Detach({ entity }, true)),
      condition: (entity, type, conditionOptions) =>
        pipeable(call(new protocol.Condition({ entity, type, options: conditionOptions }, true))),
      conditionState: (entity, filter, conditionOptions) =>
        pipeable(call(new protocol.ConditionState({ entity, filter, options: conditionOptions }, true))),
      conditionRaise: (entity, filter, conditionOptions) =>
        pipeable(call(new protocol.ConditionRaise({ entity, filter, options: conditionOptions }, true))),
      conditionHandle: (entity, name) => pipeable(call(new protocol.LookupCondition({ entity, name }, true))),
      addAction: (condition, action) => call(new protocol.AddAction({ condition, action }, true)),
      actionHandle: (condition, name) => call(new protocol.LookupAction({ condition, name }, true)),
      publishState: (entity, state) => call(new protocol.PublishState({ entity, state }, true)),
      raise: (entity, raise) => call(new protocol.Raise({ entity, raise }, true)),
      restartEntity: (entity) => call(new protocol.RestartEntity({ entity }, true)),
      reloadEntity: (entity, reloadOptions) =>
        Effect.flatMap(
          wireReloadOptions(reloadOptions),
          (options) => call(new protocol.ReloadEntity({ entity, options }, true))
        ),
      signalEntity: (entity, signal) => call(new protocol.SignalEntity({ entity, signal }, true)),
      subscribe,
      events: (entity) => Stream.filter(eventsOf(entity), isEvent),
      control: (handle, op, controlOptions) =>
        call(new protocol.Control({ handle, op, options: controlOptions }, true)),
      remove: (handle) => call(new protocol.Remove({ handle }, true)),
      removeFailAction: (action, name) => call(new protocol.RemoveFailAction({ action, name }, true)),
      snapshot,
      verbose: (level) => call(new protocol.Verbose({ level }, true)),
      verbosity: Effect.map(snapshot, (tree) => tree.verbosity),
      stop: call(new protocol.Stop({}, true))
    }
    return service
  })

/** @internal */
export const layer = (
  options: ClientApi.ClientOptions
): Layer.Layer<Ham, InvalidArgument | Unauthorized | HamUnreachable> => Layer.scoped(Ham, make(options))
