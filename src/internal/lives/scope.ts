/**
 * The scope of one life of a fiber entity. A life that acquires a resource gets this scope (not
 * its caller's), and the scope closes when the life ends, before its death is reported: each
 * restart starts with the previous life's resources released.
 *
 * Most lives never use their scope, so the real scope (a map of finalizers) is made on first
 * use: an idle entity pays for one small object.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import type * as Exit from "effect/Exit"
import { pipeArguments } from "effect/Pipeable"
import * as Scope from "effect/Scope"

interface LifeScope extends Scope.CloseableScope {
  real: Scope.CloseableScope | undefined
  closed: Exit.Exit<unknown, unknown> | undefined
}

/** the real scope, made on first use (and closed at once when the life has already ended) */
const realOf = (self: LifeScope): Effect.Effect<Scope.CloseableScope> =>
  self.real !== undefined ? Effect.succeed(self.real) : Effect.flatMap(Scope.make(), (real) => {
    if (self.real !== undefined) return Effect.as(Scope.close(real, self.closed!), self.real)
    self.real = real
    return self.closed === undefined ? Effect.succeed(real) : Effect.as(Scope.close(real, self.closed), real)
  })

const LifeScopeProto = {
  [Scope.ScopeTypeId]: Scope.ScopeTypeId,
  [Scope.CloseableScopeTypeId]: Scope.CloseableScopeTypeId,
  strategy: ExecutionStrategy.sequential,
  pipe() {
    return pipeArguments(this, arguments)
  },
  fork(this: LifeScope, strategy: ExecutionStrategy.ExecutionStrategy) {
    return Effect.flatMap(realOf(this), (real) => Scope.fork(real, strategy))
  },
  addFinalizer(this: LifeScope, finalizer: Scope.Scope.Finalizer) {
    return Effect.flatMap(realOf(this), (real) => Scope.addFinalizerExit(real, finalizer))
  },
  close(this: LifeScope, exit: Exit.Exit<unknown, unknown>) {
    return Effect.suspend(() => {
      if (this.closed !== undefined) return Effect.void
      this.closed = exit
      return this.real === undefined ? Effect.void : Scope.close(this.real, exit)
    })
  }
}

const makeLifeScope = Effect.sync((): Scope.CloseableScope => {
  const self = Object.create(LifeScopeProto)
  self.real = undefined
  self.closed = undefined
  return self
})

/**
 * `effect` as the body of a life: it runs with a scope of its own, closed (with the life's exit)
 * when it ends. Built once per entity; each run makes a new scope.
 *
 * @internal
 */
export const scopedLife = <A, E, R>(
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E, Exclude<R, Scope.Scope>> =>
  Effect.flatMap(makeLifeScope, (scope) =>
    Effect.onExit(
      Effect.provideService(effect, Scope.Scope, scope),
      (exit) => Scope.close(scope, exit)
    )) as never
