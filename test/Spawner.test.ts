/**
 * The spawner process, with real processes: children are forked by it (or by the HAM itself with
 * `spawner: "inline"`), a SIGKILLed spawner takes its children with it and a new one takes over
 * the restarts, and a SIGKILLed HAM leaves no child behind. Every wait is bounded; the checks
 * read /proc.
 */
import { Command } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Layer, Logger } from "effect"
import { Entity, Ham, Tree } from "effect-ham"
import { CondDeath } from "effect-ham/Condition"
import * as ChildProcess from "node:child_process"
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import * as helper_ from "../src/internal/launch/helper.js"
import * as inline_ from "../src/internal/launch/inline.js"
import type { Authorisation, ExitInfo, LaunchRequest, Life, NextLife } from "../src/internal/launch/launcher.js"
import * as make_ from "../src/internal/launch/make.js"
import * as spawner_ from "../src/internal/launch/spawner.js"
import {
  awaitEvents,
  cmdlineOf,
  isLive,
  lastOf,
  launchRequest,
  liveWithCmdline,
  parentOf,
  pidOf,
  waitUntil
} from "./processes.js"
import { is, tagsOf, withHam } from "./utils.js"

const root = join(import.meta.dirname, "..")

const sh = (script: string) => Command.make("sh", "-c", script)

const spawnerPid = Effect.map(Ham.snapshot, (tree) => tree.spawnerPid)

describe("the spawner process", () => {
  it.live("a child is forked by the spawner, not by the HAM's process; the tree shows the spawner's pid", () =>
    Effect.gen(function*() {
      expect(yield* spawnerPid).toBeUndefined()
      yield* Ham.attach(Entity.process("svc", Command.make("sleep", "31.81")))
      const pid = yield* pidOf("svc")
      const spawner = yield* spawnerPid
      expect(spawner).toBeDefined()
      expect(spawner).not.toBe(process.pid)
      expect(parentOf(pid)).toBe(spawner)
      expect(parentOf(spawner!)).toBe(process.pid)
      expect(cmdlineOf(spawner!)).toContain("spawner.cjs")
      expect(yield* Effect.map(Ham.snapshot, Tree.render)).toContain(`spawner pid ${spawner}`)
    }).pipe(withHam()))

  it.live("spawner \"inline\": the HAM's own process forks the child; no spawner runs", () =>
    Effect.gen(function*() {
      yield* Ham.attach(Entity.process("svc", Command.make("sleep", "31.82")))
      const pid = yield* pidOf("svc")
      expect(parentOf(pid)).toBe(process.pid)
      expect(yield* spawnerPid).toBeUndefined()
    }).pipe(withHam({ spawner: "inline" })))

  it.live("closing the HAM ends its spawner (and the children it forked)", () =>
    Effect.gen(function*() {
      const { child, spawner } = yield* Effect.gen(function*() {
        yield* Ham.attach(Entity.process("svc", Command.make("sleep", "31.84")))
        return { child: yield* pidOf("svc"), spawner: (yield* spawnerPid)! }
      }).pipe(withHam())
      yield* waitUntil("the spawner and its child gone", () => !isLive(spawner) && !isLive(child))
      expect(liveWithCmdline("sleep 31.84")).toEqual([])
    }))

  it.live("an unknown spawner option is InvalidArgument (\"executor\" is no longer one)", () =>
    Effect.gen(function*() {
      for (const spawner of ["fork-server", "executor"]) {
        const exit = yield* Effect.exit(
          Layer.build(Ham.layer({ spawner: spawner as "inline" })).pipe(Effect.scoped)
        )
        expect(Exit.isFailure(exit)).toBe(true)
        if (Exit.isFailure(exit)) expect(JSON.stringify(exit.cause)).toContain("InvalidArgument")
      }
    }))

  it.live("the spawner SIGKILLed: its children die with it and are reported; a new spawner starts the restart", () =>
    Effect.gen(function*() {
      const events = yield* Ham.subscribe
      const svc = yield* Ham.attach(Entity.process("svc", Command.make("sleep", "31.83")), { backoff: false })
      yield* Ham.condition(svc, CondDeath).pipe(Ham.restart)
      const first = yield* pidOf("svc")
      const spawner = (yield* spawnerPid)!
      process.kill(spawner, "SIGKILL")
      const seen = yield* awaitEvents(events, is("CondRestart", "svc"))
      expect(tagsOf(seen, "svc")).toEqual(["CondAttach", "CondAbnormalDeath", "CondDeath", "CondRestart"])
      const death = seen.find(is("CondDeath", "svc"))!
      expect(death).toMatchObject({ pid: first, signal: "SIGKILL" })
      const restart = lastOf(seen)
      const second = restart._tag === "CondRestart" ? restart.pid! : -1
      yield* waitUntil("the first child gone", () => !isLive(first))
      const newSpawner = (yield* spawnerPid)!
      expect(newSpawner).not.toBe(spawner)
      expect(parentOf(second)).toBe(newSpawner)
      expect(liveWithCmdline("sleep 31.83")).toEqual([second])
    }).pipe(withHam()))

  /** starts the host fixture; resolves with the line it prints once it is up */
  const startHost = (marker: string, spawner: "process" | "inline", mode = "") =>
    Effect.async<{ host: number; svc: number; spawner?: number }, string>((resume) => {
      const child = ChildProcess.spawn(
        process.execPath,
        ["--conditions=source", "--import", "tsx", "test/fixtures/ham-host.ts", marker, spawner, mode],
        { cwd: root, stdio: ["ignore", "pipe", "inherit"] }
      )
      let out = ""
      child.stdout.on("data", (chunk: Buffer) => {
        out += chunk.toString("utf8")
        if (out.includes("\n")) resume(Effect.succeed(JSON.parse(out.split("\n")[0])))
      })
      child.on("exit", (code) => resume(Effect.fail(`the host exited (${code}) before it was up`)))
    }).pipe(Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => "the host did not come up" }), Effect.orDie)

  it.live(
    "the HAM's process SIGKILLed: the spawner kills its children and exits; no orphan is left",
    () =>
      Effect.gen(function*() {
        const marker = String(process.pid)
        const up = yield* startHost(marker, "process")
        expect(up.spawner).toBeDefined()
        expect(isLive(up.svc)).toBe(true)
        expect(parentOf(up.svc)).toBe(up.spawner)
        process.kill(up.host, "SIGKILL")
        yield* waitUntil("the child and the spawner gone", () => !isLive(up.svc) && !isLive(up.spawner!), 5000)
        expect(liveWithCmdline(`sleep 3600.${marker}`)).toEqual([])
      }),
    40_000
  )

  it.live(
    "the HAM's process SIGKILLed: the private directories it left (notify, spawner) are removed by the next HAM",
    () =>
      Effect.gen(function*() {
        const marker = `${process.pid}2`
        const up = yield* startHost(marker, "process")
        const parent = realpathSync(tmpdir())
        const leftBy = (pid: number) =>
          readdirSync(parent).filter((name) => name.startsWith(`ham-${pid}-`) || name.startsWith(`ham-spawner-${pid}-`))
        // made while it runs (none is removed while its process lives)
        expect(leftBy(up.host).map((name) => name.replace(/-[A-Za-z0-9]{6}$/, "")).sort()).toEqual([
          `ham-${up.host}`,
          `ham-spawner-${up.host}`
        ])
        process.kill(up.host, "SIGKILL")
        yield* waitUntil("the host, its child and its spawner gone", () =>
          !isLive(up.host) && !isLive(up.svc) && !isLive(up.spawner!), 5000)
        expect(leftBy(up.host)).toHaveLength(2)
        // a new HAM, whose first child starts its spawner: both kinds are swept
        yield* Effect.gen(function*() {
          yield* Ham.attach(Entity.process("svc", Command.make("sleep", "31.85")))
          yield* pidOf("svc")
          expect(leftBy(up.host)).toEqual([])
        }).pipe(withHam())
        expect(liveWithCmdline(`sleep 3600.${marker}`)).toEqual([])
      }),
    40_000
  )

  it.live(
    "the HAM's process SIGKILLed as its child dies, which the spawner may start again at once: no orphan is left",
    () =>
      Effect.gen(function*() {
        const marker = `${process.pid}1`
        const up = yield* startHost(marker, "process", "restart")
        // the spawner is told the restart ahead of time: let it take that in
        yield* Effect.sleep("300 millis")
        process.kill(up.svc, "SIGKILL")
        process.kill(up.host, "SIGKILL")
        yield* waitUntil("the spawner gone", () => !isLive(up.spawner!), 5000)
        yield* Effect.sleep("100 millis")
        expect(liveWithCmdline(`sleep 3600.${marker}`)).toEqual([])
      }),
    40_000
  )

  it.live(
    "a program that only waits for its child's death gets it: the process does not end before (either spawner)",
    () =>
      Effect.gen(function*() {
        for (const spawner of ["process", "inline"] as const) {
          const output = yield* Effect.async<string>((resume) => {
            ChildProcess.execFile(
              process.execPath,
              ["--conditions=source", "--import", "tsx", "test/fixtures/ham-host.ts", "-", spawner, "await-death"],
              { cwd: root, timeout: 30_000 },
              (error, stdout) => resume(Effect.succeed(`${error === null ? "" : `error: ${error.message}\n`}${stdout}`))
            )
          })
          expect(output).toBe("death: exit 3\n")
        }
      }),
    70_000
  )

  /**
   * A talker (exits 2 after writing to stderr) and a victim (`sleep <seconds>`, killed by
   * SIGTERM and restarted): their deaths, the restart of the same command line, nothing left.
   * `forker`: who must have forked the victim.
   */
  const livesOf = (
    mode: "process" | "inline",
    lines: { readonly talker: Command.Command; readonly victim: Command.Command; readonly seconds: string },
    forker: Effect.Effect<number | undefined, never, Ham.Ham>
  ) =>
    Effect.gen(function*() {
      const sleeper = `sleep ${lines.seconds}`
      yield* Effect.gen(function*() {
        const events = yield* Ham.subscribe
        yield* Ham.attach(Entity.process("talker", lines.talker))
        const talked = yield* awaitEvents(events, is("CondDeath", "talker"))
        expect(lastOf(talked)).toMatchObject({ exitCode: 2, abnormal: true, stderr: ["e1", "e2"] })

        const victim = yield* Ham.attach(Entity.process("victim", lines.victim), { backoff: false })
        yield* Ham.condition(victim, CondDeath).pipe(Ham.restart)
        const first = yield* pidOf("victim")
        expect(parentOf(first)).toBe(yield* forker)
        expect(cmdlineOf(first)).toBe(sleeper)
        process.kill(first, "SIGTERM")
        const seen = yield* awaitEvents(events, is("CondRestart", "victim"))
        expect(seen.find(is("CondDeath", "victim"))).toMatchObject({ pid: first, signal: "SIGTERM" })
        const restart = lastOf(seen)
        const second = restart._tag === "CondRestart" ? restart.pid! : -1
        expect(second).not.toBe(first)
        expect(cmdlineOf(second)).toBe(sleeper)
      }).pipe(withHam({ spawner: mode }))
      yield* waitUntil("no sleeper left", () => liveWithCmdline(sleeper).length === 0)
    })

  for (const mode of ["process", "inline"] as const) {
    it.live(`spawner "${mode}": exit code, signal name, stderr tail, restart of the same command line, nothing left`, () =>
      livesOf(
        mode,
        {
          talker: sh("echo out; echo e1 >&2; echo e2 >&2; exit 2"),
          victim: Command.make("sleep", "31.85"),
          seconds: "31.85"
        },
        mode === "process" ? spawnerPid : Effect.succeed(process.pid)
      ))

    it.live(`spawner "${mode}": a pipeline goes through the platform's executor (forked here), with the same results`, () =>
      livesOf(
        mode,
        {
          talker: sh("echo out").pipe(Command.pipeTo(sh("cat; echo e1 >&2; echo e2 >&2; exit 2"))),
          victim: sh("echo in").pipe(Command.pipeTo(Command.make("sleep", "31.86"))),
          seconds: "31.86"
        },
        Effect.succeed(process.pid)
      ))
  }

  it.live(
    "each child gets its own environment, also past the environments the spawner keeps",
    () =>
      Effect.gen(function*() {
        const spawner = yield* helper_.make()
        /**
         * spawns `sh -c 'echo $X >&2'` with X = value; resolves with what it wrote, once it has
         * exited and its output has ended (the two come in either order)
         */
        const run = (env: Record<string, string>) =>
          Effect.gen(function*() {
            let text = ""
            let ends = 0
            const done = yield* Deferred.make<string>()
            const ended = () => {
              if (++ends === 2) Deferred.unsafeDone(done, Effect.succeed(text))
            }
            yield* spawner.spawn(
              { command: "sh", args: ["-c", "echo $X >&2"], env, shell: false, stdout: false },
              {
                onData: (_fd, chunk) => {
                  text += chunk.toString("utf8")
                },
                onOutputClosed: ended,
                onExit: ended
              }
            )
            return (yield* Deferred.await(done)).trim()
          })
        const envs = Array.from(
          { length: 300 },
          (_, i) => ({ PATH: process.env.PATH ?? "/bin:/usr/bin", X: `value-${i}` })
        )
        for (const env of envs) expect(yield* run(env)).toBe(env.X)
        // the first ones were let go by now: they are sent again
        expect(yield* run(envs[0])).toBe("value-0")
        expect(yield* run(envs[299])).toBe("value-299")
        expect(yield* run(envs[1])).toBe("value-1")
      }).pipe(Effect.scoped),
    60_000
  )

  it.live("a spawner that cannot start: the spawn is made by this process instead, and later ones too", () =>
    Effect.gen(function*() {
      const broken = yield* helper_.make({ execPath: "/nonexistent/ham-node" })
      expect(broken.available()).toBe(true)
      expect(
        yield* Effect.flip(broken.spawn(
          { command: "sleep", args: ["31.87"], env: {}, shell: false, stdout: false },
          { onData: () => {}, onOutputClosed: () => {}, onExit: () => {} }
        ))
      ).toContain("the spawner could not run")
      expect(broken.available()).toBe(false)
      expect(liveWithCmdline("sleep 31.87")).toEqual([])
    }).pipe(Effect.scoped))

  it.live("the spawner launcher whose helper cannot start: this process spawns, with a warning, now and later", () => {
    const logged: Array<string> = []
    const logger = Logger.replace(Logger.defaultLogger, Logger.make(({ message }) => logged.push(String(message))))
    return Effect.gen(function*() {
      const launcher = yield* spawner_.make({ execPath: "/nonexistent/ham-node" })
      const start = () => launcher.launch({ ...launchRequest("svc", "sleep", ["31.87"]).request, output: "ignore" })
      const first = yield* start()
      expect(parentOf(first.pid)).toBe(process.pid)
      expect(logged.filter((line) => line.includes("the HAM's own process spawns its children"))).toHaveLength(1)
      const second = yield* start()
      expect(parentOf(second.pid)).toBe(process.pid)
      expect(launcher.helperPid()).toBeUndefined()
      yield* first.stop("SIGTERM", 1000)
      yield* second.stop("SIGTERM", 1000)
      expect(liveWithCmdline("sleep 31.87")).toEqual([])
    }).pipe(Effect.scoped, Effect.provide(NodeContext.layer), Effect.provide(logger))
  })

  it.live("the helper's script lives in a private directory (0700), removed with the launcher", () =>
    Effect.gen(function*() {
      const { dir, helper } = yield* Effect.gen(function*() {
        const launcher = yield* spawner_.make()
        const life = yield* launcher.launch({ ...launchRequest("svc", "sleep", ["31.88"]).request, output: "ignore" })
        const helper = launcher.helperPid()!
        expect(parentOf(life.pid)).toBe(helper)
        const script = readFileSync(`/proc/${helper}/cmdline`, "utf8").split("\0")[1]
        expect(script).toMatch(/spawner\.cjs$/)
        const dir = dirname(script)
        expect(statSync(dir).mode & 0o777).toBe(0o700)
        yield* life.stop("SIGTERM", 1000)
        return { dir, helper }
      }).pipe(Effect.scoped, Effect.provide(NodeContext.layer))
      expect(existsSync(dir)).toBe(false)
      yield* waitUntil("the helper gone", () => !isLive(helper))
    }))

  for (const mode of ["process", "inline"] as const) {
    it.live(`spawner "${mode}": a grandchild holding stderr open does not hold the death back`, () =>
      Effect.gen(function*() {
        const events = yield* Ham.subscribe
        // the background sleep keeps the pipe of stderr open for 2 s after its parent's exit
        yield* Ham.attach(Entity.process("holder", sh("echo before >&2; sleep 2.5 & exit 3")))
        const seen = yield* awaitEvents(events, is("CondDeath", "holder"), 1500)
        expect(lastOf(seen)).toMatchObject({ exitCode: 3, stderr: ["before"] })
        // what is left of its group goes with the life
        yield* waitUntil("the grandchild gone", () => liveWithCmdline("sleep 2.5").length === 0)
      }).pipe(withHam({ spawner: mode })))
  }

  describe("a death reported when the child's stderr ends (its wait status read from /proc)", () => {
    /** a shell line launched by the spawner; its exits, and the stdout lines seen by each exit */
    const shLife = (script: string, output: "log" | "ignore" = "log") => {
      const { exits, request } = launchRequest("svc", "sh", ["-c", script])
      const lines: Array<string> = []
      const linesAtExit: Array<number> = []
      const logged: LaunchRequest = {
        ...request,
        output,
        onLine: (stream, line) => Effect.sync(() => stream === "stdout" && lines.push(line)),
        onExit: (life, info, next) => {
          linesAtExit.push(lines.length)
          request.onExit(life, info, next)
        }
      }
      return { exits, lines, linesAtExit, request: logged }
    }

    it.live("exit codes and signal names, output logged or ignored", () =>
      Effect.gen(function*() {
        const launcher = yield* spawner_.make()
        const cases: ReadonlyArray<readonly [string, ExitInfo]> = [
          ["exit 7", { exitCode: 7 }],
          ["exit 0", { exitCode: 0 }],
          ["exit 255", { exitCode: 255 }],
          ["kill -TERM $$", { signal: "SIGTERM" }],
          ["kill -USR1 $$", { signal: "SIGUSR1" }],
          ["kill -KILL $$", { signal: "SIGKILL" }]
        ]
        for (const output of ["log", "ignore"] as const) {
          for (const [script, expected] of cases) {
            const { exits, request } = shLife(`echo x; echo y >&2; ${script}`, output)
            yield* launcher.launch(request)
            yield* waitUntil(`the exit of ${script}`, () => exits.length === 1)
            expect([script, output, exits[0]]).toEqual([script, output, expected])
          }
        }
      }).pipe(Effect.scoped, Effect.provide(NodeContext.layer)))

    it.live("a child that closes its stderr and goes on is not dead: its exit comes when it exits", () =>
      Effect.gen(function*() {
        const launcher = yield* spawner_.make()
        const { exits, request } = shLife("exec 2>&-; sleep 0.6; exit 4")
        yield* launcher.launch(request)
        yield* Effect.sleep("300 millis")
        expect(exits).toEqual([])
        yield* waitUntil("its exit", () => exits.length === 1)
        expect(exits).toEqual([{ exitCode: 4 }])
      }).pipe(Effect.scoped, Effect.provide(NodeContext.layer)))

    it.live("the last stdout lines of a child come before its exit", () =>
      Effect.gen(function*() {
        const launcher = yield* spawner_.make()
        // written just before the child dies: often still in the pipe when its stderr ends
        for (let round = 0; round < 40; round++) {
          const { exits, lines, linesAtExit, request } = shLife("seq 1 400; kill -KILL $$")
          yield* launcher.launch(request)
          yield* waitUntil("its exit", () => exits.length === 1)
          expect(exits[0]).toEqual({ signal: "SIGKILL" })
          expect(linesAtExit).toEqual([400])
          expect(lines[399]).toBe("400")
        }
      }).pipe(Effect.scoped, Effect.provide(NodeContext.layer)))
  })

  describe("a life armed to start again (a restart authorised ahead of time)", () => {
    /** a request for `sleep <seconds>` (output ignored) whose exits are recorded, with the next life given */
    const sleeper = (seconds: string, command: ReadonlyArray<string> = ["sleep", seconds]) => {
      const exits: Array<{ readonly life: Life; readonly info: ExitInfo; readonly next: NextLife | undefined }> = []
      const request: LaunchRequest = {
        ...launchRequest("svc", command[0], command.slice(1)).request,
        output: "ignore",
        onExit: (life, info, next) => {
          exits.push({ life, info, next })
        }
      }
      /** the `n`-th exit (from 1), once reported */
      const exit = (n: number) =>
        Effect.zipRight(waitUntil(`exit ${n}`, () => exits.length >= n), Effect.sync(() => exits[n - 1]))
      return { exit, exits, request }
    }
    const abnormal: Authorisation = { abnormal: true, normal: false, afterMillis: 0 }
    /** the forker has taken the message in (the spawner reads it from its pipe) */
    const taken = Effect.sleep("150 millis")

    const seconds = "31.91"

    it.live("an armed life killed: the spawner starts the next at once; it comes with the exit and is taken up", () =>
      Effect.gen(function*() {
        const launcher = yield* spawner_.make()
        const { exit, request } = sleeper(seconds)
        const first = yield* launcher.launch(request)
        first.arm(abnormal)
        yield* taken
        process.kill(first.pid, "SIGKILL")
        const died = yield* exit(1)
        expect(died.info).toEqual({ signal: "SIGKILL" })
        expect(died.next).toBeDefined()
        const second = yield* died.next!.take
        expect(second.pid).not.toBe(first.pid)
        expect(parentOf(second.pid)).toBe(launcher.helperPid())
        expect(liveWithCmdline(`sleep ${seconds}`)).toEqual([second.pid])
        // the next life is not armed: its death starts nothing
        process.kill(second.pid, "SIGKILL")
        const again = yield* exit(2)
        expect(again.life).toBe(second)
        expect(again.next).toBeUndefined()
        yield* second.stop("SIGTERM", 1000)
        yield* taken
        expect(liveWithCmdline(`sleep ${seconds}`)).toEqual([])
      }).pipe(Effect.scoped, Effect.provide(NodeContext.layer)))

    it.live("an exit the authorisation does not cover starts nothing", () =>
      Effect.gen(function*() {
        const launcher = yield* spawner_.make()
        const cases: ReadonlyArray<{ readonly arm: (life: Life) => void; readonly kill: boolean }> = [
          // an exit with code 0, when only abnormal exits are covered
          { arm: (life) => life.arm(abnormal), kill: false },
          // too soon
          { arm: (life) => life.arm({ ...abnormal, afterMillis: 60_000 }), kill: true },
          // withdrawn
          { arm: (life) => (life.arm(abnormal), life.arm(undefined)), kill: true }
        ]
        for (const { arm, kill } of cases) {
          const { exit, request } = sleeper(seconds, kill ? ["sleep", seconds] : ["sh", "-c", "sleep 0.4"])
          const life = yield* launcher.launch(request)
          arm(life)
          yield* taken
          if (kill) process.kill(life.pid, "SIGKILL")
          const ended = yield* exit(1)
          expect(ended.info).toEqual(kill ? { signal: "SIGKILL" } : { exitCode: 0 })
          expect(ended.next).toBeUndefined()
          yield* life.stop("SIGKILL", 0)
        }
        yield* taken
        expect(liveWithCmdline(`sleep ${seconds}`)).toEqual([])
      }).pipe(Effect.scoped, Effect.provide(NodeContext.layer)))

    it.live("an armed life stopped is not started again (a stop withdraws the authorisation first)", () =>
      Effect.gen(function*() {
        const launcher = yield* spawner_.make()
        const { exit, request } = sleeper(seconds)
        const life = yield* launcher.launch(request)
        life.arm({ abnormal: true, normal: true, afterMillis: 0 })
        yield* taken
        yield* life.stop("SIGTERM", 2000)
        const stopped = yield* exit(1)
        expect(stopped.info).toEqual({ signal: "SIGTERM" })
        expect(stopped.next).toBeUndefined()
        yield* taken
        expect(liveWithCmdline(`sleep ${seconds}`)).toEqual([])
      }).pipe(Effect.scoped, Effect.provide(NodeContext.layer)))

    it.live("a next life let go is killed", () =>
      Effect.gen(function*() {
        const launcher = yield* spawner_.make()
        const { exit, request } = sleeper(seconds)
        const life = yield* launcher.launch(request)
        life.arm(abnormal)
        yield* taken
        process.kill(life.pid, "SIGKILL")
        const died = yield* exit(1)
        died.next!.discard()
        yield* waitUntil("the next life gone", () => liveWithCmdline(`sleep ${seconds}`).length === 0)
      }).pipe(Effect.scoped, Effect.provide(NodeContext.layer)))

    it.live("a life forked in this process takes no authorisation: its exit never comes with a next life", () =>
      Effect.gen(function*() {
        const launcher = yield* make_.build(inline_.layerInline)
        const { exit, request } = sleeper("31.92")
        const life = yield* launcher.launch(request)
        life.arm({ abnormal: true, normal: true, afterMillis: 0 })
        process.kill(life.pid, "SIGKILL")
        const died = yield* exit(1)
        expect(died.info).toEqual({ signal: "SIGKILL" })
        expect(died.next).toBeUndefined()
        yield* taken
        expect(liveWithCmdline("sleep 31.92")).toEqual([])
      }).pipe(Effect.scoped, Effect.provide(NodeContext.layer)))
  })
})
