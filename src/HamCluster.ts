/**
 * The network-distributed HAM (QNX's HAM over Qnet): HAMs on several nodes join one cluster built
 * on `@effect/cluster`, whose runners keep their storage and shard locks in PostgreSQL
 * (`@effect/sql-pg`). These three are optional peer dependencies, loaded only by this module. The
 * `ham` daemon joins with this layer too, from its config file's `cluster` section.
 *
 * - **Nodes.** Every other node is an entity `node:<name>` in this HAM's tree: `CondAttach` when
 *   it joins (or answers again), `CondDeath` (and `CondAbnormalDeath`) when it is lost. A node is
 *   watched by this HAM itself over the remote protocol: its HAM is asked every `watch.interval`,
 *   each answer is a heartbeat of its entity (`CondBeatMissedLow`/`High` when it is slow), and no
 *   answer for `watch.lossAfter` ends the entity's life (`NodeLost`).
 * - **Groups.** A group (entities with their conditions and actions, written as in the daemon's
 *   config file) runs on exactly one node at a time: an @effect/cluster singleton named after the
 *   group, fenced by its shard's PostgreSQL advisory lock. When its node dies the group starts on
 *   a live node once the lock expires (`locks.expiration`).
 *
 * ```ts
 * const Node = HamCluster.layer({
 *   node: "a",
 *   database: "postgres://ham@db.example:5432/ham",
 *   ham: { port: 7420 },
 *   runner: { port: 7421 },
 *   auth: { tokenFile: "/etc/ham/cluster-token" },
 *   groups: [{ name: "web", entities: [{ name: "web", command: "node server.js",
 *     conditions: [{ type: "CondDeath", actions: [{ _tag: "Restart" }] }] }] }]
 * }).pipe(Layer.provideMerge(HamLive))
 * ```
 *
 * Session-level advisory locks need a session of their own: point `database` at PostgreSQL
 * itself or at a pooler in session mode, never at a pooler in transaction mode (PgBouncer's
 * `pool_mode = transaction`), where the locks would be taken and released on connections shared
 * with others. See `docs/cluster.md` for what PostgreSQL holds and what each failure does.
 *
 * @since 0.1.0
 * @module
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import type { ClusterUnavailable, InvalidArgument, ListenFailed } from "./HamError.js"
import type { TokenSource } from "./HamServer.js"
import * as internal from "./internal/cluster/layer.js"
import * as peers from "./internal/cluster/peers.js"
import type { Ham } from "./internal/ham/tag.js"

/**
 * A cluster-wide group, as in the daemon's config file: a name unique in the cluster and its
 * process entities (`name`, `command`, `heartbeat`, `conditions` with their `actions`, ...).
 *
 * @since 0.1.0
 * @category models
 */
export interface GroupOptions {
  readonly name: string
  readonly entities: ReadonlyArray<unknown>
}

/**
 * Options of `HamCluster.layer`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClusterOptions {
  /** this node's name, unique in the cluster (an entity name: no `/`) */
  readonly node: string
  /** the cluster's PostgreSQL database, `postgres://user:password@host:port/db` (one per cluster) */
  readonly database: string | Redacted.Redacted<string>
  /**
   * Where this HAM is served to the other nodes (TCP, with `auth`'s token): `host` to listen on
   * (default `127.0.0.1`), `advertise` the address the others reach it at (default `host`).
   */
  readonly ham: { readonly port: number; readonly host?: string | undefined; readonly advertise?: string | undefined }
  /** the @effect/cluster runner's address (default host `127.0.0.1`) */
  readonly runner: { readonly port: number; readonly host?: string | undefined }
  /** the cluster's token: this HAM's server takes it, and it is sent to the other nodes' HAMs */
  readonly auth: TokenSource
  /**
   * How other nodes are watched: asked every `interval` (default 100 ms), lost after `lossAfter`
   * without an answer (default 500 ms); their entities' heartbeat misses (defaults 2 and 4). A
   * member whose row was not written for `forgetAfter` (default 1 minute; at least 1 s) and that
   * does not answer is forgotten: its row deleted, its entity detached (`CondDetach`), as if it
   * had left.
   */
  readonly watch?: {
    readonly interval?: Duration.DurationInput | undefined
    readonly lossAfter?: Duration.DurationInput | undefined
    readonly missedLow?: number | undefined
    readonly missedHigh?: number | undefined
    readonly forgetAfter?: Duration.DurationInput | undefined
  } | undefined
  /**
   * The shard locks' timings (defaults: refresh 1 s, expiration 4 s, assignments read every
   * 500 ms; @effect/cluster's own, 10 s and 35 s, give a failover near 30 s).
   */
  readonly locks?: {
    readonly refresh?: Duration.DurationInput | undefined
    readonly expiration?: Duration.DurationInput | undefined
    readonly assignmentRefresh?: Duration.DurationInput | undefined
  } | undefined
  /** the cluster-wide groups this node may run (every node should declare the same) */
  readonly groups?: ReadonlyArray<GroupOptions> | undefined
}

/**
 * What a node knows of its cluster.
 *
 * @since 0.1.0
 * @category models
 */
export interface HamClusterService {
  /** this node's name */
  readonly node: string
  /** the members last read from the database, this node included, by name */
  readonly members: Effect.Effect<ReadonlyArray<string>>
  /** the groups running on this node now */
  readonly groupsHere: Effect.Effect<ReadonlyArray<string>>
}

/**
 * @since 0.1.0
 * @category tags
 */
export const HamCluster: typeof internal.HamCluster = internal.HamCluster

/**
 * @since 0.1.0
 * @category tags
 */
export type HamCluster = internal.HamCluster

/**
 * Joins the HAM of the context to a cluster: serves it on `ham`, runs a runner on `runner`,
 * watches the other members, and runs the groups this node is given by the cluster. Leaving
 * (the layer's scope closed) stops this node's groups (they start elsewhere) and deletes its row.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: (
  options: ClusterOptions
) => Layer.Layer<HamCluster, InvalidArgument | ListenFailed | ClusterUnavailable, Ham> = internal.layer

/**
 * The name of a node's entity in the other nodes' trees: `node:<name>`.
 *
 * @since 0.1.0
 * @category getters
 */
export const nodeEntity: (node: string) => string = peers.entityName
