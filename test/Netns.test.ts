/**
 * The proof of the network-distributed HAM: two `ham` daemons, each in a network namespace of its
 * own (`ip netns`, joined by a veth pair with 10.x addresses; made and removed here, named after
 * this process so that nothing else is touched), B listening on its 10.x address with TLS and a
 * token file. From A's side, the CLI attaches a process entity on B, SIGKILLs it and sees the
 * restart in `ham events -f` and `ham ls`; a node-qualified action of A (a death on A publishes
 * and raises on an entity of B) shows in B's events; a call with a wrong token exits 4 and changes
 * nothing; `ham stop` ends each daemon with its guardian and children: nothing is left in either
 * namespace. Where the machine forbids namespaces (or with HAM_TEST_NETNS=off), the same runs on
 * two loopback ports, and the output says so.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as cp from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { selfSigned } from "./certs.js"
import { hamIn, type LsEntity, spawnedIn } from "./daemon.js"
import { isLive, tempDir, waitUntil } from "./processes.js"

const ip = (...args: ReadonlyArray<string>) => cp.spawnSync("ip", args, { encoding: "utf8", timeout: 10_000 })

/** what `ham ls --json` prints: the entities, and the HAM's own processes */
interface LsTree {
  readonly entities: ReadonlyArray<LsEntity>
  readonly guardianPid?: number
  readonly spawnerPid?: number
}

interface Side {
  /** the command prefix that runs a process on this side (`ip netns exec NAME`, or nothing) */
  readonly prefix: ReadonlyArray<string>
  readonly address: string
  /** the processes in this side's namespace (none known without namespaces) */
  readonly pids: () => ReadonlyArray<number>
}

/** two namespaces joined by a veth pair, removed with the scope (even on failure); undefined where forbidden */
const namespaces = Effect.acquireRelease(
  Effect.sync(() => {
    const id = process.pid
    const [a, b] = [`ham-t-${id}-a`, `ham-t-${id}-b`]
    const [va, vb] = [`ht${id}a`, `ht${id}b`]
    const net = `10.${200 + (id % 50)}.${(id >> 6) % 250}`
    // HAM_TEST_NETNS=off: as where the machine forbids namespaces (to check the fallback)
    if (process.env.HAM_TEST_NETNS === "off") return { names: [], sides: undefined }
    const steps: ReadonlyArray<ReadonlyArray<string>> = [
      ["netns", "add", a],
      ["netns", "add", b],
      ["link", "add", va, "type", "veth", "peer", "name", vb],
      ["link", "set", va, "netns", a],
      ["link", "set", vb, "netns", b],
      ["-n", a, "addr", "add", `${net}.1/24`, "dev", va],
      ["-n", b, "addr", "add", `${net}.2/24`, "dev", vb],
      ["-n", a, "link", "set", va, "up"],
      ["-n", b, "link", "set", vb, "up"],
      ["-n", a, "link", "set", "lo", "up"],
      ["-n", b, "link", "set", "lo", "up"]
    ]
    for (const step of steps) {
      const r = ip(...step)
      if (r.status !== 0) {
        console.log(`ip ${step.join(" ")}: ${r.stderr.trim() || r.error?.message}`)
        return { names: [a, b], sides: undefined }
      }
    }
    const side = (name: string, address: string): Side => ({
      prefix: ["ip", "netns", "exec", name],
      address,
      pids: () => ip("netns", "pids", name).stdout.split("\n").filter((l) => l.trim() !== "").map(Number).filter(isLive)
    })
    return { names: [a, b], sides: [side(a, `${net}.1`), side(b, `${net}.2`)] as const }
  }),
  ({ names }) =>
    Effect.sync(() => {
      for (const name of names) {
        // whatever is left in it (a failed run) goes first; the veth pair goes with the namespace
        for (const pid of ip("netns", "pids", name).stdout.split("\n").filter((l) => l.trim() !== "").map(Number)) {
          try {
            process.kill(pid, "SIGKILL")
          } catch {
            // gone
          }
        }
        ip("netns", "del", name)
      }
    })
)

describe("two daemons in two network namespaces", () => {
  it.live(
    "attach across, a restart seen remotely, a node-qualified action, a refused token, ham stop leaves nothing",
    () =>
      Effect.gen(function*() {
        const ns = yield* namespaces
        const loopback = (): Side => ({ prefix: [], address: "127.0.0.1", pids: () => [] })
        const [sideA, sideB] = ns.sides ?? [loopback(), loopback()]
        if (ns.sides === undefined) {
          console.log(
            "ip netns is not allowed here (or HAM_TEST_NETNS=off): falling back to two daemons on loopback ports"
          )
        } else console.log(`namespaces ${ns.names.join(", ")}: A ${sideA.address}, B ${sideB.address}`)
        const dir = yield* tempDir("ham-netns-")
        const { certFile, keyFile } = selfSigned(dir, [`IP:${sideB.address}`])
        const tokenFile = path.join(dir, "b", "token")
        fs.mkdirSync(path.join(dir, "a"), { mode: 0o700 })
        fs.mkdirSync(path.join(dir, "b"), { mode: 0o700 })
        const sockA = path.join(dir, "a", "ham.sock")
        const sockB = path.join(dir, "b", "ham.sock")

        // ---- daemon B: on its 10.x address, TLS, a token file (made by the daemon), an entity "db"
        fs.writeFileSync(
          path.join(dir, "b", "ham.json"),
          JSON.stringify({
            socket: "./ham.sock",
            listen: { tcp: { host: sideB.address, port: 0 }, tokenFile: "token", tls: { certFile, keyFile } },
            entities: [{ name: "db", command: { command: "sleep", args: ["300"] } }]
          })
        )
        const daemonB = yield* spawnedIn(sideB.prefix, "start", "--config", path.join(dir, "b", "ham.json"))
        yield* waitUntil(
          "daemon B to serve",
          () => /tcp port \d+/.test(daemonB.out.stdout) || daemonB.out.exit !== undefined,
          20_000
        )
        expect(daemonB.out.exit, daemonB.out.stderr).toBeUndefined()
        const portB = /tcp port (\d+)/.exec(daemonB.out.stdout)![1]
        const atB = ["--host", sideB.address, "--port", portB, "--token-file", tokenFile, "--ca-file", certFile]
        const nodeB = { tcp: { host: sideB.address, port: Number(portB) }, tokenFile, tls: { caFile: certFile } }

        // ---- daemon A: an entity whose death restarts it, then publishes and raises on B's "db"
        fs.writeFileSync(
          path.join(dir, "a", "ham.json"),
          JSON.stringify({
            socket: "./ham.sock",
            entities: [{
              name: "pinger",
              command: { command: "sleep", args: ["300"] },
              conditions: [{
                type: "CondDeath",
                actions: [
                  { _tag: "Restart" },
                  { _tag: "PublishState", entity: "db", state: 5, node: nodeB },
                  {
                    _tag: "Raise",
                    entity: "db",
                    raise: { type: 1, class: 2, severity: 3 },
                    node: nodeB,
                    alternates: [{ _tag: "Log", message: "B is unreachable" }]
                  }
                ]
              }]
            }]
          })
        )
        const daemonA = yield* spawnedIn(sideA.prefix, "start", "--config", path.join(dir, "a", "ham.json"))
        yield* waitUntil(
          "daemon A to serve",
          () => daemonA.out.stdout.includes("ham: running 1 entities") || daemonA.out.exit !== undefined,
          20_000
        )
        expect(daemonA.out.exit, daemonA.out.stderr).toBeUndefined()

        /** the CLI run on A's side */
        const cli = (...args: ReadonlyArray<string>) => hamIn(sideA.prefix, ...args)
        const lsB = (): LsTree => {
          const r = cli("ls", "--json", ...atB)
          expect(r.code, r.stderr).toBe(0)
          return JSON.parse(r.stdout)
        }
        const lsA = (): LsTree => {
          const r = cli("ls", "--json", "--socket", sockA)
          expect(r.code, r.stderr).toBe(0)
          return JSON.parse(r.stdout)
        }

        // ---- from A's side: follow B's events, attach a process entity on B, SIGKILL it
        const follow = yield* spawnedIn(sideA.prefix, "events", "-f", ...atB)
        // subscribed once a state published after its start shows in it
        for (let state = 1; !/ db CondState /.test(follow.out.stdout); state++) {
          expect(state, "ham events -f shows nothing").toBeLessThan(5)
          expect(cli("publish", "db", String(state), ...atB).code).toBe(0)
          yield* waitUntil("", () => / db CondState /.test(follow.out.stdout), 3_000).pipe(
            Effect.catchAllDefect(() => Effect.void)
          )
        }
        const attached = cli("attach", "web", "--restart", ...atB, "--", "sleep", "300")
        expect([attached.code, attached.stdout, attached.stderr]).toEqual([0, "attached web\n", ""])
        const web = lsB().entities.find((e) => e.name === "web")!
        expect(web.status).toBe("running")
        process.kill(web.pid!, "SIGKILL")
        yield* waitUntil("the restart in ham events -f", () => / web CondRestart/.test(follow.out.stdout), 15_000)
        expect(follow.out.stdout).toMatch(/ web CondAbnormalDeath .* web CondDeath /s)
        const restarted = lsB().entities.find((e) => e.name === "web")!
        expect(restarted.pid).not.toBe(web.pid)
        expect([restarted.status, restarted.stats.deaths, restarted.stats.restarts]).toEqual(["running", 1, 1])

        // ---- a node-qualified action: a death on A publishes and raises on B's "db"
        const pinger = lsA().entities.find((e) => e.name === "pinger")!
        process.kill(pinger.pid!, "SIGKILL")
        yield* waitUntil(
          "A's action in B's events",
          () => / db CondRaise .*type=1 class=2 severity=3/.test(follow.out.stdout),
          15_000
        )
        expect(follow.out.stdout).toMatch(/ db CondState .*to=5/)
        expect(follow.out.stdout).toMatch(/detail=CondDeath of "pinger"/)
        const cat = cli("cat", "db", "--json", ...atB)
        expect(JSON.parse(cat.stdout).state).toBe(5)
        const actions = JSON.parse(cli("cat", "pinger/death", "--json", "--socket", sockA).stdout).actions
        expect(actions.map((a: { readonly failures: number }) => a.failures)).toEqual([0, 0, 0])

        // ---- a wrong token: exit 4, nothing changed
        const wrong = path.join(dir, "wrong")
        fs.writeFileSync(wrong, "not-the-token-of-b-0123456789\n", { mode: 0o600 })
        const atBWrong = ["--host", sideB.address, "--port", portB, "--token-file", wrong, "--ca-file", certFile]
        expect(cli("publish", "db", "9", ...atBWrong).code).toBe(4)
        expect(cli("attach", "intruder", ...atBWrong, "--", "sleep", "300").code).toBe(4)
        expect(cli("stop", ...atBWrong).code).toBe(4)
        expect(lsB().entities.map((e) => e.name)).toEqual(["db", "web"])
        expect(JSON.parse(cli("cat", "db", "--json", ...atB).stdout).state).toBe(5)

        // ---- ham stop: each daemon, its guardian and its children end; nothing is left
        const pids = (
          tree: LsTree
        ) => [
          ...tree.entities.map((e) => e.pid!),
          ...(tree.guardianPid === undefined ? [] : [tree.guardianPid]),
          ...(tree.spawnerPid === undefined ? [] : [tree.spawnerPid])
        ]
        const left = [...pids(lsB()), ...pids(lsA()), daemonA.child.pid!, daemonB.child.pid!]
        follow.child.kill("SIGKILL")
        yield* waitUntil("ham events -f to end", () => follow.out.exit !== undefined, 5_000)
        const stopB = cli("stop", ...atB)
        expect(stopB.code, stopB.stderr).toBe(0)
        expect(cli("stop", "--socket", sockA).code).toBe(0)
        yield* waitUntil(
          "both daemons to exit",
          () => daemonA.out.exit !== undefined && daemonB.out.exit !== undefined,
          20_000
        )
        expect([daemonA.out.exit, daemonB.out.exit]).toEqual([0, 0])
        yield* waitUntil("every process to end", () => left.filter(isLive).length === 0, 10_000)
        yield* waitUntil("the namespaces to be empty", () => [...sideA.pids(), ...sideB.pids()].length === 0, 10_000)
        expect(fs.existsSync(sockB)).toBe(false)
      }).pipe(Effect.scoped),
    240_000
  )
})
