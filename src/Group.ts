/**
 * Groups of entities (`Entity.group`: OTP's supervisors on the HAM's entities) and the actions
 * that act on a sibling by its name: `Group.restart("db")` restarts one now;
 * `Action.signal("SIGHUP", { entity: "db" })` signals one.
 *
 * @since 0.1.0
 * @module
 */
import type * as Action from "./Action.js"
import * as internal from "./internal/group/restart.js"

/**
 * The data of `Group.restart`.
 *
 * @since 0.1.0
 * @category models
 */
export interface RestartEntityData extends internal.RestartEntityData {}

/**
 * An action that restarts the entity named `entity` now (`Ham.restartEntity`): its current life is
 * stopped (not a death) and a new one started, counted and announced as a restart (`CondRestart`).
 * Allowed in any condition, of any entity: a sibling in a group, or any entity of this HAM. Its
 * dependents in a group follow their `onDependencyRestart`. Fails (and its alternates run) when the
 * entity is unknown or not running.
 *
 * @example
 * ```ts
 * import { Ham, Group } from "effect-ham"
 * import { CondBeatMissedHigh } from "effect-ham/Condition"
 *
 * // the web server stopped beating: restart the database it depends on
 * const program = Ham.condition("web", CondBeatMissedHigh).pipe(Ham.action(Group.restart("db")))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const restart: (entity: string) => Action.Action = internal.restart
