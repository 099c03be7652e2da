/**
 * The `StateStore` in a file: the HAM's registry, statistics and published states in one
 * memory-mapped LMDB file (the `lmdb` package), one record per entity (`ham/doc.ts`), what
 * `Guardian.layer` provides. The file holds a lease too: one active HAM per store.
 *
 * The file is checked before LMDB maps it: LMDB trusts its file, and a file that is not an LMDB
 * environment (or is cut short) can crash the process when mapped. A file that fails a check
 * gives `StoreCorrupt` and is left exactly as it was.
 *
 * @internal
 */
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { open, type RootDatabase } from "lmdb"
import * as NodeFs from "node:fs"
import { StoreBusy, StoreCorrupt } from "../../HamError.js"
import { checkDoc, type EntityDoc } from "../ham/doc.js"
import { startTimeOf } from "../procStart.js"
import { migrate } from "./format1.js"
import * as lease_ from "./lease.js"
import type { StateStoreService } from "./service.js"

/** @internal the format of the records this version writes and reads */
export const formatVersion = 2

const metaKey = "meta"
const handoverKey = "handover"
const entityPrefix = "e/"
const entityEnd = "e0" // the first key after every "e/..."

// ---------------------------------------------------------------------------------------------
// records
// ---------------------------------------------------------------------------------------------

const Meta = Schema.Struct({
  app: Schema.Literal("effect-ham"),
  format: Schema.Number
})

const decodeMeta = Schema.decodeUnknownEither(Meta)

/** @internal who holds the store: one active HAM per store (`lease.ts`) */
export type Lease = lease_.Lease

/**
 * A takeover found the store moved on: its lease is no longer the one of the HAM it was to take
 * over from (another HAM holds it, or it was given back on purpose). Only a guardian process sees
 * it; it then ends.
 *
 * @internal
 */
export class StoreMoved extends Data.TaggedError("StoreMoved")<{
  readonly path: string
  readonly holder: Lease | undefined
}> {}

// ---------------------------------------------------------------------------------------------
// the file
// ---------------------------------------------------------------------------------------------

const lmdbMagic = 0xbeefc0de
const lmdbDataVersion = 2
/** the meta record sits after the page header of the first two pages */
const metaOffset = 24

interface MetaPage {
  readonly pageSize: number
  readonly lastPage: bigint
  readonly txnId: bigint
}

const readMetaPage = (bytes: Buffer, base: number): MetaPage | string => {
  if (bytes.length < base + metaOffset + 136) return "too short for an LMDB meta page"
  const magic = bytes.readUInt32LE(base + metaOffset)
  if (magic !== lmdbMagic) return "not an LMDB file (no LMDB magic number)"
  const version = bytes.readUInt32LE(base + metaOffset + 4)
  if (version !== lmdbDataVersion) {
    return `an LMDB file of data version ${version} (this build reads ${lmdbDataVersion})`
  }
  const pageSize = bytes.readUInt32LE(base + metaOffset + 24)
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) {
    return `an LMDB file with an impossible page size (${pageSize})`
  }
  return {
    pageSize,
    lastPage: bytes.readBigUInt64LE(base + metaOffset + 120),
    txnId: bytes.readBigUInt64LE(base + metaOffset + 128)
  }
}

/**
 * Checks that a file is an LMDB environment this build can map: both meta pages carry the LMDB
 * magic number and data version, and the file holds every page its newest meta page names. An
 * empty file is accepted (LMDB initialises it). Returns the reason when it cannot be used.
 *
 * @internal
 */
export const checkFile = (path: string): string | undefined => {
  let fd: number
  try {
    fd = NodeFs.openSync(path, "r")
  } catch (e) {
    return `cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})`
  }
  try {
    const stat = NodeFs.fstatSync(fd)
    if (!stat.isFile()) return "not a regular file"
    if (stat.size === 0) return undefined
    const head = Buffer.alloc(Math.min(stat.size, 2 * 65536))
    NodeFs.readSync(fd, head, 0, head.length, 0)
    const first = readMetaPage(head, 0)
    if (typeof first === "string") return first
    const second = readMetaPage(head, first.pageSize)
    if (typeof second === "string") return `its second meta page is damaged: ${second}`
    if (second.pageSize !== first.pageSize) return "its two meta pages disagree on the page size"
    const newest = second.txnId > first.txnId ? second : first
    const needed = (newest.lastPage + 1n) * BigInt(first.pageSize)
    if (BigInt(stat.size) < needed) return `cut short: ${stat.size} bytes where its meta page needs ${needed}`
    return undefined
  } finally {
    NodeFs.closeSync(fd)
  }
}

/** creates a file (or tightens an existing lock file) with owner-only permissions */
const ownerOnly = (path: string, create: boolean): void => {
  if (create) {
    try {
      NodeFs.closeSync(NodeFs.openSync(path, "wx", 0o600))
      return
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e
    }
  }
  NodeFs.chmodSync(path, 0o600)
}

// ---------------------------------------------------------------------------------------------
// the service
// ---------------------------------------------------------------------------------------------

/** @internal the store in a file, with its lease */
export interface LmdbStore extends StateStoreService {
  readonly path: string
  /** the lease this HAM holds */
  readonly lease: Lease
  /** the lease as it is in the file now */
  readonly currentLease: () => Lease | undefined
  /** gives the lease back at once (a guardian handing the store over to its host) */
  readonly release: () => void
  /** the store's record of epochs (who held it, and the range of its commits), oldest first */
  readonly epochs: () => ReadonlyArray<lease_.EpochRecord>
  /** the pid of a host that asked for the store (see `requestHandover`), if any */
  readonly handoverRequest: () => number | undefined
}

/**
 * Asks the live HAM holding the store (a guardian that took over) to hand it over to this
 * process: a record in the file that the guardian looks for.
 *
 * @internal
 */
export const requestHandover = (path: string): Effect.Effect<void> =>
  Effect.sync(() => {
    const db = open({ path, noSubdir: true })
    try {
      db.putSync(handoverKey, { pid: process.pid })
    } finally {
      void db.close()
    }
  })

const corrupt = (path: string, reason: string) => new StoreCorrupt({ path, reason })

/**
 * Opens (or creates) the store at `path`: one LMDB file plus its `-lock` file, both owner-only.
 *
 * @internal
 */
export const openStore = (
  path: string,
  options?: {
    readonly fsync?: boolean | undefined
    readonly role?: Lease["role"] | undefined
    /** a takeover from the HAM of this epoch: only while its lease is still the store's */
    readonly takeoverOf?: number | undefined
  }
): Effect.Effect<LmdbStore, StoreCorrupt | StoreBusy | StoreMoved, Scope.Scope> =>
  Effect.gen(function*() {
    const lockPath = `${path}-lock`
    const exists = NodeFs.existsSync(path)
    if (exists) {
      // a file that another HAM is writing may be seen between the growth of its data and of
      // its meta page: a file that looks cut short is looked at again for a moment before it is
      // called damaged (a damaged file stays damaged)
      const cutShort = (reason: string | undefined) => reason?.startsWith("cut short") === true
      const look = Effect.suspend(() => {
        const reason = checkFile(path)
        return cutShort(reason) ? Effect.as(Effect.sleep("10 millis"), reason) : Effect.succeed(reason)
      })
      const reason = yield* Effect.repeat(look, { times: 30, while: cutShort })
      if (reason !== undefined) return yield* Effect.fail(corrupt(path, reason))
    }
    yield* Effect.try({
      try: () => {
        if (!exists) ownerOnly(path, true)
        ownerOnly(lockPath, true)
      },
      catch: (e) => corrupt(path, `cannot be created (${(e as NodeJS.ErrnoException).code ?? String(e)})`)
    })
    const db = yield* Effect.acquireRelease(
      Effect.try({
        // a commit is written to the file before it returns (a crash of this process loses
        // nothing committed); `fsync` also waits for the disk, for machine crashes
        try: (): RootDatabase => open({ path, noSubdir: true, noSync: options?.fsync !== true }),
        catch: (e) => corrupt(path, `LMDB cannot open it (${e instanceof Error ? e.message : String(e)})`)
      }),
      (db) => Effect.promise(() => db.close())
    )
    const meta = db.get(metaKey)
    if (meta === undefined) {
      const other = db.getKeysCount()
      if (other > 0) return yield* Effect.fail(corrupt(path, `an LMDB file of another program (${other} records)`))
      yield* Effect.try({
        try: () => db.putSync(metaKey, { app: "effect-ham", format: formatVersion }),
        catch: (e) => corrupt(path, `cannot be written (${e instanceof Error ? e.message : String(e)})`)
      })
    } else {
      const decoded = decodeMeta(meta)
      if (Either.isLeft(decoded)) return yield* Effect.fail(corrupt(path, "an LMDB file of another program"))
      if (decoded.right.format !== formatVersion && decoded.right.format !== 1) {
        return yield* Effect.fail(
          corrupt(
            path,
            `written in store format ${decoded.right.format}; this effect-ham reads format ${formatVersion}`
          )
        )
      }
    }
    // a store of format 1 is read as such; its records are written in this format from now on
    const format1 = meta !== undefined && (meta as { readonly format?: unknown }).format === 1
    const entities: Array<EntityDoc> = []
    for (const { key, value } of db.getRange({ start: entityPrefix, end: entityEnd })) {
      const decoded = checkDoc(format1 ? migrate(value) : value)
      if (Either.isLeft(decoded)) {
        return yield* Effect.fail(corrupt(path, `the record ${String(key)} is damaged: ${decoded.left}`))
      }
      entities.push(decoded.right)
    }
    // the lease: taken in one write transaction (LMDB serialises writers across processes), so
    // of two HAMs opening the store at once exactly one gets it, with the next epoch; given back
    // when the scope closes
    const taken = lease_.take(db, options?.role ?? "host", options?.takeoverOf)
    if (taken._tag === "Busy") {
      return yield* Effect.fail(new StoreBusy({ path, pid: taken.holder.pid, role: taken.holder.role }))
    }
    if (taken._tag === "Moved") return yield* Effect.fail(new StoreMoved({ path, holder: taken.holder }))
    const lease = taken.lease
    yield* Effect.addFinalizer(() => Effect.sync(() => lease_.release(db, lease)))
    // the lease gone: seen by a fenced commit, or by a look before acting
    const lost = Deferred.unsafeMake<void>(FiberId.none)
    const stillHeld = (held: boolean) => {
      if (!held) Deferred.unsafeDone(lost, Exit.void)
      return held
    }
    const write = lease_.fenced(db, lease)
    let written = 0
    const apply = (puts: ReadonlyArray<EntityDoc>, deletes: ReadonlyArray<string>) => () => {
      for (const name of deletes) db.remove(entityPrefix + name)
      for (const doc of puts) db.put(entityPrefix + doc.name, doc)
      written += puts.length + deletes.length
    }
    const service: LmdbStore = {
      path,
      keeps: true,
      entities,
      commit: (puts, deletes) => stillHeld(write(apply(puts, deletes))),
      holds: () => stillHeld(lease_.holds(db, lease)),
      lost: Deferred.await(lost),
      info: () => ({ store: path, role: lease.role, epoch: lease.epoch }),
      written: () => written,
      lease,
      currentLease: () => {
        db.resetReadTxn()
        return lease_.read(db)
      },
      epochs: () => lease_.epochs(db),
      release: () => lease_.release(db, lease),
      handoverRequest: () => {
        db.resetReadTxn()
        const request = db.get(handoverKey) as { readonly pid?: unknown } | undefined
        return typeof request?.pid === "number" && startTimeOf(request.pid) !== undefined ? request.pid : undefined
      }
    }
    if (lease.role === "host") db.removeSync(handoverKey)
    if (format1) {
      // written in this format at once, in one transaction: the file is never half of each
      write(() => {
        db.put(metaKey, { app: "effect-ham", format: formatVersion })
        apply(entities, [])()
      })
    }
    return service
  })
