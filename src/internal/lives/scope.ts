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
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import type * as Exit from "effect/Exit"
import { pipeArguments } from "effect/Pipeable"
import type * as Runtime from "effect/Runtime"
import * as Scope from "effect/Scope"
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
  /** the current life's real scope, made when the life first uses it */
  scope: Scope.CloseableScope | undefined
  /** how the current life ended, once it did (its scope is closed with it) */
  closed: Exit.Exit<unknown, unknown> | undefined
  /** the signal an action sent the current life, when it was interrupted that way */
  killedBy: string | undefined
  /** what the driver keeps with the code (the fiber driver: the entity's record) */
  readonly owner: unknown
}

/**
 * The real scope of the current life, made on first use (and closed at once when the life already
 * ended). Made synchronously: Effect's `forkIn` reads a scope's `state` as it finds it.
 */
const realOf = (self: Code): Scope.CloseableScope => {
  if (self.scope === undefined) {
    const real = Effect.runSync(Scope.make())
    self.scope = real
    if (self.closed !== undefined) Effect.runSync(Scope.close(real, self.closed))
  }
  return self.scope
}

const CodeProto = {
  [Scope.ScopeTypeId]: Scope.ScopeTypeId,
  [Scope.CloseableScopeTypeId]: Scope.CloseableScopeTypeId,
  strategy: ExecutionStrategy.sequential,
  pipe() {
    return pipeArguments(this, arguments)
  },
  /** what Effect's `forkIn` reads of a scope (it takes every scope for its own implementation) */
  get state(): unknown {
    return (realOf(this as unknown as Code) as unknown as { readonly state: unknown }).state
  },
  fork(this: Code, strategy: ExecutionStrategy.ExecutionStrategy) {
    return Effect.suspend(() => Scope.fork(realOf(this), strategy))
  },
  addFinalizer(this: Code, finalizer: Scope.Scope.Finalizer) {
    return Effect.suspend(() => Scope.addFinalizerExit(realOf(this), finalizer))
  },
  close(this: Code, exit: Exit.Exit<unknown, unknown>) {
    return Effect.suspend(() => close(this, exit) ?? Effect.void)
  }
}

/**
 * The code of a fiber entity: what its lives run, from the attaching fiber's runtime. `owner`
 * is kept for `withContext`, which makes the lives' context (default: the runtime's, plus the
 * code as its `Scope`).
 *
 * @internal
 */
export const make = (
  effect: Effect.Effect<unknown, unknown, any>,
  from: Runtime.Runtime<any>,
  owner?: unknown,
  withContext: (context: Context.Context<any>, code: Code) => Context.Context<any> = (context, code) =>
    layered.add(context, Scope.Scope, code)
): Code => {
  const code = Object.create(CodeProto)
  code.effect = effect
  code.owner = owner
  code.context = withContext(from.context, code)
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
