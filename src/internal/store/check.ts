/**
 * The store's paths, checked before LMDB is given them: LMDB opens `<path>` and `<path>-lock` by
 * name (following symbolic links, creating what is missing, truncating and writing the lock file)
 * and trusts what it maps. So the paths are looked at with `lstat` first, and a path that is a
 * symbolic link, is not a regular file or belongs to another user is refused (`StoreUnavailable`)
 * before anything is opened, created or written. A FIFO is refused without being opened (an open
 * would wait for a writer). The files this module opens or creates are opened with `O_NOFOLLOW`,
 * and `O_NONBLOCK` for reading.
 *
 * Then the store's meta pages: both carry the LMDB magic number and data version, and the file
 * holds every page its newest meta page names (`StoreCorrupt` otherwise). What lies beyond them
 * is the probe's (`probe.ts`).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs"
import { StoreCorrupt, StoreUnavailable } from "../../HamError.js"
import * as probe_ from "./probe.js"

const { O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK, O_RDONLY, O_RDWR } = NodeFs.constants

/** the OS error code of a failed call, if it has one */
const codeOf = (e: unknown): string | undefined => {
  const code = (e as NodeJS.ErrnoException | undefined)?.code
  return typeof code === "string" ? code : undefined
}

/** what an OS error code means for a store's path, `doing` what ("creating it", "reading it", ...) */
const explain = (code: string | undefined, doing: string): string => {
  switch (code) {
    case "ENOENT":
      return doing === "creating it" ? "its directory does not exist (ENOENT)" : `it went away while ${doing} (ENOENT)`
    case "EACCES":
    case "EPERM":
      return `${doing} is not permitted (${code})`
    case "ENOTDIR":
      return "a part of the path is not a directory (ENOTDIR)"
    case "EROFS":
      return "it is on a read-only file system (EROFS)"
    case "ELOOP":
      return "it is a symbolic link (ELOOP)"
    case "ENAMETOOLONG":
      return "the path is too long (ENAMETOOLONG)"
    default:
      return `${doing} failed (${code ?? "unknown error"})`
  }
}

const unavailable = (path: string, reason: string, code?: string) =>
  new StoreUnavailable(code === undefined ? { path, reason } : { path, reason, code })

/** runs a file system call for the store at `path`; an OS error is a `StoreUnavailable` */
const attempt = <A>(path: string, doing: string, f: () => A, which = ""): Effect.Effect<A, StoreUnavailable> =>
  Effect.try({
    try: f,
    catch: (e) => unavailable(path, which + explain(codeOf(e), doing), codeOf(e))
  })

/** why a file found at `file` may not be used as the store or its lock file, if it may not */
const refusal = (stat: NodeFs.Stats, which: string): string | undefined => {
  if (stat.isSymbolicLink()) return `${which} is a symbolic link (a store is never opened through one)`
  if (!stat.isFile()) {
    const kind = stat.isDirectory()
      ? "a directory"
      : stat.isFIFO()
      ? "a FIFO"
      : stat.isSocket()
      ? "a socket"
      : stat.isCharacterDevice() || stat.isBlockDevice()
      ? "a device"
      : "not a file"
    return `${which} is ${kind}, not a regular file`
  }
  const uid = process.getuid?.()
  if (uid !== undefined && stat.uid !== uid) return `${which} belongs to uid ${stat.uid}, not to this user (uid ${uid})`
  return undefined
}

/** what `lstat` says of a path: its stats, undefined when nothing is there, or why it cannot be looked at */
const look = (file: string): NodeFs.Stats | undefined | { readonly error: unknown } => {
  try {
    return NodeFs.lstatSync(file)
  } catch (e) {
    return codeOf(e) === "ENOENT" ? undefined : { error: e }
  }
}

/** what the paths hold, once checked */
interface Found {
  /** the store file, when there is one */
  readonly store: NodeFs.Stats | undefined
  /** the lock file, when there is one */
  readonly lock: NodeFs.Stats | undefined
}

/**
 * Looks at the store's path and its lock file's path without following or opening anything.
 */
const inspect = (path: string): Effect.Effect<Found, StoreUnavailable> =>
  Effect.suspend(() => {
    if (path.length === 0) return Effect.fail(unavailable(path, "the path is empty"))
    if (path.includes("\0")) return Effect.fail(unavailable(path, "the path holds a NUL character"))
    const lockPath = `${path}-lock`
    const store = look(path)
    if (store !== undefined && "error" in store) {
      const code = codeOf(store.error)
      return Effect.fail(unavailable(path, explain(code, "looking at it"), code))
    }
    const problem = store === undefined ? undefined : refusal(store, "it")
    if (problem !== undefined) return Effect.fail(unavailable(path, problem))
    const lock = look(lockPath)
    if (lock !== undefined && "error" in lock) {
      const code = codeOf(lock.error)
      return Effect.fail(unavailable(path, `its lock file ${lockPath}: ${explain(code, "looking at it")}`, code))
    }
    const lockProblem = lock === undefined
      ? undefined
      : refusal(lock, `its lock file ${lockPath}`) ??
        // the lock file is LMDB's scratch space: a second name for it is a file of the user's
        (lock.nlink > 1 ? `its lock file ${lockPath} has other names (hard links)` : undefined)
    if (lockProblem !== undefined) return Effect.fail(unavailable(path, lockProblem))
    return Effect.succeed({ store, lock })
  })

/** opens a file that `inspect` found, failing if it is no longer the same regular file of ours */
const openFound = (file: string, found: NodeFs.Stats, flags: number): number => {
  const fd = NodeFs.openSync(file, flags | O_NOFOLLOW | O_NONBLOCK)
  const now = NodeFs.fstatSync(fd)
  if (now.dev !== found.dev || now.ino !== found.ino || !now.isFile()) {
    NodeFs.closeSync(fd)
    throw Object.assign(new Error("the file changed while it was opened"), { code: "ESTALE" })
  }
  return fd
}

// ---------------------------------------------------------------------------------------------
// the meta pages
// ---------------------------------------------------------------------------------------------

const lmdbMagic = 0xbeefc0de
const lmdbDataVersion = 2
/** the meta record sits after the 24-byte page header of the first two pages */
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
 * Checks that an open file is an LMDB environment this build can map: both meta pages carry the
 * LMDB magic number and data version, and the file holds every page its newest meta page names.
 * An empty file is accepted (LMDB initialises it). Returns the reason when it cannot be used.
 */
const checkMeta = (fd: number): string | undefined => {
  const size = NodeFs.fstatSync(fd).size
  if (size === 0) return undefined
  const head = Buffer.alloc(Math.min(size, 2 * 65536))
  NodeFs.readSync(fd, head, 0, head.length, 0)
  const first = readMetaPage(head, 0)
  if (typeof first === "string") return first
  const second = readMetaPage(head, first.pageSize)
  if (typeof second === "string") return `its second meta page is damaged: ${second}`
  if (second.pageSize !== first.pageSize) return "its two meta pages disagree on the page size"
  const newest = second.txnId > first.txnId ? second : first
  const needed = (newest.lastPage + 1n) * BigInt(first.pageSize)
  if (BigInt(size) < needed) return `cut short: ${size} bytes where its meta page needs ${needed}`
  return undefined
}

/**
 * Checks the meta pages of the store file `inspect` found. A file that another HAM is writing may
 * be seen between the growth of its data and of its meta page: a file that looks cut short is
 * looked at again for a moment before it is called damaged (a damaged file stays damaged).
 */
const checkFile = (path: string, found: NodeFs.Stats): Effect.Effect<void, StoreCorrupt | StoreUnavailable> => {
  const once = Effect.flatMap(
    attempt(path, "reading it", () => openFound(path, found, O_RDONLY)),
    (fd) =>
      Effect.sync(() => {
        try {
          return checkMeta(fd)
        } finally {
          NodeFs.closeSync(fd)
        }
      })
  )
  const cutShort = (reason: string | undefined) => reason?.startsWith("cut short") === true
  const look = Effect.flatMap(
    once,
    (reason) => cutShort(reason) ? Effect.as(Effect.sleep("10 millis"), reason) : Effect.succeed(reason)
  )
  return Effect.flatMap(
    Effect.repeat(look, { times: 30, while: cutShort }),
    (reason) => reason === undefined ? Effect.void : Effect.fail(new StoreCorrupt({ path, reason }))
  )
}

// ---------------------------------------------------------------------------------------------
// creating the files
// ---------------------------------------------------------------------------------------------

/** creates `file` owner-only, never through a link; false when something is there already */
const create = (file: string): boolean => {
  try {
    NodeFs.closeSync(NodeFs.openSync(file, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600))
    return true
  } catch (e) {
    if (codeOf(e) === "EEXIST") return false
    throw e
  }
}

/**
 * Creates the store file when `inspect` found none (owner-only). Something that appeared there
 * meanwhile is looked at again from the start: the caller gets `false` and checks anew.
 */
const createStore = (path: string): Effect.Effect<boolean, StoreUnavailable> =>
  attempt(path, "creating it", () => create(path))

/**
 * Makes sure the lock file is there and owner-only: created when `inspect` found none, tightened
 * through a descriptor otherwise (never `chmod` by name, which follows a link). Succeeds with true
 * when this call created it.
 */
const ensureLock = (path: string, found: NodeFs.Stats | undefined): Effect.Effect<boolean, StoreUnavailable> =>
  Effect.gen(function*() {
    const lockPath = `${path}-lock`
    const which = `its lock file ${lockPath}: `
    if (found === undefined && (yield* attempt(path, "creating it", () => create(lockPath), which))) return true
    // there already, or it appeared meanwhile (another HAM opening the store): checked as found
    const lock = found ?? (yield* inspect(path)).lock
    if (lock === undefined) return yield* Effect.fail(unavailable(path, `${which}it keeps disappearing`))
    // opened only when it must be tightened: closing any descriptor of the lock file drops every
    // fcntl lock this process holds on it, LMDB's reader lock included (an environment of this
    // store still open in this process would then look dead to the others, which free its slots)
    if ((lock.mode & 0o777) === 0o600) return false
    yield* attempt(path, "opening it", () => {
      const fd = openFound(lockPath, lock, O_RDWR)
      try {
        NodeFs.fchmodSync(fd, 0o600)
      } finally {
        NodeFs.closeSync(fd)
      }
    }, which)
    return false
  })

/**
 * Removes the lock file this open created, when the store is refused after all: a file that is
 * not a store gets nothing beside it.
 *
 * @internal
 */
export const removeCreatedLock = (path: string): Effect.Effect<void> =>
  Effect.sync(() => {
    try {
      NodeFs.unlinkSync(`${path}-lock`)
    } catch {
      // gone already
    }
  })

// ---------------------------------------------------------------------------------------------
// a store as this process left it
// ---------------------------------------------------------------------------------------------

/** the digest of each store file this process closed, by path */
const closedDigests = new Map<string, string>()

/** a larger file is not hashed when it is closed: that would cost more than the probe it may save */
const rememberedBytes = 64 * 1024 * 1024

/** the SHA-256 of a file's bytes, read through a descriptor that follows no link */
const digestOf = (path: string): string | undefined => {
  try {
    const fd = NodeFs.openSync(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK)
    try {
      const stat = NodeFs.fstatSync(fd)
      if (!stat.isFile() || stat.size > rememberedBytes) return undefined
      const hash = NodeCrypto.createHash("sha256")
      const chunk = Buffer.allocUnsafe(1 << 20)
      for (let position = 0;;) {
        const read = NodeFs.readSync(fd, chunk, 0, chunk.length, position)
        if (read === 0) break
        hash.update(chunk.subarray(0, read))
        position += read
      }
      return hash.digest("hex")
    } finally {
      NodeFs.closeSync(fd)
    }
  } catch {
    return undefined
  }
}

/**
 * Remembers the bytes of a store file this process has just closed (up to 64 MiB): LMDB wrote them,
 * from a file that was checked when it was opened.
 *
 * @internal
 */
export const rememberClosed = (path: string): Effect.Effect<void> =>
  Effect.sync(() => {
    const digest = digestOf(path)
    if (digest === undefined) closedDigests.delete(path)
    else closedDigests.set(path, digest)
  })

/**
 * True when the store file holds exactly the bytes this process left in it when it last closed it
 * (the same SHA-256): the file need not be probed again. The digest is checked, not the file's
 * times or size, which another writer could leave as they were.
 *
 * @internal
 */
export const asLeft = (path: string): Effect.Effect<boolean> =>
  Effect.sync(() => {
    const digest = closedDigests.get(path)
    return digest !== undefined && digestOf(path) === digest
  })

// ---------------------------------------------------------------------------------------------
// all of it
// ---------------------------------------------------------------------------------------------

/** @internal what `prepare` did */
export interface Prepared {
  /** it created the lock file: it is removed again if the store is refused after LMDB opened it */
  readonly createdLock: boolean
}

/**
 * Everything done before LMDB is given the store's paths: the paths looked at (`inspect`), an
 * existing file's meta pages checked, the lock file made sure of, the file probed (unless it is
 * empty, `probe` is false, or it holds what this process left in it), a missing file created. A
 * refused store keeps its bytes, and gets no lock file beside it that this call created.
 *
 * @internal
 */
export const prepare = (
  path: string,
  options: {
    readonly probe: boolean
    readonly probeOptions?: probe_.ProbeOptions | undefined
    /** a probe started ahead, used instead of starting one */
    readonly standby?: probe_.Standby | undefined
  },
  attempts = 2
): Effect.Effect<Prepared, StoreCorrupt | StoreUnavailable> =>
  Effect.gen(function*() {
    const found = yield* inspect(path)
    if (found.store === undefined) {
      if (yield* createStore(path)) return { createdLock: yield* ensureLock(path, found.lock) }
      // a file appeared meanwhile (another HAM creating the store): checked from the start
      if (attempts > 1) return yield* prepare(path, options, attempts - 1)
      return yield* Effect.fail(unavailable(path, "it keeps appearing and disappearing"))
    }
    yield* checkFile(path, found.store)
    const createdLock = yield* ensureLock(path, found.lock)
    if (found.store.size > 0 && options.probe && !(yield* asLeft(path))) {
      const size = found.store.size
      const probe = options.standby?.probe(path, size) ?? probe_.probe(path, size, options.probeOptions)
      yield* probe.pipe(
        Effect.tapError(() => createdLock ? removeCreatedLock(path) : Effect.void)
      )
    }
    return { createdLock }
  })
