/**
 * Groups of real child processes: start order after dependencies (READY=1, a TCP port), stop in
 * reverse order, the strategies with real SIGKILLs, and what a dependency's restart does to its
 * dependents (restart, pause). Each child logs its start and its SIGTERM to a file; the checks read
 * /proc; every wait is bounded; no child is left at the end.
 */
import { Command } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Entity, Ham } from "effect-ham"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { freePort, inTempDir, isLive, liveProcesses, pidOf, waitUntil, waitUntilEffect } from "./processes.js"
import { entityNode, withHam } from "./utils.js"

/** a child: logs "+name" at start, "ready name" when it says ready, "-name" at SIGTERM (then exits) */
const script = `
const fs = require("fs"), net = require("net")
const [name, log, mode, arg, delay] = process.argv.slice(1)
fs.appendFileSync(log, "+" + name + "\\n")
process.on("SIGTERM", () => { fs.appendFileSync(log, "-" + name + "\\n"); process.exit(0) })
setInterval(() => {}, 1000)
if (mode === "notify") setTimeout(() => {
  const s = net.connect(process.env.HAM_NOTIFY_SOCKET, () => { fs.appendFileSync(log, "ready " + name + "\\n"); s.write("READY=1\\n") })
}, Number(delay))
if (mode === "port") setTimeout(() => net.createServer().listen(Number(arg), "127.0.0.1", () => fs.appendFileSync(log, "ready " + name + "\\n")), Number(delay))
`

const child = (dir: string, name: string, mode = "plain", arg = "0", delay = "0") =>
  Entity.process(name, Command.make(process.execPath, "-e", script, name, join(dir, "log"), mode, arg, delay), {
    output: "ignore",
    stopGrace: "2 seconds"
  })

const logOf = (dir: string): ReadonlyArray<string> => {
  const path = join(dir, "log")
  return existsSync(path) ? readFileSync(path, "utf8").split("\n").filter((l) => l.length > 0) : []
}

const statusOf = (name: string) => Effect.map(entityNode(name), (n) => n.status)

/** the pid changed from `old` and the entity runs */
const restarted = (name: string, old: number) =>
  waitUntilEffect(
    `${name} restarted`,
    Effect.map(entityNode(name), (n) => n.status === "running" && n.pid !== undefined && n.pid !== old),
    5000
  )

/**
 * Runs `body` with a HAM and a temporary directory; once the HAM stopped, no child of the directory
 * is left, and the children's log is given to `after`
 */
const inGroupDir = <A, E>(
  body: (dir: string) => Effect.Effect<A, E, Ham.Ham>,
  after: (log: ReadonlyArray<string>) => void = () => {}
) =>
  inTempDir("ham-group-", (dir) =>
    Effect.gen(function*() {
      yield* body(dir).pipe(withHam())
      yield* waitUntil("no child left", () => liveProcesses(dir).length === 0, 3000)
      after(logOf(dir))
    }))

describe("groups of processes", () => {
  it.live("start after the dependencies are ready (READY=1, a port), stop in reverse order, no child left", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      yield* inGroupDir((dir) =>
        Effect.gen(function*() {
          yield* Ham.attach(Entity.group("app", [
            Entity.member(child(dir, "web"), { dependsOn: ["api"] }),
            Entity.member(child(dir, "api", "notify", "0", "300"), { dependsOn: ["db"], ready: "notify" }),
            Entity.member(child(dir, "db", "port", String(port), "300"), { ready: { port } })
          ]))
          // the attach returns once every member started, each after its dependencies were ready
          yield* waitUntil("web started", () => logOf(dir).includes("+web"), 5000)
          expect(logOf(dir)).toEqual(["+db", "ready db", "+api", "ready api", "+web"])
        }), (log) => expect(log).toEqual(["+db", "ready db", "+api", "ready api", "+web", "-web", "-api", "-db"]))
    }))

  it.live("restForOne with a real SIGKILL: the dead member and those after it restart, the others keep their pid", () =>
    Effect.gen(function*() {
      yield* inGroupDir((dir) =>
        Effect.gen(function*() {
          yield* Ham.attach(
            Entity.group("g", [child(dir, "a"), child(dir, "b"), child(dir, "c")], { strategy: "restForOne" })
          )
          yield* waitUntil("all started", () => logOf(dir).length === 3, 5000)
          const [a, b, c] = [yield* pidOf("a"), yield* pidOf("b"), yield* pidOf("c")]
          process.kill(b, "SIGKILL")
          yield* restarted("b", b)
          yield* restarted("c", c)
          yield* waitUntil("b and c started again", () => logOf(dir).length === 6, 5000)
          expect(yield* pidOf("a")).toBe(a)
          expect([isLive(b), isLive(c)]).toEqual([false, false])
          expect(logOf(dir).slice(3, 4)).toEqual(["-c"])
          expect(logOf(dir).slice(4).sort()).toEqual(["+b", "+c"])
        }), (log) => expect(log.slice(6)).toEqual(["-c", "-b", "-a"]))
    }))

  it.live("oneForAll with a real SIGKILL: every member gets a new process", () =>
    Effect.gen(function*() {
      yield* inGroupDir((dir) =>
        Effect.gen(function*() {
          yield* Ham.attach(Entity.group("g", [child(dir, "a"), child(dir, "b")], { strategy: "oneForAll" }))
          yield* waitUntil("all started", () => logOf(dir).length === 2, 5000)
          const [a, b] = [yield* pidOf("a"), yield* pidOf("b")]
          process.kill(a, "SIGKILL")
          yield* restarted("a", a)
          yield* restarted("b", b)
          yield* waitUntil("a and b started again", () => logOf(dir).length === 5, 5000)
          expect([isLive(a), isLive(b)]).toEqual([false, false])
          expect(logOf(dir).slice(2, 3)).toEqual(["-b"])
          expect(logOf(dir).slice(3).sort()).toEqual(["+a", "+b"])
        })
      )
    }))

  it.live("a dependency killed: a paused dependent is stopped until the port opens again; a restart one restarts then", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      yield* inGroupDir((dir) =>
        Effect.gen(function*() {
          yield* Ham.attach(Entity.group("g", [
            Entity.member(child(dir, "db", "port", String(port), "400"), { ready: { port } }),
            Entity.member(child(dir, "paused"), { dependsOn: ["db"], onDependencyRestart: "pause" }),
            Entity.member(child(dir, "follows"), { dependsOn: ["db"] })
          ], { intensity: { maxRestarts: 5, within: "10 seconds" } }))
          const [db, paused, follows] = [yield* pidOf("db"), yield* pidOf("paused"), yield* pidOf("follows")]
          process.kill(db, "SIGKILL")
          // db is back at once but listens only 400 ms later: meanwhile "paused" is stopped, "follows" runs on
          yield* waitUntilEffect("paused stopped", Effect.map(statusOf("paused"), (s) => s === "stopped"), 3000)
          yield* waitUntil("the paused process gone", () => !isLive(paused), 3000)
          expect(yield* pidOf("follows")).toBe(follows)
          yield* restarted("paused", paused)
          yield* restarted("follows", follows)
          expect(isLive(follows)).toBe(false)
          const log = logOf(dir)
          const readyAgain = log.lastIndexOf("ready db")
          expect(log.indexOf("-paused")).toBeLessThan(readyAgain)
          expect(log.indexOf("-follows")).toBeGreaterThan(readyAgain)
        })
      )
    }))
})
