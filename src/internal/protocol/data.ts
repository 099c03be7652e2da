/**
 * The data that the requests of the protocol carry: handles, entity references, entity specs,
 * actions and options, each as a Schema whose type is what the `Ham` service takes and whose
 * encoded form is plain JSON. What is local to a process (a fiber, local code, a schedule) can be
 * held in a request that runs locally, but fails to encode.
 *
 * @internal
 */
import * as ParseResult from "effect/ParseResult"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as AST from "effect/SchemaAST"
import {
  ActionNotFound,
  ConditionNotFound,
  DuplicateName,
  EntityNotFound,
  EntityNotRunning,
  HamStopped,
  InvalidArgument,
  ProcessNotFound,
  ProcessNotSignallable,
  ReloadFailed,
  SpawnFailed
} from "../../HamError.js"
import * as actionJson from "../action-json.js"
import * as action_ from "../action.js"
import * as cond from "../condition.js"
import * as entity_ from "../entity.js"
import * as json from "../json.js"
import * as watchConfig from "../watch/config.js"

// ---------------------------------------------------------------------------------------------
// what each operation can fail with
// ---------------------------------------------------------------------------------------------

/** @internal */
export const AttachError = Schema.Union(
  HamStopped,
  InvalidArgument,
  DuplicateName,
  SpawnFailed,
  ProcessNotFound,
  ProcessNotSignallable
)

/** @internal entity, verbose */
export const ArgumentError = Schema.Union(HamStopped, InvalidArgument)

/** @internal entityHandle */
export const LookupEntityError = Schema.Union(HamStopped, EntityNotFound)

/** @internal detach, publishState, raise */
export const EntityError = Schema.Union(HamStopped, InvalidArgument, EntityNotFound)

/** @internal condition, conditionState, conditionRaise */
export const ConditionError = Schema.Union(HamStopped, InvalidArgument, EntityNotFound, DuplicateName)

/** @internal conditionHandle */
export const LookupConditionError = Schema.Union(HamStopped, EntityNotFound, ConditionNotFound)

/** @internal addAction */
export const AddActionError = Schema.Union(
  HamStopped,
  InvalidArgument,
  EntityNotFound,
  ConditionNotFound,
  DuplicateName
)

/** @internal actionHandle */
export const LookupActionError = Schema.Union(HamStopped, EntityNotFound, ConditionNotFound, ActionNotFound)

/** @internal restartEntity */
export const RestartEntityError = Schema.Union(
  HamStopped,
  InvalidArgument,
  EntityNotFound,
  EntityNotRunning,
  SpawnFailed
)

/** @internal reloadEntity */
export const ReloadEntityError = Schema.Union(
  HamStopped,
  InvalidArgument,
  EntityNotFound,
  EntityNotRunning,
  ReloadFailed
)

/** @internal reloadEntity's options, as data: the ready timeout in milliseconds */
export const ReloadOptions = Schema.Struct({
  command: Schema.optional(action_.CommandLine),
  env: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String })),
  readyTimeout: Schema.optional(Schema.Number)
})

/** @internal signalEntity */
export const SignalEntityError = Schema.Union(
  HamStopped,
  InvalidArgument,
  EntityNotFound,
  EntityNotRunning,
  ProcessNotSignallable
)

/** @internal control, remove */
export const HandleError = Schema.Union(HamStopped, InvalidArgument, EntityNotFound, ConditionNotFound, ActionNotFound)

// ---------------------------------------------------------------------------------------------
// handles and references
// ---------------------------------------------------------------------------------------------

/** @internal an entity handle, written `{ "_tag": "EntityHandle", "name": "web", "isGlobal": false }` */
export const EntityHandle: Schema.Schema<
  entity_.EntityHandle,
  { readonly _tag: "EntityHandle"; readonly name: string; readonly isGlobal: boolean }
> = Schema.transform(
  Schema.TaggedStruct("EntityHandle", { name: Schema.String, isGlobal: Schema.Boolean }),
  Schema.declare(entity_.isEntityHandle, { identifier: "EntityHandle" }),
  {
    strict: true,
    decode: ({ isGlobal, name }) => entity_.makeHandle(name, isGlobal),
    encode: ({ isGlobal, name }) => ({ _tag: "EntityHandle" as const, name, isGlobal })
  }
).annotations({ identifier: "an entity handle" })

/** @internal an entity by its name, or by its handle */
export const EntityRef = Schema.Union(Schema.String, EntityHandle)

/** @internal as `Ham.condition` returns it */
export const ConditionHandle = Schema.TaggedStruct("ConditionHandle", {
  entity: Schema.String,
  isGlobal: Schema.Boolean,
  name: Schema.String
})

/** @internal as `Ham.addAction` returns it */
export const ActionHandle = Schema.TaggedStruct("ActionHandle", {
  entity: Schema.String,
  isGlobal: Schema.Boolean,
  condition: Schema.String,
  name: Schema.String
})

/** @internal what `Ham.control` and `Ham.remove` act on */
export const Handle = Schema.Union(EntityHandle, ConditionHandle, ActionHandle)

// ---------------------------------------------------------------------------------------------
// entity specs and attach options
// ---------------------------------------------------------------------------------------------

const noOptions = <A extends object, I>(schema: Schema.Schema<A, I>) =>
  json.withDefault(schema, () => ({}) as A, (options) => Object.values(options).every((v) => v === undefined))

const processOptionFields = {
  output: Schema.optional(entity_.Output),
  stopSignal: Schema.optional(Schema.String),
  stopGrace: Schema.optional(json.DurationInput),
  nodeIpc: Schema.optional(Schema.Boolean)
}

const isSpec =
  <Tag extends entity_.EntitySpec<unknown>["_tag"]>(tag: Tag) =>
  (u: unknown): u is Extract<entity_.EntitySpec<unknown>, { readonly _tag: Tag }> =>
    entity_.isEntitySpec(u) && u._tag === tag

/** @internal a child process the HAM starts: its name, command line and options */
export const ProcessSpec = Schema.transform(
  Schema.TaggedStruct("Process", {
    name: Schema.String,
    command: action_.CommandLine,
    options: noOptions(Schema.Struct(processOptionFields))
  }),
  Schema.declare(isSpec("Process"), { identifier: "ProcessSpec" }),
  {
    strict: true,
    decode: ({ command, name, options }) => entity_.processFromLine(name, command, options),
    encode: ({ command, name, options }) => ({ _tag: "Process" as const, name, command, options })
  }
)

/** @internal an existing process the HAM watches: its name, pid and options */
export const PidSpec = Schema.transform(
  Schema.TaggedStruct("Pid", {
    name: Schema.String,
    pid: Schema.Int,
    options: noOptions(Schema.Struct({ ...processOptionFields, pollInterval: Schema.optional(json.DurationInput) }))
  }),
  Schema.declare(isSpec("Pid"), { identifier: "PidSpec" }),
  {
    strict: true,
    decode: ({ name, options, pid }) => entity_.pid(name, pid, options),
    encode: ({ name, options, pid }) => ({ _tag: "Pid" as const, name, pid, options })
  }
)

/** @internal a process or pid entity; a fiber entity only locally */
export const EntitySpec = Schema.Union(ProcessSpec, PidSpec, json.localOnly(isSpec("Fiber"), "a fiber entity"))

const MaxRestarts = Schema.Union(
  Schema.NonNegativeInt,
  Schema.transform(Schema.Literal("Infinity"), Schema.Number.pipe(Schema.filter((n) => n === Infinity)), {
    strict: true,
    decode: () => Infinity,
    encode: () => "Infinity" as const
  })
)

/** @internal the options of `Ham.attach`; a back-off schedule only locally (`false` turns it off) */
export const AttachOptions = Schema.Struct({
  heartbeat: Schema.optional(Schema.Struct({
    interval: json.DurationInput,
    missedLow: Schema.NonNegativeInt,
    missedHigh: Schema.NonNegativeInt
  })),
  restartIntensity: Schema.optional(Schema.Struct({
    maxRestarts: Schema.optional(MaxRestarts),
    within: Schema.optional(json.DurationInput)
  })),
  backoff: Schema.optional(Schema.Union(
    Schema.Literal(false),
    json.localOnly((u): u is Schedule.Schedule<unknown> => Schedule.isSchedule(u), "a back-off schedule")
  )),
  backoffResetAfter: Schema.optional(json.DurationInput),
  probe: Schema.optional(watchConfig.ProbeJson),
  limits: Schema.optional(watchConfig.LimitsJson)
})

// ---------------------------------------------------------------------------------------------
// conditions, actions, control
// ---------------------------------------------------------------------------------------------

/** @internal the options of `Ham.condition`, `Ham.conditionState` and `Ham.conditionRaise` */
export const ConditionOptions = Schema.Struct({
  name: Schema.optional(Schema.String),
  independent: Schema.optional(Schema.Boolean),
  noWait: Schema.optional(Schema.Boolean),
  oneShot: Schema.optional(Schema.Boolean)
})

/** @internal a state filter as written (a missing side matches any state) */
export const StateFilter = Schema.encodedBoundSchema(cond.StateFilter)

/** @internal a raise filter as written (a missing field matches any value) */
export const RaiseFilter = Schema.encodedBoundSchema(cond.RaiseFilter)

/**
 * An action that is data (restart, execute, signal, waitfor, heartbeatHealthy, log, with its
 * name, flags and alternates), written as the store writes it. A request may hold any action to
 * run locally; local code fails to encode, and a `LocalCode` marker fails to decode.
 *
 * @internal
 */
export const DataAction: Schema.Schema<action_.Action, actionJson.ActionJson> = Schema.transformOrFail(
  actionJson.ActionFromJson,
  Schema.declare(action_.isAction, { identifier: "Action" }),
  {
    strict: true,
    decode: (action, _, ast) => refuseLocal(action, ast),
    encode: (action, _, ast) => refuseLocal(action, ast)
  }
)

const refuseLocal = (action: action_.Action, ast: AST.AST) => {
  const local = actionJson.localPart(action)
  return local === undefined ? ParseResult.succeed(action) : ParseResult.fail(
    new ParseResult.Forbidden(
      ast,
      action,
      `the action "${action_.defaultName(local)}" is local code, which cannot be sent or written as data`
    )
  )
}

/** @internal */
export const ControlOp = Schema.Union(
  Schema.Literal("enable", "disable", "getFlags"),
  Schema.Struct({ setFlags: Schema.Record({ key: Schema.String, value: Schema.Boolean }) })
)

/** @internal */
export const ControlOptions = Schema.Struct({ recurse: Schema.optional(Schema.Boolean) })

/** @internal */
export const ControlResult = Schema.Struct({
  enabled: Schema.Boolean,
  flags: Schema.Record({ key: Schema.String, value: Schema.Boolean })
})
