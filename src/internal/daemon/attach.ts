/**
 * Attaching the entities of a config (the daemon's, a cluster group's): a process entity with its
 * attach options, then its conditions in order, each with its action list.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { InvalidArgument } from "../../HamError.js"
import type { HamService } from "../../HamService.js"
import * as entity_ from "../entity.js"
import type { ConditionConfig, EntityConfig } from "./config.js"

const addCondition = (ham: HamService, entity: entity_.EntityHandle, c: ConditionConfig) =>
  Effect.gen(function*() {
    const options = {
      name: c.name,
      independent: c.independent,
      noWait: c.noWait,
      oneShot: c.oneShot
    }
    if (c.state !== undefined && c.type !== "CondState") {
      return yield* new InvalidArgument({ argument: entity.name, reason: `a ${c.type} takes no state filter` })
    }
    if (c.raise !== undefined && c.type !== "CondRaise") {
      return yield* new InvalidArgument({ argument: entity.name, reason: `a ${c.type} takes no raise filter` })
    }
    const handle = c.type === "CondState"
      ? yield* ham.conditionState(entity, c.state ?? {}, options)
      : c.type === "CondRaise"
      ? yield* ham.conditionRaise(entity, c.raise ?? {}, options)
      : yield* ham.condition(entity, c.type, options)
    const existing = new Set<string>()
    for (const action of c.actions) {
      // a condition taken up from the store keeps its actions: one of the same name is not added again
      const found = action.name === undefined
        ? false
        : yield* Effect.isSuccess(ham.actionHandle(handle, action.name))
      if (found || (action.name !== undefined && existing.has(action.name))) continue
      yield* ham.addAction(handle, action)
      if (action.name !== undefined) existing.add(action.name)
    }
  })

/** the directory of an output file is made (owner-only) when missing: a spawn would fail without it */
const makeOutputDir = (e: EntityConfig) =>
  Effect.sync(() => {
    if (typeof e.output !== "object") return
    try {
      fs.mkdirSync(path.dirname(e.output.file), { recursive: true, mode: 0o700 })
    } catch {
      // the attach says why the file cannot be opened
    }
  })

/** @internal attaches a config's entity with its conditions and actions */
export const attach = (ham: HamService, e: EntityConfig) =>
  Effect.gen(function*() {
    yield* makeOutputDir(e)
    const spec = entity_.processFromLine(e.name, e.command, {
      ...(e.output === undefined ? {} : { output: e.output }),
      ...(e.stopSignal === undefined ? {} : { stopSignal: e.stopSignal as NodeJS.Signals }),
      ...(e.stopGrace === undefined ? {} : { stopGrace: e.stopGrace })
    })
    const handle = yield* ham.attach(spec, {
      heartbeat: e.heartbeat,
      restartIntensity: e.restartIntensity,
      backoff: e.backoff,
      backoffResetAfter: e.backoffResetAfter,
      probe: e.probe,
      limits: e.limits
    })
    for (const c of e.conditions) yield* addCondition(ham, handle, c)
  })
