/**
 * Benchmarks of process entities (issue #3): the cost of 200 idle children that heartbeat (the
 * HAM's CPU, its heap per child). Restart latency is in `restart.ts`.
 *
 * The child is a tiny C program built here (so that Node's own boot does not hide the
 * supervisor's cost).
 */
import { Command } from "@effect/platform"
import { Effect } from "effect"
import { Entity, Ham } from "effect-ham"
import { CondDeath } from "effect-ham/Condition"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { report } from "./core.js"

const buildDir = Path.join(import.meta.dirname, ".build")

/** a child that waits, and does nothing else */
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

/**
 * The HAM's heap per idle child (issue 12): 200 children that only wait, attached as an
 * application would (default spawner, output logged, restarted on death), after one attach that
 * pays the HAM's own first costs; the heap measured after a full GC, before and after.
 */
export const heapPerIdleChild = Effect.gen(function*() {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) {
    console.log("# heap per idle child: skipped (run node with --expose-gc)")
    return
  }
  const idle = compile("idle", idleSource)
  const program = idle === undefined ? ["sleep", "3600"] : [idle]
  const n = 200
  const attach = (name: string) =>
    Effect.gen(function*() {
      const e = yield* Ham.attach(Entity.process(name, Command.make(program[0], ...program.slice(1))))
      yield* Ham.condition(e, CondDeath).pipe(Ham.restart)
    })
  yield* Effect.gen(function*() {
    yield* attach("warm-up")
    yield* Effect.sleep("500 millis")
    gc()
    gc()
    const before = process.memoryUsage().heapUsed
    for (let i = 0; i < n; i++) yield* attach(`idle-${i}`)
    // every child up, the spawner told of its restart
    yield* Effect.sleep("1500 millis")
    gc()
    gc()
    const after = process.memoryUsage().heapUsed
    const running = (yield* Ham.snapshot).entities.filter((e) => e.status === "running").length
    report("heap_per_idle_child_running", running, `of ${n + 1}`, 0)
    report("heap_per_idle_child_bytes", (after - before) / n, "bytes (target <= 20,000)", 0)
  }).pipe(Effect.scoped, Effect.provide(Ham.layer({ verbosity: 0 })))
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
  // the first children warm the code up: the heap per child is measured over the others
  const warm = 20
  yield* Effect.gen(function*() {
    const attach = (i: number) =>
      Ham.attach(Entity.process(`beater-${i}`, Command.make(beater), { output: "ignore" }), {
        heartbeat: { interval: "1 second", missedLow: 2, missedHigh: 4 }
      })
    for (let i = 0; i < warm; i++) yield* attach(i)
    yield* Effect.sleep("500 millis")
    gc?.()
    const warmed = process.memoryUsage()
    for (let i = warm; i < n; i++) yield* attach(i)
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
    // a child connected to its notify socket, its heartbeat clock running (the idle child of issue
    // 12, which does neither, is `heap_per_idle_child_bytes`)
    report("heap_per_beating_child_bytes", (after.heapUsed - warmed.heapUsed) / (n - warm), "bytes", 0)
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
