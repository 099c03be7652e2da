/**
 * What `ham top` shows: one frame of the HAM's view (a header, the entity table of `ham ls`, the
 * last events), as lines fitted to a terminal of `columns` × `rows`. Pure functions of the tree,
 * the events seen and the size; the terminal side (the alternate screen, the keys, the refresh)
 * is `screen.ts`.
 *
 * @internal
 */
import type * as cond from "../condition.js"
import type * as tree_ from "../tree.js"
import * as view from "./view.js"
import * as width_ from "./width.js"

/** @internal the size of a terminal that does not say its own (a pipe, a file) */
export const defaultSize = { columns: 80, rows: 24 } as const

/** @internal how many events `ham top` keeps for its feed: more than any terminal's rows */
export const keptEvents = 500

/** @internal what one frame is made of */
export interface Input {
  readonly tree: tree_.Tree
  /** the events seen since `ham top` started, oldest first (the last `keptEvents` of them) */
  readonly events: ReadonlyArray<cond.ConditionEvent>
  /** events per second over the last `rateWindow`; undefined before it can be told */
  readonly rate?: number | undefined
  /** how long the HAM has run (milliseconds), when known */
  readonly uptime?: number | undefined
  /** which HAM: its socket or its address */
  readonly address: string
  /** the uptime of a local process, for a tree without `startedAt` (as `ham ls`) */
  readonly uptimeOf?: ((pid: number) => number | undefined) | undefined
  readonly columns: number
  readonly rows: number
}

/** @internal the events kept after `more` arrived: the last `keptEvents` */
export const keep = (
  events: ReadonlyArray<cond.ConditionEvent>,
  more: ReadonlyArray<cond.ConditionEvent>
): ReadonlyArray<cond.ConditionEvent> => {
  const all = events.concat(more)
  return all.length > keptEvents ? all.slice(all.length - keptEvents) : all
}

/** @internal how many events had been seen at a time (milliseconds) */
export interface Sample {
  readonly at: number
  readonly seen: number
}

/** @internal the events' rate is measured over this window */
export const rateWindow = 10_000

/**
 * The samples kept after one more (those of the last `rateWindow`, and the one before them), and
 * the events per second they say: undefined until two samples are apart.
 *
 * @internal
 */
export const sample = (
  samples: ReadonlyArray<Sample>,
  next: Sample
): { readonly samples: ReadonlyArray<Sample>; readonly rate: number | undefined } => {
  const all = [...samples, next]
  const first = Math.max(0, all.findIndex((s) => s.at >= next.at - rateWindow) - 1)
  const kept = all.slice(first)
  const oldest = kept[0]
  return {
    samples: kept,
    rate: next.at > oldest.at ? ((next.seen - oldest.seen) * 1000) / (next.at - oldest.at) : undefined
  }
}

/** "0.4/s", "12/s", "1.2M/s" */
const rateText = (rate: number): string =>
  rate < 10 ? `${(Math.round(rate * 10) / 10).toFixed(1)}/s` : `${view.count(Math.round(rate))}/s`

/** @internal a time of day, on this machine's clock: "18:02:11" */
export const clock = (millis: number): string => {
  const d = new Date(millis)
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, "0")).join(":")
}

/**
 * The header: how many entities run of all, the HAM's uptime, the events' rate, the time of the
 * tree, and which HAM; an address too long for the columns loses its middle (its end names the socket).
 *
 * @internal
 */
export const header = (input: Input): string => {
  const running = input.tree.entities.filter((e) => e.status === "running").length
  const head = [
    `ham top  ${running}/${input.tree.entities.length} running`,
    ...(input.uptime === undefined ? [] : [`up ${view.ago(input.uptime)}`]),
    `events ${input.rate === undefined ? "-" : rateText(input.rate)}`,
    clock(input.tree.time)
  ].join("  ")
  const room = input.columns - width_.width(head) - 2
  return room < 8 ? head : `${head}  ${width_.elide(input.address, room, "middle")}`
}

/**
 * What an event says beside its time, entity and type: a death's signal or exit code, a restart's
 * count (the feeds of `ham top` and `ham web`).
 *
 * @internal
 */
export const detail = (event: cond.ConditionEvent): string => {
  switch (event._tag) {
    case "CondDeath":
    case "CondAbnormalDeath":
      return [...(event.pid === undefined ? [] : [`pid ${event.pid}`]), view.shortDeath(event.reason)].join(" ")
    case "CondRestart":
      return [`restart ${event.restarts}`, ...(event.pid === undefined ? [] : [`pid ${event.pid}`])].join(" ")
    default:
      return view.eventFields(event).join(" ")
  }
}

/**
 * One event of the feed in at most `columns` columns: its time, its entity (a long name loses its
 * middle, as in the table), its type without `Cond`, and what it says.
 *
 * @internal
 */
export const eventLine = (event: cond.ConditionEvent, columns: number): string => {
  const name = width_.elide(event.entity, Math.max(8, Math.min(24, Math.floor(columns / 4))), "middle")
  const line = [clock(event.time), name, event._tag.replace(/^Cond/, ""), detail(event)].join(" ").trimEnd()
  return width_.elide(line, columns)
}

/** the feed keeps at least this many rows when the table is long */
const feedMin = 3

/**
 * The frame: at most `rows` lines of at most `columns` columns each. The header, a blank line,
 * the table (cut to leave the feed `feedMin` lines, its last line then saying how many entities
 * are not shown), a blank line, the feed's title and its newest events, oldest first, as many as
 * fit.
 *
 * @internal
 */
export const frame = (input: Input): ReadonlyArray<string> => {
  const columns = Math.max(1, input.columns)
  const rows = Math.max(1, input.rows)
  const table = view.table(input.tree, input.uptimeOf, columns).split("\n")
  // the header and a blank line; then a blank line and the feed's title, and its rows
  const room = Math.max(2, rows - 2 - 2 - feedMin)
  const shown = table.length <= room
    ? table
    : [...table.slice(0, room - 1), `… ${table.length - (room - 1)} more entities (ham ls shows them all)`]
  const feedRows = Math.max(0, rows - 2 - shown.length - 2)
  const events = input.events.slice(Math.max(0, input.events.length - feedRows))
  const feed = feedRows === 0 ? [] : [
    "",
    `EVENTS (the newest last)`,
    ...(events.length === 0 ? ["(none since ham top started: the HAM keeps no history)"] : []),
    ...events.map((e) => eventLine(e, columns))
  ]
  return [header(input), "", ...shown, ...feed].slice(0, rows).map((line) => width_.elide(line, columns))
}
