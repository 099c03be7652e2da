/**
 * The HAM service's interface and the types its operations take: options, handles, control
 * operations. The functions of the `Ham` module call these operations on the `Ham` in the
 * context; each names exactly what it can fail with. Every type here is also exported by `Ham`.
 *
 * @since 0.1.0
 * @module
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type { Pipeable } from "effect/Pipeable"
import type * as Queue from "effect/Queue"
import type * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type * as Action from "./Action.js"
import type * as Condition from "./Condition.js"
import type * as Entity from "./Entity.js"
import type {
  ActionHandleError,
  AddActionError,
  AttachError,
  AttachSelfError,
  ConditionError,
  ConditionHandleError,
  ControlError,
  DetachError,
  EntityError,
  EntityHandleError,
  PublishError,
  ReloadEntityError,
  RemoveError,
  RestartEntityError,
  SignalEntityError,
  VerboseError
} from "./HamError.js"
import type * as Tree from "./Tree.js"

/**
 * `{ interval, missedLow, missedHigh }`: the entity must heartbeat at least once per
 * `interval` (≥ 1 ms); `CondBeatMissedLow` fires after `missedLow` consecutive missed periods,
 * `CondBeatMissedHigh` after `missedHigh` (0 disables a level; `missedLow ≤ missedHigh`).
 *
 * @since 0.1.0
 * @category models
 */
export interface HeartbeatOptions {
  readonly interval: Duration.DurationInput
  readonly missedLow: number
  readonly missedHigh: number
}

/**
 * Restart intensity: at most `maxRestarts` restarts within `within`.
 *
 * @since 0.1.0
 * @category models
 */
export interface RestartIntensityOptions {
  /** a non-negative integer or `Infinity` */
  readonly maxRestarts?: number | undefined
  readonly within?: Duration.DurationInput | undefined
}

/**
 * The restart policy of an entity (or, in `Ham.layer`, of every entity); beyond QNX, after
 * Erlang/OTP. Each entity may restart at most `maxRestarts` times (default 10) within `within`
 * (default 60 seconds). Consecutive restarts wait for the `backoff` schedule (default
 * `defaultBackoff`); an entity that stayed up `backoffResetAfter` (default 10 seconds) restarts at
 * once and its back-off starts afresh. When the intensity is exceeded or the back-off schedule
 * ends, the entity stays down (status `gaveUp`), the restart action fails (so its alternates run)
 * and the HAM raises `CondRaise` with `type: RaiseTypeHam, class: RaiseClassRestartGaveUp`.
 *
 * @since 0.1.0
 * @category models
 */
export interface RestartPolicyOptions {
  readonly restartIntensity?: RestartIntensityOptions | undefined
  /** `false`: no back-off */
  readonly backoff?: Schedule.Schedule<unknown> | false | undefined
  readonly backoffResetAfter?: Duration.DurationInput | undefined
}

/**
 * A health check that the HAM pulls, every `interval` (default 10 seconds), while the entity runs:
 * exactly one of
 *
 * - `http`: a GET of this URL; a 2xx or 3xx status passes;
 * - `tcp`: a connection to `port` (on `host`, default `127.0.0.1`); an accepted one passes;
 * - `exec`: this command and its arguments, run without a shell; exit code 0 passes.
 *
 * A probe that takes longer than `timeout` (default 1 second, at most the interval) fails (an exec
 * probe's process group is killed). Failures count as missed heartbeats, on their own count:
 * `CondBeatMissedLow` fires after `missedLow` consecutive failures (default 1),
 * `CondBeatMissedHigh` after `missedHigh` (default 3; 0 disables a level), once per episode until
 * a `heartbeatHealthy` action runs; a passing probe resets the count. After each start, failures
 * are not counted until the probe first passes, the process says `READY=1` on its notify socket,
 * or `startupGrace` (default 0) is over: a slow start is told apart from a hang (Kubernetes'
 * startup probe).
 *
 * @since 0.1.0
 * @category models
 */
export interface ProbeOptions {
  readonly http?: string | undefined
  readonly tcp?: { readonly port: number; readonly host?: string | undefined } | undefined
  readonly exec?: ReadonlyArray<string> | undefined
  readonly interval?: Duration.DurationInput | undefined
  readonly timeout?: Duration.DurationInput | undefined
  readonly missedLow?: number | undefined
  readonly missedHigh?: number | undefined
  readonly startupGrace?: Duration.DurationInput | undefined
}

/**
 * Resource limits of a process or pid entity, sampled from `/proc` every `interval` (default 1
 * second) while it runs. When its resident memory stays over `memory` bytes, or its CPU use over
 * `cpu` percent of one core, for `samples` consecutive samples (default 3), the HAM raises
 * `CondRaise` on it with `type: RaiseTypeHam` and `class: RaiseClassMemoryLimit` or
 * `RaiseClassCpuLimit` (severity `RaiseSeverityCritical`): attach actions to it, such as a
 * signal that ends the process (whose death then runs its restart, as PM2's
 * `max_memory_restart` does). Each limit raises once per episode: again only after a sample under
 * it, or in a new life.
 *
 * @since 0.1.0
 * @category models
 */
export interface LimitOptions {
  readonly memory?: number | undefined
  readonly cpu?: number | undefined
  readonly samples?: number | undefined
  readonly interval?: Duration.DurationInput | undefined
}

/**
 * Options of `Ham.attach`: heartbeat, probe, resource limits and the entity's own restart policy.
 *
 * @since 0.1.0
 * @category models
 */
export interface AttachOptions extends RestartPolicyOptions {
  readonly heartbeat?: HeartbeatOptions | undefined
  readonly probe?: ProbeOptions | undefined
  readonly limits?: LimitOptions | undefined
}

/**
 * Options of `Ham.layer`: the default restart policy of every entity, the verbosity, the
 * per-subscriber event buffer.
 *
 * @since 0.1.0
 * @category models
 */
export interface HamOptions extends RestartPolicyOptions {
  /** the initial verbosity (default 1; see `Ham.verbose`) */
  readonly verbosity?: number | undefined
  /** how many undelivered events each subscriber keeps (default 4096) */
  readonly eventBuffer?: number | undefined
  /**
   * Who forks the children of process entities: a small helper process of the HAM's (`"process"`,
   * the default) or the HAM's own process (`"inline"`). A process launcher provided in the HAM's
   * context takes precedence; the Guardian's process mode uses its own.
   */
  readonly spawner?: "process" | "inline" | undefined
  /**
   * Effect metrics of deaths, restarts, heartbeat misses, actions and give-ups, per entity
   * (`HamMetrics`; default true)
   */
  readonly metrics?: boolean | undefined
  /**
   * A span per recovery (a condition's action list run for an event) and per action, through the
   * tracer of the HAM's context; made only when a tracer is installed (default true)
   */
  readonly tracing?: boolean | undefined
}

/**
 * Options of a condition: its name (unique within the entity) and flags `independent`,
 * `noWait` (no waitfor allowed; wins over `independent`) and `oneShot` (discarded when the
 * entity restarts; by default conditions are re-armed).
 *
 * @since 0.1.0
 * @category models
 */
export interface ConditionOptions {
  /** default: taken from the type (`death`, `state`, ...), made unique */
  readonly name?: string | undefined
  readonly independent?: boolean | undefined
  readonly noWait?: boolean | undefined
  readonly oneShot?: boolean | undefined
}

/**
 * What the calls that take a condition read of it: a `ConditionHandle`, or a plain record of the
 * same fields (decoded from JSON, say).
 *
 * @since 0.1.0
 * @category models
 */
export interface ConditionHandleFields {
  readonly _tag: "ConditionHandle"
  readonly entity: string
  readonly isGlobal: boolean
  readonly name: string
}

/**
 * A client-side handle on a condition (entity name + condition name), pipeable into the action
 * adders: `handle.pipe(Ham.restart, Ham.log("restarted"))`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConditionHandle extends ConditionHandleFields, Pipeable {}

/**
 * A client-side handle on an action (entity, condition and action names).
 *
 * @since 0.1.0
 * @category models
 */
export interface ActionHandle {
  readonly _tag: "ActionHandle"
  readonly entity: string
  readonly isGlobal: boolean
  readonly condition: string
  readonly name: string
}

/**
 * Any handle `Ham.control` and `Ham.remove` accept.
 *
 * @since 0.1.0
 * @category models
 */
export type Handle = Entity.EntityHandle | ConditionHandleFields | ActionHandle

/**
 * `"enable"`, `"disable"`, `"getFlags"` or `{ setFlags: { flag: boolean } }`.
 *
 * @since 0.1.0
 * @category models
 */
export type ControlOp =
  | "enable"
  | "disable"
  | "getFlags"
  | { readonly setFlags: { readonly [flag: string]: boolean } }

/**
 * Options of `Ham.control`: `recurse` applies enable/disable to the conditions and actions below.
 *
 * @since 0.1.0
 * @category models
 */
export interface ControlOptions {
  readonly recurse?: boolean | undefined
}

/**
 * What `Ham.control` returns: whether the object is enabled, and its flags.
 *
 * @since 0.1.0
 * @category models
 */
export interface ControlResult {
  readonly enabled: boolean
  readonly flags: { readonly [flag: string]: boolean }
}

/**
 * What `Ham.raise` (and `Notify.raise`) publishes: non-negative integers `type`, `class`,
 * `severity`, and free text `detail` (default empty).
 *
 * @since 0.1.0
 * @category models
 */
export interface RaiseInput {
  readonly type: number
  readonly class: number
  readonly severity: number
  readonly detail?: string | undefined
}

/**
 * What a graceful reload (`Ham.reloadEntity`) may change, as data: the command line the new
 * process runs (default the entity's own), variables set in its environment on top of that
 * command line's, and how long it may take to say `READY=1` (default 30 seconds).
 *
 * @since 0.1.0
 * @category models
 */
export interface ReloadOptions {
  readonly command?: Action.CommandLine | undefined
  readonly env?: { readonly [key: string]: string } | undefined
  readonly readyTimeout?: Duration.DurationInput | undefined
}

/**
 * The operations of the HAM service; the functions of this module call them on the `Ham` in the
 * context. Each names exactly what it can fail with.
 *
 * @since 0.1.0
 * @category models
 */
export interface HamService {
  /** Starts supervising an entity (see `Ham.attach`). */
  readonly attach: <S extends Entity.EntitySpec<any>>(
    spec: S,
    options?: AttachOptions
  ) => Effect.Effect<Entity.EntityHandle, AttachError, Entity.Requirements<S>>
  /** Attaches the caller, whose scope is its connection (see `Ham.attachSelf`). */
  readonly attachSelf: (
    name: string,
    options?: AttachOptions
  ) => Effect.Effect<Entity.EntityHandle, AttachSelfError, Scope.Scope>
  /** The entity of that name, or a new placeholder (see `Ham.entity`). */
  readonly entity: (name: string) => Effect.Effect<Entity.EntityHandle, EntityError>
  /** The handle of an existing entity (see `Ham.entityHandle`). */
  readonly entityHandle: (name: string) => Effect.Effect<Entity.EntityHandle, EntityHandleError>
  /** Ends monitoring of an entity (see `Ham.detach`). */
  readonly detach: (entity: Entity.EntityRef) => Effect.Effect<void, DetachError>
  /** Adds a condition (see `Ham.condition`). */
  readonly condition: (
    entity: Entity.EntityRef,
    type: Condition.ConditionType,
    options?: ConditionOptions
  ) => Effect.Effect<ConditionHandle, ConditionError>
  /** Adds a `CondState` condition with a from/to filter (see `Ham.conditionState`). */
  readonly conditionState: (
    entity: Entity.EntityRef,
    filter: Condition.StateFilterInput,
    options?: ConditionOptions
  ) => Effect.Effect<ConditionHandle, ConditionError>
  /** Adds a `CondRaise` condition with a type/class/severity filter (see `Ham.conditionRaise`). */
  readonly conditionRaise: (
    entity: Entity.EntityRef,
    filter: Condition.RaiseFilterInput,
    options?: ConditionOptions
  ) => Effect.Effect<ConditionHandle, ConditionError>
  /** The handle of an existing condition (see `Ham.conditionHandle`). */
  readonly conditionHandle: (
    entity: Entity.EntityRef,
    name: string
  ) => Effect.Effect<ConditionHandle, ConditionHandleError>
  /** Adds an action at the end of a condition's list (see `Ham.addAction`). */
  readonly addAction: (
    condition: ConditionHandleFields,
    action: Action.Action
  ) => Effect.Effect<ActionHandle, AddActionError>
  /** The handle of an existing action (see `Ham.actionHandle`). */
  readonly actionHandle: (
    condition: ConditionHandleFields,
    name: string
  ) => Effect.Effect<ActionHandle, ActionHandleError>
  /** Publishes the entity's new state (see `Ham.publishState`). */
  readonly publishState: (entity: Entity.EntityRef, state: number) => Effect.Effect<void, PublishError>
  /** Raises a condition on the entity (see `Ham.raise`). */
  readonly raise: (entity: Entity.EntityRef, raise: RaiseInput) => Effect.Effect<void, PublishError>
  /** Restarts a running entity now: its life stopped, a new one started (see `Ham.restartEntity`). */
  readonly restartEntity: (entity: Entity.EntityRef) => Effect.Effect<void, RestartEntityError>
  /** Replaces a running process entity's process with no downtime (see `Ham.reloadEntity`). */
  readonly reloadEntity: (entity: Entity.EntityRef, options?: ReloadOptions) => Effect.Effect<void, ReloadEntityError>
  /** Sends a signal to a running entity's current life (see `Ham.signalEntity`). */
  readonly signalEntity: (entity: Entity.EntityRef, signal: string) => Effect.Effect<void, SignalEntityError>
  /** Subscribes now to every event (see `Ham.subscribe`). */
  readonly subscribe: Effect.Effect<Queue.Dequeue<Condition.ConditionEvent>, never, Scope.Scope>
  /** Every event, of one entity when given (see `Ham.events`). */
  readonly events: (entity?: Entity.EntityRef) => Stream.Stream<Condition.ConditionEvent>
  /** Enables, disables, reads or sets the flags of an entity, condition or action (see `Ham.control`). */
  readonly control: (
    handle: Handle,
    op: ControlOp,
    options?: ControlOptions
  ) => Effect.Effect<ControlResult, ControlError>
  /** Removes a condition or an action, or detaches an entity (see `Ham.remove`). */
  readonly remove: (handle: Handle) => Effect.Effect<void, RemoveError>
  /** Removes a fail action of an action by its name (see `Ham.removeFailAction`). */
  readonly removeFailAction: (action: ActionHandle, name: string) => Effect.Effect<void, RemoveError>
  /** The `/proc/ham` tree as data (see `Ham.snapshot`). */
  readonly snapshot: Effect.Effect<Tree.Tree>
  /** Sets the verbosity and returns the previous one (see `Ham.verbose`). */
  readonly verbose: (level: number) => Effect.Effect<number, VerboseError>
  /** The current verbosity (see `Ham.verbosity`). */
  readonly verbosity: Effect.Effect<number>
  /** Stops the HAM and everything it supervises (see `Ham.stop`). */
  readonly stop: Effect.Effect<void>
}
