/**
 * The `/proc/ham` view as data: entity → condition → action, with the statistics of each
 * entity. `Ham.snapshot` returns a `Tree`; `Tree.render` prints it.
 *
 * @since 0.1.0
 * @module
 */
import type * as Schema from "effect/Schema"
import * as internal from "./internal/tree.js"

/**
 * The whole tree, with counts.
 *
 * @since 0.1.0
 * @category models
 */
export const Tree = internal.Tree

/**
 * @since 0.1.0
 * @category models
 */
export interface Tree extends Schema.Schema.Type<typeof internal.Tree> {}

/**
 * An entity in the tree with its statistics and conditions.
 *
 * @since 0.1.0
 * @category models
 */
export const EntityNode = internal.EntityNode

/**
 * @since 0.1.0
 * @category models
 */
export interface EntityNode extends Schema.Schema.Type<typeof internal.EntityNode> {}

/**
 * The statistics of an entity: deaths, abnormal deaths, restarts, heartbeats received, missed
 * low/high episodes, the time of its last event and the reason of its last death.
 *
 * @since 0.1.0
 * @category models
 */
export interface EntityStats extends Schema.Schema.Type<typeof internal.EntityStats> {}

/**
 * A condition in the tree with its flags and actions.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConditionNode extends Schema.Schema.Type<typeof internal.ConditionNode> {}

/**
 * An action in the tree with its flags, alternates and counters.
 *
 * @since 0.1.0
 * @category models
 */
export interface ActionNode extends Schema.Schema.Type<typeof internal.ActionNode> {}

/**
 * A group (`Entity.group`) in the tree: its strategy, status, restart window and count, and its
 * members in start order with their restart type, significance and dependencies.
 *
 * @since 0.1.0
 * @category models
 */
export interface GroupNode extends Schema.Schema.Type<typeof internal.GroupNode> {}

/**
 * Renders a tree as indented text, one entity per block.
 *
 * @since 0.1.0
 * @category getters
 */
export const render: (tree: Tree) => string = internal.render

/**
 * A size in bytes in at most 5 columns, as `ls -h` shows it: `512B`, `9.8K`, `12M`, `1.2G` (how
 * `ham ls` and `Tree.render` show an entity's `rss`).
 *
 * @since 0.1.0
 * @category getters
 */
export const formatBytes: (bytes: number) => string = internal.formatBytes
