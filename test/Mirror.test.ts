/**
 * The tree as a directory (`mirror/files.ts`, `mirror/sync.ts`): the pure mapping of a tree to
 * directories and `stats` files; the directory written read-only (0555, 0444), kept in sync after
 * events (debounced, TestClock) and at the refresh, an entity gone removed; a directory that is
 * not a mirror refused with nothing touched; a mirror left by an earlier run taken over, one a
 * live process keeps refused; the marker saying when the mirror stopped.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Queue, Ref, Scope, Stream, TestClock } from "effect"
import * as cp from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { ConditionEvent } from "../src/Condition.js"
import * as files from "../src/internal/mirror/files.js"
import * as sync from "../src/internal/mirror/sync.js"
import { startTimeOf } from "../src/internal/procStart.js"
import type * as tree_ from "../src/internal/tree.js"

const action = (name: string, cond: string, entity: string): tree_.ActionNode => ({
  name,
  enabled: true,
  runs: 2,
  failures: 1,
  path: `${entity}/${cond}/${name}`,
  type: "Restart",
  summary: "restart the entity",
  breakOnFail: false,
  removeOnFail: false,
  oneShot: false,
  lastFailure: "spawn failed\nENOENT",
  alternates: [{ type: "Log", summary: `log "x" (verbosity 1)`, alternates: [] }]
})

const entity = (name: string, conditions: ReadonlyArray<string> = ["CondDeath"]): tree_.EntityNode => ({
  name,
  kind: "process",
  status: "running",
  enabled: true,
  state: 0,
  stats: {
    created: Date.UTC(2026, 0, 2, 3, 4, 5, 6),
    deaths: 1,
    abnormalDeaths: 1,
    restarts: 1,
    heartbeats: 0,
    missedLow: 0,
    missedHigh: 0,
    lastDeath: "killed by SIGKILL"
  },
  path: name,
  pid: 4242,
  heartbeat: { intervalMillis: 1000, missedLow: 2, missedHigh: 5, missed: 0, unhealthy: false },
  conditions: conditions.map((c) => ({
    name: c,
    type: "CondDeath",
    enabled: true,
    independent: false,
    noWait: false,
    oneShot: false,
    fired: 1,
    path: `${name}/${c}`,
    actions: [action("restart", c, name)]
  }))
})

const treeOf = (entities: ReadonlyArray<tree_.EntityNode>, global: ReadonlyArray<string> = []): tree_.Tree => ({
  time: Date.UTC(2026, 0, 2),
  verbosity: 1,
  numEntities: entities.length,
  numConditions: entities.reduce((n, e) => n + e.conditions.length, 0),
  numActions: 0,
  hamFailures: 0,
  watchdogFailures: 0,
  guardianFailures: 0,
  global: { conditions: global.map((g) => ({ ...entity("*", [g]).conditions[0], path: `*/${g}` })) },
  entities
})

const lines = (text: string) => text.trimEnd().split("\n")

describe("mirror: the tree as files (pure)", () => {
  it("one directory per entity, condition and action, a stats file in each, the root's counts", () => {
    const out = files.files(treeOf([entity("web"), entity("db", [])], ["CondAny"]))
    expect(out.dirs).toEqual([
      "*",
      "*/CondAny",
      "*/CondAny/restart",
      "web",
      "web/CondDeath",
      "web/CondDeath/restart",
      "db"
    ])
    expect([...out.files.keys()]).toEqual([
      "stats",
      "*/stats",
      "*/CondAny/stats",
      "*/CondAny/restart/stats",
      "web/stats",
      "web/CondDeath/stats",
      "web/CondDeath/restart/stats",
      "db/stats"
    ])
    expect(lines(out.files.get("stats")!)).toEqual([
      "time: 2026-01-02T00:00:00.000Z",
      "verbosity: 1",
      "numEntities: 2",
      "numConditions: 1",
      "numActions: 0",
      "hamFailures: 0",
      "watchdogFailures: 0",
      "guardianFailures: 0",
      "global.conditions: 1",
      "entities: 2"
    ])
  })

  it("an entity's stats: its fields, its statistics unprefixed, nested fields dotted, times in ISO 8601", () => {
    const text = files.files(treeOf([entity("web")])).files.get("web/stats")!
    expect(lines(text)).toEqual([
      "name: web",
      "kind: process",
      "status: running",
      "enabled: true",
      "state: 0",
      "created: 2026-01-02T03:04:05.006Z",
      "deaths: 1",
      "abnormalDeaths: 1",
      "restarts: 1",
      "heartbeats: 0",
      "missedLow: 0",
      "missedHigh: 0",
      "lastDeath: killed by SIGKILL",
      "path: web",
      "pid: 4242",
      "heartbeat.intervalMillis: 1000",
      "heartbeat.missedLow: 2",
      "heartbeat.missedHigh: 5",
      "heartbeat.missed: 0",
      "heartbeat.unhealthy: false",
      "conditions: 1"
    ])
    for (const line of lines(text)) expect(line).toMatch(/^[\w.]+: \S/)
  })

  it("an action's stats: a new line in a value written \\n, the alternates listed by index", () => {
    const text = files.files(treeOf([entity("web")])).files.get("web/CondDeath/restart/stats")!
    expect(lines(text)).toContain("lastFailure: spawn failed\\nENOENT")
    expect(lines(text)).toEqual(expect.arrayContaining([
      "alternates: 1",
      "alternates.0.type: Log",
      `alternates.0.summary: log "x" (verbosity 1)`,
      "alternates.0.alternates: 0"
    ]))
  })

  it("prints whatever fields a node has: a field the tree gains shows up", () => {
    const grown = { ...entity("web"), uptimeMillis: 1500, stats: { ...entity("web").stats, startedAt: 0 } }
    const text = files.files(treeOf([grown as tree_.EntityNode])).files.get("web/stats")!
    expect(lines(text)).toEqual(expect.arrayContaining(["uptimeMillis: 1500", "startedAt: 1970-01-01T00:00:00.000Z"]))
  })

  it("names as file names: no hidden node, no '.' or '..', none named like the stats file; reversible", () => {
    const names = [".", "..", ".ham-mirror", "stats", "50%", "web", "a b", "stats2"]
    const encoded = names.map(files.fileName)
    expect(encoded).toEqual(["%2E", "%2E.", "%2Eham-mirror", "%73tats", "50%25", "web", "a b", "stats2"])
    expect(encoded.map(decodeURIComponent)).toEqual(names)
    const out = files.files(treeOf([entity("stats"), entity(".hidden")]))
    expect(out.dirs.filter((d) => !d.includes("/"))).toEqual(["%73tats", "%2Ehidden"])
  })
})

// ---------------------------------------------------------------------------------------------
// on disk
// ---------------------------------------------------------------------------------------------

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "ham-mirror-"))),
  (dir) => Effect.sync(() => sync.removeTree(dir))
)

/** every directory and file below `dir` with its mode, `d 555 web` or `f 444 web/stats` */
const listing = (dir: string): Array<string> => {
  const out: Array<string> = []
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
      const child = rel === "" ? name : `${rel}/${name}`
      const stat = fs.lstatSync(path.join(dir, child))
      out.push(`${stat.isDirectory() ? "d" : "f"} ${(stat.mode & 0o777).toString(8)} ${child}`)
      if (stat.isDirectory()) walk(child)
    }
  }
  walk("")
  return out
}

/** a source whose tree the test sets, whose events the test sends, that counts the snapshots taken */
const testSource = Effect.gen(function*() {
  const tree = yield* Ref.make(treeOf([entity("web")]))
  const snapshots = yield* Ref.make(0)
  const events = yield* Queue.unbounded<ConditionEvent>()
  const source: sync.Source = {
    snapshot: Effect.zipRight(Ref.update(snapshots, (n) => n + 1), Ref.get(tree)),
    events: () => Stream.fromQueue(events)
  }
  const event = { _tag: "CondRestart", entity: "web", seq: 1, time: 0 } as unknown as ConditionEvent
  return { tree, snapshots, source, send: Queue.offer(events, event) }
})

describe("mirror: the directory", () => {
  it.scoped("written read-only, kept in sync after the events (debounced) and at the refresh", () =>
    Effect.gen(function*() {
      const root = path.join(yield* tempDir, "proc-ham")
      const { send, snapshots, source, tree } = yield* testSource
      const scope = yield* Scope.make()
      yield* Scope.extend(sync.make(source, root, { debounce: "100 millis", refresh: "10 seconds" }), scope)
      expect(yield* Ref.get(snapshots)).toBe(1)
      expect(listing(root)).toEqual([
        "f 444 .ham-mirror",
        "f 444 stats",
        "d 555 web",
        "d 555 web/CondDeath",
        "d 555 web/CondDeath/restart",
        "f 444 web/CondDeath/restart/stats",
        "f 444 web/CondDeath/stats",
        "f 444 web/stats"
      ])
      expect(fs.statSync(root).mode & 0o777).toBe(0o555)
      expect(fs.readFileSync(path.join(root, ".ham-mirror"), "utf8")).toBe(
        `effect-ham mirror\npid: ${process.pid}\nstart: ${startTimeOf(process.pid)}\n`
      )

      // three events 50 ms apart: one snapshot, 100 ms after the last
      yield* Ref.set(tree, treeOf([entity("web"), entity("db", [])]))
      for (let i = 0; i < 3; i++) {
        yield* send
        yield* TestClock.adjust("50 millis")
      }
      yield* TestClock.adjust("49 millis")
      expect(yield* Ref.get(snapshots)).toBe(1)
      expect(fs.existsSync(path.join(root, "db"))).toBe(false)
      yield* TestClock.adjust("1 millis")
      expect(yield* Ref.get(snapshots)).toBe(2)
      expect(listing(root)).toEqual(expect.arrayContaining(["d 555 db", "f 444 db/stats"]))

      // without an event, the refresh: an entity gone is removed, the stats changed rewritten
      const changed = { ...entity("web"), status: "restarting" as const }
      yield* Ref.set(tree, treeOf([changed]))
      yield* TestClock.adjust("10 seconds")
      expect(yield* Ref.get(snapshots)).toBe(3)
      expect(fs.existsSync(path.join(root, "db"))).toBe(false)
      expect(fs.readFileSync(path.join(root, "web", "stats"), "utf8")).toContain("status: restarting\n")
      expect(listing(root).filter((l) => !l.startsWith("d 555 ") && !l.startsWith("f 444 "))).toEqual([])
      expect(listing(root).some((l) => l.includes(".tmp"))).toBe(false)

      // stopped: the tree written once more, the marker says so; the directory stays
      yield* Ref.set(tree, treeOf([{ ...changed, status: "stopped" }]))
      yield* Scope.close(scope, Exit.void)
      expect(fs.readFileSync(path.join(root, "web", "stats"), "utf8")).toContain("status: stopped\n")
      expect(fs.readFileSync(path.join(root, ".ham-mirror"), "utf8")).toMatch(
        /^effect-ham mirror\nstopped: \d{4}-\d\d-\d\dT/
      )
      expect(fs.statSync(root).mode & 0o777).toBe(0o555)
    }))

  it.scoped("a directory that is not a mirror is refused, nothing touched; a file too", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      fs.writeFileSync(path.join(dir, "notes.txt"), "mine")
      fs.mkdirSync(path.join(dir, "web"))
      const before = listing(dir)
      const { source, snapshots } = yield* testSource
      const refused = yield* Effect.flip(sync.make(source, dir))
      expect(refused._tag).toBe("MirrorRefused")
      expect(refused.message).toBe(
        `cannot mirror the tree in ${dir}: it holds other files and is not a mirror (no .ham-mirror)`
      )
      expect(listing(dir)).toEqual(before)
      expect(fs.readFileSync(path.join(dir, "notes.txt"), "utf8")).toBe("mine")
      expect(yield* Ref.get(snapshots)).toBe(0)
      const file = yield* Effect.flip(sync.make(source, path.join(dir, "notes.txt")))
      expect(file.reason).toBe("it is not a directory")
    }))

  it.scoped("a mirror left by an earlier run is taken over: what it no longer has is removed", () =>
    Effect.gen(function*() {
      const root = path.join(yield* tempDir, "m")
      const { source, tree } = yield* testSource
      yield* Ref.set(tree, treeOf([entity("web"), entity("old")]))
      yield* Effect.scoped(sync.make(source, root))
      expect(fs.existsSync(path.join(root, "old", "CondDeath", "restart", "stats"))).toBe(true)
      // a temporary file left by a write cut short
      fs.chmodSync(root, 0o755)
      fs.writeFileSync(path.join(root, ".stats.tmp"), "half")
      fs.chmodSync(root, 0o555)

      yield* Ref.set(tree, treeOf([entity("web")]))
      yield* Effect.scoped(Effect.zipRight(
        sync.make(source, root),
        Effect.sync(() => {
          expect(fs.existsSync(path.join(root, "old"))).toBe(false)
          expect(fs.existsSync(path.join(root, ".stats.tmp"))).toBe(false)
          expect(fs.readdirSync(root).sort()).toEqual([".ham-mirror", "stats", "web"])
        })
      ))
    }))

  it.live("a mirror another live process keeps is refused", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const child = yield* Effect.acquireRelease(
        Effect.sync(() => cp.spawn("sleep", ["30"], { stdio: "ignore" })),
        (c) => Effect.sync(() => c.kill("SIGKILL"))
      )
      const pid = child.pid!
      let start: number | undefined
      while ((start = startTimeOf(pid)) === undefined) yield* Effect.sleep("10 millis")
      fs.writeFileSync(path.join(root, ".ham-mirror"), `effect-ham mirror\npid: ${pid}\nstart: ${start}\n`)
      const { source } = yield* testSource
      const refused = yield* Effect.flip(sync.make(source, root))
      expect(refused.reason).toBe(`process ${pid} keeps a mirror there`)
      expect(fs.readdirSync(root)).toEqual([".ham-mirror"])
      // the same pid with another start time is another process: taken over
      fs.writeFileSync(path.join(root, ".ham-mirror"), `effect-ham mirror\npid: ${pid}\nstart: ${start + 1}\n`)
      yield* Effect.scoped(sync.make(source, root))
      expect(fs.readdirSync(root).sort()).toEqual([".ham-mirror", "stats", "web"])
    }).pipe(Effect.scoped))
})
