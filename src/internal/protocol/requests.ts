/**
 * One `Schema.TaggedRequest` per operation of the HAM that can cross a process boundary: its
 * payload, its success and its failure (exactly the errors the operation can fail with). The
 * remote protocol serves them (`Rpc.fromTaggedRequest`) and the daemon's config file is a list of
 * them. A payload with a field it does not know is refused.
 *
 * @internal
 */
import * as Schema from "effect/Schema"
import * as cond from "../condition.js"
import * as tree_ from "../tree.js"
import * as data from "./data.js"

/** the payload of every request is checked strictly: a field it does not know is an error */
const strict = (description: string) => [{ description }, { parseOptions: { onExcessProperty: "error" } }] as const

/** @internal `Ham.attach` of a process or pid entity */
export class Attach extends Schema.TaggedRequest<Attach>()("Attach", {
  payload: { spec: data.EntitySpec, options: Schema.optional(data.AttachOptions) },
  success: data.EntityHandle,
  failure: data.AttachError
}, strict("attaches a process the HAM starts, or an existing process")) {}

/** @internal `Ham.entity`: a placeholder (or the entity of that name) */
export class Entity extends Schema.TaggedRequest<Entity>()("Entity", {
  payload: { name: Schema.String },
  success: data.EntityHandle,
  failure: data.ArgumentError
}, strict("declares an entity before it is attached")) {}

/** @internal `Ham.entityHandle` */
export class LookupEntity extends Schema.TaggedRequest<LookupEntity>()("LookupEntity", {
  payload: { name: Schema.String },
  success: data.EntityHandle,
  failure: data.LookupEntityError
}, strict("the handle of an entity, by its name")) {}

/** @internal `Ham.detach` */
export class Detach extends Schema.TaggedRequest<Detach>()("Detach", {
  payload: { entity: data.EntityRef },
  success: Schema.Void,
  failure: data.EntityError
}, strict("detaches an entity (fires CondDetach)")) {}

/** @internal `Ham.condition` */
export class Condition extends Schema.TaggedRequest<Condition>()("Condition", {
  payload: {
    entity: data.EntityRef,
    type: cond.ConditionTypeSchema,
    options: Schema.optional(data.ConditionOptions)
  },
  success: data.ConditionHandle,
  failure: data.ConditionError
}, strict("adds a condition to an entity")) {}

/** @internal `Ham.conditionState` */
export class ConditionState extends Schema.TaggedRequest<ConditionState>()("ConditionState", {
  payload: { entity: data.EntityRef, filter: data.StateFilter, options: Schema.optional(data.ConditionOptions) },
  success: data.ConditionHandle,
  failure: data.ConditionError
}, strict("adds a state condition (from and to states) to an entity")) {}

/** @internal `Ham.conditionRaise` */
export class ConditionRaise extends Schema.TaggedRequest<ConditionRaise>()("ConditionRaise", {
  payload: { entity: data.EntityRef, filter: data.RaiseFilter, options: Schema.optional(data.ConditionOptions) },
  success: data.ConditionHandle,
  failure: data.ConditionError
}, strict("adds a raise condition (type, class, severity) to an entity")) {}

/** @internal `Ham.conditionHandle` */
export class LookupCondition extends Schema.TaggedRequest<LookupCondition>()("LookupCondition", {
  payload: { entity: data.EntityRef, name: Schema.String },
  success: data.ConditionHandle,
  failure: data.LookupConditionError
}, strict("the handle of a condition, by its entity and name")) {}

/** @internal `Ham.addAction` of an action that is data */
export class AddAction extends Schema.TaggedRequest<AddAction>()("AddAction", {
  payload: { condition: data.ConditionHandle, action: data.DataAction },
  success: data.ActionHandle,
  failure: data.AddActionError
}, strict("adds an action (with its alternates) to a condition")) {}

/** @internal `Ham.actionHandle` */
export class LookupAction extends Schema.TaggedRequest<LookupAction>()("LookupAction", {
  payload: { condition: data.ConditionHandle, name: Schema.String },
  success: data.ActionHandle,
  failure: data.LookupActionError
}, strict("the handle of an action, by its condition and name")) {}

/** @internal `Ham.control` */
export class Control extends Schema.TaggedRequest<Control>()("Control", {
  payload: { handle: data.Handle, op: data.ControlOp, options: Schema.optional(data.ControlOptions) },
  success: data.ControlResult,
  failure: data.HandleError
}, strict("enables, disables, reads or sets the flags of an entity, condition or action")) {}

/** @internal `Ham.remove` */
export class Remove extends Schema.TaggedRequest<Remove>()("Remove", {
  payload: { handle: data.Handle },
  success: Schema.Void,
  failure: data.HandleError
}, strict("removes an entity (detach), condition or action")) {}

/** @internal `Ham.removeFailAction` */
export class RemoveFailAction extends Schema.TaggedRequest<RemoveFailAction>()("RemoveFailAction", {
  payload: { action: data.ActionHandle, name: Schema.String },
  success: Schema.Void,
  failure: data.HandleError
}, strict("removes a fail action of an action, by its name")) {}

/** @internal `Ham.publishState` */
export class PublishState extends Schema.TaggedRequest<PublishState>()("PublishState", {
  payload: { entity: data.EntityRef, state: Schema.NonNegativeInt },
  success: Schema.Void,
  failure: data.EntityError
}, strict("publishes the state of an entity (fires CondState)")) {}

/** @internal `Ham.raise` */
export class Raise extends Schema.TaggedRequest<Raise>()("Raise", {
  payload: { entity: data.EntityRef, raise: cond.RaiseInput },
  success: Schema.Void,
  failure: data.EntityError
}, strict("raises an event of an entity (fires CondRaise)")) {}

/** @internal `Ham.restartEntity` */
export class RestartEntity extends Schema.TaggedRequest<RestartEntity>()("RestartEntity", {
  payload: { entity: data.EntityRef },
  success: Schema.Void,
  failure: data.RestartEntityError
}, strict("restarts a running entity now: its life stopped, a new one started (CondRestart)")) {}

/** @internal `Ham.reloadEntity` */
export class ReloadEntity extends Schema.TaggedRequest<ReloadEntity>()(
  "ReloadEntity",
  {
    payload: { entity: data.EntityRef, options: Schema.optional(data.ReloadOptions) },
    success: Schema.Void,
    failure: data.ReloadEntityError
  },
  strict(
    "replaces a running process entity's process with no downtime: the new one started, the old stopped once it is ready"
  )
) {}

/** @internal `Ham.signalEntity` */
export class SignalEntity extends Schema.TaggedRequest<SignalEntity>()("SignalEntity", {
  payload: { entity: data.EntityRef, signal: Schema.String },
  success: Schema.Void,
  failure: data.SignalEntityError
}, strict("sends a signal (a name, such as SIGHUP) to a running entity's current life")) {}

/** @internal `Ham.verbose`: succeeds with the previous level */
export class Verbose extends Schema.TaggedRequest<Verbose>()("Verbose", {
  payload: { level: Schema.NonNegativeInt },
  success: Schema.Number,
  failure: data.ArgumentError
}, strict("sets the verbosity of the HAM")) {}

/** @internal `Ham.snapshot` */
export class Snapshot extends Schema.TaggedRequest<Snapshot>()("Snapshot", {
  payload: {},
  success: tree_.Tree,
  failure: Schema.Never
}, strict("the registry tree with its statistics (/proc/ham)")) {}

/**
 * `Ham.events`: a stream of the condition events (of one entity, or all). `success` is the
 * schema of one event; the remote protocol serves it as a stream.
 *
 * @internal
 */
export class Events extends Schema.TaggedRequest<Events>()("Events", {
  payload: { entity: Schema.optional(data.EntityRef) },
  success: cond.ConditionEvent,
  failure: Schema.Never
}, strict("the condition events, of one entity or all, as they happen")) {}

/** @internal `Ham.stop` */
export class Stop extends Schema.TaggedRequest<Stop>()("Stop", {
  payload: {},
  success: Schema.Void,
  failure: Schema.Never
}, strict("stops the HAM and every entity it started")) {}

/** @internal every request that succeeds once (all but `Events`) */
export const Call = Schema.Union(
  Attach,
  Entity,
  LookupEntity,
  Detach,
  Condition,
  ConditionState,
  ConditionRaise,
  LookupCondition,
  AddAction,
  LookupAction,
  Control,
  Remove,
  RemoveFailAction,
  PublishState,
  Raise,
  RestartEntity,
  ReloadEntity,
  SignalEntity,
  Verbose,
  Snapshot,
  Stop
)

/** @internal */
export type Call = typeof Call.Type

/** @internal every request (one flat union, so that a request's `_tag` picks its schema) */
export const Request = Schema.Union(...Call.members, Events)

/** @internal */
export type Request = typeof Request.Type

/** @internal a request as JSON (a line of the daemon's config file, a message on the wire) */
export type RequestJson = typeof Request.Encoded
