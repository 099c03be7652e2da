/**
 * The Guardian's state store: the HAM's registry, statistics and published states in one
 * memory-mapped LMDB file (the `lmdb` package), one record per entity.
 *
 * The file is checked before LMDB maps it: LMDB trusts its file, and a file that is not an LMDB
 * environment (or is cut short) can crash the process when mapped. A file that fails a check
 * gives `StoreCorrupt` and is left exactly as it was.
 *
 * @internal
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { open, type RootDatabase } from "lmdb"
import * as NodeFs from "node:fs"
import { StoreBusy, StoreCorrupt } from "../HamError.js"
import * as action_ from "./action.js"
import * as cond from "./condition.js"

/** @internal the format of the records this version writes and reads */
export const formatVersion = 1

const metaKey = "meta"
const leaseKey = "lease"
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

/** @internal who holds the store: one active HAM per store */
export interface Lease {
  readonly pid: number
  /** the holder's start time (clock ticks after boot, from /proc): a reused pid is not the holder */
  readonly startTime: number
  /** tells two HAMs of one process apart */
  readonly instance: string
  readonly role: "host" | "guardian"
}

const LeaseSchema = Schema.Struct({
  pid: Schema.Number,
  startTime: Schema.Number,
  instance: Schema.String,
  role: Schema.Literal("host", "guardian")
})

/** @internal the start time of a live process (not a zombie); undefined when there is none */
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

/** @internal true when the lease's holder is still alive (the same process, not a reused pid) */
export const holderAlive = (lease: Lease): boolean => startTimeOf(lease.pid) === lease.startTime

/** @internal an action as stored: data, or a marker for local code that cannot be stored */
export type StoredAction = Record<string, unknown>

const ActionDoc = Schema.Struct({
  name: Schema.String,
  enabled: Schema.Boolean,
  runs: Schema.Number,
  failures: Schema.Number,
  action: Schema.Record({ key: Schema.String, value: Schema.Unknown })
})

const ConditionDoc = Schema.Struct({
  name: Schema.String,
  type: Schema.Literal(...cond.conditionTypes),
  enabled: Schema.Boolean,
  independent: Schema.Boolean,
  noWait: Schema.Boolean,
  oneShot: Schema.Boolean,
  stateFilter: Schema.optional(Schema.typeSchema(cond.StateFilter)),
  raiseFilter: Schema.optional(Schema.typeSchema(cond.RaiseFilter)),
  fired: Schema.Number,
  actions: Schema.Array(ActionDoc)
})

const Output = Schema.Union(Schema.Literal("log", "ignore"), Schema.Struct({ file: Schema.String }))

const ProcessDoc = Schema.Struct({
  line: action_.CommandLine,
  output: Output,
  stopSignal: Schema.String,
  stopGraceMillis: Schema.Number,
  nodeIpc: Schema.optional(Schema.Boolean),
  /** the pid of the life that was running when this record was written */
  pid: Schema.optional(Schema.Number),
  /** its start time (from /proc), so that a reused pid is not taken for it */
  startTime: Schema.optional(Schema.Number),
  external: Schema.optional(Schema.Struct({
    pid: Schema.Number,
    startTime: Schema.Number,
    pollMillis: Schema.Number
  }))
})

const HistoryDoc = Schema.Struct({
  deaths: Schema.Number,
  abnormalDeaths: Schema.Number,
  restarts: Schema.Number,
  missedLow: Schema.Number,
  missedHigh: Schema.Number,
  lastDeath: Schema.optional(Schema.String),
  restartTimes: Schema.Array(Schema.Number)
})

/** @internal one entity as stored */
export const EntityDoc = Schema.Struct({
  name: Schema.String,
  isGlobal: Schema.Boolean,
  kind: Schema.Literal("fiber", "process", "pid", "self", "placeholder"),
  status: Schema.String,
  enabled: Schema.Boolean,
  state: Schema.Number,
  process: Schema.optional(ProcessDoc),
  heartbeat: Schema.optional(Schema.Struct({
    intervalMillis: Schema.Number,
    missedLow: Schema.Number,
    missedHigh: Schema.Number,
    count: Schema.Number
  })),
  policy: Schema.Struct({
    maxRestarts: Schema.Number,
    withinMillis: Schema.Number,
    backoff: Schema.Boolean,
    backoffResetMillis: Schema.Number
  }),
  created: Schema.Number,
  /** when its current life started (on the HAM's clock) */
  lastStart: Schema.optional(Schema.Number),
  lastEvent: Schema.optional(Schema.Number),
  history: HistoryDoc,
  conditions: Schema.Array(ConditionDoc)
})

/** @internal */
export type EntityDoc = typeof EntityDoc.Type

/** @internal */
export type ConditionDoc = typeof ConditionDoc.Type

const decodeEntity = Schema.decodeUnknownEither(EntityDoc)
const decodeMeta = Schema.decodeUnknownEither(Meta)

// ---------------------------------------------------------------------------------------------
// actions as data
// ---------------------------------------------------------------------------------------------

/** the tag of the marker stored for an action whose behaviour is local code */
const missingTag = "LocalCode"

/**
 * An action as stored: restart, execute, signal, waitfor, heartbeatHealthy and log are data and
 * stored whole; a notify (a local queue) or an `Action.effect` (code) is stored as a marker with
 * its label and flags, and comes back as an action that fails until the application declares it
 * again.
 *
 * @internal
 */
export const storeAction = (action: action_.ActionData): StoredAction => {
  const flags = {
    ...(action.name === undefined ? {} : { name: action.name }),
    breakOnFail: action.breakOnFail,
    removeOnFail: action.removeOnFail,
    oneShot: action.oneShot,
    alternates: action.alternates.map(storeAction)
  }
  switch (action._tag) {
    case "Notify":
    case "Local":
      return { _tag: missingTag, label: action_.defaultName(action), summary: action_.summary(action), ...flags }
    default: {
      const { _tag, alternates: _, breakOnFail: __, name: ___, oneShot: ____, removeOnFail: _____, ...rest } = action
      return { _tag, ...stripUndefined(rest), ...flags }
    }
  }
}

const stripUndefined = (o: Record<string, unknown>): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v
  return out
}

const decodeAction = Schema.decodeUnknownEither(action_.ActionData)

/** @internal what a restored action of local code does until it is declared again */
export const missingCode = (label: string) =>
  Effect.fail(
    `the local code of this action ("${label}") was not declared again since the store was reopened`
  )

/** @internal the action back from its stored form; a description of the damage otherwise */
export const restoreAction = (stored: unknown): Either.Either<action_.Action, string> => {
  if (typeof stored !== "object" || stored === null) return Either.left("an action is not a record")
  const record = stored as Record<string, unknown>
  const alternates: Array<action_.Action> = []
  if (Array.isArray(record.alternates)) {
    for (const alternate of record.alternates) {
      const restored = restoreAction(alternate)
      if (Either.isLeft(restored)) return restored
      alternates.push(restored.right)
    }
  }
  if (record._tag === missingTag) {
    const label = typeof record.label === "string" ? record.label : "effect"
    return Either.right(action_.make<action_.LocalData>({
      _tag: "Local",
      label,
      run: () => missingCode(label),
      name: typeof record.name === "string" ? record.name : undefined,
      breakOnFail: record.breakOnFail === true,
      removeOnFail: record.removeOnFail === true,
      oneShot: record.oneShot === true,
      alternates
    }))
  }
  if (record._tag === "Notify" || record._tag === "Local") return Either.left(`a ${record._tag} action stored as data`)
  return decodeAction({ ...record, alternates: [] }).pipe(
    Either.mapLeft((e) => ParseResult.TreeFormatter.formatErrorSync(e)),
    Either.map((data) => action_.make({ ...data, alternates }))
  )
}

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

/** @internal */
export interface StateStoreService {
  readonly path: string
  /** the entities found in the file when it was opened */
  readonly entities: ReadonlyArray<EntityDoc>
  /** writes (and deletes) entity records in one transaction, committed before it returns */
  readonly writeSync: (puts: ReadonlyArray<EntityDoc>, deletes: ReadonlyArray<string>) => void
  /** the number of records written since the store was opened */
  readonly written: () => number
  /** the lease this HAM holds */
  readonly lease: Lease
  /** the lease as it is in the file now */
  readonly currentLease: () => Lease | undefined
  /** gives the lease back at once (a guardian handing the store over to its host) */
  readonly release: () => void
  /** the pid of a host that asked for the store (see `requestHandover`), if any */
  readonly handoverRequest: () => number | undefined
  /** how the HAM runs: with a guardian process (process entities outlive the HAM), and as what */
  readonly mode: StoreMode
  /** the guardian process watching this one (process mode) */
  readonly guardian?: GuardianProcess | undefined
}

/** @internal the guardian process watching this one */
export interface GuardianProcess {
  readonly pid: () => number | undefined
  /** how often a guardian process died and was started again */
  readonly failures: () => number
  /** tells the guardian to end (no takeover), and completes once it has been told */
  readonly dismiss: Effect.Effect<void>
}

/** @internal */
export interface StoreMode {
  readonly process: boolean
  readonly role: Lease["role"]
  /** the entity that stands for the host process (process mode) */
  readonly hostName: string
  /** where process entities write their output (process mode) */
  readonly outputDir: string
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

/** @internal the store a HAM built in its context persists to (none: the HAM is in memory) */
export class StateStore extends Context.Tag("effect-ham/StateStore")<StateStore, StateStoreService>() {}

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
    readonly process?: boolean | undefined
    readonly hostName?: string | undefined
  }
): Effect.Effect<StateStoreService, StoreCorrupt | StoreBusy, Scope.Scope> =>
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
      if (decoded.right.format !== formatVersion) {
        return yield* Effect.fail(
          corrupt(
            path,
            `written in store format ${decoded.right.format}; this effect-ham reads format ${formatVersion}`
          )
        )
      }
    }
    const entities: Array<EntityDoc> = []
    for (const { key, value } of db.getRange({ start: entityPrefix, end: entityEnd })) {
      const decoded = decodeEntity(value)
      if (Either.isLeft(decoded)) {
        const detail = ParseResult.TreeFormatter.formatErrorSync(decoded.left)
        return yield* Effect.fail(corrupt(path, `the record ${String(key)} is damaged: ${detail}`))
      }
      for (const condition of decoded.right.conditions) {
        for (const action of condition.actions) {
          const restored = restoreAction(action.action)
          if (Either.isLeft(restored)) {
            return yield* Effect.fail(corrupt(
              path,
              `the action ${decoded.right.name}/${condition.name}/${action.name} is damaged: ${restored.left}`
            ))
          }
        }
      }
      entities.push(decoded.right)
    }
    // the lease: taken in one write transaction (LMDB serialises writers across processes), so
    // of two HAMs opening the store at once exactly one gets it; given back when the scope closes
    const lease: Lease = {
      pid: process.pid,
      startTime: startTimeOf(process.pid) ?? 0,
      instance: `${process.pid}-${Math.random().toString(36).slice(2)}`,
      role: options?.role ?? "host"
    }
    const readLease = (): Lease | undefined => {
      const decoded = Schema.decodeUnknownOption(LeaseSchema)(db.get(leaseKey))
      return decoded._tag === "Some" ? decoded.value : undefined
    }
    const holder = db.transactionSync(() => {
      const current = readLease()
      if (current !== undefined && current.instance !== lease.instance && holderAlive(current)) return current
      db.put(leaseKey, lease)
      return undefined
    })
    if (holder !== undefined) {
      return yield* Effect.fail(new StoreBusy({ path, pid: holder.pid, role: holder.role }))
    }
    yield* Effect.addFinalizer(() =>
      Effect.sync(() =>
        db.transactionSync(() => {
          if (readLease()?.instance === lease.instance) db.remove(leaseKey)
        })
      )
    )
    let written = 0
    const apply = (puts: ReadonlyArray<EntityDoc>, deletes: ReadonlyArray<string>) => () => {
      for (const name of deletes) db.remove(entityPrefix + name)
      for (const doc of puts) db.put(entityPrefix + doc.name, doc)
      written += puts.length + deletes.length
    }
    const service: StateStoreService = {
      path,
      entities,
      writeSync: (puts, deletes) => db.transactionSync(apply(puts, deletes)),
      written: () => written,
      lease,
      currentLease: () => {
        db.resetReadTxn()
        return readLease()
      },
      release: () =>
        db.transactionSync(() => {
          if (readLease()?.instance === lease.instance) db.remove(leaseKey)
        }),
      handoverRequest: () => {
        db.resetReadTxn()
        const request = db.get(handoverKey) as { readonly pid?: unknown } | undefined
        return typeof request?.pid === "number" && startTimeOf(request.pid) !== undefined ? request.pid : undefined
      },
      mode: {
        process: options?.process === true,
        role: lease.role,
        hostName: options?.hostName ?? "host",
        outputDir: `${path}.d`
      }
    }
    if (lease.role === "host") db.removeSync(handoverKey)
    if (options?.process === true) {
      yield* Effect.try({
        try: () => NodeFs.mkdirSync(`${path}.d`, { recursive: true, mode: 0o700 }),
        catch: (e) => corrupt(path, `cannot create ${path}.d (${(e as NodeJS.ErrnoException).code ?? String(e)})`)
      })
    }
    return service
  })
