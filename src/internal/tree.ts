import * as Schema from "effect/Schema"
import type * as Api from "../Tree.js"
import { conditionTypes } from "./condition.js"

/** @internal */
export const AlternateNode: Schema.Schema<AlternateNode> = Schema.Struct({
  type: Schema.String,
  summary: Schema.String,
  alternates: Schema.Array(Schema.suspend((): Schema.Schema<AlternateNode> => AlternateNode))
})

/** @internal */
export interface AlternateNode {
  readonly type: string
  readonly summary: string
  readonly alternates: ReadonlyArray<AlternateNode>
}

/**
 * The fields an action, a condition and an entity have both in the tree and in the store's
 * records (`ham/doc.ts`): one definition serves both.
 *
 * @internal
 */
export const actionFields = {
  name: Schema.String,
  enabled: Schema.Boolean,
  runs: Schema.Number,
  failures: Schema.Number
}

/** @internal */
export const ActionNode = Schema.Struct({
  ...actionFields,
  path: Schema.String,
  type: Schema.String,
  summary: Schema.String,
  breakOnFail: Schema.Boolean,
  removeOnFail: Schema.Boolean,
  oneShot: Schema.Boolean,
  /** runs once when added too (QNX `HACTIONDONOW`): present when set */
  doNow: Schema.optional(Schema.Boolean),
  /**
   * a restart of a process or pid entity: the command line it starts (QNX's "Restart Line"), the
   * action's own or else the entity's attach command
   */
  restartLine: Schema.optional(Schema.String),
  lastFailure: Schema.optional(Schema.String),
  alternates: Schema.Array(AlternateNode),
  /** the fail list (QNX's): each fail action by its name, all run when the action fails; present when not empty */
  onFail: Schema.optional(Schema.Array(Schema.Struct({
    name: Schema.String,
    type: Schema.String,
    summary: Schema.String,
    alternates: Schema.Array(AlternateNode)
  })))
})

/** @internal */
export type ActionNode = Api.ActionNode

/** @internal see `actionFields` */
export const conditionFields = {
  name: Schema.String,
  type: Schema.Literal(...conditionTypes),
  enabled: Schema.Boolean,
  independent: Schema.Boolean,
  noWait: Schema.Boolean,
  oneShot: Schema.Boolean,
  fired: Schema.Number
}

/** @internal */
export const ConditionNode = Schema.Struct({
  ...conditionFields,
  path: Schema.String,
  filter: Schema.optional(Schema.String),
  actions: Schema.Array(ActionNode)
})

/** @internal */
export type ConditionNode = Api.ConditionNode

/** @internal */
export const EntityStats = Schema.Struct({
  created: Schema.Number,
  deaths: Schema.Number,
  abnormalDeaths: Schema.Number,
  restarts: Schema.Number,
  heartbeats: Schema.Number,
  missedLow: Schema.Number,
  missedHigh: Schema.Number,
  lastEvent: Schema.optional(Schema.Number),
  lastDeath: Schema.optional(Schema.String)
})

/** @internal */
export type EntityStats = Api.EntityStats

/** @internal the kinds of entity */
export const EntityKind = Schema.Literal("placeholder", "fiber", "self", "process", "pid")

/** @internal */
export const EntityStatus = Schema.Literal("placeholder", "running", "restarting", "dead", "gaveUp", "stopped")

/** @internal see `actionFields` */
export const entityFields = {
  name: Schema.String,
  kind: EntityKind,
  status: EntityStatus,
  enabled: Schema.Boolean,
  state: Schema.Number,
  stats: EntityStats
}

/** @internal */
export const HeartbeatConfig = Schema.Struct({
  intervalMillis: Schema.Number,
  missedLow: Schema.Number,
  missedHigh: Schema.Number
})

/** @internal */
export const EntityNode = Schema.Struct({
  ...entityFields,
  path: Schema.String,
  pid: Schema.optional(Schema.Number),
  /** when its current life started (epoch milliseconds, the HAM's clock), while it runs */
  startedAt: Schema.optional(Schema.Number),
  /**
   * a process entity's output: "log" (the HAM's logger), "ignore", or the file it is appended to
   * (an absolute path)
   */
  output: Schema.optional(Schema.Union(Schema.Literal("log", "ignore"), Schema.Struct({ file: Schema.String }))),
  heartbeat: Schema.optional(Schema.Struct({
    ...HeartbeatConfig.fields,
    missed: Schema.Number,
    unhealthy: Schema.Boolean
  })),
  /**
   * its probe: what it checks (`http <url>`, `tcp <host>:<port>`, `exec <command>`), its timing,
   * the consecutive failures now, whether a missed level fired (no `heartbeatHealthy` since), the
   * probes run and failed, and whether the last one passed
   */
  probe: Schema.optional(Schema.Struct({
    target: Schema.String,
    intervalMillis: Schema.Number,
    timeoutMillis: Schema.Number,
    missedLow: Schema.Number,
    missedHigh: Schema.Number,
    startupGraceMillis: Schema.Number,
    missed: Schema.Number,
    unhealthy: Schema.Boolean,
    probes: Schema.Number,
    failures: Schema.Number,
    lastPassed: Schema.optional(Schema.Boolean)
  })),
  /** a running process's CPU use, percent of one core (since the previous sample, at most a second old) */
  cpu: Schema.optional(Schema.Number),
  /** a running process's resident memory in bytes */
  rss: Schema.optional(Schema.Number),
  conditions: Schema.Array(ConditionNode)
})

/** @internal */
export type EntityNode = Api.EntityNode

/** @internal a member of a group, as the tree shows it (`Entity.group`) */
export const GroupMemberNode = Schema.Struct({
  name: Schema.String,
  kind: Schema.Literal("entity", "group"),
  /** OTP's restart type: always restarted, restarted after an abnormal death, never */
  restart: Schema.Literal("permanent", "transient", "temporary"),
  significant: Schema.Boolean,
  dependsOn: Schema.Array(Schema.String),
  onDependencyRestart: Schema.Literal("restart", "pause", "none")
})

/** @internal a group (`Entity.group`): its strategy, its restart window, its members in start order */
export const GroupNode = Schema.Struct({
  name: Schema.String,
  /** the group it is a member of */
  parent: Schema.optional(Schema.String),
  strategy: Schema.Literal("oneForOne", "oneForAll", "restForOne"),
  status: Schema.Literal("starting", "running", "gaveUp", "shutdown", "stopped"),
  maxRestarts: Schema.Number,
  withinMillis: Schema.Number,
  autoShutdown: Schema.Literal("never", "anySignificant", "allSignificant"),
  /** the restarts the group made (of a member, or of several at once: one each) */
  restarts: Schema.Number,
  members: Schema.Array(GroupMemberNode)
})

/** @internal */
export interface GroupNode extends Schema.Schema.Type<typeof GroupNode> {}

/** @internal an entity's status */
export type EntityStatusValue = Schema.Schema.Type<typeof EntityStatus>

/** @internal */
export const Tree = Schema.Struct({
  time: Schema.Number,
  verbosity: Schema.Number,
  numEntities: Schema.Number,
  numConditions: Schema.Number,
  numActions: Schema.Number,
  /** how often one of the HAM's dispatcher fibers died and was replaced by its watchdog fiber */
  hamFailures: Schema.Number,
  /** how often the watchdog fiber itself died and was replaced */
  watchdogFailures: Schema.Number,
  /** how often the guardian process died and was started again (Guardian process mode) */
  guardianFailures: Schema.Number,
  /** the Guardian's state file, when the HAM has one */
  store: Schema.optional(Schema.String),
  /** "host", or "guardian" for a guardian process that took over */
  role: Schema.optional(Schema.Literal("host", "guardian")),
  /** the epoch of this HAM's lease on its store: one more than every HAM's that held it before */
  epoch: Schema.optional(Schema.Number),
  /** the guardian process watching this HAM (process mode) */
  guardianPid: Schema.optional(Schema.Number),
  /** the process the HAM runs in (QNX's `Ham Pid`); absent in a tree from a HAM before it was kept */
  hamPid: Schema.optional(Schema.Number),
  /** the spawner process that forks this HAM's children, while one runs */
  spawnerPid: Schema.optional(Schema.Number),
  global: Schema.Struct({ conditions: Schema.Array(ConditionNode) }),
  entities: Schema.Array(EntityNode),
  /** the groups (`Entity.group`), in attach order, nested ones after their parent; absent when there are none */
  groups: Schema.optional(Schema.Array(GroupNode))
})

/** @internal */
export type Tree = Api.Tree

const flag = (on: boolean, name: string) => (on ? [name] : [])

const renderAlternates = (alternates: ReadonlyArray<AlternateNode>, indent: string, out: Array<string>) => {
  for (const alt of alternates) {
    out.push(`${indent}else: ${alt.summary}`)
    renderAlternates(alt.alternates, indent + "  ", out)
  }
}

const renderConditions = (conditions: ReadonlyArray<ConditionNode>, indent: string, out: Array<string>) => {
  conditions.forEach((cond, i) => {
    const last = i === conditions.length - 1
    const flags = [
      ...flag(!cond.enabled, "disabled"),
      ...flag(cond.independent, "independent"),
      ...flag(cond.noWait, "noWait"),
      cond.oneShot ? "oneShot" : "rearm"
    ]
    const filter = cond.filter === undefined ? "" : ` ${cond.filter}`
    const branch = last ? "└─" : "├─"
    out.push(`${indent}${branch} ${cond.name} [${cond.type}${filter}] (${flags.join(", ")}) fired ${cond.fired}`)
    const inner = indent + (last ? "   " : "│  ")
    cond.actions.forEach((action, j) => {
      const aflags = [
        ...flag(!action.enabled, "disabled"),
        ...flag(action.breakOnFail, "breakOnFail"),
        ...flag(action.removeOnFail, "removeOnFail"),
        ...flag(action.oneShot, "oneShot"),
        ...flag(action.doNow === true, "doNow")
      ]
      const lastAction = j === cond.actions.length - 1
      out.push(
        `${inner}${lastAction ? "└─" : "├─"} ${action.name}: ${action.summary}` +
          (aflags.length > 0 ? ` (${aflags.join(", ")})` : "") +
          ` runs ${action.runs} failures ${action.failures}` +
          (action.lastFailure === undefined ? "" : ` (last: ${action.lastFailure.split("\n")[0]})`)
      )
      if (action.restartLine !== undefined) {
        out.push(`${inner}${lastAction ? "     " : "│    "}restart line: ${action.restartLine}`)
      }
      renderAlternates(action.alternates, inner + (lastAction ? "     " : "│    "), out)
      for (const failAction of action.onFail ?? []) {
        out.push(`${inner}${lastAction ? "     " : "│    "}on fail: ${failAction.name}: ${failAction.summary}`)
        renderAlternates(failAction.alternates, inner + (lastAction ? "       " : "│      "), out)
      }
    })
  })
}

/** @internal a size in bytes in at most 5 columns, as `ls -h` shows it: 512B, 9.8K, 12M, 1.2G */
export const formatBytes = (n: number): string => {
  const units = ["B", "K", "M", "G", "T"]
  let value = n
  let unit = 0
  while (value >= 999.5 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${Math.round(value)}B` : `${value < 9.95 ? value.toFixed(1) : Math.round(value)}${units[unit]}`
}

/** @internal renders the tree as text, in the spirit of `ls -R /proc/ham` */
export const render = (tree: Tree): string => {
  const out: Array<string> = [
    `/proc/ham  entities ${tree.numEntities}  conditions ${tree.numConditions}  actions ${tree.numActions}` +
    `  verbosity ${tree.verbosity}` +
    (tree.hamPid === undefined ? "" : `  ham pid ${tree.hamPid}`) +
    (tree.hamFailures + tree.watchdogFailures + tree.guardianFailures > 0
      ? `  ham failures ${tree.hamFailures}  watchdog failures ${tree.watchdogFailures}` +
        `  guardian failures ${tree.guardianFailures}`
      : "") +
    (tree.store === undefined ? "" : `  store ${tree.store}`) +
    (tree.epoch === undefined ? "" : ` (epoch ${tree.epoch})`) +
    (tree.role === "guardian" ? "  (a guardian that took over)" : "") +
    (tree.guardianPid === undefined ? "" : `  guardian pid ${tree.guardianPid}`) +
    (tree.spawnerPid === undefined ? "" : `  spawner pid ${tree.spawnerPid}`)
  ]
  if (tree.global.conditions.length > 0) {
    out.push(`* (global)`)
    renderConditions(tree.global.conditions, "  ", out)
  }
  for (const entity of tree.entities) {
    const s = entity.stats
    const pid = entity.pid === undefined ? "" : ` pid ${entity.pid}`
    out.push(
      `${entity.name}  ${entity.kind} ${entity.status}${
        entity.enabled ? "" : " (disabled)"
      }${pid}  state ${entity.state}` +
        `  deaths ${s.deaths} (abnormal ${s.abnormalDeaths})  restarts ${s.restarts}` +
        (entity.heartbeat === undefined
          ? ""
          : `  heartbeats ${s.heartbeats} missed low/high ${s.missedLow}/${s.missedHigh}` +
            (entity.heartbeat.unhealthy ? " UNHEALTHY" : "")) +
        (entity.cpu === undefined ? "" : `  cpu ${entity.cpu.toFixed(1)}%`) +
        (entity.rss === undefined ? "" : `  rss ${formatBytes(entity.rss)}`)
    )
    if (entity.probe !== undefined) {
      const p = entity.probe
      out.push(
        `  probe ${p.target} every ${p.intervalMillis} ms: ${p.probes} run, ${p.failures} failed` +
          (p.missed > 0 ? `, ${p.missed} in a row` : "") + (p.unhealthy ? " UNHEALTHY" : "")
      )
    }
    if (s.lastDeath !== undefined) out.push(`  last death: ${s.lastDeath.split("\n")[0]}`)
    renderConditions(entity.conditions, "  ", out)
  }
  for (const group of tree.groups ?? []) {
    out.push(
      `group ${group.name}${group.parent === undefined ? "" : ` (in ${group.parent})`}  ${group.strategy} ` +
        `${group.status}  restarts ${group.restarts} (at most ${group.maxRestarts} in ${group.withinMillis} ms)` +
        (group.autoShutdown === "never" ? "" : `  autoShutdown ${group.autoShutdown}`)
    )
    for (const m of group.members) {
      const notes = [
        ...flag(m.kind === "group", "group"),
        ...flag(m.restart !== "permanent", m.restart),
        ...flag(m.significant, "significant"),
        ...flag(m.dependsOn.length > 0, `after ${m.dependsOn.join(", ")} (on restart: ${m.onDependencyRestart})`)
      ]
      out.push(`  ${m.name}${notes.length === 0 ? "" : `  ${notes.join("; ")}`}`)
    }
  }
  return out.join("\n")
}
