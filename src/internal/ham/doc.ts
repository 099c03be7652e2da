/**
 * An entity's stored state: the record a `StateStore` writes (one per entity) and reads back.
 *
 * The fields an entity, a condition and an action show in the tree are defined once, in
 * `tree.ts`, and this record extends them with what a later HAM needs to carry on (command line,
 * restart window, filters, actions as data). `toDoc` and `snapshot.ts` build both from the same
 * `coreOf`; `fromDoc` is the way back.
 *
 * @internal
 */
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import type * as Types from "effect/Types"
import * as actionJson from "../action-json.js"
import * as action_ from "../action.js"
import * as cond from "../condition.js"
import * as entity_ from "../entity.js"
import * as tree_ from "../tree.js"
import type { ActionRec, ConditionRec, EntityRec, LifeRecord, Policy } from "./state.js"
import { makeRec, none } from "./state.js"
import { formatParseError } from "./validate.js"

// ---------------------------------------------------------------------------------------------
// actions as stored
// ---------------------------------------------------------------------------------------------

/** @internal an action as stored: data, or a marker for local code that cannot be stored */
export type StoredAction = { readonly [key: string]: unknown }

const encodeAction = Schema.encodeSync(actionJson.ActionFromJson)
const decodeAction = Schema.decodeUnknownEither(actionJson.ActionFromJson)

/**
 * An action as stored: its JSON (`ActionFromJson` of action-json.ts, the shape the protocol
 * sends too). Restart, execute, signal, waitfor, heartbeatHealthy and log are data and stored
 * whole; a notify (a local queue) or an `Action.effect` (code) is stored as a marker with its
 * label and flags, and comes back as an action that fails until the application declares it
 * again.
 *
 * @internal
 */
export const storeAction = (action: action_.Action): StoredAction => {
  // an action is immutable (a change makes a new one): its stored form is made once
  let stored = storedActions.get(action)
  if (stored === undefined) {
    stored = encodeAction(action)
    storedActions.set(action, stored)
  }
  return stored
}

const storedActions = new WeakMap<action_.Action, StoredAction>()

/** @internal the action back from its stored form; a description of the damage otherwise */
export const restoreAction = (stored: unknown): Either.Either<action_.Action, string> =>
  Either.mapLeft(decodeAction(stored), formatParseError)

// ---------------------------------------------------------------------------------------------
// the record
// ---------------------------------------------------------------------------------------------

const ActionDoc = Schema.Struct({
  ...tree_.actionFields,
  action: Schema.Record({ key: Schema.String, value: Schema.Unknown })
})

const ConditionDoc = Schema.Struct({
  ...tree_.conditionFields,
  stateFilter: Schema.optional(Schema.typeSchema(cond.StateFilter)),
  raiseFilter: Schema.optional(Schema.typeSchema(cond.RaiseFilter)),
  actions: Schema.Array(ActionDoc)
})

const ExternalDoc = Schema.Struct({ pid: Schema.Number, startTime: Schema.Number, pollMillis: Schema.Number })

/** @internal one entity as stored */
export const EntityDoc = Schema.Struct({
  ...tree_.entityFields,
  isGlobal: Schema.Boolean,
  process: Schema.optional(Schema.Struct({
    line: action_.CommandLine,
    output: entity_.CheckedOutput,
    stopSignal: Schema.String,
    stopGraceMillis: Schema.Number,
    nodeIpc: Schema.Boolean
  })),
  /** the process of the life that was running when this record was written */
  life: Schema.optional(Schema.Struct({
    pid: Schema.Number,
    /** its start time (from /proc) when it outlives the HAM: a later HAM adopts it */
    startTime: Schema.optional(Schema.Number)
  })),
  /** a pid entity: the process it watches */
  external: Schema.optional(ExternalDoc),
  heartbeat: Schema.optional(tree_.HeartbeatConfig),
  policy: Schema.Struct({
    maxRestarts: Schema.Number,
    withinMillis: Schema.Number,
    backoff: Schema.Boolean,
    backoffResetMillis: Schema.Number
  }),
  lastStart: Schema.Number,
  restartTimes: Schema.Array(Schema.Number),
  conditions: Schema.Array(ConditionDoc)
})

/** @internal */
export type EntityDoc = typeof EntityDoc.Type

/**
 * The fields the tree and the store share (`tree_.entityFields`). Built field by field, not with
 * spreads: a registry call with a store builds one at every commit.
 *
 * @internal
 */
export const coreOf = (rec: EntityRec) => {
  const h = rec.history
  const stats: Types.Mutable<typeof tree_.EntityStats.Type> = {
    created: rec.created,
    deaths: h.deaths,
    abnormalDeaths: h.abnormalDeaths,
    restarts: h.restarts,
    heartbeats: rec.beat?.count ?? 0,
    missedLow: h.missedLow,
    missedHigh: h.missedHigh
  }
  if (rec.lastEvent !== undefined) stats.lastEvent = rec.lastEvent
  if (h.lastDeath !== undefined) stats.lastDeath = h.lastDeath
  return { name: rec.name, kind: rec.kind, status: rec.status, enabled: rec.enabled, state: rec.state, stats }
}

/** @internal the fields the tree and the store share (`tree_.conditionFields`) */
export const conditionCoreOf = (c: ConditionRec) => ({
  name: c.name,
  type: c.type,
  enabled: c.enabled,
  independent: c.independent,
  noWait: c.noWait,
  oneShot: c.oneShot,
  fired: c.fired
})

/** @internal the fields the tree and the store share (`tree_.actionFields`) */
export const actionCoreOf = (a: ActionRec) => ({ name: a.name, enabled: a.enabled, runs: a.runs, failures: a.failures })

// built on the object the shared `*CoreOf` returns, field after field: an object literal that
// spreads another and adds fields is some 100 times slower to make in V8 (Node 20), and this runs
// at every commit of an entity with conditions
const storedConditions = (rec: EntityRec): EntityDoc["conditions"] =>
  rec.conditions.map((c) => {
    const doc = conditionCoreOf(c) as Types.Mutable<EntityDoc["conditions"][number]>
    doc.actions = c.actions.map((a) => {
      const action = actionCoreOf(a) as Types.Mutable<EntityDoc["conditions"][number]["actions"][number]>
      action.action = storeAction(a.action)
      return action
    })
    if (c.stateFilter !== undefined) doc.stateFilter = c.stateFilter
    if (c.raiseFilter !== undefined) doc.raiseFilter = c.raiseFilter
    return doc
  })

/** @internal the record of an entity as stored (built field by field: see `coreOf`) */
export const toDoc = (rec: EntityRec, life: LifeRecord | undefined): EntityDoc => {
  const doc: Types.Mutable<EntityDoc> = coreOf(rec) as Types.Mutable<EntityDoc>
  doc.isGlobal = rec.isGlobal
  if (rec.process !== undefined) doc.process = rec.process
  if (life !== undefined) doc.life = life
  if (rec.external !== undefined) doc.external = rec.external
  if (rec.beat !== undefined) doc.heartbeat = rec.beat.config
  doc.policy = {
    maxRestarts: rec.policy.intensity.maxRestarts,
    withinMillis: rec.policy.intensity.withinMillis,
    backoff: rec.policy.backoff !== undefined,
    backoffResetMillis: rec.policy.backoffResetMillis
  }
  doc.lastStart = rec.lastStart
  doc.restartTimes = rec.history.restartTimes
  doc.conditions = rec.conditions.length === 0 ? none : storedConditions(rec)
  return doc
}

/** @internal the damage in a stored record, if any (its actions included) */
export const checkDoc = (value: unknown): Either.Either<EntityDoc, string> =>
  Either.flatMap(Either.mapLeft(decodeDoc(value), formatParseError), (doc) => {
    for (const condition of doc.conditions) {
      for (const action of condition.actions) {
        const restored = restoreAction(action.action)
        if (Either.isLeft(restored)) {
          return Either.left(`the action ${doc.name}/${condition.name}/${action.name} is damaged: ${restored.left}`)
        }
      }
    }
    return Either.right(doc)
  })

const decodeDoc = Schema.decodeUnknownEither(EntityDoc)

/**
 * An entity back from its record: its conditions, actions, statistics and state, as a
 * placeholder with no life (`restore.ts` decides what is started again, adopted or reported
 * dead). The record was checked when the store was opened.
 *
 * @internal
 */
export const fromDoc = (doc: EntityDoc, into: EntityRec | undefined, policyOf: (doc: EntityDoc) => Policy) => {
  const rec = into ?? makeRec(doc.name, false, doc.stats.created, policyOf(doc))
  const s = doc.stats
  rec.enabled = doc.enabled
  rec.state = doc.state
  rec.lastEvent = s.lastEvent
  rec.lastStart = doc.lastStart
  rec.restored = !doc.isGlobal
  rec.process = doc.process
  rec.external = doc.external
  if (s.deaths + s.abnormalDeaths + s.restarts + s.missedLow + s.missedHigh > 0 || s.lastDeath !== undefined) {
    rec.history = {
      deaths: s.deaths,
      abnormalDeaths: s.abnormalDeaths,
      restarts: s.restarts,
      missedLow: s.missedLow,
      missedHigh: s.missedHigh,
      lastDeath: s.lastDeath,
      restartTimes: [...doc.restartTimes],
      backoffState: undefined
    }
  }
  rec.conditions = doc.conditions.map(({ actions, raiseFilter, stateFilter, ...c }): ConditionRec => ({
    ...c,
    stateFilter,
    raiseFilter,
    restored: true,
    actions: actions.map(({ action, ...a }): ActionRec => ({
      ...a,
      action: Either.getOrThrow(restoreAction(action)),
      lastFailure: undefined,
      restored: true
    }))
  }))
  if (doc.heartbeat !== undefined) {
    rec.beat = {
      config: doc.heartbeat,
      count: s.heartbeats,
      state: { missed: 0, lowFired: false, highFired: false },
      seen: false,
      member: undefined
    }
  }
  return rec
}
