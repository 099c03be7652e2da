/**
 * Benchmarks of process entities (issue #3): child restart latency against a bare Node respawn
 * loop, death detection latency, and the cost of 200 idle children that heartbeat.
 *
 * The child is a tiny C program built here (so that Node's own boot does not hide the
 * supervisor's cost); `sleep` stands in when no C compiler is found.
 */
import { Command } from "@effect/platform"
import { Effect, Queue } from "effect"
import { Entity, Ham } from "effect-ham"
import { CondDeath } from "effect-ham/Condition"
import type { ConditionEvent } from "effect-ham/Condition"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { report } from "./core.js"

const buildDir = Path.join(import.meta.dirname, ".build")

const idleSource = `#include <unistd.h>
int main(void) { for (;;) pause(); }
`

/** a child that connects to $HAM_NOTIFY_SOCKET and sends WATCHDOG=1 every 500 ms */
const beaterSource = `#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
int main(void) {
  const char *path = getenv("HAM_NOTIFY_SOCKET");
  if (path == NULL) return 2;
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  strncpy(addr.sun_path, path, sizeof addr.sun_path - 1);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) return 3;
  write(fd, "READY=1\\n", 8);
  for (;;) {
    if (write(fd, "WATCHDOG=1\\n", 11) < 0) return 4;
    usleep(500000);
  }
}
`

const compile = (name: string, source: string): string | undefined => {
  Fs.mkdirSync(buildDir, { recursive: true })
  const c = Path.join(buildDir, `${name}.c`)
  const out = Path.join(buildDir, name)
  Fs.writeFileSync(c, source)
  const result = ChildProcess.spawnSync("cc", ["-O2", "-o", out, c], { stdio: "ignore" })
  return result.status === 0 ? out : undefined
}

const quantile = (xs: ReadonlyArray<number>, q: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(s.length * q))]
}

const rounds = 300

/** SIGKILL → the new child is up ('spawn'), in a bare loop that respawns on 'exit' */
const bareRespawn = (program: ReadonlyArray<string>, stdio: "ignore" | "pipe") =>
  Effect.promise(() =>
    new Promise<Array<number>>((resolve) => {
      const latencies: Array<number> = []
      let killedAt = 0
      const start = () => {
        const child = ChildProcess.spawn(program[0], program.slice(1), { stdio })
        // a supervisor that keeps the output drains the pipes, as the HAM does
        child.stdout?.resume()
        child.stderr?.resume()
        child.once("spawn", () => {
          if (killedAt > 0) latencies.push(performance.now() - killedAt)
          if (latencies.length >= rounds) {
            child.kill("SIGKILL")
            resolve(latencies)
            return
          }
          // let the child settle, then kill it
          setTimeout(() => {
            killedAt = performance.now()
            child.kill("SIGKILL")
          }, 2)
        })
        child.once("exit", () => {
          if (latencies.length < rounds) start()
        })
      }
      start()
    })
  )

/** SIGKILL → CondDeath, and SIGKILL → CondRestart (the new child is up), through the HAM */
const hamRespawn = (program: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const events = yield* Ham.subscribe
    const e = yield* Ham.attach(
      Entity.process("svc", Command.make(program[0], ...program.slice(1)), { output: "ignore" })
    )
    yield* Ham.condition(e, CondDeath).pipe(Ham.restart)
    const next = (tag: ConditionEvent["_tag"]): Effect.Effect<ConditionEvent> =>
      Effect.flatMap(Queue.take(events), (event) => (event._tag === tag ? Effect.succeed(event) : next(tag)))
    let pid = ((yield* next("CondAttach")) as { pid?: number }).pid!
    const restart: Array<number> = []
    const death: Array<number> = []
    for (let i = 0; i < rounds; i++) {
      yield* Effect.sleep("2 millis")
      const killedAt = performance.now()
      process.kill(pid, "SIGKILL")
      yield* next("CondDeath")
      death.push(performance.now() - killedAt)
      const restarted = yield* next("CondRestart")
      restart.push(performance.now() - killedAt)
      pid = (restarted as { pid?: number }).pid!
    }
    return { death, restart }
  }).pipe(
    Effect.scoped,
    Effect.provide(Ham.layer({ backoff: false, restartIntensity: { maxRestarts: Infinity }, verbosity: 0 }))
  )

export const childRestart = Effect.gen(function*() {
  const idle = compile("idle", idleSource)
  const program = idle === undefined ? ["sleep", "1000"] : [idle]
  console.log(`# child: ${idle === undefined ? "sleep (no C compiler)" : "a C program that pauses"}`)
  // warm up both, then measure
  yield* bareRespawn(program, "ignore")
  const bare = yield* bareRespawn(program, "ignore")
  const piped = yield* bareRespawn(program, "pipe")
  const ours = yield* hamRespawn(program)
  const oMedian = quantile(ours.restart, 0.5)
  const bMedian = quantile(bare, 0.5)
  report("child_restart_latency_median", oMedian, "ms")
  report("child_restart_latency_p95", quantile(ours.restart, 0.95), "ms")
  report("bare_node_respawn_latency_median", bMedian, "ms")
  report("bare_node_respawn_latency_p95", quantile(bare, 0.95), "ms")
  report("child_restart_ratio", oMedian / bMedian, "x (target <= 1.15)")
  // the same loop with stdin/stdout/stderr piped and drained, as a supervisor that keeps the
  // output must do (the HAM does): the part of the gap that is the cost of the pipes
  report("bare_node_respawn_piped_latency_median", quantile(piped, 0.5), "ms")
  report("child_restart_ratio_vs_piped", oMedian / quantile(piped, 0.5), "x")
  report("death_detection_latency_median", quantile(ours.death, 0.5), "ms (target <= 1)", 3)
})

export const idleChildren = Effect.gen(function*() {
  const beater = compile("beater", beaterSource)
  if (beater === undefined) {
    console.log("# idle children: skipped (no C compiler)")
    return
  }
  const n = 200
  const measureMillis = 10_000
  const gc = (globalThis as { gc?: () => void }).gc
  gc?.()
  const before = process.memoryUsage()
  yield* Effect.gen(function*() {
    for (let i = 0; i < n; i++) {
      yield* Ham.attach(Entity.process(`beater-${i}`, Command.make(beater), { output: "ignore" }), {
        heartbeat: { interval: "1 second", missedLow: 2, missedHigh: 4 }
      })
    }
    // let them all start and connect, then measure the HAM's own CPU over a quiet period
    yield* Effect.sleep("1500 millis")
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    yield* Effect.sleep(measureMillis)
    const cpu = process.cpuUsage(cpu0)
    const wall = performance.now() - t0
    gc?.()
    const after = process.memoryUsage()
    const tree = yield* Ham.snapshot
    const missed = tree.entities.reduce((sum, e) => sum + e.stats.missedLow, 0)
    const running = tree.entities.filter((e) => e.status === "running").length
    report("idle_children_running", running, `of ${n}`, 0)
    report("idle_children_missed_low_episodes", missed, "(expect 0)", 0)
    report("idle_children_ham_cpu", ((cpu.user + cpu.system) / 1000 / wall) * 100, "% of one core (target < 5)")
    report("idle_children_ham_heap_per_child", (after.heapUsed - before.heapUsed) / n, "bytes", 0)
    report("idle_children_ham_rss", after.rss / 1024 / 1024, "MiB (the whole bench process)")
    return (cpu.user + cpu.system) / 1000 / wall
  }).pipe(
    Effect.scoped,
    Effect.provide(Ham.layer({ verbosity: 0 })),
    Effect.flatMap((ours) =>
      Effect.map(bareNotifyServer(beater, n, measureMillis), (bare) => {
        report("bare_node_notify_server_cpu", bare * 100, "% of one core (same children, a plain net server)")
        report("idle_children_cpu_ratio", ours / bare, "x (HAM / bare server)")
      })
    )
  )
})

/**
 * The floor for the idle-children figure, measured in the same run: a plain Node program that
 * spawns the same children (pipes drained, as the HAM does) and counts their notify lines on one
 * Unix socket server each, with no heartbeat logic at all. On these machines every wake of the
 * event loop costs tens of microseconds, so 400 messages a second have a price of their own.
 */
const bareNotifyServer = (beater: string, n: number, measureMillis: number) =>
  Effect.promise(async () => {
    const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "bench-notify-"))
    const servers: Array<Net.Server> = []
    const children: Array<ChildProcess.ChildProcess> = []
    let lines = 0
    for (let i = 0; i < n; i++) {
      const path = Path.join(dir, `${i}.sock`)
      const server = Net.createServer((socket) => {
        socket.on("data", (data) => {
          for (const byte of data) if (byte === 10) lines++
        })
      })
      await new Promise<void>((resolve) => server.listen(path, resolve))
      servers.push(server)
      const child = ChildProcess.spawn(beater, [], {
        stdio: "pipe",
        detached: true,
        env: { ...process.env, HAM_NOTIFY_SOCKET: path }
      })
      child.stdout.resume()
      child.stderr.resume()
      children.push(child)
    }
    await new Promise((resolve) => setTimeout(resolve, 1_500))
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    const lines0 = lines
    await new Promise((resolve) => setTimeout(resolve, measureMillis))
    const cpu = process.cpuUsage(cpu0)
    const wall = performance.now() - t0
    const received = lines - lines0
    await Promise.all(children.map((child) =>
      new Promise<void>((resolve) => {
        child.once("exit", () => resolve())
        child.kill("SIGKILL")
      })
    ))
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))))
    Fs.rmSync(dir, { recursive: true, force: true })
    report("bare_node_notify_server_lines", received, `lines in ${measureMillis} ms`, 0)
    return (cpu.user + cpu.system) / 1000 / wall
  })
