/**
 * The HAM's CPU with 200 probed entities (issue 16: at most 5 % of one core): 200 fiber entities,
 * each with a probe every second against a local server that runs in a process of its own (so that
 * only the HAM's side is measured), TCP connects then HTTP GETs. The HAM's process CPU time
 * (`process.cpuUsage`) over a 10 s window, beside its floor measured in the same run: a bare Node
 * loop doing the same connects or GETs on a timer, no HAM.
 *
 * Run alone: `node --expose-gc --import tsx bench/probes.ts`.
 */
import { Effect } from "effect"
import { Entity, Ham } from "effect-ham"
import * as ChildProcess from "node:child_process"
import * as Http from "node:http"
import * as Net from "node:net"
import { report } from "./core.js"

const n = 200
const measureMillis = 10_000

/** an HTTP server (which also takes TCP connects) in a child process; its port, and its end */
const server = Effect.acquireRelease(
  Effect.async<{ readonly port: number; readonly child: ChildProcess.ChildProcess }>((resume) => {
    const script = `const s = require("node:http").createServer((q, r) => r.end("ok"));` +
      `s.keepAliveTimeout = 60000; s.listen(0, "127.0.0.1", () => console.log(s.address().port))`
    const child = ChildProcess.spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] })
    child.stdout!.once("data", (data) => resume(Effect.succeed({ port: Number(String(data).trim()), child })))
  }),
  ({ child }) => Effect.sync(() => child.kill("SIGKILL"))
)

/** the HAM's CPU (fraction of one core) over the window, and how many probes ran and failed */
const hamCpu = (probe: (port: number) => Ham.ProbeOptions, port: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < n; i++) {
      yield* Ham.attach(Entity.fiber(`probed-${i}`, Effect.never), {
        probe: { ...probe(port), interval: "1 second", timeout: "500 millis" }
      })
    }
    yield* Effect.sleep("2500 millis")
    const before = yield* Ham.snapshot
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    yield* Effect.sleep(measureMillis)
    const cpu = process.cpuUsage(cpu0)
    const wall = performance.now() - t0
    const after = yield* Ham.snapshot
    const sum = (tree: typeof after, f: (p: NonNullable<(typeof after.entities)[number]["probe"]>) => number) =>
      tree.entities.reduce((s, e) => s + (e.probe === undefined ? 0 : f(e.probe)), 0)
    return {
      share: (cpu.user + cpu.system) / 1000 / wall,
      probes: sum(after, (p) => p.probes) - sum(before, (p) => p.probes),
      failures: sum(after, (p) => p.failures) - sum(before, (p) => p.failures)
    }
  }).pipe(Effect.scoped, Effect.provide(Ham.layer({ verbosity: 0 })))

/** the floor: the same 200 connects (or GETs) a second from a plain timer loop, no HAM */
const bareCpu = (kind: "tcp" | "http", port: number) =>
  Effect.promise(async () => {
    const agent = new Http.Agent({ keepAlive: true })
    const one = () =>
      kind === "tcp"
        ? new Promise<void>((resolve) => {
          const socket = Net.connect({ host: "127.0.0.1", port })
          const done = () => {
            socket.destroy()
            resolve()
          }
          socket.once("connect", done)
          socket.once("error", done)
        })
        : new Promise<void>((resolve) => {
          Http.get({ host: "127.0.0.1", port, path: "/health", agent }, (res) => {
            res.resume()
            res.on("end", resolve)
          }).on("error", () => resolve())
        })
    const timers: Array<NodeJS.Timeout> = []
    for (let i = 0; i < n; i++) timers.push(setInterval(() => void one(), 1000))
    await new Promise((r) => setTimeout(r, 2500))
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    await new Promise((r) => setTimeout(r, measureMillis))
    const cpu = process.cpuUsage(cpu0)
    const wall = performance.now() - t0
    for (const t of timers) clearInterval(t)
    agent.destroy()
    return (cpu.user + cpu.system) / 1000 / wall
  })

/** @internal */
export const probeCpu = Effect.gen(function*() {
  const { port } = yield* server
  const cases = [
    ["tcp", (p: number) => ({ tcp: { port: p } })],
    ["http", (p: number) => ({ http: `http://127.0.0.1:${p}/health` })]
  ] as const
  for (const [kind, probe] of cases) {
    const ham = yield* hamCpu(probe, port)
    const bare = yield* bareCpu(kind, port)
    const name = kind === "tcp" ? "probe_cpu_200_percent" : "probe_cpu_200_http_percent"
    report(name, ham.share * 100, `% of one core (200 ${kind} probes at 1 s; target <= 5)`)
    report(`${name.replace("_percent", "")}_probes_per_s`, ham.probes / (measureMillis / 1000), "probes/s", 0)
    report(`${name.replace("_percent", "")}_failures`, ham.failures, "(expect 0)", 0)
    report(`bare_${kind}_200_per_s_cpu_percent`, bare * 100, "% of one core (the same requests, no HAM)")
    report(`${name.replace("_percent", "")}_ratio`, ham.share / bare, "x (HAM / bare loop)")
  }
}).pipe(Effect.scoped)

if (process.argv[1]?.endsWith("probes.ts")) {
  Effect.runPromise(probeCpu).then(() => process.exit(0), (e) => {
    console.error(e)
    process.exit(1)
  })
}
