/**
 * Graceful reload: a process entity's process replaced with no downtime. The new process starts
 * beside the old one; once it says READY=1 on its notify socket, it is the entity's process and
 * the old one gets its stop signal. Neither a death nor a restart: no condition fires and the
 * statistics stay. A new process that is not ready in time is ended and the old one runs on.
 *
 * (A server on a shared port listens with SO_REUSEPORT, e.g. Node 22.12+'s
 * `listen({ port, reusePort: true })`, so both answer during the overlap; see docs/guide.md.)
 *
 *   npm run example -- examples/graceful-reload.ts
 */
import { Command } from "@effect/platform"
import { Console, Effect, Queue } from "effect"
import { Entity, Ham, HamLive } from "effect-ham"

/** a service that starts up for 300 ms, then says READY=1 (unless it is told to hang) and runs */
const service = [
  "const version = process.env.VERSION ?? 'v1'",
  "console.log(`service ${version} starting, pid ${process.pid}`)",
  "setTimeout(() => {",
  "  if (process.env.HANG === '1') return",
  "  const notify = require('node:net').connect(process.env.HAM_NOTIFY_SOCKET, () => notify.end('READY=1\\n'))",
  "  console.log(`service ${version} ready`)",
  "}, 300)",
  "process.on('SIGTERM', () => { console.log(`service ${version} stopping`); process.exit(0) })",
  "setInterval(() => {}, 1 << 30)"
].join("\n")

const program = Effect.gen(function*() {
  yield* Ham.attach(Entity.process("web", Command.make(process.execPath, "-e", service)))
  const events = yield* Ham.subscribe
  yield* Effect.sleep("500 millis")
  const first = (yield* Ham.snapshot).entities[0]

  yield* Console.log("reloading web with VERSION=v2 ...")
  yield* Ham.reloadEntity("web", { env: { VERSION: "v2" } })
  const second = (yield* Ham.snapshot).entities[0]
  yield* Console.log(
    `reloaded: pid ${first.pid} -> ${second.pid}, restarts ${second.stats.restarts}, deaths ${second.stats.deaths}`
  )

  yield* Console.log("reloading web with a version that never gets ready ...")
  const failed = yield* Effect.flip(
    Ham.reloadEntity("web", { env: { VERSION: "v3", HANG: "1" }, readyTimeout: "1 second" })
  )
  const third = (yield* Ham.snapshot).entities[0]
  yield* Console.log(`${failed._tag}: ${failed.message}`)
  yield* Console.log(`still pid ${third.pid} (the same as after the first reload: ${third.pid === second.pid})`)
  const seen = yield* Queue.takeAll(events)
  yield* Console.log(`conditions fired for web: ${seen.length}`)
})

Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(HamLive)))
