/**
 * The `ham` CLI run as a user runs it, for the daemon's tests: one command to its end, or a
 * long-running one (the daemon, `events -f`) killed with the scope if still running.
 */
import { expect, inject } from "@effect/vitest"
import { Effect } from "effect"
import * as cp from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { tempDir, waitUntilEffect } from "./processes.js"

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)))
const bin = path.join(root, "src", "internal", "cli", "bin.ts")
/**
 * `ham start` and `ham web` from the sources through tsx (the daemon starts its guardian and helper
 * scripts from beside its modules, as the package's bin does from the unbundled build; the web
 * server is not in the bundle), the other commands from the CLI bundled from the sources once per
 * run (test/globalSetup.ts)
 */
const argsOf = (args: ReadonlyArray<string>): ReadonlyArray<string> =>
  ["start", "web"].includes(args.find((arg) => !arg.startsWith("-")) ?? "")
    ? ["--conditions=source", "--import", "tsx", bin, ...args]
    : [inject("hamBundle"), ...args]

/** runs one CLI command to its end (at most 30 s) */
export const ham = (...args: ReadonlyArray<string>) => hamIn([], ...args)

/**
 * runs one CLI command to its end (at most 30 s), behind a command prefix (`ip netns exec NAME`);
 * an empty prefix runs it as `ham` does
 */
export const hamIn = (prefix: ReadonlyArray<string>, ...args: ReadonlyArray<string>) => {
  const [command, ...rest] = [...prefix, process.execPath, ...argsOf(args)]
  const r = cp.spawnSync(command, rest, { cwd: root, encoding: "utf8", timeout: 30_000 })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** a long-running CLI command (the daemon, `events -f`), killed with the scope if still running */
export const spawned = (...args: ReadonlyArray<string>) => spawnedIn([], ...args)

/** a long-running CLI command behind a command prefix (`ip netns exec NAME`), killed with the scope */
export const spawnedIn = (prefix: ReadonlyArray<string>, ...args: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const [command, ...rest] = [...prefix, process.execPath, ...argsOf(args)]
      const child = cp.spawn(command, rest, { cwd: root, stdio: ["ignore", "pipe", "pipe"] })
      const out = { stdout: "", stderr: "", exit: undefined as number | null | undefined }
      child.stdout.on("data", (d) => (out.stdout += d))
      child.stderr.on("data", (d) => (out.stderr += d))
      child.on("exit", (code) => (out.exit = code))
      return { child, out }
    }),
    ({ child, out }) =>
      Effect.sync(() => {
        if (out.exit === undefined) child.kill("SIGKILL")
      })
  )

export interface LsEntity {
  readonly name: string
  readonly pid?: number
  readonly status: string
  readonly stats: { readonly restarts: number; readonly deaths: number }
}
/** the entities of `ham ls --json` */
export const lsJson = (socket: string): ReadonlyArray<LsEntity> => {
  const r = ham("ls", "--json", "--socket", socket)
  expect(r.code, r.stderr).toBe(0)
  return JSON.parse(r.stdout).entities
}

/** a `sleep` the daemon restarts when it dies (a config file's entity) */
export const restartingSleep = (name: string) => ({
  name,
  command: { command: "sleep", args: ["300"] },
  conditions: [{ type: "CondDeath", actions: [{ _tag: "Restart" }] }]
})

/**
 * A daemon (`ham start`, no store) of `entities` (config file entities), its socket in a private
 * directory named after `prefix`; running once it says so (at most 30 s); stopped with the scope.
 */
export const runningDaemon = (prefix: string, entities: ReadonlyArray<unknown>) =>
  Effect.gen(function*() {
    const dir = yield* tempDir(prefix)
    const file = path.join(dir, "ham.json")
    fs.writeFileSync(file, JSON.stringify({ socket: "./ham.sock", state: false, entities }))
    const daemon = yield* spawned("start", "--config", file)
    yield* waitUntilEffect(
      "the daemon to run",
      Effect.sync(() => daemon.out.stdout.includes(`running ${entities.length} entities`)),
      30_000
    )
    return { dir, socket: path.join(dir, "ham.sock"), daemon }
  })
