/**
 * Groups: OTP's supervisors on the HAM's entities, with dependencies.
 *
 * The "app" group (strategy `restForOne`) holds three child processes and a nested group:
 *
 * - `db` listens on a TCP port (ready once the port accepts connections);
 * - `api` depends on `db` and says `READY=1` on its notify socket;
 * - `web` depends on `api`;
 * - `workers`, a nested group (`oneForAll`, at most 1 restart in 5 seconds) of two fibers.
 *
 * The members start in dependency order, each after what it depends on is ready. A SIGKILLed `db`
 * is restarted with the members after it (`restForOne`). A `Group.restart("api")` action restarts
 * `api`, and `web` follows (it depends on it). A crash loop in `workers` makes it give up: `app`
 * restarts it (escalation). At the end, `Ham.stop` stops everything in reverse order.
 *
 *   npm run example -- examples/groups.ts
 */
import { Command } from "@effect/platform"
import { Console, Deferred, Effect, Schedule } from "effect"
import { Entity, Group, Ham, HamLive, Tree } from "effect-ham"
import * as net from "node:net"

/** a Node child: listens on a port (db), or says READY=1 (api), or just runs (web) */
const child = `
const net = require("net")
const [role, port] = process.argv.slice(1)
setInterval(() => {}, 1000)
if (role === "db") setTimeout(() => net.createServer((s) => s.end()).listen(Number(port), "127.0.0.1"), 200)
if (role === "api") { const s = net.connect(process.env.HAM_NOTIFY_SOCKET, () => s.write("READY=1\\n")) }
`
const node = (name: string, ...args: Array<string>) =>
  Entity.process(name, Command.make(process.execPath, "-e", child, name, ...args), { output: "ignore" })

const freePort = Effect.async<number>((resume) => {
  const server = net.createServer().listen(0, "127.0.0.1", () => {
    const address = server.address()
    server.close(() => resume(Effect.succeed(typeof address === "object" && address !== null ? address.port : 0)))
  })
})

const pids = Effect.map(
  Ham.snapshot,
  (tree) => tree.entities.filter((e) => e.kind === "process").map((e) => `${e.name} ${e.pid ?? "-"}`).join(", ")
)

/** polls the tree (every 20 ms, up to 5 s) until `check` holds */
const until = (check: (tree: Tree.Tree) => boolean) =>
  Effect.repeat(Ham.snapshot, { until: check, schedule: Schedule.spaced("20 millis") }).pipe(
    Effect.timeout("5 seconds"),
    Effect.orDie,
    Effect.zipRight(Ham.snapshot)
  )

const statusOf = (tree: Tree.Tree, name: string) => tree.entities.find((e) => e.name === name)?.status
const pidOf = (tree: Tree.Tree, name: string) => tree.entities.find((e) => e.name === name)?.pid

const program = Effect.gen(function*() {
  const port = yield* freePort
  // w2 crashes 50 ms into its first three lives once `go` is done
  const go = yield* Deferred.make<void>()
  let crashes = 0
  const crashy = Deferred.await(go).pipe(
    Effect.zipRight(Effect.sleep("50 millis")),
    Effect.zipRight(Effect.suspend(() => crashes++ < 3 ? Effect.fail("crash") : Effect.never))
  )

  yield* Ham.attach(Entity.group("app", [
    Entity.member(node("db", String(port)), { ready: { port } }),
    Entity.member(node("api"), { dependsOn: ["db"], ready: "notify" }),
    Entity.member(node("web"), { dependsOn: ["api"] }),
    Entity.group("workers", [Entity.fiber("w1", Effect.never), Entity.fiber("w2", crashy)], {
      strategy: "oneForAll",
      intensity: { maxRestarts: 1, within: "5 seconds" }
    })
  ], { strategy: "restForOne", intensity: { maxRestarts: 5, within: "10 seconds" } }))
  yield* Console.log(`started in dependency order: ${yield* pids}`)

  // 1. the database is SIGKILLed: restForOne restarts it and every member after it
  const before = yield* Ham.snapshot
  process.kill(pidOf(before, "db")!, "SIGKILL")
  yield* until((t) => pidOf(t, "web") !== pidOf(before, "web") && statusOf(t, "web") === "running")
  yield* Console.log(`db killed: db, api and web restarted (restForOne): ${yield* pids}`)

  // 2. an action restarts a sibling by name; what depends on it follows
  const beforeAction = yield* Ham.snapshot
  yield* Ham.conditionRaise("web", {}).pipe(Ham.action(Group.restart("api")))
  yield* Ham.raise("web", { type: 1, class: 1, severity: 1 })
  yield* until((t) => pidOf(t, "web") !== pidOf(beforeAction, "web") && statusOf(t, "web") === "running")
  yield* Console.log(`Group.restart("api") ran: api restarted, web followed: ${yield* pids}`)

  // 3. the workers group gives up (w2 crashes too often) and app restarts it
  yield* Deferred.succeed(go, undefined)
  yield* until((t) => (t.groups ?? []).some((g) => g.name === "workers" && g.status === "running") && crashes >= 3)
  const tree = yield* until((t) => statusOf(t, "w2") === "running")
  yield* Console.log(`w2 crashed ${crashes} times: workers gave up, app restarted it (escalation)`)
  const lines = Tree.render(tree).split("\n")
  yield* Console.log(lines.slice(lines.findIndex((line) => line.startsWith("group "))).join("\n"))
  yield* Ham.stop
  yield* Console.log("stopped in reverse order: workers, web, api, db")
})

program.pipe(Effect.scoped, Effect.provide(HamLive), Effect.runPromise)
