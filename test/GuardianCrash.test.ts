/**
 * The Guardian's store under SIGKILL: a host process makes changes as fast as it can and is
 * killed at a random point, 50 times; each time the store must reopen and hold every change the
 * host had acknowledged.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Guardian, Ham } from "effect-ham"
import * as ChildProcess from "node:child_process"
import { join } from "node:path"
import { inTempDir, isLive } from "./processes.js"
import { entityNode } from "./utils.js"

const root = join(import.meta.dirname, "..")
const rounds = Number(process.env.HAM_CRASH_ROUNDS ?? 50)

interface Killed {
  readonly pid: number
  readonly acknowledged: number
}

/**
 * Starts the writer on `path` and kills it with SIGKILL `delay` ms after its first
 * acknowledgement, wherever it is. The acknowledged changes are every line it wrote before it
 * died (read to the end of its stdout after the kill).
 */
const killWriterAfter = (path: string, delay: number) =>
  Effect.async<Killed, string>((resume) => {
    const child = ChildProcess.spawn(
      process.execPath,
      ["--conditions=source", "--import", "tsx", "test/fixtures/store-writer.ts", path],
      { cwd: root, stdio: ["ignore", "pipe", "pipe"] }
    )
    let acknowledged = 0
    let pending = ""
    let stderr = ""
    let timer: ReturnType<typeof setTimeout> | undefined
    let exited: string | undefined
    let closed = false
    const finish = () => {
      if (exited === undefined || !closed) return
      if (exited === "SIGKILL") resume(Effect.succeed({ pid: child.pid!, acknowledged }))
      else resume(Effect.fail(`the writer ended on its own (${exited}): ${stderr}`))
    }
    child.stdout.on("data", (chunk: Buffer) => {
      pending += chunk.toString("utf8")
      const lines = pending.split("\n")
      pending = lines.pop()!
      if (lines.length > 0) acknowledged = Number(lines[lines.length - 1])
      if (timer === undefined && acknowledged > 0) timer = setTimeout(() => child.kill("SIGKILL"), delay)
    })
    child.stdout.on("close", () => {
      closed = true
      finish()
    })
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8")
    })
    child.on("exit", (code, signal) => {
      exited = signal ?? `code ${code}`
      finish()
    })
    return Effect.sync(() => {
      clearTimeout(timer)
      child.kill("SIGKILL")
    })
  })

/** the store reopened: the counter's state, and the conditions of the other entities */
const reopen = (path: string) =>
  Effect.gen(function*() {
    const node = yield* entityNode("counter")
    const tree = yield* Ham.snapshot
    const conditions = tree.entities.flatMap((e) => e.conditions.map((c) => `${e.name}/${c.name}`))
    return { state: node.state, conditions: new Set(conditions) }
  }).pipe(Effect.scoped, Effect.provide(Ham.layer()), Effect.provide(Guardian.layer({ path })))

describe("Guardian: the store survives SIGKILL of its host", () => {
  it.live(
    `${rounds} hosts killed at random points: the store always reopens with every acknowledged change`,
    () =>
      Effect.forEach(
        Array.from({ length: rounds }, (_, i) => i),
        (i) =>
          inTempDir("ham-crash-", (dir) =>
            Effect.gen(function*() {
              const path = join(dir, "state.ham")
              // from its first changes to a few thousand of them
              const killed = yield* killWriterAfter(path, Math.floor(Math.random() * 300))
              expect(isLive(killed.pid)).toBe(false)
              const acknowledged = killed.acknowledged
              expect(acknowledged, `round ${i}`).toBeGreaterThan(0)
              const { conditions, state } = yield* reopen(path)
              // the last state acknowledged (every 5th change is a condition, not a state)
              const lastState = acknowledged % 5 === 0 ? acknowledged - 1 : acknowledged
              expect(state, `round ${i}: acknowledged ${acknowledged}`).toBeGreaterThanOrEqual(lastState)
              for (let n = 5; n <= acknowledged; n += 5) {
                expect(conditions.has(`e${n}/c${n}`), `round ${i}: e${n}/c${n}`).toBe(true)
              }
            })),
        { concurrency: 2, discard: true }
      ),
    240_000
  )
})
