/**
 * The start time of a process, from `/proc/<pid>/stat`: with its pid, what names one process
 * (a pid may be reused, a start time tells the processes apart).
 *
 * @internal
 */
import * as NodeFs from "node:fs"

/** @internal the start time of a live process (not a zombie), in clock ticks after boot; undefined when there is none */
export const startTimeOf = (pid: number): number | undefined => {
  try {
    const stat = NodeFs.readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    const state = fields[0]
    if (state === "Z" || state === "X" || state === "x") return undefined
    return Number(fields[19])
  } catch {
    return undefined
  }
}
