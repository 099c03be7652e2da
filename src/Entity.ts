/**
 * Entities: the units a HAM monitors. An entity has a name unique in its HAM and one of these
 * kinds: a supervised fiber (`Entity.fiber`), a child process the HAM starts (`Entity.process`),
 * an existing process watched by pid (`Entity.pid`), the application itself (`Ham.attachSelf`),
 * or a placeholder made before the entity exists (`Ham.entity`). The global entity
 * (`Entity.global`) is a wildcard: its conditions match events of every entity.
 *
 * A fiber entity's life finds its own handle in its context: `Entity.Current`.
 *
 * @since 0.1.0
 * @module
 */
import type * as Command from "@effect/platform/Command"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type { Pipeable } from "effect/Pipeable"
import type * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as Action from "./Action.js"
import * as internal from "./internal/entity.js"
import * as group_ from "./internal/group/spec.js"

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
 * @since 0.1.0
 * @category type ids
 */
export const HandleTypeId: unique symbol = internal.HandleTypeId

/**
 * @since 0.1.0
 * @category type ids
 */
export type HandleTypeId = typeof HandleTypeId

/**
 * What `Ham.attach` is given: a description of the entity to supervise. `R` is what its code
 * needs from the context; `Ham.attach` takes it from the caller's context.
 *
 * @since 0.1.0
 * @category models
 */
export type EntitySpec<R = never> = FiberSpec<R> | ProcessSpec | PidSpec

/**
 * What attaching a spec needs from the context: a fiber's requirements but `Scope` (each life of
 * a fiber entity runs in a scope of its own, closed when that life ends) and `Entity.Current`
 * (its own handle, which every life finds in its context), nothing for processes.
 *
 * @since 0.1.0
 * @category models
 */
export type Requirements<S> = S extends FiberSpec<infer R> ? Exclude<R, Scope.Scope | Current>
  : S extends GroupSpec<infer R> ? Exclude<R, Scope.Scope | Current>
  : never

/**
 * The handle of the fiber entity whose life runs the code that reads it: every life of a fiber
 * entity finds its own handle in its context, so that it can beat, publish its state or raise
 * without looking itself up by name.
 *
 * @example
 * ```ts
 * import { Effect, Schedule } from "effect"
 * import { Entity, Ham } from "effect-ham"
 *
 * const worker = Entity.fiber(
 *   "worker",
 *   Effect.gen(function*() {
 *     const self = yield* Entity.Current
 *     yield* Ham.heartbeat(self).pipe(Effect.repeat(Schedule.spaced("1 second")))
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 * @category tags
 */
export const Current: typeof internal.Current = internal.Current

/**
 * @since 0.1.0
 * @category tags
 */
export type Current = internal.Current

/**
 * The spec of a supervised fiber.
 *
 * @since 0.1.0
 * @category models
 */
export interface FiberSpec<R = never> extends Pipeable {
  readonly [TypeId]: TypeId
  readonly _tag: "Fiber"
  readonly name: string
  readonly effect: Effect.Effect<unknown, unknown, R>
}

/**
 * The kind of an entity, as shown in the tree.
 *
 * @since 0.1.0
 * @category models
 */
export type EntityKind = "placeholder" | "fiber" | "self" | "process" | "pid"

/**
 * A client-side handle on an entity: its name. Freeing it removes nothing; using it after the
 * entity was detached fails with `EntityNotFound` (or does nothing, for `Ham.heartbeat`).
 *
 * @since 0.1.0
 * @category models
 */
export interface EntityHandle extends Pipeable {
  readonly [HandleTypeId]: HandleTypeId
  readonly _tag: "EntityHandle"
  readonly name: string
  readonly isGlobal: boolean
}

/**
 * An entity as the API accepts it: a handle or a name.
 *
 * @since 0.1.0
 * @category models
 */
export type EntityRef = EntityHandle | string

/**
 * A supervised fiber. Every run of `effect` is one life of the entity:
 *
 * - it returns: a normal death (`CondDeath`);
 * - it fails, dies with a defect, or is interrupted by anything but the HAM: an abnormal death
 *   (`CondAbnormalDeath`, then `CondDeath`);
 * - a restart action runs `effect` again in a fresh fiber.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Entity, Ham } from "effect-ham"
 *
 * const worker = Entity.fiber("worker", Effect.never)
 * const program = Ham.attach(worker)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const fiber: <A, E, R>(name: string, effect: Effect.Effect<A, E, R>) => FiberSpec<R> = internal.fiber

/**
 * A child process the HAM starts from a `Command` of `@effect/platform` and can restart with
 * exactly the same command line, environment and working directory. A single command is not run
 * through the platform's command executor (only a pipeline, `Command.pipeTo`, is). By default it is forked
 * by the HAM's spawner, a small helper process (`Ham.layer({ spawner: "process" })`), so that a
 * restart does not pay for the application's memory and a SIGKILLed application leaves no child;
 * with `spawner: "inline"` the HAM forks it from its own process; with the Guardian's process mode,
 * children are started so that they outlive the application.
 *
 * - Exit code 0 is a death; a non-zero code or a signal is an abnormal death. The death event
 *   carries the pid, the exit code or the signal name, and the last lines of its stderr.
 * - Its stdout and stderr go to the Effect logger (annotated with the entity and the stream), to
 *   a file (`output: { file }`, appended, rotated by size with `maxSize`), or nowhere (`"ignore"`); they are always drained, so a
 *   full pipe never blocks the child.
 * - It runs in a process group of its own. Stopping it (`Ham.stop`, `Ham.detach`, the layer's
 *   scope) sends `stopSignal` (default SIGTERM) to the group, then SIGKILL after `stopGrace`
 *   (default 5 seconds); what is left of the group after a death is killed too.
 * - Its environment has `HAM_ENTITY` (its name) and, under a Guardian store, `HAM_LAUNCH_ID`
 *   (the id of this start, recorded in the store before the child is started: a HAM killed before
 *   it recorded the child's life leaves it there, and the next HAM of the store ends that child).
 *
 * @since 0.1.0
 * @category constructors
 */
export const process: (name: string, command: Command.Command, options?: ProcessOptions) => ProcessSpec =
  internal.process

/**
 * The spec of a child process.
 *
 * @since 0.1.0
 * @category models
 */
export interface ProcessSpec extends Pipeable {
  readonly [TypeId]: TypeId
  readonly _tag: "Process"
  readonly name: string
  readonly command: Action.CommandLine
  readonly options: ProcessOptions
}

/**
 * An output file, appended to. With `maxSize` it is rotated by the HAM itself (no logrotate): when
 * it reaches that size it becomes `<file>.1`, older files move up to `<file>.<keep>` (default 5)
 * and the oldest is removed. `timestamps`: each line starts with the time the HAM read it (ISO
 * 8601, UTC). Lines from stderr start with `[stderr] `.
 *
 * @since 0.1.0
 * @category models
 */
export interface OutputFile {
  readonly file: string
  /** rotate at this size: bytes, or a string such as `"10M"`, `"512K"`, `"1G"` (powers of 1024) */
  readonly maxSize?: number | string | undefined
  /** how many rotated files are kept (1 to 1000, default 5; needs `maxSize`) */
  readonly keep?: number | undefined
  /** each line starts with its time (default false) */
  readonly timestamps?: boolean | undefined
}

/**
 * Options of a process entity: `output`, `stopSignal`, `stopGrace`, `nodeIpc`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ProcessOptions {
  /** where stdout/stderr go: the Effect logger (default), nowhere, or appended to a file */
  readonly output?: "log" | "ignore" | OutputFile | undefined
  /** the signal that asks the process to stop (default SIGTERM) */
  readonly stopSignal?: string | undefined
  /** how long a stopping process may take before SIGKILL (default 5 seconds) */
  readonly stopGrace?: Duration.DurationInput | undefined
  /**
   * A Node child may send its notify lines with `process.send({ ham: "WATCHDOG=1" })`, as over
   * Node IPC: the HAM preloads a small bridge into it (through `NODE_OPTIONS`) that carries these
   * messages over its notify socket (the platform's command executor opens no IPC channel).
   * Opt-in: with it, `process.send` exists in the child (default false).
   */
  readonly nodeIpc?: boolean | undefined
}

/**
 * An existing process the HAM did not start. Its death is detected by polling `/proc` every
 * `pollInterval` (default 20 ms; a zombie counts as dead, and so does a pid reused by another
 * process). Its command line, working directory and (when readable) environment are read from
 * `/proc` when it is attached, so that a restart action can start it again: the new process is
 * then a child of the HAM, supervised like `Entity.process`.
 *
 * The HAM is not the process's parent and never reaps it. When a poll finds it exited but not yet
 * reaped by its parent (a zombie), its exit status is read from `/proc` and its death is reported
 * as a process entity's: a signal or a non-zero exit code is an abnormal death
 * (`CondAbnormalDeath`, then `CondDeath`). When it is already gone (its parent reaped it at once,
 * as Node does with its own children), how it ended is unknown: the death is normal
 * (`abnormal: false`, only `CondDeath`) and carries `exitStatus: "unknown"`.
 *
 * The HAM's own pid is allowed (the Guardian attaches the host this way, for the HAM that takes
 * over its store): the HAM can never see its own death, so its conditions fire only in that other
 * HAM.
 *
 * Detaching it or stopping the HAM ends the monitoring and leaves the process alone (the HAM did
 * not start it); once restarted by the HAM, it is stopped like a process entity. Fails with
 * `ProcessNotFound` for a pid that is not a live process, `ProcessNotSignallable` for one the HAM
 * may not signal, `InvalidArgument` for a pid outside 1 to the system's `pid_max`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const pid: (name: string, pid: number, options?: PidOptions) => PidSpec = internal.pid

/**
 * The spec of an external process.
 *
 * @since 0.1.0
 * @category models
 */
export interface PidSpec extends Pipeable {
  readonly [TypeId]: TypeId
  readonly _tag: "Pid"
  readonly name: string
  readonly pid: number
  readonly options: PidOptions
}

/**
 * Options of an external process entity: `pollInterval`, and the process options that apply
 * once the HAM restarted it.
 *
 * @since 0.1.0
 * @category models
 */
export interface PidOptions extends ProcessOptions {
  /** how often the HAM looks whether the process is still alive (default 20 ms) */
  readonly pollInterval?: Duration.DurationInput | undefined
}

/**
 * The global entity: a wildcard that is never attached or detached. Conditions on it fire for
 * events of every entity (QNX `ham_entity_handle(nd, NULL, 0)`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const global: EntityHandle = internal.global

/**
 * Another node's entity, as this HAM sees it in a cluster (`HamCluster`): the name
 * `<node>:<name>`. Make it a placeholder (`Ham.entity(Entity.remote("b", "web"))`) and add its
 * conditions with local actions: the cluster keeps it in step with `web` on node `b` (attached
 * while that one runs, its restarts, deaths, raises and states). Outside a cluster it is a plain name.
 *
 * @example
 * ```ts
 * import { Command } from "@effect/platform"
 * import { Effect } from "effect"
 * import { Entity, Ham } from "effect-ham"
 * import { CondDeath } from "effect-ham/Condition"
 *
 * const program = Effect.gen(function*() {
 *   const web = yield* Ham.entity(Entity.remote("b", "web"))
 *   yield* Ham.condition(web, CondDeath).pipe(Ham.execute(Command.make("logger", "web died on b")))
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const remote: (node: string, name: string) => string = internal.remote

/**
 * @since 0.1.0
 * @category guards
 */
export const isEntitySpec: (u: unknown) => u is EntitySpec<unknown> = internal.isEntitySpec

/**
 * @since 0.1.0
 * @category guards
 */
export const isEntityHandle: (u: unknown) => u is EntityHandle = internal.isEntityHandle

/**
 * The rules every name follows (entity, condition and action names): 1 to 255 characters, no
 * `/` and no control characters.
 *
 * @since 0.1.0
 * @category models
 */
export const Name: Schema.Schema<string> = internal.Name

/**
 * A group of entities supervised together, as an OTP supervisor supervises its children
 * (`Ham.attach(Entity.group(...))`). Members start in their order (a member after the members it
 * depends on, `dependsOn`) and stop in the reverse order. When a member dies, the group restarts
 * as its `strategy` says:
 *
 * - `oneForOne` (default): the dead member only;
 * - `oneForAll`: every member (the others are stopped, in reverse order, then all start in order);
 * - `restForOne`: the dead member and the members after it.
 *
 * `intensity` bounds the group's restarts: more than `maxRestarts` (default 1) within `within`
 * (default 5 seconds) and the group gives up: it stops its members and, as a member of its
 * parent group, is a dead member there (escalation: the parent's strategy restarts it, with a
 * fresh window, or gives up in turn). A member may be a group: a supervision tree.
 *
 * With `autoShutdown` (`"anySignificant"`, `"allSignificant"`; default `"never"`), the end of a
 * significant member that is not restarted (`Entity.member(spec, { significant: true, restart:
 * "transient" })`) shuts the group down, as OTP's `auto_shutdown`.
 *
 * The group's restarts are its own: give its members no restart action. A held member's status is
 * `stopped` (a hold is not a death); a start again is a restart (`CondRestart`). Groups run in
 * the HAM's own process (not through `HamClient`) and are not kept in a Guardian store. The tree
 * shows each group with its members (`Tree.groups`).
 *
 * @example
 * ```ts
 * import { Command } from "@effect/platform"
 * import { Entity, Ham } from "effect-ham"
 *
 * const app = Entity.group("app", [
 *   Entity.process("db", Command.make("node", "db.js")),
 *   Entity.member(Entity.process("web", Command.make("node", "web.js")), { dependsOn: ["db"] })
 * ], { strategy: "restForOne", intensity: { maxRestarts: 3, within: "10 seconds" } })
 * const program = Ham.attach(app)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const group: <R = never>(
  name: string,
  members: ReadonlyArray<Member<R>>,
  options?: GroupOptions
) => GroupSpec<R> = group_.group

/**
 * A member of a group with its options: its restart type (`restart`: `"permanent"`, the default,
 * always restarted; `"transient"`, after an abnormal death only; `"temporary"`, never),
 * `significant` (for `autoShutdown`), and its dependencies:
 *
 * - `dependsOn`: names of entities or groups of the same group tree; the member starts after each
 *   of them is ready, and stops before them. A cycle fails the attach with `DependencyCycle`, an
 *   unknown name with `UnknownDependency`; nothing is attached then.
 * - `onDependencyRestart`: what a dependency's restart does to this member: `"restart"` (default,
 *   systemd's `Requires`): it is restarted once the dependency is ready again; `"pause"` (`BindsTo`):
 *   it is stopped while the dependency is down, started again once it is ready; `"none"` (`After`
 *   alone): nothing. A dependency that ends for good (not restarted) stops its `restart` and
 *   `pause` dependents.
 * - `ready`: when this member is ready for its dependents: `"started"` (default: it runs),
 *   `"notify"` (it said `READY=1` on its notify socket), `{ port, host? }` (a TCP connection is
 *   accepted), or `{ check }` (an effect that says true: the hook for a probe).
 * - `readyTimeout` (default 30 seconds): how long a dependent waits for it. At the group's attach
 *   a dependency not ready in time fails it (`DependencyNotReady`); at a restart the dependent is
 *   started anyway, with a warning.
 *
 * @since 0.1.0
 * @category constructors
 */
export const member: <R = never>(spec: EntitySpec<R> | GroupSpec<R>, options: MemberOptions) => MemberSpec<R> =
  group_.member

/**
 * The spec of a group (`Entity.group`).
 *
 * @since 0.1.0
 * @category models
 */
export interface GroupSpec<R = never> extends group_.GroupSpec<R> {}

/**
 * A member of a group with its options (`Entity.member`).
 *
 * @since 0.1.0
 * @category models
 */
export interface MemberSpec<R = never> extends group_.MemberSpec<R> {}

/**
 * What a group takes as a member: an entity spec, a group spec, or either with options.
 *
 * @since 0.1.0
 * @category models
 */
export type Member<R = never> = EntitySpec<R> | GroupSpec<R> | MemberSpec<R>

/**
 * Options of a group: `strategy`, `intensity` (`maxRestarts`, `within`), `autoShutdown`.
 *
 * @since 0.1.0
 * @category models
 */
export type GroupOptions = group_.GroupOptions

/**
 * Options of a group member: `restart`, `significant`, `dependsOn`, `onDependencyRestart`, `ready`,
 * `readyTimeout`.
 *
 * @since 0.1.0
 * @category models
 */
export type MemberOptions = group_.MemberOptions

/**
 * OTP's restart strategies.
 *
 * @since 0.1.0
 * @category models
 */
export type Strategy = group_.Strategy

/**
 * When a group member is ready for the members that depend on it.
 *
 * @since 0.1.0
 * @category models
 */
export type Readiness = group_.Readiness

/**
 * What `Ham.attach` of a group returns: its name.
 *
 * @since 0.1.0
 * @category models
 */
export interface GroupHandle {
  readonly _tag: "GroupHandle"
  readonly name: string
}

/**
 * @since 0.1.0
 * @category guards
 */
export const isGroupSpec: (u: unknown) => u is GroupSpec<unknown> = group_.isGroupSpec
