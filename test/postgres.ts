/**
 * A throwaway PostgreSQL 15 for the cluster's tests and bench: `initdb` in a temporary directory
 * as the `postgres` user (initdb refuses to run as root), started with `pg_ctl` on a loopback port
 * (its socket in that directory, fsync off), a fresh database for each test (the cluster's shard
 * locks are advisory locks, which are per database), and stopped with the directory removed.
 *
 * Plain synchronous functions (the bench uses them too) and one scoped Effect for the tests.
 */
import { Effect } from "effect"
import * as cp from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"

/** where Debian's packages put the binaries (not on PATH) */
export const binDir = "/usr/lib/postgresql/15/bin"

/** why PostgreSQL cannot run here, or undefined when it can */
export const unavailable = (): string | undefined => {
  if (!fs.existsSync(join(binDir, "initdb"))) return `no ${binDir}/initdb (apt-get install postgresql)`
  if (cp.spawnSync("id", ["-u", "postgres"]).status !== 0) return "no postgres user"
  if (process.getuid?.() !== 0) return "not root (the tests run initdb through runuser -u postgres)"
  return undefined
}

export interface Postgres {
  readonly dir: string
  readonly port: number
  /** the URL of a database of this server */
  readonly url: (database: string) => string
  /** a new empty database, its URL */
  readonly createDatabase: (name?: string) => string
  /** `pg_ctl stop -m fast` (the nodes lose it) */
  readonly stop: () => void
  /** `pg_ctl start` again, on the same port */
  readonly start: () => void
}

/** where the server runs: a command prefix (`ip netns exec NAME`) and the address it listens on */
export interface Placement {
  readonly prefix?: ReadonlyArray<string> | undefined
  readonly host?: string | undefined
}

const asPostgres = (args: ReadonlyArray<string>, timeout = 30_000, prefix: ReadonlyArray<string> = []) => {
  const all = [...prefix, "runuser", "-u", "postgres", "--", ...args]
  const r = cp.spawnSync(all[0], all.slice(1), { encoding: "utf8", timeout })
  if (r.status !== 0) {
    throw new Error(`${args.join(" ")}: exit ${r.status} ${r.stderr}${r.stdout}${r.error?.message ?? ""}`)
  }
  return r.stdout
}

/** a TCP port free on the loopback now */
export const freePortSync = (): number => {
  const r = cp.spawnSync(process.execPath, [
    "-e",
    "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
  ], { encoding: "utf8", timeout: 10_000 })
  const port = Number(r.stdout.trim())
  if (!Number.isInteger(port) || port <= 0) throw new Error(`no free port: ${r.stderr}`)
  return port
}

let databases = 0

/** initdb and start a server (about 2.5 s); stop it with `destroy` */
export const create = (placement: Placement = {}): Postgres & { readonly destroy: () => void } => {
  const host = placement.host ?? "127.0.0.1"
  const prefix = placement.prefix ?? []
  const dir = fs.mkdtempSync(join(tmpdir(), "hamc-pg-"))
  fs.chmodSync(dir, 0o755)
  cp.spawnSync("chown", ["postgres:postgres", dir])
  const data = join(dir, "data")
  const port = freePortSync()
  const options = [
    `-p ${port}`,
    `-k ${dir}`,
    `-c listen_addresses=${host}`,
    "-c fsync=off",
    "-c synchronous_commit=off",
    "-c full_page_writes=off",
    "-c max_connections=200"
  ].join(" ")
  const start = () =>
    void asPostgres(
      [join(binDir, "pg_ctl"), "-D", data, "-o", options, "-l", join(dir, "pg.log"), "-w", "start"],
      30_000,
      prefix
    )
  const stop = () => void asPostgres([join(binDir, "pg_ctl"), "-D", data, "-m", "fast", "-w", "stop"], 30_000, prefix)
  const destroy = () => {
    try {
      if (fs.existsSync(join(data, "postmaster.pid"))) {
        asPostgres([join(binDir, "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop"], 30_000, prefix)
      }
    } catch {
      // the server is gone already, or stuck: its pid from the pid file
      try {
        const pid = Number(fs.readFileSync(join(data, "postmaster.pid"), "utf8").split("\n")[0])
        if (pid > 0) process.kill(pid, "SIGKILL")
      } catch {
        // nothing left to stop
      }
    }
    fs.rmSync(dir, { recursive: true, force: true })
  }
  try {
    asPostgres([join(binDir, "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"])
    // initdb lets in the loopback only: on another address, the hosts of its subnet (the test's own)
    if (host !== "127.0.0.1") fs.appendFileSync(join(data, "pg_hba.conf"), "host all all samenet trust\n")
    start()
  } catch (error) {
    destroy()
    throw error
  }
  const url = (database: string) => `postgres://postgres@${host}:${port}/${database}`
  const createDatabase = (name = `hamc_${process.pid}_${++databases}`) => {
    const command = [...prefix, join(binDir, "createdb"), "-h", host, "-p", String(port), "-U", "postgres", name]
    const r = cp.spawnSync(command[0], command.slice(1), { encoding: "utf8", timeout: 10_000 })
    if (r.status !== 0) throw new Error(`createdb ${name}: ${r.stderr}`)
    return url(name)
  }
  return { dir, port, url, createDatabase, stop, start, destroy }
}

/** a server for the scope: started, and stopped with its directory removed when the scope closes */
export const postgres = Effect.acquireRelease(
  Effect.sync(create),
  (pg) => Effect.sync(() => pg.destroy())
)

/** true when the server's port accepts a connection */
export const accepts = (port: number) =>
  Effect.async<boolean>((resume) => {
    const socket = net.connect({ port, host: "127.0.0.1" })
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.succeed(true))
    })
    socket.once("error", () => resume(Effect.succeed(false)))
    return Effect.sync(() => socket.destroy())
  })
