/**
 * The drop-in covers: an unchanged function, written against the platform's `FileSystem` and
 * `HttpClient`, survives its server's restart only because its layers were swapped.
 *
 * `report` reads item ids from a file (4 bytes each) and fetches each item from an HTTP server
 * (examples/http-server.mjs, a child process the HAM restarts when it dies). After the second
 * item its progress hook kills the server with SIGKILL; after the fourth, the ids file is
 * replaced by a rename (a longer list), as a writer that rewrites a file does.
 *
 *   1. with the platform's layers (NodeFileSystem, NodeHttpClient), the third request fails: the
 *      server is down while the HAM restarts it;
 *   2. with `Cover.layerFileSystem` and `Cover.layerHttpClient` over the same layers, the third
 *      request is sent again until the restarted server answers, and at the end of the old ids
 *      file the covered file finds it replaced, opens the new one and reads on from the same
 *      offset: all six items.
 *
 *   npm run example -- examples/drop-in.ts
 */
import { Command, FileSystem, HttpClient } from "@effect/platform"
import { NodeFileSystem, NodeHttpClient } from "@effect/platform-node"
import { Console, Effect, Layer, Option, Schedule } from "effect"
import { Cover, Entity, Ham, HamLive } from "effect-ham"
import { CondDeath } from "effect-ham/Condition"
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs"
import * as NodeNet from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

// ---------------------------------------------------------------------------------------------
// the application's code: it knows nothing of the HAM or of covers
// ---------------------------------------------------------------------------------------------

/** fetches the item of every id in the file at `path`; `progress` is told of each one */
const report = <R>(path: string, base: string, progress: (n: number, line: string) => Effect.Effect<void, never, R>) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const client = yield* HttpClient.HttpClient
    const file = yield* fs.open(path)
    const lines: Array<string> = []
    for (;;) {
      const chunk = yield* file.readAlloc(4)
      if (Option.isNone(chunk)) return lines
      const id = new TextDecoder().decode(chunk.value).trim()
      const line = yield* Effect.flatMap(client.get(`${base}/item/${id}`), (response) => response.text)
      lines.push(line)
      yield* progress(lines.length, line)
    }
  }).pipe(Effect.scoped)

// ---------------------------------------------------------------------------------------------
// the example
// ---------------------------------------------------------------------------------------------

const serverScript = fileURLToPath(new URL("./http-server.mjs", import.meta.url))

const freePort = Effect.async<number>((resume) => {
  const server = NodeNet.createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

const accepts = (port: number) =>
  Effect.async<boolean>((resume) => {
    const socket = NodeNet.connect({ host: "127.0.0.1", port })
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.succeed(true))
    })
    socket.once("error", () => resume(Effect.succeed(false)))
  })

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

const program = Effect.gen(function*() {
  const started = performance.now()
  const dir = mkdtempSync(join(tmpdir(), "ham-drop-in-"))
  yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
  const ids = join(dir, "ids.txt")
  const port = yield* freePort
  const server = yield* Ham.attach(
    Entity.process("items", Command.make(process.execPath, serverScript, String(port)), { output: "ignore" })
  )
  yield* Ham.condition(server, CondDeath).pipe(Ham.restart)
  const up = accepts(port).pipe(Effect.repeat({ schedule: Schedule.spaced("10 millis"), until: (ok) => ok }))
  yield* up
  const pidOf = Effect.map(Ham.snapshot, (tree) => tree.entities.find((e) => e.name === "items")?.pid ?? 0)

  /** the events of a run: the server killed after item 2, the ids file replaced after item 4 */
  const progress = (label: string) => (n: number, line: string) =>
    Effect.gen(function*() {
      yield* Console.log(`${label}: ${line}`)
      if (n === 2) {
        const pid = yield* pidOf
        yield* Console.log(`${label}: killing the server (pid ${pid}) with SIGKILL; the HAM restarts it`)
        process.kill(pid, "SIGKILL")
        yield* Effect.sync(() => alive(pid)).pipe(
          Effect.repeat({ schedule: Schedule.spaced("2 millis"), until: (living) => !living })
        )
      }
      if (n === 4) {
        writeFileSync(`${ids}.new`, "a01\na02\na03\na04\na05\na06\n")
        renameSync(`${ids}.new`, ids)
        yield* Console.log(`${label}: the ids file was replaced by a rename (six ids now)`)
      }
    })

  const platform = Layer.merge(NodeFileSystem.layer, NodeHttpClient.layer)
  const covered = Layer.merge(Cover.layerFileSystem(), Cover.layerHttpClient()).pipe(Layer.provide(platform))

  // 1. the platform's layers
  writeFileSync(ids, "a01\na02\na03\na04\n")
  const plain = yield* Effect.either(
    report(ids, `http://127.0.0.1:${port}`, progress("plain layers")).pipe(Effect.provide(platform))
  )
  if (plain._tag === "Left") yield* Console.log(`plain layers: the report failed: ${plain.left.message}`)
  else yield* Console.log(`plain layers: the report got ${plain.right.length} items`)
  yield* up

  // 2. the same function, the covered layers
  writeFileSync(ids, "a01\na02\na03\na04\n")
  const lines = yield* report(ids, `http://127.0.0.1:${port}`, progress("covered layers")).pipe(
    Effect.provide(covered)
  )
  const lives = new Set(lines.map((line) => line.split(" from ")[1]))
  yield* Console.log(`covered layers: ${lines.length} items from ${lives.size} server lives`)
  const after = (yield* Ham.snapshot).entities.find((e) => e.name === "items")
  yield* Console.log(`the server now: pid ${after?.pid}, restarts ${after?.stats.restarts}`)
  yield* Console.log(`(${Math.round(performance.now() - started)} ms)`)
})

Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(HamLive))).then(
  () => process.exit(0),
  (e) => {
    console.error(e)
    process.exit(1)
  }
)
