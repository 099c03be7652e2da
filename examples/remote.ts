/**
 * The remote HAM: a HAM served by another process (this file, started again with `serve`) on a
 * Unix socket and on TCP (loopback, a token from an owner-only file), and a client that uses it
 * through `HamClient.layer`, with the same `Ham` calls as a local program:
 *
 *   1. over TCP, it attaches a process entity (`sleep`) with a restart on death, and streams the
 *      remote HAM's events;
 *   2. it SIGKILLs the child: the remote HAM restarts it, the client sees the death and the
 *      restart in its stream;
 *   3. a fiber entity (local code) is refused with a typed error, and so is a call without the
 *      token (`Unauthorized`): nothing changed on the HAM;
 *   4. over the Unix socket (no token: the socket is its owner's only), it prints the tree and
 *      stops the remote HAM.
 *
 *   npm run example -- examples/remote.ts
 */
import { Command } from "@effect/platform"
import { Console, Effect, Layer, Option, Stream } from "effect"
import { Entity, Ham, HamClient, HamServer, Tree } from "effect-ham"
import { CondDeath } from "effect-ham/Condition"
import * as cp from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

// ---------------------------------------------------------------------------------------------
// the served HAM (this file, started with `serve <dir>`)
// ---------------------------------------------------------------------------------------------

const serve = (dir: string) =>
  Effect.gen(function*() {
    const server = yield* HamServer.HamServer
    process.stdout.write(`${JSON.stringify({ port: Option.getOrThrow(server.tcp).port })}\n`)
    // until the client closes this process's stdin
    yield* Effect.async<void>((resume) => {
      process.stdin.on("end", () => resume(Effect.void)).resume()
    })
  }).pipe(
    Effect.provide(
      HamServer.layer({
        listen: { tcp: { port: 0 }, unix: join(dir, "sock", "ham.sock") },
        auth: { tokenFile: join(dir, "token") }
      }).pipe(Layer.provideMerge(Ham.layer()))
    )
  )

// ---------------------------------------------------------------------------------------------
// the client
// ---------------------------------------------------------------------------------------------

/** starts the served HAM and returns its TCP port; it ends with the scope */
const startServer = (dir: string) =>
  Effect.acquireRelease(
    Effect.async<{ readonly port: number; readonly child: cp.ChildProcess }, string>((resume) => {
      const child = cp.spawn(
        process.execPath,
        [...process.execArgv, fileURLToPath(import.meta.url), "serve", dir],
        { stdio: ["pipe", "pipe", "inherit"] }
      )
      child.stdout.once(
        "data",
        (line: Buffer) => resume(Effect.succeed({ port: JSON.parse(String(line)).port, child }))
      )
      child.once("exit", (code) => resume(Effect.fail(`the served HAM exited (${code})`)))
    }),
    ({ child }) =>
      Effect.async<void>((resume) => {
        if (child.exitCode !== null) return resume(Effect.void)
        child.once("exit", () => resume(Effect.void))
        child.stdin?.end()
      })
  )

const overTcp = Effect.gen(function*() {
  const events = yield* Ham.events().pipe(
    Stream.filter((e) => e.entity === "web"),
    Stream.take(4),
    Stream.runForEach((e) =>
      Console.log(`  remote event: ${e._tag} ${e.entity}${"signal" in e && e.signal ? ` (${e.signal})` : ""}`)
    ),
    Effect.fork
  )
  yield* Effect.sleep("100 millis")
  const web = yield* Ham.attach(Entity.process("web", Command.make("sleep", "30")))
  yield* Ham.condition(web, CondDeath).pipe(Ham.restart)
  const pid = (yield* Ham.snapshot).entities.find((e) => e.name === "web")!.pid!
  yield* Console.log(`over TCP: attached "web" on the remote HAM (pid ${pid}); SIGKILL it`)
  process.kill(pid, "SIGKILL")
  yield* events.await.pipe(Effect.timeout("10 seconds"))
  const again = (yield* Ham.snapshot).entities.find((e) => e.name === "web")!
  yield* Console.log(`  "web" restarted by the remote HAM: pid ${again.pid}, ${again.stats.restarts} restart(s)`)

  const fiber = yield* Effect.flip(Ham.attach(Entity.fiber("local-code", Effect.never)))
  yield* Console.log(`a fiber entity, remotely: ${fiber._tag}: ${fiber.message}`)
})

const program = Effect.gen(function*() {
  const dir = mkdtempSync(join(tmpdir(), "ham-remote-"))
  yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
  // the token file: made here (mode 0600), read by the server and by the client
  yield* HamServer.tokenFile(join(dir, "token"))
  const { port } = yield* startServer(dir)
  yield* Console.log(`a HAM served by pid ${process.pid}'s child on tcp://127.0.0.1:${port} and a Unix socket`)

  yield* overTcp.pipe(Effect.provide(HamClient.layer({ tcp: { port }, auth: { tokenFile: join(dir, "token") } })))

  const refused = yield* Effect.flip(Layer.build(HamClient.layer({ tcp: { port } })))
  yield* Console.log(`without the token: ${refused._tag} (${refused.message})`)

  yield* Effect.gen(function*() {
    const tree = yield* Ham.snapshot
    yield* Console.log(`over the Unix socket, the remote tree:\n${Tree.render(tree)}`)
    yield* Ham.stop
    yield* Console.log("remote HAM stopped")
  }).pipe(Effect.provide(HamClient.layer({ unix: join(dir, "sock", "ham.sock") })))
})

const main: Effect.Effect<void, unknown> = process.argv[2] === "serve"
  ? serve(process.argv[3])
  : Effect.scoped(program)

Effect.runPromise(main).then(
  () => process.exit(0),
  (e) => {
    console.error(e)
    process.exit(1)
  }
)
