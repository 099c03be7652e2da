/**
 * Rebuilding the registry from the store's records. Conditions, actions, statistics and states
 * come back whole (`doc.ts`). Fiber and self-attached entities wait as placeholders until the
 * application attaches them again (code cannot be stored). For process and pid entities that were
 * up when their record was written:
 *
 * - a process that is still the same one (pid and start time) is adopted: watched by pid;
 * - a process recorded as outliving its HAM (or an existing process watched by pid) that is gone
 *   died while no HAM watched it: that is a death, and its conditions run;
 * - a child that died with its HAM is started again with its stored command line.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type { PidDriver } from "../lives/pid.js"
import type { ProcessDriver } from "../lives/process.js"
import * as procStart from "../procStart.js"
import { type EntityDoc, fromDoc } from "./doc.js"
import { common, type Engine } from "./engine.js"
import { history, type Policy } from "./state.js"

/** @internal */
export const restore = (
  engine: Engine,
  docs: ReadonlyArray<EntityDoc>,
  drivers: { readonly process: ProcessDriver; readonly pid: PidDriver },
  policyOf: (doc: EntityDoc) => Policy,
  defaultPollMillis: number
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
      if ((doc.kind !== "process" && doc.kind !== "pid") || doc.process === undefined) return Effect.void
      rec.kind = doc.kind
      rec.status = "dead"
      rec.order = ++state.attachments
      const wasUp = doc.status === "running" || doc.status === "restarting" || doc.status === "stopped"
      if (!wasUp) return Effect.void
      const recorded = doc.external ??
        (doc.life?.startTime === undefined
          ? undefined
          : { pid: doc.life.pid, startTime: doc.life.startTime, pollMillis: defaultPollMillis })
      if (recorded !== undefined) {
        if (procStart.startTimeOf(recorded.pid) === recorded.startTime) {
          drivers.pid.watch(rec, recorded, doc.kind === "process")
        } else {
          rec.status = "running"
          engine.reportDeath(rec, rec.generation, {
            abnormal: false,
            reason: `pid ${recorded.pid} died while no HAM was watching it (no exit status)`,
            pid: recorded.pid
          })
        }
        return Effect.void
      }
      if (doc.kind !== "process") return Effect.void
      return Effect.flatMap(Effect.either(drivers.process.spawn(rec)), (life) => {
        if (Either.isLeft(life)) {
          history(rec).lastDeath = `could not be started again from the store: ${life.left}`
          return drivers.process.release(rec)
        }
        engine.enqueue(rec, { _tag: "CondAttach", ...common(engine, rec), pid: life.right.pid })
        drivers.process.begin(rec, life.right)
        return Effect.void
      })
    }), { discard: true })
