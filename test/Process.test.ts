/**
 * Process entities with real child processes: deaths (exit codes and signals, the stderr tail),
 * restarts with the same command line, environment and working directory, output handling,
 * spawn failures, crash loops, signal escalation, stopping a process group, no orphans, and the
 * port and path waits. Every wait is bounded; the checks for leftover processes read /proc.
 */
import { Command } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Fiber, HashMap, Layer, Logger, Queue, Schedule } from "effect"
import { Action, Entity, Ham } from "effect-ham"
import { CondDeath, type ConditionEvent, CondRaise, RaiseClassRestartGaveUp, RaiseTypeHam } from "effect-ham/Condition"
import * as ChildProcess from "node:child_process"
import { existsSync, readdirSync, readFileSync, realpathSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { layerInline } from "../src/internal/launch/inline.js"
import { ProcessLauncher } from "../src/internal/launch/launcher.js"
import {
  awaitEvents,
  cmdlineOf,
  freePort,
  inTempDir,
  isLive,
  lastOf,
  liveProcesses,
  liveWithCmdline,
  parentOf,
  pidOf,
  stateOf,
  unusedPid,
  waitUntil,
  waitUntilEffect
} from "./processes.js"
import { actionNode, drain, entityNode, failureOf, is, registry, tagsOf, withHam } from "./utils.js"

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

const one = { type: 1, class: 1, severity: 1 } as const

/**
 * Waits until the HAM's FIFO dispatcher has handled everything handed to it before: a raise on a
 * placeholder entity whose condition notifies a queue (bounded, real time).
 */
let barriers = 0
const barrier = Effect.gen(function*() {
  const name = `process-barrier-${++barriers}`
  const reached = yield* Queue.unbounded<string>()
  yield* Ham.entity(name)
  yield* Ham.conditionRaise(name, {}).pipe(Ham.notify(reached, name))
  yield* Ham.raise(name, one)
  expect(yield* Queue.take(reached).pipe(Effect.timeout("5 seconds"), Effect.orDie)).toBe(name)
})

/** a death event's fields; dies for another event */
const deathOf = (event: ConditionEvent) => {
  if (event._tag !== "CondDeath" && event._tag !== "CondAbnormalDeath") throw new Error(`not a death: ${event._tag}`)
  return event
}

/** the pids of the live processes whose command line is exactly `sleep <seconds>` */
const sleeping = (seconds: string): Array<number> => liveWithCmdline(`sleep ${seconds}`)

const sh = (script: string, ...args: Array<string>) => Command.make("sh", "-c", script, ...args)

const quiet = { output: "ignore" } as const

/** a logger layer that keeps the text of every message, and the messages it kept */
const logLines = () => {
  const logged: Array<string> = []
  const logger = Logger.replace(
    Logger.defaultLogger,
    Logger.make(({ message }) => {
      logged.push(Array.isArray(message) ? message.join(" ") : String(message))
    })
  )
  return { logged, logger }
}

// ---------------------------------------------------------------------------------------------
// deaths
// ---------------------------------------------------------------------------------------------

describe("process deaths", () => {
  it.live("exit code 0 is a normal death: CondDeath alone, with the pid and the exit code", () =>
    Effect.gen(function*() {
      const events = yield* Ham.subscribe
      yield* Ham.attach(Entity.process("ok", sh("exit 0"), quiet))
      const seen = yield* awaitEvents(events, is("CondDeath", "ok"))
      expect(tagsOf(seen, "ok")).toEqual(["CondAttach", "CondDeath"])
      const attached = seen[0]
      expect(attached._tag === "CondAttach" && typeof attached.pid === "number").toBe(true)
      const death = deathOf(lastOf(seen))
      expect(death.abnormal).toBe(false)
      expect(death.exitCode).toBe(0)
      expect(death.signal).toBeUndefined()
      expect(death.pid).toBe(attached._tag === "CondAttach" ? attached.pid : -1)
      const node = yield* entityNode("ok")
      expect([node.kind, node.status, node.stats.deaths, node.stats.abnormalDeaths]).toEqual(["process", "dead", 1, 0])
    }).pipe(withHam()))

  it.live("a non-zero exit code is an abnormal death: CondAbnormalDeath, then CondDeath", () =>
    Effect.gen(function*() {
      const events = yield* Ham.subscribe
      yield* Ham.attach(Entity.process("three", sh("exit 3"), quiet))
      const seen = yield* awaitEvents(events, is("CondDeath", "three"))
      expect(tagsOf(seen, "three")).toEqual(["CondAttach", "CondAbnormalDeath", "CondDeath"])
      for (const event of seen.slice(1)) {
        const death = deathOf(event)
        expect(death.abnormal).toBe(true)
        expect(death.exitCode).toBe(3)
        expect(death.signal).toBeUndefined()
        expect(death.reason).toContain("3")
      }
      const node = yield* entityNode("three")
      expect([node.stats.deaths, node.stats.abnormalDeaths]).toEqual([1, 1])
    }).pipe(withHam()))

  for (const signal of ["SIGKILL", "SIGTERM", "SIGHUP"] as const) {
    it.live(`a ${signal} from outside is an abnormal death carrying the signal name`, () =>
      Effect.gen(function*() {
        const events = yield* Ham.subscribe
        yield* Ham.attach(Entity.process("victim", Command.make("sleep", "31.71"), quiet))
        const pid = yield* pidOf("victim")
        expect(cmdlineOf(pid)).toBe("sleep 31.71")
        process.kill(pid, signal)
        const seen = yield* awaitEvents(events, is("CondDeath", "victim"))
        expect(tagsOf(seen, "victim")).toEqual(["CondAttach", "CondAbnormalDeath", "CondDeath"])
        const death = deathOf(lastOf(seen))
        expect(death).toMatchObject({ abnormal: true, pid, signal })
        expect(death.exitCode).toBeUndefined()
        expect(death.reason).toContain(signal)
      }).pipe(withHam()))
  }

  // output "ignore" keeps stderr as raw bytes, the other modes as lines: both give the same tail
  for (const output of ["ignore", "log"] as const) {
    it.live(`the death event carries the lines the process wrote to stderr (not its stdout), output ${output}`, () =>
      Effect.gen(function*() {
        const events = yield* Ham.subscribe
        yield* Ham.attach(Entity.process("talker", sh("echo out; echo a >&2; echo b >&2; exit 2"), { output }))
        const seen = yield* awaitEvents(events, is("CondDeath", "talker"))
        for (const event of seen.slice(1)) {
          const death = deathOf(event)
          expect(death.exitCode).toBe(2)
          expect(death.stderr).toEqual(["a", "b"])
        }
      }).pipe(withHam()))
  }

  it.live("the stderr tail is bounded: the last 20 lines", () =>
    Effect.gen(function*() {
      const events = yield* Ham.subscribe
      yield* Ham.attach(
        Entity.process("chatty", sh("i=1; while [ $i -le 25 ]; do echo line$i >&2; i=$((i+1)); done; exit 1"), quiet)
      )
      const death = deathOf(lastOf(yield* awaitEvents(events, is("CondDeath", "chatty"))))
      expect(death.stderr).toEqual(Array.from({ length: 20 }, (_, i) => `line${i + 6}`))
    }).pipe(withHam()))
})

// ---------------------------------------------------------------------------------------------
// restart, environment, working directory, output
// ---------------------------------------------------------------------------------------------

describe("process restart and output", () => {
  it.live("a restart runs the same command line, environment and working directory; CondRestart once it is up", () =>
    inTempDir("ham-process-", (dir) =>
      Effect.gen(function*() {
        const out = join(dir, "out.log")
        // prints where it runs and what it was given; the first life exits 1, the second stays up
        const script = `echo "$(pwd -P)|$HAM_TEST_VAR|$HAM_ENTITY|$0|$1"; ` +
          `if [ -e started ]; then exec sleep 31.72; fi; touch started; exit 1`
        const command = sh(script, "argv0", "arg-one").pipe(
          Command.env({ HAM_TEST_VAR: "value-42" }),
          Command.workingDirectory(dir)
        )
        const events = yield* Ham.subscribe
        // the condition first: the first life ends within milliseconds of its start
        yield* Ham.condition(yield* Ham.entity("again"), CondDeath).pipe(Ham.restart)
        yield* Ham.attach(Entity.process("again", command, { output: { file: out } }))
        const seen = yield* awaitEvents(events, is("CondRestart", "again"))
        const first = seen.find(is("CondDeath", "again"))!
        const restart = lastOf(seen)
        if (restart._tag !== "CondRestart" || first._tag !== "CondDeath") throw new Error("unexpected events")
        expect(first.exitCode).toBe(1)
        expect(restart.pid).toBeDefined()
        expect(restart.pid).not.toBe(first.pid)
        expect(restart.restarts).toBe(1)
        // the new process is up when CondRestart is published, and it is the same command line
        const pid = restart.pid!
        expect(yield* pidOf("again")).toBe(pid)
        expect(stateOf(pid)).toBeDefined()
        yield* waitUntil("the second life's output", () => readFileSync(out, "utf8").split("\n").length >= 3)
        const line = `${realpathSync(dir)}|value-42|again|argv0|arg-one`
        expect(readFileSync(out, "utf8")).toBe(`${line}\n${line}\n`)
        // its line is written before its `exec sleep`
        yield* waitUntil("the second life's exec", () => cmdlineOf(pid) === "sleep 31.72")
        const node = yield* entityNode("again")
        expect([node.status, node.stats.deaths, node.stats.restarts]).toEqual(["running", 1, 1])
      }).pipe(withHam())))

  it.live("output to a file: stdout and stderr (marked) are appended", () =>
    inTempDir("ham-process-", (dir) =>
      Effect.gen(function*() {
        const out = join(dir, "out.log")
        writeFileSync(out, "previous\n")
        const events = yield* Ham.subscribe
        yield* Ham.attach(Entity.process("filed", sh("echo out1; echo err1 >&2; exit 0"), { output: { file: out } }))
        yield* awaitEvents(events, is("CondDeath", "filed"))
        yield* waitUntil("both lines in the file", () => readFileSync(out, "utf8").split("\n").length >= 4)
        const lines = readFileSync(out, "utf8").split("\n")
        expect(lines[0]).toBe("previous")
        expect(lines.slice(1, 3).sort()).toEqual(["[stderr] err1", "out1"])
        expect(lines[3]).toBe("")
      }).pipe(withHam())))

  it.live("output to the logger: each line, annotated with the entity and the stream", () => {
    const logged: Array<{ text: string; entity: unknown; stream: unknown }> = []
    const logger = Logger.make(({ annotations, message }) => {
      const text = Array.isArray(message) ? message.join(" ") : String(message)
      const get = (key: string) => HashMap.get(annotations, key).pipe((o) => (o._tag === "Some" ? o.value : undefined))
      logged.push({ text, entity: get("entity"), stream: get("stream") })
    })
    return Effect.gen(function*() {
      const events = yield* Ham.subscribe
      yield* Ham.attach(Entity.process("logged", sh("echo hello; echo oops >&2; exit 0")))
      yield* awaitEvents(events, is("CondDeath", "logged"))
      yield* waitUntil("both lines logged", () => logged.filter((l) => l.entity === "logged").length >= 2)
      const mine = logged.filter((l) => l.entity === "logged").sort((a, b) => a.text.localeCompare(b.text))
      expect(mine).toEqual([
        { text: "hello", entity: "logged", stream: "stdout" },
        { text: "oops", entity: "logged", stream: "stderr" }
      ])
    }).pipe(withHam(), Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
  })

  for (const output of ["ignore", "file", "log"] as const) {
    it.live(`a child writing a lot to stdout is never blocked (output ${output})`, () => {
      let lines = 0
      const logger = Logger.make(() => {
        lines++
      })
      return inTempDir("ham-process-", (dir) =>
        Effect.gen(function*() {
          const marker = join(dir, "marker")
          // far more than a pipe holds (64 KiB): a child whose output is not drained blocks in `yes | head`
          // lines of 100 characters (and a newline)
          const bytes = output === "log" ? 2_020_000 : 5_050_000
          const command = sh(`yes "$(printf '%0100d' 0)" | head -c ${bytes}; touch "${marker}"; exec sleep 31.73`)
          yield* Ham.attach(
            Entity.process("flood", command, { output: output === "file" ? { file: join(dir, "out.log") } : output })
          )
          yield* waitUntil("the marker after the flood", () => sleeping("31.73").length > 0, 8000)
          expect(readdirSync(dir)).toContain("marker")
          if (output === "log") yield* waitUntil("every line logged", () => lines >= bytes / 101, 8000)
          if (output === "file") {
            yield* waitUntil("the whole output in the file", () => readFileSync(join(dir, "out.log")).length >= bytes)
          }
          expect((yield* entityNode("flood")).status).toBe("running")
        }).pipe(withHam())).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
    }, 20_000)
  }

  it.live("stdin is /dev/null: a child that reads it gets end-of-file at once (it never waits on a pipe)", () =>
    Effect.gen(function*() {
      const events = yield* Ham.subscribe
      yield* Ham.attach(Entity.process("reader", sh("if read line; then exit 7; fi; exit 3"), quiet))
      const death = deathOf(lastOf(yield* awaitEvents(events, is("CondDeath", "reader"))))
      expect(death.exitCode).toBe(3)
    }).pipe(withHam()))

  it.live("a line longer than the bound reaches the log cut, never whole", () => {
    const { logged, logger } = logLines()
    return Effect.gen(function*() {
      const events = yield* Ham.subscribe
      yield* Ham.attach(Entity.process("long", sh("printf '%05000d' 0; echo; echo short; exit 0")))
      yield* awaitEvents(events, is("CondDeath", "long"))
      yield* waitUntil("the short line logged", () => logged.includes("short"))
      const long = logged.filter((line) => line.startsWith("0000"))
      expect(long.length).toBeGreaterThan(0)
      for (const line of long) expect(line.length).toBeLessThanOrEqual(1001)
      expect(long.join("").replace(/…/g, "").length).toBeLessThan(5000)
    }).pipe(withHam(), Effect.provide(logger))
  })

  it.live("a pipeline (Command.pipeTo) runs through the platform's executor: its output, exit code and stderr tail", () => {
    const { logged, logger } = logLines()
    return Effect.gen(function*() {
      const events = yield* Ham.subscribe
      const command = sh("echo hello; exit 0").pipe(Command.pipeTo(sh("tr a-z A-Z; echo last words >&2; exit 4")))
      yield* Ham.attach(Entity.process("piped", command))
      const seen = yield* awaitEvents(events, is("CondDeath", "piped"))
      expect(tagsOf(seen, "piped")).toEqual(["CondAttach", "CondAbnormalDeath", "CondDeath"])
      const death = deathOf(lastOf(seen))
      expect(death.exitCode).toBe(4)
      expect(death.stderr).toEqual(["last words"])
      yield* waitUntil("the pipeline's output logged", () => logged.includes("HELLO"))
    }).pipe(withHam(), Effect.provide(logger))
  })

  it.live("a working directory that does not exist is SpawnFailed; the registry is unchanged", () =>
    Effect.gen(function*() {
      const before = yield* registry
      const error = yield* failureOf(
        Ham.attach(
          Entity.process("lost", Command.make("sleep", "31.74").pipe(Command.workingDirectory("/nonexistent/ham-dir")))
        )
      )
      expect(error._tag).toBe("SpawnFailed")
      if (error._tag === "SpawnFailed") expect(error.reason).toContain("/nonexistent/ham-dir")
      expect(yield* registry).toEqual(before)
      expect(sleeping("31.74")).toEqual([])
    }).pipe(withHam()))

  it.live("SpawnFailed for a program that does not exist; the registry is unchanged", () =>
    Effect.gen(function*() {
      const ghost = yield* Ham.entity("ghost")
      yield* Ham.condition(ghost, CondDeath, { name: "on-death" }).pipe(Ham.restart)
      const before = yield* registry
      const error = yield* failureOf(
        Ham.attach(Entity.process("ghost", Command.make("/nonexistent/ham-no-such-program", "x")))
      )
      expect(error._tag).toBe("SpawnFailed")
      if (error._tag === "SpawnFailed") {
        expect(error.entity).toBe("ghost")
        expect(error.command).toContain("/nonexistent/ham-no-such-program")
      }
      expect(yield* registry).toEqual(before)
      expect((yield* entityNode("ghost")).status).toBe("placeholder")
    }).pipe(withHam()))

  it.live("an output file that cannot be opened is a typed error of the attach, not a crash of the host", () =>
    inTempDir("ham-process-", (dir) =>
      Effect.gen(function*() {
        const before = yield* registry
        const file = join(dir, "no-such-directory", "out.log")
        const error = yield* failureOf(
          Ham.attach(Entity.process("unwritable", Command.make("sleep", "31.79"), { output: { file } }))
        )
        expect(["SpawnFailed", "InvalidArgument"]).toContain(error._tag)
        expect(yield* registry).toEqual(before)
        yield* waitUntil("no process left", () => sleeping("31.79").length === 0, 1000)
      }).pipe(withHam())))
})

// ---------------------------------------------------------------------------------------------
// crash loops, signals, stop
// ---------------------------------------------------------------------------------------------

describe("process restarts the spawner is told of ahead of time", () => {
  /** a command whose every start appends its pid to `file` (then runs `then`, `exec sleep` by default) */
  const counted = (file: string, then: string) => Command.make("sh", "-c", `echo $$ >> ${file}; ${then}`)
  /** the pids of the starts so far */
  const startsIn = (file: string): Array<number> =>
    existsSync(file) ? readFileSync(file, "utf8").trim().split("\n").filter((l) => l !== "").map(Number) : []
  /** the spawner has taken in what the HAM told it (it reads it from its pipe) */
  const taken = Effect.sleep("300 millis")

  it.live("a child whose restart comes first is started again once, by the spawner; events in order", () =>
    inTempDir("ham-armed-", (dir) =>
      Effect.gen(function*() {
        const file = join(dir, "starts")
        const events = yield* Ham.subscribe
        const svc = yield* Ham.attach(Entity.process("svc", counted(file, "exec sleep 32.11")), { backoff: false })
        yield* Ham.condition(svc, CondDeath).pipe(Ham.restart)
        const first = yield* pidOf("svc")
        yield* taken
        process.kill(first, "SIGKILL")
        const seen = yield* awaitEvents(events, is("CondRestart", "svc"))
        expect(tagsOf(seen, "svc")).toEqual(["CondAttach", "CondAbnormalDeath", "CondDeath", "CondRestart"])
        const second = yield* pidOf("svc")
        expect(lastOf(seen)).toMatchObject({ _tag: "CondRestart", pid: second })
        expect(parentOf(second)).toBe((yield* Ham.snapshot).spawnerPid)
        yield* waitUntil("the second start written", () => startsIn(file).length >= 2)
        yield* taken
        expect(startsIn(file)).toEqual([first, second])
        expect(liveWithCmdline("sleep 32.11")).toEqual([second])
      }).pipe(withHam())))

  it.live("a restart disabled before the death: the spawner is told, and nothing is started at all", () =>
    inTempDir("ham-armed-", (dir) =>
      Effect.gen(function*() {
        const file = join(dir, "starts")
        const events = yield* Ham.subscribe
        const svc = yield* Ham.attach(Entity.process("svc", counted(file, "exec sleep 32.12")), { backoff: false })
        const death = yield* Ham.condition(svc, CondDeath).pipe(Ham.restart)
        const first = yield* pidOf("svc")
        yield* taken
        yield* Ham.control(yield* Ham.actionHandle(death, "restart"), "disable")
        yield* taken
        process.kill(first, "SIGKILL")
        yield* awaitEvents(events, is("CondDeath", "svc"))
        yield* taken
        expect(tagsOf(yield* drain(events), "svc")).toEqual([])
        expect(startsIn(file)).toEqual([first])
        expect(liveWithCmdline("sleep 32.12")).toEqual([])
      }).pipe(withHam())))

  it.live("a HAM that stops starts none of its children again", () =>
    inTempDir("ham-armed-", (dir) =>
      Effect.gen(function*() {
        const file = join(dir, "starts")
        yield* Effect.gen(function*() {
          const svc = yield* Ham.attach(Entity.process("svc", counted(file, "exec sleep 32.13")), { backoff: false })
          yield* Ham.condition(svc, CondDeath).pipe(Ham.restart)
          yield* taken
          yield* Ham.stop
        }).pipe(withHam())
        yield* taken
        expect(startsIn(file)).toHaveLength(1)
        expect(liveWithCmdline("sleep 32.13")).toEqual([])
      })))

  it.live("a crash loop told ahead of time still gives up after maxRestarts: never one start more", () =>
    inTempDir("ham-armed-", (dir) =>
      Effect.gen(function*() {
        const file = join(dir, "starts")
        const events = yield* Ham.subscribe
        const e = yield* Ham.entity("looper")
        yield* Ham.condition(e, CondDeath).pipe(Ham.restart)
        yield* Ham.conditionRaise(e, { type: RaiseTypeHam, class: RaiseClassRestartGaveUp }).pipe(Ham.log("gave up"))
        // each life lasts long enough for the spawner to be told of its restart
        yield* Ham.attach(Entity.process("looper", counted(file, "sleep 0.4; exit 1"), quiet), {
          restartIntensity: { maxRestarts: 3, within: "1 minute" },
          backoff: false
        })
        yield* awaitEvents(events, (event) => event._tag === "CondRaise" && event.entity === "looper", 10_000)
        yield* taken
        expect(startsIn(file)).toHaveLength(4)
        const node = yield* entityNode("looper")
        expect([node.status, node.stats.restarts, node.stats.deaths]).toEqual(["gaveUp", 3, 4])
      }).pipe(withHam())))
})

describe("a death's subscribers come first", () => {
  // spawner "inline": the restart forks the next child in this process (the spawner process, when
  // armed, forks it by itself before the HAM hears of the death)
  it.live("a subscriber that yields between two events sees CondDeath before the restart forks the next child", () =>
    Effect.gen(function*() {
      const line = "sleep 31.771"
      const events = yield* Ham.subscribe
      // the children of the entity alive as the subscriber sees each CondDeath
      const seen: Array<number> = []
      yield* Effect.fork(Effect.forever(Effect.flatMap(Queue.take(events), (event) =>
        Effect.sync(() => {
          if (event._tag === "CondDeath" && event.entity === "svc") seen.push(liveWithCmdline(line).length)
        }))))
      const svc = yield* Ham.attach(Entity.process("svc", Command.make("sh", "-c", `exec ${line}`)))
      yield* Ham.condition(svc, CondDeath).pipe(Ham.restart)
      for (let round = 0; round < 3; round++) {
        const pid = yield* pidOf("svc")
        process.kill(pid, "SIGKILL")
        yield* waitUntil("its death seen", () => seen.length === round + 1)
        yield* waitUntil("the next life", () => {
          const alive = liveWithCmdline(line)
          return alive.length === 1 && alive[0] !== pid
        })
      }
      expect(seen).toEqual([0, 0, 0])
    }).pipe(withHam({ spawner: "inline", backoff: false })))
})

describe("process crash loops and signals", () => {
  it.live("restart intensity and back-off apply to a crash-looping process: it gives up, never a busy loop", () =>
    Effect.gen(function*() {
      const events = yield* Ham.subscribe
      const started = yield* Clock.currentTimeMillis
      // the condition first: the process dies within a millisecond or two of its start
      const e = yield* Ham.entity("looper")
      yield* Ham.condition(e, CondDeath, { name: "recover" }).pipe(Ham.action(Action.named(Action.restart, "restart")))
      yield* Ham.attach(Entity.process("looper", sh("exit 1"), quiet), {
        restartIntensity: { maxRestarts: 3, within: "10 seconds" },
        backoff: Schedule.spaced("20 millis")
      })
      const gaveUp = (event: ConditionEvent) =>
        event._tag === "CondRaise" && event.entity === "looper" && event.type === RaiseTypeHam &&
        event.class === RaiseClassRestartGaveUp
      const seen = yield* awaitEvents(events, gaveUp)
      const elapsed = (yield* Clock.currentTimeMillis) - started
      expect(tagsOf(seen, "looper").filter((t) => t === "CondRestart")).toHaveLength(3)
      expect(tagsOf(seen, "looper").filter((t) => t === "CondDeath")).toHaveLength(4)
      // three waits of the back-off at least
      expect(elapsed).toBeGreaterThanOrEqual(60)
      const pids = seen.filter(is("CondDeath", "looper")).map((d) => deathOf(d).pid)
      expect(new Set(pids).size).toBe(4)
      // nothing more happens: no fifth life
      yield* Effect.sleep("150 millis")
      expect(yield* Queue.takeAll(events).pipe(Effect.map((c) => [...c].filter((x) => x.entity === "looper"))))
        .toEqual([])
      const node = yield* entityNode("looper")
      expect([node.status, node.stats.restarts, node.stats.deaths]).toEqual(["gaveUp", 3, 4])
      // the failure of the last restart is counted once its list is over
      const restart = actionNode("looper", "recover", "restart")
      yield* waitUntilEffect("the restart's failure", Effect.map(restart, (a) => a.failures > 0))
      expect([(yield* restart).runs, (yield* restart).failures]).toEqual([4, 1])
    }).pipe(withHam()))

  it.live("a hung child: SIGTERM with awaitExit fails, its SIGKILL alternate kills it", () =>
    Effect.gen(function*() {
      const events = yield* Ham.subscribe
      const e = yield* Ham.attach(Entity.process("hung", sh(`trap "" TERM; sleep 31.74`), quiet))
      yield* Ham.condition(e, CondRaise, { name: "hang" }).pipe(
        Ham.action(
          Action.signal("SIGTERM", { awaitExit: "300 millis" }).pipe(
            Action.orElse(Action.signal("SIGKILL")),
            Action.named("term")
          )
        )
      )
      const pid = yield* pidOf("hung")
      // let the shell install its trap before anything is sent
      yield* waitUntil("the sleep under the shell", () => sleeping("31.74").length > 0)
      const raisedAt = yield* Clock.currentTimeMillis
      yield* Ham.raise(e, one)
      const seen = yield* awaitEvents(events, is("CondDeath", "hung"))
      const elapsed = (yield* Clock.currentTimeMillis) - raisedAt
      const death = deathOf(lastOf(seen))
      expect(death).toMatchObject({ abnormal: true, pid, signal: "SIGKILL" })
      expect(elapsed).toBeGreaterThanOrEqual(250)
      expect(elapsed).toBeLessThan(3000)
      yield* barrier
      const term = yield* actionNode("hung", "hang", "term")
      expect([term.runs, term.failures]).toEqual([1, 1])
      expect(term.lastFailure).toContain("SIGTERM")
      // what was left of the group (the sleep) goes too
      yield* waitUntil("no sleep left", () => liveProcesses("sleep 31.74").length === 0, 2000)
    }).pipe(withHam()))

  it.live("signal with a pid: the signal goes to that process, not to the entity's; a pid that is gone fails", () =>
    Effect.gen(function*() {
      const nobody = unusedPid()
      const other = ChildProcess.spawn("sleep", ["31.76"], { stdio: "ignore" })
      const ended = new Promise<string | null>((resolve) => other.once("exit", (_code, signal) => resolve(signal)))
      const e = yield* Ham.attach(Entity.process("bystander", Command.make("sleep", "31.77"), quiet))
      yield* Ham.condition(e, CondRaise, { name: "send" }).pipe(
        Ham.action(Action.named(Action.signal("SIGTERM", { pid: other.pid! }), "to-other")),
        Ham.action(
          Action.signal("SIGTERM", { pid: nobody }).pipe(
            Action.orElse(Action.log("gone")),
            Action.named("to-nobody")
          )
        )
      )
      const pid = yield* pidOf("bystander")
      yield* Ham.raise(e, one)
      expect(yield* Effect.promise(() => ended)).toBe("SIGTERM")
      yield* barrier
      expect(isLive(pid)).toBe(true)
      expect((yield* entityNode("bystander")).status).toBe("running")
      const toNobody = yield* actionNode("bystander", "send", "to-nobody")
      expect([toNobody.runs, toNobody.failures]).toEqual([1, 1])
      expect(toNobody.lastFailure).toContain(`pid ${nobody}: ESRCH`)
    }).pipe(withHam()))

  it.live("SIGTERM with awaitExit succeeds when the process dies in time: the alternate does not run", () =>
    Effect.gen(function*() {
      const events = yield* Ham.subscribe
      const e = yield* Ham.attach(Entity.process("polite", Command.make("sleep", "31.75"), quiet))
      yield* Ham.condition(e, CondRaise, { name: "stop" }).pipe(
        Ham.action(
          Action.signal("SIGTERM", { awaitExit: "2 seconds" }).pipe(
            Action.orElse(Action.signal("SIGKILL")),
            Action.named("term")
          )
        )
      )
      yield* Ham.raise(e, one)
      const death = deathOf(lastOf(yield* awaitEvents(events, is("CondDeath", "polite"))))
      expect(death.signal).toBe("SIGTERM")
      // the raise's list has ended once a later raise went through the FIFO dispatcher
      yield* barrier
      const term = yield* actionNode("polite", "stop", "term")
      expect([term.runs, term.failures]).toEqual([1, 0])
    }).pipe(withHam()))

  it.live("Ham.stop: a child that ignores SIGTERM is killed after stopGrace; stop returns promptly", () =>
    Effect.gen(function*() {
      yield* Ham.attach(
        Entity.process("stubborn", sh(`trap "" TERM; sleep 31.76`), { output: "ignore", stopGrace: "300 millis" })
      )
      yield* waitUntil("the sleep under the shell", () => sleeping("31.76").length > 0)
      const started = yield* Clock.currentTimeMillis
      yield* Ham.stop
      const elapsed = (yield* Clock.currentTimeMillis) - started
      expect(elapsed).toBeGreaterThanOrEqual(250)
      expect(elapsed).toBeLessThan(2000)
      yield* waitUntil("no process left", () => liveProcesses("sleep 31.76").length === 0, 1000)
    }).pipe(withHam()))

  it.live("Ham.detach sends the stopSignal to the group; no death is reported; nothing is left", () =>
    inTempDir("ham-process-", (dir) =>
      Effect.gen(function*() {
        const marker = join(dir, "got-int")
        const events = yield* Ham.subscribe
        // the shell's background sleep ignores SIGINT (a non-interactive shell's async list), so it
        // outlives the shell: only the HAM's SIGKILL to the group removes it
        yield* Ham.attach(
          Entity.process("interruptible", sh(`trap 'echo int > "${marker}"; exit 0' INT; sleep 31.77 & wait`), {
            output: "ignore",
            stopSignal: "SIGINT",
            stopGrace: "2 seconds"
          })
        )
        yield* waitUntil("the sleep under the shell", () => sleeping("31.77").length > 0)
        yield* Ham.detach("interruptible")
        expect(readFileSync(marker, "utf8")).toBe("int\n")
        const seen = yield* awaitEvents(events, is("CondDetach", "interruptible"))
        expect(tagsOf(seen, "interruptible")).toEqual(["CondAttach", "CondDetach"])
        yield* waitUntil("no process left", () => liveProcesses("sleep 31.77").length === 0, 1000)
      }).pipe(withHam())))
})

// ---------------------------------------------------------------------------------------------
// no orphans
// ---------------------------------------------------------------------------------------------

describe("no orphans", () => {
  const family = (tag: string) => sh(`sleep ${tag} & sleep ${tag} & wait`)

  it.live("after Ham.stop, no grandchild is left (asked of the OS)", () =>
    Effect.gen(function*() {
      yield* Ham.attach(Entity.process("parent", family("31.51"), quiet))
      yield* waitUntil("both grandchildren", () => sleeping("31.51").length === 2)
      yield* Ham.stop
      yield* waitUntil("no process left", () => liveProcesses("31.51").length === 0, 1000)
    }).pipe(withHam()))

  it.live("after a SIGKILL of the parent, its children are killed with the group", () =>
    Effect.gen(function*() {
      const events = yield* Ham.subscribe
      yield* Ham.attach(Entity.process("parent", family("31.52"), quiet))
      yield* waitUntil("both grandchildren", () => sleeping("31.52").length === 2)
      const pid = yield* pidOf("parent")
      process.kill(pid, "SIGKILL")
      const death = deathOf(lastOf(yield* awaitEvents(events, is("CondDeath", "parent"))))
      expect(death.signal).toBe("SIGKILL")
      // the HAM is still running: the cleanup came from the death, not from a stop
      yield* waitUntil("no process left", () => liveProcesses("31.52").length === 0, 1000)
      expect((yield* entityNode("parent")).status).toBe("dead")
    }).pipe(withHam()))

  it.live("when the HAM's layer scope closes, no process is left", () =>
    Effect.gen(function*() {
      yield* Effect.gen(function*() {
        yield* Ham.attach(Entity.process("parent", family("31.53"), quiet))
        yield* waitUntil("both grandchildren", () => sleeping("31.53").length === 2)
      }).pipe(withHam())
      yield* waitUntil("no process left", () => liveProcesses("31.53").length === 0, 1000)
    }))
})

// ---------------------------------------------------------------------------------------------
// waitfor
// ---------------------------------------------------------------------------------------------

describe("waitfor", () => {
  /** a condition [waitfor (else "timed out"), "after"] on a raise; returns what it delivered */
  const waitCondition = (what: Action.WaitForTarget) =>
    Effect.gen(function*() {
      const outcome = yield* Queue.unbounded<string>()
      const e = yield* Ham.attach(Entity.fiber("waiter", Effect.never))
      yield* Ham.condition(e, CondRaise, { name: "wait" }).pipe(
        Ham.action(Action.waitfor(what).pipe(Action.orElse(Action.notify(outcome, "timed out")), Action.named("wait"))),
        Ham.notify(outcome, "after")
      )
      const started = yield* Clock.currentTimeMillis
      yield* Ham.raise(e, one)
      const first = yield* Queue.take(outcome).pipe(Effect.timeout("6 seconds"), Effect.orDie)
      const elapsed = (yield* Clock.currentTimeMillis) - started
      const rest = first === "after" ? [] : [yield* Queue.take(outcome).pipe(Effect.timeout("1 second"), Effect.orDie)]
      return { delivered: [first, ...rest], elapsed }
    })

  /** a Node child that listens on `port` after `delay` ms and answers every connection with "hi" */
  const listener = (port: number, delay: number) =>
    Command.make(
      process.execPath,
      "-e",
      `setTimeout(() => require("net").createServer((s) => s.end("hi")).listen(${port}, "127.0.0.1"), ${delay})`
    )

  it.live("a port: succeeds once a child starts listening", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      yield* Ham.attach(Entity.process("server", listener(port, 300), quiet))
      const { delivered, elapsed } = yield* waitCondition({ port, timeout: "3 seconds" })
      expect(delivered).toEqual(["after"])
      // it did wait for the listener
      expect(elapsed).toBeGreaterThanOrEqual(200)
      expect(elapsed).toBeLessThan(3000)
      expect((yield* actionNode("waiter", "wait", "wait")).failures).toBe(0)
    }).pipe(withHam()))

  it.live("a port: fails at the timeout when nothing listens, and its alternate runs", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const { delivered, elapsed } = yield* waitCondition({ port, timeout: "300 millis" })
      expect(delivered).toEqual(["timed out", "after"])
      expect(elapsed).toBeGreaterThanOrEqual(290)
      expect(elapsed).toBeLessThan(2000)
      const node = yield* actionNode("waiter", "wait", "wait")
      expect([node.runs, node.failures]).toEqual([1, 1])
      expect(node.lastFailure).toContain(String(port))
    }).pipe(withHam()))

  it.live("a path: succeeds once a child creates it", () =>
    inTempDir("ham-process-", (dir) =>
      Effect.gen(function*() {
        const path = join(dir, "ready.flag")
        yield* Ham.attach(Entity.process("maker", sh(`sleep 0.3; touch "${path}"; exec sleep 31.78`), quiet))
        const { delivered, elapsed } = yield* waitCondition({ path, timeout: "3 seconds" })
        expect(delivered).toEqual(["after"])
        expect(elapsed).toBeGreaterThanOrEqual(200)
        expect(elapsed).toBeLessThan(3000)
      }).pipe(withHam())))

  it.live("a path: fails at the timeout when it never appears, and its alternate runs", () =>
    inTempDir("ham-process-", (dir) =>
      Effect.gen(function*() {
        const { delivered, elapsed } = yield* waitCondition({ path: join(dir, "never"), timeout: "300 millis" })
        expect(delivered).toEqual(["timed out", "after"])
        expect(elapsed).toBeGreaterThanOrEqual(290)
        expect(elapsed).toBeLessThan(2000)
      }).pipe(withHam())))
})

/**
 * The inline launcher, whose next launch (after `slowNext`) takes that many ms more: before its
 * process is started, or after (the process runs, its life not yet returned)
 */
const delayedLauncher = (where: "before" | "after") =>
  Effect.map(Effect.provide(ProcessLauncher, layerInline.pipe(Layer.provide(NodeContext.layer))), (inline) => {
    let slow = 0
    const launcher = {
      launch: (request: Parameters<typeof inline.launch>[0]) => {
        const delay = Effect.sleep(slow)
        slow = 0
        return where === "before"
          ? Effect.zipRight(delay, inline.launch(request))
          : Effect.tap(inline.launch(request), () => delay)
      },
      helperPid: () => undefined
    }
    return {
      launcher,
      slowNext: (millis: number) => {
        slow = millis
      }
    }
  })

describe("process entities: an attach racing a restart", () => {
  it.live("an attach of a dead entity whose restart starts meanwhile: one process runs, not two", () =>
    Effect.gen(function*() {
      const marker = "31.63"
      // the next launch is slow (the attach's), the ones after it are not (the restart's)
      const { launcher, slowNext } = yield* delayedLauncher("before")
      yield* Effect.gen(function*() {
        const svc = yield* Ham.attach(Entity.process("svc", Command.make("sleep", marker), quiet))
        // its restart comes 100 ms after its death
        yield* Ham.condition(svc, CondDeath).pipe(Ham.action(Action.effect(Effect.sleep("100 millis"))), Ham.restart)
        const events = yield* Ham.subscribe
        process.kill(yield* pidOf("svc"), "SIGKILL")
        yield* awaitEvents(events, (e) => e._tag === "CondDeath")
        // attached again while it is dead: its process starts in 300 ms, the restart's meanwhile
        slowNext(300)
        const attached = yield* Effect.flip(Ham.attach(Entity.process("svc", Command.make("sleep", marker), quiet)))
          .pipe(
            Effect.either
          )
        yield* Effect.sleep("100 millis")
        expect(liveWithCmdline(`sleep ${marker}`)).toEqual([yield* pidOf("svc")])
        // the attach fails: the entity runs (its restart started it)
        expect(attached).toMatchObject({ _tag: "Right", right: { _tag: "DuplicateName", name: "svc" } })
      }).pipe(Effect.scoped, Effect.provide(Ham.layer()), Effect.provideService(ProcessLauncher, launcher))
      yield* waitUntil("no sleeper left", () => liveWithCmdline(`sleep ${marker}`).length === 0)
    }))

  it.live("an attach whose process runs while its restart is due: the restart waits, two never run at once", () =>
    Effect.gen(function*() {
      const marker = "31.64"
      // the next launch takes longer once its process runs (the attach's)
      const { launcher, slowNext } = yield* delayedLauncher("after")
      yield* Effect.gen(function*() {
        const svc = yield* Ham.attach(Entity.process("svc", Command.make("sleep", marker), quiet))
        // its restart comes 100 ms after its death
        yield* Ham.condition(svc, CondDeath).pipe(Ham.action(Action.effect(Effect.sleep("100 millis"))), Ham.restart)
        const events = yield* Ham.subscribe
        process.kill(yield* pidOf("svc"), "SIGKILL")
        yield* awaitEvents(events, (e) => e._tag === "CondDeath")
        slowNext(300)
        const attach = yield* Effect.fork(
          Effect.either(Ham.attach(Entity.process("svc", Command.make("sleep", marker), quiet)))
        )
        let most = 0
        for (let i = 0; i < 60; i++) {
          most = Math.max(most, liveWithCmdline(`sleep ${marker}`).length)
          yield* Effect.sleep("10 millis")
        }
        yield* Fiber.join(attach)
        expect(most).toBe(1)
        yield* waitUntil("one sleeper, the entity's", () => liveWithCmdline(`sleep ${marker}`).length === 1)
        expect(liveWithCmdline(`sleep ${marker}`)).toEqual([yield* pidOf("svc")])
      }).pipe(Effect.scoped, Effect.provide(Ham.layer()), Effect.provideService(ProcessLauncher, launcher))
      yield* waitUntil("no sleeper left", () => liveWithCmdline(`sleep ${marker}`).length === 0)
    }))
})
