/**
 * Actions: the steps of recovery. A condition holds a list of actions that run in order when it
 * fires (multistage recovery). An action may carry alternates (`Action.orElse`), tried in order
 * when it fails until one succeeds, and a fail list (`Action.onFail`), all of which run then.
 *
 * Actions are data (a Schema tagged union), so they can be shown in the tree, persisted and sent
 * to a remote HAM. Two kinds hold local values and stay in their process: `notify` (a queue,
 * pubsub or deferred of the subscriber) and `Action.effect` (arbitrary code).
 *
 * `publishState`, `raise` and `signal` with an `entity` act on this HAM or on another one named by
 * its address (QNX's `ham_action_notify_*_node`); their failures go to their alternates.
 *
 * Flags (`Action.withOptions`):
 * - `breakOnFail`: when this action fails (its alternates still run), the rest of the list is
 *   skipped (QNX `HACTIONBREAKONFAIL`);
 * - `removeOnFail`: a failed action is removed (QNX deletes by default; we keep by default);
 * - `oneShot`: the action is discarded when its entity restarts (QNX's default; we re-arm);
 * - `doNow`: the action also runs once when it is added (QNX `HACTIONDONOW`).
 *
 * @since 0.1.0
 * @module
 */
import type * as Command from "@effect/platform/Command"
import type * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type { Pipeable } from "effect/Pipeable"
import type * as PubSub from "effect/PubSub"
import type * as Queue from "effect/Queue"
import type * as Schema from "effect/Schema"
import type { ConditionEvent } from "./Condition.js"
import * as notify_ from "./internal/action-notify.js"
import * as internal from "./internal/action.js"
import type { RestartEntityData } from "./internal/group/restart.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = internal.TypeId

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * An action: plain data with a prototype that makes it pipeable.
 *
 * @since 0.1.0
 * @category models
 */
export type Action = ActionData & Pipeable & { readonly [TypeId]: TypeId }

/**
 * The data of an action, without its prototype: one member per kind.
 *
 * @since 0.1.0
 * @category models
 */
export type ActionData =
  | RestartData
  | ExecuteData
  | NotifyData
  | SignalData
  | WaitForData
  | HeartbeatHealthyData
  | LogData
  | PublishStateData
  | RaiseData
  | NotifyEntityData
  | RestartEntityData
  | LocalData

/**
 * What every action holds besides its kind: its name, flags and alternates.
 *
 * @since 0.1.0
 * @category models
 */
export interface ActionCommon {
  /** unique within its condition (default: taken from its kind) */
  readonly name?: string | undefined
  readonly breakOnFail: boolean
  readonly removeOnFail: boolean
  readonly oneShot: boolean
  /** runs once when it is added too (QNX `HACTIONDONOW`); absent means false */
  readonly doNow?: boolean | undefined
  /** tried in order when the action fails, until one succeeds */
  readonly alternates: ReadonlyArray<ActionData>
  /** the fail list (QNX `ham_action_fail_*`): all run, in order, when the action fails */
  readonly onFail?: ReadonlyArray<ActionData> | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface RestartData extends ActionCommon {
  readonly _tag: "Restart"
  /** the restart line (QNX `ham_action_restart`'s path); absent: the attach command */
  readonly command?: CommandLine | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ExecuteData extends ActionCommon {
  readonly _tag: "Execute"
  readonly command: CommandLine
  readonly timeoutMillis?: number | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface NotifyData extends ActionCommon {
  readonly _tag: "Notify"
  readonly target: NotifyTarget
  readonly value: Option.Option<unknown>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface SignalData extends ActionCommon {
  readonly _tag: "Signal"
  readonly signal: string
  readonly pid?: number | undefined
  /** when set, the action waits up to this long for the entity's process to exit, and fails if it does not */
  readonly awaitExitMillis?: number | undefined
  /** another entity, of this HAM or of `node`, whose process gets the signal */
  readonly entity?: string | undefined
  readonly node?: NodeAddress | undefined
  readonly timeoutMillis?: number | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface WaitForData extends ActionCommon {
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

/**
 * @since 0.1.0
 * @category models
 */
export interface HeartbeatHealthyData extends ActionCommon {
  readonly _tag: "HeartbeatHealthy"
}

/**
 * @since 0.1.0
 * @category models
 */
export interface LogData extends ActionCommon {
  readonly _tag: "Log"
  readonly message: string
  readonly verbosity: number
  readonly attachPrefix: boolean
}

/**
 * @since 0.1.0
 * @category models
 */
export interface PublishStateData extends ActionCommon {
  readonly _tag: "PublishState"
  /** the name of the entity whose state is published */
  readonly entity: string
  readonly state: number
  /** the HAM of the entity (this one when absent) */
  readonly node?: NodeAddress | undefined
  /** how long the call may take, connecting included (5 seconds for another HAM) */
  readonly timeoutMillis?: number | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface NotifyEntityData extends ActionCommon {
  readonly _tag: "NotifyEntity"
  readonly entity: string
  readonly message: string
}

/**
 * @since 0.1.0
 * @category models
 */
export interface RaiseData extends ActionCommon {
  readonly _tag: "Raise"
  /** the name of the entity the condition is raised on */
  readonly entity: string
  readonly raise: RaiseTarget
  /** the HAM of the entity (this one when absent) */
  readonly node?: NodeAddress | undefined
  /** how long the call may take, connecting included (5 seconds for another HAM) */
  readonly timeoutMillis?: number | undefined
}

/**
 * What a raise action raises: non-negative integers `type`, `class` and `severity`, and a
 * `detail` (when absent, the event that fired the action is described in it).
 *
 * @since 0.1.0
 * @category models
 */
export interface RaiseTarget {
  readonly type: number
  readonly class: number
  readonly severity: number
  readonly detail?: string | undefined
}

/**
 * Another HAM, by its address: its Unix socket (`{ unix: path }`), or its TCP port (`{ tcp: {
 * port, host? } }`, host 127.0.0.1 by default) with the file (`tokenFile`, mode 0600) or the
 * environment variable (`tokenEnv`) of its token, and `tls` when it listens with TLS (`caFile`:
 * the PEM file its certificate is checked against, else the system's CAs; `servername`: the name
 * the certificate must carry, else `host`). The token itself is never written in an action.
 *
 * @since 0.1.0
 * @category models
 */
export type NodeAddress =
  | { readonly unix: string }
  | {
    readonly tcp: { readonly port: number; readonly host?: string | undefined }
    readonly tokenFile?: string | undefined
    readonly tokenEnv?: string | undefined
    readonly tls?: { readonly caFile?: string | undefined; readonly servername?: string | undefined } | undefined
  }

/**
 * Options of `Action.publishState` and `Action.raise`: the `node` (another HAM) of the entity, and how long the call
 * may take (`timeout`, connecting included; 5 seconds by default for another HAM).
 *
 * @since 0.1.0
 * @category models
 */
export interface NodeOptions {
  readonly node?: NodeAddress | undefined
  readonly timeout?: Duration.DurationInput | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface LocalData extends ActionCommon {
  readonly _tag: "Local"
  readonly label: string
  readonly run: LocalRun
}

/**
 * Where a notify action delivers: the subscriber's own queue, pubsub or deferred.
 *
 * @since 0.1.0
 * @category models
 */
export type NotifyTarget =
  | { readonly _tag: "Queue"; readonly offer: (value: unknown) => Effect.Effect<boolean> }
  | { readonly _tag: "Deferred"; readonly complete: (value: unknown) => Effect.Effect<boolean> }

/**
 * The local code of an `Action.effect`, given the event that fired the condition.
 *
 * @since 0.1.0
 * @category models
 */
export type LocalRun = (event: ConditionEvent) => Effect.Effect<unknown, unknown>

/**
 * The schema of action data (notify targets and local code are declared, not encodable).
 *
 * @since 0.1.0
 * @category models
 */
export const ActionData: Schema.Schema<ActionData, any> = internal.ActionData

/**
 * A command line kept as data (what an execute action runs, a process entity is started with).
 *
 * @since 0.1.0
 * @category models
 */
export interface CommandLine {
  readonly command: string
  readonly args: ReadonlyArray<string>
  readonly env: { readonly [key: string]: string }
  readonly extendEnv: boolean
  readonly cwd?: string | undefined
  readonly shell: boolean | string
  readonly pipeTo?: CommandLine | undefined
}

/**
 * The options every action takes (`Action.withOptions`).
 *
 * @since 0.1.0
 * @category models
 */
export interface ActionOptions {
  readonly name?: string | undefined
  readonly breakOnFail?: boolean | undefined
  readonly removeOnFail?: boolean | undefined
  readonly oneShot?: boolean | undefined
  readonly doNow?: boolean | undefined
}

/**
 * Options of `Action.execute`: a `timeout` after which the command is a failure.
 *
 * @since 0.1.0
 * @category models
 */
export interface ExecuteOptions {
  readonly timeout?: Duration.DurationInput | undefined
}

/**
 * Options of `Action.effect`: the `label` that names it in the tree (default `"effect"`).
 *
 * @since 0.1.0
 * @category models
 */
export interface EffectOptions {
  readonly label?: string | undefined
}

/**
 * Options of `Action.signal`: another `pid` to signal, and `awaitExit`.
 *
 * @since 0.1.0
 * @category models
 */
export interface SignalOptions {
  readonly pid?: number | undefined
  readonly awaitExit?: Duration.DurationInput | undefined
  /** the entity whose process gets the signal, instead of the one the condition is on */
  readonly entity?: string | undefined
  /** with `entity`: the HAM that entity is on (a node-qualified signal) */
  readonly node?: NodeAddress | undefined
  /** with `node`: how long the other HAM may take to answer (default 5 s) */
  readonly timeout?: Duration.DurationInput | undefined
}

/**
 * Options of `Action.log`: the least verbosity it writes at, and whether the path prefixes it.
 *
 * @since 0.1.0
 * @category models
 */
export interface LogOptions {
  readonly verbosity?: number | undefined
  readonly attachPrefix?: boolean | undefined
}

/**
 * @since 0.1.0
 * @category guards
 */
export const isAction: (u: unknown) => u is Action = internal.isAction

/**
 * Restarts the dead entity: re-runs a fiber entity's effect in a fresh fiber. Allowed only in `CondDeath` /
 * `CondAbnormalDeath` conditions, at most one per entity, never on a self-attached or the global entity. Restart
 * intensity and back-off apply; `CondRestart` fires once the entity is up again. (Another entity: `Group.restart`.)
 *
 * @since 0.1.0
 * @category constructors
 */
export const restart: Action = internal.restart

/**
 * A restart with its own command line (QNX `ham_action_restart`'s path, "Restart Line"): a process
 * or pid entity is started again with `command`, not its attach command. Not for fiber entities.
 *
 * @since 0.1.0
 * @category constructors
 */
export const restartWith: (command: Command.Command) => Action = internal.restartWith

/**
 * Runs a `Command` (a real process: a non-zero exit code is a failure) or an `Effect` (its failure is a failure).
 * With `timeout` (a finite duration above 0), either one that outlives it is stopped and fails the action.
 *
 * @since 0.1.0
 * @category constructors
 */
export const execute: (target: Command.Command | Effect.Effect<unknown, unknown>, options?: ExecuteOptions) => Action =
  internal.execute

/**
 * Runs local code with the event that fired the condition. Its failure or defect is the
 * action's failure. Cannot be persisted or sent to a remote HAM.
 *
 * @since 0.1.0
 * @category constructors
 */
export const effect: (
  run: Effect.Effect<unknown, unknown> | ((event: ConditionEvent) => Effect.Effect<unknown, unknown>),
  options?: EffectOptions
) => Action = internal.effect

/**
 * Delivers a value to a `Queue`, `PubSub` or `Deferred` the subscriber gave (our counterpart of
 * a QNX pulse). Without a value, the event that fired the condition is delivered. A queue that
 * refuses the value (full and dropping, or shut down) makes the action fail; a deferred that
 * is already complete does not.
 *
 * @since 0.1.0
 * @category constructors
 */
export const notify: <A, E = never>(
  target: Queue.Enqueue<A> | PubSub.PubSub<A> | Deferred.Deferred<A, E>,
  ...value: [] | [A]
) => Action = notify_.notify

/**
 * Sends a real signal to the entity's process, or to `pid` when given. A fiber entity takes the
 * terminating signals (`SIGTERM`, `SIGKILL`, `SIGINT`, `SIGHUP`, `SIGQUIT`, `SIGABRT`): it is
 * interrupted and dies abnormally with that signal name.
 *
 * With `awaitExit`, the action then waits up to that long for the entity to die and fails if it
 * is still alive, so that an alternate can escalate:
 * `Action.signal("SIGTERM", { awaitExit: "2 seconds" }).pipe(Action.orElse(Action.signal("SIGKILL")))`.
 *
 * With `entity`, the signal goes to that entity's current process instead (`Ham.signalEntity`),
 * on this HAM or, with `node`, on another HAM named by its address: the node-qualified signal of
 * QNX (`ham_action_notify_signal_node`). The action fails, and its alternates run, when that
 * entity is unknown or not running, or the other HAM does not answer within `timeout`. `pid` and
 * `awaitExit` do not go with `entity`; `node` and `timeout` go with `entity` only.
 *
 * @since 0.1.0
 * @category constructors
 */
export const signal: (signal: string, options?: SignalOptions) => Action = internal.signal

/**
 * Waits, failing when what it waits for has not happened within `timeout`:
 * - a duration: just waits;
 * - `{ entity, timeout }`: until an entity of that name is attached and running;
 * - `{ path, timeout }`: until the path exists;
 * - `{ port, host?, timeout }`: until a TCP connection to `host` (default 127.0.0.1) and `port`
 *   is accepted;
 * - `{ ready, timeout }`: until the process entity named `ready` announced `READY=1` on its
 *   notify socket in its current life.
 *
 * Not allowed in `noWait` conditions.
 *
 * @since 0.1.0
 * @category constructors
 */
export const waitfor: (what: WaitForTarget) => Action = internal.waitfor

/**
 * What a waitfor waits for.
 *
 * @since 0.1.0
 * @category models
 */
export type WaitForTarget =
  | Duration.DurationInput
  | { readonly entity: string; readonly timeout: Duration.DurationInput }
  | { readonly path: string; readonly timeout: Duration.DurationInput }
  | { readonly port: number; readonly host?: string | undefined; readonly timeout: Duration.DurationInput }
  | { readonly ready: string; readonly timeout: Duration.DurationInput }

/**
 * Resets the entity's missed-heartbeat state: after a missed-heartbeat condition fired, the
 * entity stays unhealthy (no further low/high fires) until this runs. Never fails.
 *
 * @since 0.1.0
 * @category constructors
 */
export const heartbeatHealthy: Action = internal.heartbeatHealthy

/**
 * Writes `message` to the Effect logger when the HAM's verbosity (`Ham.verbose`) is at least
 * `verbosity` (default 1). With `attachPrefix` (default true) the message is prefixed with the
 * `entity/condition/action` path. Never fails.
 *
 * @since 0.1.0
 * @category constructors
 */
export const log: (message: string, options?: LogOptions) => Action = internal.log

/**
 * Publishes the state of the entity named `entity` (fires its `CondState` conditions), on this
 * HAM or, with `node`, on another HAM (QNX's node-qualified actions): the HAM connects to it
 * when the action first runs, and keeps the connection, one per address, until it stops.
 *
 * The action fails, and its alternates run, when the other HAM cannot be reached, refuses the
 * token, has no such entity, or does not answer within `timeout` (5 seconds):
 *
 * ```ts
 * Action.publishState("db", 2, { node: { tcp: { host: "10.0.0.2", port: 7410 }, tokenFile: "/etc/ham/token" } })
 *   .pipe(Action.orElse(Action.log("the other node is down")))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const publishState: (entity: string, state: number, options?: NodeOptions) => Action = internal.publishState

/**
 * Raises a condition (`CondRaise`) on the entity named `entity`, on this HAM or, with `node`, on
 * another HAM: the node-qualified notify of QNX (`ham_action_notify_*_node`), which the other
 * HAM's raise conditions turn into their own actions. Without a `detail`, the detail describes the
 * event that fired the action (`CondDeath of "web" (seq 12)`). Fails as `publishState` does.
 *
 * @since 0.1.0
 * @category constructors
 */
export const raise: (entity: string, raise: RaiseTarget, options?: NodeOptions) => Action = internal.raise

/**
 * Sends another process the line `MESSAGE=<message>` (at most 4088 bytes) on its open notify
 * connections (QNX's pulse to a recipient). Fails without such an entity or connection.
 *
 * @since 0.1.0
 * @category constructors
 */
export const notifyEntity: (entity: string, message: string) => Action = internal.notifyEntity

/**
 * Adds an alternate: when `self` fails, its alternates are tried in order until one succeeds.
 * `a.pipe(Action.orElse(b), Action.orElse(c))` runs `b` when `a` fails and `c` when `b` fails
 * too. A restart cannot be an alternate.
 *
 * @since 0.1.0
 * @category combinators
 */
export const orElse: {
  (alternate: Action): (self: Action) => Action
  (self: Action, alternate: Action): Action
} = internal.orElse

/**
 * Adds a fail action (QNX `ham_action_fail_*`): all run in order, after the alternates, when `self` fails.
 *
 * @since 0.1.0
 * @category combinators
 */
export const onFail: {
  (failAction: Action): (self: Action) => Action
  (self: Action, failAction: Action): Action
} = internal.onFail

/**
 * Sets the name and flags of an action.
 *
 * @since 0.1.0
 * @category combinators
 */
export const withOptions: {
  (options: ActionOptions): (self: Action) => Action
  (self: Action, options: ActionOptions): Action
} = internal.withOptions

/**
 * Names an action (unique within its condition; by default the name is taken from its kind).
 *
 * @since 0.1.0
 * @category combinators
 */
export const named: {
  (name: string): (self: Action) => Action
  (self: Action, name: string): Action
} = internal.named

/**
 * A one-line description of an action, as the tree shows it.
 *
 * @since 0.1.0
 * @category getters
 */
export const summary: (action: ActionData) => string = internal.summary
