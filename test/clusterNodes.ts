/**
 * Cluster nodes as child processes (test/fixtures/cluster-node.ts) for the cluster's tests and
 * bench: started with their options, their `@@` lines collected with the time each was read,
 * asked questions on stdin, SIGKILLed with every process under them (HAM, spawner helper,
 * children) at once, or stopped (stdin closed, then SIGKILL after a bound).
 *
 * Plain promises, so that the bench uses them as they are.
 */
import * as cp from "node:child_process"
import * as fs from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { freePortSync } from "./postgres.js"

const root = fileURLToPath(new URL("..", import.meta.url))

export interface Line {
  readonly ev?: string
  readonly entity?: string
  readonly t?: number
  readonly ready?: boolean
  readonly pid?: number
  readonly groups?: ReadonlyArray<string>
  readonly members?: ReadonlyArray<string>
  readonly tree?: ReadonlyArray<{ readonly name: string; readonly status: string; readonly pid?: number }>
  readonly raised?: string
  readonly restarted?: string
}

export interface NodeProcess {
  readonly name: string
  readonly options: Record<string, unknown>
  readonly child: cp.ChildProcess
  /** every `@@` line so far, in order */
  readonly lines: Array<Line>
  /** the first line from `from` on that satisfies `f` (polling), or a rejection after `millis` */
  readonly waitFor: (what: string, f: (line: Line) => boolean, millis: number, from?: number) => Promise<Line>
  /** asks a question (`groups`, `members`, `tree`) and waits for its answer line */
  readonly ask: <K extends "groups" | "members" | "tree">(key: K) => Promise<NonNullable<Line[K]>>
  readonly exited: Promise<void>
}

/** a node's options: its name, the database, fresh loopback ports, the token, and more */
export const nodeOptions = (name: string, database: string, more: Record<string, unknown> = {}) => ({
  node: name,
  database,
  ham: { port: freePortSync() },
  runner: { port: freePortSync() },
  auth: { token: "hamc-test-token-0123456789" },
  ...more
})

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

/** starts a node; `prefix` runs it elsewhere (`ip netns exec NAME`, which execs node: the pid is node's) */
export const startNode = (
  options: Record<string, unknown>,
  log?: (text: string) => void,
  prefix: ReadonlyArray<string> = []
): NodeProcess => {
  const name = String(options.node)
  const command = [
    ...prefix,
    process.execPath,
    "--conditions=source",
    "--import",
    "tsx",
    join(root, "test/fixtures/cluster-node.ts"),
    JSON.stringify(options)
  ]
  const child = cp.spawn(command[0], command.slice(1), { cwd: root, stdio: ["pipe", "pipe", "pipe"] })
  const lines: Array<Line> = []
  // its last words, shown when it exits unexpectedly
  const last: Array<string> = []
  const said = (line: string) => {
    last.push(line)
    if (last.length > 40) last.shift()
  }
  let rest = ""
  child.stdout!.on("data", (data) => {
    rest += String(data)
    const parts = rest.split("\n")
    rest = parts.pop()!
    for (const part of parts) {
      if (part.startsWith("@@ ")) lines.push(JSON.parse(part.slice(3)))
      else if (part.trim() !== "") {
        said(part)
        log?.(`${name}: ${part}`)
      }
    }
  })
  child.stderr!.on("data", (data) => {
    for (const line of String(data).trimEnd().split("\n")) said(`(stderr) ${line}`)
    log?.(`${name} (stderr): ${String(data).trimEnd()}`)
  })
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve()
    child.once("exit", () => resolve())
  })
  const waitFor = async (what: string, f: (line: Line) => boolean, millis: number, from = 0) => {
    const end = Date.now() + millis
    for (;;) {
      const found = lines.slice(from).find(f)
      if (found !== undefined) return found
      if (Date.now() > end) throw new Error(`${name}: no ${what} within ${millis} ms`)
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(
          `${name} exited (${child.exitCode ?? child.signalCode}) waiting for ${what}; its last lines:\n${
            last.join("\n")
          }`
        )
      }
      await sleep(10)
    }
  }
  const ask = async <K extends "groups" | "members" | "tree">(key: K) => {
    const from = lines.length
    child.stdin!.write(`${key}\n`)
    const line = await waitFor(key, (l) => l[key] !== undefined, 5_000, from)
    return line[key] as NonNullable<Line[K]>
  }
  return { name, options, child, lines, waitFor, ask, exited }
}

/** the pids of a process and all under it, from /proc */
export const treeOf = (pid: number): Array<number> => {
  const parents = new Map<number, number>()
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8")
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]))
    } catch {
      // gone meanwhile
    }
  }
  const all = [pid]
  for (let i = 0; i < all.length; i++) {
    for (const [child, parent] of parents) if (parent === all[i]) all.push(child)
  }
  return all
}

/** SIGKILLs the node and everything under it at once; the time of the kill */
export const killNode = (node: NodeProcess): number => {
  const pids = treeOf(node.child.pid!)
  const t = Date.now()
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL")
    } catch {
      // gone already
    }
  }
  return t
}

/** stops a node: its stdin closed (it leaves the cluster), SIGKILL of its tree after `millis` */
export const stopNode = async (node: NodeProcess, millis = 10_000) => {
  if (node.child.exitCode !== null || node.child.signalCode !== null) return
  node.child.stdin!.end()
  const timer = setTimeout(() => killNode(node), millis)
  await node.exited
  clearTimeout(timer)
}

/** the ledger of the group processes (test/fixtures/ledger-writer.mjs), by pid */
export interface Copy {
  readonly pid: number
  readonly node: string
  readonly start: number
  /** its last line's time (a beat, or its stop) */
  readonly last: number
  readonly stopped: boolean
}

export const readLedger = (file: string): Array<Copy> => {
  const copies = new Map<number, { pid: number; node: string; start: number; last: number; stopped: boolean }>()
  for (const line of fs.readFileSync(file, "utf8").split("\n")) {
    const [kind, pid, a, b] = line.split(" ")
    if (kind === "start") {
      copies.set(Number(pid), { pid: Number(pid), node: a, start: Number(b), last: Number(b), stopped: false })
    }
    const copy = copies.get(Number(pid))
    if (copy === undefined) continue
    if (kind === "beat") copy.last = Number(a)
    if (kind === "stop") {
      copy.last = Number(a)
      copy.stopped = true
    }
  }
  return [...copies.values()].sort((x, y) => x.start - y.start)
}

/**
 * Pairs of copies whose lives overlapped (one started before the other's last line): two copies
 * at once. A copy killed with its node is counted until its last beat (at most 20 ms before).
 */
export const overlaps = (copies: ReadonlyArray<Copy>) =>
  copies.flatMap((a, i) => copies.slice(i + 1).filter((b) => b.start < a.last).map((b) => [a, b] as const))

/** the first copy of the ledger that satisfies `f` (polling), or a rejection after `millis` */
export const waitForCopy = async (ledger: string, f: (copy: Copy) => boolean, millis: number) => {
  const end = Date.now() + millis
  for (;;) {
    const found = readLedger(ledger).find(f)
    if (found !== undefined) return found
    if (Date.now() > end) throw new Error(`no such copy in the ledger within ${millis} ms`)
    await sleep(20)
  }
}

/** a group whose one entity writes the ledger, restarted when it dies */
export const ledgerGroup = (name: string, ledger: string, node = "any") => ({
  name,
  entities: [{
    name: `${name}-writer`,
    command: { command: process.execPath, args: [join(root, "test/fixtures/ledger-writer.mjs"), ledger, node] },
    conditions: [{ type: "CondDeath", actions: [{ _tag: "Restart" }] }]
  }]
})
