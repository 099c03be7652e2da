/**
 * The action that restarts another entity by its name now (`Group.restart`): a sibling in a
 * group, or any entity of the HAM. It is data (`RestartEntity`), so it is stored, shown in the tree
 * and written in a config file; the interpreter runs it as `Ham.restartEntity`.
 *
 * @internal
 */
import type * as PublicAction from "../../Action.js"
import * as action_ from "../action.js"

/** @internal */
export interface RestartEntityData extends PublicAction.ActionCommon {
  readonly _tag: "RestartEntity"
  /** the entity restarted: its current life is stopped and a new one started */
  readonly entity: string
}

/** @internal */
export const restart = (entity: string): PublicAction.Action =>
  action_.make<RestartEntityData>({ _tag: "RestartEntity", entity })
