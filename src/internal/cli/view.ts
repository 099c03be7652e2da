/**
 * What the `ham` CLI prints: the `ham ls` table (80 columns), the `ham cat` view of one node, one
 * line per event. Pure functions of the tree and the events.
 *
 * @internal
 */
import * as fs from "node:fs"
import type * as cond from "../condition.js"
import * as tree_ from "../tree.js"

const clip = (s: string, width: number) => (s.length <= width ? s.padEnd(width) : `${s.slice(0, width - 1)}…`)

/** @internal "3s", "5m", "2h", "4d" */
export const ago = (millis: number): string => {
  const s = Math.max(0, Math.floor(millis / 1000))
  return s < 60 ?
    `${s}s` :
    s < 3600 ?
    `${Math.floor(s / 60)}m` :
    s < 86400 ?
    `${Math.floor(s / 3600)}h` :
    `${Math.floor(s / 86400)}d`
}

/**
 * How long a local process has run, from `/proc` (its start time after boot against the uptime);
 * undefined when the pid is not a process of this machine.
 *
 * @internal
 */
export const localUptime = (pid: number): number | undefined => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    const startTicks = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19])
    const uptime = Number(fs.readFileSync("/proc/uptime", "utf8").split(" ")[0])
    return Number.isFinite(startTicks) && Number.isFinite(uptime) ? uptime * 1000 - startTicks * 10 : undefined
  } catch {
    return undefined
  }
}

const columns = [
  ["NAME", 14],
  ["KIND", 7],
  ["PID", 7],
  ["STATE", 10],
  ["UPTIME", 6],
  ["RESTARTS", 8],
  ["DEATHS", 6]
] as const

/** @internal a death reason in a few characters: "SIGKILL", "exit 1" */
export const shortDeath = (reason: string): string =>
  reason.split("\n")[0].replace(/^killed by /, "").replace(/^exited with (?:exit )?code /, "exit ")

/** @internal the table of `ham ls`: one line per entity, at most `width` columns */
export const table = (
  tree: tree_.Tree,
  uptimeOf: (pid: number) => number | undefined = () => undefined,
  width = 80
): string => {
  const used = columns.reduce((n, [, w]) => n + w + 1, 0)
  const lastWidth = Math.max(10, width - used)
  const head = columns.map(([h, w]) => h.padEnd(w)).join(" ") + " " + "LAST DEATH"
  const rows = tree.entities.map((e) => {
    const uptime = e.pid === undefined || e.status !== "running" ? undefined : uptimeOf(e.pid)
    const state = e.enabled ? e.status : `${e.status}(off)`
    const last = e.stats.lastDeath === undefined ? "-" : shortDeath(e.stats.lastDeath)
    const cells = [
      clip(e.name, 14),
      clip(e.kind, 7),
      clip(e.pid === undefined ? "-" : String(e.pid), 7),
      clip(e.heartbeat?.unhealthy ? `${state}!` : state, 10),
      clip(uptime === undefined ? "-" : ago(uptime), 6),
      clip(String(e.stats.restarts), 8),
      clip(String(e.stats.deaths), 6),
      clip(last, lastWidth).trimEnd()
    ]
    return cells.join(" ").trimEnd()
  })
  return [head, ...rows].join("\n")
}

/** @internal a node of the tree, by its path `entity[/condition[/action]]` */
export type Node =
  | { readonly _tag: "Entity"; readonly node: tree_.EntityNode }
  | { readonly _tag: "Condition"; readonly entity: tree_.EntityNode; readonly node: tree_.ConditionNode }
  | { readonly _tag: "Action"; readonly node: tree_.ActionNode }

/** @internal looks a path up; a message saying what was not found otherwise */
export const find = (tree: tree_.Tree, path: string): Node | string => {
  const [name, condition, action, ...rest] = path.replace(/^\/+|\/+$/g, "").split("/")
  if (rest.length > 0 || name === undefined || name === "") return `not a path: "${path}"`
  const entity = tree.entities.find((e) => e.name === name)
  if (entity === undefined) return `no entity "${name}"`
  if (condition === undefined) return { _tag: "Entity", node: entity }
  const c = entity.conditions.find((c) => c.name === condition)
  if (c === undefined) return `no condition "${condition}" on "${name}"`
  if (action === undefined) return { _tag: "Condition", entity, node: c }
  const a = c.actions.find((a) => a.name === action)
  return a === undefined ? `no action "${action}" in "${name}/${condition}"` : { _tag: "Action", node: a }
}

/** @internal the text of `ham cat` */
export const cat = (tree: tree_.Tree, node: Node): string => {
  switch (node._tag) {
    case "Entity":
      return tree_.render({ ...tree, global: { conditions: [] }, entities: [node.node] }).split("\n").slice(1).join(
        "\n"
      )
    case "Condition":
      return tree_.render({
        ...tree,
        global: { conditions: [] },
        entities: [{ ...node.entity, conditions: [node.node] }]
      }).split("\n").slice(1).filter((l) => !l.startsWith("  last death")).join("\n")
    case "Action": {
      const a = node.node
      return [
        `${a.path}  ${a.type}: ${a.summary}`,
        `enabled ${a.enabled}  runs ${a.runs}  failures ${a.failures}` +
        `  breakOnFail ${a.breakOnFail}  removeOnFail ${a.removeOnFail}  oneShot ${a.oneShot}`,
        ...(a.lastFailure === undefined ? [] : [`last failure: ${a.lastFailure}`]),
        ...a.alternates.map((alt) => `else: ${alt.summary}`)
      ].join("\n")
    }
  }
}

/** @internal one event on one line */
export const eventLine = (event: cond.ConditionEvent): string => {
  const { _tag, entity, seq, time, ...rest } = event as cond.ConditionEvent & Record<string, unknown>
  const fields = Object.entries(rest)
    .filter(([, v]) => v !== undefined && !(Array.isArray(v) && v.length === 0))
    .map(([k, v]) => `${k}=${Array.isArray(v) ? JSON.stringify(v) : String(v)}`)
  return [new Date(time).toISOString(), `#${seq}`, entity, _tag, ...fields].join(" ")
}
