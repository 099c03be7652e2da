/**
 * Multistage recovery of a real process, after the reference's example: a file server
 * (examples/file-server.mjs, a child process the HAM starts) dies; its death condition then
 *
 *   1. restarts it (if the restart fails, its alternate runs a fallback command instead, and the
 *      rest of the list is skipped: `breakOnFail`); the server had been up for less than 10
 *      seconds, so the restart first waits for the default back-off (100 ms);
 *   2. waits until its port accepts connections again (at most 5 seconds);
 *   3. runs a "remount" command, which appends a marker line to a log file.
 *
 * The example reads from the server, kills it with SIGKILL, waits until the last step of the list
 * has run, reads the remount marker and again from the server (the new process), and prints every
 * step with the milliseconds since the kill.
 *
 *   npm run example -- examples/file-server-recovery.ts
 */
import { Command } from "@effect/platform"
import { Console, Deferred, Effect, Schedule } from "effect"
import { Action, Entity, Ham, HamLive, Tree } from "effect-ham"
import { CondDeath, type ConditionEvent } from "effect-ham/Condition"
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import * as NodeNet from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const serverScript = fileURLToPath(new URL("./file-server.mjs", import.meta.url))

/** a TCP port nobody listens on: listened on with port 0, then closed */
const freePort = Effect.async<number>((resume) => {
  const server = NodeNet.createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** asks the file server for `length` bytes from `offset` */
const fetchRange = (port: number, offset: number, length: number) =>
  Effect.async<string, Error>((resume) => {
    const chunks: Array<Buffer> = []
    const socket = NodeNet.connect({ host: "127.0.0.1", port }, () => socket.write(`${offset} ${length}\n`))
    socket.on("data", (chunk) => chunks.push(chunk))
    socket.on("end", () => resume(Effect.succeed(Buffer.concat(chunks).toString("utf8"))))
    socket.on("error", (error) => resume(Effect.fail(error)))
    return Effect.sync(() => socket.destroy())
  })

/** a Node one-liner that appends a line (with the time) to a log file */
const appendLine = (log: string, text: string) =>
  Command.make(
    process.execPath,
    "-e",
    `require("node:fs").appendFileSync(process.argv[1], process.argv[2] + " at " + Date.now() + "\\n")`,
    log,
    text
  )

const program = Effect.gen(function*() {
  const dir = mkdtempSync(join(tmpdir(), "ham-file-server-"))
  yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
  const data = join(dir, "data.txt")
  writeFileSync(data, "0123456789abcdefghijklmnopqrstuvwxyz")
  const log = join(dir, "remount.log")
  const port = yield* freePort

  let zero = Date.now()
  // the time is read when the step runs, not when the action is made
  const say = (text: string) =>
    Effect.suspend(() => Console.log(`[+${String(Date.now() - zero).padStart(4)} ms] ${text}`))
  const ham = yield* Ham.Ham
  const serverPid = Effect.map(ham.snapshot, (tree) => tree.entities.find((e) => e.name === "file-server")?.pid)
  // done by the list's last step: the whole list ran
  const recovered = yield* Deferred.make<void>()

  // the recovery, on a placeholder: in place before the server exists
  const server = yield* Ham.entity("file-server")
  yield* Ham.condition(server, CondDeath, { name: "recover" }).pipe(
    Ham.action(Action.effect(
      (event: ConditionEvent) =>
        say(
          `step 0: the file server died (pid ${event._tag === "CondDeath" ? event.pid : "?"}, ${
            event._tag === "CondDeath" ? event.reason : event._tag
          })`
        ),
      { label: "report" }
    )),
    Ham.action(
      Action.restart.pipe(
        Action.orElse(Action.execute(appendLine(log, "fallback: serving from the replica"), { timeout: "5 seconds" })),
        Action.withOptions({ name: "restart", breakOnFail: true })
      )
    ),
    Ham.action(Action.effect(
      Effect.flatMap(serverPid, (pid) => say(`step 1: restarted, new pid ${pid}`)),
      { label: "restarted" }
    )),
    Ham.waitfor({ port, timeout: "5 seconds" }),
    Ham.action(Action.effect(say(`step 2: port ${port} accepts connections`), { label: "port-up" })),
    Ham.execute(appendLine(log, "remounted /export/data"), { timeout: "5 seconds" }),
    Ham.action(Action.effect(
      Effect.zipRight(say("step 3: remount command ran"), Deferred.succeed(recovered, undefined)),
      { label: "remounted" }
    ))
  )

  yield* Ham.attach(
    Entity.process("file-server", Command.make(process.execPath, serverScript, String(port), data), {
      stopGrace: "1 second"
    })
  )
  // the first life: read from it once it listens (retried until then)
  const first = yield* fetchRange(port, 10, 10).pipe(
    Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo("5 seconds")))
  )
  const pid = yield* serverPid
  yield* Console.log(`client: bytes 10..19 from pid ${pid}: "${first}"`)

  zero = Date.now()
  yield* say(`killing the file server (pid ${pid}) with SIGKILL`)
  process.kill(pid!, "SIGKILL")

  // the list's last step runs after the remount command has written its marker
  yield* Deferred.await(recovered).pipe(
    Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => "the recovery did not end within 10 seconds" }),
    Effect.orDie
  )
  if (!(existsSync(log) && readFileSync(log, "utf8").includes("remounted"))) {
    return yield* Effect.dieMessage("no remount marker after the recovery")
  }
  yield* say(`remount marker: ${readFileSync(log, "utf8").trim()}`)
  const newPid = yield* serverPid
  yield* Console.log(`client: bytes 10..19 from pid ${newPid}: "${yield* fetchRange(port, 10, 10)}"`)
  yield* Effect.sleep("20 millis") // let the dispatcher publish CondRestart and count it
  yield* Console.log("\n" + Tree.render(yield* Ham.snapshot))
})

Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(HamLive)))
