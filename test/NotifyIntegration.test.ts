/**
 * The notify channel of process entities end to end, with real children: the environment they
 * get, READY=1 and `waitfor` of readiness (per life), STATE, RAISE, WATCHDOG heartbeats from a
 * python3 child, from a shell script and from a Node child using `effect-ham/Notify`, and missed
 * heartbeats of a hung child escalating SIGTERM then SIGKILL. Every wait is bounded; the last test
 * asks the OS that no child is left.
 */
import { Command } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Queue } from "effect"
import { Action, Entity, Ham } from "effect-ham"
import { CondBeatMissedHigh, CondDeath, type ConditionEvent } from "effect-ham/Condition"
import { readFileSync, statSync } from "node:fs"
import { join, resolve } from "node:path"
import { capturing, readyProbe } from "./notify.js"
import {
  awaitEvents,
  inTempDir,
  isLive,
  lastOf,
  liveProcesses,
  pidOf,
  waitUntil,
  waitUntilEffect
} from "./processes.js"
import { actionNode, entityNode, is, tagsOf, withHam } from "./utils.js"

const root = resolve(import.meta.dirname, "..")

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

/** a marker in the command line of every python3 notifier, to find leftovers */
const marker = "ham-notify-it"

/**
 * A python3 child that keeps one connection to its notify socket and, in order, for each argument:
 * `sleep S` sleeps S seconds, `beat N,S` sends WATCHDOG=1 N times S seconds apart, anything else is
 * sent as a protocol line. Then it stays up (until the HAM stops it).
 */
const pyScript = [
  "import os, socket, sys, time",
  "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)",
  "s.connect(os.environ['HAM_NOTIFY_SOCKET'])",
  "for arg in sys.argv[2:]:",
  "    if arg.startswith('sleep '):",
  "        time.sleep(float(arg[6:]))",
  "    elif arg.startswith('beat '):",
  "        n, every = arg[5:].split(',')",
  "        for _ in range(int(n)):",
  "            s.sendall(b'WATCHDOG=1\\n')",
  "            time.sleep(float(every))",
  "    else:",
  "        s.sendall((arg + '\\n').encode())",
  "time.sleep(41.6)"
].join("\n")

const notifier = (...steps: Array<string>) => Command.make("python3", "-c", pyScript, marker, ...steps)

/**
 * A shell function sending one protocol line to the notify socket. This machine has neither `nc`
 * nor `socat` (the tools a shell script would normally use, see docs/notify-protocol.md), so the
 * script calls `python3 -c` for each line: a fresh connection per message, which the protocol allows.
 */
const shNotify = `notify() { python3 -c 'import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(os.environ["HAM_NOTIFY_SOCKET"]); s.sendall((sys.argv[1] + "\\n").encode())' "$1"; }`

const sh = (script: string) => Command.make("sh", "-c", `${shNotify}\n${script}`)

const quiet = { output: "ignore", stopGrace: "500 millis" } as const

// ---------------------------------------------------------------------------------------------
// environment and readiness
// ---------------------------------------------------------------------------------------------

describe("notify channel: environment and READY", () => {
  it.live("a process entity gets HAM_NOTIFY_SOCKET (a live socket) and HAM_ENTITY in its environment", () =>
    inTempDir("ham-notify-it-", (dir) =>
      Effect.gen(function*() {
        const out = join(dir, "out.log")
        yield* Ham.attach(
          Entity.process("envy", Command.make("sh", "-c", `echo "$HAM_NOTIFY_SOCKET|$HAM_ENTITY"; exec sleep 41.61`), {
            output: { file: out }
          })
        )
        yield* waitUntilEffect("the child's line", Effect.sync(() => readFileSync(out, "utf8").endsWith("\n")), 2000)
        const [socket, entity] = readFileSync(out, "utf8").trim().split("|")
        expect(entity).toBe("envy")
        expect(socket.length).toBeGreaterThan(0)
        expect(Buffer.byteLength(socket)).toBeLessThanOrEqual(107)
        expect(statSync(socket).isSocket()).toBe(true)
      }).pipe(withHam())))

  it.live("READY=1 from a python3 child: a waitfor of its readiness succeeds once it is sent", () =>
    Effect.gen(function*() {
      yield* Ham.attach(Entity.process("py", notifier("sleep 0.3", "READY=1"), quiet))
      const probe = yield* readyProbe("py", "3 seconds")
      const { delivered, elapsed } = yield* probe
      expect(delivered).toEqual(["after"])
      // it did wait for the line (python3 boots, then sleeps 0.3 s)
      expect(elapsed).toBeGreaterThanOrEqual(250)
      expect(elapsed).toBeLessThan(3000)
      const action = yield* actionNode("probe", "wait", "ready")
      expect([action.runs, action.failures]).toEqual([1, 0])
    }).pipe(withHam()))

  it.live("a child that never sends READY=1: the waitfor fails at its timeout and its alternate runs", () =>
    Effect.gen(function*() {
      yield* Ham.attach(Entity.process("mute", notifier("STATE=1"), quiet))
      const probe = yield* readyProbe("mute", "300 millis")
      const { delivered, elapsed } = yield* probe
      expect(delivered).toEqual(["timed out", "after"])
      expect(elapsed).toBeGreaterThanOrEqual(290)
      expect(elapsed).toBeLessThan(2000)
      const action = yield* actionNode("probe", "wait", "ready")
      expect([action.runs, action.failures]).toEqual([1, 1])
      expect(action.lastFailure).toContain("mute")
    }).pipe(withHam()))
})

// ---------------------------------------------------------------------------------------------
// state and raise
// ---------------------------------------------------------------------------------------------

describe("notify channel: STATE and RAISE", () => {
  it.live("STATE=3: the tree shows state 3 and a CondState condition fires with from 0 to 3", () =>
    Effect.gen(function*() {
      const fired = yield* Queue.unbounded<ConditionEvent>()
      const events = yield* Ham.subscribe
      yield* Ham.conditionState(yield* Ham.entity("stateful"), { from: 0, to: 3 }).pipe(Ham.notify(fired))
      yield* Ham.attach(Entity.process("stateful", notifier("sleep 0.05", "STATE=3"), quiet))
      const event = lastOf(yield* awaitEvents(events, is("CondState", "stateful"), 3000))
      expect(event).toMatchObject({ _tag: "CondState", entity: "stateful", from: 0, to: 3 })
      const delivered = yield* Queue.take(fired).pipe(Effect.timeout("2 seconds"), Effect.orDie)
      expect(delivered).toMatchObject({ _tag: "CondState", from: 0, to: 3 })
      expect((yield* entityNode("stateful")).state).toBe(3)
    }).pipe(withHam()))

  it.live("RAISE=1,2,3,disk full: CondRaise with those fields, and a matching condition fires", () =>
    Effect.gen(function*() {
      const fired = yield* Queue.unbounded<ConditionEvent>()
      const events = yield* Ham.subscribe
      yield* Ham.conditionRaise(yield* Ham.entity("raiser"), { type: 1, class: 2, severity: 3 }).pipe(Ham.notify(fired))
      yield* Ham.attach(Entity.process("raiser", notifier("sleep 0.05", "RAISE=1,2,3,disk full"), quiet))
      const event = lastOf(yield* awaitEvents(events, is("CondRaise", "raiser"), 3000))
      expect(event).toMatchObject({ _tag: "CondRaise", type: 1, class: 2, severity: 3, detail: "disk full" })
      const delivered = yield* Queue.take(fired).pipe(Effect.timeout("2 seconds"), Effect.orDie)
      expect(delivered).toMatchObject({ _tag: "CondRaise", type: 1, class: 2, severity: 3, detail: "disk full" })
    }).pipe(withHam()))
})

describe("notify channel: STATUS", () => {
  it.live("STATUS= text reaches the log with its control characters escaped: no forged line, no terminal escape", () => {
    const { layer, logs } = capturing()
    return Effect.gen(function*() {
      const text = "ok\u001b[2J\rtimestamp=0 level=ERROR message=forged\u009b31m\u202eend"
      yield* Ham.attach(Entity.process("talker", notifier("sleep 0.05", `STATUS=${text}`), quiet))
      yield* waitUntil("the status line", () => logs.some((l) => l.message.startsWith("status: ")), 3000)
      const line = logs.find((l) => l.message.startsWith("status: "))!
      expect(line.message).toBe(
        "status: ok\\u001b[2J\\u000dtimestamp=0 level=ERROR message=forged\\u009b31m\\u202eend"
      )
      expect(line.level).toBe("INFO")
    }).pipe(withHam(), Effect.provide(layer))
  })
})

// ---------------------------------------------------------------------------------------------
// heartbeats
// ---------------------------------------------------------------------------------------------

describe("notify channel: WATCHDOG heartbeats", () => {
  it.live("WATCHDOG=1 every 100 ms with an interval of 300 ms: counted, no missed episode; LOW once they stop", () =>
    Effect.gen(function*() {
      const events = yield* Ham.subscribe
      yield* Ham.attach(Entity.process("beater", notifier("beat 12,0.1"), quiet), {
        heartbeat: { interval: "300 millis", missedLow: 1, missedHigh: 3 }
      })
      yield* waitUntilEffect("ten heartbeats", Effect.map(entityNode("beater"), (n) => n.stats.heartbeats >= 10), 2000)
      const beating = yield* entityNode("beater")
      expect([beating.stats.missedLow, beating.stats.missedHigh]).toEqual([0, 0])
      expect(beating.heartbeat?.unhealthy).toBe(false)
      // the beats are what kept it healthy: once they stop, LOW fires
      const seen = yield* awaitEvents(events, is("CondBeatMissedLow", "beater"), 3000)
      expect(tagsOf(seen, "beater")).toEqual(["CondAttach", "CondBeatMissedLow"])
      expect((yield* entityNode("beater")).stats.heartbeats).toBe(12)
    }).pipe(withHam()))

  it.live("a shell script heartbeats over the notify socket; LOW then HIGH once it stops", () =>
    Effect.gen(function*() {
      const events = yield* Ham.subscribe
      const script = `notify WATCHDOG=1; sleep 0.1; notify WATCHDOG=1; sleep 0.1; notify WATCHDOG=1; exec sleep 41.62`
      // each `notify` starts a python3: under load one takes a few hundred ms, so the period is long
      yield* Ham.attach(Entity.process("shell", sh(script), quiet), {
        heartbeat: { interval: "1500 millis", missedLow: 1, missedHigh: 2 }
      })
      const low = yield* awaitEvents(events, is("CondBeatMissedLow", "shell"), 8000)
      expect(tagsOf(low, "shell")).toEqual(["CondAttach", "CondBeatMissedLow"])
      // LOW came after the three beats, not between them
      expect((yield* entityNode("shell")).stats.heartbeats).toBe(3)
      const high = yield* awaitEvents(events, is("CondBeatMissedHigh", "shell"), 8000)
      expect(tagsOf(high, "shell")).toEqual(["CondBeatMissedHigh"])
      expect(lastOf(high)).toMatchObject({ missed: 2 })
      const node = yield* entityNode("shell")
      expect([node.stats.heartbeats, node.stats.missedLow, node.stats.missedHigh, node.status]).toEqual([
        3,
        1,
        1,
        "running"
      ])
    }).pipe(withHam()))

  it.live("missed heartbeats of a hung child (SIGTERM ignored): SIGTERM with awaitExit fails, its SIGKILL alternate kills it", () =>
    Effect.gen(function*() {
      const events = yield* Ham.subscribe
      // the exec'd sleep keeps the shell's ignored SIGTERM
      const script = `trap "" TERM; notify WATCHDOG=1; sleep 0.1; notify WATCHDOG=1; exec sleep 41.63`
      const e = yield* Ham.attach(Entity.process("hung", sh(script), quiet), {
        heartbeat: { interval: "300 millis", missedLow: 1, missedHigh: 2 }
      })
      yield* Ham.condition(e, CondBeatMissedHigh, { name: "hang" }).pipe(
        Ham.action(
          Action.signal("SIGTERM", { awaitExit: "300 millis" }).pipe(
            Action.orElse(Action.signal("SIGKILL")),
            Action.named("term")
          )
        )
      )
      const pid = yield* pidOf("hung")
      const high = yield* awaitEvents(events, is("CondBeatMissedHigh", "hung"), 3000)
      const highAt = yield* Clock.currentTimeMillis
      expect(tagsOf(high, "hung")).toEqual(["CondAttach", "CondBeatMissedLow", "CondBeatMissedHigh"])
      const seen = yield* awaitEvents(events, is("CondDeath", "hung"), 3000)
      const elapsed = (yield* Clock.currentTimeMillis) - highAt
      expect(tagsOf(seen, "hung")).toEqual(["CondAbnormalDeath", "CondDeath"])
      expect(lastOf(seen)).toMatchObject({ abnormal: true, pid, signal: "SIGKILL" })
      // the SIGTERM was given its 300 ms first
      expect(elapsed).toBeGreaterThanOrEqual(250)
      expect(elapsed).toBeLessThan(2000)
      const term = actionNode("hung", "hang", "term")
      yield* waitUntilEffect("the SIGTERM's failure to be counted", Effect.map(term, (a) => a.failures > 0), 2000)
      expect([(yield* term).runs, (yield* term).failures]).toEqual([1, 1])
      expect((yield* term).lastFailure).toContain("SIGTERM")
      expect(isLive(pid)).toBe(false)
    }).pipe(withHam()))
})

// ---------------------------------------------------------------------------------------------
// a Node child, restarts
// ---------------------------------------------------------------------------------------------

describe("notify channel: Node client and restarts", () => {
  it.live(
    "a Node child using effect-ham/Notify publishes its state and says it is ready",
    () =>
      Effect.gen(function*() {
        const events = yield* Ham.subscribe
        const command = Command.make(
          process.execPath,
          "--conditions=source",
          "--import",
          "tsx",
          "test/fixtures/notify-client.ts"
        ).pipe(Command.workingDirectory(root))
        yield* Ham.attach(Entity.process("node-child", command, quiet))
        const probe = yield* readyProbe("node-child", "6 seconds")
        const { delivered } = yield* probe
        expect(delivered).toEqual(["after"])
        // the state was sent before READY=1 on the same connection: handled first
        expect((yield* entityNode("node-child")).state).toBe(5)
        const state = lastOf(yield* awaitEvents(events, is("CondState", "node-child"), 1000))
        expect(state).toMatchObject({ from: 0, to: 5 })
      }).pipe(withHam()),
    15_000
  )

  it.live("after a restart the same socket path is used, and READY is per life: waitfor waits for the new one", () =>
    inTempDir("ham-notify-it-", (dir) =>
      Effect.gen(function*() {
        const out = join(dir, "out.log")
        // each life prints its socket path; the second one says READY=1 only after 0.4 s
        const script = `echo "$HAM_NOTIFY_SOCKET"; if [ -e started ]; then sleep 0.4; else touch started; fi; ` +
          `notify READY=1; exec sleep 41.64`
        const outcome = yield* Queue.unbounded<string>()
        const events = yield* Ham.subscribe
        const e = yield* Ham.attach(
          Entity.process("phoenix", sh(script).pipe(Command.workingDirectory(dir)), {
            output: { file: out },
            stopGrace: "500 millis"
          })
        )
        yield* Ham.condition(e, CondDeath, { name: "recover" }).pipe(
          Ham.restart,
          Ham.action(
            Action.waitfor({ ready: "phoenix", timeout: "3 seconds" }).pipe(
              Action.orElse(Action.notify(outcome, "timed out"))
            )
          ),
          Ham.notify(outcome, "ready again")
        )
        const probe = yield* readyProbe("phoenix", "3 seconds")
        expect((yield* probe).delivered).toEqual(["after"])
        const first = yield* pidOf("phoenix")
        const killedAt = yield* Clock.currentTimeMillis
        process.kill(first, "SIGKILL")
        const restart = lastOf(yield* awaitEvents(events, is("CondRestart", "phoenix"), 3000))
        const second = restart._tag === "CondRestart" ? restart.pid : undefined
        expect(second).toBeDefined()
        expect(second).not.toBe(first)
        expect(yield* Queue.take(outcome).pipe(Effect.timeout("4 seconds"), Effect.orDie)).toBe("ready again")
        // the first life's READY=1 did not carry over: the waitfor waited for the second one's
        expect((yield* Clock.currentTimeMillis) - killedAt).toBeGreaterThanOrEqual(350)
        const paths = readFileSync(out, "utf8").trim().split("\n")
        expect(paths).toHaveLength(2)
        expect(paths[0].length).toBeGreaterThan(0)
        expect(paths[1]).toBe(paths[0])
        expect(statSync(paths[0]).isSocket()).toBe(true)
      }).pipe(withHam())))

  it.live(
    "nodeIpc: a Node child's process.send({ ham }) reaches the HAM (READY, WATCHDOG); without it there is no process.send",
    () =>
      Effect.gen(function*() {
        const events = yield* Ham.subscribe
        // ready, then beats every 100 ms, as a child written for Node IPC would
        const script = `if (typeof process.send !== "function") process.exit(3);
        process.send({ ham: "READY=1" });
        setInterval(() => process.send({ ham: "WATCHDOG=1" }), 100);`
        yield* Ham.attach(
          Entity.process("ipc-child", Command.make(process.execPath, "-e", script), { ...quiet, nodeIpc: true }),
          {
            heartbeat: { interval: "300 millis", missedLow: 2, missedHigh: 0 }
          }
        )
        const probe = yield* readyProbe("ipc-child", "6 seconds")
        expect((yield* probe).delivered).toEqual(["after"])
        yield* waitUntilEffect(
          "three beats",
          Effect.map(entityNode("ipc-child"), (node) => node.stats.heartbeats >= 3),
          5000
        )
        expect((yield* entityNode("ipc-child")).stats.missedLow).toBe(0)
        // the same child without the option has no process.send: it exits with code 3
        yield* Ham.attach(Entity.process("plain-child", Command.make(process.execPath, "-e", script), quiet))
        const death = lastOf(yield* awaitEvents(events, is("CondDeath", "plain-child"), 6000))
        expect(death).toMatchObject({ exitCode: 3 })
        // a bad value is refused
        const bad = yield* Effect.flip(
          Ham.attach(Entity.process("bad", Command.make("true"), { nodeIpc: "yes" as unknown as boolean }))
        )
        expect(bad._tag).toBe("InvalidArgument")
      }).pipe(withHam()),
    20_000
  )

  it.live("no child of these tests is left (asked of the OS)", () =>
    Effect.gen(function*() {
      const leftovers = () => [
        ...liveProcesses(marker),
        ...liveProcesses("sleep 41.6"),
        ...liveProcesses("notify-client.ts")
      ]
      yield* waitUntilEffect("no child left", Effect.sync(() => leftovers().length === 0), 1000)
      expect(leftovers()).toEqual([])
    }))
})
