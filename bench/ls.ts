/**
 * `ham ls` as a user runs it (issue 14): the built `ham` bin (the package's, one bundled file) in
 * a fresh Node process each time, against a daemon of 200 process entities (`sleep`), until it
 * has printed the table and exited; Node's own start (`node -e 0`) timed in the same rounds is the
 * baseline (the floor no CLI in Node goes under).
 *
 * - `ham_ls_ms`: the median wall time of `node dist/internal/cli/ham.js ls` (Node's start
 *   included). Target: ≤ 300 ms.
 * - `node_start_ms`: the median of `node -e 0`; `ham_ls_ratio`: the first over the second.
 * - `ham_ls_unbundled_ms`: the same command from the unbundled build (`bin.js`, the ~650 modules
 *   one by one), for what the bundle saves.
 */
import { Effect } from "effect"
import * as cp from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { median, report } from "./core.js"

const root = fileURLToPath(new URL("..", import.meta.url))
const cli = Path.join(root, "dist", "internal", "cli")
const entities = 200
const rounds = 21

/** the wall time of one command run to its end, in ms; fails unless it exits 0 and `check` holds */
const timed = (args: ReadonlyArray<string>, check: (stdout: string) => boolean = () => true) =>
  Effect.sync(() => {
    const t0 = performance.now()
    const r = cp.spawnSync(process.execPath, args, { encoding: "utf8", timeout: 30_000 })
    const millis = performance.now() - t0
    if (r.status !== 0 || !check(r.stdout)) {
      throw new Error(`node ${args.join(" ")}: exit ${r.status}\n${r.stdout}\n${r.stderr}`)
    }
    return millis
  })

/** a daemon of `entities` sleeping children on a socket of a private directory, stopped with the scope */
const daemon = Effect.gen(function*() {
  const dir = yield* Effect.acquireRelease(
    Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "bench-ls-"))),
    (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
  )
  const config = Path.join(dir, "ham.json")
  const socket = Path.join(dir, "ham.sock")
  Fs.writeFileSync(
    config,
    JSON.stringify({
      socket,
      entities: Array.from({ length: entities }, (_, i) => ({
        name: `sleeper-${i}`,
        command: { command: "sleep", args: ["1000"] }
      }))
    })
  )
  const child = yield* Effect.acquireRelease(
    Effect.sync(() =>
      cp.spawn(process.execPath, [Path.join(cli, "bin.js"), "start", "--config", config, "--memory"], {
        stdio: ["ignore", "pipe", "inherit"]
      })
    ),
    (child) =>
      Effect.async<void>((resume) => {
        if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
        // `ham stop` ends every child and then the daemon; SIGKILL if it has not ended in 30 s
        const kill = setTimeout(() => child.kill("SIGKILL"), 30_000)
        child.once("exit", () => {
          clearTimeout(kill)
          resume(Effect.void)
        })
        cp.spawnSync(process.execPath, [Path.join(cli, "ham.js"), "stop", "--socket", socket], { timeout: 30_000 })
      })
  )
  yield* Effect.async<void, Error>((resume) => {
    let out = ""
    const timer = setTimeout(() => resume(Effect.fail(new Error(`the daemon did not start: ${out}`))), 60_000)
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString("utf8")
      if (out.includes(`ham: running ${entities} entities`)) {
        clearTimeout(timer)
        resume(Effect.void)
      }
    })
  })
  return socket
})

export const lsWallTime = Effect.gen(function*() {
  const socket = yield* daemon
  const ls = (bin: string) =>
    timed([Path.join(cli, bin), "ls", "--socket", socket], (out) => out.trimEnd().split("\n").length === entities + 1)
  const node = timed(["-e", "0"])
  yield* ls("ham.js")
  yield* node
  // in turn, so that a drift of the machine (the other helpers' load) hits both alike
  const times = { ls: [] as Array<number>, node: [] as Array<number>, unbundled: [] as Array<number> }
  for (let i = 0; i < rounds; i++) {
    times.ls.push(yield* ls("ham.js"))
    times.node.push(yield* node)
    if (i % 3 === 0) times.unbundled.push(yield* ls("bin.js"))
  }
  const ls_ = median(times.ls)
  const node_ = median(times.node)
  report("node_start_ms", node_, "ms median wall time of `node -e 0` (the baseline: Node's own start)", 1)
  report(
    "ham_ls_ms",
    ls_,
    `ms median wall time of \`ham ls\` (${entities} entities; a fresh node each time; target <= 300)`,
    1
  )
  report("ham_ls_ratio", ls_ / node_, "x Node's own start", 2)
  report("ham_ls_unbundled_ms", median(times.unbundled), "ms the same from the unbundled build (bin.js)", 1)
}).pipe(Effect.scoped)
