/**
 * The multistage recovery of the reference, with real processes: a file server
 * (examples/file-server.mjs) supervised as a process entity dies by SIGKILL; its death condition
 * restarts it, waits until its port accepts connections and runs a "remount" command. When the
 * restart fails, the restart's alternate runs a fallback command and the rest of the list is
 * skipped. The scenario is built here (nothing is imported from examples/); every step is checked
 * against the OS: pids in /proc, real TCP reads, marker lines written by real commands.
 */
import { Command } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Ref, Schedule } from "effect"
import type { Scope } from "effect"
import { Action, Entity, Ham } from "effect-ham"
import { CondDeath, type ConditionEvent } from "effect-ham/Condition"
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import * as NodeNet from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { cmdlineOf, freePort, isLive, liveProcesses, waitUntil } from "./processes.js"
import { actionNode, entityNode, withHam } from "./utils.js"

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

const serverScript = fileURLToPath(new URL("../examples/file-server.mjs", import.meta.url))

const contents = "0123456789abcdefghijklmnopqrstuvwxyz"

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

/** a real command that appends `text` and the time to the log file */
const appendLine = (log: string, text: string) =>
  Command.make(
    process.execPath,
    "-e",
    `require("node:fs").appendFileSync(process.argv[1], process.argv[2] + " " + Date.now() + "\\n")`,
    log,
    text
  )

/** the lines of a file, or none when it does not exist */
const linesOf = (file: string): Array<string> =>
  existsSync(file) ? readFileSync(file, "utf8").split("\n").filter((l) => l.length > 0) : []

interface Step {
  readonly step: string
  readonly at: number
  readonly detail?: string | number | undefined
}

/**
 * The scenario: a temporary directory holding the served file, the marker log and the server's
 * working directory; the server attached as a process entity; its death condition "recover",
 * whose last action completes `done`. Returns what the test needs to drive and check it.
 */
const scenario = (attachOptions: Ham.AttachOptions) =>
  Effect.gen(function*() {
    const dir = mkdtempSync(join(tmpdir(), "ham-recovery-"))
    yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
    const data = join(dir, "data.txt")
    writeFileSync(data, contents)
    const log = join(dir, "markers.log")
    const cwd = join(dir, "cwd")
    mkdirSync(cwd)
    const port = yield* freePort

    const steps = yield* Ref.make<ReadonlyArray<Step>>([])
    const record = (step: string, detail: () => string | number) =>
      Effect.suspend(() => Ref.update(steps, (xs) => [...xs, { step, at: Date.now(), detail: detail() }]))
    const done = yield* Deferred.make<void>()
    const ham = yield* Ham.Ham
    const treePid = Effect.map(ham.snapshot, (tree) => tree.entities.find((e) => e.name === "file-server")?.pid)

    const server = yield* Ham.entity("file-server")
    yield* Ham.condition(server, CondDeath, { name: "recover" }).pipe(
      Ham.action(
        Action.effect(
          (event: ConditionEvent) =>
            record("death", () => event._tag === "CondDeath" ? `${event.pid} ${event.signal}` : event._tag),
          { label: "death" }
        )
      ),
      Ham.action(
        Action.restart.pipe(
          Action.orElse(Action.execute(appendLine(log, "fallback"), { timeout: "5 seconds" })),
          Action.withOptions({ name: "restart", breakOnFail: true })
        )
      ),
      Ham.action(
        Action.effect(Effect.flatMap(treePid, (pid) => record("restarted", () => pid ?? -1)), { label: "restarted" })
      ),
      Ham.action(Action.named(Action.waitfor({ port, timeout: "5 seconds" }), "wait-port")),
      // the port accepts connections: read from the new server at once, over real TCP
      Ham.action(
        Action.effect(Effect.flatMap(fetchRange(port, 10, 6), (bytes) => record("port", () => bytes)), {
          label: "port"
        })
      ),
      Ham.action(Action.named(Action.execute(appendLine(log, "remount"), { timeout: "5 seconds" }), "remount")),
      Ham.action(Action.effect(record("remounted", () => linesOf(log).join(",")), { label: "remounted" })),
      Ham.action(Action.named(Action.notify(done), "done"))
    )

    const command = Command.make(process.execPath, serverScript, String(port), data).pipe(
      Command.workingDirectory(cwd)
    )
    yield* Ham.attach(
      Entity.process("file-server", command, { output: "ignore", stopGrace: "1 second" }),
      attachOptions
    )
    // the first life serves once it listens
    const first = yield* fetchRange(port, 0, 10).pipe(
      Effect.retry(Schedule.spaced("20 millis")),
      Effect.timeout("5 seconds"),
      Effect.orDie
    )
    const pid = yield* treePid
    if (pid === undefined) return yield* Effect.dieMessage("no pid for the file server")
    const awaitDone = Deferred.await(done).pipe(Effect.timeout("10 seconds"), Effect.orDie)
    return { port, log, cwd, steps, awaitDone, first, pid }
  })

/**
 * Waits until the restart action of "recover" has failed: its failure is counted once its
 * alternates have run, and with `breakOnFail` the list ends there.
 */
const restartFailed = Effect.gen(function*() {
  const deadline = Date.now() + 10_000
  while ((yield* actionNode("file-server", "recover", "restart")).failures === 0) {
    if (Date.now() > deadline) return yield* Effect.dieMessage("the restart did not fail within 10 seconds")
    yield* Effect.sleep("10 millis")
  }
})

/** runs `body` against its own HAM, then checks with the OS that no file server is left */
const leavesNoServer = <E>(body: Effect.Effect<number, E, Ham.Ham | Scope.Scope>) =>
  Effect.gen(function*() {
    const port = yield* body.pipe(withHam())
    yield* waitUntil("no file server left", () => liveProcesses(`${serverScript} ${port}`).length === 0, 2000)
    expect(liveProcesses(`${serverScript} ${port}`)).toEqual([])
  })

// ---------------------------------------------------------------------------------------------
// the recovery
// ---------------------------------------------------------------------------------------------

describe("multistage recovery of a file server", () => {
  it.live("SIGKILL: death → restart (a new pid) → port accepting → remount, in this order", () =>
    leavesNoServer(Effect.gen(function*() {
      const s = yield* scenario({})
      expect(s.first).toBe("0123456789")
      expect(cmdlineOf(s.pid)).toBe(`${process.execPath} ${serverScript} ${s.port} ${join(s.cwd, "..", "data.txt")}`)
      const killedAt = Date.now()
      process.kill(s.pid, "SIGKILL")
      yield* s.awaitDone

      const steps = yield* Ref.get(s.steps)
      expect(steps.map((x) => x.step)).toEqual(["death", "restarted", "port", "remounted"])
      const [death, restarted, port, remounted] = steps
      expect(death.detail).toBe(`${s.pid} SIGKILL`)
      // the new server is another process, running the same command line
      const newPid = restarted.detail as number
      expect(newPid).toBeGreaterThan(0)
      expect(newPid).not.toBe(s.pid)
      expect(isLive(s.pid)).toBe(false)
      expect(isLive(newPid)).toBe(true)
      expect(cmdlineOf(newPid)).toBe(`${process.execPath} ${serverScript} ${s.port} ${join(s.cwd, "..", "data.txt")}`)
      // the port step read real bytes from the new server
      expect(port.detail).toBe(contents.slice(10, 16))
      // the remount command ran once, after the port accepted connections; the fallback never ran
      const markers = linesOf(s.log)
      expect(markers.map((l) => l.split(" ")[0])).toEqual(["remount"])
      const remountAt = Number(markers[0].split(" ")[1])
      const times = [killedAt, death.at, restarted.at, port.at, remountAt, remounted.at]
      expect(times).toEqual([...times].sort((a, b) => a - b))
      expect(remounted.detail).toBe(markers[0])

      const restart = yield* actionNode("file-server", "recover", "restart")
      expect([restart.runs, restart.failures]).toEqual([1, 0])
      const node = yield* entityNode("file-server")
      expect([node.status, node.pid, node.stats.deaths, node.stats.abnormalDeaths, node.stats.restarts])
        .toEqual(["running", newPid, 1, 1, 1])
      expect(yield* fetchRange(s.port, 30, 100)).toBe(contents.slice(30))
      return s.port
    })))

  it.live("the restart fails (the server cannot be spawned again): its alternate runs, the rest is skipped", () =>
    leavesNoServer(Effect.gen(function*() {
      const s = yield* scenario({})
      // the working directory of the command goes: the next spawn fails
      rmSync(s.cwd, { recursive: true })
      process.kill(s.pid, "SIGKILL")
      yield* restartFailed

      expect((yield* Ref.get(s.steps)).map((x) => x.step)).toEqual(["death"])
      expect(linesOf(s.log).map((l) => l.split(" ")[0])).toEqual(["fallback"])
      const restart = yield* actionNode("file-server", "recover", "restart")
      expect([restart.runs, restart.failures]).toEqual([1, 1])
      expect(restart.lastFailure).toBeDefined()
      for (const name of ["restarted", "wait-port", "port", "remount", "remounted"]) {
        expect((yield* actionNode("file-server", "recover", name)).runs).toBe(0)
      }
      const node = yield* entityNode("file-server")
      expect([node.status, node.stats.deaths, node.stats.restarts]).toEqual(["dead", 1, 0])
      expect(liveProcesses(`${serverScript} ${s.port}`)).toEqual([])
      return s.port
    })))

  it.live("the restart fails (restart intensity 0): its alternate runs, the rest is skipped", () =>
    leavesNoServer(Effect.gen(function*() {
      const s = yield* scenario({ restartIntensity: { maxRestarts: 0, within: "10 seconds" } })
      process.kill(s.pid, "SIGKILL")
      yield* restartFailed

      expect((yield* Ref.get(s.steps)).map((x) => x.step)).toEqual(["death"])
      expect(linesOf(s.log).map((l) => l.split(" ")[0])).toEqual(["fallback"])
      const restart = yield* actionNode("file-server", "recover", "restart")
      expect([restart.runs, restart.failures]).toEqual([1, 1])
      const node = yield* entityNode("file-server")
      expect([node.status, node.stats.deaths, node.stats.restarts]).toEqual(["gaveUp", 1, 0])
      expect(liveProcesses(`${serverScript} ${s.port}`)).toEqual([])
      return s.port
    })))
})
