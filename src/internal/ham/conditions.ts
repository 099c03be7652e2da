/**
 * The registry's condition and action operations: add a condition (with its filters) or an
 * action, look them up by name, enable, disable and set flags (`control`), remove. Each call
 * validates its input first (a bad one changes nothing); declarations read back from the store
 * are taken up by the first declaration of the same name.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import { ActionNotFound, ConditionNotFound, DuplicateName, type InvalidArgument } from "../../HamError.js"
import type * as Api from "../../HamService.js"
import * as action_ from "../action.js"
import * as cond from "../condition.js"
import * as entity_ from "../entity.js"
import { driverOf, type Engine } from "./engine.js"
import type { ActionRec, ConditionRec, EntityRec } from "./state.js"
import * as validate from "./validate.js"

const conditionDefaultName = (type: cond.ConditionType): string => {
  const bare = type.slice(4)
  return bare.charAt(0).toLowerCase() + bare.slice(1)
}

const sameJson = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b)

const uniqueName = (base: string, taken: (name: string) => boolean): string => {
  if (!taken(base)) return base
  for (let i = 2;; i++) {
    const candidate = `${base}-${i}`
    if (!taken(candidate)) return candidate
  }
}

const conditionHandleOf = (rec: EntityRec, condition: ConditionRec): Api.ConditionHandle =>
  cond.conditionHandle({ _tag: "ConditionHandle", entity: rec.name, isGlobal: rec.isGlobal, name: condition.name })

const actionHandleOf = (rec: EntityRec, condition: ConditionRec, action: ActionRec): Api.ActionHandle => ({
  _tag: "ActionHandle",
  entity: rec.name,
  isGlobal: rec.isGlobal,
  condition: condition.name,
  name: action.name
})

const conditionFlags = (c: ConditionRec) => ({ independent: c.independent, noWait: c.noWait, oneShot: c.oneShot })

const actionFlags = (a: ActionRec) => ({
  breakOnFail: a.action.breakOnFail,
  removeOnFail: a.action.removeOnFail,
  oneShot: a.action.oneShot
})

/** the flags `setFlags` asks for, on top of the current ones; an unknown flag is refused */
const withFlags = <F extends Record<string, boolean>>(
  current: F,
  setFlags: { readonly [flag: string]: boolean },
  what: string
): Effect.Effect<F, InvalidArgument> => {
  const next: Record<string, boolean> = { ...current }
  for (const [key, value] of Object.entries(setFlags)) {
    if (!(key in next)) return Effect.fail(validate.invalid("control", `${what} has no flag "${key}"`))
    next[key] = value
  }
  return Effect.succeed(next as F)
}

/** @internal */
export interface Lookups {
  readonly guard: Effect.Effect<void, any>
  readonly findEntity: (ref: entity_.EntityRef) => Effect.Effect<EntityRec, any>
  readonly hasRestart: (rec: EntityRec) => boolean
}

/** @internal the condition and action operations of the registry */
export const make = (engine: Engine, lookups: Lookups) => {
  const { findEntity, guard, hasRestart } = lookups

  const findCondition = (handle: Api.ConditionHandleFields) =>
    Effect.flatMap(findEntity(handle.isGlobal ? entity_.global : handle.entity), (rec) => {
      const condition = rec.conditions.find((c) => c.name === handle.name)
      return condition === undefined
        ? Effect.fail(new ConditionNotFound({ entity: rec.name, condition: handle.name }))
        : Effect.succeed([rec, condition] as const)
    })

  const findAction = (handle: Api.ActionHandle) =>
    Effect.flatMap(
      findCondition({
        _tag: "ConditionHandle",
        entity: handle.entity,
        isGlobal: handle.isGlobal,
        name: handle.condition
      }),
      ([rec, condition]) => {
        const action = condition.actions.find((a) => a.name === handle.name)
        return action === undefined
          ? Effect.fail(new ActionNotFound({ entity: rec.name, condition: condition.name, action: handle.name }))
          : Effect.succeed([rec, condition, action] as const)
      }
    )

  const addCondition = (
    ref: entity_.EntityRef,
    type: cond.ConditionType,
    options: Api.ConditionOptions | undefined,
    filters: { readonly stateFilter?: cond.StateFilter; readonly raiseFilter?: cond.RaiseFilter }
  ) =>
    Effect.gen(function*() {
      yield* guard
      yield* validate.validateConditionOptions(options)
      const rec = yield* findEntity(ref)
      // a condition read from the store is taken up by the first declaration of its name
      const taken = (n: string) => rec.conditions.some((c) => c.name === n && !c.restored)
      const name = options?.name === undefined
        ? uniqueName(conditionDefaultName(type), taken)
        : yield* validate.validateConditionName(options.name)
      if (taken(name)) return yield* Effect.fail(new DuplicateName({ kind: "condition", name }))
      const restored = rec.conditions.find((c) => c.name === name)
      // what the code declares wins; the actions and count of a restored condition stay when it
      // is declared again alike (same type and filters)
      const alike = restored !== undefined && restored.type === type &&
        sameJson(restored.stateFilter, filters.stateFilter) && sameJson(restored.raiseFilter, filters.raiseFilter)
      const condition: ConditionRec = {
        name,
        type,
        enabled: true,
        independent: options?.independent === true,
        noWait: options?.noWait === true,
        oneShot: options?.oneShot === true,
        stateFilter: filters.stateFilter,
        raiseFilter: filters.raiseFilter,
        actions: alike ? restored.actions : [],
        fired: alike ? restored.fired : 0,
        restored: false
      }
      rec.conditions = restored === undefined
        ? [...rec.conditions, condition]
        : rec.conditions.map((c) => c === restored ? condition : c)
      engine.changes.touch(rec)
      engine.rearm(rec)
      return conditionHandleOf(rec, condition)
    })

  const condition = (ref: entity_.EntityRef, type: cond.ConditionType, options?: Api.ConditionOptions) =>
    Effect.flatMap(validate.validateConditionType(type), (t) => addCondition(ref, t, options, {}))

  const conditionState = (
    ref: entity_.EntityRef,
    filter: { readonly from?: cond.StateMatch | undefined; readonly to?: cond.StateMatch | undefined },
    options?: Api.ConditionOptions
  ) =>
    Effect.flatMap(
      validate.validateStateFilter(filter),
      (stateFilter) => addCondition(ref, "CondState", options, { stateFilter })
    )

  const conditionRaise = (
    ref: entity_.EntityRef,
    filter: {
      readonly type?: number | undefined
      readonly class?: number | undefined
      readonly severity?: number | undefined
    },
    options?: Api.ConditionOptions
  ) =>
    Effect.flatMap(
      validate.validateRaiseFilter(filter),
      (raiseFilter) => addCondition(ref, "CondRaise", options, { raiseFilter })
    )

  const conditionHandle = (ref: entity_.EntityRef, name: string) =>
    Effect.zipRight(
      guard,
      Effect.map(
        findCondition({
          _tag: "ConditionHandle",
          entity: typeof ref === "string" ? ref : ref.name,
          isGlobal: typeof ref !== "string" && ref.isGlobal,
          name
        }),
        ([rec, c]) => conditionHandleOf(rec, c)
      )
    )

  const validateAction = (
    rec: EntityRec,
    condition: ConditionRec,
    action: action_.ActionData,
    primary: boolean
  ): Effect.Effect<void, InvalidArgument> =>
    Effect.gen(function*() {
      const invalid = (argument: string, reason: string) => Effect.fail(validate.invalid(argument, reason))
      yield* validate.validateActionData(action, primary)
      // what only the registry can tell
      if (action._tag === "Restart") {
        if (!primary) return yield* invalid("action", "a restart cannot be an alternate nor a fail action")
        if (rec.isGlobal) return yield* invalid("action", "the global entity cannot hold a restart")
        if (condition.type !== "CondDeath" && condition.type !== "CondAbnormalDeath") {
          return yield* invalid("action", `a restart belongs to a death condition, not ${condition.type}`)
        }
        if (driverOf(engine, rec)?.restartable === false) {
          return yield* invalid("action", `entity "${rec.name}" (${rec.kind}) cannot be restarted by the HAM`)
        }
        if (hasRestart(rec)) return yield* invalid("action", `entity "${rec.name}" already has a restart action`)
        if (action.command !== undefined && (rec.kind === "fiber" || rec.kind === "self")) {
          return yield* invalid(
            "action",
            `a restart line goes with a process or pid entity: "${rec.name}" (${rec.kind}) restarts its effect`
          )
        }
      }
      if (action._tag === "WaitFor" && condition.noWait) {
        return yield* invalid("action", "a noWait condition cannot hold a waitfor")
      }
      for (const alternate of action.alternates) yield* validateAction(rec, condition, alternate, false)
      for (const failAction of action.onFail ?? []) yield* validateAction(rec, condition, failAction, false)
    })

  /** the names of a fail list are unique (QNX: EEXIST), at every level */
  const failDuplicate = (action: action_.ActionData): string | undefined => {
    const names = action_.failNames(action.onFail ?? [])
    const twice = names.find((name, i) => names.indexOf(name) !== i)
    if (twice !== undefined) return twice
    for (const each of [...action.alternates, ...(action.onFail ?? [])]) {
      const inner = failDuplicate(each)
      if (inner !== undefined) return inner
    }
    return undefined
  }

  const addAction = (handle: Api.ConditionHandleFields, action: action_.Action) =>
    Effect.gen(function*() {
      yield* guard
      const [rec, condition] = yield* findCondition(handle)
      if (!action_.isAction(action)) return yield* Effect.fail(validate.invalid("action", "not an Action"))
      yield* validateAction(rec, condition, action, true)
      const twice = failDuplicate(action)
      if (twice !== undefined) return yield* Effect.fail(new DuplicateName({ kind: "fail action", name: twice }))
      // an action read from the store is taken up by the first declaration of its name: the
      // declared action replaces it, its statistics stay
      const taken = (n: string) => condition.actions.some((a) => a.name === n && !a.restored)
      const name = action.name === undefined
        ? uniqueName(action_.defaultName(action), taken)
        : yield* validate.validateActionName(action.name)
      if (taken(name)) return yield* Effect.fail(new DuplicateName({ kind: "action", name }))
      let added = condition.actions.find((a) => a.name === name)
      if (added !== undefined) {
        added.action = action
        added.restored = false
      } else {
        added = { name, action, enabled: true, runs: 0, failures: 0, lastFailure: undefined, restored: false }
        condition.actions = [...condition.actions, added]
      }
      engine.changes.touch(rec)
      engine.rearm(rec)
      if (action.doNow === true) engine.runAdded(rec, condition, added)
      return actionHandleOf(rec, condition, added)
    })

  const actionHandle = (handle: Api.ConditionHandleFields, name: string) =>
    Effect.zipRight(
      guard,
      Effect.map(
        findAction({
          _tag: "ActionHandle",
          entity: handle.entity,
          isGlobal: handle.isGlobal,
          condition: handle.name,
          name
        }),
        ([rec, c, a]) => actionHandleOf(rec, c, a)
      )
    )

  const enabledBy = (op: Api.ControlOp) => op === "enable" ? true : op === "disable" ? false : undefined

  const control = (handle: Api.Handle, op: Api.ControlOp, options?: Api.ControlOptions) =>
    Effect.gen(function*() {
      yield* guard
      yield* validate.validateControl(op, options)
      const enabled = enabledBy(op)
      const recurse = options?.recurse === true
      const setFlags = typeof op === "object" ? op.setFlags : undefined
      switch (handle._tag) {
        case "EntityHandle": {
          const rec = yield* findEntity(handle)
          if (setFlags !== undefined) {
            return yield* Effect.fail(validate.invalid("control", "an entity has no flags to set"))
          }
          if (enabled !== undefined) {
            rec.enabled = enabled
            if (recurse) {
              for (const c of rec.conditions) {
                c.enabled = enabled
                for (const a of c.actions) a.enabled = enabled
              }
            }
          }
          engine.changes.touch(rec)
          engine.rearm(rec)
          return { enabled: rec.enabled, flags: {} }
        }
        case "ConditionHandle": {
          const [rec, c] = yield* findCondition(handle)
          if (setFlags !== undefined) {
            const next = yield* withFlags(conditionFlags(c), setFlags, "a condition")
            if (next.noWait && c.actions.some((a) => action_.waits(a.action))) {
              return yield* Effect.fail(
                validate.invalid("control", "noWait cannot be set on a condition holding a waitfor")
              )
            }
            c.independent = next.independent
            c.noWait = next.noWait
            c.oneShot = next.oneShot
          }
          if (enabled !== undefined) {
            c.enabled = enabled
            if (recurse) { for (const a of c.actions) a.enabled = enabled }
          }
          engine.changes.touch(rec)
          engine.rearm(rec)
          return { enabled: c.enabled, flags: conditionFlags(c) }
        }
        case "ActionHandle": {
          const [rec, , a] = yield* findAction(handle)
          if (setFlags !== undefined) {
            a.action = action_.withOptions(a.action, yield* withFlags(actionFlags(a), setFlags, "an action"))
          }
          if (enabled !== undefined) a.enabled = enabled
          engine.changes.touch(rec)
          engine.rearm(rec)
          return { enabled: a.enabled, flags: actionFlags(a) }
        }
      }
    })

  /** removes a condition or an action (an entity handle is detached by the caller) */
  const remove = (handle: Api.ConditionHandleFields | Api.ActionHandle) =>
    Effect.gen(function*() {
      yield* guard
      if (handle._tag === "ConditionHandle") {
        const [rec, c] = yield* findCondition(handle)
        rec.conditions = rec.conditions.filter((x) => x !== c)
        engine.changes.touch(rec)
        engine.rearm(rec)
        return
      }
      const [rec, c, a] = yield* findAction(handle)
      c.actions = c.actions.filter((x) => x !== a)
      engine.changes.touch(rec)
      engine.rearm(rec)
    })

  /** QNX `ham_action_fail_remove`: the action's fail action of that name goes; not found, `action/name` */
  const removeFailAction = (handle: Api.ActionHandle, name: string) =>
    Effect.gen(function*() {
      yield* guard
      const [rec, c, a] = yield* findAction(handle)
      if (typeof name !== "string" || !action_.failNames(a.action.onFail ?? []).includes(name)) {
        return yield* Effect.fail(
          new ActionNotFound({ entity: rec.name, condition: c.name, action: `${a.name}/${String(name)}` })
        )
      }
      a.action = action_.withoutFailAction(a.action, name)
      engine.changes.touch(rec)
      engine.rearm(rec)
    })

  return {
    removeFailAction,
    condition,
    conditionState,
    conditionRaise,
    conditionHandle,
    addAction,
    actionHandle,
    control,
    remove
  }
}
