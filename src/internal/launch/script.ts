/**
 * The spawner's script: the plain Node program (no Effect, no application code) the spawner's
 * helper process runs (helper.ts).
 *
 * @internal
 */

/** @internal how many environments the spawner keeps (an entity's lives reuse theirs) */
export const keptEnvironments = 256

/**
 * The spawner's script. It reads requests on stdin and writes reports on stdout; it ignores the
 * signals a terminal sends to the foreground group (the HAM decides when it ends).
 *
 * A child the HAM armed (`arm`: the next restart authorised ahead of time) is started again at
 * once when it exits as authorised: the exit is reported first, with the id of the next child,
 * whose own reports follow. A stop's signals go through here (`signal`), which disarms first.
 *
 * @internal
 */
export const source = `"use strict"
const cp = require("node:child_process")
const fs = require("node:fs")
const children = new Map()
let closing = false
const send = (message) => process.stdout.write(JSON.stringify(message) + "\\n")
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"]) process.on(signal, () => {})
const kill = (pid, signal) => {
  try { process.kill(-pid, signal) } catch { try { process.kill(pid, signal) } catch {} }
}
const shutdown = () => {
  closing = true
  for (const entry of children.values()) kill(entry.child.pid, "SIGKILL")
  process.exit(0)
}
// signal numbers to names, as Node names them (the first name of a number)
const signalNames = new Map()
for (const [name, number] of Object.entries(require("node:os").constants.signals)) {
  if (!signalNames.has(number)) signalNames.set(number, name)
}
const stat = Buffer.alloc(1024)
// how a child that has died (or is dying) ended, from /proc/<pid>/stat: its leader thread is a
// zombie or exiting (PF_EXITING), and the only thread left; its wait status (the 52nd field) is
// set by then. undefined otherwise (alive, other threads left, or no /proc)
const exitOf = (pid) => {
  let fd
  try {
    fd = fs.openSync("/proc/" + pid + "/stat", "r")
    const text = stat.toString("latin1", 0, fs.readSync(fd, stat, 0, stat.length, 0))
    // the fields from the 3rd (the state) on: the flags are the 9th, the threads the 20th
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ")
    if (fields.length < 50 || fields[17] !== "1") return undefined
    if (fields[0] !== "Z" && (Number(fields[6]) & 4) === 0) return undefined
    const status = Number(fields[49])
    if (!Number.isInteger(status)) return undefined
    const signal = status & 0x7f
    return signal === 0
      ? { code: (status >> 8) & 0xff, signal: null }
      : { code: null, signal: signalNames.get(signal) ?? "unknown" }
  } catch {
    return undefined
  } finally {
    if (fd !== undefined) try { fs.closeSync(fd) } catch {}
  }
}
const chunk = Buffer.alloc(65536)
// what is left in a pipe of a child that has exited, read now (before its exit is reported):
// its exit may be known before the pipe is watched, or before its end is seen. true when the
// pipe has ended (when a grandchild holds it open, it stops at what is there)
const drain = (id, stream, fd) => {
  const handle = stream._handle
  const raw = handle && handle.fd
  if (typeof raw !== "number" || raw < 0) return false
  for (;;) {
    let n
    try { n = fs.readSync(raw, chunk, 0, chunk.length, null) } catch { return false }
    if (n === 0) return true
    send({ op: "data", id, fd, data: chunk.toString("base64", 0, n) })
  }
}
// the environments sent so far, by id: the oldest goes past ${keptEnvironments} (the HAM does the same)
const envs = new Map()
const start = (m, env) => {
  const id = m.id
  let child
  try {
    child = cp.spawn(m.command, m.args, {
      stdio: ["ignore", m.stdout ? "pipe" : "ignore", "pipe"],
      cwd: m.cwd, env, shell: m.shell, detached: true
    })
  } catch (e) {
    send({ op: "failed", id, reason: String(e && e.message) })
    return
  }
  const entry = { child, m, env, armed: undefined }
  child.on("error", (e) => {
    if (child.pid === undefined) send({ op: "failed", id, reason: e.code || e.message })
  })
  if (child.pid === undefined) return
  // kept at once: a HAM that goes now takes it with it
  children.set(id, entry)
  send({ op: "spawned", id, pid: child.pid })
  if (child.stdout) child.stdout.on("data", (d) => send({ op: "data", id, fd: 1, data: d.toString("base64") }))
  child.stderr.on("data", (d) => send({ op: "data", id, fd: 2, data: d.toString("base64") }))
  // the end of its output (stdout and stderr) comes with its exit report, or after it on its own:
  // one message less (and one wake-up less of the HAM) for the usual death. Lines written just
  // before the exit can be read after it: they are sent before the end
  let closed = false
  let stdoutEnded = !child.stdout
  let exited = false
  let reported = false
  let told = false
  // A dying process's files are closed before its parent is told (SIGCHLD, then Node's waitpid
  // and its exit event, 0.1-0.3 ms later): when its stderr ends and /proc shows it dead, its exit
  // is reported at once. Node's exit event comes later and is ignored then. Either way, what is
  // left in its pipes is read and reported first.
  const ended = () => {
    if (exited || !closed) return
    const early = exitOf(child.pid)
    if (early === undefined) return
    exit(early.code, early.signal)
  }
  // both ended after the exit was reported: said once
  const tell = () => {
    if (reported && closed && stdoutEnded && !told) {
      told = true
      send({ op: "closed", id })
    }
  }
  const onClosed = () => {
    if (closed) return
    closed = true
    if (reported) tell()
    else ended()
  }
  child.stderr.once("end", onClosed)
  child.stderr.once("close", onClosed)
  if (child.stdout) {
    const onStdoutEnded = () => {
      if (stdoutEnded) return
      stdoutEnded = true
      tell()
    }
    child.stdout.once("end", onStdoutEnded)
    child.stdout.once("close", onStdoutEnded)
  }
  const exit = (code, signal) => {
    if (exited) return
    exited = true
    children.delete(id)
    if (!stdoutEnded && drain(id, child.stdout, 1)) stdoutEnded = true
    if (!closed && drain(id, child.stderr, 2)) closed = true
    // reported, then the next child started if the HAM authorised it; when its output has not
    // ended yet, once the other events of this turn are in (its end comes with the exit, most
    // of the time)
    const report = () => {
      reported = true
      told = closed && stdoutEnded
      const armed = entry.armed
      if (armed !== undefined && !closing && (signal !== null || code !== 0 ? armed.abnormal : armed.normal) &&
        performance.now() >= armed.deadline) {
        send({ op: "exit", id, code, signal, closed: told, next: armed.next })
        start({ ...m, id: armed.next }, env)
      } else {
        send({ op: "exit", id, code, signal, closed: told })
      }
    }
    if (closed && stdoutEnded) report()
    else setImmediate(report)
  }
  child.once("exit", exit)
}
const handle = (m) => {
  switch (m.op) {
    case "start": {
      if (m.env !== undefined) {
        envs.set(m.envId, m.env)
        if (envs.size > ${keptEnvironments}) envs.delete(envs.keys().next().value)
      }
      return start(m, envs.get(m.envId))
    }
    case "arm": {
      const entry = children.get(m.id)
      if (entry === undefined) return
      entry.armed = m.next === undefined
        ? undefined
        : { next: m.next, abnormal: m.abnormal, normal: m.normal, deadline: performance.now() + m.after }
      return
    }
    case "signal": {
      const entry = children.get(m.id)
      if (entry === undefined) return
      entry.armed = undefined
      return kill(entry.child.pid, m.signal)
    }
  }
}
let buffered = ""
process.stdin.setEncoding("utf8")
process.stdin.on("data", (text) => {
  const lines = (buffered + text).split("\\n")
  buffered = lines.pop()
  for (const line of lines) if (line !== "") handle(JSON.parse(line))
})
process.stdin.on("end", shutdown)
process.stdin.on("error", shutdown)
process.stdout.on("error", shutdown)
`
