/**
 * The processes of a chaos run, as /proc shows them: its hosts, guardians and children (told
 * apart by their command lines), whether two processes were alive at the same instant, and the
 * end of every one of them (frozen first, so that none can start another while the others go).
 */
import { Effect } from "effect"
import * as NodeFs from "node:fs"
import { childLine } from "./names.js"

/** a live process (not a zombie) */
export interface Proc {
  readonly pid: number
  /** its arguments joined by spaces */
  readonly line: string
  /** its start time (clock ticks after boot): with the pid, what names one process */
  readonly start: number
}

const cmdline = (pid: number): string | undefined => {
  try {
    return NodeFs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter((s) => s.length > 0).join(" ")
  } catch {
    return undefined
  }
}

/** the start time of a live process (not a zombie); undefined when there is none */
export const startOf = (pid: number): number | undefined => {
  try {
    const stat = NodeFs.readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return fields[0] === "Z" || fields[0] === "X" ? undefined : Number(fields[19])
  } catch {
    return undefined
  }
}

/** true while it is the same live process */
export const alive = (proc: Proc): boolean => startOf(proc.pid) === proc.start

/** the live processes (not this one) whose command line passes `keep` */
export const scan = (keep: (line: string) => boolean): Array<Proc> => {
  const found: Array<Proc> = []
  for (const entry of NodeFs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    const pid = Number(entry)
    if (pid === process.pid) continue
    const line = cmdline(pid)
    if (line === undefined || !keep(line)) continue
    const start = startOf(pid)
    if (start !== undefined) found.push({ pid, line, start })
  }
  return found
}

/** sends a signal; false when the process is gone */
export const signal = (pid: number, name: NodeJS.Signals): boolean => {
  try {
    process.kill(pid, name)
    return true
  } catch {
    return false
  }
}

/**
 * The processes of one run: what the store's path names (hosts, guardians) and the children of
 * its entities (also in the moment between their shell and its `exec`).
 */
export const ofRun = (path: string, run: string, children: number) => {
  const lines = Array.from({ length: children }, (_, i) => childLine(run, i))
  const childOf = (line: string): number => lines.indexOf(line)
  const belongs = (line: string) =>
    line.includes(path) || lines.some((child) => line === child || line.endsWith(` ${child}`))
  const all = () => scan(belongs)
  // the host's program: its TypeScript source, or the same compiled (chaos/.build/host.js)
  const isHost = (p: Proc) => /chaos\/(\.build\/)?host\.[jt]s /.test(p.line) && p.line.includes(path)
  const isGuardian = (p: Proc) => p.line.includes("guardian/main") && p.line.includes(path)
  /** the host pid a guardian watches (its argument after the store's path) */
  const watchedBy = (p: Proc): number => {
    const args = p.line.split(" ")
    return Number(args[args.indexOf(path) + 1])
  }
  return { all, childOf, isHost, isGuardian, watchedBy }
}

/**
 * Ends every process `list` gives: all are stopped (SIGSTOP) before any is killed, so that none
 * sees another die and starts a new one, then SIGKILLed; again until none is left (bounded).
 * Returns how many it ended.
 */
export const endAll = (list: () => ReadonlyArray<Proc>): Effect.Effect<number> =>
  Effect.gen(function*() {
    let ended = 0
    for (let round = 0; round < 50; round++) {
      const procs = list()
      if (procs.length === 0) break
      for (const p of procs) signal(p.pid, "SIGSTOP")
      for (const p of procs) if (signal(p.pid, "SIGKILL")) ended++
      for (let i = 0; i < 20 && procs.some(alive); i++) yield* Effect.sleep("10 millis")
    }
    return ended
  })

/**
 * True when the processes were alive at one same instant: each is read once, then the first
 * again (same pid and start time: it lived the whole time the others were read).
 */
export const aliveTogether = (procs: ReadonlyArray<Proc>): boolean => procs.every(alive) && alive(procs[0])
