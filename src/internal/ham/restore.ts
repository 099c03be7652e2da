/**
 * Rebuilding the registry from the store's records. Conditions, actions, statistics and states
 * come back whole (`doc.ts`); each entity comes back as a placeholder, and its driver decides
 * what now (`Driver.restore`):
 *
 * - fiber and self-attached entities wait for the application's next attach (code cannot be
 *   stored);
 * - a process that is still the same one (pid and start time) is adopted: watched by pid;
 * - a process recorded as outliving its HAM (or an existing process watched by pid) that is gone
 *   died while no HAM watched it: that is a death, and its conditions run;
 * - a child that died with its HAM is started again with its stored command line.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import { type EntityDoc, fromDoc } from "./doc.js"
import type { Engine } from "./engine.js"
import type { Policy } from "./state.js"

/** @internal */
export const restore = (
  engine: Engine,
  docs: ReadonlyArray<EntityDoc>,
  policyOf: (doc: EntityDoc) => Policy
): Effect.Effect<void> =>
  Effect.forEach(docs, (doc) =>
    Effect.suspend(() => {
      const state = engine.state
      if (doc.isGlobal) {
        fromDoc(doc, state.global, policyOf)
        return Effect.void
      }
      const rec = fromDoc(doc, undefined, policyOf)
      state.entities.set(rec.name, rec)
      return doc.kind === "placeholder" ? Effect.void : engine.drivers[doc.kind].restore(rec, doc)
    }), { discard: true })
