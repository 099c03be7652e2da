/**
 * Restart latency against what a user would pick instead (issue #12).
 *
 * Child processes: the service is a small C program (built here with the machine's C compiler)
 * that connects to a TCP port and writes its pid: it is ready. A measurer, a small Node process
 * of its own, accepts those announcements, SIGKILLs the service 1.5 to 2 seconds after each one
 * and times SIGKILL → the next pid's announcement. The supervisors take turns, in alternating
 * runs of 30 kills (after 3 kills not counted):
 *
 * - the HAM, in this (large) process, as an application holds it: its default spawner, default
 *   output (logged), `Ham.condition(svc, CondDeath).pipe(Ham.restart)`;
 * - a minimal Node respawn loop in a small process of its own: `spawn(...).on("exit", again)`;
 * - the same loop spawning its child as the HAM's children are spawned (a session and process
 *   group of their own, stdout and stderr piped): what those options cost, apart from the HAM.
 *
 * The HAM also times SIGKILL → `CondDeath` (death detection): the measurer prints the time of
 * each kill on the system's monotonic clock, which `process.hrtime` reads in every process. Once
 * with the restart above (the spawner armed: its report brings the death and the next child
 * together), once for children nothing restarts (the HAM sees the death itself, when the child's
 * output ends and /proc shows it dead). Node's own floor is timed in the same run: the small
 * loop with the HAM's spawn options notes when its child's first pipe ends and when its `exit`
 * event comes, each after the SIGKILL.
 *
 * Fibers: another fiber triggers the failure of a fiber entity's life through a queue, and times
 * until the next life announces itself through a queue; against a bare loop that re-forks the
 * same effect when it exits, in alternating blocks.
 */
import { Command } from "@effect/platform"
import { Effect, Fiber, Layer, Queue } from "effect"
import { Entity, Ham } from "effect-ham"
import { CondDeath } from "effect-ham/Condition"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { report } from "./core.js"

/** a service that announces its pid on 127.0.0.1:<port> (its first argument), then waits */
const serviceSource = `#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
int main(int argc, char **argv) {
  if (argc < 2) return 2;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 3;
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((unsigned short)atoi(argv[1]));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) return 4;
  char line[32];
  int n = snprintf(line, sizeof line, "%d\\n", (int)getpid());
  if (write(fd, line, (size_t)n) != n) return 5;
  close(fd);
  for (;;) pause();
}
`

/** the same service in Node, when no C compiler is found (Node's own start-up then dominates) */
const nodeServiceSource = `const net = require("node:net")
const socket = net.connect(Number(process.argv[2]), "127.0.0.1", () => socket.end(process.pid + "\\n"))
setInterval(() => {}, 1 << 30)
`

/**
 * The measurer: argv kills, warm-up kills, least and greatest gap (ms). It prints its port on
 * stderr, and at the end one JSON line on stdout: each counted kill (pid, kill time, ready time
 * of the next pid, on the monotonic clock in ns).
 */
const measurerSource = `"use strict"
const net = require("node:net")
const [kills, warm, gapMin, gapMax] = process.argv.slice(2).map(Number)
const results = []
let pending
let done = 0
let last
const server = net.createServer((socket) => {
  let text = ""
  socket.on("error", () => {})
  socket.on("data", (chunk) => {
    const at = process.hrtime.bigint()
    text += chunk
    if (!text.includes("\\n")) return
    socket.destroy()
    ready(Number(text.trim()), at)
  })
})
const ready = (pid, at) => {
  last = pid
  if (pending !== undefined) {
    if (pid === pending.pid) return
    if (done >= warm) results.push({ pid: pending.pid, killAt: String(pending.at), readyAt: String(at) })
    done++
    pending = undefined
  }
  if (done >= warm + kills) {
    process.stdout.write(JSON.stringify(results) + "\\n", () => process.exit(0))
    return
  }
  setTimeout(() => {
    pending = { pid, at: process.hrtime.bigint() }
    process.kill(pid, "SIGKILL")
  }, gapMin + Math.random() * (gapMax - gapMin))
}
// a service that never comes back ends the run
setInterval(() => {
  if (pending !== undefined && process.hrtime.bigint() - pending.at > 10000000000n) {
    process.stderr.write("no new service within 10 s of a kill\\n")
    process.exit(1)
  }
}, 1000)
server.listen(0, "127.0.0.1", () => process.stderr.write("port " + server.address().port + "\\n"))
// the bench gone (its end of stdin closed, even by a SIGKILL): nothing to measure for
process.stdin.on("end", () => process.exit(1)).resume()
`

/**
 * The minimal respawn loop a user would write, in a small Node process of its own. Its first
 * argument: "plain" (the child shares the loop's stdio), or "ham" (the spawn options the HAM's
 * children get by default: a session and process group of their own, stdout and stderr piped and
 * drained), which tells what those options cost apart from the HAM.
 */
const loopSource = `"use strict"
const cp = require("node:child_process")
const [mode, command, ...args] = process.argv.slice(2)
const options = mode === "ham" ? { stdio: ["ignore", "pipe", "pipe"], detached: true } : { stdio: "inherit" }
// "ham": when each child's output ended (its first pipe), and when its exit event came
const seen = []
let child
const start = () => {
  child = cp.spawn(command, args, options)
  const pid = child.pid
  let endAt
  const ended = () => { endAt ??= process.hrtime.bigint() }
  if (child.stdout) child.stdout.on("end", ended).resume()
  if (child.stderr) child.stderr.on("end", ended).resume()
  child.on("exit", () => {
    const exitAt = process.hrtime.bigint()
    start()
    if (mode === "ham") seen.push({ pid, endAt: String(endAt ?? exitAt), exitAt: String(exitAt) })
  })
}
start()
process.on("SIGTERM", () => {
  child.removeAllListeners("exit")
  child.kill("SIGKILL")
  if (mode === "ham") require("node:fs").writeSync(1, JSON.stringify(seen) + "\\n")
  process.exit(0)
})
// the bench gone (its end of stdin closed, even by a SIGKILL): the child goes too, nothing is left
process.stdin.on("end", () => {
  child.removeAllListeners("exit")
  child.kill("SIGKILL")
  process.exit(1)
}).resume()
`

const quantile = (xs: ReadonlyArray<number>, q: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(s.length * q))]
}

const envNumber = (name: string, fallback: number) => {
  const value = process.env[name]
  return value === undefined || value === "" ? fallback : Number(value)
}

/** kills per run, runs per supervisor, the gap between kills (ms) */
const kills = envNumber("BENCH_KILLS", 30)
const warmKills = 3
const runs = envNumber("BENCH_RUNS", 2)
const gapMin = envNumber("BENCH_GAP_MIN", 1500)
const gapMax = envNumber("BENCH_GAP_MAX", 2000)

interface Kill {
  readonly pid: number
  readonly killAt: bigint
  readonly readyAt: bigint
}

/** writes the bench's programs into a private directory; the service compiled when a C compiler is found */
const setUp = (dir: string) => {
  const measurer = Path.join(dir, "measurer.cjs")
  Fs.writeFileSync(measurer, measurerSource)
  const loop = Path.join(dir, "loop.cjs")
  Fs.writeFileSync(loop, loopSource)
  const c = Path.join(dir, "service.c")
  Fs.writeFileSync(c, serviceSource)
  const binary = Path.join(dir, "service")
  const compiled = ChildProcess.spawnSync("cc", ["-O2", "-o", binary, c], { stdio: "ignore" })
  if (compiled.status === 0) return { measurer, loop, service: [binary], native: true }
  const js = Path.join(dir, "service.cjs")
  Fs.writeFileSync(js, nodeServiceSource)
  return { measurer, loop, service: [process.execPath, js], native: false }
}

/** starts a measurer; succeeds with its port and the promise of its results */
const startMeasurer = (measurer: string) =>
  Effect.async<{ readonly port: number; readonly results: Promise<Array<Kill>> }>((resume) => {
    const child = ChildProcess.spawn(
      process.execPath,
      [measurer, String(kills), String(warmKills), String(gapMin), String(gapMax)],
      // its stdin ends when this process goes: it then exits
      { stdio: ["pipe", "pipe", "pipe"] }
    )
    let out = ""
    let err = ""
    child.stdout.on("data", (chunk) => (out += chunk))
    const results = new Promise<Array<Kill>>((resolve, reject) =>
      child.once("exit", (code) => {
        if (code !== 0) return reject(new Error(`the measurer failed: ${err}`))
        const parsed = JSON.parse(out) as Array<{ pid: number; killAt: string; readyAt: string }>
        resolve(parsed.map((k) => ({ pid: k.pid, killAt: BigInt(k.killAt), readyAt: BigInt(k.readyAt) })))
      })
    )
    child.stderr.on("data", (chunk) => {
      err += chunk
      const port = /port (\d+)/.exec(err)?.[1]
      if (port !== undefined) resume(Effect.succeed({ port: Number(port), results }))
    })
  })

const millis = (ns: bigint) => Number(ns) / 1e6

/**
 * One run of the minimal loop: the restart times, and (mode "ham") how soon the loop saw each
 * death: its first pipe's end and its exit event, each after the SIGKILL (Node's own floor).
 */
const loopRun = (setting: ReturnType<typeof setUp>, mode: "plain" | "ham") =>
  Effect.gen(function*() {
    const { port, results } = yield* startMeasurer(setting.measurer)
    // its stdin ends when this process goes: it then kills its child and exits
    const loop = ChildProcess.spawn(process.execPath, [setting.loop, mode, ...setting.service, String(port)], {
      stdio: ["pipe", "pipe", "ignore"]
    })
    let out = ""
    loop.stdout.on("data", (chunk) => (out += chunk))
    const measured = yield* Effect.promise(() => results)
    const exited = new Promise((resolve) => loop.once("close", resolve))
    loop.kill("SIGTERM")
    yield* Effect.promise(() => exited)
    const seen = new Map<number, { readonly endAt: bigint; readonly exitAt: bigint }>()
    if (mode === "ham") {
      for (const s of JSON.parse(out) as Array<{ pid: number; endAt: string; exitAt: string }>) {
        seen.set(s.pid, { endAt: BigInt(s.endAt), exitAt: BigInt(s.exitAt) })
      }
    }
    /** for each kill the loop saw, the time from the SIGKILL to what `at` picks */
    const sinceKill = (at: (s: { readonly endAt: bigint; readonly exitAt: bigint }) => bigint) =>
      measured.flatMap((k) => {
        const s = seen.get(k.pid)
        return s === undefined ? [] : [millis(at(s) - k.killAt)]
      })
    return {
      restart: measured.map((k) => millis(k.readyAt - k.killAt)),
      end: sinceKill((s) => s.endAt),
      exit: sinceKill((s) => s.exitAt)
    }
  })

/** one run of the HAM: the service attached as an application would, restarted on death */
const hamRun = (setting: ReturnType<typeof setUp>, run: number) =>
  Effect.gen(function*() {
    const { port, results } = yield* startMeasurer(setting.measurer)
    const deaths = new Map<number, bigint>()
    const events = yield* Ham.subscribe
    const watcher = yield* Effect.fork(Effect.forever(Effect.flatMap(Queue.take(events), (event) =>
      Effect.sync(() => {
        if (event._tag === "CondDeath" && event.pid !== undefined) deaths.set(event.pid, process.hrtime.bigint())
      }))))
    const svc = yield* Ham.attach(
      Entity.process(`svc-${run}`, Command.make(setting.service[0], ...setting.service.slice(1), String(port)))
    )
    yield* Ham.condition(svc, CondDeath).pipe(Ham.restart)
    const measured = yield* Effect.promise(() => results)
    yield* Ham.detach(svc)
    yield* Fiber.interrupt(watcher)
    return {
      restart: measured.map((k) => millis(k.readyAt - k.killAt)),
      death: measured.flatMap((k) => {
        const seen = deaths.get(k.pid)
        return seen === undefined ? [] : [millis(seen - k.killAt)]
      })
    }
  }).pipe(Effect.scoped)

/**
 * Death detection alone: each service is attached with no condition (nothing restarts it, so the
 * spawner is not armed), and the next one is attached once its death is seen.
 */
const unrestartedRun = (setting: ReturnType<typeof setUp>) =>
  Effect.gen(function*() {
    const { port, results } = yield* startMeasurer(setting.measurer)
    const deaths = new Map<number, bigint>()
    const events = yield* Ham.subscribe
    let n = 0
    const attachNext = Ham.attach(
      Entity.process(`alone-${++n}`, Command.make(setting.service[0], ...setting.service.slice(1), String(port)))
    )
    yield* attachNext
    const watcher = yield* Effect.fork(Effect.forever(Effect.flatMap(Queue.take(events), (event) => {
      if (event._tag !== "CondDeath" || event.pid === undefined) return Effect.void
      deaths.set(event.pid, process.hrtime.bigint())
      return Effect.zipRight(Ham.detach(event.entity), Effect.suspend(() => attachNext))
    })))
    const measured = yield* Effect.promise(() => results)
    yield* Fiber.interrupt(watcher)
    return measured.flatMap((k) => {
      const seen = deaths.get(k.pid)
      return seen === undefined ? [] : [millis(seen - k.killAt)]
    })
  }).pipe(Effect.scoped)

export const childRestart = Effect.gen(function*() {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "ham-bench-"))
  yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true })))
  const setting = setUp(dir)
  // BENCH_SPAWNER=inline: the HAM's own process forks the service (its default: the spawner)
  const spawner = process.env.BENCH_SPAWNER === "inline" ? "inline" as const : undefined
  console.log(
    `# child restart: ${
      setting.native ? "a C service (cc)" : "no C compiler (cc) found: a Node service, whose start-up dominates"
    }; ${runs} runs of ${kills} kills each per supervisor, ${gapMin}-${gapMax} ms apart; spawner ${
      spawner ?? "process (default)"
    }`
  )
  const context = yield* Layer.build(Ham.layer({
    ...(spawner === undefined ? {} : { spawner }),
    restartIntensity: { maxRestarts: Infinity },
    // restarts at once after a second up (shorter runs of the bench: half the least gap)
    backoffResetAfter: Math.min(1000, gapMin / 2)
  }))
  const ham = { restart: [] as Array<number>, death: [] as Array<number> }
  const loop: Array<number> = []
  const sameOptions: Array<number> = []
  const floor = { end: [] as Array<number>, exit: [] as Array<number> }
  for (let run = 0; run < runs; run++) {
    const ours = yield* Effect.provide(hamRun(setting, run), context)
    ham.restart.push(...ours.restart)
    ham.death.push(...ours.death)
    loop.push(...(yield* loopRun(setting, "plain")).restart)
    const same = yield* loopRun(setting, "ham")
    sameOptions.push(...same.restart)
    floor.end.push(...same.end)
    floor.exit.push(...same.exit)
  }
  const hamMedian = quantile(ham.restart, 0.5)
  const loopMedian = quantile(loop, 0.5)
  const hamP95 = quantile(ham.restart, 0.95)
  const loopP95 = quantile(loop, 0.95)
  report("child_restart_ham_median", hamMedian, "ms")
  report("child_restart_ham_p95", hamP95, "ms")
  report("child_restart_small_loop_median", loopMedian, "ms")
  report("child_restart_small_loop_p95", loopP95, "ms")
  report("child_restart_vs_small_loop_ratio", hamMedian / loopMedian, "x (median, target <= 1.1)")
  report("child_restart_vs_small_loop_p95_ratio", hamP95 / loopP95, "x (target <= 1.5)")
  report("death_detection_ms", quantile(ham.death, 0.5), "ms (median SIGKILL -> CondDeath, target <= 0.7)", 3)
  report("death_detection_p95_ms", quantile(ham.death, 0.95), "ms", 3)
  const alone = yield* Effect.provide(unrestartedRun(setting), context)
  report("death_detection_unrestarted_ms", quantile(alone, 0.5), "ms (median, nothing restarts the child)", 3)
  report("death_detection_unrestarted_p95_ms", quantile(alone, 0.95), "ms", 3)
  // Node's own floor, in the same run: how soon a small Node process sees its child's SIGKILL
  const nodeExit = quantile(floor.exit, 0.5)
  report("death_seen_by_small_loop_pipe_end_ms", quantile(floor.end, 0.5), "ms (median, its first pipe's end)", 3)
  report("death_seen_by_small_loop_exit_event_ms", nodeExit, "ms (median, its exit event)", 3)
  report("death_detection_vs_node_exit_event_ratio", quantile(ham.death, 0.5) / nodeExit, "x (median)")
  report(
    "death_detection_unrestarted_vs_node_exit_event_ratio",
    quantile(alone, 0.5) / nodeExit,
    "x (median, nothing restarts the child)"
  )
  // the loop again, its children spawned as the HAM's are (own session and process group, stdout
  // and stderr piped): what those options cost, apart from the HAM
  const sameMedian = quantile(sameOptions, 0.5)
  report("child_restart_small_loop_ham_options_median", sameMedian, "ms")
  report("child_restart_small_loop_ham_options_p95", quantile(sameOptions, 0.95), "ms")
  report("child_restart_vs_small_loop_ham_options_ratio", hamMedian / sameMedian, "x (median)")
}).pipe(Effect.scoped)

/** restarts timed from outside the fiber: trigger → the next life's announcement, in µs */
export const fromOutside = <R>(
  supervise: (life: Effect.Effect<never, string>) => Effect.Effect<void, never, R>,
  restarts: number
) =>
  Effect.gen(function*() {
    const trigger = yield* Queue.unbounded<void>()
    const announce = yield* Queue.unbounded<void>()
    const life = Effect.zipRight(
      Queue.offer(announce, undefined),
      Effect.zipRight(Queue.take(trigger), Effect.fail("triggered"))
    )
    yield* supervise(life)
    yield* Queue.take(announce)
    const times: Array<number> = []
    for (let i = 0; i < restarts; i++) {
      const start = performance.now()
      yield* Queue.offer(trigger, undefined)
      yield* Queue.take(announce)
      times.push((performance.now() - start) * 1000)
    }
    return times
  }).pipe(Effect.scoped)

/** a bare loop that re-forks the same effect when it exits */
const bareLoop = (life: Effect.Effect<never, string>) =>
  Effect.asVoid(Effect.forkScoped(Effect.forever(Effect.flatMap(Effect.forkDaemon(life), Fiber.await))))

const hamFiber = (life: Effect.Effect<never, string>) =>
  Effect.gen(function*() {
    const e = yield* Ham.attach(Entity.fiber("outside", life))
    yield* Ham.condition(e, CondDeath).pipe(Ham.restart)
  }).pipe(Effect.orDie)

export const fiberRestartFromOutside = Effect.gen(function*() {
  const restarts = 2_000
  const blocks = 6
  const ours: Array<number> = []
  const bare: Array<number> = []
  const noThrottle = Ham.layer({ backoff: false, restartIntensity: { maxRestarts: Infinity } })
  for (let block = 0; block < blocks; block++) {
    // the first block of each warms up
    const b = yield* fromOutside(bareLoop, restarts)
    const o = yield* fromOutside(hamFiber, restarts).pipe(Effect.provide(Layer.fresh(noThrottle)))
    if (block > 0) {
      bare.push(...b)
      ours.push(...o)
    }
  }
  const o = quantile(ours, 0.5)
  const b = quantile(bare, 0.5)
  report("fiber_restart_from_outside_median", o, "us")
  report("bare_refork_from_outside_median", b, "us")
  report("fiber_restart_from_outside_ratio", o / b, "x (target <= 1.0)")
})
