/**
 * The Guardian taking over a dead host, with real processes.
 *
 * The program starts a host (this same file, run with `host`): a HAM whose state is in an LMDB
 * file, with a guardian process beside it, supervising a worker process (`sleep`) that is
 * restarted when it dies. Then it
 *
 *   1. kills the host with SIGKILL: the guardian takes the HAM over (it prints the registry it
 *      rebuilt from the file: the worker adopted by pid, the host's own entity dead);
 *   2. kills the worker: the guardian restarts it (a new pid);
 *   3. starts the host again with the same file: the guardian hands the store back, and the
 *      host adopts the running worker (it prints the registry: the worker's restart counted);
 *   4. stops the host with SIGTERM (Ham.stop): the worker and the guardian go with it.
 *
 *   npm run example -- examples/guardian-takeover.ts
 */
import { Command } from "@effect/platform"
import { Console, Deferred, Effect } from "effect"
import { Entity, Guardian, Ham, Tree } from "effect-ham"
import { CondDeath } from "effect-ham/Condition"
import * as ChildProcess from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const self = fileURLToPath(import.meta.url)

// ---------------------------------------------------------------------------------------------
// the host
// ---------------------------------------------------------------------------------------------

const host = (path: string, seconds: string) =>
  Effect.gen(function*() {
    const stop = yield* Deferred.make<void>()
    process.on("SIGTERM", () => Deferred.unsafeDone(stop, Effect.void))
    // the same setup code at every start: a restarted host takes up what the file holds
    const worker = yield* Ham.attach(Entity.process("worker", Command.make("sleep", seconds)), { backoff: false })
    yield* Ham.condition(worker, CondDeath).pipe(Ham.restart)
    const tree = yield* Ham.snapshot
    yield* Console.log(`host ${process.pid}: up, guardian pid ${tree.guardianPid}\n${Tree.render(tree)}`)
    const pid = tree.entities.find((e) => e.name === "worker")?.pid
    yield* Console.log(`READY ${JSON.stringify({ host: process.pid, worker: pid, guardian: tree.guardianPid })}`)
    yield* Deferred.await(stop)
    yield* Console.log(`host ${process.pid}: SIGTERM, stopping`)
  }).pipe(Effect.scoped, Effect.provide(Ham.layer()), Effect.provide(Guardian.layer({ path, process: true })))

// ---------------------------------------------------------------------------------------------
// the demonstration
// ---------------------------------------------------------------------------------------------

interface Ready {
  readonly host: number
  readonly worker: number
  readonly guardian: number
}

/** starts the host; its output is printed with a prefix; completes when it says READY */
const startHost = (path: string, seconds: string) =>
  Effect.async<Ready, Error>((resume) => {
    const child = ChildProcess.spawn(process.execPath, [...process.execArgv, self, "host", path, seconds], {
      stdio: ["ignore", "pipe", "inherit"]
    })
    let pending = ""
    child.stdout.on("data", (chunk: Buffer) => {
      pending += chunk.toString("utf8")
      const lines = pending.split("\n")
      pending = lines.pop()!
      for (const line of lines) {
        if (line.startsWith("READY ")) resume(Effect.succeed(JSON.parse(line.slice(6)) as Ready))
        else console.log(`  [host] ${line}`)
      }
    })
    child.once("exit", (code, signal) => resume(Effect.fail(new Error(`the host ended (${code ?? signal})`))))
  })

/** polls `check` every 20 ms, for at most 20 seconds */
const until = (what: string, check: () => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 1000; i++) {
      if (check()) return
      yield* Effect.sleep("20 millis")
    }
    return yield* Effect.fail(new Error(`timed out waiting for ${what}`))
  })

/** the live processes whose command line contains `text` (from /proc) */
const processesWith = (text: string): Array<number> =>
  readdirSync("/proc").filter((e) => /^\d+$/.test(e)).map(Number).filter((pid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
      if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) return false
      return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").includes(text)
    } catch {
      return false
    }
  })

const demo = Effect.gen(function*() {
  const dir = mkdtempSync(join(tmpdir(), "ham-takeover-"))
  const path = join(dir, "state.ham")
  const guardianLog = `${path}.d/guardian.log`
  const seconds = `300.${process.pid}`
  const workers = () => processesWith(`sleep ${seconds}`)
  yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))

  const first = yield* startHost(path, seconds)
  yield* Console.log(`\n1. killing the host (pid ${first.host}) with SIGKILL`)
  process.kill(first.host, "SIGKILL")
  yield* until(
    "the guardian's takeover",
    () => existsSync(guardianLog) && readFileSync(guardianLog, "utf8").includes("took over")
  )
  yield* Console.log(`the guardian (pid ${first.guardian}) took over:`)
  yield* Console.log(readFileSync(guardianLog, "utf8").trimEnd().split("\n").map((l) => `  [guardian] ${l}`).join("\n"))
  yield* Console.log(`the worker (pid ${first.worker}) still runs: ${workers().includes(first.worker)}`)

  yield* Console.log(`\n2. killing the worker (pid ${first.worker}) with SIGKILL`)
  process.kill(first.worker, "SIGKILL")
  yield* until("the worker's restart", () => workers().some((pid) => pid !== first.worker))
  const [restarted] = workers()
  yield* Console.log(`the guardian restarted it: new pid ${restarted}`)

  yield* Console.log(`\n3. starting the host again with the same file`)
  const second = yield* startHost(path, seconds)
  yield* Console.log(`the store was handed back: the new host ${second.host} adopted the worker pid ${second.worker}`)
  yield* until("the old guardian to end", () => processesWith(`${path} ${first.host}`).length === 0)

  yield* Console.log(`\n4. stopping the host with SIGTERM`)
  process.kill(second.host, "SIGTERM")
  yield* until("everything to stop", () => workers().length === 0 && processesWith(path).length === 0)
  yield* Console.log("nothing left: no worker, no host, no guardian")
}).pipe(Effect.scoped)

const program = process.argv[2] === "host" ? host(process.argv[3], process.argv[4]) : demo

Effect.runPromise(program).then(
  () => process.exit(0),
  (e) => {
    console.error(e)
    process.exit(1)
  }
)
