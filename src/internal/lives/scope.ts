/**
 * The scope of a life of a fiber entity. A life that acquires a resource gets its own scope (not
 * its caller's), closed when the life ends and before its death is reported: each restart starts
 * with the previous life's resources released.
 *
 * It costs as little as it can, since most lives never use their scope: an entity's runtime is
 * made once, at its attach, with a context whose `Scope` is the entity's `Code` (this module's
 * object: the entity's effect and runtime, and a scope that stands for its current life's); the
 * life's real scope (a map of finalizers) is made on first use. A restart allocates nothing for
 * it, and the life is not wrapped in `provideService` and `onExit` (which would copy the fiber's
 * refs at every start).
 *
 * A fiber that a life forks shares its scope; one that outlives its life and uses the scope then
 * uses the next life's.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import type * as Exit from "effect/Exit"
import { pipeArguments } from "effect/Pipeable"
import type * as Runtime from "effect/Runtime"
import * as Scope from "effect/Scope"
import type { EntityRec } from "../ham/state.js"
import * as layered from "./context.js"

/**
 * What every life of a fiber entity runs, the runtime its lives are forked from (the attaching
 * fiber's, with this object as its `Scope`: the object is that runtime too, one object less per
 * entity), and the scope standing for its current life's.
 *
 * @internal
 */
export interface Code extends Scope.CloseableScope, Runtime.Runtime<any> {
  readonly effect: Effect.Effect<unknown, unknown, any>
  readonly rec: EntityRec
  /** the current life's real scope, made when the life first uses it */
  scope: Scope.CloseableScope | undefined
  /** how the current life ended, once it did (its scope is closed with it) */
  closed: Exit.Exit<unknown, unknown> | undefined
  /** the signal an action sent the current life, when it was interrupted that way */
  killedBy: string | undefined
}

const noLife = "the scope of a fiber entity's life used while the entity has no life"

/** the real scope of the current life, made on first use (closed at once when the life already ended) */
const realOf = (self: Code): Effect.Effect<Scope.CloseableScope> =>
  Effect.suspend(() => {
    if (self.rec.life?._tag !== "Fiber") return Effect.dieMessage(noLife)
    if (self.scope !== undefined) return Effect.succeed(self.scope)
    return Effect.flatMap(Scope.make(), (real) => {
      if (self.scope !== undefined) return Effect.as(Scope.close(real, self.closed!), self.scope)
      self.scope = real
      return self.closed === undefined ? Effect.succeed(real) : Effect.as(Scope.close(real, self.closed), real)
    })
  })

const CodeProto = {
  [Scope.ScopeTypeId]: Scope.ScopeTypeId,
  [Scope.CloseableScopeTypeId]: Scope.CloseableScopeTypeId,
  strategy: ExecutionStrategy.sequential,
  pipe() {
    return pipeArguments(this, arguments)
  },
  fork(this: Code, strategy: ExecutionStrategy.ExecutionStrategy) {
    return Effect.flatMap(realOf(this), (real) => Scope.fork(real, strategy))
  },
  addFinalizer(this: Code, finalizer: Scope.Scope.Finalizer) {
    return Effect.flatMap(realOf(this), (real) => Scope.addFinalizerExit(real, finalizer))
  },
  close(this: Code, exit: Exit.Exit<unknown, unknown>) {
    return Effect.suspend(() => close(this, exit) ?? Effect.void)
  }
}

/** @internal the code of a fiber entity: what its lives run, from the attaching fiber's runtime */
export const make = (
  rec: EntityRec,
  effect: Effect.Effect<unknown, unknown, any>,
  from: Runtime.Runtime<any>
): Code => {
  const code = Object.create(CodeProto)
  code.effect = effect
  code.rec = rec
  code.context = layered.add(from.context, Scope.Scope, code)
  code.fiberRefs = from.fiberRefs
  code.runtimeFlags = from.runtimeFlags
  code.scope = undefined
  code.closed = undefined
  code.killedBy = undefined
  return code
}

/** @internal a new life starts: its scope is not made yet, it has not ended, no signal was sent to it */
export const renew = (code: Code): void => {
  code.scope = undefined
  code.closed = undefined
  code.killedBy = undefined
}

/**
 * Closes a life's scope with its exit: `undefined` when it was never used (nothing to wait for),
 * else the effect that runs its finalizers.
 *
 * @internal
 */
export const close = (code: Code, exit: Exit.Exit<unknown, unknown>): Effect.Effect<void> | undefined => {
  if (code.closed !== undefined) return undefined
  code.closed = exit
  return code.scope === undefined ? undefined : Scope.close(code.scope, exit)
}
