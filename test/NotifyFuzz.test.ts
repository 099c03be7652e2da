/**
 * The notify fuzz run: a real HAM with a real process entity, whose notify socket is sent random
 * and malformed frames (random bytes, huge lines, lines split at every byte, NULs, invalid UTF-8,
 * CR/LF mixes, non-canonical numbers, control characters, connections reset mid-line), then a
 * flood of connections held by another process, beyond the caps. Afterwards the HAM still serves
 * (a fresh connection's WATCHDOG=1 are counted, its READY=1 is seen), its open fds (from
 * /proc/self/fd) are back where they were, nothing crashed or logged a defect, the warnings were
 * few, and no log line carries a control character. The frames come from a fixed seed.
 */
import { Command } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck as fc } from "effect"
import { Entity, Ham } from "effect-ham"
import * as cp from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import { join } from "node:path"
import { capturing, readyProbe } from "./notify.js"
import { inTempDir, isLive, pidOf, waitUntil, waitUntilEffect } from "./processes.js"
import { entityNode, withHam } from "./utils.js"

// ---------------------------------------------------------------------------------------------
// frames
// ---------------------------------------------------------------------------------------------

const endings = fc.constantFrom("\n", "\r\n", "\r", "\n\r", "\r\r\n", "\n\n", "")

/** text rich in what a hostile child would send */
const hostileText = fc.string({
  unit: fc.oneof(
    fc.constantFrom("\u0000", "\u001b", "[", "\r", "\t", "\u007f", "\u009b", "\u2028", "\u202e", "=", ",", "-", "0"),
    fc.string({ unit: "binary", minLength: 1, maxLength: 1 })
  ),
  maxLength: 200
})

/** byte sequences that are not UTF-8 */
const invalidUtf8 = fc.constantFrom(
  [0xff],
  [0xc0, 0x80],
  [0x80],
  [0xe2, 0x82],
  [0xf4, 0x90, 0x80, 0x80],
  [0xed, 0xa0, 0x80],
  [0xfe, 0xfe, 0xff]
).map((bytes) => Buffer.from(bytes))

const key = fc.constantFrom(
  "READY",
  "WATCHDOG",
  "STATE",
  "RAISE",
  "STATUS",
  "MAINPID",
  "",
  " STATE",
  "state",
  "STA\u0000TE",
  "K€Y"
)
const value = fc.oneof(
  hostileText,
  fc.constantFrom(" 5", "007", "+1", "1e3", "-0", "9007199254740992", "0", "1,2", "1,2,3", "1, 2,3,x", "01,2,3"),
  fc.nat().map(String)
)
const protocolish = fc.tuple(key, fc.constantFrom("=", "", "=="), value, endings).map(([k, eq, v, end]) =>
  Buffer.from(`${k}${eq}${v}${end}`)
)

const frame: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 2000 }).map((bytes) => Buffer.from(bytes)) },
  { weight: 4, arbitrary: fc.array(protocolish, { minLength: 1, maxLength: 20 }).map((lines) => Buffer.concat(lines)) },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.integer({ min: 4097, max: 300_000 }), fc.boolean(), fc.constantFrom(0x41, 0x0a - 1, 0xff))
      .map(([n, ended, byte]) => Buffer.concat([Buffer.alloc(n, byte), Buffer.from(ended ? "\nSTATE=2\n" : "")]))
  },
  {
    weight: 2,
    arbitrary: fc.array(fc.oneof(invalidUtf8, protocolish, fc.constant(Buffer.from("\u0000"))), { maxLength: 30 })
      .map((parts) => Buffer.concat([Buffer.from("STATUS="), ...parts, Buffer.from("\n")]))
  }
)

/** how a frame is written: whole, one byte per write, in random pieces, or cut short by a close mid-way */
const delivery = fc.constantFrom("whole", "bytes", "pieces", "reset")

/** true when a line of the frame would be READY=1: the fuzz must not say ready for the child */
const saysReady = (bytes: Buffer): boolean =>
  bytes.toString("latin1").split("\n").some((line) => line.replace(/\r$/, "") === "READY=1")

const frames = fc.sample(fc.tuple(frame, delivery, fc.array(fc.nat(), { maxLength: 8 })), {
  seed: 11,
  numRuns: 300
}).filter(([bytes]) => !saysReady(bytes))

// ---------------------------------------------------------------------------------------------
// a raw client
// ---------------------------------------------------------------------------------------------

const pause = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

/** writes a frame on a fresh connection as `how` says; never fails (the HAM may close it first) */
const send = (path: string, bytes: Buffer, how: string, cuts: ReadonlyArray<number>) =>
  Effect.promise(() =>
    new Promise<void>((resolve) => {
      const socket = net.createConnection({ path })
      socket.on("error", () => resolve())
      socket.on("close", () => resolve())
      socket.once("connect", async () => {
        const write = (chunk: Buffer) => new Promise<void>((done) => socket.write(chunk, () => done()))
        if (how === "whole") {
          await write(bytes)
        } else if (how === "bytes") {
          for (const byte of bytes.subarray(0, 300)) {
            await write(Buffer.of(byte))
            await pause(0)
          }
        } else {
          const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
          const pieces = [0, ...points].map((start, i) => bytes.subarray(start, points[i] ?? bytes.length))
          for (const piece of how === "reset" ? pieces.slice(0, Math.max(1, pieces.length >> 1)) : pieces) {
            await write(piece)
            await pause(1)
          }
          if (how === "reset") {
            socket.destroy()
            return
          }
        }
        socket.end()
      })
    })
  )

/** true once the target's heartbeats are `n` (fails the wait when more came) */
const beatsAre = (n: number) =>
  Effect.map(entityNode("target"), (node) => {
    expect(node.stats.heartbeats).toBeLessThanOrEqual(n)
    return node.stats.heartbeats === n
  })

const openFds = (): number => fs.readdirSync("/proc/self/fd").length

/** what a python3 child needs to flood a socket: connect N times, hold them until told, then churn */
const flooder = `import os, socket, sys, time
path, n, churn, out, release = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
held = []
for i in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(path)
    except OSError:
        s.close()
        continue
    try:
        s.sendall(b"MAINPID=" + str(i).encode() + b"\\n")
    except OSError:
        pass
    held.append(s)
open(out, "w").write(str(len(held)))
while not os.path.exists(release):
    time.sleep(0.02)
for s in held:
    s.close()
for i in range(churn):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(path)
        s.sendall(b"STATE=x\\n" * 10)
    except OSError:
        pass
    s.close()
open(out, "w").write("done")
`

/** what no log line may carry */
// eslint-disable-next-line no-control-regex -- control characters are what it looks for
const Unsafe = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/

// ---------------------------------------------------------------------------------------------
// the run
// ---------------------------------------------------------------------------------------------

describe("notify fuzz", () => {
  it.live("random and malformed frames, then a connection flood: the HAM still serves, its fds come back", () => {
    const { layer, logs } = capturing()
    return inTempDir("ham-notify-fuzz-", (dir) =>
      Effect.gen(function*() {
        const started = Date.now()
        yield* Ham.attach(Entity.process("target", Command.make("sleep", "41.81"), { output: "ignore" }), {
          heartbeat: { interval: "10 seconds", missedLow: 3, missedHigh: 0 }
        })
        const pid = yield* pidOf("target")
        const environ = fs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0")
        const path = environ.find((v) => v.startsWith("HAM_NOTIFY_SOCKET="))!.slice("HAM_NOTIFY_SOCKET=".length)
        const probe = yield* readyProbe("target", "200 millis")
        // one beat first: the fd count is taken with the entity served once
        yield* send(path, Buffer.from("WATCHDOG=1\n"), "whole", [])
        yield* waitUntilEffect("the first beat", beatsAre(1), 3_000)
        const baseline = openFds()

        // 1. the frames, four connections at a time
        expect(frames.length).toBeGreaterThan(250)
        yield* Effect.forEach(frames, ([bytes, how, cuts]) => send(path, bytes, how, cuts), { concurrency: 4 })
        expect((yield* probe).delivered).toEqual(["timed out", "after"])

        // 2. a flood: another process holds 2,000 connections, then opens and closes 2,000 more
        const out = join(dir, "flood")
        const release = join(dir, "release")
        const flood = cp.spawn("python3", ["-c", flooder, path, "2000", "2000", out, release], { stdio: "ignore" })
        yield* Effect.addFinalizer(() => Effect.sync(() => flood.kill("SIGKILL")))
        yield* waitUntil("the flood's connections", () =>
          fs.existsSync(out) && fs.readFileSync(out, "utf8") !== "", 20_000)
        const held = Number(fs.readFileSync(out, "utf8"))
        expect(held).toBeGreaterThan(100)
        // the HAM holds at most the 8 of the socket's cap (and a little slack for the test's own)
        const during = openFds()
        expect(during - baseline).toBeLessThanOrEqual(8 + 8)
        // its own file opens work
        fs.closeSync(fs.openSync(join(dir, "own-file"), "w"))
        fs.writeFileSync(release, "")
        yield* waitUntil("the flood's end", () =>
          fs.readFileSync(out, "utf8") === "done", 20_000)
        yield* waitUntil("the flooder to exit", () =>
          flood.exitCode !== null, 5_000)

        // 3. afterwards: the fds are back, a fresh connection is heard
        yield* waitUntil("the fds back", () => openFds() <= baseline + 2, 5_000)
        const beats = (yield* entityNode("target")).stats.heartbeats
        yield* send(path, Buffer.from("WATCHDOG=1\n"), "whole", [])
        yield* send(path, Buffer.from("WATCHDOG=1\r\nWATCHDOG=1\n"), "bytes", [])
        yield* send(path, Buffer.from("READY=1\n"), "whole", [])
        yield* waitUntilEffect("three more beats", beatsAre(beats + 3), 3_000)
        expect((yield* probe).delivered).toEqual(["after"])

        // nothing crashed: the child still runs in its first life, no defect was logged
        const node = yield* entityNode("target")
        expect([node.status, node.pid, node.stats.restarts, isLive(pid)]).toEqual(["running", pid, 0, true])
        expect(logs.filter((l) => l.level === "ERROR" || l.level === "FATAL" || l.message.includes("died"))).toEqual(
          []
        )
        // the warnings came at the bounded rate: 5 then one summary per 10 s
        const intervals = Math.floor((Date.now() - started) / 10_000) + 1
        const warnings = logs.filter((l) => l.level === "WARN" && l.message.startsWith("notify"))
        expect(warnings.length).toBeGreaterThan(0)
        expect(warnings.length).toBeLessThanOrEqual(6 * intervals)
        expect(logs.filter((l) => Unsafe.test(l.message))).toEqual([])
        yield* waitUntil("the fds back after the last connections", () => openFds() <= baseline + 2, 5_000)
      }).pipe(withHam(), Effect.provide(layer)))
  }, 120_000)
})
