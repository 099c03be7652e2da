/**
 * The High Availability Manager: the service that holds the registry (entities → conditions →
 * actions), the detectors (fiber exits, heartbeat clocks, published states and raises) and the
 * dispatcher that runs recovery. Add `HamLive` (or `Ham.layer(options)`) to your layers and use
 * the functions of this module.
 *
 * Execution model: every detector publishes a `ConditionEvent` on one queue; one dispatcher
 * fiber takes them in order, updates the statistics, publishes the event to subscribers and
 * runs the action lists of the matching conditions. Ordinary conditions run FIFO in the
 * dispatcher; `noWait` conditions share one side fiber (they promise not to wait); each
 * `independent` condition runs in its own fiber, so its waits delay nobody.
 *
 * Subscribers (`Ham.events`, `Ham.subscribe`) never slow the HAM down: each subscriber sees a
 * sliding window of at most `eventBuffer` (default 4096) undelivered events; when it falls
 * further behind, its oldest undelivered events are dropped for it alone. The HAM and the other
 * subscribers are never blocked.
 *
 * @since 0.1.0
 * @module
 */
import type * as Command from "@effect/platform/Command"
import * as Context from "effect/Context"
import type * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as PubSub from "effect/PubSub"
import type * as Queue from "effect/Queue"
import type * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Action from "./Action.js"
import type * as Condition from "./Condition.js"
import type * as Entity from "./Entity.js"
import type * as HamError from "./HamError.js"
import type * as Api from "./HamService.js"
import * as action_ from "./internal/action.js"
import * as condition_ from "./internal/condition.js"
import * as groupSpec from "./internal/group/spec.js"
import * as group from "./internal/group/supervisor.js"
import * as internal from "./internal/ham/make.js"
import type * as Tree from "./Tree.js"

/**
 * The errors of the HAM (`EntityNotFound`, `HamError.InvalidArgument`, ...; see the `HamError` module).
 *
 * @since 0.1.0
 * @category errors
 */
export * from "./HamError.js"

/**
 * The HAM service tag.
 *
 * @since 0.1.0
 * @category tags
 */
export const Ham: typeof internal.Ham = internal.Ham

/**
 * @since 0.1.0
 * @category tags
 */
export type Ham = internal.Ham

// the models of the service, each documented where it is defined (`HamService`)
export type {
  ActionHandle,
  AttachOptions,
  ConditionHandle,
  ConditionHandleFields,
  ConditionOptions,
  ControlOp,
  ControlOptions,
  ControlResult,
  HamOptions,
  HamService,
  Handle,
  HeartbeatOptions,
  LimitOptions,
  ProbeOptions,
  RaiseInput,
  RestartIntensityOptions,
  RestartPolicyOptions
} from "./HamService.js"

/**
 * The default restart back-off: exponential from 100 ms, doubling, capped at 10 seconds.
 *
 * @since 0.1.0
 * @category models
 */
export const defaultBackoff: Schedule.Schedule<unknown> = internal.defaultBackoff

/**
 * A HAM in memory, configured by `options`. Closing the layer's scope stops the HAM.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: (options?: Api.HamOptions) => Layer.Layer<Ham, HamError.InvalidArgument> = internal.layer

/**
 * The default HAM, in memory.
 *
 * @since 0.1.0
 * @category layers
 */
export const HamLive: Layer.Layer<Ham> = internal.HamLive

// every call checks the wiring: a Guardian store beside the HAM (not under it) is a defect
const withHam = <A, E, R>(f: (ham: Api.HamService) => Effect.Effect<A, E, R>): Effect.Effect<A, E, R | Ham> =>
  Effect.contextWithEffect((context: Context.Context<Ham>) => {
    const ham = Context.get(context, internal.Ham)
    return internal.wiringDefect(context, ham) ?? f(ham)
  })

/**
 * Starts supervising an entity (QNX `ham_attach`). If a placeholder or a dead entity of that
 * name exists, the new entity takes it over with its conditions and statistics; `CondAttach`
 * fires. Fails with `DuplicateName` if an entity of that name is alive, `HamError.InvalidArgument` for
 * a bad name or options.
 *
 * A fiber entity's first life starts on the next scheduler turn, so conditions the caller adds
 * right after `attach` (before its fiber yields) are in place even for a fiber that dies at
 * once. From another fiber, add them to the placeholder (`Ham.entity(name)`) before attaching.
 *
 * Given a group (`Entity.group`), attaches its members in start order and supervises them as the
 * group says; it fails, with nothing attached, on a dependency cycle, an unknown dependency or a
 * name in use, and with what it attached detached when a member cannot start.
 *
 * A process entity's attach is not cut short by an interruption once its child is being
 * started: the entity ends up attached, or absent with no child and no socket left.
 *
 * @since 0.1.0
 * @category constructors
 */
export const attach = <S extends Entity.EntitySpec<any> | Entity.GroupSpec<any>>(
  spec: S,
  options?: S extends Entity.GroupSpec<any> ? never : Api.AttachOptions
): Effect.Effect<
  S extends Entity.GroupSpec<any> ? Entity.GroupHandle : Entity.EntityHandle,
  S extends Entity.GroupSpec<any> ? HamError.GroupError : HamError.AttachError,
  Ham | Entity.Requirements<S>
> =>
  withHam((ham): Effect.Effect<any, any, any> =>
    groupSpec.isGroupSpec(spec)
      ? group.attach(ham, spec)
      : ham.attach(spec as Entity.EntitySpec<any>, options as Api.AttachOptions | undefined)
  )

/**
 * Attaches the caller as an entity (QNX `ham_attach_self`). The caller's scope is its
 * connection: if the scope closes without `Ham.detach`, the entity dies (abnormally when the
 * scope closed with a failure). A self-attached entity cannot hold a restart action.
 *
 * @since 0.1.0
 * @category constructors
 */
export const attachSelf = (
  name: string,
  options?: Api.AttachOptions
): Effect.Effect<Entity.EntityHandle, HamError.AttachSelfError, Ham | Scope.Scope> =>
  withHam((ham) => ham.attachSelf(name, options))

/**
 * Sends a heartbeat for an entity (QNX `ham_heartbeat`), given its handle or its name. Always
 * succeeds; does nothing if the entity is not running, was detached, or (by name) does not exist.
 * Through a handle it needs no lookup (and no `Ham` in the context); a fiber entity's life finds
 * its own handle as `Entity.Current`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const heartbeat: {
  (handle: Entity.EntityHandle): Effect.Effect<void>
  (name: string): Effect.Effect<void, never, Ham>
} = ((entity: Entity.EntityRef) =>
  typeof entity === "string"
    ? withHam((ham) => Effect.ignore(Effect.flatMap(ham.entityHandle(entity), internal.heartbeat)))
    : internal.heartbeat(entity)) as any

/**
 * The handle of the entity of that name; creates a placeholder when there is none, so that
 * conditions can be added before the entity exists (QNX `ham_entity`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const entity = (name: string): Effect.Effect<Entity.EntityHandle, HamError.EntityError, Ham> =>
  withHam((ham) => ham.entity(name))

/**
 * The handle of an existing entity (QNX `ham_entity_handle`); `EntityNotFound` otherwise.
 *
 * @since 0.1.0
 * @category getters
 */
export const entityHandle = (name: string): Effect.Effect<Entity.EntityHandle, HamError.EntityHandleError, Ham> =>
  withHam((ham) => ham.entityHandle(name))

/**
 * Ends monitoring of an entity (QNX `ham_detach`): stops its fiber (this is not a death),
 * fires `CondDetach` with its conditions, then forgets it.
 *
 * A process entity's stop runs to its end even when the caller is interrupted meanwhile (while
 * the HAM waits out its `stopGrace`): its process group and its notify socket never outlive it.
 *
 * @since 0.1.0
 * @category combinators
 */
export const detach = (entity: Entity.EntityRef): Effect.Effect<void, HamError.DetachError, Ham> =>
  withHam((ham) => ham.detach(entity))

/**
 * Adds a condition to an entity (QNX `ham_condition`). Works on placeholders and on
 * `Entity.global`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const condition = (
  entity: Entity.EntityRef,
  type: Condition.ConditionType,
  options?: Api.ConditionOptions
): Effect.Effect<Api.ConditionHandle, HamError.ConditionError, Ham> =>
  withHam((ham) => ham.condition(entity, type, options))

/**
 * Adds a `CondState` condition that fires on transitions matching `from` / `to` (each an exact
 * state, `StateAny`, `{ in: [...] }` or `{ notIn: [...] }`), QNX `ham_condition_state`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const conditionState = (
  entity: Entity.EntityRef,
  filter: Condition.StateFilterInput,
  options?: Api.ConditionOptions
): Effect.Effect<Api.ConditionHandle, HamError.ConditionError, Ham> =>
  withHam((ham) => ham.conditionState(entity, filter, options))

/**
 * Adds a `CondRaise` condition that fires on raises matching `type`, `class` and `severity`
 * (each exact, or `RaiseAny` / absent for any), QNX `ham_condition_raise`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const conditionRaise = (
  entity: Entity.EntityRef,
  filter: Condition.RaiseFilterInput,
  options?: Api.ConditionOptions
): Effect.Effect<Api.ConditionHandle, HamError.ConditionError, Ham> =>
  withHam((ham) => ham.conditionRaise(entity, filter, options))

/**
 * The handle of an existing condition (QNX `ham_condition_handle`).
 *
 * @since 0.1.0
 * @category getters
 */
export const conditionHandle = (
  entity: Entity.EntityRef,
  name: string
): Effect.Effect<Api.ConditionHandle, HamError.ConditionHandleError, Ham> =>
  withHam((ham) => ham.conditionHandle(entity, name))

/**
 * Adds an action at the end of a condition's list and returns its handle.
 *
 * @since 0.1.0
 * @category constructors
 */
export const addAction = (
  condition: Api.ConditionHandleFields,
  action: Action.Action
): Effect.Effect<Api.ActionHandle, HamError.AddActionError, Ham> => withHam((ham) => ham.addAction(condition, action))

/**
 * The handle of an existing action (QNX `ham_action_handle`).
 *
 * @since 0.1.0
 * @category getters
 */
export const actionHandle = (
  condition: Api.ConditionHandleFields,
  name: string
): Effect.Effect<Api.ActionHandle, HamError.ActionHandleError, Ham> =>
  withHam((ham) => ham.actionHandle(condition, name))

/**
 * A condition handle (or a record of its fields), or an effect that makes one: what the pipeable
 * action adders take.
 *
 * @since 0.1.0
 * @category models
 */
export type ConditionInput<E, R> = Api.ConditionHandleFields | Effect.Effect<Api.ConditionHandleFields, E, R>

/**
 * Adds an action to the condition and passes the condition's handle on, so that adders chain:
 * `Ham.condition(e, CondDeath).pipe(Ham.restart, Ham.log("restarted"))`, or on a handle,
 * `handle.pipe(Ham.restart, Ham.log("restarted"))`.
 *
 * @since 0.1.0
 * @category actions
 */
export const action = (action: Action.Action) =>
<E = never, R = never>(
  self: ConditionInput<E, R>
): Effect.Effect<Api.ConditionHandle, E | HamError.AddActionError, R | Ham> =>
  Effect.map(
    Effect.tap(Effect.isEffect(self) ? self : Effect.succeed(self), (handle) => addAction(handle, action)),
    condition_.conditionHandle
  )

/**
 * Adds `Action.restart` (QNX `ham_action_restart`).
 *
 * @since 0.1.0
 * @category actions
 */
export const restart: <E = never, R = never>(
  self: ConditionInput<E, R>
) => Effect.Effect<Api.ConditionHandle, E | HamError.AddActionError, R | Ham> = action(Action.restart)

/**
 * Adds `Action.execute` (QNX `ham_action_execute`).
 *
 * @since 0.1.0
 * @category actions
 */
export const execute = (...args: Parameters<typeof Action.execute>) => action(Action.execute(...args))

/**
 * Adds `Action.notify` (QNX `ham_action_notify_pulse`).
 *
 * @since 0.1.0
 * @category actions
 */
export const notify = <A, E = never>(
  target: Queue.Enqueue<A> | PubSub.PubSub<A> | Deferred.Deferred<A, E>,
  ...value: [] | [A]
) => action(Action.notify(target, ...value))

/**
 * Adds `Action.signal` (QNX `ham_action_notify_signal`).
 *
 * @since 0.1.0
 * @category actions
 */
export const signal = (...args: Parameters<typeof Action.signal>) => action(Action.signal(...args))

/**
 * Adds `Action.waitfor` (QNX `ham_action_waitfor`).
 *
 * @since 0.1.0
 * @category actions
 */
export const waitfor = (...args: Parameters<typeof Action.waitfor>) => action(Action.waitfor(...args))

/**
 * Adds `Action.heartbeatHealthy` (QNX `ham_action_heartbeat_healthy`).
 *
 * @since 0.1.0
 * @category actions
 */
export const heartbeatHealthy: <E = never, R = never>(
  self: ConditionInput<E, R>
) => Effect.Effect<Api.ConditionHandle, E | HamError.AddActionError, R | Ham> = action(Action.heartbeatHealthy)

/**
 * Adds `Action.log` (QNX `ham_action_log`).
 *
 * @since 0.1.0
 * @category actions
 */
export const log = (...args: Parameters<typeof Action.log>) => action(Action.log(...args))

/**
 * Publishes the entity's new state (QNX `ham_entity_condition_state`). The HAM keeps it and
 * fires `CondState` with the previous and the new state; it does not judge transitions.
 *
 * @since 0.1.0
 * @category combinators
 */
export const publishState = (
  entity: Entity.EntityRef,
  state: number
): Effect.Effect<void, HamError.PublishError, Ham> => withHam((ham) => ham.publishState(entity, state))

/**
 * Raises a condition on the entity (QNX `ham_entity_condition_raise`).
 *
 * @since 0.1.0
 * @category combinators
 */
export const raise = (
  entity: Entity.EntityRef,
  raise: Api.RaiseInput
): Effect.Effect<void, HamError.PublishError, Ham> => withHam((ham) => ham.raise(entity, raise))

/**
 * Restarts a running entity now, as `ham restart` does: its current life is stopped as a detach
 * stops it (a process gets its stop signal, then SIGKILL after its grace; this is not a death, so
 * no death condition fires) and a new life is started. The restart is counted in the entity's
 * `restarts` and announced with `CondRestart`; it is not counted against the restart intensity.
 * An entity that is not running (a placeholder, dead, gave up) is refused with
 * `EntityNotRunning`, a self-attached one with `InvalidArgument`; a remote HAM also refuses its
 * fiber entities. When the new life cannot be started the call fails with `SpawnFailed` and the
 * entity is dead.
 *
 * @since 0.1.0
 * @category combinators
 */
export const restartEntity = (entity: Entity.EntityRef): Effect.Effect<void, HamError.RestartEntityError, Ham> =>
  withHam((ham) => ham.restartEntity(entity))

/**
 * Replaces a running process entity's process with no downtime, as `ham reload <entity>` does:
 * a new process starts beside the old one (from `command`, else the entity's command line, with
 * `env` set on top); once it says `READY=1` it is the entity's process and the old one is stopped
 * (stop signal, then SIGKILL after the stop grace). A server listening with `SO_REUSEPORT` on a
 * shared port serves without a gap. The new command line is the entity's from then on. Neither a
 * death nor a restart: no condition fires, the statistics stay. When the new process cannot
 * start, exits before it is ready or is not ready within `readyTimeout` (default 30 seconds), the
 * call fails with `ReloadFailed`, the new process is gone and the old one runs on untouched.
 *
 * @since 0.1.0
 * @category combinators
 */
export const reloadEntity = (
  entity: Entity.EntityRef,
  options?: Omit<Api.ReloadOptions, "command"> & { readonly command?: Command.Command | undefined }
): Effect.Effect<void, HamError.ReloadEntityError, Ham> =>
  withHam((ham) => {
    const { command, ...rest } = options ?? {}
    return ham.reloadEntity(
      entity,
      command === undefined ? rest : { ...rest, command: action_.commandLineFrom(command) }
    )
  })

/**
 * Sends a signal (a name: `"SIGHUP"`, `"SIGUSR1"`, ...) to a running entity's current life, as
 * `ham signal` does: a process entity's process (not its group), a pid entity's process. A fiber
 * entity takes only the terminating signals (its fiber is interrupted: a death). A name this
 * platform does not know is refused with `InvalidArgument` and nothing is sent. What follows is
 * the entity's own doing: a process that dies of it dies as from any other signal.
 *
 * @since 0.1.0
 * @category combinators
 */
export const signalEntity = (
  entity: Entity.EntityRef,
  signal: string
): Effect.Effect<void, HamError.SignalEntityError, Ham> => withHam((ham) => ham.signalEntity(entity, signal))

/**
 * Every event (of one entity, when given) from the moment the stream starts. A subscriber
 * that falls more than `eventBuffer` events behind loses its oldest undelivered events; it
 * never blocks the HAM or other subscribers.
 *
 * @since 0.1.0
 * @category getters
 */
export const events = (entity?: Entity.EntityRef): Stream.Stream<Condition.ConditionEvent, never, Ham> =>
  Stream.unwrap(Effect.map(internal.Ham, (ham) => ham.events(entity)))

/**
 * Subscribes now and returns the subscription to every event as a queue (same buffering as
 * `events`): no event published after this returns is missed.
 *
 * @since 0.1.0
 * @category getters
 */
export const subscribe: Effect.Effect<Queue.Dequeue<Condition.ConditionEvent>, never, Ham | Scope.Scope> = withHam(
  (ham) => ham.subscribe
)

/**
 * Enables or disables an entity, condition or action, or reads or sets its flags (QNX
 * `ham_*_control`). A disabled entity triggers nothing, a disabled condition never fires, a
 * disabled action is skipped. Not recursive unless `{ recurse: true }`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const control = (
  handle: Api.Handle,
  op: Api.ControlOp,
  options?: Api.ControlOptions
): Effect.Effect<Api.ControlResult, HamError.ControlError, Ham> => withHam((ham) => ham.control(handle, op, options))

/**
 * Removes a condition (with its actions) or an action; on an entity handle, detaches it.
 *
 * @since 0.1.0
 * @category combinators
 */
export const remove = (handle: Api.Handle): Effect.Effect<void, HamError.RemoveError, Ham> =>
  withHam((ham) => ham.remove(handle))

/**
 * Removes the fail action named `name` from an action's fail list (`Action.onFail`; QNX
 * `ham_action_fail_remove`). The names are those of the tree's `onFail` of the action; one that
 * is not there fails with `ActionNotFound` naming `action/name`, and nothing changes.
 *
 * @since 0.1.0
 * @category combinators
 */
export const removeFailAction = (
  action: Api.ActionHandle,
  name: string
): Effect.Effect<void, HamError.RemoveError, Ham> => withHam((ham) => ham.removeFailAction(action, name))

/**
 * The `/proc/ham` tree as data.
 *
 * @since 0.1.0
 * @category getters
 */
export const snapshot: Effect.Effect<Tree.Tree, never, Ham> = withHam((ham) => ham.snapshot)

/**
 * Sets the HAM's verbosity and returns the previous one (QNX `ham_verbose`). Log actions write
 * only when the verbosity is at least theirs; at 3 and above the HAM logs every event at debug
 * level.
 *
 * @since 0.1.0
 * @category combinators
 */
export const verbose = (level: number): Effect.Effect<number, HamError.VerboseError, Ham> =>
  withHam((ham) => ham.verbose(level))

/**
 * The HAM's current verbosity.
 *
 * @since 0.1.0
 * @category getters
 */
export const verbosity: Effect.Effect<number, never, Ham> = withHam((ham) => ham.verbosity)

/**
 * Stops the HAM (QNX `ham_stop`): every supervised fiber is interrupted and awaited, nothing is
 * left running, and every later call fails with `HamStopped`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const stop: Effect.Effect<void, never, Ham> = withHam((ham) => ham.stop)

/**
 * A duration as the HAM's options take it: a `Duration`, a number of milliseconds, or a string
 * such as `"5 seconds"` (Effect's `Duration.DurationInput`, re-exported).
 *
 * @since 0.1.0
 * @category models
 */
export type DurationInput = Duration.DurationInput
