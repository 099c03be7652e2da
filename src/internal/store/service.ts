/**
 * Persistence as a service: the `StateStore` a HAM commits its registry and statistics to, one
 * record per entity (`ham/doc.ts`).
 *
 * - `layerMemory`: records kept in this process (a HAM built again on the same layer gets them
 *   back); `none`, the HAM's own default when no store is provided, keeps nothing at all.
 * - `layerLmdb` (`lmdb.ts`): a memory-mapped LMDB file, what `Guardian.layer` provides.
 *
 * @internal
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { EntityDoc } from "../ham/doc.js"

/** @internal what a store adds to the tree */
export interface StoreInfo {
  /** the store's file */
  readonly store?: string | undefined
  /** "host", or "guardian" for a guardian process that took over */
  readonly role?: "host" | "guardian" | undefined
  /** the guardian process watching this HAM */
  readonly guardianPid?: number | undefined
  /** how often the guardian process died and was started again */
  readonly guardianFailures?: number | undefined
  /** the epoch of this HAM's lease on the store (its fencing token) */
  readonly epoch?: number | undefined
}

/**
 * @internal a child being started, recorded before it is (with the id it is given in
 * `HAM_LAUNCH_ID`), and settled in the commit that records its life: an intent left in the store
 * is a child whose HAM died before it recorded it, which the next HAM ends
 */
export interface LaunchIntent {
  readonly id: string
  readonly entity: string
}

/** @internal */
export interface StateStoreService {
  /** false for a store that keeps nothing: the HAM then builds no records at all */
  readonly keeps: boolean
  /** the records found in the store when it was opened */
  readonly entities: ReadonlyArray<EntityDoc>
  /** the launch intents found in the store when it was opened (children no HAM recorded) */
  readonly launches: ReadonlyArray<LaunchIntent>
  /**
   * Writes and deletes records, and removes settled launch intents, in one transaction, committed
   * before it returns; false (nothing written) when this HAM no longer holds the store: it must
   * stop acting at once.
   */
  readonly commit: (
    puts: ReadonlyArray<EntityDoc>,
    deletes: ReadonlyArray<string>,
    settled?: ReadonlyArray<string>
  ) => boolean
  /**
   * Records a launch intent, committed before it returns (asked before a child is started); false
   * when this HAM no longer holds the store. Undefined for a store whose HAM's children die with
   * it, which needs none.
   */
  readonly intend?: ((intent: LaunchIntent) => boolean) | undefined
  /** true while this HAM holds the store (asked before it acts on the world: a spawn, a signal) */
  readonly holds: () => boolean
  /** completes when this HAM is found to no longer hold the store */
  readonly lost: Effect.Effect<void>
  /** the number of records written since the store was opened */
  readonly written: () => number
  readonly info: () => StoreInfo
}

/** @internal the store a HAM built in its context commits to */
export class StateStore extends Context.Tag("effect-ham/StateStore")<StateStore, StateStoreService>() {}

/** @internal a store that keeps nothing: the default of a HAM in memory */
export const none: StateStoreService = {
  keeps: false,
  entities: [],
  launches: [],
  commit: () => true,
  holds: () => true,
  lost: Effect.never,
  written: () => 0,
  info: () => ({})
}

/**
 * A store in this process's memory: what a HAM commits is kept in the layer, and a HAM built
 * again on the same layer (within its lifetime) gets it back.
 *
 * @internal
 */
export const makeMemory = (): StateStoreService => {
  const records = new Map<string, EntityDoc>()
  let written = 0
  return {
    keeps: true,
    get entities() {
      return [...records.values()]
    },
    launches: [],
    commit: (puts, deletes) => {
      for (const name of deletes) records.delete(name)
      for (const doc of puts) records.set(doc.name, doc)
      written += puts.length + deletes.length
      return true
    },
    holds: () => true,
    lost: Effect.never,
    written: () => written,
    info: () => ({})
  }
}

/** @internal */
export const layerMemory: Layer.Layer<StateStore> = Layer.sync(StateStore, makeMemory)

/** @internal the store in the context, or `none` */
export const current: Effect.Effect<StateStoreService> = Effect.map(
  Effect.serviceOption(StateStore),
  (store) => store._tag === "Some" ? store.value : none
)
