/**
 * The store's lease: at most one active HAM per store, at every instant.
 *
 * A HAM takes the lease in one LMDB write transaction (LMDB serialises writers across
 * processes), only from a holder that is gone, and with it the next epoch: a number that only
 * grows, kept in the file apart from the lease. Every write of the HAM is fenced: its transaction
 * first checks that the lease is still this HAM's, and writes nothing otherwise (the HAM then
 * stops acting: see `ham/persist.ts`). A HAM asks the same before it acts on the world (a spawn,
 * a signal: `holds`).
 *
 * The store keeps its own record of commits: a counter of every fenced commit with the epoch that
 * made it, and a record at every change of epoch (a run of commits by one epoch begins). Each
 * epoch's range of commits follows; two epochs whose ranges overlap would mean two HAMs wrote at
 * once. The chaos suite and the tests check that they never do. A commit costs one small write
 * more; a change of epoch, two.
 *
 * @internal
 */
import * as Schema from "effect/Schema"
import type { RootDatabase } from "lmdb"
import { startTimeOf } from "../procStart.js"

const leaseKey = "lease"
const epochKey = "epoch"
const commitsKey = "commits"
const epochPrefix = "epochs/"
/** the first key after every "epochs/..." */
const epochEnd = "epochs0"
const runPrefix = "runs/"
const runEnd = "runs0"

/** keys that sort as their numbers do */
const numbered = (prefix: string, n: number) => prefix + String(n).padStart(12, "0")

/** @internal who holds the store */
export interface Lease {
  readonly pid: number
  /** the holder's start time (clock ticks after boot, from /proc): a reused pid is not the holder */
  readonly startTime: number
  /** tells two HAMs of one process apart */
  readonly instance: string
  readonly role: "host" | "guardian"
  /** the fencing token: one more than the epoch of every HAM that held the store before */
  readonly epoch: number
}

const LeaseSchema = Schema.Struct({
  pid: Schema.Number,
  startTime: Schema.Number,
  instance: Schema.String,
  role: Schema.Literal("host", "guardian"),
  // leases written before fencing have none
  epoch: Schema.optionalWith(Schema.Number, { default: () => 0 })
})

const decodeLease = Schema.decodeUnknownOption(LeaseSchema)

/** @internal what the store records of one epoch: who held it, and the range of its commits */
export interface EpochRecord {
  readonly epoch: number
  readonly pid: number
  readonly role: Lease["role"]
  readonly instance: string
  /** its first and last commit (counted across epochs); absent until it commits */
  readonly first?: number | undefined
  readonly last?: number | undefined
}

/** @internal true when the lease's holder is still alive (the same process, not a reused pid) */
export const holderAlive = (lease: Lease): boolean => startTimeOf(lease.pid) === lease.startTime

/** @internal the lease in the file, as the current read transaction sees it */
export const read = (db: RootDatabase): Lease | undefined => {
  const decoded = decodeLease(db.get(leaseKey))
  return decoded._tag === "Some" ? decoded.value : undefined
}

/**
 * Takes the lease for this process in one write transaction, with the next epoch; gives the
 * lease of a live holder back instead (the store is busy).
 *
 * `from`: a takeover from the HAM of that epoch (a guardian whose host died). It takes the lease
 * only while that HAM's lease is still the store's and its holder is gone: when the store moved on
 * (another HAM took it, or the host gave it back on purpose), there is nothing to take over.
 *
 * @internal
 */
export const take = (
  db: RootDatabase,
  role: Lease["role"],
  from?: number
):
  | { readonly _tag: "Taken"; readonly lease: Lease }
  | { readonly _tag: "Busy"; readonly holder: Lease }
  | { readonly _tag: "Moved"; readonly holder: Lease | undefined } =>
  db.transactionSync(() => {
    const current = read(db)
    if (current !== undefined && holderAlive(current)) return { _tag: "Busy", holder: current } as const
    if (from !== undefined && current?.epoch !== from) return { _tag: "Moved", holder: current } as const
    const stored = db.get(epochKey)
    const epoch = Math.max(typeof stored === "number" ? stored : 0, current?.epoch ?? 0) + 1
    const lease: Lease = {
      pid: process.pid,
      startTime: startTimeOf(process.pid) ?? 0,
      instance: `${process.pid}-${Math.random().toString(36).slice(2)}`,
      role,
      epoch
    }
    db.put(epochKey, epoch)
    db.put(leaseKey, lease)
    db.put(
      epochPrefix + String(epoch).padStart(12, "0"),
      {
        epoch,
        pid: lease.pid,
        role,
        instance: lease.instance
      } satisfies EpochRecord
    )
    return { _tag: "Taken", lease } as const
  })

/** @internal true while the lease in the file is still `lease` (a fresh read) */
export const holds = (db: RootDatabase, lease: Lease): boolean => {
  db.resetReadTxn()
  return (db.get(leaseKey) as { readonly instance?: unknown } | undefined)?.instance === lease.instance
}

/**
 * The writes of a HAM holding `lease`, made by `write` in one transaction, fenced: when the lease
 * is no longer this HAM's, nothing is written and the result is false. Each commit is counted,
 * with its epoch; the first commit after another epoch's begins a run.
 *
 * @internal
 */
export const fenced = (db: RootDatabase, lease: Lease) => (write: () => void): boolean =>
  db.transactionSync(() => {
    if ((db.get(leaseKey) as { readonly instance?: unknown } | undefined)?.instance !== lease.instance) return false
    const last = db.get(commitsKey) as { readonly seq?: unknown; readonly epoch?: unknown } | undefined
    const seq = (typeof last?.seq === "number" ? last.seq : 0) + 1
    if (last?.epoch !== lease.epoch) db.put(numbered(runPrefix, seq), { epoch: lease.epoch, first: seq })
    db.put(commitsKey, { seq, epoch: lease.epoch })
    write()
    return true
  })

/** @internal gives the lease back at once, if it is still `lease` */
export const release = (db: RootDatabase, lease: Lease): void =>
  db.transactionSync(() => {
    if (read(db)?.instance === lease.instance) db.remove(leaseKey)
  })

/**
 * The store's record of epochs, oldest first: who held each, and the range of the commits it
 * made (from its first to its last commit, over all its runs).
 *
 * @internal
 */
export const epochs = (db: RootDatabase): ReadonlyArray<EpochRecord> => {
  db.resetReadTxn()
  const holders = new Map<number, EpochRecord>()
  for (const { value } of db.getRange({ start: epochPrefix, end: epochEnd })) {
    const record = value as EpochRecord
    holders.set(record.epoch, record)
  }
  const runs = [...db.getRange({ start: runPrefix, end: runEnd })].map(({ value }) =>
    value as { readonly epoch: number; readonly first: number }
  )
  const total = (db.get(commitsKey) as { readonly seq?: number } | undefined)?.seq ?? 0
  const ranges = new Map<number, { first: number; last: number }>()
  runs.forEach((run, i) => {
    const last = i + 1 < runs.length ? runs[i + 1].first - 1 : total
    const range = ranges.get(run.epoch)
    if (range === undefined) ranges.set(run.epoch, { first: run.first, last })
    else ranges.set(run.epoch, { first: Math.min(range.first, run.first), last: Math.max(range.last, last) })
  })
  return [...holders.values()].map((holder) => ({ ...holder, ...ranges.get(holder.epoch) }))
}

/**
 * Two epochs that wrote at once, from the store's record: a later epoch whose first commit comes
 * before the last commit of an earlier one. Empty when the store was never written by two HAMs at
 * once.
 *
 * @internal
 */
export const interleavings = (
  records: ReadonlyArray<EpochRecord>
): ReadonlyArray<readonly [EpochRecord, EpochRecord]> => {
  const committed = records.filter((r) => r.first !== undefined && r.last !== undefined)
  const found: Array<readonly [EpochRecord, EpochRecord]> = []
  for (let i = 0; i < committed.length; i++) {
    for (let j = i + 1; j < committed.length; j++) {
      const [a, b] = committed[i].epoch < committed[j].epoch
        ? [committed[i], committed[j]]
        : [committed[j], committed[i]]
      if (b.first! <= a.last!) found.push([a, b])
    }
  }
  return found
}
