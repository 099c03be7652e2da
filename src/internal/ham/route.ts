/**
 * Which conditions an event runs: the entity's that match it, then the global entity's, each
 * enabled one in the order it was declared (`dispatch.ts` routes every event so). Also, ahead of
 * a death, the first condition that death would run (`restart.ts`: a restart that comes first is
 * made when the entity dies).
 *
 * @internal
 */
import * as cond from "../condition.js"
import type { ConditionRec, EntityRec } from "./state.js"

/** @internal the condition fires on the event */
export const matches = (condition: ConditionRec, event: cond.ConditionEvent): boolean => {
  if (!condition.enabled) return false
  if (condition.type === "CondAny") return true
  if (condition.type !== event._tag) return false
  if (event._tag === "CondState" && condition.stateFilter !== undefined) {
    return cond.matchStateFilter(condition.stateFilter, event)
  }
  if (event._tag === "CondRaise" && condition.raiseFilter !== undefined) {
    return cond.matchRaiseFilter(condition.raiseFilter, event)
  }
  return true
}

const abnormalDeath: ReadonlyArray<cond.ConditionType> = ["CondAbnormalDeath", "CondDeath"]
const normalDeath: ReadonlyArray<cond.ConditionType> = ["CondDeath"]

/**
 * The first condition a death of `rec` would run, in the order its events are routed: an abnormal
 * death publishes `CondAbnormalDeath`, then `CondDeath`, a normal one `CondDeath` alone. (Death
 * events have no filter.)
 *
 * @internal
 */
export const firstForDeath = (global: EntityRec, rec: EntityRec, abnormal: boolean): ConditionRec | undefined => {
  if (!rec.enabled) return undefined
  for (const type of abnormal ? abnormalDeath : normalDeath) {
    for (const owner of [rec, global]) {
      if (!owner.enabled) continue
      for (const condition of owner.conditions) {
        if (condition.enabled && (condition.type === "CondAny" || condition.type === type)) return condition
      }
    }
  }
  return undefined
}
