import * as Command from "@effect/platform/Command"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as HashMap from "effect/HashMap"
import * as Option from "effect/Option"
import { pipeArguments } from "effect/Pipeable"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import type * as PublicAction from "../Action.js"
import type { ConditionEvent } from "./condition.js"
import * as json from "./json.js"
import * as node_ from "./node.js"
import * as options_ from "./options.js"

/** @internal */
export const TypeId: typeof PublicAction.TypeId = Symbol.for("effect-ham/Action") as never

// ---------------------------------------------------------------------------------------------
// data
// ---------------------------------------------------------------------------------------------

/** @internal */
export type CommandLine = PublicAction.CommandLine

/** @internal a command line as written in JSON: only `command` is required */
export interface CommandLineJson {
  readonly command: string
  readonly args?: ReadonlyArray<string>
  readonly env?: { readonly [key: string]: string }
  readonly extendEnv?: boolean
  readonly cwd?: string | undefined
  readonly shell?: boolean | string
  readonly pipeTo?: CommandLineJson | undefined
}

/** @internal the fields left out of the JSON take the defaults of `Command.make` */
export const CommandLine: Schema.Schema<CommandLine, CommandLineJson> = Schema.Struct({
  command: Schema.String,
  args: json.list(Schema.String),
  env: json.withDefault(
    Schema.Record({ key: Schema.String, value: Schema.String }),
    () => ({}),
    (env) => Object.keys(env).length === 0
  ),
  extendEnv: json.withDefault(Schema.Boolean, () => true, (extend) => extend),
  cwd: Schema.optional(Schema.String),
  shell: json.withDefault(Schema.Union(Schema.Boolean, Schema.String), () => false, (shell) => shell === false),
  pipeTo: Schema.optional(
    Schema.suspend((): Schema.Schema<CommandLine, CommandLineJson> => CommandLine).annotations({
      identifier: "CommandLine"
    })
  )
})

/** @internal */
export const commandLineFrom = (command: Command.Command): CommandLine => {
  if (command._tag === "PipedCommand") {
    const left = commandLineFrom(command.left)
    return { ...left, pipeTo: commandLineFrom(command.right) }
  }
  return {
    command: command.command,
    args: command.args,
    env: Object.fromEntries(HashMap.toEntries(command.env)),
    extendEnv: command.extendEnv,
    cwd: Option.getOrUndefined(command.cwd),
    shell: command.shell
  }
}

/** @internal */
export const commandFrom = (line: CommandLine): Command.Command => {
  let command = Command.make(line.command, ...line.args).pipe(
    Command.env(line.env, { extendEnv: line.extendEnv }),
    Command.runInShell(line.shell)
  )
  if (line.cwd !== undefined) command = Command.workingDirectory(command, line.cwd)
  return line.pipeTo === undefined ? command : Command.pipeTo(command, commandFrom(line.pipeTo))
}

/** @internal */
export const renderCommandLine = (line: CommandLine): string => {
  const quote = (s: string) => /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`
  const own = [line.command, ...line.args].map(quote).join(" ")
  return line.pipeTo === undefined ? own : `${own} | ${renderCommandLine(line.pipeTo)}`
}

/** @internal */
export type NotifyTarget = PublicAction.NotifyTarget

const NotifyTargetSchema = Schema.declare(
  (u: unknown): u is NotifyTarget => Predicate.hasProperty(u, "_tag"),
  { identifier: "NotifyTarget", description: "a local Queue, PubSub or Deferred" }
)

/** @internal */
export type LocalRun = PublicAction.LocalRun

const LocalRunSchema = Schema.declare(
  (u: unknown): u is LocalRun => typeof u === "function",
  { identifier: "LocalRun", description: "local code: cannot be persisted or sent to a remote HAM" }
)

/** @internal */
export type RestartData = PublicAction.RestartData
/** @internal */
export type ExecuteData = PublicAction.ExecuteData
/** @internal */
export type NotifyData = PublicAction.NotifyData
/** @internal */
export type SignalData = PublicAction.SignalData
/** @internal */
export type WaitForData = PublicAction.WaitForData
/** @internal */
export type HeartbeatHealthyData = PublicAction.HeartbeatHealthyData
/** @internal */
export type LogData = PublicAction.LogData
/** @internal */
export type LocalData = PublicAction.LocalData
/** @internal */
export type PublishStateData = PublicAction.PublishStateData
/** @internal */
export type RaiseData = PublicAction.RaiseData
/** @internal */
export type NotifyEntityData = PublicAction.NotifyEntityData
/** @internal */
export type ActionData = PublicAction.ActionData

/** @internal the name and flags of every action */
export const flags = {
  name: Schema.optional(Schema.String),
  breakOnFail: Schema.Boolean,
  removeOnFail: Schema.Boolean,
  oneShot: Schema.Boolean,
  doNow: Schema.optional(Schema.Boolean)
}

/** @internal the fields of each action that is data, besides its name, flags and alternates */
export const dataFields = {
  Restart: { command: Schema.optional(CommandLine) },
  Execute: { command: CommandLine, timeoutMillis: Schema.optional(json.Millis) },
  Signal: {
    signal: Schema.String,
    pid: Schema.optional(Schema.Int),
    awaitExitMillis: Schema.optional(json.Millis),
    entity: Schema.optional(Schema.String),
    node: Schema.optional(node_.NodeAddress),
    timeoutMillis: Schema.optional(json.Millis)
  },
  WaitFor: {
    millis: json.Millis,
    entity: Schema.optional(Schema.String),
    path: Schema.optional(Schema.String),
    port: Schema.optional(Schema.Int),
    host: Schema.optional(Schema.String),
    ready: Schema.optional(Schema.String)
  },
  PublishState: {
    entity: Schema.String,
    state: Schema.NonNegativeInt,
    node: Schema.optional(node_.NodeAddress),
    timeoutMillis: Schema.optional(json.Millis)
  },
  Raise: {
    entity: Schema.String,
    raise: Schema.Struct({
      type: Schema.NonNegativeInt,
      class: Schema.NonNegativeInt,
      severity: Schema.NonNegativeInt,
      detail: Schema.optional(Schema.String)
    }),
    node: Schema.optional(node_.NodeAddress),
    timeoutMillis: Schema.optional(json.Millis)
  },
  NotifyEntity: { entity: Schema.String, message: Schema.String },
  RestartEntity: { entity: Schema.String },
  Log: {
    message: Schema.String,
    verbosity: json.withDefault(Schema.NonNegativeInt, () => 1, (verbosity) => verbosity === 1),
    attachPrefix: json.withDefault(Schema.Boolean, () => true, (prefix) => prefix)
  }
}

/** @internal the actions that are data, each with the name, flags and alternates of `common` */
export const dataVariants = <Common extends Schema.Struct.Fields>(common: Common) =>
  [
    Schema.TaggedStruct("Restart", { ...common, ...dataFields.Restart }),
    Schema.TaggedStruct("Execute", { ...common, ...dataFields.Execute }),
    Schema.TaggedStruct("Signal", { ...common, ...dataFields.Signal }),
    Schema.TaggedStruct("WaitFor", { ...common, ...dataFields.WaitFor }),
    Schema.TaggedStruct("HeartbeatHealthy", common),
    Schema.TaggedStruct("Log", { ...common, ...dataFields.Log }),
    Schema.TaggedStruct("PublishState", { ...common, ...dataFields.PublishState }),
    Schema.TaggedStruct("Raise", { ...common, ...dataFields.Raise }),
    Schema.TaggedStruct("NotifyEntity", { ...common, ...dataFields.NotifyEntity }),
    Schema.TaggedStruct("RestartEntity", { ...common, ...dataFields.RestartEntity })
  ] as const

const common = {
  ...flags,
  alternates: Schema.Array(Schema.suspend((): Schema.Schema<ActionData, any> => ActionData)),
  onFail: Schema.optional(Schema.Array(Schema.suspend((): Schema.Schema<ActionData, any> => ActionData)))
}

/** @internal */
export const ActionData: Schema.Schema<ActionData, any> = Schema.Union(
  ...dataVariants(common),
  Schema.TaggedStruct("Notify", {
    ...common,
    target: NotifyTargetSchema,
    value: Schema.OptionFromSelf(Schema.Unknown)
  }),
  Schema.TaggedStruct("Local", { ...common, label: Schema.String, run: LocalRunSchema })
)

/** @internal */
export type Action = PublicAction.Action

const ActionProto = {
  [TypeId]: TypeId,
  pipe() {
    return pipeArguments(this, arguments)
  },
  toJSON(this: Action) {
    return { _id: "Action", ...describe(this) }
  }
}

/** @internal */
export const isAction = (u: unknown): u is Action => Predicate.hasProperty(u, TypeId)

type Fields<A extends ActionData> = Omit<A, "breakOnFail" | "removeOnFail" | "oneShot" | "alternates">

/** @internal */
export const make = <A extends ActionData>(fields: Fields<A> & Partial<ActionData>): Action => {
  const self = Object.create(ActionProto)
  self.breakOnFail = false
  self.removeOnFail = false
  self.oneShot = false
  self.alternates = []
  Object.assign(self, fields)
  self.alternates = (self.alternates as ReadonlyArray<ActionData>).map(fromData)
  if (self.onFail !== undefined) self.onFail = (self.onFail as ReadonlyArray<ActionData>).map(fromData)
  return self
}

const ProblemKey = Symbol.for("effect-ham/Action/problem")

/**
 * What the constructor of an action found wrong in its arguments (an unknown option, a bad
 * duration): constructors are pure, so `Ham.addAction` refuses the action with it.
 *
 * @internal
 */
export const problemOf = (action: ActionData): options_.Problem | undefined =>
  (action as { readonly [ProblemKey]?: options_.Problem })[ProblemKey]

/** notes the first problem on the action (copies made by the combinators keep it) */
const withProblem = (action: Action, problem: options_.Problem | undefined): Action => {
  if (problem !== undefined && problemOf(action) === undefined) {
    ;(action as { [ProblemKey]?: options_.Problem })[ProblemKey] = problem
  }
  return action
}

const durationProblem = (input: unknown, argument: string): options_.Problem | undefined =>
  Option.isNone(Duration.decodeUnknown(input))
    ? { argument, reason: `must be a duration such as "5 seconds" (got ${options_.show(input)})` }
    : options_.isNegativeDuration(input)
    ? { argument, reason: `must not be negative or NaN (got ${options_.show(input)})` }
    : undefined

/** @internal gives plain data (decoded from a store or the wire) its prototype back */
export const fromData = (data: ActionData): Action => isAction(data) ? data : make(data)

// ---------------------------------------------------------------------------------------------
// constructors
// ---------------------------------------------------------------------------------------------

/** @internal */
export const restart: Action = make<RestartData>({ _tag: "Restart" })

/** @internal */
export const restartWith = (command: Command.Command): Action =>
  Command.isCommand(command)
    ? make<RestartData>({ _tag: "Restart", command: commandLineFrom(command) })
    : withProblem(make<RestartData>({ _tag: "Restart" }), {
      argument: "restartWith",
      reason: `takes a Command (got ${options_.show(command)})`
    })

/** @internal */
export const execute = (
  target: Command.Command | Effect.Effect<unknown, unknown>,
  options?: PublicAction.ExecuteOptions
): Action => {
  const timeoutMillis = options?.timeout === undefined ? undefined : toMillisOrNaN(options.timeout)
  const timeoutOk = timeoutMillis === undefined || (timeoutMillis > 0 && Number.isFinite(timeoutMillis))
  return withProblem(
    Command.isCommand(target)
      ? make<ExecuteData>({ _tag: "Execute", command: commandLineFrom(target), timeoutMillis })
      : make<LocalData>({
        _tag: "Local",
        label: "execute",
        run: timeoutMillis === undefined || !timeoutOk
          ? () => target
          : () =>
            Effect.timeoutFail(target, {
              duration: timeoutMillis,
              onTimeout: () => `timed out after ${timeoutMillis} ms`
            })
      }),
    options_.optionsProblem(options, ["timeout"], "execute options") ??
      (options?.timeout === undefined ? undefined : durationProblem(options.timeout, "execute timeout")) ??
      (timeoutOk ? undefined : {
        argument: "execute timeout",
        reason: `must be a finite duration above 0 ms (got ${options_.show(options?.timeout)})`
      })
  )
}

/** @internal */
export const effect = (
  run: Effect.Effect<unknown, unknown> | ((event: ConditionEvent) => Effect.Effect<unknown, unknown>),
  options?: PublicAction.EffectOptions
): Action =>
  withProblem(
    make<LocalData>({
      _tag: "Local",
      label: options?.label ?? "effect",
      run: typeof run === "function" ? run : () => run
    }),
    options_.optionsProblem(options, ["label"], "effect options")
  )

/** @internal */
export const notify = (target: NotifyTarget, value: Option.Option<unknown>): Action =>
  make<NotifyData>({ _tag: "Notify", target, value })

/** @internal */
export const signal = (
  sig: string,
  options?: PublicAction.SignalOptions
): Action => {
  const { fields, problem } = nodeOptions(
    options === undefined ? undefined : { node: options.node, timeout: options.timeout },
    "signal"
  )
  const entity = options?.entity
  const conflict = entity !== undefined && (options?.pid !== undefined || options?.awaitExit !== undefined)
    ? "an entity's signal takes no pid or awaitExit"
    : entity === undefined && (options?.node !== undefined || options?.timeout !== undefined)
    ? "node and timeout go with an entity"
    : entity !== undefined && typeof entity !== "string"
    ? "the entity is a name"
    : undefined
  return withProblem(
    make<SignalData>({
      _tag: "Signal",
      signal: sig,
      pid: options?.pid,
      awaitExitMillis: options?.awaitExit === undefined ? undefined : toMillisOrNaN(options.awaitExit),
      entity,
      ...fields
    }),
    options_.optionsProblem(options, ["pid", "awaitExit", "entity", "node", "timeout"], "signal options") ??
      (conflict === undefined ? undefined : { argument: "signal options", reason: conflict }) ??
      problem ??
      (options?.awaitExit === undefined ? undefined : durationProblem(options.awaitExit, "signal awaitExit"))
  )
}

/** @internal what a waitfor waits for */
export type WaitForTarget = PublicAction.WaitForTarget

/** @internal */
export const waitfor = (what: WaitForTarget): Action => {
  if (!Predicate.isRecord(what) || Duration.isDuration(what)) {
    return withProblem(
      make<WaitForData>({ _tag: "WaitFor", millis: toMillisOrNaN(what) }),
      durationProblem(what, "waitfor")
    )
  }
  const { timeout, ...target } = what as Record<string, unknown>
  return withProblem(
    make<WaitForData>({ _tag: "WaitFor", millis: toMillisOrNaN(timeout), ...target }),
    waitTargetProblem(what, target) ?? durationProblem(timeout, "waitfor timeout")
  )
}

const waitKinds = ["entity", "path", "port", "ready"] as const

/** a waitfor target names one thing to wait for (a port, with its host), and a timeout */
const waitTargetProblem = (what: object, target: Record<string, unknown>): options_.Problem | undefined => {
  const known = options_.optionsProblem(what, [...waitKinds, "host", "timeout"], "waitfor target")
  if (known !== undefined) return known
  const kinds = waitKinds.filter((kind) => target[kind] !== undefined)
  if (kinds.length !== 1) {
    return {
      argument: "waitfor target",
      reason: `must name one of entity, path, port or ready (got ${kinds.length === 0 ? "none" : kinds.join(" and ")})`
    }
  }
  if (target.host !== undefined && kinds[0] !== "port") {
    return { argument: "waitfor target", reason: `host goes with port, not with ${kinds[0]}` }
  }
  return "timeout" in what ? undefined : { argument: "waitfor target", reason: "needs a timeout" }
}

const toMillisOrNaN = (input: unknown): number =>
  Option.match(Duration.decodeUnknown(input), { onNone: () => NaN, onSome: Duration.toMillis })

/** @internal */
export const heartbeatHealthy: Action = make<HeartbeatHealthyData>({ _tag: "HeartbeatHealthy" })

/** @internal */
export const log = (
  message: string,
  options?: PublicAction.LogOptions
): Action =>
  withProblem(
    make<LogData>({
      _tag: "Log",
      message,
      verbosity: options?.verbosity ?? 1,
      attachPrefix: options?.attachPrefix ?? true
    }),
    options_.optionsProblem(options, ["verbosity", "attachPrefix"], "log options")
  )

/** the node and timeout of a publish or raise action, and what is wrong with them */
const nodeOptions = (options: PublicAction.NodeOptions | undefined, what: string) => {
  const timeoutMillis = options?.timeout === undefined ? undefined : toMillisOrNaN(options.timeout)
  const nodeProblem = options?.node === undefined ? undefined : node_.problem(options.node)
  const problem = options_.optionsProblem(options, ["node", "timeout"], `${what} options`) ??
    (nodeProblem === undefined ? undefined : { argument: `${what} node`, reason: nodeProblem }) ??
    (options?.timeout === undefined ? undefined : durationProblem(options.timeout, `${what} timeout`))
  return { fields: { node: options?.node, timeoutMillis }, problem }
}

/** @internal */
export const publishState = (entity: string, state: number, options?: PublicAction.NodeOptions): Action => {
  const { fields, problem } = nodeOptions(options, "publishState")
  return withProblem(make<PublishStateData>({ _tag: "PublishState", entity, state, ...fields }), problem)
}

/** @internal */
export const raise = (entity: string, raise: PublicAction.RaiseTarget, options?: PublicAction.NodeOptions): Action => {
  const { fields, problem } = nodeOptions(options, "raise")
  const known = options_.optionsProblem(raise, ["type", "class", "severity", "detail"], "raise")
  return withProblem(make<RaiseData>({ _tag: "Raise", entity, raise, ...fields }), known ?? problem)
}

/** @internal */
export const notifyEntity = (entity: string, message: string): Action =>
  make<NotifyEntityData>({ _tag: "NotifyEntity", entity, message })

/** @internal the line an entity is sent by `notifyEntity` */
export const messageLine = (message: string): string => `MESSAGE=${message}`

// ---------------------------------------------------------------------------------------------
// combinators
// ---------------------------------------------------------------------------------------------

/** @internal */
export const orElse = dual<
  (alternate: Action) => (self: Action) => Action,
  (self: Action, alternate: Action) => Action
>(2, (self, alternate) => make({ ...self, alternates: [...self.alternates, alternate] }))

/** @internal the name of each fail action in its list (its own, or its kind's with `-2`, `-3`...) */
export const failNames = (actions: ReadonlyArray<ActionData>): ReadonlyArray<string> => {
  const names: Array<string> = []
  for (const action of actions) {
    const base = action.name ?? defaultName(action)
    let name = base
    for (let i = 2; action.name === undefined && names.includes(name); i++) name = `${base}-${i}`
    names.push(name)
  }
  return names
}

/** @internal */
export const onFail = dual<
  (failAction: Action) => (self: Action) => Action,
  (self: Action, failAction: Action) => Action
>(2, (self, failAction) => make({ ...self, onFail: [...(self.onFail ?? []), failAction] }))

/** @internal the action without the fail action of that name (the same action when it has none) */
export const withoutFailAction = (self: Action, name: string): Action => {
  const list = self.onFail ?? []
  const names = failNames(list)
  const kept = list.filter((_, i) => names[i] !== name)
  return make({ ...self, onFail: kept.length === 0 ? undefined : kept })
}

/** @internal */
export type ActionOptions = PublicAction.ActionOptions

/** @internal */
export const withOptions = dual<
  (options: ActionOptions) => (self: Action) => Action,
  (self: Action, options: ActionOptions) => Action
>(2, (self, options) => {
  const fields: Record<string, unknown> = { ...self }
  const problem = options_.optionsProblem(options, actionOptionKeys, "action options")
  if (problem === undefined) {
    for (const [key, value] of Object.entries(options)) if (value !== undefined) fields[key] = value
  }
  return withProblem(make(fields as never), problem)
})

const actionOptionKeys: ReadonlyArray<keyof ActionOptions> = [
  "name",
  "breakOnFail",
  "removeOnFail",
  "oneShot",
  "doNow"
]

/** @internal */
export const named = dual<(name: string) => (self: Action) => Action, (self: Action, name: string) => Action>(
  2,
  (self, name) => withOptions(self, { name })
)

/** @internal the default name of an action in its condition */
export const defaultName = (action: ActionData): string =>
  action._tag === "Local" ? action.label : action._tag.charAt(0).toLowerCase() + action._tag.slice(1)

/** @internal a short text for the tree and for logs */
export const summary = (action: ActionData): string => {
  switch (action._tag) {
    case "Restart":
      return action.command === undefined
        ? "restart the entity"
        : `restart the entity with ${renderCommandLine(action.command)}`
    case "Execute":
      return `execute ${renderCommandLine(action.command)}` +
        (action.timeoutMillis === undefined ? "" : ` (timeout ${action.timeoutMillis} ms)`)
    case "Notify":
      return `notify a local ${action.target._tag.toLowerCase()}`
    case "Signal":
      if (action.entity !== undefined) return `signal ${action.signal} to entity "${action.entity}"${onNode(action)}`
      return `signal ${action.signal}${action.pid === undefined ? "" : ` to pid ${action.pid}`}` +
        (action.awaitExitMillis === undefined ? "" : `, fail unless it exits within ${action.awaitExitMillis} ms`)
    case "WaitFor": {
      const upTo = `wait up to ${action.millis} ms`
      if (action.entity !== undefined) return `${upTo} for entity "${action.entity}"`
      if (action.path !== undefined) return `${upTo} for path ${action.path}`
      if (action.port !== undefined) return `${upTo} for port ${action.host ?? "127.0.0.1"}:${action.port}`
      if (action.ready !== undefined) return `${upTo} for "${action.ready}" to be ready`
      return `wait ${action.millis} ms`
    }
    case "HeartbeatHealthy":
      return "mark heartbeat healthy"
    case "Log":
      return `log "${action.message}" (verbosity ${action.verbosity})`
    case "PublishState":
      return `publish state ${action.state} of entity "${action.entity}"${onNode(action)}`
    case "Raise": {
      const { class: klass, severity, type } = action.raise
      return `raise type ${type} class ${klass} severity ${severity} on entity "${action.entity}"${onNode(action)}`
    }
    case "NotifyEntity":
      return `send "${action.message}" to entity "${action.entity}"`
    case "RestartEntity":
      return `restart entity "${action.entity}"`
    case "Local":
      return `local code (${action.label})`
  }
}

const onNode = (action: PublishStateData | RaiseData | SignalData): string =>
  (action.node === undefined ? "" : ` on ${node_.render(action.node)}`) +
  (action.timeoutMillis === undefined ? "" : ` (timeout ${action.timeoutMillis} ms)`)

/** @internal */
export const describe = (action: ActionData): Record<string, unknown> => ({
  type: action._tag,
  name: action.name,
  summary: summary(action),
  breakOnFail: action.breakOnFail,
  removeOnFail: action.removeOnFail,
  oneShot: action.oneShot,
  ...(action.doNow === true ? { doNow: true } : {}),
  alternates: action.alternates.map(describe),
  ...(action.onFail === undefined ? {} : { onFail: action.onFail.map(describe) })
})

/** @internal true when the action (or one of its alternates) waits */
export const waits = (action: ActionData): boolean =>
  action._tag === "WaitFor" || action.alternates.some(waits) || (action.onFail ?? []).some(waits)

/** @internal true when the action (or one of its alternates) is a restart */
export const restarts = (action: ActionData): boolean =>
  action._tag === "Restart" || action.alternates.some(restarts) || (action.onFail ?? []).some(restarts)
