/**
 * The `StateStore` in a file: the HAM's registry, statistics and published states in one
 * memory-mapped LMDB file (the `lmdb` package), one record per entity (`ham/doc.ts`), what
 * `Guardian.layer` provides. The file holds a lease too: one active HAM per store.
 *
 * The paths and the file are checked before LMDB is given them (`check.ts`, `probe.ts`): LMDB
 * follows links, creates and writes what it is given, and trusts its file (a damaged one can crash
 * the process that maps it). A path it may not use gives `StoreUnavailable`, a file that is not a
 * sound store `StoreCorrupt`, and the file is left exactly as it was.
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
import * as NodeOs from "node:os"
import { StoreBusy, StoreCorrupt, StoreUnavailable } from "../../HamError.js"
import { checkDoc, type EntityDoc } from "../ham/doc.js"
import { startTimeOf } from "../procStart.js"
import * as check from "./check.js"
import { migrate } from "./format1.js"
import * as lease_ from "./lease.js"
import type { Standby } from "./probe.js"
import type { LaunchIntent, StateStoreService } from "./service.js"

/** @internal the format of the records this version writes and reads */
export const formatVersion = 2

const metaKey = "meta"
const handoverKey = "handover"
const entityPrefix = "e/"
const entityEnd = "e0" // the first key after every "e/..."
const launchPrefix = "l/"
const launchEnd = "l0"

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
  Effect.acquireUseRelease(
    Effect.sync(() => open({ path, noSubdir: true })),
    (db) => Effect.sync(() => db.putSync(handoverKey, { pid: process.pid })),
    // closed before the next open of the store: an environment still open would be shared with it
    (db) => Effect.promise(() => db.close())
  )

const corrupt = (path: string, reason: string) => new StoreCorrupt({ path, reason })

/** an error's message, for a reason: what a damaged record holds may be in it, so control
 * characters are escaped and it is cut at 200 characters */
const messageOf = (e: unknown): string => {
  const text = e instanceof Error ? e.message : String(e)
  const cut = text.length > 200 ? `${text.slice(0, 200)}...` : text
  return Array.from(cut, (c) => {
    const code = c.charCodeAt(0)
    return code < 0x20 || code === 0x7f ? `\\u${code.toString(16).padStart(4, "0")}` : c
  }).join("")
}

/**
 * LMDB could not open a file that passed the checks: an LMDB error code (negative) says the file
 * is at fault, an errno (positive) that the system is (no memory for the map, no space, ...).
 */
const openFailed = (path: string, e: unknown): StoreCorrupt | StoreUnavailable => {
  const reason = `LMDB cannot open it (${messageOf(e)})`
  const code = (e as { readonly code?: unknown } | undefined)?.code
  if (typeof code === "number" && code < 0) return corrupt(path, reason)
  const name = Object.entries(NodeOs.constants.errno).find(([, n]) => n === code)?.[0]
  return new StoreUnavailable(name === undefined ? { path, reason } : { path, reason, code: name })
}

/**
 * The store's own records, read once it is open: its meta record (written into an empty file), and
 * its entities. A record that does not read back or is not what this effect-ham wrote gives
 * `StoreCorrupt`.
 */
const readRecords = (db: RootDatabase, path: string) =>
  Effect.gen(function*() {
    const read = <A>(what: string, f: () => A) =>
      Effect.try({ try: f, catch: (e) => corrupt(path, `${what} cannot be read (${messageOf(e)})`) })
    const meta: unknown = yield* read("its meta record", () => db.get(metaKey))
    if (meta === undefined) {
      const other = yield* read("its records", () => db.getKeysCount())
      if (other > 0) return yield* Effect.fail(corrupt(path, `an LMDB file of another program (${other} records)`))
      yield* Effect.try({
        try: () => db.putSync(metaKey, { app: "effect-ham", format: formatVersion }),
        catch: (e) => new StoreUnavailable({ path, reason: `it cannot be written (${messageOf(e)})` })
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
    const records: Array<{ readonly key: unknown; readonly value: unknown }> = []
    yield* read("its entity records", () => {
      try {
        for (const record of db.getRange({ start: entityPrefix, end: entityEnd })) records.push(record)
      } catch (e) {
        const after = records.at(-1)?.key
        throw new Error(`${after === undefined ? "the first" : `the one after ${String(after)}`}: ${messageOf(e)}`)
      }
    })
    const entities: Array<EntityDoc> = []
    for (const { key, value } of records) {
      const decoded = checkDoc(format1 ? migrate(value) : value)
      if (Either.isLeft(decoded)) {
        return yield* Effect.fail(corrupt(path, `the record ${String(key)} is damaged: ${decoded.left}`))
      }
      if (key !== entityPrefix + decoded.right.name) {
        const holds = JSON.stringify(decoded.right.name)
        return yield* Effect.fail(corrupt(path, `the record ${String(key)} is damaged: it holds the entity ${holds}`))
      }
      entities.push(decoded.right)
    }
    // the launch intents: children an earlier HAM started and never recorded (one that does not
    // read as an intent is dropped with the others once the HAM has settled them)
    const launches: Array<LaunchIntent> = []
    yield* read("its launch records", () => {
      for (const { key, value } of db.getRange({ start: launchPrefix, end: launchEnd })) {
        const entity = (value as { readonly entity?: unknown } | undefined)?.entity
        const id = String(key).slice(launchPrefix.length)
        launches.push({ id, entity: typeof entity === "string" ? entity : "" })
      }
    })
    return { format1, entities, launches }
  })

/**
 * Opens (or creates) the store at `path`: one LMDB file plus its `-lock` file, both owner-only.
 * The paths and the file are checked first (`check.prepare`); `probe: false` skips the probe of
 * the file's pages (a retry on a file that was probed a moment ago and is written by a live HAM),
 * `standby` is a probe started ahead to use.
 *
 * @internal
 */
export const openStore = (
  path: string,
  options?: {
    readonly fsync?: boolean | undefined
    readonly role?: Lease["role"] | undefined
    readonly probe?: boolean | undefined
    /** a takeover from the HAM of this epoch: only while its lease is still the store's */
    readonly takeoverOf?: number | undefined
    readonly standby?: Standby | undefined
  }
): Effect.Effect<LmdbStore, StoreCorrupt | StoreBusy | StoreUnavailable | StoreMoved, Scope.Scope> =>
  Effect.gen(function*() {
    const { createdLock } = yield* check.prepare(path, { probe: options?.probe !== false, standby: options?.standby })
    // a file LMDB opened that is refused after all gets no lock file this open created beside it
    // (removed once LMDB has closed it; not for StoreBusy: the HAM that holds the store uses it)
    let refused = false
    yield* Effect.addFinalizer(() => refused && createdLock ? check.removeCreatedLock(path) : Effect.void)
    const db = yield* Effect.acquireRelease(
      Effect.try({
        // a commit is written to the file before it returns (a crash of this process loses
        // nothing committed); `fsync` also waits for the disk, for machine crashes
        try: (): RootDatabase => open({ path, noSubdir: true, noSync: options?.fsync !== true }),
        catch: (e) => openFailed(path, e)
      }),
      // what this process leaves in the file need not be probed when it opens it again
      (db) => Effect.zipRight(Effect.promise(() => db.close()), check.rememberClosed(path))
    )
    const { entities, format1, launches } = yield* readRecords(db, path).pipe(
      Effect.tapError((e) => Effect.sync(() => refused = e._tag === "StoreCorrupt"))
    )
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
    const apply = (
      puts: ReadonlyArray<EntityDoc>,
      deletes: ReadonlyArray<string>,
      settled: ReadonlyArray<string> = []
    ) =>
    () => {
      for (const name of deletes) db.remove(entityPrefix + name)
      for (const doc of puts) db.put(entityPrefix + doc.name, doc)
      for (const id of settled) db.remove(launchPrefix + id)
      written += puts.length + deletes.length
    }
    const service: LmdbStore = {
      path,
      keeps: true,
      entities,
      launches,
      commit: (puts, deletes, settled) => stillHeld(write(apply(puts, deletes, settled))),
      intend: (intent) => stillHeld(write(() => db.put(launchPrefix + intent.id, { entity: intent.entity }))),
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
