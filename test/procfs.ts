/**
 * The `/proc` readers of the library (`src/internal/procfs.ts`), and the ones only tests use:
 * liveness by /proc, the executable, and scans of the process table (process groups,
 * descendants).
 */
import { Effect, Option } from "effect"
import * as fs from "node:fs"
import {
  canSignal,
  isLiveState,
  NoSuchProcess,
  parseStat,
  ProcfsError,
  type ProcStat,
  readLink,
  readStat
} from "../src/internal/procfs.js"

export * from "../src/internal/procfs.js"

/**
 * Whether the pid is a live process: `/proc/<pid>/stat` exists and its state is not `Z` or `X`.
 * If `stat` exists but cannot be read or parsed (an unusual `/proc` mount), falls back to
 * `canSignal`.
 */
export const isAlive = (pid: number): Effect.Effect<boolean> =>
  readStat(pid).pipe(
    Effect.map((stat) => isLiveState(stat.state)),
    Effect.catchTags({
      NoSuchProcess: () => Effect.succeed(false),
      ProcfsError: () => canSignal(pid)
    })
  )

/** The executable of the pid (`readlink /proc/<pid>/exe`); `None` when it cannot be read. */
export const readExe = (pid: number): Effect.Effect<Option.Option<string>, NoSuchProcess> => readLink(pid, "exe")

/** The pids listed in `/proc` (thread-group leaders: processes, not threads). */
export const listPids: Effect.Effect<ReadonlyArray<number>, ProcfsError> = Effect.try({
  try: () => fs.readdirSync("/proc").filter((name) => /^\d+$/.test(name)).map(Number),
  catch: (u) => new ProcfsError({ path: "/proc", reason: String(u) })
})

/** The `stat` of every process in `/proc` (processes that vanish during the scan are skipped). */
export const listProcesses: Effect.Effect<ReadonlyArray<ProcStat>, ProcfsError> = Effect.map(listPids, (pids) => {
  const stats: Array<ProcStat> = []
  for (const pid of pids) {
    let text: string
    try {
      text = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    } catch {
      continue
    }
    const stat = parseStat(text)
    if (Option.isSome(stat)) stats.push(stat.value)
  }
  return stats
})

/** The live (non-zombie) processes whose process group is `pgid`, sorted by pid. */
export const processGroupMembers = (pgid: number): Effect.Effect<ReadonlyArray<number>, ProcfsError> =>
  Effect.map(
    listProcesses,
    (stats) => stats.filter((s) => s.pgrp === pgid && isLiveState(s.state)).map((s) => s.pid).sort((a, b) => a - b)
  )

/**
 * The live (non-zombie) processes whose parent chain leads to `pid` (children, grandchildren,
 * ...), sorted by pid. `pid` itself is not included.
 */
export const descendants = (pid: number): Effect.Effect<ReadonlyArray<number>, ProcfsError> =>
  Effect.map(listProcesses, (stats) => {
    const children = new Map<number, Array<ProcStat>>()
    for (const s of stats) {
      const list = children.get(s.ppid)
      if (list === undefined) children.set(s.ppid, [s])
      else list.push(s)
    }
    const found: Array<number> = []
    const seen = new Set<number>([pid])
    const todo = [pid]
    while (todo.length > 0) {
      for (const child of children.get(todo.pop()!) ?? []) {
        if (seen.has(child.pid)) continue
        seen.add(child.pid)
        todo.push(child.pid)
        if (isLiveState(child.state)) found.push(child.pid)
      }
    }
    return found.sort((a, b) => a - b)
  })
