import type * as Command from "@effect/platform/Command"
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import { pipeArguments } from "effect/Pipeable"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import type * as Entity from "../Entity.js"
import { type CommandLine, commandLineFrom } from "./action.js"

/** @internal */
export const TypeId: typeof Entity.TypeId = Symbol.for("effect-ham/Entity") as never

/** @internal */
export const HandleTypeId: typeof Entity.HandleTypeId = Symbol.for("effect-ham/Entity/Handle") as never

/** @internal */
export type EntityKind = Entity.EntityKind

/** @internal the handle of the fiber entity whose life runs the code that reads it */
export class Current extends Context.Tag("effect-ham/Entity/Current")<Current, Entity.EntityHandle>() {}

/** @internal where the output of a process entity goes */
export const Output = Schema.Union(
  Schema.Literal("log", "ignore"),
  Schema.Struct({
    file: Schema.String,
    maxSize: Schema.optional(Schema.Union(Schema.Number, Schema.String)).annotations({
      description: "rotate the file at this size: bytes, or a string such as \"10M\" (powers of 1024)"
    }),
    keep: Schema.optional(Schema.Number).annotations({ description: "rotated files kept (default 5)" }),
    timestamps: Schema.optional(Schema.Boolean).annotations({ description: "each line starts with its time" })
  })
)

/** @internal where the output goes, once checked (as the store keeps it): sizes in bytes */
export const CheckedOutput = Schema.Union(
  Schema.Literal("log", "ignore"),
  Schema.Struct({
    file: Schema.String,
    maxSize: Schema.optional(Schema.Number),
    keep: Schema.optional(Schema.Number),
    timestamps: Schema.optional(Schema.Boolean)
  })
)

/** @internal */
export type FiberSpec<R> = Entity.FiberSpec<R>

/** @internal */
export type ProcessOptions = Entity.ProcessOptions

/** @internal */
export type ProcessSpec = Entity.ProcessSpec

/** @internal */
export type PidOptions = Entity.PidOptions

/** @internal */
export type PidSpec = Entity.PidSpec

/** @internal */
export type EntitySpec<R> = Entity.EntitySpec<R>

/** @internal */
export type Requirements<S> = Entity.Requirements<S>

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
export type EntityHandle = Entity.EntityHandle

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
export type EntityRef = Entity.EntityRef

// eslint-disable-next-line no-control-regex
const forbidden = /[/\u0000-\u001f\u007f]/

/** @internal the rules for every name: entity, condition, action (QNX: no `/`, fits a path) */
export const Name = Schema.String.annotations({ message: () => "must be a string" }).pipe(
  Schema.minLength(1, { message: () => "must not be empty" }),
  Schema.maxLength(255, { message: () => "must be at most 255 characters" }),
  Schema.filter((s) => !forbidden.test(s) || "must not contain '/' or control characters")
)

/** @internal the local name of another node's entity (a cluster keeps it in step: cluster/mirror.ts) */
export const remote = (node: string, name: string): string => `${node}:${name}`
