/**
 * The store corruption matrix: damaged copies of a real store (written by a HAM: 2,000 entities,
 * some with conditions and actions, one whose record spans overflow pages, and a free list grown
 * by a reader that held its snapshot), and paths that are not a store (links, FIFOs, a socket, a
 * device, a directory, another user's file, missing or unwritable directories). Each one is
 * opened by a HAM in a child process (`fixtures/store-opener.ts`), so that a crash or a hang shows
 * as what it is; every file must give a typed error with its reason, keep its bytes, and get no
 * lock file beside it, and the process that opened them all must still be alive at the end.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Entity, Guardian, Ham } from "effect-ham"
import { CondDeath } from "effect-ham/Condition"
import { open } from "lmdb"
import * as ChildProcess from "node:child_process"
import { createHash } from "node:crypto"
import * as NodeFs from "node:fs"
import { createRequire } from "node:module"
import * as NodeNet from "node:net"
import { join } from "node:path"
import * as check from "../src/internal/store/check.js"
import * as lmdb from "../src/internal/store/lmdb.js"
import * as probe_ from "../src/internal/store/probe.js"
import { inTempDir, liveProcesses, waitUntil } from "./processes.js"

// ---------------------------------------------------------------------------------------------
// the store that gets damaged
// ---------------------------------------------------------------------------------------------

/** writes the base store: a HAM's registry, plus a free list that spans branch, leaf and overflow pages */
const writeBase = (path: string) =>
  Effect.gen(function*() {
    let reader: ReturnType<typeof open> | undefined
    let snapshot: { done(): void } | undefined
    yield* Effect.gen(function*() {
      for (let i = 0; i < 2000; i++) yield* Ham.attach(Entity.fiber(`w-${i}`, Effect.never))
      for (let i = 0; i < 40; i++) {
        const worker = yield* Ham.entity(`w-${i * 37}`)
        yield* Ham.condition(worker, CondDeath).pipe(Ham.restart, Ham.log(`worker ${i} died`))
        yield* Ham.conditionState(worker, { to: 7 }, { name: "seven" }).pipe(Ham.log("state 7"))
      }
      // a record of more than a page: overflow pages
      const big = yield* Ham.attach(Entity.fiber("big", Effect.never))
      for (let i = 0; i < 12; i++) {
        yield* Ham.conditionState(big, { to: i }, { name: `state-${i}` }).pipe(Ham.log("m".repeat(400)))
      }
      // a reader holding its snapshot: what the next commits free piles up in the free list (a
      // record a commit, on branch and leaf pages), and the HAM's last commit (every record
      // written again) frees pages all over the file (a record on an overflow page)
      reader = open({ path, noSubdir: true, noSync: true })
      snapshot = reader.useReadTransaction()
      for (let i = 0; i < 150; i++) yield* Ham.publishState(yield* Ham.entity(`w-${(i * 13) % 2000}`), i)
    }).pipe(Effect.scoped, Effect.provide(Ham.layer({ verbosity: 0 })), Effect.provide(Guardian.layer({ path })))
    snapshot?.done()
    yield* Effect.promise(() => reader!.close())
  })

/** the pages of each kind that the newest meta page reaches (the test's own reading of the layout) */
interface PageMap {
  readonly pageSize: number
  readonly free: { branch: Array<number>; leaf: Array<number>; overflow: Array<number> }
  readonly main: { branch: Array<number>; leaf: Array<number>; overflow: Array<number>; continued: Array<number> }
}

const pagesOf = (bytes: Buffer): PageMap => {
  const header = 24
  const pageSize = bytes.readUInt32LE(header + 24)
  const txn = (base: number) => bytes.readBigUInt64LE(base + header + 128)
  const meta = txn(0) >= txn(pageSize) ? 0 : pageSize
  const map: PageMap = {
    pageSize,
    free: { branch: [], leaf: [], overflow: [] },
    main: { branch: [], leaf: [], overflow: [], continued: [] }
  }
  const walk = (pgno: number, tree: PageMap["free"] | PageMap["main"]) => {
    const at = pgno * pageSize
    const flags = bytes.readUInt16LE(at + 18)
    const entries = bytes.readUInt16LE(at + 20) >> 1
    ;(flags === 1 ? tree.branch : tree.leaf).push(pgno)
    for (let i = 0; i < entries; i++) {
      const node = at + header + bytes.readUInt16LE(at + header + 2 * i)
      const lo = bytes.readUInt16LE(node), hi = bytes.readUInt16LE(node + 2), nodeFlags = bytes.readUInt16LE(node + 4)
      if (flags === 1) walk(lo + hi * 0x10000 + nodeFlags * 0x100000000, tree)
      else if ((nodeFlags & 1) !== 0) {
        const data = node + 8 + bytes.readUInt16LE(node + 6)
        const first = Number(bytes.readBigUInt64LE(data))
        tree.overflow.push(first)
        for (let p = 1; p < Number(bytes.readBigUInt64LE(data + 16)); p++) {
          if ("continued" in tree) tree.continued.push(first + p)
        }
      }
    }
  }
  walk(Number(bytes.readBigUInt64LE(meta + header + 24 + 40)), map.free)
  walk(Number(bytes.readBigUInt64LE(meta + header + 72 + 40)), map.main)
  return map
}

// ---------------------------------------------------------------------------------------------
// the cases
// ---------------------------------------------------------------------------------------------

/** what a case must give: this typed error with these words, or (damage inside a value, which
 * LMDB cannot see) either a StoreCorrupt or a registry read back whole */
type Expected =
  | { readonly tag: string; readonly says: ReadonlyArray<string> }
  | { readonly corruptOrSound: true }

interface Case {
  readonly name: string
  readonly path: string
  readonly expected: Expected
  /** files whose bytes must not change (the store, and what a link points to) */
  readonly watched: ReadonlyArray<string>
  /** no lock file may appear beside it */
  readonly noLock: boolean
}

/** a tiny deterministic random generator (the matrix is the same at every run) */
const random = (seed: number) => () => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff
  return seed / 0x7fffffff
}

const digest = (file: string): string => {
  try {
    return createHash("sha256").update(NodeFs.readFileSync(file)).digest("hex")
  } catch (e) {
    return `unreadable: ${(e as NodeJS.ErrnoException).code}`
  }
}

const modeOf = (file: string) => NodeFs.statSync(file).mode & 0o777

/** the damaged copies of the base store */
const damagedCopies = (dir: string, base: Buffer): Array<Case> => {
  const map = pagesOf(base)
  const size = map.pageSize
  const next = random(11)
  const cases: Array<Case> = []
  const add = (name: string, bytes: Buffer, expected: Expected) => {
    const path = join(dir, `${name}.ham`)
    NodeFs.writeFileSync(path, bytes)
    cases.push({ name, path, expected, watched: [path], noLock: true })
  }
  const damaged = (f: (bytes: Buffer) => void) => {
    const bytes = Buffer.from(base)
    f(bytes)
    return bytes
  }
  const corrupt = (...says: Array<string>): Expected => ({ tag: "StoreCorrupt", says })
  const pick = (pages: ReadonlyArray<number>) => pages[Math.floor(next() * pages.length)]
  const kinds: Array<[string, number]> = [
    ["free-branch", pick(map.free.branch)],
    ["free-leaf", pick(map.free.leaf)],
    ["free-overflow", pick(map.free.overflow)],
    ["main-branch", pick(map.main.branch)],
    ["main-leaf", pick(map.main.leaf)],
    ["main-overflow", pick(map.main.overflow)]
  ]
  for (const [kind, pgno] of kinds) {
    const at = pgno * size
    // the whole page: random bytes
    add(`${kind}-random-page`, damaged((b) => b.set(randomBytes(next, size), at)), corrupt("damaged", `page ${pgno}`))
    // single flipped bytes in its header: its page number, its flags, its bounds (or overflow count)
    for (const [field, offset] of [["number", 0], ["flags", 18], ["bounds", 20]] as const) {
      add(`${kind}-flip-${field}`, damaged((b) => (b[at + offset] ^= 0x10)), corrupt("damaged", `page ${pgno}`))
    }
    if (!kind.endsWith("overflow")) {
      // the first entry's offset, and the first entry's own header (size and flags, or child page)
      const entry = at + 24 + base.readUInt16LE(at + 24)
      add(`${kind}-flip-entry-offset`, damaged((b) => (b[at + 24] ^= 0x01)), corrupt("damaged", `page ${pgno}`))
      add(`${kind}-flip-entry-header`, damaged((b) => (b[entry + 2] ^= 0x40)), corrupt("damaged"))
      add(`${kind}-flip-entry-key-size`, damaged((b) => (b[entry + 6] ^= 0x08)), corrupt("damaged"))
    }
    // random bytes somewhere in the page: inside a value LMDB cannot tell (no checksums)
    const offset = 24 + Math.floor(next() * (size - 40))
    add(`${kind}-random-bytes`, damaged((b) => b.set(randomBytes(next, 16), at + offset)), { corruptOrSound: true })
  }
  const continued = pick(map.main.continued)
  add("main-overflow-continued-random-page", damaged((b) => b.set(randomBytes(next, size), continued * size)), {
    corruptOrSound: true
  })
  // truncations
  for (const length of [100, size, 2 * size + 1, Math.floor(base.length / 2), base.length - 1]) {
    const expected = length <= size ? corrupt("too short") : corrupt("cut short")
    add(`truncated-${length}`, base.subarray(0, length), length === size ? corrupt("second meta page") : expected)
  }
  // the meta pages
  add("meta-0-zeroed", damaged((b) => b.fill(0, 0, size)), corrupt("not an LMDB file"))
  add("meta-1-zeroed", damaged((b) => b.fill(0, size, 2 * size)), corrupt("second meta page"))
  add("metas-random", damaged((b) => b.set(randomBytes(next, 2 * size), 0)), corrupt("not an LMDB file"))
  add(
    "lmdb-version-3",
    damaged((b) => {
      b.writeUInt32LE(3, 24 + 4)
      b.writeUInt32LE(3, size + 24 + 4)
    }),
    corrupt("data version 3")
  )
  add("random-file", randomBytes(next, 64 * 1024), corrupt("not an LMDB file"))
  add("text-file", Buffer.from("these are my notes\n".repeat(1000)), corrupt("not an LMDB file"))
  return cases
}

const randomBytes = (next: () => number, length: number): Buffer => {
  const bytes = Buffer.alloc(length)
  for (let i = 0; i < length; i++) bytes[i] = Math.floor(next() * 256)
  return bytes
}

/** LMDB files that are not ours: another program's, and a store of a newer effect-ham */
const foreignFiles = (dir: string) =>
  Effect.gen(function*() {
    const cases: Array<Case> = []
    const newer = join(dir, "newer-format.ham")
    const db = open({ path: newer, noSubdir: true, noSync: true })
    db.putSync("meta", { app: "effect-ham", format: Guardian.formatVersion + 1 })
    yield* Effect.promise(() => db.close())
    NodeFs.rmSync(`${newer}-lock`)
    const says = [`store format ${Guardian.formatVersion + 1}`]
    cases.push({
      name: "newer-format",
      path: newer,
      expected: { tag: "StoreCorrupt", says },
      watched: [newer],
      noLock: true
    })
    const foreign = join(dir, "foreign.mdb")
    const other = open({ path: foreign, noSubdir: true, noSync: true })
    other.putSync("customer/1", { name: "Ada" })
    const duplicates = other.openDB({ name: "orders", dupSort: true })
    duplicates.putSync("ada", "order-1")
    duplicates.putSync("ada", "order-2")
    yield* Effect.promise(() => other.close())
    NodeFs.rmSync(`${foreign}-lock`)
    cases.push({
      name: "foreign",
      path: foreign,
      expected: { tag: "StoreCorrupt", says: ["another program"] },
      watched: [foreign],
      noLock: true
    })
    return cases
  })

/** paths that are not a store file of ours */
const badPaths = (dir: string, base: Buffer): Array<Case> => {
  const cases: Array<Case> = []
  const unavailable = (...says: Array<string>): Expected => ({ tag: "StoreUnavailable", says })
  const store = (name: string) => {
    const path = join(dir, `${name}.ham`)
    NodeFs.writeFileSync(path, base, { mode: 0o600 })
    return path
  }
  // a link at the store's path, to a store
  const linked = join(dir, "linked.ham")
  NodeFs.symlinkSync(store("link-target"), linked)
  cases.push({
    name: "store-symlink",
    path: linked,
    expected: unavailable("symbolic link"),
    watched: [linked],
    noLock: true
  })
  // a link at the lock's path, to a file of the user's (LMDB would truncate and write it)
  const victim = join(dir, "precious.txt")
  NodeFs.writeFileSync(victim, "my precious notes\n", { mode: 0o644 })
  const locked = store("lock-symlink")
  NodeFs.symlinkSync(victim, `${locked}-lock`)
  cases.push({
    name: "lock-symlink",
    path: locked,
    expected: unavailable("lock file", "symbolic link"),
    watched: [locked, victim],
    noLock: false
  })
  // a link at the lock's path that points nowhere (LMDB would create its target)
  const dangling = store("lock-dangling")
  NodeFs.symlinkSync(join(dir, "made-by-lmdb"), `${dangling}-lock`)
  cases.push({
    name: "lock-dangling-symlink",
    path: dangling,
    expected: unavailable("lock file", "symbolic link"),
    watched: [dangling],
    noLock: false
  })
  // a FIFO at the store's path (opening it would wait for a writer), and at the lock's path
  const fifo = join(dir, "fifo.ham")
  ChildProcess.execFileSync("mkfifo", [fifo])
  cases.push({ name: "store-fifo", path: fifo, expected: unavailable("a FIFO"), watched: [], noLock: true })
  const fifoLock = store("lock-fifo")
  ChildProcess.execFileSync("mkfifo", [`${fifoLock}-lock`])
  cases.push({
    name: "lock-fifo",
    path: fifoLock,
    expected: unavailable("lock file", "a FIFO"),
    watched: [fifoLock],
    noLock: false
  })
  // a directory, a device
  const directory = join(dir, "directory.ham")
  NodeFs.mkdirSync(directory)
  cases.push({ name: "directory", path: directory, expected: unavailable("a directory"), watched: [], noLock: true })
  cases.push({ name: "device", path: "/dev/null", expected: unavailable("a device"), watched: [], noLock: true })
  // a lock file with a second name
  const linkedLock = store("lock-hardlink")
  NodeFs.writeFileSync(join(dir, "lock-elsewhere"), "")
  NodeFs.linkSync(join(dir, "lock-elsewhere"), `${linkedLock}-lock`)
  cases.push({
    name: "lock-hardlink",
    path: linkedLock,
    expected: unavailable("hard links"),
    watched: [linkedLock, join(dir, "lock-elsewhere")],
    noLock: false
  })
  // another user's file (only root can make one)
  if (process.getuid?.() === 0) {
    const foreignOwner = store("other-user")
    NodeFs.chownSync(foreignOwner, 65534, 65534)
    cases.push({
      name: "other-user",
      path: foreignOwner,
      expected: unavailable("belongs to uid 65534"),
      watched: [foreignOwner],
      noLock: true
    })
  }
  // no directory, a directory it may not write in, no path at all
  cases.push({
    name: "missing-directory",
    path: join(dir, "missing", "state.ham"),
    expected: unavailable("directory does not exist (ENOENT)"),
    watched: [],
    noLock: true
  })
  const readOnly = process.getuid?.() === 0 ? "/sys/effect-ham-test.ham" : join(dir, "read-only", "state.ham")
  if (process.getuid?.() !== 0) NodeFs.mkdirSync(join(dir, "read-only"), { mode: 0o500 })
  cases.push({
    name: "unwritable-directory",
    path: readOnly,
    expected: unavailable("EACCES"),
    watched: [],
    noLock: true
  })
  cases.push({
    name: "empty-path",
    path: "",
    expected: { tag: "InvalidArgument", says: ["path"] },
    watched: [],
    noLock: true
  })
  return cases
}

/** a socket at the store's path, for as long as the scope is open */
const socketAt = (path: string) =>
  Effect.acquireRelease(
    Effect.async<NodeNet.Server>((resume) => {
      const server = NodeNet.createServer()
      server.listen(path, () => {
        resume(Effect.succeed(server))
      })
    }),
    (server) =>
      Effect.async<void>((resume) => {
        server.close(() => resume(Effect.void))
      })
  )

// ---------------------------------------------------------------------------------------------
// opening them, in a child process
// ---------------------------------------------------------------------------------------------

type Answer =
  | { readonly path: string; readonly ok: true; readonly entities: number }
  | { readonly path: string; readonly tag: string; readonly message: string }
  | { readonly path: string; readonly defect: string }
  | { readonly path: string; readonly crashed: string }

interface Opened {
  readonly answers: Map<string, Answer>
  /** how many processes it took: 1 when none crashed or hung */
  readonly processes: number
}

const root = join(import.meta.dirname, "..")
const lmdbEntry = createRequire(import.meta.url).resolve("lmdb")

/** one opener process for `paths`: its answers, and how it ended */
const runOpener = (paths: ReadonlyArray<string>, onAnswer: (answer: Answer) => void, caseMillis: number) =>
  Effect.async<{ readonly signal: string | null; readonly code: number | null; readonly hung: boolean }>(
    (resume) => {
      const child = ChildProcess.spawn(
        process.execPath,
        ["--conditions=source", "--import", "tsx", "test/fixtures/store-opener.ts", ...paths],
        { cwd: root, stdio: ["ignore", "pipe", "inherit"] }
      )
      let buffered = ""
      let hung = false
      // a case that takes too long is a hang: the opener is killed, the next one goes on
      let timer = setTimeout(() => {
        hung = true
        child.kill("SIGKILL")
      }, caseMillis + 10_000)
      child.stdout.setEncoding("utf8")
      child.stdout.on("data", (text: string) => {
        const lines = (buffered + text).split("\n")
        buffered = lines.pop()!
        for (const line of lines) {
          clearTimeout(timer)
          timer = setTimeout(() => {
            hung = true
            child.kill("SIGKILL")
          }, caseMillis)
          onAnswer(JSON.parse(line) as Answer)
        }
      })
      child.once("exit", (code, signal) => {
        clearTimeout(timer)
        resume(Effect.succeed({ code, signal, hung }))
      })
      return Effect.sync(() => child.kill("SIGKILL"))
    }
  )

/** opens every path, one opener process after another when one crashes or hangs */
const openAll = (paths: ReadonlyArray<string>, caseMillis = 20_000) =>
  Effect.gen(function*() {
    const answers = new Map<string, Answer>()
    let processes = 0
    let rest = [...paths]
    while (rest.length > 0) {
      processes++
      const ended = yield* runOpener(rest, (answer) => answers.set(answer.path, answer), caseMillis)
      const left = rest.filter((path) => !answers.has(path))
      if (left.length === 0) break
      // the first path left is the one it died (or hung) on
      const how = ended.hung ? "hung" : ended.signal ?? `exit code ${ended.code}`
      answers.set(left[0], { path: left[0], crashed: how })
      rest = left.slice(1)
    }
    return { answers, processes } satisfies Opened
  })

// ---------------------------------------------------------------------------------------------
// the matrix
// ---------------------------------------------------------------------------------------------

/** what is wrong with the answer to a case: nothing, or a sentence for each problem */
const problems = (c: Case, answer: Answer | undefined, before: Map<string, string>): Array<string> => {
  const found: Array<string> = []
  const label = `${c.name}: ${JSON.stringify(answer)}`
  if (answer === undefined) return [`${c.name}: no answer`]
  if ("crashed" in answer || "defect" in answer) return [label]
  if ("corruptOrSound" in c.expected) {
    if ("tag" in answer ? answer.tag !== "StoreCorrupt" : answer.entities !== 2001) found.push(label)
  } else if (!("tag" in answer) || answer.tag !== c.expected.tag) {
    found.push(`${label}: expected ${c.expected.tag}`)
  } else {
    for (const words of c.expected.says) if (!answer.message.includes(words)) found.push(`${label}: no "${words}"`)
  }
  if ("tag" in answer) {
    // refused: every byte as it was, and no lock file made beside it
    for (const file of c.watched) if (digest(file) !== before.get(file)) found.push(`${c.name}: ${file} changed`)
    if (c.noLock && c.path !== "" && NodeFs.existsSync(`${c.path}-lock`)) found.push(`${c.name}: a lock file appeared`)
  }
  return found
}

describe("Store corruption matrix", () => {
  it.live(
    "no damaged store and no path that is not a store crashes or hangs the process; each is a typed error and keeps its bytes",
    () =>
      inTempDir("ham-matrix-", (dir) =>
        Effect.gen(function*() {
          const basePath = join(dir, "base", "state.ham")
          NodeFs.mkdirSync(join(dir, "base"))
          yield* writeBase(basePath)
          const base = NodeFs.readFileSync(basePath)
          const map = pagesOf(base)
          // the base has every kind of page, and opens whole
          for (const pages of [map.free.branch, map.free.leaf, map.free.overflow, map.main.branch, map.main.leaf]) {
            expect(pages.length).toBeGreaterThan(0)
          }
          expect(map.main.overflow.length).toBeGreaterThan(0)
          expect(map.main.continued.length).toBeGreaterThan(0)

          const cases = [...damagedCopies(dir, base), ...(yield* foreignFiles(dir)), ...badPaths(dir, base)]
          const socket = join(dir, "socket.ham")
          yield* socketAt(socket)
          cases.push({
            name: "store-socket",
            path: socket,
            expected: { tag: "StoreUnavailable", says: ["a socket"] },
            watched: [],
            noLock: true
          })
          // an undamaged copy for each opener: one copy shared by the two would be busy (held by the
          // other opener's HAM) when both reach it at once
          const sounds = [join(dir, "sound-0.ham"), join(dir, "sound-1.ham")]
          for (const sound of sounds) NodeFs.writeFileSync(sound, base, { mode: 0o600 })
          const modes = new Map(cases.flatMap((c) => c.watched).map((file) => [file, modeOf(file)] as const))
          const before = new Map(cases.flatMap((c) => c.watched).map((file) => [file, digest(file)] as const))

          // two openers side by side, each ending with an undamaged copy of its own
          const paths = cases.map((c) => c.path)
          const halves = [paths.filter((_, i) => i % 2 === 0), paths.filter((_, i) => i % 2 === 1)]
          const [first, second] = yield* Effect.all(
            halves.map((half, i) => openAll([...half, sounds[i]])),
            { concurrency: 2 }
          )
          const answers = new Map([...first.answers, ...second.answers])
          expect(cases.flatMap((c) => problems(c, answers.get(c.path), before))).toEqual([])
          for (const [file, mode] of modes) expect(modeOf(file), file).toBe(mode)
          // the last one, the undamaged copy, opens whole: the processes that opened them all were
          // alive at the end (each opener ran to its end: none crashed or hung)
          for (const [i, opened] of [first, second].entries()) {
            const sound = sounds[i]
            expect(opened.answers.get(sound)).toEqual({ path: sound, ok: true, entities: 2001 })
            expect(opened.processes).toBe(1)
          }
        })).pipe(Effect.scoped),
    120_000
  )
})

// ---------------------------------------------------------------------------------------------
// the parts, one by one
// ---------------------------------------------------------------------------------------------

/** runs `body` against a HAM that persists to the store at `path`, then stops it */
const withStore = <A, E, R>(path: string, body: Effect.Effect<A, E, R>) =>
  body.pipe(Effect.scoped, Effect.provide(Ham.layer({ verbosity: 0 })), Effect.provide(Guardian.layer({ path })))

const setup = Effect.gen(function*() {
  const worker = yield* Ham.attach(Entity.fiber("worker", Effect.never))
  yield* Ham.condition(worker, CondDeath).pipe(Ham.restart, Ham.log("worker died"))
})

describe("Store paths that are not a store file of ours", () => {
  it.live("a symbolic link at the lock path is refused: its target is neither chmodded nor written", () =>
    inTempDir("ham-store-", (dir) =>
      Effect.gen(function*() {
        const path = join(dir, "state.ham")
        yield* withStore(path, setup)
        NodeFs.rmSync(`${path}-lock`)
        const victim = join(dir, "notes.txt")
        NodeFs.writeFileSync(victim, "my precious notes\n", { mode: 0o644 })
        NodeFs.symlinkSync(victim, `${path}-lock`)
        const before = digest(path)
        const result = yield* Effect.flip(withStore(path, Ham.snapshot))
        expect(result._tag).toBe("StoreUnavailable")
        expect(result.message).toContain("is a symbolic link")
        expect(NodeFs.readFileSync(victim, "utf8")).toBe("my precious notes\n")
        expect(modeOf(victim)).toBe(0o644)
        expect(digest(path)).toBe(before)
      })))

  it.live("a FIFO at the store path is refused at once, without being opened", () =>
    inTempDir("ham-store-", (dir) =>
      Effect.gen(function*() {
        const path = join(dir, "state.ham")
        ChildProcess.execFileSync("mkfifo", [path])
        // an open of a FIFO with no writer would block this thread for good: the answer comes first
        const result = yield* Effect.flip(withStore(path, Ham.snapshot)).pipe(Effect.timeout("2 seconds"))
        expect(result._tag).toBe("StoreUnavailable")
        expect(result.message).toContain("a FIFO, not a regular file")
        expect(NodeFs.existsSync(`${path}-lock`)).toBe(false)
      })))

  it.live("the store opened below the checks says StoreUnavailable for an empty path, with the OS code for the rest", () =>
    inTempDir("ham-store-", (dir) =>
      Effect.gen(function*() {
        const empty = yield* Effect.flip(Effect.scoped(lmdb.openStore("")))
        expect(empty).toMatchObject({ _tag: "StoreUnavailable", reason: "the path is empty" })
        const missing = yield* Effect.flip(Effect.scoped(lmdb.openStore(join(dir, "none", "state.ham"))))
        expect(missing).toMatchObject({ _tag: "StoreUnavailable", code: "ENOENT" })
        expect(NodeFs.readdirSync(dir)).toEqual([])
      })))
})

describe("The store's probe", () => {
  it.live("a probe that crashes, hangs or says nothing is a typed error saying so, and leaves no process", () =>
    inTempDir("ham-store-", (dir) =>
      Effect.gen(function*() {
        const path = join(dir, "state.ham")
        yield* withStore(path, setup)
        const size = NodeFs.statSync(path).size
        const marker = `probe-test-${process.pid}`
        const run = (source: string, timeoutMillis?: number) =>
          Effect.flip(probe_.probe(path, size, { source: `/* ${marker} */ ${source}`, timeoutMillis }))
        const segv = yield* run(`process.kill(process.pid, "SIGSEGV")`)
        expect(segv).toMatchObject({ _tag: "StoreCorrupt" })
        expect(segv.message).toContain("crashed the process that checked it (SIGSEGV)")
        const assertion = yield* run(
          `process.stderr.write("mdb.c:8055: Assertion 'NUMKEYS(mp) > 1' failed in mdb_page_search_root()\\n"); process.abort()`
        )
        expect(assertion.message).toContain("(SIGABRT: mdb.c:8055: Assertion 'NUMKEYS(mp) > 1' failed")
        const hang = yield* run(`setInterval(() => {}, 1000)`, 300)
        expect(hang).toMatchObject({ _tag: "StoreCorrupt" })
        expect(hang.message).toContain("did not finish within 300 ms")
        const silent = yield* run(`process.exit(3)`)
        expect(silent).toMatchObject({ _tag: "StoreUnavailable" })
        expect(silent.message).toContain("ended without a verdict (exit code 3)")
        // a probe's command line names the file (its program comes on a pipe)
        yield* waitUntil("the hung probe gone", () => liveProcesses(path).length === 0)
      })))

  it.live(
    "a standby probe waits with lmdb loaded and opens the file only when asked; it gives the verdicts a probe gives",
    () =>
      inTempDir("ham-store-", (dir) =>
        Effect.gen(function*() {
          const path = join(dir, "state.ham")
          yield* withStore(path, setup)
          const size = NodeFs.statSync(path).size
          const fresh = yield* probe_.probe(path, size)
          // started ahead: up, and the file not open yet (a file it had opened would be in its fds)
          const standby = yield* probe_.standby(path)
          yield* waitUntil("the standby up", () => liveProcesses(`${path} standby`).length === 1)
          const [pid] = liveProcesses(`${path} standby`)
          const opens = () =>
            NodeFs.readdirSync(`/proc/${pid}/fd`).filter((fd) => {
              try {
                return NodeFs.readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith(path)
              } catch {
                return false
              }
            })
          yield* Effect.sleep("300 millis")
          expect(opens()).toEqual([])
          expect(yield* standby.probe(path, size)).toEqual(fresh)
          yield* waitUntil("the standby gone once used", () => liveProcesses(`${path} standby`).length === 0)
          // used: the next probe is a probe of its own
          expect(yield* standby.probe(path, size)).toEqual(fresh)

          // a damaged file: the verdict a probe gives
          const damaged = join(dir, "damaged.ham")
          const bytes = NodeFs.readFileSync(path)
          const page = bytes.readUInt32LE(24 + 24)
          bytes.fill(0xa5, 2 * page)
          NodeFs.writeFileSync(damaged, bytes)
          const expected = yield* Effect.flip(probe_.probe(damaged, bytes.length))
          const forDamaged = yield* probe_.standby(damaged)
          expect(yield* Effect.flip(forDamaged.probe(damaged, bytes.length))).toEqual(expected)
          expect(expected).toMatchObject({ _tag: "StoreCorrupt" })

          // asked for another file, or gone: a probe of its own
          const other = yield* probe_.standby(damaged)
          expect(yield* other.probe(path, size)).toEqual(fresh)
          const killed = yield* probe_.standby(path)
          yield* waitUntil("the second standby up", () => liveProcesses(`${path} standby`).length === 1)
          for (const p of liveProcesses(`${path} standby`)) process.kill(p, "SIGKILL")
          yield* waitUntil("the second standby gone", () => liveProcesses(`${path} standby`).length === 0)
          expect(yield* killed.probe(path, size)).toEqual(fresh)
          // killed from outside and asked at once, before this process has seen it die: its
          // SIGKILL is not taken for a crash on the file
          const killedJustBefore = yield* probe_.standby(path)
          yield* waitUntil("the third standby up", () => liveProcesses(`${path} standby`).length === 1)
          for (const p of liveProcesses(`${path} standby`)) process.kill(p, "SIGKILL")
          expect(yield* killedJustBefore.probe(path, size)).toEqual(fresh)
        })).pipe(Effect.scoped),
    30_000
  )

  it.live(
    "a store another process commits to all the while is probed sound every time",
    () =>
      inTempDir("ham-store-", (dir) =>
        Effect.gen(function*() {
          const path = join(dir, "state.ham")
          const writer = ChildProcess.spawn(
            process.execPath,
            ["--conditions=source", "--import", "tsx", "test/fixtures/store-writer.ts", path],
            { cwd: root, stdio: ["ignore", "pipe", "inherit"] }
          )
          yield* Effect.addFinalizer(() => Effect.sync(() => writer.kill("SIGKILL")))
          let written = 0
          let pending = ""
          writer.stdout.on("data", (chunk: Buffer) => {
            const lines = (pending + chunk.toString("utf8")).split("\n")
            pending = lines.pop()!
            if (lines.length > 0) written = Number(lines.at(-1))
          })
          yield* waitUntil("the writer writing", () => written > 100, 30_000)
          // each probe holds its snapshot while the writer commits: sound every time
          const from = written
          for (let i = 0; i < 5; i++) {
            const sound = yield* probe_.probe(path, NodeFs.statSync(path).size)
            expect(sound.records).toBeGreaterThan(2)
          }
          yield* waitUntil("the writer still writing", () => written > from, 30_000)
        })).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "stores whose writer was killed in the middle of a commit are probed sound",
    () =>
      inTempDir("ham-store-", (dir) =>
        Effect.gen(function*() {
          // transactions of every size: values inline and on overflow pages, deletions, page splits
          const churn = `const { open } = require(process.argv[1])
          const db = open({ path: process.argv[2], noSubdir: true, noSync: true })
          for (let i = 0;; i++) db.transactionSync(() => {
            for (let o = 0; o < 1 + (i % 17); o++) {
              const key = "e/" + ((i * 7919 + o) % 2000)
              if ((i + o) % 5 === 0) db.remove(key)
              else db.put(key, { key, data: "y".repeat((i * 31 + o * 977) % (i % 13 === 0 ? 20000 : 700)) })
            }
          })`
          for (let round = 0; round < 5; round++) {
            const path = join(dir, `churn-${round}.mdb`)
            const child = ChildProcess.spawn(process.execPath, ["-e", churn, lmdbEntry, path], { stdio: "inherit" })
            yield* waitUntil(
              "the writer writing",
              () => NodeFs.existsSync(path) && NodeFs.statSync(path).size > 1 << 20,
              30_000
            )
            yield* Effect.sleep(`${20 + round * 70} millis`)
            child.kill("SIGKILL")
            yield* Effect.async<void>((resume) => {
              child.once("exit", () => resume(Effect.void))
            })
            const sound = yield* probe_.probe(path, NodeFs.statSync(path).size)
            expect(sound.pages.leaf).toBeGreaterThan(0)
          }
        })),
    60_000
  )

  it.live("a store is not probed again while it holds exactly what this process left in it", () =>
    inTempDir("ham-store-", (dir) =>
      Effect.gen(function*() {
        const path = join(dir, "state.ham")
        yield* withStore(path, setup)
        // a probe that cannot run: the open fails if it is run, and succeeds if it is skipped
        const failing = { probe: true, probeOptions: { source: "process.exit(3)" } }
        yield* check.prepare(path, failing)
        expect(yield* check.asLeft(path)).toBe(true)
        // one byte changed by someone else: probed again
        const bytes = NodeFs.readFileSync(path)
        const last = bytes.length - 1
        NodeFs.writeFileSync(path, Buffer.concat([bytes.subarray(0, last), Buffer.from([bytes[last] ^ 1])]))
        expect(yield* check.asLeft(path)).toBe(false)
        const refused = yield* Effect.flip(check.prepare(path, failing))
        expect(refused.message).toContain("ended without a verdict")
      })))
})
