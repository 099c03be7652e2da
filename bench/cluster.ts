/**
 * `npm run bench:cluster`: the network-distributed HAM (issue 15). Starts a throwaway PostgreSQL 15
 * and three nodes (test/fixtures/cluster-node.ts, child processes on loopback ports: network
 * namespaces are not used here), each with the same cluster-wide group whose process writes a
 * ledger (test/fixtures/ledger-writer.mjs).
 *
 * - Each round SIGKILLs the node holding the group with everything under it: the time from the
 *   kill to the `CondDeath` of its `node:<name>` on each of the two others (node loss detection),
 *   and to the group's next process writing its first ledger line on a live node (failover). The
 *   node is started again (same name, same ports) and the cluster left to settle before the next.
 * - The ledger is read at the end: two copies alive at once are counted (must be 0).
 * - Local restarts: a process entity (a shell that writes its start line, then sleeps) SIGKILLed
 *   on a clustered node and on a HAM alone (the baseline, in the same run, alternating), timed from the kill to the new
 *   process's first line; the ratio of the medians.
 *
 * HAMC_BENCH_ROUNDS (default 8) failover rounds, HAMC_BENCH_RESTARTS (default 30) restarts each.
 */
import * as fs from "node:fs"
import { join } from "node:path"
import {
  killNode,
  ledgerGroup,
  nodeOptions,
  type NodeProcess,
  overlaps,
  readLedger,
  startNode,
  stopNode
} from "../test/clusterNodes.js"
import { create, unavailable } from "../test/postgres.js"
import { median, report } from "./core.js"

const rounds = Number(process.env.HAMC_BENCH_ROUNDS ?? 8)
const restarts = Number(process.env.HAMC_BENCH_RESTARTS ?? 30)

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

const percentile = (xs: ReadonlyArray<number>, p: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]
}

const waitUntil = async <A>(what: string, f: () => A | undefined, millis: number): Promise<A> => {
  const end = Date.now() + millis
  for (;;) {
    const found = f()
    if (found !== undefined) return found
    if (Date.now() > end) throw new Error(`no ${what} within ${millis} ms`)
    await sleep(10)
  }
}

/** the time from a SIGKILL of a node's local process entity to its next process's first line */
const localRestart = async (node: NodeProcess, ledger: string, entity: string) => {
  const pid = (await node.ask("tree")).find((e) => e.name === entity && e.status === "running")?.pid
  if (pid === undefined) throw new Error(`${node.name}: ${entity} is not running`)
  const killed = Date.now()
  process.kill(pid, "SIGKILL")
  const next = await waitUntil(
    "restart",
    () => readLedger(ledger).find((c) => c.start >= killed && c.pid !== pid),
    10_000
  )
  // its first beat too: the next kill finds it in the tree
  await sleep(50)
  return next.start - killed
}

const main = async () => {
  const why = unavailable()
  if (why !== undefined) {
    console.log(`bench:cluster needs PostgreSQL 15 and root: ${why}`)
    process.exit(1)
  }
  console.log(`# effect-ham cluster bench (node ${process.version}; three nodes on loopback ports, no namespaces)`)
  const pg = create()
  const nodes = new Map<string, NodeProcess>()
  const stopAll = async () => {
    await Promise.all([...nodes.values()].map((node) => stopNode(node)))
    nodes.clear()
  }
  const cleanup = async () => {
    await stopAll()
    pg.destroy()
  }
  process.on("SIGINT", () => void cleanup().then(() => process.exit(130)))
  try {
    const database = pg.createDatabase()
    const ledger = join(pg.dir, "ledger")
    fs.writeFileSync(ledger, "")
    const options = new Map(
      ["a", "b", "c"].map((name) => [name, nodeOptions(name, database, { groups: [ledgerGroup("g", ledger, name)] })])
    )
    const start = (name: string) => {
      const node = startNode(options.get(name)!)
      nodes.set(name, node)
      return node
    }
    for (const name of options.keys()) start(name)
    for (const node of nodes.values()) await node.waitFor("ready", (l) => l.ready === true, 120_000)

    const detections: Array<number> = []
    const failovers: Array<number> = []
    for (let round = 0; round < rounds; round++) {
      // the holder: the last copy, running for a second (a joining runner may take the group over)
      const copy = await waitUntil("a settled holder", () => {
        const last = readLedger(ledger).at(-1)
        return last !== undefined && !last.stopped && Date.now() - last.start > 1_500 ? last : undefined
      }, 60_000)
      const holder = nodes.get(copy.node)!
      const others = [...nodes.values()].filter((n) => n !== holder)
      const from = others.map((n) => n.lines.length)
      const killed = killNode(holder)
      const deaths = await Promise.all(others.map((n, i) =>
        n.waitFor(
          `CondDeath of node:${holder.name}`,
          (l) => l.ev === "CondDeath" && l.entity === `node:${holder.name}`,
          10_000,
          from[i]
        )
      ))
      for (const death of deaths) detections.push(death.t! - killed)
      const next = await waitUntil(
        "the group elsewhere",
        () => readLedger(ledger).find((c) => c.start > killed),
        30_000
      )
      failovers.push(next.start - killed)
      console.log(
        `round ${round + 1}: ${holder.name} killed, loss seen after ${
          deaths.map((d) => d.t! - killed).join(" and ")
        } ms,` +
          ` group on ${next.node} after ${next.start - killed} ms`
      )
      await holder.exited
      const again = others.map((n) => n.lines.length)
      const back = start(holder.name)
      await back.waitFor("ready", (l) => l.ready === true, 60_000)
      await Promise.all(others.map((n, i) =>
        n.waitFor(
          `CondAttach of node:${holder.name}`,
          (l) => l.ev === "CondAttach" && l.entity === `node:${holder.name}`,
          30_000,
          again[i]
        )
      ))
      // and the node back sees the others: the next round may kill one of them, whose loss it
      // can only see once it watches it
      await Promise.all(others.map((n) =>
        back.waitFor(
          `CondAttach of node:${n.name} on ${holder.name}`,
          (l) => l.ev === "CondAttach" && l.entity === `node:${n.name}`,
          30_000
        )
      ))
    }
    report("node_loss_detection_ms_p50", percentile(detections, 50), "ms (target <= 1000)", 0)
    report("node_loss_detection_ms_p95", percentile(detections, 95), "ms (target <= 1000)", 0)
    report("group_failover_ms_p50", percentile(failovers, 50), "ms (target <= 5000)", 0)
    report("group_failover_ms_p95", percentile(failovers, 95), "ms (target <= 5000)", 0)
    report("group_two_copies_at_once", overlaps(readLedger(ledger)).length, "(target 0)", 0)
    await stopAll()

    // local restarts: clustered against alone, alternating, in the same run
    const local = join(pg.dir, "local-ledger")
    fs.writeFileSync(local, "")
    // a small child: its start line (the time from date, one fork), then it sleeps
    const script = `echo "start $$ $1 $(date +%s%3N)" >> "$0"; exec sleep 100000`
    const writer = (node: string) => ({ local: [{ name: "w", command: "sh", args: ["-c", script, local, node] }] })
    const clustered = startNode(nodeOptions("k", pg.createDatabase(), { fixture: writer("k") }))
    const alone = startNode({ ...nodeOptions("p", database), plain: true, fixture: writer("p") })
    nodes.set("k", clustered)
    nodes.set("p", alone)
    for (const node of [clustered, alone]) await node.waitFor("ready", (l) => l.ready === true, 60_000)
    await sleep(2_000)
    const times = { clustered: [] as Array<number>, alone: [] as Array<number> }
    for (let i = 0; i < restarts; i++) {
      times.clustered.push(await localRestart(clustered, local, "w"))
      times.alone.push(await localRestart(alone, local, "w"))
    }
    report("clustered_restart_ms_p50", median(times.clustered), "ms", 1)
    report("alone_restart_ms_p50", median(times.alone), "ms (the baseline)", 1)
    report("clustered_restart_ratio", median(times.clustered) / median(times.alone), "x (median, target <= 1.1)")
  } finally {
    await cleanup()
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e)
    process.exit(1)
  }
)
