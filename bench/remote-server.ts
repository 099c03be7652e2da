/**
 * The served HAM of the remote benchmark, in a process of its own: `HamServer.layer` on TCP and a
 * Unix socket (options as JSON in the first argument) over a HAM holding `entities` placeholder
 * entities, each with a death condition and two actions (the same tree the local baseline has),
 * and subscribers' buffers as large as a burst (so that a burst measures the transport, not drops).
 * It prints one JSON line once it listens; each line `burst <n>` on its stdin raises n events on
 * the entity "bench" as fast as it can, then prints `burst done`. It ends when its stdin closes.
 */
import { Effect, Layer, Option, Stream } from "effect"
import { Ham } from "effect-ham"
import * as HamServer from "effect-ham/HamServer"
import * as readline from "node:readline"
import { populate } from "./remote-tree.js"

const { entities, eventBuffer, ...options } = JSON.parse(process.argv[2] ?? "{}") as HamServer.ServerOptions & {
  readonly entities: number
  readonly eventBuffer: number
}

const line = (value: unknown) => Effect.sync(() => process.stdout.write(`${JSON.stringify(value)}\n`))

const burst = (n: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < n; i++) yield* Ham.raise("bench", { type: 1, class: 1, severity: 1, detail: "e" })
    yield* line("burst done")
  })

const program = Effect.gen(function*() {
  yield* populate(entities)
  yield* Ham.entity("bench")
  const server = yield* HamServer.HamServer
  yield* line({ tcp: Option.getOrNull(server.tcp), unix: Option.getOrNull(server.unix) })
  yield* Stream.fromAsyncIterable(readline.createInterface({ input: process.stdin }), (e) => e).pipe(
    Stream.orDie,
    Stream.runForEach((command) => {
      const [word, n] = command.trim().split(" ")
      return word === "burst" ? burst(Number(n)) : Effect.void
    })
  )
})

Effect.runPromise(
  program.pipe(Effect.provide(HamServer.layer(options).pipe(Layer.provideMerge(Ham.layer({ eventBuffer })))))
).then(
  () => process.exit(0),
  (e) => {
    console.error(e)
    process.exit(1)
  }
)
