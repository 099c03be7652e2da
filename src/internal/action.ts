import * as Command from "@effect/platform/Command"
import * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as HashMap from "effect/HashMap"
import * as Option from "effect/Option"
import { type Pipeable, pipeArguments } from "effect/Pipeable"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import type * as PublicAction from "../Action.js"
import type { ConditionEvent } from "./condition.js"
import * as json from "./json.js"

/** @internal */
export const TypeId: typeof PublicAction.TypeId = Symbol.for("effect-ham/Action") as never

// ---------------------------------------------------------------------------------------------
// data
// ---------------------------------------------------------------------------------------------

/** @internal a command line kept as data: what `execute` and (later) `restart` run */
export interface CommandLine {
  readonly command: string
  readonly args: ReadonlyArray<string>
  readonly env: { readonly [key: string]: string }
  readonly extendEnv: boolean
  readonly cwd?: string | undefined
  readonly shell: boolean | string
  readonly pipeTo?: CommandLine | undefined
}

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
  pipeTo: Schema.optional(Schema.suspend((): Schema.Schema<CommandLine, CommandLineJson> => CommandLine))
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

/** @internal where a notify action delivers: the subscriber's own queue, pubsub or deferred */
export type NotifyTarget =
  | { readonly _tag: "Queue"; readonly offer: (value: unknown) => Effect.Effect<boolean> }
  | { readonly _tag: "Deferred"; readonly complete: (value: unknown) => Effect.Effect<boolean> }

const NotifyTargetSchema = Schema.declare(
  (u: unknown): u is NotifyTarget => Predicate.hasProperty(u, "_tag"),
  { identifier: "NotifyTarget", description: "a local Queue, PubSub or Deferred" }
)

/** @internal */
export type LocalRun = (event: ConditionEvent) => Effect.Effect<unknown, unknown>

const LocalRunSchema = Schema.declare(
  (u: unknown): u is LocalRun => typeof u === "function",
  { identifier: "LocalRun", description: "local code: cannot be persisted or sent to a remote HAM" }
)

interface Common {
  readonly name?: string | undefined
  readonly breakOnFail: boolean
  readonly removeOnFail: boolean
  readonly oneShot: boolean
  readonly alternates: ReadonlyArray<ActionData>
}

/** @internal */
export interface RestartData extends Common {
  readonly _tag: "Restart"
}

/** @internal */
export interface ExecuteData extends Common {
  readonly _tag: "Execute"
  readonly command: CommandLine
  readonly timeoutMillis?: number | undefined
}

/** @internal */
export interface NotifyData extends Common {
  readonly _tag: "Notify"
  readonly target: NotifyTarget
  readonly value: Option.Option<unknown>
}

/** @internal */
export interface SignalData extends Common {
  readonly _tag: "Signal"
  readonly signal: string
  readonly pid?: number | undefined
  /** when set, the action waits up to this long for the entity's process to exit, and fails if it does not */
  readonly awaitExitMillis?: number | undefined
}

/** @internal */
export interface WaitForData extends Common {
  readonly _tag: "WaitFor"
  readonly millis: number
  /** wait until an entity of this name is running */
  readonly entity?: string | undefined
  /** wait until this path exists */
  readonly path?: string | undefined
  /** wait until this TCP port accepts connections (on `host`, default 127.0.0.1) */
  readonly port?: number | undefined
  readonly host?: string | undefined
  /** wait until this process entity announced READY=1 in its current life */
  readonly ready?: string | undefined
}

/** @internal */
export interface HeartbeatHealthyData extends Common {
  readonly _tag: "HeartbeatHealthy"
}

/** @internal */
export interface LogData extends Common {
  readonly _tag: "Log"
  readonly message: string
  readonly verbosity: number
  readonly attachPrefix: boolean
}

/** @internal */
export interface LocalData extends Common {
  readonly _tag: "Local"
  readonly label: string
  readonly run: LocalRun
}

/** @internal */
export type ActionData =
  | RestartData
  | ExecuteData
  | NotifyData
  | SignalData
  | WaitForData
  | HeartbeatHealthyData
  | LogData
  | LocalData

/** @internal the name and flags of every action */
export const flags = {
  name: Schema.optional(Schema.String),
  breakOnFail: Schema.Boolean,
  removeOnFail: Schema.Boolean,
  oneShot: Schema.Boolean
}

/** @internal the fields of each action that is data, besides its name, flags and alternates */
export const dataFields = {
  Execute: { command: CommandLine, timeoutMillis: Schema.optional(json.Millis) },
  Signal: {
    signal: Schema.String,
    pid: Schema.optional(Schema.Int),
    awaitExitMillis: Schema.optional(json.Millis)
  },
  WaitFor: {
    millis: json.Millis,
    entity: Schema.optional(Schema.String),
    path: Schema.optional(Schema.String),
    port: Schema.optional(Schema.Int),
    host: Schema.optional(Schema.String),
    ready: Schema.optional(Schema.String)
  },
  Log: {
    message: Schema.String,
    verbosity: json.withDefault(Schema.NonNegativeInt, () => 1, (verbosity) => verbosity === 1),
    attachPrefix: json.withDefault(Schema.Boolean, () => true, (prefix) => prefix)
  }
}

/** @internal the actions that are data, each with the name, flags and alternates of `common` */
export const dataVariants = <Common extends Schema.Struct.Fields>(common: Common) =>
  [
    Schema.TaggedStruct("Restart", common),
    Schema.TaggedStruct("Execute", { ...common, ...dataFields.Execute }),
    Schema.TaggedStruct("Signal", { ...common, ...dataFields.Signal }),
    Schema.TaggedStruct("WaitFor", { ...common, ...dataFields.WaitFor }),
    Schema.TaggedStruct("HeartbeatHealthy", common),
    Schema.TaggedStruct("Log", { ...common, ...dataFields.Log })
  ] as const

const common = {
  ...flags,
  alternates: Schema.Array(Schema.suspend((): Schema.Schema<ActionData, any> => ActionData))
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
export type Action = ActionData & Pipeable & {
  readonly [TypeId]: typeof TypeId
}

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
  return self
}

/** @internal gives plain data (decoded from a store or the wire) its prototype back */
export const fromData = (data: ActionData): Action => isAction(data) ? data : make(data)

// ---------------------------------------------------------------------------------------------
// constructors
// ---------------------------------------------------------------------------------------------

/** @internal */
export const restart: Action = make<RestartData>({ _tag: "Restart" })

/** @internal */
export const execute = (
  target: Command.Command | Effect.Effect<unknown, unknown>,
  options?: { readonly timeout?: Duration.DurationInput | undefined }
): Action =>
  Command.isCommand(target)
    ? make<ExecuteData>({
      _tag: "Execute",
      command: commandLineFrom(target),
      timeoutMillis: options?.timeout === undefined ? undefined : Duration.toMillis(options.timeout)
    })
    : make<LocalData>({ _tag: "Local", label: "execute", run: () => target })

/** @internal */
export const effect = (
  run: Effect.Effect<unknown, unknown> | ((event: ConditionEvent) => Effect.Effect<unknown, unknown>),
  options?: { readonly label?: string | undefined }
): Action =>
  make<LocalData>({
    _tag: "Local",
    label: options?.label ?? "effect",
    run: typeof run === "function" ? run : () => run
  })

/** @internal */
export const notify = (target: NotifyTarget, value: Option.Option<unknown>): Action =>
  make<NotifyData>({ _tag: "Notify", target, value })

/** @internal */
export const signal = (
  sig: string,
  options?: { readonly pid?: number | undefined; readonly awaitExit?: Duration.DurationInput | undefined }
): Action =>
  make<SignalData>({
    _tag: "Signal",
    signal: sig,
    pid: options?.pid,
    awaitExitMillis: options?.awaitExit === undefined ? undefined : toMillisOrNaN(options.awaitExit)
  })

/** @internal what a waitfor waits for */
export type WaitForTarget =
  | Duration.DurationInput
  | { readonly entity: string; readonly timeout: Duration.DurationInput }
  | { readonly path: string; readonly timeout: Duration.DurationInput }
  | { readonly port: number; readonly host?: string | undefined; readonly timeout: Duration.DurationInput }
  | { readonly ready: string; readonly timeout: Duration.DurationInput }

/** @internal */
export const waitfor = (what: WaitForTarget): Action => {
  if (!(Predicate.isRecord(what) && "timeout" in what)) {
    return make<WaitForData>({ _tag: "WaitFor", millis: toMillisOrNaN(what as Duration.DurationInput) })
  }
  const { timeout, ...target } = what as { readonly timeout: Duration.DurationInput }
  return make<WaitForData>({ _tag: "WaitFor", millis: toMillisOrNaN(timeout), ...target })
}

const toMillisOrNaN = (input: Duration.DurationInput): number =>
  Option.match(Duration.decodeUnknown(input), { onNone: () => NaN, onSome: Duration.toMillis })

/** @internal */
export const heartbeatHealthy: Action = make<HeartbeatHealthyData>({ _tag: "HeartbeatHealthy" })

/** @internal */
export const log = (
  message: string,
  options?: { readonly verbosity?: number | undefined; readonly attachPrefix?: boolean | undefined }
): Action =>
  make<LogData>({
    _tag: "Log",
    message,
    verbosity: options?.verbosity ?? 1,
    attachPrefix: options?.attachPrefix ?? true
  })

// ---------------------------------------------------------------------------------------------
// combinators
// ---------------------------------------------------------------------------------------------

/** @internal */
export const orElse = dual<
  (alternate: Action) => (self: Action) => Action,
  (self: Action, alternate: Action) => Action
>(2, (self, alternate) => make({ ...self, alternates: [...self.alternates, alternate] }))

/** @internal */
export interface ActionOptions {
  readonly name?: string | undefined
  readonly breakOnFail?: boolean | undefined
  readonly removeOnFail?: boolean | undefined
  readonly oneShot?: boolean | undefined
}

/** @internal */
export const withOptions = dual<
  (options: ActionOptions) => (self: Action) => Action,
  (self: Action, options: ActionOptions) => Action
>(2, (self, options) => {
  const fields: Record<string, unknown> = { ...self }
  for (const [key, value] of Object.entries(options)) if (value !== undefined) fields[key] = value
  return make(fields as never)
})

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
      return "restart the entity"
    case "Execute":
      return `execute ${renderCommandLine(action.command)}` +
        (action.timeoutMillis === undefined ? "" : ` (timeout ${action.timeoutMillis} ms)`)
    case "Notify":
      return `notify a local ${action.target._tag.toLowerCase()}`
    case "Signal":
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
    case "Local":
      return `local code (${action.label})`
  }
}

/** @internal */
export const describe = (action: ActionData): Record<string, unknown> => ({
  type: action._tag,
  name: action.name,
  summary: summary(action),
  breakOnFail: action.breakOnFail,
  removeOnFail: action.removeOnFail,
  oneShot: action.oneShot,
  alternates: action.alternates.map(describe)
})

/** @internal true when the action (or one of its alternates) waits */
export const waits = (action: ActionData): boolean => action._tag === "WaitFor" || action.alternates.some(waits)

/** @internal true when the action (or one of its alternates) is a restart */
export const restarts = (action: ActionData): boolean => action._tag === "Restart" || action.alternates.some(restarts)
