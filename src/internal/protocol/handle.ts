/**
 * Requests read and written as JSON, and run against a local `Ham` service. A request that does
 * not decode (or holds something local that cannot be encoded) is an `InvalidArgument` that
 * names the field and the rule in one sentence.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import type * as Stream from "effect/Stream"
import { type HamError, InvalidArgument } from "../../HamError.js"
import type { HamService } from "../../HamService.js"
import type * as cond from "../condition.js"
import { formatParseError } from "../ham/validate.js"
import * as requests from "./requests.js"

/**
 * The decode (or encode) error of a request as an `InvalidArgument` on one line: the request's tag,
 * then the field that failed and its rule.
 *
 * @internal
 */
export const invalidArgument = (error: ParseResult.ParseError, input: unknown): InvalidArgument =>
  Predicate.hasProperty(input, "_tag") && typeof input._tag === "string"
    ? new InvalidArgument({ argument: input._tag, reason: formatParseError(error) })
    : new InvalidArgument({
      argument: "request",
      reason: `must be an object whose _tag names an operation (got ${JSON.stringify(input) ?? String(input)})`
    })

const decode = Schema.decodeUnknown(requests.Request)
const encode = Schema.encode(requests.Request)

/** @internal a request from its JSON (a line of a config file, a message) */
export const decodeRequest = (input: unknown): Effect.Effect<requests.Request, InvalidArgument> =>
  Effect.mapError(decode(input), (error) => invalidArgument(error, input))

/** @internal a request as JSON; what is local to this process (code, fibers, schedules) fails */
export const encodeRequest = (request: requests.Request): Effect.Effect<requests.RequestJson, InvalidArgument> =>
  Effect.mapError(encode(request), (error) => invalidArgument(error, request))

// ---------------------------------------------------------------------------------------------
// running a request against the local service
// ---------------------------------------------------------------------------------------------

type Success<R> = Schema.WithResult.Success<R>
type Failure<R> = Schema.WithResult.Failure<R>

type Handlers = {
  readonly [Tag in requests.Call["_tag"]]: (
    request: Extract<requests.Call, { readonly _tag: Tag }>
  ) => Effect.Effect<
    Success<Extract<requests.Call, { readonly _tag: Tag }>>,
    Failure<Extract<requests.Call, { readonly _tag: Tag }>>
  >
}

/**
 * Keeps the errors of an operation to the set of its request (its `failure` schema); any other
 * error is a broken invariant of the service. (Once the service's own error channels are these
 * sets, this is a no-op.)
 *
 * @internal
 */
const within = <E>(failure: Schema.Schema<E, any>) => {
  const isExpected = Schema.is(failure)
  return <A>(effect: Effect.Effect<A, HamError>): Effect.Effect<A, E> =>
    Effect.catchAll(effect, (error) => isExpected(error) ? Effect.fail(error) : Effect.die(error))
}

/**
 * A fiber entity's lives are code of the HAM's own process: a request (from another process) may
 * neither restart nor signal them. The kind is read from the tree; an entity not found is left to
 * the operation, which says so.
 */
const unlessFiber = (ham: HamService, entity: requests.RestartEntity["entity"], what: string) => {
  const name = typeof entity === "string" ? entity : entity.name
  return Effect.flatMap(ham.snapshot, (tree) =>
    tree.entities.some((e) => e.name === name && e.kind === "fiber")
      ? Effect.fail(
        new InvalidArgument({
          argument: "entity",
          reason: `"${name}" is a fiber entity: only its own process may ${what} it (Ham.${what}Entity)`
        })
      )
      : Effect.void)
}

const handlers = (ham: HamService): Handlers => ({
  Attach: ({ options, spec }) =>
    spec._tag === "Fiber"
      ? Effect.fail(
        new InvalidArgument({ argument: "spec", reason: "a fiber entity is attached with Ham.attach, not a request" })
      )
      : within(requests.Attach.failure)(ham.attach(spec, options)),
  Entity: ({ name }) => within(requests.Entity.failure)(ham.entity(name)),
  LookupEntity: ({ name }) => within(requests.LookupEntity.failure)(ham.entityHandle(name)),
  Detach: ({ entity }) => within(requests.Detach.failure)(ham.detach(entity)),
  Condition: ({ entity, options, type }) => within(requests.Condition.failure)(ham.condition(entity, type, options)),
  ConditionState: ({ entity, filter, options }) =>
    within(requests.ConditionState.failure)(ham.conditionState(entity, filter, options)),
  ConditionRaise: ({ entity, filter, options }) =>
    within(requests.ConditionRaise.failure)(ham.conditionRaise(entity, filter, options)),
  LookupCondition: ({ entity, name }) => within(requests.LookupCondition.failure)(ham.conditionHandle(entity, name)),
  AddAction: ({ action, condition }) => within(requests.AddAction.failure)(ham.addAction(condition, action)),
  LookupAction: ({ condition, name }) => within(requests.LookupAction.failure)(ham.actionHandle(condition, name)),
  Control: ({ handle, op, options }) => within(requests.Control.failure)(ham.control(handle, op, options)),
  Remove: ({ handle }) => within(requests.Remove.failure)(ham.remove(handle)),
  RemoveFailAction: ({ action, name }) => within(requests.RemoveFailAction.failure)(ham.removeFailAction(action, name)),
  PublishState: ({ entity, state }) => within(requests.PublishState.failure)(ham.publishState(entity, state)),
  Raise: ({ entity, raise }) => within(requests.Raise.failure)(ham.raise(entity, raise)),
  RestartEntity: ({ entity }) =>
    within(requests.RestartEntity.failure)(
      Effect.zipRight(unlessFiber(ham, entity, "restart"), ham.restartEntity(entity))
    ),
  ReloadEntity: ({ entity, options }) => within(requests.ReloadEntity.failure)(ham.reloadEntity(entity, options)),
  SignalEntity: ({ entity, signal }) =>
    within(requests.SignalEntity.failure)(
      Effect.zipRight(unlessFiber(ham, entity, "signal"), ham.signalEntity(entity, signal))
    ),
  Verbose: ({ level }) => within(requests.Verbose.failure)(ham.verbose(level)),
  Snapshot: () => ham.snapshot,
  Stop: () => ham.stop
})

/**
 * Runs a request against a local `Ham` service: the call its operation names, with the errors of
 * its row. Local callers call the service directly; this is for requests that came as data (a
 * remote client, the daemon's config file).
 *
 * @internal
 */
export const handle = (ham: HamService) => {
  const run = handlers(ham)
  return <R extends requests.Call>(request: R): Effect.Effect<Success<R>, Failure<R>> =>
    // the handlers are typed one by one above; the lookup by tag forgets which one it found
    (run[request._tag] as (request: requests.Call) => Effect.Effect<any, any>)(request)
}

/** @internal runs an `Events` request: the condition events of its entity, or of all */
export const handleEvents = (ham: HamService) => (request: requests.Events): Stream.Stream<cond.ConditionEvent> =>
  ham.events(request.entity)
