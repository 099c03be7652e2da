/**
 * The tree (`/proc/ham` as data): the entities, their conditions and actions, with statistics.
 * An entity's fields are built by `doc.ts`'s `coreOf`, the same function its stored record is
 * built from.
 *
 * @internal
 */
import type * as Types from "effect/Types"
import * as NodePath from "node:path"
import * as action_ from "../action.js"
import * as cond from "../condition.js"
import * as heartbeat_ from "../heartbeat.js"
import type * as store from "../store/service.js"
import type * as tree_ from "../tree.js"
import type { ProbeTarget } from "../watch/config.js"
import type { WatchRec } from "../watch/record.js"
import type { Usage } from "../watch/watch.js"
import { actionCoreOf, conditionCoreOf, coreOf } from "./doc.js"
import type { ConditionRec, EntityRec, HamState } from "./state.js"

const stateText = (m: cond.StateMatch) =>
  typeof m === "number"
    ? (m === cond.StateAny ? "any" : String(m))
    : "in" in m
    ? `{${m.in.join(",")}}`
    : `not {${m.notIn.join(",")}}`

/** the classes of the HAM's own raises, by the names of their constants */
const hamClasses: Record<number, string> = {
  [cond.RaiseClassRestartGaveUp]: "RaiseClassRestartGaveUp",
  [cond.RaiseClassMemoryLimit]: "RaiseClassMemoryLimit",
  [cond.RaiseClassCpuLimit]: "RaiseClassCpuLimit"
}

const filterText = (c: ConditionRec): string | undefined => {
  if (c.stateFilter !== undefined) return `${stateText(c.stateFilter.from)} -> ${stateText(c.stateFilter.to)}`
  if (c.raiseFilter !== undefined) {
    const f = (n: number) => (n === cond.RaiseAny ? "any" : String(n))
    const { class: klass, severity, type } = c.raiseFilter
    // the HAM's own raises by the names of their constants (the give-up raise)
    const ham = type === cond.RaiseTypeHam
    const typeText = ham ? "RaiseTypeHam" : f(type)
    const classText = ham && klass !== cond.RaiseAny ? (hamClasses[klass] ?? f(klass)) : f(klass)
    return `type ${typeText} class ${classText} severity ${f(severity)}`
  }
  return undefined
}

const alternateNodes = (action: action_.ActionData): Array<tree_.AlternateNode> =>
  action.alternates.map((alt) => ({ type: alt._tag, summary: action_.summary(alt), alternates: alternateNodes(alt) }))

// The nodes are built on the object the shared `*CoreOf` function returns, one field after another:
// an object literal that spreads another and adds fields after it is some 100 times slower to make
// in V8 (Node 20: ~4 µs per action node), and the tree is made at every `Ham.snapshot`.

const conditionNodes = (rec: EntityRec): Array<tree_.ConditionNode> =>
  rec.conditions.map((c) => {
    const path = `${rec.name}/${c.name}`
    const node: Types.Mutable<tree_.ConditionNode> = conditionCoreOf(c) as Types.Mutable<tree_.ConditionNode>
    node.path = path
    const filter = filterText(c)
    if (filter !== undefined) node.filter = filter
    node.actions = c.actions.map((a) => {
      const action: Types.Mutable<tree_.ActionNode> = actionCoreOf(a) as Types.Mutable<tree_.ActionNode>
      action.path = `${path}/${a.name}`
      action.type = a.action._tag
      action.summary = action_.summary(a.action)
      action.breakOnFail = a.action.breakOnFail
      action.removeOnFail = a.action.removeOnFail
      action.oneShot = a.action.oneShot
      if (a.action.doNow === true) action.doNow = true
      if (a.action._tag === "Restart") {
        const line = a.action.command ?? rec.process?.line
        if (line !== undefined) action.restartLine = action_.renderCommandLine(line)
      }
      if (a.lastFailure !== undefined) action.lastFailure = a.lastFailure
      action.alternates = alternateNodes(a.action)
      const failList = a.action.onFail
      if (failList !== undefined && failList.length > 0) {
        const names = action_.failNames(failList)
        action.onFail = failList.map((f, i) => ({
          name: names[i],
          type: f._tag,
          summary: action_.summary(f),
          alternates: alternateNodes(f)
        }))
      }
      return action
    })
    return node
  })

/** where a process entity's output goes: its life's file (a launcher may choose it), else its option's */
const outputOf = (rec: EntityRec, option: tree_.EntityNode["output"]): tree_.EntityNode["output"] => {
  const file = rec.life?._tag === "Process" ? rec.life.process.outputFile : undefined
  const output = file === undefined ? option : { file }
  return typeof output === "object" ? { file: NodePath.resolve(output.file) } : output
}

const entityNode = (
  rec: EntityRec,
  pidOf: (rec: EntityRec) => number | undefined,
  usageOf: (rec: EntityRec) => Usage | undefined
): tree_.EntityNode => {
  const node: Types.Mutable<tree_.EntityNode> = coreOf(rec) as Types.Mutable<tree_.EntityNode>
  node.path = rec.name
  const pid = pidOf(rec)
  if (pid !== undefined) node.pid = pid
  if (rec.status === "running") node.startedAt = rec.lastStart
  if (rec.kind === "process" && rec.process !== undefined) node.output = outputOf(rec, rec.process.output)
  if (rec.beat !== undefined) {
    const heartbeat = { ...rec.beat.config } as Types.Mutable<NonNullable<tree_.EntityNode["heartbeat"]>>
    heartbeat.missed = rec.beat.state.missed
    heartbeat.unhealthy = heartbeat_.isUnhealthy(rec.beat.state)
    node.heartbeat = heartbeat
  }
  if (rec.watch?.probe !== undefined) node.probe = probeNode(rec.watch)
  const use = usageOf(rec)
  if (use !== undefined) {
    if (use.cpu !== undefined) node.cpu = Math.round(use.cpu * 10) / 10
    node.rss = use.rss
  }
  node.conditions = conditionNodes(rec)
  return node
}

const targetText = (target: ProbeTarget): string =>
  target._tag === "Http"
    ? `http ${target.url}`
    : target._tag === "Tcp"
    ? `tcp ${target.host}:${target.port}`
    : `exec ${
      action_.renderCommandLine({
        command: target.argv[0]!,
        args: target.argv.slice(1),
        env: {},
        extendEnv: true,
        shell: false
      })
    }`

const probeNode = (watch: WatchRec): NonNullable<tree_.EntityNode["probe"]> => {
  const probe = watch.probe!
  return {
    target: targetText(probe.target),
    intervalMillis: probe.intervalMillis,
    timeoutMillis: probe.timeoutMillis,
    missedLow: probe.missedLow,
    missedHigh: probe.missedHigh,
    startupGraceMillis: probe.graceMillis,
    missed: watch.probeState.missed,
    unhealthy: heartbeat_.isUnhealthy(watch.probeState),
    probes: watch.probes,
    failures: watch.failures,
    ...(watch.lastPass === undefined ? {} : { lastPassed: watch.lastPass })
  }
}

/** @internal the tree of the HAM's state now */
export const snapshot = (
  state: HamState,
  now: number,
  info: store.StoreInfo,
  spawnerPid: number | undefined,
  pidOf: (rec: EntityRec) => number | undefined,
  usageOf: (rec: EntityRec) => Usage | undefined = () => undefined
): tree_.Tree => {
  let numConditions = state.global.conditions.length
  let numActions = 0
  for (const c of state.global.conditions) numActions += c.actions.length
  const nodes: Array<tree_.EntityNode> = []
  for (const rec of state.entities.values()) {
    numConditions += rec.conditions.length
    for (const c of rec.conditions) numActions += c.actions.length
    nodes.push(entityNode(rec, pidOf, usageOf))
  }
  return {
    time: now,
    verbosity: state.verbosity,
    numEntities: nodes.length,
    numConditions,
    numActions,
    hamFailures: state.hamFailures,
    watchdogFailures: state.watchdogFailures,
    hamPid: process.pid,
    guardianFailures: info.guardianFailures ?? 0,
    ...(info.store === undefined ? {} : { store: info.store }),
    ...(info.role === undefined ? {} : { role: info.role }),
    ...(info.epoch === undefined ? {} : { epoch: info.epoch }),
    ...(info.guardianPid === undefined ? {} : { guardianPid: info.guardianPid }),
    ...(spawnerPid === undefined ? {} : { spawnerPid }),
    global: { conditions: conditionNodes(state.global) },
    entities: nodes
  }
}
