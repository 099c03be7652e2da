/**
 * Running an application: `NodeRuntime.runMain`, with the HAM provided to the application's own
 * layers.
 *
 * - `Workers` is an application service built on the HAM: its layer attaches two child processes
 *   (`api`, stopped with SIGTERM; `indexer`, stopped with SIGINT and killed after a 300 ms grace
 *   because it ignores it) and waits until each says it is up (`STATE=1`).
 * - `AppLive = WorkersLive.pipe(Layer.provideMerge(HamLive))`: the HAM is built once, below the
 *   services that use it, and stopped after them.
 * - `NodeRuntime.runMain` runs the program: on SIGTERM or SIGINT it interrupts the program, the
 *   layers close, and the HAM stops every child with its stop signal and its grace (the last
 *   attached first). Nothing is left running. (`Effect.runPromise` would not: a SIGTERM would end
 *   the process at once, its children with no stop signal.)
 *
 * Run by itself, the example sends itself a SIGTERM once the children are up, then prints what
 * each child received. With `wait` it waits for a signal from outside (`test/RunMain.test.ts`).
 *
 *   npm run example -- examples/run-main.ts
 */
import { Command } from "@effect/platform"
import { NodeRuntime } from "@effect/platform-node"
import { Console, Context, Effect, Layer, Queue } from "effect"
import { Entity, Ham, HamLive } from "effect-ham"
import { CondDeath } from "effect-ham/Condition"
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const [mode = "self", given] = process.argv.slice(2)
const dir = given ?? mkdtempSync(join(tmpdir(), "ham-run-main-"))

/**
 * A child that publishes state 1 once its handler is in place, and writes down the stop signal
 * it gets (with the time); it exits 100 ms later, or never when `exits` is false.
 */
const child = (name: string, signal: string, exits: boolean) =>
  Command.make(
    process.execPath,
    "-e",
    `const [file, signal, exits] = process.argv.slice(1)
process.on(signal, () => {
  require("node:fs").appendFileSync(file, signal + " " + Date.now() + "\\n")
  if (exits === "true") setTimeout(() => process.exit(0), 100)
})
process.send({ ham: "STATE=1" })
setInterval(() => {}, 1 << 30)`,
    join(dir, name),
    signal,
    String(exits)
  )

/** an application service that depends on the HAM */
class Workers extends Context.Tag("app/Workers")<Workers, {
  readonly pids: Effect.Effect<Record<string, number | undefined>>
}>() {}

const WorkersLive = Layer.scoped(
  Workers,
  Effect.gen(function*() {
    const events = yield* Ham.subscribe
    const api = yield* Ham.attach(Entity.process("api", child("api", "SIGTERM", true), { nodeIpc: true }))
    yield* Ham.condition(api, CondDeath).pipe(Ham.restart)
    yield* Ham.attach(
      Entity.process("indexer", child("indexer", "SIGINT", false), {
        nodeIpc: true,
        stopSignal: "SIGINT",
        stopGrace: "300 millis"
      })
    )
    // both up: each published its state 1 (its signal handler is in place)
    const up = new Set<string>()
    while (up.size < 2) {
      const event = yield* Queue.take(events)
      if (event._tag === "CondState" && event.to === 1) up.add(event.entity)
    }
    const ham = yield* Ham.Ham
    return {
      pids: Effect.map(ham.snapshot, (tree) => Object.fromEntries(tree.entities.map((e) => [e.name, e.pid])))
    }
  })
)

/** what each child wrote down, once the HAM has stopped (this layer is built first, closed last) */
const Report = Layer.scopedDiscard(Effect.addFinalizer(() =>
  Effect.gen(function*() {
    for (const name of ["indexer", "api"]) {
      const file = join(dir, name)
      const line = existsSync(file) ? readFileSync(file, "utf8").trim() : "nothing"
      yield* Console.log(`${name} received: ${line.split(" ")[0]}`)
    }
    if (given === undefined) rmSync(dir, { recursive: true, force: true })
  })
))

// the HAM below the services that use it, and kept in the program's context (`provideMerge`)
const AppLive = WorkersLive.pipe(Layer.provideMerge(HamLive), Layer.provide(Report))

const main = Effect.gen(function*() {
  const workers = yield* Workers
  const tree = yield* Ham.snapshot
  yield* Console.log(`READY ${JSON.stringify({ ...(yield* workers.pids), spawner: tree.spawnerPid })}`)
  if (mode === "self") {
    yield* Console.log("sending SIGTERM to this process: runMain interrupts the program, the HAM stops its children")
    process.kill(process.pid, "SIGTERM")
  }
  return yield* Effect.never
})

NodeRuntime.runMain(main.pipe(Effect.provide(AppLive)))
