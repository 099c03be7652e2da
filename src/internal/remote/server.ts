/**
 * The remote HAM's server: the `Ham` of its context served with `@effect/rpc` on the listeners
 * asked for (nothing listens unless asked), every call checked by the `Authorization` middleware
 * (a TCP call must carry the token; a Unix socket's needs none), every payload decoded with its
 * request's Schema before it reaches the HAM.
 *
 * @internal
 */
import * as RpcServer from "@effect/rpc/RpcServer"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { InvalidArgument, type ListenFailed, Unauthorized } from "../../HamError.js"
import type * as Api from "../../HamServer.js"
import type { HamService } from "../../HamService.js"
import type * as cond from "../condition.js"
import { Ham } from "../ham/make.js"
import * as protocol from "../protocol.js"
import * as auth from "./auth.js"
import * as listen from "./listen.js"
import * as rpcs from "./rpcs.js"
import * as tls from "./tls.js"
import * as transport_ from "./transport.js"

/** @internal */
export class HamServer extends Context.Tag("effect-ham/HamServer")<HamServer, Api.HamServerService>() {}

// ---------------------------------------------------------------------------------------------
// options
// ---------------------------------------------------------------------------------------------

const invalid = (argument: string, reason: string) => new InvalidArgument({ argument, reason })

const positiveInt = (argument: string, value: number | undefined, fallback: number) =>
  value === undefined
    ? Effect.succeed(fallback)
    : Number.isSafeInteger(value) && value > 0
    ? Effect.succeed(value)
    : Effect.fail(invalid(`limits.${argument}`, `must be a positive integer (got ${value})`))

const positiveMillis = (argument: string, value: Duration.DurationInput | undefined, fallback: number) =>
  Effect.suspend(() => {
    if (value === undefined) return Effect.succeed(fallback)
    const duration = Duration.decodeUnknown(value)
    return Option.isSome(duration) && Duration.toMillis(duration.value) >= 1 &&
        Duration.isFinite(duration.value)
      ? Effect.succeed(Math.round(Duration.toMillis(duration.value)))
      : Effect.fail(invalid(`limits.${argument}`, "must be a finite duration of at least 1 ms"))
  })

/** @internal the limits given, checked, over the defaults */
export const limitsOf = (input: Api.Limits | undefined): Effect.Effect<transport_.Limits, InvalidArgument> => {
  const d = transport_.defaultLimits
  return Effect.all({
    maxConnections: positiveInt("maxConnections", input?.maxConnections, d.maxConnections),
    maxFrameBytes: positiveInt("maxFrameBytes", input?.maxFrameBytes, d.maxFrameBytes),
    maxInFlight: positiveInt("maxInFlight", input?.maxInFlight, d.maxInFlight),
    maxPendingWriteBytes: positiveInt("maxPendingWriteBytes", input?.maxPendingWriteBytes, d.maxPendingWriteBytes),
    idleTimeoutMillis: positiveMillis("idleTimeout", input?.idleTimeout, d.idleTimeoutMillis),
    authTimeoutMillis: positiveMillis("authTimeout", input?.authTimeout, d.authTimeoutMillis),
    maxAuthFailures: positiveInt("maxAuthFailures", input?.maxAuthFailures, d.maxAuthFailures)
  })
}

// ---------------------------------------------------------------------------------------------
// handlers
// ---------------------------------------------------------------------------------------------

/** the handler of a request's procedure: its payload decoded (or `InvalidArgument`), then run */
const callOf = <R extends protocol.Call, I>(schema: Schema.Schema<R, I>, run: ReturnType<typeof protocol.handle>) => {
  const decode = Schema.decodeUnknown(schema)
  return (payload: unknown) =>
    Effect.flatMap(
      Effect.mapError(decode(payload), (error) => protocol.invalidArgument(error, payload)),
      (request) => run(request)
    )
}

const decodeEvents = Schema.decodeUnknown(protocol.Events)

/** the events of a subscription made now: `Subscribed` first, then every event (of one entity) */
const events = (ham: HamService) => (payload: unknown): Stream.Stream<rpcs.EventItem, InvalidArgument> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const request = yield* Effect.mapError(decodeEvents(payload), (error) => protocol.invalidArgument(error, payload))
    const dequeue = yield* ham.subscribe
    const ref = request.entity
    const name = ref === undefined || (typeof ref !== "string" && ref.isGlobal)
      ? undefined
      : typeof ref === "string"
      ? ref
      : ref.name
    const all = Stream.fromQueue(dequeue)
    const stream: Stream.Stream<cond.ConditionEvent> = name === undefined
      ? all
      : Stream.filter(all, (event) => event.entity === name)
    return Stream.concat(Stream.succeed(subscribed), stream)
  }))

const subscribed: rpcs.EventItem = { _tag: "Subscribed" }

const handlers = (ham: HamService) => {
  const run = protocol.handle(ham)
  return {
    Hello: () => Effect.succeed({ protocol: rpcs.ProtocolVersion, pid: process.pid }),
    Attach: callOf(protocol.Attach, run),
    Entity: callOf(protocol.Entity, run),
    LookupEntity: callOf(protocol.LookupEntity, run),
    Detach: callOf(protocol.Detach, run),
    Condition: callOf(protocol.Condition, run),
    ConditionState: callOf(protocol.ConditionState, run),
    ConditionRaise: callOf(protocol.ConditionRaise, run),
    LookupCondition: callOf(protocol.LookupCondition, run),
    AddAction: callOf(protocol.AddAction, run),
    LookupAction: callOf(protocol.LookupAction, run),
    Control: callOf(protocol.Control, run),
    Remove: callOf(protocol.Remove, run),
    RemoveFailAction: callOf(protocol.RemoveFailAction, run),
    PublishState: callOf(protocol.PublishState, run),
    Raise: callOf(protocol.Raise, run),
    RestartEntity: callOf(protocol.RestartEntity, run),
    ReloadEntity: callOf(protocol.ReloadEntity, run),
    SignalEntity: callOf(protocol.SignalEntity, run),
    Verbose: callOf(protocol.Verbose, run),
    Snapshot: callOf(protocol.Snapshot, run),
    Stop: callOf(protocol.Stop, run),
    Events: events(ham)
  }
}

// ---------------------------------------------------------------------------------------------
// the server
// ---------------------------------------------------------------------------------------------

/**
 * Every call of a TCP connection must carry the token; a Unix socket's connections are trusted.
 * A refused call fails with `Unauthorized` before its handler is run; the transport closes a
 * connection once its calls were refused `maxAuthFailures` times.
 */
const authorization = (transport: transport_.Transport, token: Option.Option<Redacted.Redacted<string>>) => {
  const check = Option.map(token, auth.tokenChecker)
  return rpcs.Authorization.of(({ clientId, headers }) =>
    Effect.suspend(() => {
      const connection = transport.connection(clientId)
      if (connection === undefined) return Effect.fail(new Unauthorized({ reason: "the connection is closed" }))
      if (connection.trusted) return Effect.void
      const given = headers[rpcs.TokenHeader]
      // a token the connection sent before is not checked again (its own earlier input: nothing of
      // the server's token shows in that comparison)
      if (given === undefined || given !== connection.lastToken) {
        connection.lastToken = given
        connection.lastTokenOk = Option.isSome(check) && check.value(given)
      }
      if (connection.lastTokenOk) {
        connection.authenticated = true
        return Effect.void
      }
      connection.authFailures++
      return Effect.fail(
        new Unauthorized({
          reason: given === undefined ? "the call carries no token" : "the token is not this server's"
        })
      )
    })
  )
}

/** @internal */
export const make = (
  options: Api.ServerOptions
): Effect.Effect<Api.HamServerService, InvalidArgument | ListenFailed, Ham | Scope.Scope> =>
  Effect.gen(function*() {
    const ham = yield* Ham
    const limits = yield* limitsOf(options.limits)
    const token = yield* auth.resolveToken(options.auth, "auth")
    const tcp = options.listen.tcp
    if (tcp !== undefined && Option.isNone(token)) {
      return yield* invalid("auth", "a TCP listener needs a token: give auth.token, auth.tokenFile or auth.tokenEnv")
    }
    const secure = tcp?.tls === undefined
      ? undefined
      : { options: yield* tls.serverOptions(tcp.tls, limits.authTimeoutMillis), maxConnections: limits.maxConnections }
    const transport = yield* transport_.make(limits)
    const boundTcp = tcp === undefined
      ? Option.none()
      : Option.some(yield* listen.listenTcp(transport, tcp.host ?? "127.0.0.1", tcp.port, secure))
    if (Option.isSome(boundTcp) && secure === undefined && !listen.isLoopback(boundTcp.value.host)) {
      yield* Effect.logWarning(
        `HamServer: listening on ${listen.tcpAddress(boundTcp.value.host, boundTcp.value.port)}, beyond loopback, ` +
          "without TLS: the token and every call travel in clear text"
      )
    }
    const boundUnix = options.listen.unix === undefined
      ? Option.none()
      : Option.some(yield* listen.listenUnix(transport, options.listen.unix))
    const context = yield* rpcs.HamServerRpcs.toHandlersContext(Effect.succeed(handlers(ham)))
    yield* RpcServer.make(rpcs.HamServerRpcs, { disableTracing: true, disableFatalDefects: true }).pipe(
      Effect.provide(context),
      Effect.provideService(rpcs.Authorization, authorization(transport, token)),
      Effect.provideService(RpcServer.Protocol, transport.protocol),
      Effect.interruptible,
      Effect.forkScoped
    )
    return { tcp: boundTcp, unix: boundUnix, stats: transport.stats }
  })

/** @internal */
export const layer = (options: Api.ServerOptions): Layer.Layer<HamServer, InvalidArgument | ListenFailed, Ham> =>
  Layer.scoped(HamServer, make(options))
