/**
 * What a capability built in the same process as the HAM (groups: `group/*.ts`) may do with its
 * entities beyond the `Ham` service: hold a life (stop it, not a death), start a held or dead
 * entity again (a restart), ask whether an entity is ready, fork a fiber the HAM owns, and show
 * its own nodes in the tree. A HAM built here (`make.ts`) registers them for its service; a
 * remote client has none.
 *
 * @internal
 */
import type * as Effect from "effect/Effect"
import type * as Api from "../../HamService.js"
import type * as cond from "../condition.js"
import type * as tree from "../tree.js"

/** @internal */
export interface LocalOps {
  /** ends the entity's life (not a death: no event); its status is "stopped"; nothing when it is not up */
  readonly hold: (name: string) => Effect.Effect<void>
  /** starts a stopped or dead entity's next life: counted and announced as a restart (`CondRestart`) */
  readonly resume: (name: string) => Effect.Effect<void, string>
  /** the entity's status, if it exists */
  readonly statusOf: (name: string) => tree.EntityStatusValue | undefined
  /** the entity runs and said `READY=1` in its current life */
  readonly isReady: (name: string) => boolean
  /** forks `effect` as a fiber the HAM owns (interrupted when it stops) */
  readonly fork: (effect: Effect.Effect<void>) => void
  /** `observer` is told of every event from now on (in event order, synchronously); the result stops that */
  readonly observe: (observer: (event: cond.ConditionEvent) => void) => () => void
  /** the HAM stopped (or lost its store) */
  readonly stopped: () => boolean
  /** the groups' nodes shown in the tree, by group name, in attach order */
  readonly groups: Map<string, () => tree.GroupNode>
}

/** @internal the local operations of each HAM built in this process */
export const localOf = new WeakMap<Api.HamService, LocalOps>()
