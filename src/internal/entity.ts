import type * as Command from "@effect/platform/Command"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import { type Pipeable, pipeArguments } from "effect/Pipeable"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as Entity from "../Entity.js"
import { type CommandLine, commandLineFrom } from "./action.js"

/** @internal */
export const TypeId: typeof Entity.TypeId = Symbol.for("effect-ham/Entity") as never

/** @internal */
export const HandleTypeId: typeof Entity.HandleTypeId = Symbol.for("effect-ham/Entity/Handle") as never

/** @internal */
export type EntityKind = "placeholder" | "fiber" | "self" | "process" | "pid"

/** @internal a spec of a supervised fiber */
export interface FiberSpec<R> extends Pipeable {
  readonly [TypeId]: typeof TypeId
  readonly _tag: "Fiber"
  readonly name: string
  readonly effect: Effect.Effect<unknown, unknown, R>
}

/** @internal where the output of a process entity goes */
export const Output = Schema.Union(Schema.Literal("log", "ignore"), Schema.Struct({ file: Schema.String }))

/** @internal options of a process entity */
export interface ProcessOptions {
  /** where stdout/stderr go: the Effect logger (default), nowhere, or appended to a file */
  readonly output?: typeof Output.Type | undefined
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

/** @internal a spec of a child process the HAM starts (and restarts with the same command line) */
export interface ProcessSpec extends Pipeable {
  readonly [TypeId]: typeof TypeId
  readonly _tag: "Process"
  readonly name: string
  readonly command: CommandLine
  readonly options: ProcessOptions
}

/** @internal options of an external process entity */
export interface PidOptions extends ProcessOptions {
  /** how often the HAM looks whether the process is still alive (default 20 ms) */
  readonly pollInterval?: Duration.DurationInput | undefined
}

/** @internal a spec of an existing process the HAM did not start */
export interface PidSpec extends Pipeable {
  readonly [TypeId]: typeof TypeId
  readonly _tag: "Pid"
  readonly name: string
  readonly pid: number
  readonly options: PidOptions
}

/** @internal */
export type EntitySpec<R> = FiberSpec<R> | ProcessSpec | PidSpec

/**
 * @internal what attaching a spec needs from the context: a fiber's requirements, but its
 * `Scope` (each life gets a scope of its own)
 */
export type Requirements<S> = S extends FiberSpec<infer R> ? Exclude<R, Scope.Scope> : never

const SpecProto = {
  [TypeId]: TypeId,
  pipe() {
    return pipeArguments(this, arguments)
  },
  toJSON(this: EntitySpec<unknown>) {
    return { _id: "EntitySpec", _tag: this._tag, name: this.name }
  }
}

/** @internal */
export const fiber = <A, E, R>(name: string, effect: Effect.Effect<A, E, R>): FiberSpec<R> => {
  const self = Object.create(SpecProto)
  self._tag = "Fiber"
  self.name = name
  self.effect = effect
  return self
}

/** @internal */
export const process = (name: string, command: Command.Command, options?: ProcessOptions): ProcessSpec =>
  processFromLine(name, commandLineFrom(command), options)

/** @internal a process spec from a command line kept as data */
export const processFromLine = (name: string, command: CommandLine, options?: ProcessOptions): ProcessSpec => {
  const self = Object.create(SpecProto)
  self._tag = "Process"
  self.name = name
  self.command = command
  self.options = options ?? {}
  return self
}

/** @internal */
export const pid = (name: string, pid: number, options?: PidOptions): PidSpec => {
  const self = Object.create(SpecProto)
  self._tag = "Pid"
  self.name = name
  self.pid = pid
  self.options = options ?? {}
  return self
}

/** @internal */
export const isEntitySpec = (u: unknown): u is EntitySpec<unknown> => Predicate.hasProperty(u, TypeId)

/** @internal a client-side handle: a name, nothing more (freeing it removes nothing) */
export interface EntityHandle extends Pipeable {
  readonly [HandleTypeId]: typeof HandleTypeId
  readonly _tag: "EntityHandle"
  readonly name: string
  readonly isGlobal: boolean
}

const HandleProto = {
  [HandleTypeId]: HandleTypeId,
  _tag: "EntityHandle",
  pipe() {
    return pipeArguments(this, arguments)
  },
  toJSON(this: EntityHandle) {
    return { _id: "EntityHandle", name: this.name, isGlobal: this.isGlobal }
  },
  toString(this: EntityHandle) {
    return this.isGlobal ? "<global>" : this.name
  }
}

/** @internal */
export const makeHandle = <H extends EntityHandle = EntityHandle>(
  name: string,
  isGlobal = false,
  extra?: Record<string, unknown>
): H => {
  const self = Object.create(HandleProto)
  self.name = name
  self.isGlobal = isGlobal
  if (extra !== undefined) Object.assign(self, extra)
  return self
}

/** @internal the name under which the global entity appears in the tree and in paths */
export const globalName = "*"

/** @internal */
export const global: EntityHandle = makeHandle(globalName, true)

/** @internal */
export const isEntityHandle = (u: unknown): u is EntityHandle => Predicate.hasProperty(u, HandleTypeId)

/** @internal */
export type EntityRef = EntityHandle | string

// eslint-disable-next-line no-control-regex
const forbidden = /[/\u0000-\u001f\u007f]/

/** @internal the rules for every name: entity, condition, action (QNX: no `/`, fits a path) */
export const Name = Schema.String.pipe(
  Schema.minLength(1, { message: () => "a name must not be empty" }),
  Schema.maxLength(255, { message: () => "a name must be at most 255 characters" }),
  Schema.filter((s) => !forbidden.test(s) || "a name must not contain '/' or control characters")
)
