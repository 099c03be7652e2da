/**
 * Helpers of the tests that run a host under its guardian process (test/fixtures/guardian-host.ts):
 * start one, read the store's lease as another process would, list what is left.
 */
import { Effect, Exit } from "effect"
import { open } from "lmdb"
import * as ChildProcess from "node:child_process"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { liveProcesses, liveWithCmdline, waitUntil } from "./processes.js"

const root = join(import.meta.dirname, "..")

export interface HostInfo {
  readonly host: number
  readonly svc: number
  readonly guardian: number
}

/** starts the host fixture; resolves with the line it prints once it is up (its guardian may be starting still) */
export const startHostNow = (path: string, marker: string, mode?: string) =>
  Effect.async<HostInfo, string>((resume) => {
    const child = ChildProcess.spawn(
      process.execPath,
      [
        "--conditions=source",
        "--import",
        "tsx",
        "test/fixtures/guardian-host.ts",
        path,
        marker,
        ...(mode ? [mode] : [])
      ],
      { cwd: root, stdio: ["ignore", "pipe", "inherit"] }
    )
    let out = ""
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString("utf8")
      if (out.includes("\n")) resume(Effect.succeed(JSON.parse(out.split("\n")[0]) as HostInfo))
    })
    child.on("exit", (code) => resume(Effect.fail(`the host exited (${code}) before it was up`)))
  }).pipe(Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => "the host did not come up" }), Effect.orDie)

/**
 * starts the host fixture; resolves once it is up and so is its guardian (the host does not wait
 * for it: the tests strike once it is warmed up)
 */
export const startHost = (path: string, marker: string, mode?: string) =>
  startHostNow(path, marker, mode).pipe(
    Effect.tap((info) => waitUntil("the host's guardian up", () => guardianUp(path, info.guardian), 30_000))
  )

/** the guardians' log of the store at `path` (what each said: up, took over, found the store moved on) */
export const guardianLog = (path: string): string => {
  try {
    return readFileSync(`${path}.d/guardian.log`, "utf8")
  } catch {
    return "(no guardian log)"
  }
}

/** the guardian process `pid` of the store at `path` said it is up (in the guardians' log) */
export const guardianUp = (path: string, pid: number): boolean => guardianLog(path).includes(`guardian ${pid}: up:`)

/**
 * the store's lease, read as another process would: read-only, so that the test's reads take no
 * write transaction on the store it watches (a read-write open commits one to open the database,
 * and competed with the HAMs for the store's write lock during a takeover)
 */
export const leaseOf = (path: string): { readonly pid: number; readonly role: string } | undefined => {
  const db = open({ path, noSubdir: true, readOnly: true })
  try {
    return db.get("lease") as { readonly pid: number; readonly role: string } | undefined
  } finally {
    void db.close()
  }
}

/** every process of this test: hosts, guardians and sleepers of its store and marker */
export const leftovers = (path: string, marker: string) => [
  ...liveProcesses(path),
  ...liveWithCmdline(`sleep 3600.${marker}`)
]

/** a failed test prints the guardians' log and the lease: what a timeout alone does not say */
export const explained = (path: string) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.onExit(self, (exit) =>
    Exit.isSuccess(exit) ? Effect.void : Effect.sync(() => {
      let lease: unknown
      try {
        lease = leaseOf(path)
      } catch (e) {
        lease = String(e)
      }
      console.error(`the guardians' log of ${path}:\n${guardianLog(path)}\nthe lease: ${JSON.stringify(lease)}`)
    }))

export const sigkill = (pid: number) => process.kill(pid, "SIGKILL")

export const wait = (what: string, check: () => boolean, millis = 15_000) => waitUntil(what, check, millis)
