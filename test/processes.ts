/**
 * Helpers shared by the test files that run real processes: what /proc says of a process (its
 * state, command line, whether it lives), finding live processes by command line, bounded polling
 * waits, bounded waits for events, a process entity's pid, free TCP ports and temporary directories.
 */
import { Effect } from "effect"
import type { Queue, Scope } from "effect"
import type { ConditionEvent } from "effect-ham/Condition"
import * as cp from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import * as NodeNet from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { ExitInfo, LaunchRequest } from "../src/internal/launch/launcher.js"
import { entityNode, takeUntil } from "./utils.js"

// ---------------------------------------------------------------------------------------------
// processes, asked of the OS
// ---------------------------------------------------------------------------------------------

/** the fields of /proc/<pid>/stat after the command name (field 3, the state, first); undefined when gone */
const statFields = (pid: number): Array<string> | undefined => {
  let stat: string
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8")
  } catch {
    return undefined
  }
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")
}

/** the state letter of /proc/<pid>/stat (the field after the command name); undefined when gone */
export const stateOf = (pid: number): string | undefined => statFields(pid)?.[0]

/** the command line of a process from /proc/<pid>/cmdline, its arguments separated by spaces; undefined when gone */
export const cmdlineOf = (pid: number): string | undefined => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter((s) => s.length > 0).join(" ")
  } catch {
    return undefined
  }
}

/** the parent pid of a process, from /proc/<pid>/stat */
export const parentOf = (pid: number): number => {
  const fields = statFields(pid)
  if (fields === undefined) throw new Error(`no process ${pid}`)
  return Number(fields[1])
}

/**
 * true when the process exists, is not a zombie and is not exiting: a process killed a moment ago
 * may still show as running ("R", its memory and files gone) while the kernel ends it, with its
 * leader marked exiting (`PF_EXITING`, 4, in the flags, field 9). The HAM counts such a process
 * dead (it reports the exit then), and so does this.
 */
export const isLive = (pid: number): boolean => {
  const fields = statFields(pid)
  return fields !== undefined && fields[0] !== "Z" && fields[0] !== "X" && (Number(fields[9 - 3]) & 4) === 0
}

/** a pid no process has (between the current pids, so that it is valid: at most pid_max) */
export const unusedPid = (): number => {
  const max = Number(readFileSync("/proc/sys/kernel/pid_max", "utf8").trim())
  for (let pid = max - 1; pid > 1; pid--) {
    if (stateOf(pid) === undefined) return pid
  }
  throw new Error("no free pid")
}

/** the pids of the live processes (not zombies, not this one) whose command line contains `fragment` */
export const liveProcesses = (fragment: string): Array<number> =>
  readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((pid) => pid !== process.pid && (cmdlineOf(pid) ?? "").includes(fragment) && isLive(pid))

/** the live processes whose command line (arguments joined by spaces) is exactly `line` */
export const liveWithCmdline = (line: string): Array<number> =>
  liveProcesses(line).filter((pid) => cmdlineOf(pid) === line)

/** a launcher's request for a command line (output to the log, extending the environment) that records its exits */
export const launchRequest = (entity: string, command: string, args: ReadonlyArray<string>, shell = false) => {
  const exits: Array<ExitInfo> = []
  const request: LaunchRequest = {
    entity,
    line: { command, args, env: {}, extendEnv: true, shell },
    env: {},
    output: "log",
    onLine: () => Effect.void,
    onExit: (_life, info) => {
      exits.push(info)
    }
  }
  return { exits, request }
}

// ---------------------------------------------------------------------------------------------
// a process to watch by pid that is not this process's child
// ---------------------------------------------------------------------------------------------

/** python3 forks the process (it runs the command given, or waits for signals), and its pid is printed (by the process itself once its signal handlers are set) */
const grandchildScript = [
  "import os, signal, sys",
  "if sys.argv[1] == 'reaped':",
  "    signal.signal(signal.SIGCHLD, signal.SIG_IGN)",
  "pid = os.fork()",
  "if pid == 0:",
  "    if len(sys.argv) > 2:",
  "        os.execvp(sys.argv[2], sys.argv[2:])",
  "    signal.signal(signal.SIGUSR1, lambda *_: os._exit(3))",
  "    signal.signal(signal.SIGUSR2, lambda *_: os._exit(0))",
  "    print(os.getpid(), flush=True)",
  "    while True:",
  "        signal.pause()",
  "if len(sys.argv) > 2:",
  "    print(pid, flush=True)",
  "sys.stdin.read()",
  "try:",
  "    os.kill(pid, signal.SIGKILL)",
  "    os.waitpid(pid, 0)",
  "except OSError:",
  "    pass"
].join("\n")

/**
 * A process for a pid entity that is a grandchild of this one (Node reaps a child of its own at
 * once, whatever watches it): python3 forks it and prints its pid. It runs `command` (with `cwd`
 * and `env`), or, without one, waits for signals: SIGUSR1 makes it exit with 3, SIGUSR2 with 0.
 *
 * - `"unreaped"`: python3 does not wait for it, so after its death it stays a zombie whose exit
 *   status `/proc/<pid>/stat` still holds;
 * - `"reaped"`: python3 ignores SIGCHLD, so the kernel reaps it the moment it dies (as when its
 *   parent waits for it): no zombie, its status is gone.
 *
 * When the scope closes, python3 kills it if it still runs, reaps it and exits. Returns both pids.
 */
export const grandchild = (
  mode: "unreaped" | "reaped",
  options: {
    readonly command?: ReadonlyArray<string>
    readonly cwd?: string
    readonly env?: NodeJS.ProcessEnv
  } = {}
): Effect.Effect<{ readonly pid: number; readonly parent: number }, never, Scope.Scope> =>
  Effect.gen(function*() {
    const parent = yield* Effect.acquireRelease(
      Effect.sync(() =>
        cp.spawn("python3", ["-c", grandchildScript, mode, ...(options.command ?? [])], {
          stdio: ["pipe", "pipe", "inherit"],
          ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
          ...(options.env === undefined ? {} : { env: options.env })
        })
      ),
      (child) =>
        Effect.gen(function*() {
          child.stdin!.end()
          yield* waitUntil("python3 to exit", () => child.exitCode !== null || child.signalCode !== null, 2000).pipe(
            Effect.catchAllDefect(() => Effect.sync(() => child.kill("SIGKILL")))
          )
        })
    )
    const pid = yield* Effect.async<number>((resume) => {
      let out = ""
      parent.stdout!.on("data", (chunk: Buffer) => {
        out += chunk.toString("utf8")
        if (out.includes("\n")) resume(Effect.succeed(Number(out.trim())))
      })
    }).pipe(
      Effect.timeoutFail({ duration: "3 seconds", onTimeout: () => "python3 printed no pid" }),
      Effect.orDie
    )
    // an exec'd command is up once its command line is its own
    if (options.command !== undefined) {
      const line = options.command.join(" ")
      yield* waitUntil(`pid ${pid} to run ${line}`, () => cmdlineOf(pid) === line, 2000)
    }
    return { pid, parent: parent.pid! }
  })

// ---------------------------------------------------------------------------------------------
// bounded waits (real time)
// ---------------------------------------------------------------------------------------------

/** polls `check` every 10 ms until it yields true; dies after `millis` */
export const waitUntilEffect = <E, R>(what: string, check: Effect.Effect<boolean, E, R>, millis = 3000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + millis
    while (!(yield* check)) {
      if (Date.now() > deadline) return yield* Effect.dieMessage(`timed out waiting for ${what}`)
      yield* Effect.sleep("10 millis")
    }
  })

/** polls `check` every 10 ms until it holds; dies after `millis` */
export const waitUntil = (what: string, check: () => boolean, millis = 3000) =>
  waitUntilEffect(what, Effect.sync(check), millis)

/** takes events until one satisfies `done` (all of them returned); dies after `millis` */
export const awaitEvents = (
  events: Queue.Dequeue<ConditionEvent>,
  done: (event: ConditionEvent) => boolean,
  millis = 5000
) =>
  takeUntil(events, done).pipe(
    Effect.timeoutFail({ duration: millis, onTimeout: () => "the expected event did not come" }),
    Effect.orDie
  )

/** the last event of a non-empty list */
export const lastOf = (events: ReadonlyArray<ConditionEvent>): ConditionEvent => events[events.length - 1]

/** a process entity's current pid from the tree; dies when it has none */
export const pidOf = (name: string) =>
  Effect.flatMap(
    entityNode(name),
    (node) => node.pid === undefined ? Effect.dieMessage(`no pid for ${name}`) : Effect.succeed(node.pid)
  )

// ---------------------------------------------------------------------------------------------
// ports and directories
// ---------------------------------------------------------------------------------------------

/** a TCP port nobody listens on (listened on with port 0, then closed) */
export const freePort = Effect.async<number>((resume) => {
  const server = NodeNet.createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

const makeTempDir = (prefix: string) => Effect.sync(() => mkdtempSync(join(tmpdir(), prefix)))

const removeDir = (dir: string) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))

/** a fresh temporary directory named after `prefix`, removed with the scope */
export const tempDir = (prefix: string) => Effect.acquireRelease(makeTempDir(prefix), removeDir)

/** runs `f` with a fresh temporary directory named after `prefix`, removed afterwards (after what `f` runs has stopped) */
export const inTempDir = <A, E, R>(prefix: string, f: (dir: string) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(makeTempDir(prefix), f, removeDir)
