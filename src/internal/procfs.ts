/**
 * Linux `/proc` readers for pid entities: the status line of a pid, whether it may be signalled,
 * its command line, working directory and environment (what a restart of it runs). Every reader is a plain function returning an `Effect`; they read with the
 * synchronous `node:fs` calls (a `/proc` read costs microseconds and never blocks on a disk), so
 * a poll loop makes no thread-pool hop.
 *
 * Liveness never uses `kill(pid, 0)`: it succeeds on a zombie, and process 1 on some machines
 * does not reap orphans. A pid is alive when `/proc/<pid>/stat` exists and its state is neither
 * `Z` (zombie) nor `X` (dead). To guard against pid reuse, compare `startTime` (clock ticks since
 * boot, field 22 of `stat`): a new process on a reused pid has a different one.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import { constants as osConstants } from "node:os"

// ---------------------------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------------------------

/**
 * The pid names no process (its `/proc/<pid>` entry does not exist, or the pid is not a positive
 * integer).
 *
 * @internal
 */
export class NoSuchProcess extends Schema.TaggedError<NoSuchProcess>()("NoSuchProcess", {
  pid: Schema.Number
}) {
  override get message(): string {
    return `no process with pid ${this.pid}`
  }
}

/**
 * A `/proc` file could not be read or parsed for another reason than the process being gone
 * (permissions, an unexpected format).
 *
 * @internal
 */
export class ProcfsError extends Schema.TaggedError<ProcfsError>()("ProcfsError", {
  path: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `cannot read ${this.path}: ${this.reason}`
  }
}

// ---------------------------------------------------------------------------------------------
// models
// ---------------------------------------------------------------------------------------------

/**
 * The fields of `/proc/<pid>/stat` the HAM uses.
 *
 * @internal
 */
export interface ProcStat {
  /** field 1 */
  readonly pid: number
  /** field 2, without its parentheses: the executable name, at most 15 bytes, any characters */
  readonly comm: string
  /** field 3: R, S, D, T, t, Z (zombie), X (dead), I, ... */
  readonly state: string
  /** field 4 */
  readonly ppid: number
  /** field 5: the process group id */
  readonly pgrp: number
  /** field 22: start time after boot, in clock ticks (tells a reused pid apart) */
  readonly startTime: number
}

/**
 * Whether a `stat` state letter is a live process (not a zombie `Z`, not dead `X`).
 *
 * @internal
 */
export const isLiveState = (state: string): boolean => state !== "Z" && state !== "X" && state !== "x"

// ---------------------------------------------------------------------------------------------
// parsers (pure)
// ---------------------------------------------------------------------------------------------

const toInt = (s: string | undefined): number | undefined => {
  if (s === undefined || !/^-?\d+$/.test(s)) return undefined
  const n = Number(s)
  return Number.isSafeInteger(n) ? n : undefined
}

/** the fields of a stat line after `comm` (field 3, the state, first): nothing after it can contain a `)` */
const fieldsAfterComm = (text: string): Array<string> => text.slice(text.lastIndexOf(")") + 1).trim().split(/\s+/)

/**
 * Parses the text of `/proc/<pid>/stat`. The `comm` field sits between the first `(` and the
 * *last* `)` of the line: it may itself contain spaces and parentheses, and nothing after it can
 * contain a `)`. Returns `None` for text that is not a stat line.
 *
 * @internal
 */
export const parseStat = (text: string): Option.Option<ProcStat> => {
  const open = text.indexOf("(")
  const close = text.lastIndexOf(")")
  if (open < 1 || close < open) return Option.none()
  const pid = toInt(text.slice(0, open).trim())
  const comm = text.slice(open + 1, close)
  const rest = fieldsAfterComm(text)
  const state = rest[0]
  const ppid = toInt(rest[1])
  const pgrp = toInt(rest[2])
  const startTime = toInt(rest[22 - 3])
  if (
    pid === undefined || state === undefined || state.length !== 1 || ppid === undefined || pgrp === undefined ||
    startTime === undefined
  ) {
    return Option.none()
  }
  return Option.some({ pid, comm, state, ppid, pgrp, startTime })
}

/**
 * Field 52 of a stat line, `exit_code` (Linux 3.5 and later): the wait status of a process that
 * has exited and not yet been reaped, as `waitpid` gives it to the parent. The kernel shows 0
 * there to a reader who may not inspect the process (see `exitStatusOf`). Undefined when the
 * line has no such field.
 *
 * @internal
 */
export const parseExitCode = (text: string): number | undefined => toInt(fieldsAfterComm(text)[52 - 3])

/**
 * How a process ended: it exited with a code, or a signal killed it (with a core dump or not).
 *
 * @internal
 */
export type WaitStatus =
  | { readonly _tag: "Exited"; readonly exitCode: number }
  | { readonly _tag: "Killed"; readonly signal: string; readonly coreDumped: boolean }

/** signal numbers to names (the first name of a number: SIGABRT, not SIGIOT) */
const signalNames = new Map<number, string>()
for (const [name, number] of Object.entries(osConstants.signals)) {
  if (!signalNames.has(number)) signalNames.set(number, name)
}

/**
 * Decodes a wait status: the low 7 bits are the signal that killed the process (0: it exited,
 * and bits 8-15 are its exit code), bit 7 says a core was dumped. Undefined for what is not the
 * status of an ended process (a stopped one's, 0x7f, or a number out of range).
 *
 * @internal
 */
export const decodeWaitStatus = (status: number): WaitStatus | undefined => {
  if (!Number.isSafeInteger(status) || status < 0 || status > 0xffff) return undefined
  const signo = status & 0x7f
  if (signo === 0) return (status & 0x80) !== 0 ? undefined : { _tag: "Exited", exitCode: status >> 8 }
  if (signo === 0x7f) return undefined
  return { _tag: "Killed", signal: signalNames.get(signo) ?? `signal ${signo}`, coreDumped: (status & 0x80) !== 0 }
}

/**
 * Splits a NUL-separated `/proc` file (cmdline, environ) into its entries; the trailing NUL
 * does not make an empty last entry.
 *
 * @internal
 */
export const splitNul = (text: string): ReadonlyArray<string> => {
  if (text.length === 0) return []
  const parts = text.split("\0")
  if (parts[parts.length - 1] === "") parts.pop()
  return parts
}

/**
 * Parses the text of `/proc/<pid>/environ` into a record (entries without `=` are skipped; the
 * first `=` separates name and value).
 *
 * @internal
 */
export const parseEnviron = (text: string): Record<string, string> => {
  const env: Record<string, string> = {}
  for (const entry of splitNul(text)) {
    const eq = entry.indexOf("=")
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1)
  }
  return env
}

// ---------------------------------------------------------------------------------------------
// readers
// ---------------------------------------------------------------------------------------------

const validPid = (pid: number): boolean => Number.isSafeInteger(pid) && pid > 0

/** Linux's largest pid_max (`PID_MAX_LIMIT` on 64-bit): the bound when /proc cannot tell */
const pidMaxLimit = 4_194_304

let knownPidMax: number | undefined

/**
 * The largest pid this system gives (`/proc/sys/kernel/pid_max`, read once; `PID_MAX_LIMIT` when
 * it cannot be read): pids run from 1 to it.
 *
 * @internal
 */
export const pidMax = (): number => {
  if (knownPidMax === undefined) {
    try {
      const max = Number(fs.readFileSync("/proc/sys/kernel/pid_max", "utf8").trim())
      knownPidMax = Number.isSafeInteger(max) && max > 0 ? max : pidMaxLimit
    } catch {
      knownPidMax = pidMaxLimit
    }
  }
  return knownPidMax
}

const errnoOf = (u: unknown): string | undefined =>
  typeof u === "object" && u !== null && "code" in u && typeof u.code === "string" ? u.code : undefined

const describe = (u: unknown): string => u instanceof Error ? u.message : String(u)

/** ENOENT / ESRCH on a per-pid file: the process is gone (or exited while being read) */
const isGone = (code: string | undefined): boolean => code === "ENOENT" || code === "ESRCH"

/** whether the pid's /proc directory exists (a zombie keeps it, with most links unreadable) */
const procDirExists = (pid: number): boolean => {
  try {
    fs.statSync(`/proc/${pid}`)
    return true
  } catch {
    return false
  }
}

/** reads a per-pid file as text: NoSuchProcess when gone, ProcfsError otherwise */
const readProcFile = (pid: number, file: string): Effect.Effect<string, NoSuchProcess | ProcfsError> => {
  if (!validPid(pid)) return Effect.fail(new NoSuchProcess({ pid }))
  const path = `/proc/${pid}/${file}`
  return Effect.try({
    try: () => fs.readFileSync(path, "utf8"),
    catch: (u) => isGone(errnoOf(u)) ? new NoSuchProcess({ pid }) : new ProcfsError({ path, reason: describe(u) })
  })
}

/**
 * The text of `/proc/<pid>/stat`, read at once (no Effect: a poll's hot path); undefined when it
 * cannot be read (the process is gone).
 *
 * @internal
 */
export const statTextOf = (pid: number): string | undefined => {
  if (!validPid(pid)) return undefined
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, "utf8")
  } catch {
    return undefined
  }
}

/** the ids of a `Uid:` or `Gid:` line of /proc/<pid>/status: real, effective, saved, filesystem */
const idsOf = (status: string, key: "Uid" | "Gid"): ReadonlyArray<number> =>
  (new RegExp(`^${key}:\\s*(.*)$`, "m").exec(status)?.[1] ?? "").split(/\s+/).filter((s) => s !== "").map(Number)

/**
 * Whether this process may read the exit status of `pid` (the kernel shows `exit_code` only to a
 * reader allowed to inspect the process: root, or a reader whose user and group are the
 * process's real, effective and saved ones). Read once, when a death is found.
 *
 * @internal
 */
export const mayReadExitStatus = (pid: number): boolean => {
  const uid = process.geteuid?.()
  const gid = process.getegid?.()
  if (uid === 0) return true
  if (uid === undefined || gid === undefined) return false
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, "utf8")
    const uids = idsOf(status, "Uid").slice(0, 3)
    const gids = idsOf(status, "Gid").slice(0, 3)
    return uids.length === 3 && gids.length === 3 && uids.every((id) => id === uid) && gids.every((id) => id === gid)
  } catch {
    return false
  }
}

/**
 * The wait status of `pid` from its stat line `text`, when the process has exited and is not yet
 * reaped (a zombie) and the status can be trusted: a 0 is believed only from a process this one
 * may inspect (to others the kernel shows 0 whatever the status). Undefined when unknown.
 *
 * @internal
 */
export const exitStatusOf = (text: string, pid: number): number | undefined => {
  const status = parseExitCode(text)
  return status === undefined || (status === 0 && !mayReadExitStatus(pid)) ? undefined : status
}

/**
 * `/proc/<pid>/stat` opened ahead of time, to be read later in one system call (`readOpenStat`);
 * undefined when it cannot be opened. The caller closes it.
 *
 * @internal
 */
export const openStat = (pid: number): number | undefined => {
  if (!validPid(pid)) return undefined
  try {
    return fs.openSync(`/proc/${pid}/stat`, "r")
  } catch {
    return undefined
  }
}

const statBuffer = Buffer.alloc(1024)

/** @internal the stat line through a descriptor `openStat` gave; undefined once the process is reaped */
export const readOpenStat = (fd: number): string | undefined => {
  try {
    return statBuffer.toString("latin1", 0, fs.readSync(fd, statBuffer, 0, statBuffer.length, 0))
  } catch {
    return undefined
  }
}

/**
 * How a process that is dying, or dead and not yet reaped, ended: the wait status from its stat
 * line `text`, once its leader thread is a zombie, or exiting (`PF_EXITING` in field 9) and the
 * only thread left (field 20). Read when its files have been seen closed, the status is set by
 * then. A 0 is not believed here (a process that closes its output as it exits may be read
 * before its status is set, and the kernel shows 0 to whoever may not inspect it): undefined
 * then, as for a live process, or one with other threads.
 *
 * @internal
 */
export const dyingStatusIn = (text: string): number | undefined => {
  const fields = fieldsAfterComm(text)
  if (fields.length < 50 || fields[20 - 3] !== "1") return undefined
  if (fields[0] !== "Z" && (Number(fields[9 - 3]) & 4) === 0) return undefined
  const status = toInt(fields[52 - 3])
  return status === undefined || status === 0 ? undefined : status
}

/**
 * Reads and parses `/proc/<pid>/stat`.
 *
 * @internal
 */
export const readStat = (pid: number): Effect.Effect<ProcStat, NoSuchProcess | ProcfsError> =>
  Effect.flatMap(readProcFile(pid, "stat"), (text) =>
    Option.match(parseStat(text), {
      onNone: () => Effect.fail(new ProcfsError({ path: `/proc/${pid}/stat`, reason: "unexpected format" })),
      onSome: Effect.succeed
    }))

/**
 * Sends signal 0 to the pid: `true` when it exists and we may signal it, `false` on `EPERM`,
 * `ESRCH` or an invalid pid. It succeeds on zombies: never use it for liveness.
 *
 * @internal
 */
export const canSignal = (pid: number): Effect.Effect<boolean> =>
  Effect.sync(() => {
    if (!validPid(pid)) return false
    try {
      process.kill(pid, 0)
      return true
    } catch {
      return false
    }
  })

/**
 * The command line of the pid, from `/proc/<pid>/cmdline` (NUL-separated). Empty for kernel
 * threads and zombies. A process that rewrote its argv (`process.title`) may show one entry.
 *
 * @internal
 */
export const readCmdline = (pid: number): Effect.Effect<ReadonlyArray<string>, NoSuchProcess | ProcfsError> =>
  Effect.map(readProcFile(pid, "cmdline"), splitNul)

/** @internal the target of a link in `/proc/<pid>`; `None` when it cannot be read */
export const readLink = (pid: number, link: string): Effect.Effect<Option.Option<string>, NoSuchProcess> => {
  if (!validPid(pid)) return Effect.fail(new NoSuchProcess({ pid }))
  return Effect.suspend(() => {
    try {
      return Effect.succeed(Option.some(fs.readlinkSync(`/proc/${pid}/${link}`)))
    } catch (u) {
      // a zombie keeps /proc/<pid> but its links answer ENOENT
      return isGone(errnoOf(u)) && !procDirExists(pid)
        ? Effect.fail(new NoSuchProcess({ pid }))
        : Effect.succeed(Option.none())
    }
  })
}

/**
 * The working directory of the pid (`readlink /proc/<pid>/cwd`); `None` when it cannot be read
 * (`EACCES` for another user's process, or a zombie).
 *
 * @internal
 */
export const readCwd = (pid: number): Effect.Effect<Option.Option<string>, NoSuchProcess> => readLink(pid, "cwd")

/**
 * The environment the pid was started with (`/proc/<pid>/environ`); `None` when it cannot be
 * read (another user's process).
 *
 * @internal
 */
export const readEnviron = (pid: number): Effect.Effect<Option.Option<Record<string, string>>, NoSuchProcess> =>
  readProcFile(pid, "environ").pipe(
    Effect.map((text) => Option.some(parseEnviron(text))),
    Effect.catchTag("ProcfsError", () => Effect.succeed(Option.none()))
  )
