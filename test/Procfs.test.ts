import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Option, Schedule } from "effect"
import * as cp from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as procStart from "../src/internal/procStart.js"
import * as procfs from "./procfs.js"

// ---------------------------------------------------------------------------------------------
// helpers: real children, bounded waits, nothing left behind
// ---------------------------------------------------------------------------------------------

/** spawns a child for the test's scope; the finalizer SIGKILLs its whole group (or itself) */
const spawnScoped = (command: string, args: ReadonlyArray<string>, options: cp.SpawnOptions = {}) =>
  Effect.acquireRelease(
    Effect.sync(() => cp.spawn(command, args, { stdio: ["ignore", "pipe", "ignore"], ...options })),
    (child) =>
      Effect.sync(() => {
        const pid = child.pid!
        // reaped already: its pid may belong to someone else by now
        if (child.exitCode !== null || child.signalCode !== null) return
        try {
          process.kill(options.detached === true ? -pid : pid, "SIGKILL")
        } catch {
          // already gone
        }
      })
  )

/** the first line the child writes on stdout */
const firstLine = (child: cp.ChildProcess) =>
  Effect.async<string>((resume) => {
    let text = ""
    child.stdout!.on("data", (chunk: Buffer) => {
      text += chunk.toString("utf8")
      const nl = text.indexOf("\n")
      if (nl >= 0) resume(Effect.succeed(text.slice(0, nl)))
    })
  }).pipe(Effect.timeout("5 seconds"), Effect.orDie)

/** waits until Node has reaped the child (at most 5 seconds) */
const exited = (child: cp.ChildProcess) =>
  Effect.async<void>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) resume(Effect.void)
    else child.once("exit", () => resume(Effect.void))
  }).pipe(Effect.timeout("5 seconds"), Effect.orDie)

/** polls `check` every 5 ms until it holds, for at most 5 seconds */
const waitUntil = <E>(check: Effect.Effect<boolean, E>) =>
  check.pipe(
    Effect.repeat({ until: (ok) => ok, schedule: Schedule.spaced("5 millis") }),
    Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new Error("condition not reached in 5 s") }),
    Effect.orDie
  )

const pidMax = Number(fs.readFileSync("/proc/sys/kernel/pid_max", "utf8").trim())

/** a stat line as the kernel writes it (52 fields), with the given comm */
const statLine = (pid: number, comm: string, state: string, ppid: number, pgrp: number, start: number) => {
  const fields = [String(pid), `(${comm})`, state, String(ppid), String(pgrp)]
  for (let field = 6; field <= 52; field++) fields.push(field === 22 ? String(start) : String(field * 10))
  return fields.join(" ") + "\n"
}

// ---------------------------------------------------------------------------------------------
// parsers
// ---------------------------------------------------------------------------------------------

describe("procfs parsers", () => {
  it("parses a stat line whose comm contains spaces and parentheses", () => {
    const stat = procfs.parseStat(statLine(4321, "my (odd) prog) x", "S", 17, 4300, 987654))
    expect(stat).toEqual(
      Option.some({ pid: 4321, comm: "my (odd) prog) x", state: "S", ppid: 17, pgrp: 4300, startTime: 987654 })
    )
  })

  it("parses an empty comm and a zombie state", () => {
    const stat = procfs.parseStat(statLine(9, "", "Z", 1, 9, 5))
    expect(stat).toEqual(Option.some({ pid: 9, comm: "", state: "Z", ppid: 1, pgrp: 9, startTime: 5 }))
  })

  it("rejects text that is not a stat line", () => {
    expect(procfs.parseStat("")).toEqual(Option.none())
    expect(procfs.parseStat("12 sleep S 1 12")).toEqual(Option.none())
    expect(procfs.parseStat("12 (sleep) S 1")).toEqual(Option.none())
    expect(procfs.parseStat("x (sleep) S 1 12 " + "0 ".repeat(30))).toEqual(Option.none())
  })

  it("reads the exit status of field 52 and decodes it as waitpid does", () => {
    expect(procfs.parseExitCode(statLine(9, "a) b", "Z", 1, 9, 5))).toBe(520)
    expect(procfs.parseExitCode("12 (sleep) S 1 12 " + "0 ".repeat(40))).toBeUndefined()
    expect(procfs.decodeWaitStatus(0)).toEqual({ _tag: "Exited", exitCode: 0 })
    expect(procfs.decodeWaitStatus(3 << 8)).toEqual({ _tag: "Exited", exitCode: 3 })
    expect(procfs.decodeWaitStatus(255 << 8)).toEqual({ _tag: "Exited", exitCode: 255 })
    expect(procfs.decodeWaitStatus(9)).toEqual({ _tag: "Killed", signal: "SIGKILL", coreDumped: false })
    expect(procfs.decodeWaitStatus(11 | 0x80)).toEqual({ _tag: "Killed", signal: "SIGSEGV", coreDumped: true })
    expect(procfs.decodeWaitStatus(6)).toEqual({ _tag: "Killed", signal: "SIGABRT", coreDumped: false })
    expect(procfs.decodeWaitStatus(40)).toEqual({ _tag: "Killed", signal: "signal 40", coreDumped: false })
    // not the status of an ended process: stopped, a core bit without a signal, out of range
    for (const status of [0x137f, 0x80, -1, 0x10000, 1.5]) expect(procfs.decodeWaitStatus(status)).toBeUndefined()
  })

  it("splits NUL-separated files and parses environ", () => {
    expect(procfs.splitNul("")).toEqual([])
    expect(procfs.splitNul("a\0b c\0\0d\0")).toEqual(["a", "b c", "", "d"])
    expect(procfs.parseEnviron("A=1\0B=x=y\0junk\0C=\0")).toEqual({ A: "1", B: "x=y", C: "" })
  })
})

// ---------------------------------------------------------------------------------------------
// readers against real processes
// ---------------------------------------------------------------------------------------------

describe("procfs readers", () => {
  it.live("reads its own stat", () =>
    Effect.gen(function*() {
      const stat = yield* procfs.readStat(process.pid)
      expect(stat.pid).toBe(process.pid)
      expect(stat.ppid).toBe(process.ppid)
      expect(stat.state).not.toBe("Z")
      expect(stat.startTime).toBeGreaterThan(0)
      expect(procStart.startTimeOf(process.pid)).toBe(stat.startTime)
      expect(yield* procfs.isAlive(process.pid)).toBe(true)
      expect(yield* procfs.canSignal(process.pid)).toBe(true)
    }))

  it.live("a pid that does not exist: NoSuchProcess, not alive, cannot be signalled", () =>
    Effect.gen(function*() {
      for (const pid of [pidMax + 1, 0, -1, 1.5]) {
        const exit = yield* Effect.exit(procfs.readStat(pid))
        expect(exit).toEqual(Exit.fail(new procfs.NoSuchProcess({ pid })))
        expect(yield* procfs.isAlive(pid)).toBe(false)
        expect(yield* procfs.canSignal(pid)).toBe(false)
        expect(procStart.startTimeOf(pid)).toBeUndefined()
      }
      const cmdline = yield* Effect.flip(procfs.readCmdline(pidMax + 1))
      expect(cmdline._tag).toBe("NoSuchProcess")
      const cwd = yield* Effect.flip(procfs.readCwd(pidMax + 1))
      expect(cwd._tag).toBe("NoSuchProcess")
      const env = yield* Effect.flip(procfs.readEnviron(pidMax + 1))
      expect(env._tag).toBe("NoSuchProcess")
    }))

  it.live("process 1 can be read but not signalled by an unprivileged user (or can, as root)", () =>
    Effect.gen(function*() {
      expect(yield* procfs.isAlive(1)).toBe(true)
      const root = process.getuid?.() === 0
      expect(yield* procfs.canSignal(1)).toBe(root)
    }))

  it.live("a live child is alive; its cmdline, cwd and environ are read", () =>
    Effect.gen(function*() {
      const cwd = fs.realpathSync(os.tmpdir())
      const child = yield* spawnScoped("sleep", ["30.123"], {
        cwd,
        env: { PATH: process.env.PATH, HAM_TEST_VAR: "a b=c", EMPTY: "" }
      })
      const pid = child.pid!
      // exec of sleep replaces the forked node image: wait until the cmdline is sleep's
      yield* waitUntil(Effect.map(Effect.orDie(procfs.readCmdline(pid)), (argv) => argv[0] === "sleep"))
      expect(yield* procfs.readCmdline(pid)).toEqual(["sleep", "30.123"])
      expect(yield* procfs.isAlive(pid)).toBe(true)
      const stat = yield* procfs.readStat(pid)
      expect(stat.comm).toBe("sleep")
      expect(stat.ppid).toBe(process.pid)
      expect(yield* procfs.readCwd(pid)).toEqual(Option.some(cwd))
      const exe = yield* procfs.readExe(pid)
      expect(Option.map(exe, (p) => p.endsWith("sleep"))).toEqual(Option.some(true))
      const env = yield* procfs.readEnviron(pid)
      expect(env).toEqual(Option.some({ PATH: process.env.PATH, HAM_TEST_VAR: "a b=c", EMPTY: "" }))
      expect(yield* procfs.descendants(process.pid)).toContain(pid)
    }).pipe(Effect.scoped))

  it.live("a SIGKILLed child not yet reaped is a zombie: not alive, though kill(pid, 0) succeeds", () =>
    Effect.gen(function*() {
      const child = yield* spawnScoped("sleep", ["30"])
      const pid = child.pid!
      yield* waitUntil(Effect.map(Effect.orDie(procfs.readCmdline(pid)), (argv) => argv[0] === "sleep"))
      expect(yield* procfs.isAlive(pid)).toBe(true)
      // all in one synchronous step, so Node's SIGCHLD handler cannot reap the child meanwhile
      const seen = yield* Effect.sync(() => {
        process.kill(pid, "SIGKILL")
        const deadline = Date.now() + 5000
        let state = ""
        while (state !== "Z" && Date.now() < deadline) {
          state = Option.match(procfs.parseStat(fs.readFileSync(`/proc/${pid}/stat`, "utf8")), {
            onNone: () => "",
            onSome: (s) => s.state
          })
        }
        return {
          state,
          alive: Effect.runSync(procfs.isAlive(pid)),
          startTime: procStart.startTimeOf(pid),
          canSignal: Effect.runSync(procfs.canSignal(pid)),
          cmdline: Effect.runSync(procfs.readCmdline(pid)),
          cwd: Effect.runSync(procfs.readCwd(pid))
        }
      })
      expect(seen).toEqual({
        state: "Z",
        alive: false,
        startTime: undefined,
        canSignal: true,
        cmdline: [],
        cwd: Option.none()
      })
      // once Node reaps it, the pid is gone altogether
      yield* waitUntil(Effect.map(Effect.exit(procfs.readStat(pid)), Exit.isFailure))
      expect(yield* Effect.flip(procfs.readStat(pid))).toEqual(new procfs.NoSuchProcess({ pid }))
    }).pipe(Effect.scoped))

  it.live("a SIGKILLed grandchild its parent has not reaped is a zombie: not alive, though kill(pid, 0) succeeds", () =>
    Effect.gen(function*() {
      // python starts sleep 30, prints its pid, and reaps it only when its own stdin closes
      const script = "import subprocess, sys\n" +
        "p = subprocess.Popen(['sleep', '30'])\n" +
        "print(p.pid, flush=True)\n" +
        "sys.stdin.read()\n" +
        "p.wait()\n"
      const child = yield* spawnScoped("python3", ["-c", script], { detached: true, stdio: ["pipe", "pipe", "ignore"] })
      const grandchild = Number(yield* firstLine(child))
      expect(yield* procfs.isAlive(grandchild)).toBe(true)
      expect((yield* procfs.readStat(grandchild)).ppid).toBe(child.pid)
      expect(yield* procfs.descendants(child.pid!)).toEqual([grandchild])
      process.kill(grandchild, "SIGKILL")
      yield* waitUntil(Effect.map(procfs.readStat(grandchild), (s) => s.state === "Z"))
      expect(yield* procfs.isAlive(grandchild)).toBe(false)
      expect(yield* procfs.canSignal(grandchild)).toBe(true)
      expect(yield* procfs.readCmdline(grandchild)).toEqual([])
      expect(yield* procfs.processGroupMembers(child.pid!)).toEqual([child.pid])
      expect(yield* procfs.descendants(child.pid!)).toEqual([])
      // let python reap it and exit; Node reaps python
      child.stdin!.end()
      yield* exited(child)
      yield* waitUntil(Effect.map(Effect.exit(procfs.readStat(grandchild)), Exit.isFailure))
    }).pipe(Effect.scoped))

  it.live("process group members and descendants of a detached group; none left after killing its members", () =>
    Effect.gen(function*() {
      const child = yield* spawnScoped("sh", ["-c", "sleep 30 & sleep 30 & echo started; wait"], { detached: true })
      const pgid = child.pid!
      expect(yield* firstLine(child)).toBe("started")
      yield* waitUntil(Effect.map(procfs.processGroupMembers(pgid), (pids) => pids.length === 3))
      // a child seen between its fork and its exec is still an `sh`
      yield* waitUntil(
        Effect.flatMap(
          procfs.descendants(pgid),
          (kids) =>
            Effect.map(
              Effect.forEach(kids, (pid) => Effect.orElseSucceed(procfs.readStat(pid), () => undefined)),
              (stats) => stats.every((s) => s?.comm === "sleep")
            )
        )
      )
      const members = yield* procfs.processGroupMembers(pgid)
      expect(members).toContain(pgid)
      const kids = yield* procfs.descendants(pgid)
      expect(kids).toHaveLength(2)
      expect([...kids, pgid].sort((a, b) => a - b)).toEqual(members)
      for (const pid of kids) {
        const stat = yield* procfs.readStat(pid)
        expect(stat).toMatchObject({ comm: "sleep", ppid: pgid, pgrp: pgid })
      }
      // our own group is not theirs
      expect(members).not.toContain(process.pid)
      expect(yield* procfs.descendants(process.pid)).toEqual(expect.arrayContaining([...members]))
      // kill the sleeps: sh's wait reaps them, then sh exits and Node reaps it (no zombie is left)
      for (const pid of kids) process.kill(pid, "SIGKILL")
      yield* exited(child)
      yield* waitUntil(Effect.map(procfs.processGroupMembers(pgid), (pids) => pids.length === 0))
      for (const pid of members) {
        expect(yield* Effect.flip(procfs.readStat(pid))).toEqual(new procfs.NoSuchProcess({ pid }))
      }
    }).pipe(Effect.scoped))
})
