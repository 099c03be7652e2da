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
import * as Fiber from "effect/Fiber"
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

/**
 * The group's entities, detached (their processes stopped), in a fiber of its own: the singleton's
 * fiber is being interrupted when it stops (its shard moved), and a detach run there would be cut
 * at its first interruptible step (a process's stop waits for its exit), leaving the entity's
 * notify socket open (a daemon that then stops would never exit).
 */
const detachAll = (ham: HamService, group: GroupConfig) =>
  Effect.forEach([...group.entities].reverse(), (e) => Effect.ignore(ham.detach(e.name)), { discard: true }).pipe(
    Effect.forkDaemon,
    Effect.flatMap(Fiber.join)
  )

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
    // not cut midway by the singleton's interruption (a spawn interrupted in flight would leave its
    // notify socket behind): attached whole, then detached by the finalizer
    yield* Effect.uninterruptible(Effect.forEach(group.entities, (e) => attach(ham, e), { discard: true }))
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
