/**
 * What the HAM commits to its `StateStore`, and when.
 *
 * Every change marks its entity. Registry calls (attach, condition, action, publishState,
 * control, remove, detach, ...) commit their change synchronously before they return
 * (`durable`): no other fiber runs between the change and its commit, so a registry call behaves
 * exactly as in memory. The statistics that detectors change (deaths, restarts, runs of actions)
 * are committed by the flusher fiber in one transaction per scheduler turn.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as NodeCrypto from "node:crypto"
import { HamStopped } from "../../HamError.js"
import type * as store from "../store/service.js"
import { type EntityDoc, toDoc } from "./doc.js"
import type { EntityRec, HamState, LifeRecord } from "./state.js"

/** @internal */
export interface Changes {
  /** the entity changed */
  readonly touch: (rec: EntityRec) => void
  /** the entity is gone */
  readonly forget: (rec: EntityRec) => void
  /** commits every pending change now, in one synchronous transaction; false when the store was lost */
  readonly flush: () => boolean
  /**
   * The last commit of a HAM that stopped acting to hand its store over (it still holds it): what
   * is pending, the lives its launches in flight began included; false when the store was lost.
   */
  readonly flushLast: () => boolean
  /**
   * Records, before a child of the entity is started, that it is being started (committed before
   * it returns): the id the child is given (`HAM_LAUNCH_ID`), undefined when the store needs none,
   * false when this HAM no longer holds its store (it must not start it).
   */
  readonly intend: (entity: string) => string | undefined | false
  /** the launch is settled (its life is recorded, or it started nothing): its intent goes at the next commit */
  readonly settle: (id: string | undefined) => void
  /** a registry call that returns once its change is committed */
  readonly durable: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | HamStopped, R>
  /** `f`, whose calls return once their change is committed (`f` itself when nothing is kept) */
  readonly committing: <Args extends ReadonlyArray<any>, A, E, R>(
    f: (...args: Args) => Effect.Effect<A, E, R>
  ) => (...args: Args) => Effect.Effect<A, E | HamStopped, R>
  /** commits what detectors change, one transaction per scheduler turn; never ends */
  readonly flusher: Effect.Effect<void>
}

const nothing: Changes = {
  touch: () => {},
  forget: () => {},
  flush: () => true,
  flushLast: () => true,
  intend: () => undefined,
  settle: () => {},
  durable: (self) => self,
  committing: (f) => f,
  flusher: Effect.void
}

/** @internal the changes of `state` for `store` (nothing to do for a store that keeps nothing) */
export const make = (
  state: HamState,
  target: store.StateStoreService,
  lifeOf: (rec: EntityRec) => LifeRecord | undefined,
  /** the store is held by another HAM: this one must stop acting at once */
  lost: () => void
): Changes => {
  if (!target.keeps) return nothing
  const dirty = new Set<EntityRec>()
  const deleted = new Set<string>()
  /** launch intents settled since the last commit */
  const settled = new Set<string>()
  let wake: Deferred.Deferred<void> | undefined

  const wakeFlusher = () => {
    const w = wake
    if (w !== undefined) {
      wake = undefined
      Deferred.unsafeDone(w, Exit.void)
    }
  }
  /** commits what changed; false when the store is no longer this HAM's (nothing was written) */
  const pending = () => dirty.size > 0 || deleted.size > 0 || settled.size > 0
  const commitPending = (): boolean => {
    if (!pending()) return true
    const puts: Array<EntityDoc> = []
    for (const rec of dirty) {
      if (rec.isGlobal || state.entities.get(rec.name) === rec) {
        puts.push(toDoc(rec, lifeOf(rec)))
        // attached again since it was detached: written, not deleted
        deleted.delete(rec.name)
      }
    }
    dirty.clear()
    const deletes = [...deleted]
    deleted.clear()
    const ids = [...settled]
    settled.clear()
    if (target.commit(puts, deletes, ids)) return true
    lost()
    return false
  }
  const flush = (): boolean => !state.fenced && commitPending()
  // every write is synchronous: a write prepared earlier can never land after a later one; a
  // registry call whose change could not be committed fails (it is not acknowledged)
  const flushNow = Effect.suspend(() => (flush() ? Effect.void : Effect.fail(new HamStopped())))
  const flusher: Effect.Effect<void> = Effect.suspend(() => {
    if (state.fenced) return Effect.void
    if (!pending()) {
      wake = Deferred.unsafeMake<void>(FiberId.none)
      return Effect.zipRight(Deferred.await(wake), flusher)
    }
    // one turn of the scheduler gathers the changes made around this one into one commit
    return Effect.zipRight(Effect.yieldNow(), Effect.suspend(() => (flush() ? flusher : Effect.void)))
  })
  return {
    // a detached entity touched afterwards (its CondDetach) stays deleted: the commit writes only
    // the entities registered then, and deletes what it does not write again
    touch: (rec) => {
      dirty.add(rec)
      wakeFlusher()
    },
    forget: (rec) => {
      dirty.delete(rec)
      deleted.add(rec.name)
      wakeFlusher()
    },
    flush,
    flushLast: commitPending,
    intend: (entity) => {
      const intend = target.intend
      if (intend === undefined) return undefined
      if (state.fenced) return false
      const id = NodeCrypto.randomUUID()
      if (intend({ id, entity })) return id
      lost()
      return false
    },
    settle: (id) => {
      if (id === undefined) return
      settled.add(id)
      wakeFlusher()
    },
    durable: (self) => Effect.zipLeft(self, flushNow),
    committing: (f) => (...args) => Effect.zipLeft(f(...args), flushNow),
    flusher
  }
}
