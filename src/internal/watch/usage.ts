/**
 * What a process uses: its CPU time (`utime + stime` of `/proc/<pid>/stat`, in clock ticks) and
 * its resident memory (`resident` of `/proc/<pid>/statm`, in pages), read with synchronous calls
 * (a `/proc` read costs microseconds). CPU use in percent of one core is the CPU time between two
 * samples over the time between them. The `UsageReader` service of the HAM's context replaces
 * the reader (a test gives a fake one); the rule of the limits is pure (`overStep`).
 *
 * @internal
 */
import * as Context from "effect/Context"
import * as fs from "node:fs"

/** @internal one sample of a process */
export interface Sample {
  /** CPU time used so far, in milliseconds */
  readonly cpuMillis: number
  /** resident memory in bytes */
  readonly rssBytes: number
}

/** @internal reads a process's use; undefined when it cannot be read (the process is gone) */
export interface UsageReaderService {
  readonly read: (pid: number) => Sample | undefined
}

/** @internal the usage reader in the HAM's context (default: `/proc`) */
export class UsageReader extends Context.Tag("effect-ham/UsageReader")<UsageReader, UsageReaderService>() {}

/** Linux's USER_HZ: the unit of the times in /proc/<pid>/stat on every architecture */
const ticksPerSecond = 100

let knownPageSize: number | undefined

/** the page size from the auxiliary vector (AT_PAGESZ = 6; 64-bit entries); 4096 when unknown */
const pageSize = (): number => {
  if (knownPageSize !== undefined) return knownPageSize
  knownPageSize = 4096
  try {
    const auxv = fs.readFileSync("/proc/self/auxv")
    for (let i = 0; i + 16 <= auxv.length; i += 16) {
      const key = auxv.readBigUInt64LE(i)
      if (key === BigInt(0)) break
      if (key === BigInt(6)) {
        knownPageSize = Number(auxv.readBigUInt64LE(i + 8))
        break
      }
    }
  } catch {
    // keep the common size
  }
  return knownPageSize
}

/** @internal the CPU time (ms) of a stat line: fields 14 (utime) and 15 (stime), after the comm */
export const cpuMillisOf = (stat: string): number | undefined => {
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  const utime = Number(fields[14 - 3])
  const stime = Number(fields[15 - 3])
  return Number.isFinite(utime) && Number.isFinite(stime) ? ((utime + stime) * 1000) / ticksPerSecond : undefined
}

/** @internal the resident pages of a statm line (its second field) */
export const residentPagesOf = (statm: string): number | undefined => {
  const pages = Number(statm.split(" ")[1])
  return Number.isFinite(pages) ? pages : undefined
}

/** @internal the reader of /proc */
export const procfs: UsageReaderService = {
  read: (pid) => {
    try {
      const cpuMillis = cpuMillisOf(fs.readFileSync(`/proc/${pid}/stat`, "latin1"))
      const pages = residentPagesOf(fs.readFileSync(`/proc/${pid}/statm`, "latin1"))
      return cpuMillis === undefined || pages === undefined ? undefined : { cpuMillis, rssBytes: pages * pageSize() }
    } catch {
      return undefined
    }
  }
}

/** @internal the reader of the HAM's context, or /proc */
export const readerOf = (context: Context.Context<never>): UsageReaderService =>
  Context.getOrElse(context as Context.Context<UsageReader>, UsageReader, () => procfs)

/** @internal CPU use in percent of one core between two samples `elapsedMillis` apart */
export const cpuPercent = (before: Sample, after: Sample, elapsedMillis: number): number =>
  elapsedMillis > 0 ? Math.max(0, ((after.cpuMillis - before.cpuMillis) / elapsedMillis) * 100) : 0

/** @internal consecutive samples over a limit, and whether its raise fired in this episode */
export interface OverState {
  readonly over: number
  readonly fired: boolean
}

/** @internal */
export const underLimit: OverState = { over: 0, fired: false }

/**
 * One sample against a limit: a sample over it adds one to the count, and the raise fires when
 * the count reaches `samples` (once per episode); a sample at or under it ends the episode.
 *
 * @internal
 */
export const overStep = (
  state: OverState,
  value: number,
  limit: number,
  samples: number
): { readonly state: OverState; readonly fire: boolean } => {
  if (value <= limit) return { state: underLimit, fire: false }
  const over = state.over + 1
  const fire = !state.fired && over >= samples
  return { state: { over, fired: state.fired || fire }, fire }
}
