/**
 * An application run with `NodeRuntime.runMain` (`examples/run-main.ts` with `wait`: two process
 * entities in an application layer built on `HamLive`), stopped from outside with SIGTERM or
 * SIGINT, as a service manager or a terminal stops it: each child gets its own stop signal, the
 * last attached first, the one that ignores it is killed only after its grace, the application
 * exits 0, and no child, spawner or process of the run is left.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { isLive, liveProcesses, tempDir } from "./processes.js"

const root = fileURLToPath(new URL("..", import.meta.url))

interface Run {
  readonly pids: { readonly api: number; readonly indexer: number; readonly spawner: number }
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly output: string
  /** when the application's process ended (this process's clock, ms since the epoch) */
  readonly exitedAt: number
}

/** starts the application, sends it `signal` once it says READY, and awaits its end (bounded) */
const runAndStop = (dir: string, signal: NodeJS.Signals) =>
  Effect.async<Run, Error>((resume) => {
    const app = spawn(
      process.execPath,
      ["--conditions=source", "--import", "tsx", "examples/run-main.ts", "wait", dir],
      { cwd: root, stdio: ["ignore", "pipe", "pipe"] }
    )
    let output = ""
    let pids: Run["pids"] | undefined
    const limit = setTimeout(() => app.kill("SIGKILL"), 30_000)
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      const ready = /READY (\{.*\})/.exec(output)
      if (pids === undefined && ready !== null) {
        pids = JSON.parse(ready[1])
        app.kill(signal)
      }
    }
    app.stdout.on("data", onData)
    app.stderr.on("data", onData)
    app.on("close", (code, sig) => {
      clearTimeout(limit)
      if (pids === undefined) resume(Effect.fail(new Error(`no READY line (exit ${code}, ${sig}):\n${output}`)))
      else resume(Effect.succeed({ pids, code, signal: sig, output, exitedAt: Date.now() }))
    })
    return Effect.sync(() => app.kill("SIGKILL"))
  })

/** the stop signal a child wrote down, and when */
const received = (dir: string, name: string): { readonly signal: string; readonly at: number } => {
  const file = `${dir}/${name}`
  expect(existsSync(file), `${name} wrote down no signal`).toBe(true)
  const lines = readFileSync(file, "utf8").trim().split("\n")
  expect(lines, `${name} got its stop signal once`).toHaveLength(1)
  const [signal, at] = lines[0].split(" ")
  return { signal, at: Number(at) }
}

// the two runs at once: each boots Node and tsx, which is most of its time
describe.concurrent("an application run with NodeRuntime.runMain", () => {
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    it.scopedLive(
      `${signal}: each child gets its stop signal and grace, the app exits 0, nothing is left`,
      () =>
        Effect.gen(function*() {
          const dir = yield* tempDir("ham-run-main-")
          const run = yield* runAndStop(dir, signal)
          const context = `exit ${run.code}, signal ${run.signal}:\n${run.output}`
          expect(run.signal, context).toBeNull()
          expect(run.code, context).toBe(0)

          // the last attached first: the indexer with its own stop signal, killed after its 300 ms grace
          const indexer = received(dir, "indexer")
          const api = received(dir, "api")
          expect(indexer.signal).toBe("SIGINT")
          expect(api.signal).toBe("SIGTERM")
          // (each child writes down when it handled its signal: the indexer, loaded, may take up to
          // some tens of ms longer than the api to do so; without the grace the gap is a few ms)
          expect(api.at - indexer.at, context).toBeGreaterThanOrEqual(250)
          // the api exits 100 ms after its signal (well inside its grace), then the app
          expect(run.exitedAt - api.at, context).toBeGreaterThanOrEqual(100)
          expect(run.output).toContain("indexer received: SIGINT")
          expect(run.output).toContain("api received: SIGTERM")

          // nothing left: the children, the spawner, any process of this run
          for (const pid of [run.pids.api, run.pids.indexer, run.pids.spawner]) expect(isLive(pid), context).toBe(false)
          expect(liveProcesses(dir)).toEqual([])
        }),
      40_000
    )
  }
})
