/**
 * What the `ham` CLI prints: the `ham ls` table (80 columns), the `ham cat` view of one node, one
 * line per event. Pure functions of the tree and the events.
 *
 * @internal
 */
import * as fs from "node:fs"
import type * as cond from "../condition.js"
import * as tree_ from "../tree.js"
import * as width_ from "./width.js"

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
 * undefined when the pid is not a process of this machine. `ham ls` falls back on it for a HAM
 * whose tree has no `startedAt` (an older one, on this machine).
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

/** @internal a count in at most 6 columns: 12345, 1.2M, 3.4G */
export const count = (n: number): string =>
  n < 1_000_000 ? String(n) : n < 999_950_000 ? `${(n / 1e6).toFixed(1)}M` : `${(n / 1e9).toFixed(1)}G`

/** @internal a death reason in a few characters: "SIGKILL", "exit 1" */
export const shortDeath = (reason: string): string =>
  reason.split("\n")[0].replace(/^killed by /, "").replace(/^exited with (?:exit )?code /, "exit ")

/** @internal one entity as `ham ls` shows it: its name, its short cells (`shortColumns`), its last death */
export interface Row {
  readonly name: string
  /** kind, pid, state (`(off)` when disabled, `!` when its heartbeat is unhealthy), uptime, restarts, deaths */
  readonly short: ReadonlyArray<string>
  readonly last: string
}

/**
 * The cells of each entity, as `ham ls`, `ham top` and `ham web` show them. The uptime of a running
 * entity is the tree's time less the start of its current life (`startedAt`, on the HAM's clock, so
 * it reads the same over TCP); `uptimeOf` is asked only when the tree has none.
 *
 * @internal
 */
export const rows = (
  tree: tree_.Tree,
  uptimeOf: (pid: number) => number | undefined = () => undefined
): ReadonlyArray<Row> => {
  const usage = hasUsage(tree)
  return tree.entities.map((e) => {
    const uptime = e.status !== "running"
      ? undefined
      : e.startedAt !== undefined
      ? tree.time - e.startedAt
      : e.pid === undefined
      ? undefined
      : uptimeOf(e.pid)
    const state = e.enabled ? e.status : `${e.status}(off)`
    return {
      name: e.name,
      short: [
        e.kind,
        e.pid === undefined ? "-" : String(e.pid),
        e.heartbeat?.unhealthy ? `${state}!` : state,
        uptime === undefined ? "-" : ago(uptime),
        ...(usage
          ? [e.cpu === undefined ? "-" : percent(e.cpu), e.rss === undefined ? "-" : tree_.formatBytes(e.rss)]
          : []),
        count(e.stats.restarts),
        count(e.stats.deaths)
      ],
      last: e.stats.lastDeath === undefined ? "-" : shortDeath(e.stats.lastDeath)
    }
  })
}

/** the CPU and RSS columns are shown when some entity runs a process */
const hasUsage = (tree: tree_.Tree) => tree.entities.some((e) => e.cpu !== undefined || e.rss !== undefined)

/** the short columns of a tree's table */
const columnsOf = (tree: tree_.Tree) => hasUsage(tree) ? usageColumns : shortColumns

/**
 * The table of `ham ls`: one line per entity, no line longer than `width` columns. The short
 * columns take what their longest cell needs, up to a bound; the name and the last death share the
 * rest, the name first: the last death keeps the width of its header, or 40 % on a terminal too
 * narrow for that. A name too long loses its middle (`payment-…u-west-1`: its end tells it from
 * its neighbours), a last death its end. The cells are `rows`'.
 *
 * @internal
 */
export const table = (
  tree: tree_.Tree,
  uptimeOf: (pid: number) => number | undefined = () => undefined,
  width = 80
): string => {
  const cells = rows(tree, uptimeOf)
  // each short column: its header, widened to its longest cell up to its bound
  const columns = columnsOf(tree)
  const short = columns.map(([header, bound], i) =>
    cells.reduce((w, row) => Math.max(w, Math.min(bound, width_.width(row.short[i]))), header.length)
  )
  const rest = Math.max(2, width - short.reduce((n, w) => n + w + 1, 0) - 1)
  const wantName = cells.reduce((w, row) => Math.max(w, width_.width(row.name)), "NAME".length)
  const wantLast = cells.reduce((w, row) => Math.max(w, width_.width(row.last)), "LAST DEATH".length)
  // the last death keeps the width of its header ("SIGKILL", "exit 127" fit), or 40 % of the rest
  const name = Math.max(
    1,
    Math.min(wantName, Math.max(rest - wantLast, rest - "LAST DEATH".length, Math.ceil(rest * 0.6)))
  )
  const line = (first: string, cells: ReadonlyArray<string>, last: string) =>
    width_.elide(
      [
        width_.cell(first, name, "middle"),
        ...cells.map((c, i) => width_.cell(c, short[i])),
        width_.elide(last, Math.max(1, rest - name))
      ]
        .join(" ")
        .trimEnd(),
      width
    )
  return [
    line("NAME", columns.map(([header]) => header), "LAST DEATH"),
    ...cells.map((row) => line(row.name, row.short, row.last))
  ].join("\n")
}

/** the short columns of `ham ls`: header, widest cell shown */
const shortColumns: ReadonlyArray<readonly [string, number]> = [
  ["KIND", 7],
  ["PID", 7],
  ["STATE", 12],
  ["UPTIME", 6],
  ["RESTARTS", 8],
  ["DEATHS", 6]
]

/** with the CPU (percent of a core) and RSS of the processes, after the uptime */
const usageColumns: ReadonlyArray<readonly [string, number]> = [
  ...shortColumns.slice(0, 4),
  ["CPU%", 5],
  ["RSS", 5],
  ...shortColumns.slice(4)
]

/** @internal a CPU use in at most 5 columns: 0.3, 12.5, 100, 1600 */
export const percent = (cpu: number): string => cpu < 100 ? cpu.toFixed(1) : String(Math.round(cpu))

/** @internal the headers of the table's columns, as `rows` gives its cells: the name, the short ones, the last death */
export const headersOf = (tree: tree_.Tree): ReadonlyArray<string> => [
  "NAME",
  ...columnsOf(tree).map(([header]) => header),
  "LAST DEATH"
]

/** @internal the root of the tree (`/`): the HAM's own fields, without its entities */
export type RootNode = Omit<tree_.Tree, "global" | "entities">

/** @internal a node of the tree, by its path `/` or `entity[/condition[/action]]` */
export type Node =
  | { readonly _tag: "Root"; readonly node: RootNode }
  | { readonly _tag: "Entity"; readonly node: tree_.EntityNode }
  | { readonly _tag: "Condition"; readonly entity: tree_.EntityNode; readonly node: tree_.ConditionNode }
  | { readonly _tag: "Action"; readonly node: tree_.ActionNode }

/** @internal looks a path up; a message saying what was not found otherwise */
export const find = (tree: tree_.Tree, path: string): Node | string => {
  const trimmed = path.replace(/^\/+|\/+$/g, "")
  if (trimmed === "" && path.startsWith("/")) {
    const { entities: _entities, global: _global, ...root } = tree
    return { _tag: "Root", node: root }
  }
  const [name, condition, action, ...rest] = trimmed.split("/")
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
export const cat = (whole: tree_.Tree, node: Node): string => {
  // the groups are shown with the root only
  const { groups: _groups, ...tree } = whole
  switch (node._tag) {
    case "Root":
      return tree_.render({ ...whole, global: { conditions: [] }, entities: [] })
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
        `  breakOnFail ${a.breakOnFail}  removeOnFail ${a.removeOnFail}  oneShot ${a.oneShot}` +
        (a.doNow === true ? "  doNow true" : ""),
        ...(a.restartLine === undefined ? [] : [`restart line: ${a.restartLine}`]),
        ...(a.lastFailure === undefined ? [] : [`last failure: ${a.lastFailure}`]),
        ...a.alternates.map((alt) => `else: ${alt.summary}`),
        ...(a.onFail ?? []).map((f) => `on fail: ${f.name}: ${f.summary}`)
      ].join("\n")
    }
  }
}

/** @internal the fields of an event but its tag, entity, sequence and time: `reason=killed by SIGKILL` */
export const eventFields = (event: cond.ConditionEvent): ReadonlyArray<string> => {
  const { _tag: _t, entity: _e, seq: _s, time: _time, ...rest } = event as cond.ConditionEvent & Record<string, unknown>
  return Object.entries(rest)
    .filter(([, v]) => v !== undefined && !(Array.isArray(v) && v.length === 0))
    .map(([k, v]) => `${k}=${Array.isArray(v) ? JSON.stringify(v) : String(v)}`)
}

/** @internal one event on one line */
export const eventLine = (event: cond.ConditionEvent): string =>
  [new Date(event.time).toISOString(), `#${event.seq}`, event.entity, event._tag, ...eventFields(event)].join(" ")
