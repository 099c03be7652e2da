/**
 * The typed errors of the cluster (`HamCluster`, `Entity.remote`), defined here and exported by the public module `HamError`
 * (see there).
 *
 * @internal
 */
import * as Schema from "effect/Schema"

/**
 * A cluster's database (PostgreSQL) cannot be reached or used when `HamCluster.layer` starts:
 * `database` is its address without the password.
 *
 * @since 0.1.0
 * @category errors
 */
export class ClusterUnavailable extends Schema.TaggedError<ClusterUnavailable>()("ClusterUnavailable", {
  database: Schema.String,
  reason: Schema.String
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `the cluster's database ${this.database} cannot be used: ${this.reason}`
  }
}

/**
 * How a node entity's life ends (`HamCluster`): the other node's HAM did not answer for the loss
 * time, or its connection could not be made again in that time. Its `CondDeath` is the node's loss.
 *
 * @since 0.1.0
 * @category errors
 */
export class NodeLost extends Schema.TaggedError<NodeLost>()("NodeLost", {
  node: Schema.String,
  silentMillis: Schema.Number,
  reason: Schema.String
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `node ${this.node} lost: no answer for ${this.silentMillis} ms (${this.reason})`
  }
}

/**
 * How the life of another node's entity, seen here (`Entity.remote`), ends when that entity died
 * abnormally on its node: its `CondAbnormalDeath` and `CondDeath` here.
 *
 * @since 0.1.0
 * @category errors
 */
export class RemoteEntityDied extends Schema.TaggedError<RemoteEntityDied>()("RemoteEntityDied", {
  node: Schema.String,
  entity: Schema.String
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `${this.entity} died abnormally on node ${this.node}`
  }
}
