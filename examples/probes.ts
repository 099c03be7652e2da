/**
 * Probes and resource limits, with real processes:
 *
 * - `web`, an HTTP server the HAM starts, is probed with an HTTP GET every 200 ms. It takes a
 *   second to start (the start-up grace of 3 seconds covers that: its failures are not counted);
 *   then it is asked to hang (it keeps its port but stops answering). Three probes in a row fail
 *   (`CondBeatMissedHigh`), a SIGKILL ends it, and its death restarts it.
 * - `cache` grows its memory by 8 MiB every 20 ms in its first life. Its limit is 100 MiB for 2
 *   samples in a row, sampled every 100 ms: the HAM raises `CondRaise` of class
 *   `RaiseClassMemoryLimit`, a SIGTERM ends it, and its death restarts it (the next life stays small).
 * - A probe that runs a command (`exec`) and one that connects to a port (`tcp`) on a fiber entity.
 *
 * The tree then shows each probe's counts and the CPU and RSS of each process.
 *
 *   npm run example examples/probes.ts
 */
import { Command } from "@effect/platform"
import { Console, Effect, Stream } from "effect"
import { Action, Entity, Ham, HamLive, Tree } from "effect-ham"
import {
  CondBeatMissedHigh,
  CondDeath,
  type ConditionEvent,
  RaiseClassMemoryLimit,
  RaiseTypeHam
} from "effect-ham/Condition"
import { mkdtempSync, rmSync } from "node:fs"
import * as Http from "node:http"
import * as NodeNet from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"

/** a TCP port nobody listens on: listened on with port 0, then closed */
const freePort = Effect.async<number>((resume) => {
  const server = NodeNet.createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** an HTTP server that starts listening after a second; GET /hang makes it stop answering */
const webScript = `let hung = false; const server = require("node:http").createServer((req, res) => { ` +
  `if (req.url === "/hang") { hung = true; res.end("hanging") } else if (!hung) res.end("ok") }); ` +
  `setTimeout(() => server.listen(Number(process.argv[1]), "127.0.0.1"), 1000)`

/** grows by 8 MiB every 20 ms unless its marker file exists (then it makes it, and stays small) */
const cacheScript = `const fs = require("node:fs"); const keep = []; if (!fs.existsSync(process.argv[1])) { ` +
  `fs.writeFileSync(process.argv[1], ""); setInterval(() => keep.push(Buffer.alloc(8 << 20, 1)), 20) } ` +
  `else setInterval(() => {}, 1000)`

const get = (url: string) =>
  Effect.async<void>((resume) => {
    Http.get(url, (res) => {
      res.resume()
      res.on("end", () => resume(Effect.void))
    }).on("error", () => resume(Effect.void))
  })

const describe = (event: ConditionEvent): string => {
  switch (event._tag) {
    case "CondBeatMissedLow":
    case "CondBeatMissedHigh":
      return `${event._tag} after ${event.missed} failed probes`
    case "CondRaise":
      return `CondRaise class ${event.class}: ${event.detail}`
    case "CondDeath":
      return `CondDeath (${event.reason})`
    case "CondRestart":
      return `CondRestart (restart ${event.restarts})`
    default:
      return event._tag
  }
}

const program = Effect.gen(function*() {
  const dir = mkdtempSync(join(tmpdir(), "ham-probes-"))
  yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
  const port = yield* freePort
  const start = Date.now()
  yield* Ham.events().pipe(
    Stream.filter((e) => e._tag !== "CondAttach"),
    Stream.runForEach((e) =>
      Console.log(`[+${String(Date.now() - start).padStart(5)} ms] ${e.entity}: ${describe(e)}`)
    ),
    Effect.forkScoped
  )

  const web = yield* Ham.attach(
    Entity.process("web", Command.make(process.execPath, "-e", webScript, String(port)), { output: "ignore" }),
    {
      probe: {
        http: `http://127.0.0.1:${port}/health`,
        interval: "200 millis",
        timeout: "100 millis",
        missedLow: 0,
        missedHigh: 3,
        startupGrace: "3 seconds"
      },
      backoff: false
    }
  )
  yield* Ham.condition(web, CondBeatMissedHigh).pipe(Ham.action(Action.signal("SIGKILL")))
  yield* Ham.condition(web, CondDeath).pipe(Ham.restart)

  const cache = yield* Ham.attach(
    Entity.process("cache", Command.make(process.execPath, "-e", cacheScript, join(dir, "grown")), {
      output: "ignore"
    }),
    { limits: { memory: 100 * 1024 * 1024, samples: 2, interval: "100 millis" }, backoff: false }
  )
  yield* Ham.conditionRaise(cache, { type: RaiseTypeHam, class: RaiseClassMemoryLimit }).pipe(
    Ham.action(Action.signal("SIGTERM"))
  )
  yield* Ham.condition(cache, CondDeath).pipe(Ham.restart)

  // probes on a fiber entity: a command, and a port (the web server's)
  yield* Ham.attach(Entity.fiber("checker", Effect.never), {
    probe: { exec: ["sh", "-c", "test -d /tmp"], interval: "500 millis" }
  })
  yield* Ham.attach(Entity.fiber("port-watch", Effect.never), {
    probe: { tcp: { port }, interval: "500 millis", startupGrace: "3 seconds" }
  })

  // the web server answers once it listens; then it is asked to hang
  yield* Effect.sleep("2 seconds")
  yield* Console.log(`asking web to hang`)
  yield* get(`http://127.0.0.1:${port}/hang`)
  // its failures, the kill, the restart, a second start-up (1 s), probes passing again
  yield* Effect.sleep("3 seconds")

  const tree = yield* Ham.snapshot
  for (const e of tree.entities) {
    const probe = e.probe === undefined
      ? ""
      : `  probe ${e.probe.target}: ${e.probe.probes} run, ${e.probe.failures} failed, last ${
        e.probe.lastPassed ? "passed" : "failed"
      }`
    const usage = e.rss === undefined ? "" : `  cpu ${e.cpu?.toFixed(1) ?? "-"} %  rss ${Tree.formatBytes(e.rss)}`
    yield* Console.log(`${e.name}: ${e.status}, restarts ${e.stats.restarts}${usage}${probe}`)
  }
  yield* Console.log("")
  yield* Console.log(Tree.render(tree))
})

program.pipe(Effect.scoped, Effect.provide(HamLive), Effect.runPromise)
