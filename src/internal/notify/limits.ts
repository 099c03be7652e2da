/**
 * The limits of the notify channel, which no child can push the HAM past: how many connections a
 * notify socket keeps open (per entity, and in all for one HAM), and how often what children do
 * wrong (malformed lines, refused connections) reaches the log. The rules are pure functions of
 * the time they are given; `server.ts` applies them. The protocol's own limits (a line is at most
 * 4096 bytes) are in `protocol.ts`.
 *
 * @internal
 */
import * as fs from "node:fs"

// ---------------------------------------------------------------------------------------------
// connections
// ---------------------------------------------------------------------------------------------

/** @internal the most connections one notify socket (one entity) keeps open at once */
export const MaxConnectionsPerSocket = 8

/**
 * The connections open at once on all the notify sockets of one HAM: a count its servers share
 * (mutable: the servers change it in their sockets' callbacks), and the most it may reach.
 *
 * @internal
 */
export interface ConnectionBudget {
  readonly max: number
  open: number
}

/** @internal */
export const makeConnectionBudget = (max: number): ConnectionBudget => ({ max, open: 0 })

/** the total cap when the open-file limit cannot be read */
const FallbackTotal = 1024

/**
 * The total cap for an open-file limit: half of it (the other half is for the HAM's own files,
 * pipes and listening sockets), at least 256 and at most 16,384.
 *
 * @internal
 */
export const totalConnectionsFor = (openFiles: number): number =>
  Math.min(16_384, Math.max(256, Math.floor(openFiles / 2)))

/**
 * The soft open-file limit of a `/proc/<pid>/limits` text: a number, `Infinity` for
 * "unlimited", `undefined` when the line is missing.
 *
 * @internal
 */
export const parseOpenFilesLimit = (text: string): number | undefined => {
  const line = /^Max open files\s+(\S+)/m.exec(text)
  if (line === null) return undefined
  if (line[1] === "unlimited") return Infinity
  const n = Number(line[1])
  return Number.isSafeInteger(n) && n > 0 ? n : undefined
}

/**
 * The total cap of this process: `totalConnectionsFor` its soft open-file limit (read once per
 * HAM from `/proc/self/limits`), or 1024 when that cannot be read.
 *
 * @internal
 */
export const defaultTotalConnections = (): number => {
  let openFiles: number | undefined
  try {
    openFiles = parseOpenFilesLimit(fs.readFileSync("/proc/self/limits", "utf8"))
  } catch {
    openFiles = undefined
  }
  return openFiles === undefined ? FallbackTotal : totalConnectionsFor(openFiles)
}

// ---------------------------------------------------------------------------------------------
// the log rate
// ---------------------------------------------------------------------------------------------

/** @internal how many reports of one notify socket are logged: `burst` per interval, then a summary */
export interface LogRate {
  readonly burst: number
  readonly intervalMillis: number
}

/** @internal 5 reports per 10 seconds, then one summary */
export const DefaultLogRate: LogRate = { burst: 5, intervalMillis: 10_000 }

/** @internal what a report is about */
export type Report = "line" | "connection"

/**
 * The reports of one interval: when it started, how many were logged, and how many of each kind
 * were only counted (for the summary at its end).
 *
 * @internal
 */
export interface LogWindow {
  readonly start: number
  readonly logged: number
  readonly lines: number
  readonly connections: number
}

/** @internal no interval under way: the next report starts one */
export const idleWindow: LogWindow = { start: Number.NEGATIVE_INFINITY, logged: 0, lines: 0, connections: 0 }

/** @internal what `admit` decides */
export interface Admission {
  readonly window: LogWindow
  /** log this report */
  readonly log: boolean
  /** set on the first report of the interval that is not logged: when its summary is due */
  readonly summaryAt: number | undefined
}

/**
 * A report at `now`: the first `burst` reports of an interval are logged, the others are counted
 * for the summary logged at the interval's end. An interval starts with a report when the last
 * one is over and nothing waits for its summary; the summary ends an interval where reports were
 * dropped (see `summarize`). So at most `burst + 1` lines per interval of the limiter reach the
 * log, and at most `2 × burst + 1` in any stretch of time of one interval.
 *
 * @internal
 */
export const admit = (rate: LogRate, window: LogWindow, now: number, report: Report): Admission => {
  const dropped = window.lines + window.connections
  const current = dropped === 0 && now >= window.start + rate.intervalMillis
    ? { start: now, logged: 0, lines: 0, connections: 0 }
    : window
  if (current.logged < rate.burst) {
    return { window: { ...current, logged: current.logged + 1 }, log: true, summaryAt: undefined }
  }
  return {
    window: report === "line"
      ? { ...current, lines: current.lines + 1 }
      : { ...current, connections: current.connections + 1 },
    log: false,
    summaryAt: dropped === 0 ? current.start + rate.intervalMillis : undefined
  }
}

const counted = (n: number, what: string): string => `${n} ${what}${n === 1 ? "" : "s"}`

/**
 * The summary of an interval where reports were dropped, and the window after it: a new interval
 * starts at `now`.
 *
 * @internal
 */
export const summarize = (
  rate: LogRate,
  window: LogWindow,
  now: number
): { readonly message: string; readonly window: LogWindow } => {
  const parts = [
    ...(window.lines > 0 ? [counted(window.lines, "malformed line")] : []),
    ...(window.connections > 0 ? [counted(window.connections, "refused connection")] : [])
  ]
  return {
    message: `notify: not logged in the last ${rate.intervalMillis / 1000} s: ${parts.join(", ")}`,
    window: { start: now, logged: 0, lines: 0, connections: 0 }
  }
}
