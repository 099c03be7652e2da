/**
 * Cluster-wide supervised groups: a group (entities with their conditions and actions, written as
 * in the daemon's config) runs on one node at a time. Each group is an @effect/cluster singleton
 * named after it (`ham-group:<name>`), placed by the cluster on the runner that holds its shard;
 * the shard's lock (a PostgreSQL advisory lock) fences it: a node that loses its locks (the
 * database or its link gone) stops its groups before another node can take the lock.
 *
 * On the node that holds it, the group's entities are attached to the local HAM, which supervises
 * them as any other (restarts, heartbeats); when the singleton stops (its shard moved, the node
 * leaves) they are detached, which stops their processes. The start is resumable: entities of
 * the group already in this HAM (a takeover by a joining runner and back) are detached first.
 * A failed start is tried again here after a pause (the cluster does not restart a singleton that
 * failed until its shard moves).
 *
 * @internal
 */
import * as Sharding from "@effect/cluster/Sharding"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { HamService } from "../../HamService.js"
import { attach } from "../daemon/attach.js"
import * as config from "../daemon/config.js"

/** @internal a group, as in the cluster's options (and the daemon's config file) */
export const GroupConfig = config.GroupConfig

/** @internal */
export type GroupConfig = config.GroupConfig

/** @internal the singleton's name */
export const singletonName = (group: string) => `ham-group:${group}`

/** the group's entities, detached (their processes stopped: a stop runs to its end even when the singleton's fiber is interrupted) */
const detachAll = (ham: HamService, group: GroupConfig) =>
  Effect.forEach([...group.entities].reverse(), (e) => Effect.ignore(ham.detach(e.name)), { discard: true })

/** one run of the group here: attached, then held until interrupted; detached however it ends */
const runOnce = (ham: HamService, group: GroupConfig, here: Set<string>) =>
  Effect.gen(function*() {
    yield* Effect.addFinalizer(() =>
      Effect.zipRight(
        Effect.sync(() => here.delete(group.name)),
        detachAll(ham, group)
      )
    )
    yield* detachAll(ham, group)
    // an attach interrupted in flight leaves its entity whole or absent; the finalizer detaches
    yield* Effect.forEach(group.entities, (e) => attach(ham, e), { discard: true })
    here.add(group.name)
    yield* Effect.annotateLogs(Effect.logInfo("group started here"), "group", group.name)
    return yield* Effect.never
  }).pipe(Effect.scoped)

/**
 * Registers every group as a singleton of the cluster; `here` holds the names of the groups this
 * node runs now.
 *
 * @internal
 */
export const register = (
  ham: HamService,
  groups: ReadonlyArray<GroupConfig>,
  here: Set<string>,
  retryMillis: number
): Effect.Effect<void, never, Sharding.Sharding | Scope.Scope> =>
  Effect.gen(function*() {
    const sharding = yield* Sharding.Sharding
    for (const group of groups) {
      const supervised = runOnce(ham, group, here).pipe(
        Effect.catchAllCause((cause) =>
          Effect.zipRight(
            Effect.annotateLogs(
              Effect.logWarning("group failed to start here, trying again", cause),
              "group",
              group.name
            ),
            Effect.sleep(retryMillis)
          )
        ),
        Effect.forever
      )
      yield* sharding.registerSingleton(singletonName(group.name), supervised)
    }
  })
