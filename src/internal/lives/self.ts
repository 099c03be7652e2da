/**
 * The driver of self-attached entities (`Ham.attachSelf`): the life is the caller's scope. It
 * ends when the scope closes without a detach (a death: abnormal when the scope closed with a
 * failure). Such an entity cannot be restarted or signalled by the HAM.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Scope from "effect/Scope"
import { describeCause } from "../ham/describe.js"
import type { Driver, Engine } from "../ham/engine.js"
import type { EntityRec } from "../ham/state.js"
import * as telemetry from "../ham/telemetry.js"

/** @internal */
export interface SelfDriver extends Driver {
  /** the caller is the entity's life from now on, until its scope closes */
  readonly begin: (rec: EntityRec) => Effect.Effect<void, never, Scope.Scope>
}

/** @internal */
export const make = (engine: Engine): SelfDriver => ({
  begin: (rec) =>
    Effect.suspend(() => {
      telemetry.setStatus(engine.state, rec, "running")
      rec.lastStart = engine.now()
      rec.life = { _tag: "Self" }
      const generation = ++rec.generation
      engine.beats.start(rec)
      engine.wake()
      // the caller's scope is its "connection": closing it without a detach is a death
      return Effect.addFinalizer((exit) =>
        Effect.sync(() => {
          if (!rec.attached) return
          const abnormal = Exit.isFailure(exit)
          engine.reportDeath(rec, generation, {
            abnormal,
            reason: Exit.isFailure(exit) ? describeCause(exit.cause) : "scope closed without detach"
          })
        })
      )
    }),
  restartable: false,
  inProcess: true,
  // the caller attaches itself again: until then the entity is a placeholder
  restore: () => Effect.void,
  pidOf: () => undefined,
  recordOf: () => undefined,
  isReady: () => false,
  restart: (rec) => Effect.fail(`entity "${rec.name}" is self-attached: it cannot be restarted`),
  release: () => Effect.void,
  stop: () => Effect.void,
  signal: (rec) => Effect.fail(`entity "${rec.name}" is self-attached: it cannot be signalled`)
})
