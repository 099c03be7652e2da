/**
 * Benchmarks of process entities (issue #3): child restart latency against a bare Node respawn
 * loop, death detection latency, and the cost of 200 idle children that heartbeat.
 *
 * The child is a tiny C program built here (so that Node's own boot does not hide the
 * supervisor's cost); `sleep` stands in when no C compiler is found.
 */
import { Command } from "@effect/platform"
import { Effect, Layer, Queue } from "effect"
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

/** the CPU time (user + system) a process has used, in ms, from /proc/<pid>/stat; 0 when unknown */
const cpuMillisOf = (pid: number | undefined): number => {
  if (pid === undefined) return 0
  try {
    const stat = Fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    // utime and stime are fields 14 and 15 of the line, in clock ticks (100 a second on Linux)
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100
  } catch {
    return 0
  }
}

/** the resident memory of a process, in MiB, from /proc/<pid>/status; 0 when unknown */
const rssMiBOf = (pid: number | undefined): number => {
  if (pid === undefined) return 0
  try {
    const kib = /VmRSS:\s+(\d+)/.exec(Fs.readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]
    return kib === undefined ? 0 : Number(kib) / 1024
  } catch {
    return 0
  }
}

const quantile = (xs: ReadonlyArray<number>, q: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(s.length * q))]
}

/** measured rounds per loop, in blocks that alternate between the loops (drift hits all alike) */
const blocks = 6
const roundsPerBlock = 50

/**
 * SIGKILL → the new child is up ('spawn'), in a bare loop that respawns on 'exit'. `rounds`
 * kills, after one spawn that is not measured.
 */
const bareRespawn = (program: ReadonlyArray<string>, stdio: "ignore" | "pipe", rounds: number) =>
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

/**
 * A HAM supervising the child (restart on death); the effect it returns measures `rounds` kills:
 * SIGKILL → CondDeath, and SIGKILL → CondRestart (the new child is up).
 */
const hamRespawner = (program: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const events = yield* Ham.subscribe
    const e = yield* Ham.attach(
      Entity.process("svc", Command.make(program[0], ...program.slice(1)), { output: "ignore" })
    )
    yield* Ham.condition(e, CondDeath).pipe(Ham.restart)
    const next = (tag: ConditionEvent["_tag"]): Effect.Effect<ConditionEvent> =>
      Effect.flatMap(Queue.take(events), (event) => (event._tag === tag ? Effect.succeed(event) : next(tag)))
    let pid = ((yield* next("CondAttach")) as { pid?: number }).pid!
    return (rounds: number) =>
      Effect.gen(function*() {
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
      })
  })

/**
 * The bare loop again, in a fresh Node process of its own (a few tens of MiB): what a respawn
 * costs when the process that forks is small, as the HAM's spawner is.
 */
const bareRespawnSmall = (program: ReadonlyArray<string>, rounds: number) =>
  Effect.promise(() =>
    new Promise<number>((resolve, reject) => {
      const script = `
const cp = require("node:child_process")
const program = ${JSON.stringify(program)}
const latencies = []
let killedAt = 0
const start = () => {
  const child = cp.spawn(program[0], program.slice(1), { stdio: "ignore" })
  child.once("spawn", () => {
    if (killedAt > 0) latencies.push(performance.now() - killedAt)
    if (latencies.length >= ${rounds + 20}) {
      child.kill("SIGKILL")
      const measured = latencies.slice(20).sort((a, b) => a - b)
      process.stdout.write(String(measured[Math.floor(measured.length / 2)]))
      return
    }
    setTimeout(() => { killedAt = performance.now(); child.kill("SIGKILL") }, 2)
  })
  child.once("exit", () => { if (latencies.length < ${rounds + 20}) start() })
}
start()
`
      ChildProcess.execFile(process.execPath, ["-e", script], (error, stdout) => {
        if (error !== null) reject(error)
        else resolve(Number(stdout))
      })
    })
  )

export const childRestart = Effect.gen(function*() {
  const idle = compile("idle", idleSource)
  const program = idle === undefined ? ["sleep", "1000"] : [idle]
  console.log(`# child: ${idle === undefined ? "sleep (no C compiler)" : "a C program that pauses"}`)
  const options = { backoff: false, restartIntensity: { maxRestarts: Infinity }, verbosity: 0 } as const
  const spawnerHam = yield* Layer.build(Ham.layer({ ...options, spawner: "process" }))
  const inlineHam = yield* Layer.build(Ham.layer({ ...options, spawner: "inline" }))
  const viaSpawner = yield* Effect.provide(hamRespawner(program), spawnerHam)
  const inline = yield* Effect.provide(hamRespawner(program), inlineHam)
  // warm up every loop, then measure in alternating blocks
  yield* bareRespawn(program, "ignore", 50)
  yield* bareRespawn(program, "pipe", 20)
  yield* viaSpawner(50)
  yield* inline(50)
  const bare: Array<number> = []
  const piped: Array<number> = []
  const ours = { death: [] as Array<number>, restart: [] as Array<number> }
  const oursInline = { death: [] as Array<number>, restart: [] as Array<number> }
  for (let block = 0; block < blocks; block++) {
    bare.push(...(yield* bareRespawn(program, "ignore", roundsPerBlock)))
    const a = yield* viaSpawner(roundsPerBlock)
    ours.death.push(...a.death)
    ours.restart.push(...a.restart)
    piped.push(...(yield* bareRespawn(program, "pipe", roundsPerBlock)))
    const b = yield* inline(roundsPerBlock)
    oursInline.death.push(...b.death)
    oursInline.restart.push(...b.restart)
  }
  const small = yield* bareRespawnSmall(program, blocks * roundsPerBlock)
  const oMedian = quantile(ours.restart, 0.5)
  const bMedian = quantile(bare, 0.5)
  report("child_restart_latency_median", oMedian, "ms")
  report("child_restart_latency_p95", quantile(ours.restart, 0.95), "ms")
  report("bare_node_respawn_latency_median", bMedian, "ms")
  report("bare_node_respawn_latency_p95", quantile(bare, 0.95), "ms")
  report("child_restart_ratio", oMedian / bMedian, "x (target <= 1.15)")
  report("death_detection_latency_median", quantile(ours.death, 0.5), "ms (target <= 1)", 3)
  // the same loop with stdin/stdout/stderr piped and drained, as a supervisor that keeps the
  // output must do (the HAM keeps stderr)
  report("bare_node_respawn_piped_latency_median", quantile(piped, 0.5), "ms")
  report("child_restart_ratio_vs_piped", oMedian / quantile(piped, 0.5), "x")
  // the bare loop in a small process of its own: most of the HAM's lead over the bare loop in
  // this (large) process is that its spawner forks from a small process
  report("bare_node_respawn_small_process_latency_median", small, "ms")
  report("child_restart_ratio_vs_small_process", oMedian / small, "x")
  // spawner "inline": the HAM forks from its own process, as the bare loop does
  const iMedian = quantile(oursInline.restart, 0.5)
  report("child_restart_inline_latency_median", iMedian, "ms")
  report("child_restart_inline_ratio", iMedian / bMedian, "x")
  report("death_detection_inline_latency_median", quantile(oursInline.death, 0.5), "ms", 3)
}).pipe(Effect.scoped)

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
    const spawner = (yield* Ham.snapshot).spawnerPid
    const cpu0 = process.cpuUsage()
    const spawner0 = cpuMillisOf(spawner)
    const t0 = performance.now()
    yield* Effect.sleep(measureMillis)
    const cpu = process.cpuUsage(cpu0)
    const spawnerMillis = cpuMillisOf(spawner) - spawner0
    const wall = performance.now() - t0
    gc?.()
    const after = process.memoryUsage()
    const tree = yield* Ham.snapshot
    const missed = tree.entities.reduce((sum, e) => sum + e.stats.missedLow, 0)
    const running = tree.entities.filter((e) => e.status === "running").length
    report("idle_children_running", running, `of ${n}`, 0)
    report("idle_children_missed_low_episodes", missed, "(expect 0)", 0)
    const hamShare = (cpu.user + cpu.system) / 1000 / wall
    report("idle_children_ham_cpu", hamShare * 100, "% of one core (target < 5)")
    // the spawner's part (it holds the children's stderr pipes) and the two together
    report("idle_children_spawner_cpu", (spawnerMillis / wall) * 100, "% of one core")
    report("idle_children_ham_and_spawner_cpu", (hamShare + spawnerMillis / wall) * 100, "% of one core")
    report("spawner_rss", rssMiBOf(spawner), "MiB")
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
