/**
 * The remote HAM (issue 14): a call's round trip and the events streamed per second, against a
 * HAM served by another process (`bench/remote-server.ts`) over TCP on loopback and over a Unix
 * socket, with the same figures of a HAM in this process beside them (the baseline).
 *
 * - `remote_call_ms_tcp`, `remote_call_ms_unix`: the median of single `Ham.snapshot` calls (a tree
 *   of 10 entities) through `HamClient`; `local_call_ms`: the same call on a local HAM with the
 *   same tree. Target: a remote round trip ≤ 0.5 ms median on loopback.
 * - `remote_events_per_s`: events received per second by a remote subscriber (`Ham.subscribe`,
 *   TCP) while the served HAM raises 200,000 as fast as it can (the subscribers' buffers hold them
 *   all: no event is dropped); `local_events_per_s`: the same on a local HAM. Target: ≥ 50,000
 *   events/s.
 */
import { Effect, Layer, Queue } from "effect"
import { Ham } from "effect-ham"
import * as HamClient from "effect-ham/HamClient"
import * as cp from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { median, report } from "./core.js"
import { populate } from "./remote-tree.js"

const here = fileURLToPath(new URL(".", import.meta.url))
const entities = 10
const calls = 3000
const burst = 200_000

interface Served {
  readonly tcp: { readonly port: number }
  readonly unix: string
  readonly command: (line: string) => void
  readonly lines: Queue.Queue<string>
}

/** the served HAM in a child process, ended with the scope */
const serve = (token: string) =>
  Effect.gen(function*() {
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "bench-remote-"))),
      (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
    )
    const options = {
      listen: { tcp: { port: 0 }, unix: Path.join(dir, "ham.sock") },
      auth: { token },
      entities,
      eventBuffer: burst
    }
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        cp.spawn(
          process.execPath,
          [...process.execArgv, Path.join(here, "remote-server.ts"), JSON.stringify(options)],
          {
            stdio: ["pipe", "pipe", "inherit"]
          }
        )
      ),
      (child) =>
        Effect.async<void>((resume) => {
          if (child.exitCode !== null) return resume(Effect.void)
          child.once("exit", () => resume(Effect.void))
          child.stdin.end()
        })
    )
    const lines = yield* Queue.unbounded<string>()
    let pending = ""
    child.stdout.on("data", (chunk: Buffer) => {
      pending += chunk.toString("utf8")
      for (let i = pending.indexOf("\n"); i >= 0; i = pending.indexOf("\n")) {
        lines.unsafeOffer(pending.slice(0, i))
        pending = pending.slice(i + 1)
      }
    })
    const ready = JSON.parse(yield* Queue.take(lines)) as { tcp: { port: number }; unix: string }
    return { ...ready, lines, command: (line: string) => child.stdin.write(`${line}\n`) } satisfies Served
  })

/** the median time of single calls, in ms (after a warm-up of a tenth as many) */
const perCall = (n: number, call: Effect.Effect<unknown, unknown, Ham.Ham>) =>
  Effect.gen(function*() {
    for (let i = 0; i < n / 10; i++) yield* call
    const times: Array<number> = []
    for (let i = 0; i < n; i++) {
      const t0 = performance.now()
      yield* call
      times.push(performance.now() - t0)
    }
    return median(times)
  })

/** events received per second by a stream while `start` makes `total` of them be raised */
const eventsPerSecond = (total: number, start: Effect.Effect<void, never, Ham.Ham>) =>
  Effect.gen(function*() {
    let first = 0
    let last = 0
    let received = 0
    const queue = yield* Ham.subscribe
    yield* start
    while (received < total) {
      const events = yield* Queue.takeBetween(queue, 1, 4096).pipe(Effect.timeout("1 second"), Effect.option)
      if (events._tag === "None") break
      if (received === 0) first = performance.now()
      received += events.value.length
      last = performance.now()
    }
    return { perSecond: (received - 1) / ((last - first) / 1000), received }
  }).pipe(Effect.scoped)

/** raises `n` events on "bench" in a fiber of its own */
const raiseMany = (n: number) =>
  Effect.asVoid(Effect.forkDaemon(Effect.forEach(
    Array.from({ length: n }),
    () => Effect.orDie(Ham.raise("bench", { type: 1, class: 1, severity: 1, detail: "e" })),
    { discard: true }
  )))

export const remote = Effect.gen(function*() {
  const token = "bench-remote-token-0123456789abcdef"
  const served = yield* serve(token)
  const tcp = yield* Layer.build(
    HamClient.layer({ tcp: { port: served.tcp.port }, auth: { token }, eventBuffer: burst })
  )
  const unix = yield* Layer.build(HamClient.layer({ unix: served.unix }))
  const local = yield* Layer.build(Ham.layer({ eventBuffer: burst }))
  yield* Effect.provide(Effect.zipRight(populate(entities), Ham.entity("bench")), local)

  // rounds of each in turn, so that a drift of the machine hits all three
  const rounds: Record<"local" | "tcp" | "unix", Array<number>> = { local: [], tcp: [], unix: [] }
  for (let round = 0; round < 5; round++) {
    rounds.local.push(yield* Effect.provide(perCall(calls / 5, Ham.snapshot), local))
    rounds.tcp.push(yield* Effect.provide(perCall(calls / 5, Ham.snapshot), tcp))
    rounds.unix.push(yield* Effect.provide(perCall(calls / 5, Ham.snapshot), unix))
  }
  const local_ = median(rounds.local)
  const tcp_ = median(rounds.tcp)
  const unix_ = median(rounds.unix)
  report("local_call_ms", local_, `ms median of a local Ham.snapshot (${entities} entities; the baseline)`, 4)
  report("remote_call_ms_tcp", tcp_, "ms median of the same call remote over TCP loopback (target <= 0.5)", 3)
  report("remote_call_ms_unix", unix_, "ms median of the same call remote over a Unix socket (target <= 0.5)", 3)
  report("remote_call_ratio_tcp", tcp_ / local_, "x the local call", 1)

  const localEvents = yield* Effect.provide(eventsPerSecond(burst, raiseMany(burst)), local)
  const remoteEvents = yield* Effect.provide(
    eventsPerSecond(burst, Effect.sync(() => served.command(`burst ${burst}`))),
    tcp
  )
  yield* Queue.take(served.lines)
  report(
    "local_events_per_s",
    localEvents.perSecond,
    `events/s to a local subscriber (${localEvents.received} of ${burst} received)`,
    0
  )
  report(
    "remote_events_per_s",
    remoteEvents.perSecond,
    `events/s to a remote subscriber over TCP (${remoteEvents.received} of ${burst} received; target >= 50,000)`,
    0
  )
  report("remote_events_ratio", remoteEvents.perSecond / localEvents.perSecond, "x the local subscriber", 3)
}).pipe(Effect.scoped)
