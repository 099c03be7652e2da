/**
 * The network-distributed HAM with three nodes on one machine: this file starts itself three times
 * (`node a`, `node b`, `node c`), each a HAM joined to one cluster by `HamCluster.layer`, with its
 * runner's storage and shard locks in PostgreSQL and the same cluster-wide group `web`:
 *
 *   1. each node sees the two others attach as entities `node:<name>`;
 *   2. the group runs on one of them (its `web` process attached there);
 *   3. that node is SIGKILLed: the two others see its `node:<name>` die within a second, and the
 *      group starts on one of them within a few seconds;
 *   4. the two nodes left are stopped (they leave the cluster).
 *
 * It needs an empty PostgreSQL database (one per cluster: the shard locks are advisory locks):
 *
 *   HAM_CLUSTER_DATABASE=postgres://user@127.0.0.1:5432/hamdemo npm run example -- examples/cluster.ts
 */
import { Effect, Layer, Stream } from "effect"
import { Ham } from "effect-ham"
import * as HamCluster from "effect-ham/HamCluster"
import * as cp from "node:child_process"
import { randomBytes } from "node:crypto"
import * as net from "node:net"
import { fileURLToPath } from "node:url"

// ---------------------------------------------------------------------------------------------
// a node (this file, started with `node <name> <ham port> <runner port>`)
// ---------------------------------------------------------------------------------------------

const web = {
  name: "web",
  entities: [{
    name: "web",
    command: { command: process.execPath, args: ["-e", "setInterval(() => {}, 1000)"] },
    conditions: [{ type: "CondDeath", actions: [{ _tag: "Restart" }] }]
  }]
}

const node = (name: string, hamPort: number, runnerPort: number) =>
  Effect.gen(function*() {
    const say = (text: string) => Effect.sync(() => process.stdout.write(`[${name}] ${text}\n`))
    yield* Ham.events().pipe(
      Stream.filter((e) => e.entity.startsWith("node:") || e.entity === "web"),
      Stream.filter((e) => e._tag !== "CondBeatMissedLow" && e._tag !== "CondBeatMissedHigh"),
      Stream.runForEach((e) => say(`${e.entity} ${e._tag} ${Date.now()}`)),
      Effect.forkScoped
    )
    yield* say("ready")
    // until the parent closes this process's stdin
    yield* Effect.async<void>((resume) => {
      process.stdin.on("end", () => resume(Effect.void)).resume()
    })
  }).pipe(
    Effect.scoped,
    Effect.provide(
      HamCluster.layer({
        node: name,
        database: process.env.HAM_CLUSTER_DATABASE!,
        ham: { port: hamPort },
        runner: { port: runnerPort },
        auth: { tokenEnv: "HAM_CLUSTER_TOKEN" },
        groups: [web]
      }).pipe(Layer.provideMerge(Ham.layer()))
    )
  )

// ---------------------------------------------------------------------------------------------
// the three nodes, started, watched and one of them killed (this file, run with no argument)
// ---------------------------------------------------------------------------------------------

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })

interface Started {
  readonly name: string
  readonly child: cp.ChildProcess
  /** the lines it printed: `[name] text` */
  readonly lines: Array<string>
}

const until = async (what: string, f: () => boolean, millis: number) => {
  const end = Date.now() + millis
  while (!f()) {
    if (Date.now() > end) throw new Error(`no ${what} within ${millis} ms`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** the time in the line `[x] <entity> <event> <time>` that `node` printed, if any (after `from`) */
const seen = (node: Started, entity: string, event: string, from = 0) => {
  const line = node.lines.slice(from).find((l) => l.startsWith(`${entity} ${event} `))
  return line === undefined ? undefined : Number(line.split(" ")[2])
}

const main = async () => {
  const env = { ...process.env, HAM_CLUSTER_TOKEN: randomBytes(24).toString("hex") }
  const self = fileURLToPath(import.meta.url)
  const nodes: Array<Started> = []
  for (const name of ["a", "b", "c"]) {
    const args = [
      "--conditions=source",
      "--import",
      "tsx",
      self,
      "node",
      name,
      `${await freePort()}`,
      `${await freePort()}`
    ]
    const child = cp.spawn(process.execPath, args, { env, stdio: ["pipe", "pipe", "inherit"] })
    const started: Started = { name, child, lines: [] }
    child.stdout!.on("data", (data: Buffer) => {
      for (const line of String(data).split("\n")) {
        const match = line.match(/^\[(\w+)\] (.*)$/)
        if (match !== null && match[1] === name) started.lines.push(match[2])
      }
    })
    nodes.push(started)
  }
  try {
    for (const n of nodes) {
      const others = nodes.filter((o) => o !== n).map((o) => o.name)
      await until(
        `${n.name} seeing the others`,
        () => others.every((o) => seen(n, `node:${o}`, "CondAttach") !== undefined),
        60_000
      )
      console.log(`${n.name} sees ${others.map((o) => `node:${o}`).join(" and ")} attached`)
    }
    // the group's node: the last to attach web (a joining runner may take it over), settled
    const holder = () =>
      nodes
        .map((n) => ({
          n,
          t: Math.max(...n.lines.filter((l) => l.startsWith("web CondAttach ")).map((l) => Number(l.split(" ")[2])))
        }))
        .filter(({ n, t }) => t > 0 && (seen(n, "web", "CondDetach") ?? 0) < t)
        .sort((x, y) => y.t - x.t)[0]
    await until("the group settled on a node", () => holder() !== undefined && Date.now() - holder()!.t > 2_000, 60_000)
    const victim = holder()!.n
    console.log(`the group web runs on ${victim.name}`)

    const live = nodes.filter((n) => n !== victim)
    const from = live.map((n) => n.lines.length)
    const killed = Date.now()
    victim.child.kill("SIGKILL")
    console.log(`${victim.name} SIGKILLed`)
    await until(
      "the others seeing it lost",
      () => live.every((n, i) => seen(n, `node:${victim.name}`, "CondDeath", from[i]) !== undefined),
      10_000
    )
    for (const [i, n] of live.entries()) {
      console.log(
        `node ${victim.name} lost: seen by ${n.name} after ${
          seen(n, `node:${victim.name}`, "CondDeath", from[i])! - killed
        } ms`
      )
    }
    await until(
      "the group elsewhere",
      () => live.some((n, i) => seen(n, "web", "CondAttach", from[i]) !== undefined),
      30_000
    )
    const [to, at] = live.map((n, i) => [n, seen(n, "web", "CondAttach", from[i])] as const).find(([, t]) =>
      t !== undefined
    )!
    console.log(`the group web failed over from ${victim.name} to ${to.name} in ${at! - killed} ms`)
  } finally {
    for (const n of nodes) n.child.stdin!.end()
    await Promise.all(nodes.map((n) =>
      n.child.exitCode !== null || n.child.signalCode !== null
        ? Promise.resolve()
        : new Promise((resolve) => n.child.once("exit", resolve))
    ))
  }
  console.log("the two nodes left have left the cluster")
}

if (process.argv[2] === "node") {
  Effect.runPromise(node(process.argv[3], Number(process.argv[4]), Number(process.argv[5]))).then(
    () => process.exit(0),
    (e) => {
      console.error(e)
      process.exit(1)
    }
  )
} else if (process.env.HAM_CLUSTER_DATABASE === undefined) {
  console.log(
    "examples/cluster.ts needs an empty PostgreSQL database: HAM_CLUSTER_DATABASE=postgres://… (see its header)"
  )
} else {
  main().then(
    () => process.exit(0),
    (e) => {
      console.error(e)
      process.exit(1)
    }
  )
}
