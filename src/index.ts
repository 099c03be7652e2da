/**
 * effect-ham: a High Availability Manager for Effect.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as Action from "./Action.js"

/**
 * @since 0.1.0
 */
export * as Condition from "./Condition.js"

/**
 * @since 0.1.0
 */
export * as Cover from "./Cover.js"

/**
 * The control of covers and the drop-in covers of platform services (also exported by `Cover`).
 *
 * @since 0.1.0
 */
export * as CoverLayers from "./CoverLayers.js"

/**
 * @since 0.1.0
 */
export * as Entity from "./Entity.js"

/**
 * Groups of entities (`Entity.group`) and the actions on a sibling by name.
 *
 * @since 0.1.0
 */
export * as Group from "./Group.js"

/**
 * @since 0.1.0
 */
export * as Guardian from "./Guardian.js"

/**
 * @since 0.1.0
 */
export * as Ham from "./Ham.js"

/**
 * @since 0.1.0
 */
export * as HamError from "./HamError.js"

/**
 * The remote HAM's client: the `Ham` service of a `HamServer` in another process.
 *
 * @since 0.1.0
 */
export * as HamClient from "./HamClient.js"

/**
 * The HAM's Effect metrics (deaths, restarts, heartbeat misses, actions, give-ups, running
 * entities).
 *
 * @since 0.1.0
 */
export * as HamMetrics from "./HamMetrics.js"

/**
 * The remote HAM's server: the `Ham` of its context served over a Unix socket or TCP.
 *
 * @since 0.1.0
 */
export * as HamServer from "./HamServer.js"

/**
 * The HAM service's interface and the types its operations take (also exported by `Ham`).
 *
 * @since 0.1.0
 */
export * as HamService from "./HamService.js"

/**
 * @since 0.1.0
 */
export * as Notify from "./Notify.js"

/**
 * @since 0.1.0
 */
export * as Tree from "./Tree.js"

/**
 * The default HAM layer, in memory (same as `Ham.HamLive`).
 *
 * @since 0.1.0
 * @category layers
 */
export { HamLive } from "./Ham.js"
