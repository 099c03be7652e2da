/**
 * A partition of the cluster, in network namespaces: a hub namespace holds a bridge and the
 * throwaway PostgreSQL (listening on the bridge's address); nodes a, b and c each run in a
 * namespace of their own, joined to the bridge by a veth pair (all named `hamc-<pid>-…` /
 * `hc<pid>…`, made here and removed after, even on failure). The node running the group is cut
 * off (its veth's hub end set down), then joined again:
 *
 * - both others see its `node:<name>` die, and it sees theirs die;
 * - its copy of the group stops (it cannot renew its lock) and a copy starts on a live node; the
 *   ledger (the copies' own lines) never shows two alive at once;
 * - its link up again, the others see it attach again; still never two copies.
 *
 * Where namespaces are not allowed, the test says so and is skipped (there is nothing to cut on
 * loopback ports).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as cp from "node:child_process"
import * as fs from "node:fs"
import { join } from "node:path"
import {
  ledgerGroup,
  type NodeProcess,
  overlaps,
  readLedger,
  startNode,
  stopNode,
  waitForCopy
} from "./clusterNodes.js"
import { create, freePortSync, unavailable } from "./postgres.js"

const ip = (...args: ReadonlyArray<string>) => cp.spawnSync("ip", args, { encoding: "utf8", timeout: 10_000 })

const id = process.pid
const hub = `hamc-${id}-hub`
const names = ["a", "b", "c"] as const
const ns = (node: string) => `hamc-${id}-${node}`
const net = `10.${150 + (id % 50)}.${(id >> 6) % 250}`
const hubAddress = `${net}.1`
const address = (i: number) => `${net}.${11 + i}`
/** the veth pair of a node: its end in its namespace, and the hub's */
const veth = (node: string) => [`hc${id}${node}`, `hc${id}${node}h`] as const

const removeAll = () => {
  for (const name of [...names.map(ns), hub]) {
    for (const pid of (ip("netns", "pids", name).stdout ?? "").split("\n").filter((l) => l.trim() !== "")) {
      try {
        process.kill(Number(pid), "SIGKILL")
      } catch {
        // gone
      }
    }
    ip("netns", "del", name)
  }
}

/** the namespaces, the bridge and the veth pairs; why not, when the machine refuses */
const setUp = (): string | undefined => {
  const steps: Array<ReadonlyArray<string>> = [
    ["netns", "add", hub],
    ["-n", hub, "link", "set", "lo", "up"],
    ["-n", hub, "link", "add", "br0", "type", "bridge"],
    ["-n", hub, "addr", "add", `${hubAddress}/24`, "dev", "br0"],
    ["-n", hub, "link", "set", "br0", "up"]
  ]
  names.forEach((node, i) => {
    const [inside, atHub] = veth(node)
    steps.push(
      ["netns", "add", ns(node)],
      ["-n", ns(node), "link", "set", "lo", "up"],
      ["link", "add", inside, "netns", ns(node), "type", "veth", "peer", "name", atHub, "netns", hub],
      ["-n", ns(node), "addr", "add", `${address(i)}/24`, "dev", inside],
      ["-n", ns(node), "link", "set", inside, "up"],
      ["-n", hub, "link", "set", atHub, "master", "br0"],
      ["-n", hub, "link", "set", atHub, "up"]
    )
  })
  for (const step of steps) {
    const r = ip(...step)
    if (r.status !== 0) return `ip ${step.join(" ")}: ${r.stderr.trim() || r.error?.message}`
  }
  return undefined
}

const skip = unavailable() ?? (process.env.HAM_TEST_NETNS === "off" ? "HAM_TEST_NETNS=off" : undefined)
if (skip !== undefined) console.log(`ClusterPartition skipped: ${skip}`)

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

describe.skipIf(skip !== undefined)("HamCluster: a partition, in network namespaces", () => {
  it.live(
    "the cut-off node's group stops and runs elsewhere, never twice; it rejoins when its link is up",
    () =>
      Effect.promise(async () => {
        const refused = setUp()
        const nodes: Array<NodeProcess> = []
        let pg: ReturnType<typeof create> | undefined
        try {
          if (refused !== undefined) {
            console.log(`network namespaces not allowed here (${refused}): nothing to cut on loopback ports`)
            return
          }
          pg = create({ prefix: ["ip", "netns", "exec", hub], host: hubAddress })
          const database = pg.createDatabase()
          const ledger = join(pg.dir, "ledger")
          fs.writeFileSync(ledger, "")
          names.forEach((node, i) => {
            const host = address(i)
            const options = {
              node,
              database,
              ham: { port: freePortSync(), host },
              runner: { port: freePortSync(), host },
              auth: { token: "hamc-partition-token-0123456789" },
              groups: [ledgerGroup("g", ledger, node)]
            }
            nodes.push(startNode(options, undefined, ["ip", "netns", "exec", ns(node)]))
          })
          for (const node of nodes) {
            for (const other of nodes.filter((n) => n !== node)) {
              await node.waitFor(
                `node:${other.name}`,
                (l) => l.ev === "CondAttach" && l.entity === `node:${other.name}`,
                90_000
              )
            }
          }
          const copy = await waitForCopy(ledger, (c) => !c.stopped && Date.now() - c.start > 2_000, 60_000)
          const holder = nodes.find((n) => n.name === copy.node)!
          const others = nodes.filter((n) => n !== holder)
          const from = nodes.map((n) => n.lines.length)

          // cut
          const [, atHub] = veth(holder.name)
          const cut = Date.now()
          expect(ip("-n", hub, "link", "set", atHub, "down").status).toBe(0)
          for (const node of others) {
            const death = await node.waitFor(
              `CondDeath of node:${holder.name}`,
              (l) => l.ev === "CondDeath" && l.entity === `node:${holder.name}`,
              5_000,
              from[nodes.indexOf(node)]
            )
            console.log(`${node.name} lost ${holder.name} after ${death.t! - cut} ms`)
          }
          for (const node of others) {
            await holder.waitFor(
              `CondDeath of node:${node.name}`,
              (l) => l.ev === "CondDeath" && l.entity === `node:${node.name}`,
              5_000,
              from[nodes.indexOf(holder)]
            )
          }
          const stopped = await waitForCopy(ledger, (c) => c.pid === copy.pid && c.stopped, 15_000)
          const next = await waitForCopy(ledger, (c) => c.start > cut, 30_000)
          console.log(
            `cut at 0: ${holder.name}'s copy stopped after ${stopped.last - cut} ms, ` +
              `a copy on ${next.node} after ${next.start - cut} ms`
          )
          expect(next.node).not.toBe(holder.name)
          expect(overlaps(readLedger(ledger))).toEqual([])

          // joined again
          const again = nodes.map((n) => n.lines.length)
          expect(ip("-n", hub, "link", "set", atHub, "up").status).toBe(0)
          for (const node of others) {
            await node.waitFor(
              `CondAttach of node:${holder.name}`,
              (l) => l.ev === "CondAttach" && l.entity === `node:${holder.name}`,
              15_000,
              again[nodes.indexOf(node)]
            )
          }
          await sleep(5_000)
          expect(overlaps(readLedger(ledger))).toEqual([])
          expect(readLedger(ledger).filter((c) => !c.stopped && Date.now() - c.last < 500).length).toBe(1)
        } finally {
          await Promise.all(nodes.map((node) => stopNode(node, 5_000)))
          pg?.destroy()
          removeAll()
        }
        for (const name of [...names.map(ns), hub]) expect(ip("netns", "pids", name).status).not.toBe(0)
      }),
    240_000
  )
})
