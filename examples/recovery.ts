/**
 * The reference's client recovery example, with real processes: a file server supervised by the
 * HAM (a process entity, restarted when it dies) serves a text file over TCP with sessions (the
 * read position belongs to the connection: examples/session-file-server.mjs). The client reads
 * through `Cover.connect`:
 *
 *   1. it reads 15 bytes;
 *   2. the server is killed with SIGKILL, and the HAM restarts it;
 *   3. the client reads the next 15 bytes: its request fails on the dead connection, the cover
 *      connects again (refused while the server restarts, retried by the schedule), its recovery
 *      function replays the session (`SEEK 15`), and the read runs again, from the right offset;
 *   4. it prints the number of recoveries (1).
 *
 *   npm run example -- examples/recovery.ts
 */
import { Command } from "@effect/platform"
import { Console, Effect, Schedule } from "effect"
import { Cover, Entity, Ham, HamLive } from "effect-ham"
import { CondDeath } from "effect-ham/Condition"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import * as NodeNet from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const serverScript = fileURLToPath(new URL("./session-file-server.mjs", import.meta.url))
const text = "The quick brown fox jumps over the lazy dog."

/** a TCP port nobody listens on: listened on with port 0, then closed */
const freePort = Effect.async<number>((resume) => {
  const server = NodeNet.createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** true once the port accepts a connection */
const accepts = (port: number) =>
  Effect.async<boolean>((resume) => {
    const socket = NodeNet.connect({ host: "127.0.0.1", port })
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.succeed(true))
    })
    socket.once("error", () => resume(Effect.succeed(false)))
  })

const program = Effect.gen(function*() {
  const dir = mkdtempSync(join(tmpdir(), "ham-recovery-"))
  yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
  const file = join(dir, "data.txt")
  writeFileSync(file, text)
  const port = yield* freePort

  // the server, supervised by the HAM
  const server = yield* Ham.attach(
    Entity.process("file-server", Command.make(process.execPath, serverScript, String(port), file), {
      output: "ignore"
    })
  )
  yield* Ham.condition(server, CondDeath).pipe(Ham.restart)
  yield* accepts(port).pipe(Effect.repeat({ schedule: Schedule.spaced("10 millis"), until: (up) => up }))

  // the client: its session state is the offset; the recovery function replays it
  let offset = 0
  const files = yield* Cover.connect(
    { port },
    (connection) =>
      Effect.tap(
        connection.request(`SEEK ${offset}`),
        (reply) => Console.log(`recovery: connected again, replayed the offset (${reply})`)
      )
  )
  const read = (n: number) =>
    Effect.map(files.request(`READ ${n}`), (reply) => {
      const data = reply.slice("DATA ".length)
      offset += data.length
      return data
    })

  yield* Console.log(`first 15 bytes: "${yield* read(15)}"`)
  const pid = (yield* Ham.snapshot).entities.find((e) => e.name === "file-server")?.pid
  yield* Console.log(`killing the file server (pid ${pid}) with SIGKILL; the HAM restarts it`)
  process.kill(pid!, "SIGKILL")
  yield* Console.log(`next 15 bytes: "${yield* read(15)}"`)
  const after = (yield* Ham.snapshot).entities.find((e) => e.name === "file-server")
  yield* Console.log(`the file server now: pid ${after?.pid}, restarts ${after?.stats.restarts}`)
  yield* Console.log(`recoveries: ${(yield* files.stats).recoveries}`)
})

Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(HamLive))).then(
  () => process.exit(0),
  (e) => {
    console.error(e)
    process.exit(1)
  }
)
