/**
 * The tree as a directory, with a real daemon and the real `ls` and `cat`: the daemon's `mirror`
 * option and `ham mirror <dir>` each keep a read-only directory (0555, 0444) in sync with the
 * tree: an entity, its condition and action; its stats after a SIGKILL and the restart; an entity
 * `ham detach`ed gone. A directory that is not a mirror, or a mirror another `ham mirror` keeps,
 * is refused with exit 2; an interrupted mirror leaves its directory, taken over by the next one;
 * `ham stop` leaves the daemon's mirror as last written, and ends `ham mirror` with exit 3.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as cp from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import * as sync from "../src/internal/mirror/sync.js"
import { ham, lsJson, spawned } from "./daemon.js"
import { tempDir, waitUntil } from "./processes.js"

/** runs a command of the system (`ls`, `cat`) and gives its output */
const sh = (command: string, ...args: ReadonlyArray<string>): string => {
  const r = cp.spawnSync(command, args, { encoding: "utf8", timeout: 10_000 })
  expect(r.status, r.stderr).toBe(0)
  return r.stdout
}

/** the modes below `dir`: `555` or `444` for each directory and file, by kind */
const modes = (dir: string): Set<string> => {
  const out = new Set<string>()
  const walk = (p: string) => {
    for (const entry of fs.readdirSync(p, { withFileTypes: true })) {
      const child = path.join(p, entry.name)
      out.add(`${entry.isDirectory() ? "d" : "f"} ${(fs.lstatSync(child).mode & 0o777).toString(8)}`)
      if (entry.isDirectory()) walk(child)
    }
  }
  out.add(`d ${(fs.statSync(dir).mode & 0o777).toString(8)}`)
  walk(dir)
  return out
}

/**
 * The modes of a mirror once its writes are done: a directory is writable by its owner while it
 * is changed (a write after an event may be under way when the test looks), read-only after
 */
const settledModes = (dir: string) =>
  Effect.gen(function*() {
    let seen = new Set<string>()
    yield* waitUntil(`${dir} read-only again`, () => {
      try {
        seen = modes(dir)
      } catch {
        // a file renamed under the walk
        return false
      }
      return seen.size === 2 && seen.has("d 555") && seen.has("f 444")
    }, 5000)
    return seen
  })

/** a field of a stats file (read directly: polled; `cat` is checked once on each) */
const field = (file: string, key: string) => new RegExp(`^${key}: (.*)$`, "m").exec(fs.readFileSync(file, "utf8"))?.[1]

describe("ham mirror", () => {
  it.live(
    "the daemon's mirror and ham mirror: ls and cat as on /proc/ham, a restart, a detach, stop",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir("ham-mirror-")
        const daemonMirror = path.join(dir, "proc-ham")
        const cliMirror = path.join(dir, "cli", "ham")
        // read-only directories: made writable before the temporary directory is removed
        yield* Effect.addFinalizer(() => Effect.sync(() => [daemonMirror, cliMirror].forEach(sync.removeTree)))
        const file = path.join(dir, "ham.json")
        fs.writeFileSync(
          file,
          JSON.stringify({
            socket: "./run/ham.sock",
            mirror: "./proc-ham",
            entities: [
              {
                name: "web",
                command: { command: "sleep", args: ["300"] },
                conditions: [{ name: "CondDeath", type: "CondDeath", actions: [{ _tag: "Restart", name: "restart" }] }]
              },
              { name: "worker", command: { command: "sleep", args: ["300"] } }
            ]
          })
        )
        const socket = path.join(dir, "run", "ham.sock")
        const daemon = yield* spawned("start", "--config", file)
        yield* waitUntil("the daemon to serve", () => daemon.out.stdout.includes("ham: running 2 entities"), 20_000)
        const mirror = yield* spawned("mirror", cliMirror, "--socket", socket)
        yield* waitUntil("ham mirror to write", () => mirror.out.stdout.includes("ham: mirroring the tree"), 20_000)

        const [web] = lsJson(socket)
        for (const m of [daemonMirror, cliMirror]) {
          expect(sh("ls", m)).toBe("stats\nweb\nworker\n")
          expect(sh("ls", path.join(m, "web", "CondDeath"))).toBe("restart\nstats\n")
          expect(sh("ls", path.join(m, "web", "CondDeath", "restart"))).toBe("stats\n")
          const stats = sh("cat", path.join(m, "web", "stats"))
          expect(stats).toMatch(/^name: web\nkind: process\nstatus: running\n/)
          expect(stats).toContain(`\npid: ${web.pid}\n`)
          expect(stats).toContain("\nrestarts: 0\n")
          expect(sh("cat", path.join(m, "web", "CondDeath", "stats"))).toMatch(/^name: CondDeath\ntype: CondDeath\n/)
          expect(sh("cat", path.join(m, "stats"))).toContain("\nnumEntities: 2\n")
          expect(yield* settledModes(m)).toEqual(new Set(["d 555", "f 444"]))
        }

        // SIGKILL: the death and the restart show in both, within a second or so
        process.kill(web.pid!, "SIGKILL")
        for (const m of [daemonMirror, cliMirror]) {
          const stats = path.join(m, "web", "stats")
          yield* waitUntil(`the restart in ${m}`, () => field(stats, "restarts") === "1", 10_000)
          yield* waitUntil(`the new pid in ${m}`, () => field(stats, "pid") === String(lsJson(socket)[0].pid), 10_000)
          expect(field(stats, "pid")).not.toBe(String(web.pid))
          expect(field(stats, "deaths")).toBe("1")
          expect(field(stats, "lastDeath")).toBe("killed by SIGKILL")
          yield* waitUntil(`the action's run in ${m}`, () =>
            field(path.join(m, "web", "CondDeath", "restart", "stats"), "runs") === "1" &&
            field(path.join(m, "web", "CondDeath", "stats"), "fired") === "1", 10_000)
          expect(yield* settledModes(m)).toEqual(new Set(["d 555", "f 444"]))
        }

        // detached: its directory goes
        const detach = ham("detach", "worker", "--socket", socket)
        expect(detach.code, detach.stderr).toBe(0)
        for (const m of [daemonMirror, cliMirror]) {
          yield* waitUntil(`worker gone from ${m}`, () =>
            sh("ls", m) === "stats\nweb\n", 10_000)
        }

        // refused, exit 2, nothing touched: a mirror another ham mirror keeps; a directory not a mirror
        const twice = ham("mirror", cliMirror, "--socket", socket)
        expect([twice.code, twice.stderr]).toEqual([
          2,
          `ham: cannot mirror the tree in ${cliMirror}: process ${mirror.child.pid} keeps a mirror there\n`
        ])
        const before = fs.readdirSync(dir).sort()
        const other = ham("mirror", dir, "--socket", socket)
        expect(other.code).toBe(2)
        expect(other.stderr).toContain("it holds other files and is not a mirror (no .ham-mirror)")
        expect(fs.readdirSync(dir).sort()).toEqual(before)

        // interrupted: the directory stays; the next ham mirror takes it over
        mirror.child.kill("SIGINT")
        yield* waitUntil("ham mirror to end", () =>
          mirror.out.exit !== undefined, 10_000)
        expect(sh("cat", path.join(cliMirror, ".ham-mirror"))).toMatch(/^effect-ham mirror\nstopped: /)
        expect(sh("ls", cliMirror)).toBe("stats\nweb\n")
        const again = yield* spawned("mirror", cliMirror, "--socket", socket)
        yield* waitUntil("ham mirror to take over", () =>
          again.out.stdout.includes("ham: mirroring the tree"), 20_000)
        expect(sh("cat", path.join(cliMirror, ".ham-mirror"))).toContain(`\npid: ${again.child.pid}\n`)

        // ham stop: the daemon's mirror says the entity stopped; ham mirror ends with exit 3
        const stop = ham("stop", "--socket", socket)
        expect(stop.code, stop.stderr).toBe(0)
        yield* waitUntil("the daemon to exit", () => daemon.out.exit !== undefined, 10_000)
        expect(field(path.join(daemonMirror, "web", "stats"), "status")).toBe("stopped")
        expect(sh("cat", path.join(daemonMirror, ".ham-mirror"))).toMatch(/^effect-ham mirror\nstopped: /)
        expect(yield* settledModes(daemonMirror)).toEqual(new Set(["d 555", "f 444"]))
        yield* waitUntil("ham mirror to end", () => again.out.exit !== undefined, 15_000)
        expect(again.out.exit).toBe(3)
        expect(again.out.stderr).toContain(`stays as last written`)
        expect(sh("cat", path.join(cliMirror, ".ham-mirror"))).toMatch(/^effect-ham mirror\nstopped: /)
      }).pipe(Effect.scoped),
    120_000
  )

  it.live(
    "ham start with a mirror directory that is not a mirror: exit 2, nothing started, nothing touched",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir("ham-mirror-")
        fs.mkdirSync(path.join(dir, "docs"))
        fs.writeFileSync(path.join(dir, "docs", "notes.txt"), "mine")
        const file = path.join(dir, "ham.json")
        const marker = { name: "marker", command: { command: "touch", args: [path.join(dir, "started")] } }
        fs.writeFileSync(
          file,
          JSON.stringify({ socket: "./ham.sock", state: false, mirror: "docs", entities: [marker] })
        )
        const r = ham("start", "--config", file)
        expect([r.code, r.stderr]).toEqual([
          2,
          `ham: cannot mirror the tree in ${
            path.join(dir, "docs")
          }: it holds other files and is not a mirror (no .ham-mirror)\n`
        ])
        expect(fs.readdirSync(dir).sort()).toEqual(["docs", "ham.json"])
        expect(fs.readdirSync(path.join(dir, "docs"))).toEqual(["notes.txt"])
      }).pipe(Effect.scoped),
    60_000
  )
})
