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
 * A child's stdout and stderr are connections to the HAM's output socket (its path is the
 * script's argument), made ahead of time: the HAM reads the output itself, and sees a death as
 * soon as the dying child's files are closed, before this process is told of it. The spawner
 * only forks, reaps and reports: `spawned` (with the numbers of the child's connections),
 * `failed`, `exit`.
 *
 * A child the HAM armed (`arm`: the next restart authorised ahead of time) is started again at
 * once when it exits as authorised: the exit is reported first, with the id of the next child,
 * whose own reports follow. A stop's signals go through here (`signal`), which disarms first.
 *
 * A child started that way keeps the spawner's copies of its connections open while it runs:
 * its death then does not wake the HAM before this process. The HAM's work on the child's end
 * would take the CPU this process needs to reap it and fork the next one (on two cores it held the
 * restart back by 0.4 ms); the copies are closed once the child is reaped, before its exit is
 * reported, so the HAM finds its output complete. Disarmed, its copies are closed at once, and
 * the HAM sees its death itself again.
 *
 * @internal
 */
export const source = `"use strict"
const cp = require("node:child_process")
const net = require("node:net")
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
// The HAM's output socket: each child's stdout and stderr is a connection to it, made here ahead
// of time and named by its first line ("c<n>"), so that the HAM reads the child's output (and
// sees it end when the child dies) without a hop through this process
const outputPath = process.argv[2]
const spareCount = 2
const spares = []
const wanted = []
let connections = 0
let connecting = 0
let failures = 0
const connect = () => {
  const n = ++connections
  connecting++
  const socket = net.connect(outputPath)
  let up = false
  socket.on("error", () => {
    if (up) return
    connecting--
    // the HAM refuses for now (a full backlog): tried again, and given up after a few times
    if (++failures > 8) {
      for (const w of wanted.splice(0)) w.go(undefined, "the HAM's output socket refuses connections")
      failures = 0
      return
    }
    setTimeout(replenish, 5 * failures)
  })
  socket.once("connect", () => {
    up = true
    failures = 0
    socket.write("c" + n + "\\n", () => {
      connecting--
      spares.push({ socket, n })
      serve()
    })
  })
}
const replenish = () => {
  let want = spareCount
  for (const w of wanted) want += w.need
  while (spares.length + connecting < want) connect()
}
// the starts waiting for connections, in order
const serve = () => {
  while (wanted.length > 0 && spares.length >= wanted[0].need) {
    const w = wanted.shift()
    w.go(spares.splice(0, w.need), undefined)
  }
  replenish()
}
// n connections, at once when they are ready (a restart does not wait), else once they are
const take = (need, go) => {
  if (wanted.length === 0 && spares.length >= need) {
    go(spares.splice(0, need), undefined)
    replenish()
  } else {
    wanted.push({ need, go })
    replenish()
  }
}
// the environments sent so far, by id: the oldest goes past ${keptEnvironments} (the HAM does the same)
const envs = new Map()
const start = (m, env) =>
  take(m.stdout ? 2 : 1, (sockets, failure) => {
    if (sockets === undefined) return send({ op: "failed", id: m.id, reason: failure })
    launch(m, env, sockets)
  })
const launch = (m, env, sockets) => {
  const id = m.id
  const out = m.stdout ? sockets[0] : undefined
  const err = sockets[sockets.length - 1]
  const conns = { out: out === undefined ? 0 : out.n, err: err.n }
  let child
  try {
    child = cp.spawn(m.command, m.args, {
      stdio: ["ignore", out === undefined ? "ignore" : out.socket, err.socket],
      cwd: m.cwd, env, shell: m.shell, detached: true
    })
  } catch (e) {
    child = undefined
    send({ op: "failed", id, reason: String(e && e.message), ...conns })
  }
  // the child holds its own copies: the HAM sees their end when it dies (a close, never a shutdown);
  // a restart's are kept until it is reaped (see above)
  const kept = m.keep === true && child !== undefined && child.pid !== undefined ? sockets : undefined
  if (kept === undefined) for (const s of sockets) s.socket.destroy()
  if (child === undefined) return
  const entry = { child, m, env, armed: undefined, kept }
  child.on("error", (e) => {
    if (child.pid === undefined) send({ op: "failed", id, reason: e.code || e.message, ...conns })
  })
  if (child.pid === undefined) return
  // kept at once: a HAM that goes now takes it with it
  children.set(id, entry)
  send({ op: "spawned", id, pid: child.pid, ...conns })
  child.once("exit", (code, signal) => {
    children.delete(id)
    release(entry)
    // reported, then the next child started if the HAM authorised it
    const armed = entry.armed
    if (armed !== undefined && !closing && (signal !== null || code !== 0 ? armed.abnormal : armed.normal) &&
      performance.now() >= armed.deadline) {
      send({ op: "exit", id, code, signal, next: armed.next })
      start({ ...m, id: armed.next, keep: true }, env)
    } else {
      send({ op: "exit", id, code, signal })
    }
  })
}
// a restart's copies of its connections, closed: the HAM sees their end when the child's come
const release = (entry) => {
  const kept = entry.kept
  entry.kept = undefined
  if (kept !== undefined) for (const s of kept) s.socket.destroy()
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
      if (entry.armed === undefined) release(entry)
      return
    }
    case "signal": {
      const entry = children.get(m.id)
      if (entry === undefined) return
      entry.armed = undefined
      release(entry)
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
replenish()
`
