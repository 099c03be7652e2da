/**
 * The `ham` daemon joined to a cluster by its config file's `cluster` section, in real processes:
 * two `ham start` daemons (each its own config file, store and socket) on one throwaway
 * PostgreSQL 15 (a fresh database).
 *
 * - Each shows the other as a node entity (`node:<name>`, running) in `ham ls`.
 * - A cluster group declared in both configs (its process writes a ledger) runs on exactly one of
 *   them: its entity is in one daemon's tree only, one copy in the ledger is not stopped, and no
 *   two copies' lines overlap (the second daemon to join may take it over once: stop, then start).
 * - The daemon that runs it SIGKILLed with everything under it: the group's entity runs on the
 *   other daemon (bounded wait), a new copy is in the ledger, never two copies at once, and the
 *   killed daemon's node entity is dead there. `ham stop` through the other's cluster port (the
 *   cluster's token) then ends that daemon: exit 0, its copy of the group stopped (its `stop` line).
 * - A bad section starts nothing: an unknown key exits 2 naming it; a rule between two options
 *   (checked when the daemon joins) exits 1 naming `cluster.<option>`, the config's child stopped.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as cp from "node:child_process"
import * as fs from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { ledgerGroup, overlaps, readLedger, treeOf, waitForCopy } from "./clusterNodes.js"
import { ham } from "./daemon.js"
import { create, freePortSync, type Postgres, unavailable } from "./postgres.js"
import { liveWithCmdline } from "./processes.js"

const skip = unavailable()
if (skip !== undefined) console.log(`DaemonCluster skipped: ${skip}`)

let pg: (Postgres & { readonly destroy: () => void }) | undefined
beforeAll(() => {
  if (skip === undefined) pg = create()
}, 60_000)
afterAll(() => pg?.destroy())

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)))
const bin = path.join(root, "src", "internal", "cli", "bin.ts")
const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

interface Daemon {
  readonly node: string
  readonly socket: string
  /** the port its HAM is served on to the other nodes */
  readonly hamPort: number
  readonly child: cp.ChildProcess
  readonly out: { stdout: string; stderr: string }
}

/** a daemon's config file in its own directory (store, socket, token file beside it) */
const writeConfig = (dir: string, node: string, database: string, ledger: string) => {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
  fs.writeFileSync(path.join(dir, "token"), "hamc-daemon-test-token-0123456789", { mode: 0o600 })
  const file = path.join(dir, "ham.json")
  fs.writeFileSync(
    file,
    JSON.stringify({
      socket: "./ham.sock",
      state: "./ham-state",
      entities: [],
      cluster: {
        node,
        database,
        ham: { port: freePortSync() },
        runner: { port: freePortSync() },
        tokenFile: "./token",
        groups: [ledgerGroup("g", ledger)]
      }
    })
  )
  return file
}

const startDaemon = (node: string, file: string): Daemon => {
  const child = cp.spawn(process.execPath, ["--conditions=source", "--import", "tsx", bin, "start", "--config", file], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"]
  })
  const out = { stdout: "", stderr: "" }
  child.stdout!.on("data", (d) => (out.stdout += d))
  child.stderr!.on("data", (d) => (out.stderr += d))
  const hamPort = JSON.parse(fs.readFileSync(file, "utf8")).cluster.ham.port
  return { node, socket: path.join(path.dirname(file), "ham.sock"), hamPort, child, out }
}

const exited = (d: Daemon) => d.child.exitCode !== null || d.child.signalCode !== null

/** the daemon and everything under it, SIGKILLed at once */
const killTree = (d: Daemon) => {
  for (const pid of d.child.pid === undefined ? [] : treeOf(d.child.pid)) {
    try {
      process.kill(pid, "SIGKILL")
    } catch {
      // gone already
    }
  }
}

/** the entities of a daemon's `ham ls --json` (empty when it does not answer) */
const entities = (d: Daemon): ReadonlyArray<{ readonly name: string; readonly status: string }> => {
  const r = ham("ls", "--json", "--socket", d.socket)
  return r.code === 0 ? JSON.parse(r.stdout).entities : []
}

const waitUntil = async (what: string, check: () => boolean, millis: number) => {
  const end = Date.now() + millis
  while (!check()) {
    if (Date.now() > end) throw new Error(`no ${what} within ${millis} ms`)
    await sleep(100)
  }
}

const running = (d: Daemon, name: string) => entities(d).some((e) => e.name === name && e.status === "running")

describe.skipIf(skip !== undefined)("ham start with a cluster section", () => {
  it.live(
    "two daemons see each other as node entities; a group runs on one, and moves when it is SIGKILLed",
    () =>
      Effect.promise(async () => {
        const dir = fs.mkdtempSync(path.join(tmpdir(), "ham-dcluster-"))
        const daemons: Array<Daemon> = []
        try {
          const database = pg!.createDatabase()
          const ledger = path.join(dir, "ledger")
          fs.writeFileSync(ledger, "")
          // one after the other (nodes started together: Cluster.test.ts)
          for (const node of ["a", "b"]) {
            const d = startDaemon(node, writeConfig(path.join(dir, node), node, database, ledger))
            daemons.push(d)
            await waitUntil(
              `${d.node} ready`,
              () => d.out.stdout.includes(`cluster node ${d.node}`) || exited(d),
              60_000
            )
            // its last output is read after its exit
            if (exited(d)) await sleep(500)
            expect(exited(d), `exit ${d.child.exitCode} ${d.child.signalCode}: ${d.out.stdout}${d.out.stderr}`).toBe(
              false
            )
          }
          const [a, b] = daemons
          // each shows the other as a node entity
          await waitUntil("node:b on a", () => running(a, "node:b"), 30_000)
          await waitUntil("node:a on b", () => running(b, "node:a"), 30_000)

          // the group on exactly one of them
          await waitUntil("the group running", () => running(a, "g-writer") || running(b, "g-writer"), 30_000)
          await waitForCopy(ledger, () => true, 10_000)
          // the second runner to join may take the group over once (one copy stopped, then another)
          await sleep(3_000)
          const holders = daemons.filter((d) => entities(d).some((e) => e.name === "g-writer"))
          expect(holders.map((d) => d.node)).toHaveLength(1)
          expect(readLedger(ledger).filter((c) => !c.stopped)).toHaveLength(1)
          expect(overlaps(readLedger(ledger))).toEqual([])
          const [holder] = holders
          const other = holder === a ? b : a

          // the holder SIGKILLed (daemon, spawner helper, children): the group starts on the other
          const killed = Date.now()
          killTree(holder)
          await waitUntil("the group on the other daemon", () => running(other, "g-writer"), 20_000)
          await waitForCopy(ledger, (c) => c.start >= killed, 10_000)
          console.log(`daemon group failover: ${Date.now() - killed} ms`)
          expect(overlaps(readLedger(ledger))).toEqual([])
          const lost = entities(other).find((e) => e.name === `node:${holder.node}`)
          expect(lost?.status).not.toBe("running")

          // `ham stop` on the survivor, through its cluster port: it leaves the cluster (its group
          // stopped) and exits
          const stopped = ham(
            "stop",
            "--port",
            String(other.hamPort),
            "--token-file",
            path.join(path.dirname(other.socket), "token")
          )
          expect(stopped.code, stopped.stderr).toBe(0)
          // (a notify socket left open by a group's detach would keep it running: seen before the fix)
          await waitUntil("the survivor's exit", () => exited(other), 15_000).catch((e) => {
            throw new Error(`${e.message}: ${daemons.map((d) => `${d.node}: ${d.out.stdout}`).join("\n")}`)
          })
          expect(other.child.exitCode, other.out.stderr).toBe(0)
          expect(readLedger(ledger).at(-1)?.stopped).toBe(true)
        } finally {
          for (const d of daemons) if (!exited(d)) d.child.kill("SIGTERM")
          const end = Date.now() + 15_000
          while (daemons.some((d) => !exited(d)) && Date.now() < end) await sleep(100)
          daemons.forEach(killTree)
          fs.rmSync(dir, { recursive: true, force: true })
        }
      }),
    180_000
  )
})

describe("ham start with a bad cluster section", () => {
  it("an unknown key exits 2, a rule between options exits 1, both naming the option; nothing left running", () => {
    const dir = fs.mkdtempSync(path.join(tmpdir(), "ham-dcluster-bad-"))
    // a duration no other test sleeps: its process is looked for after
    const sleeper = `${300 + (process.pid % 1000) / 1000}`
    fs.chmodSync(dir, 0o700)
    try {
      const write = (cluster: Record<string, unknown>) => {
        const file = path.join(dir, "ham.json")
        fs.writeFileSync(
          file,
          JSON.stringify({
            socket: "./ham.sock",
            state: false,
            entities: [{ name: "sleeper", command: { command: "sleep", args: [sleeper] } }],
            cluster: {
              node: "a",
              database: "postgres://nobody@127.0.0.1:1/none",
              ham: { port: freePortSync() },
              runner: { port: freePortSync() },
              tokenEnv: "HAM_DCLUSTER_TOKEN",
              ...cluster
            }
          })
        )
        return file
      }
      const unknown = ham("start", "--config", write({ group: [] }))
      expect(unknown.code, unknown.stderr).toBe(2)
      expect(unknown.stderr).toMatch(/cluster\.group is not allowed/)
      const rule = ham("start", "--config", write({ watch: { interval: "1 second", lossAfter: "100 millis" } }))
      expect(rule.code, rule.stderr).toBe(1)
      expect(rule.stderr).toMatch(/cluster\.watch\.lossAfter/)
      expect(fs.existsSync(path.join(dir, "ham.sock"))).toBe(false)
      // the config's entity was started before the join failed, and stopped with the daemon
      expect(liveWithCmdline(`sleep ${sleeper}`)).toEqual([])
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }, 60_000)
})
