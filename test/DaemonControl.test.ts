/**
 * The `ham` daemon and CLI, each command a real process (the longer runs; `test/Daemon.test.ts`
 * has start, ls, cat, events and stop): a HAM on TCP with a token file; a daemon started again
 * with its store and a changed config; the commands that change a running HAM (attach, detach,
 * publish, raise, verbose), their --json results; restart, signal and logs (-f), and the uptime
 * of `ham ls` over TCP.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as ChildProcess from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { ham, type LsEntity, lsJson, spawned } from "./daemon.js"
import { freePort, isLive, tempDir, waitUntil } from "./processes.js"

describe("ham daemon: TCP and the store", () => {
  it.live(
    "TCP with a token file (made by the daemon); a wrong token exits 4; started again, the store keeps the history and the config is the truth",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir("ham-daemon-")
        const file = path.join(dir, "ham.json")
        const entities = [
          {
            name: "one",
            command: { command: "sleep", args: ["300"] },
            conditions: [{ type: "CondDeath", actions: [{ _tag: "Restart" }] }]
          },
          { name: "two", command: { command: "sleep", args: ["300"] } }
        ]
        const write = (es: ReadonlyArray<unknown>) =>
          fs.writeFileSync(
            file,
            JSON.stringify({ socket: "./ham.sock", listen: { tcp: { port: 0 }, tokenFile: "token" }, entities: es })
          )
        const startDaemon = Effect.gen(function*() {
          const daemon = yield* spawned("start", "--config", file)
          yield* waitUntil("the daemon to serve", () => /tcp port \d+/.test(daemon.out.stdout), 20_000)
          return { daemon, port: /tcp port (\d+)/.exec(daemon.out.stdout)![1] }
        })
        const stopDaemon = (daemon: { readonly out: { exit: number | null | undefined } }) =>
          Effect.gen(function*() {
            expect(ham("stop", "--socket", path.join(dir, "ham.sock")).code).toBe(0)
            yield* waitUntil("the daemon to exit", () => daemon.out.exit !== undefined, 10_000)
          })

        write(entities)
        const first = yield* startDaemon
        expect(fs.statSync(path.join(dir, "token")).mode & 0o777).toBe(0o600)
        const tcp = ["--port", first.port, "--token-file", path.join(dir, "token")]
        const ls = ham("ls", "--json", ...tcp)
        expect(ls.code, ls.stderr).toBe(0)
        const [one, two] = JSON.parse(ls.stdout).entities as ReadonlyArray<LsEntity>
        expect([one.name, two.name]).toEqual(["one", "two"])
        fs.writeFileSync(path.join(dir, "other"), "another-token-0123456789abcdef\n", { mode: 0o600 })
        const refused = ham("ls", "--port", first.port, "--token-file", path.join(dir, "other"))
        expect([refused.code, refused.stderr]).toEqual([4, expect.stringMatching(/^ham: .*token/)])
        process.kill(one.pid!, "SIGKILL")
        yield* waitUntil("the restart", () => lsJson(path.join(dir, "ham.sock"))[0].stats.restarts === 1, 15_000)
        yield* stopDaemon(first.daemon)
        expect([one.pid!, two.pid!].filter(isLive)).toEqual([])

        write(entities.slice(0, 1))
        const second = yield* startDaemon
        const after = lsJson(path.join(dir, "ham.sock"))
        expect(after.map((e) => [e.name, e.status, e.stats.deaths, e.stats.restarts])).toEqual([[
          "one",
          "running",
          1,
          1
        ]])
        const cat = ham("cat", "one/death", "--json", "--socket", path.join(dir, "ham.sock"))
        expect(JSON.parse(cat.stdout).actions.length).toBe(1)
        yield* stopDaemon(second.daemon)
        expect(after.map((e) => e.pid!).filter(isLive)).toEqual([])
      }).pipe(Effect.scoped),
    120_000
  )
})

describe("ham attach, detach, publish, raise, verbose", () => {
  it.live("change a running daemon's HAM; refusals exit 1, bad levels 2", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("ham-daemon-")
      const file = path.join(dir, "ham.json")
      fs.writeFileSync(file, JSON.stringify({ socket: "./ham.sock" }))
      const socket = path.join(dir, "ham.sock")
      const s = ["--socket", socket]
      const daemon = yield* spawned("start", "--memory", "--config", file)
      yield* waitUntil("the daemon to serve", () => daemon.out.stdout.includes("ham: running 0 entities"), 20_000)
      expect(fs.readdirSync(dir).sort()).toEqual(["ham.json", "ham.sock", "ham.sock.pid"])

      const attached = ham(
        "attach",
        "w",
        "--restart",
        "--env",
        "WHO=w",
        "--cwd",
        dir,
        ...s,
        "--",
        "sh",
        "-c",
        "echo $WHO > who; exec sleep 300"
      )
      expect([attached.code, attached.stdout, attached.stderr]).toEqual([0, "attached w\n", ""])
      yield* waitUntil("the child to write", () => fs.existsSync(path.join(dir, "who")), 10_000)
      expect(fs.readFileSync(path.join(dir, "who"), "utf8")).toBe("w\n")
      expect(ham("attach", "w", ...s, "sleep", "1").code).toBe(1)
      const [w] = lsJson(socket)
      process.kill(w.pid!, "SIGKILL")
      yield* waitUntil("the restart", () => lsJson(socket)[0].stats.restarts === 1, 15_000)

      expect(ham("publish", "w", "3", ...s).code).toBe(0)
      expect(ham("raise", "w", "--severity", "2", "--detail", "hot", ...s).code).toBe(0)
      expect(JSON.parse(ham("cat", "w", "--json", ...s).stdout).state).toBe(3)
      expect(ham("verbose", ...s).stdout).toBe("1\n")
      expect(ham("verbose", "+", ...s).stdout).toBe("2\n")
      expect(ham("verbose", "+", ...s).stdout).toBe("3\n")
      // a bare "-" ends @effect/cli's options: it comes after them
      expect(ham("verbose", ...s, "-").stdout).toBe("2\n")
      expect(JSON.parse(ham("verbose", "--json", ...s).stdout)).toMatchObject({ level: 2 })
      expect(ham("verbose", "0", ...s).stdout).toBe("0\n")
      const below = ham("verbose", ...s, "-")
      expect([below.code, below.stderr]).toEqual([
        2,
        `ham: verbose takes a level (a non-negative integer), + or - (got "-")\n`
      ])
      expect(ham("verbose", ...s).stdout).toBe("0\n")
      expect(ham("publish", "nobody", "1", ...s).code).toBe(1)

      const pid = lsJson(socket)[0].pid!
      expect(ham("detach", "w", ...s).code).toBe(0)
      yield* waitUntil("the detached child to be stopped", () => !isLive(pid), 10_000)
      expect(lsJson(socket)).toEqual([])
      expect(ham("detach", "w", ...s).stderr).toBe(`ham: entity "w" not found\n`)

      expect(ham("stop", ...s).code).toBe(0)
      yield* waitUntil("the daemon to exit", () => daemon.out.exit !== undefined, 10_000)
    }).pipe(Effect.scoped), 120_000)
})

describe("ham reload", () => {
  it.live(
    "applies a changed config: unchanged entities keep their process, changed ones restart, added start, removed stop; a bad config changes nothing",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir("ham-daemon-")
        const file = path.join(dir, "ham.json")
        const socket = path.join(dir, "ham.sock")
        const e = (name: string, extra: object = {}) => ({
          name,
          command: { command: "sleep", args: ["300"] },
          ...extra
        })
        const write = (entities: ReadonlyArray<unknown>) =>
          fs.writeFileSync(file, JSON.stringify({ socket: "./ham.sock", state: false, entities }))
        write([e("same"), e("changed"), e("removed")])
        const daemon = yield* spawned("start", "--config", file)
        yield* waitUntil("the daemon to serve", () => daemon.out.stdout.includes("ham: running 3 entities"), 20_000)
        const pids = Object.fromEntries(lsJson(socket).map((x) => [x.name, x.pid!]))

        write([e("same"), e("changed", { stopGrace: 200 }), e("added")])
        const r = ham("reload", "--socket", socket)
        expect([r.code, r.stdout, r.stderr]).toEqual([0, "reloaded: added 1, removed 1, changed 1\n", ""])
        const after = Object.fromEntries(lsJson(socket).map((x) => [x.name, x.pid!]))
        expect(Object.keys(after).sort()).toEqual(["added", "changed", "same"])
        expect(after.same).toBe(pids.same)
        expect(after.changed).not.toBe(pids.changed)
        yield* waitUntil(
          "the removed and the old changed child to stop",
          () => !isLive(pids.removed) && !isLive(pids.changed),
          10_000
        )

        fs.writeFileSync(file, JSON.stringify({ socket: "./ham.sock", entities: [{ name: 1 }] }))
        const bad = ham("reload", "--socket", socket)
        expect([bad.code, bad.stderr]).toEqual([
          2,
          `ham: reload refused: invalid ${file}: entities.0.name must be a string (got 1)\n`
        ])
        expect(Object.fromEntries(lsJson(socket).map((x) => [x.name, x.pid!]))).toEqual(after)

        expect(ham("stop", "--socket", socket).code).toBe(0)
        yield* waitUntil("the daemon to exit", () => daemon.out.exit !== undefined, 10_000)
        expect(Object.values(after).filter(isLive)).toEqual([])
        expect(fs.readdirSync(dir)).toEqual(["ham.json"])
        expect(ham("reload", "--socket", socket).code).toBe(3)
      }).pipe(Effect.scoped),
    120_000
  )
})

describe("ham restart, signal, logs; --json results; uptime over TCP", () => {
  it.live(
    "restart counts a restart and starts a new process; signal sends it; logs tails and follows the output file; refusals exit 1, bad input 2",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir("ham-daemon-")
        const file = path.join(dir, "ham.json")
        fs.writeFileSync(
          file,
          JSON.stringify({
            socket: "./ham.sock",
            state: false,
            logDir: "logs",
            listen: { tcp: { port: 0 }, tokenFile: "token" },
            entities: [
              {
                name: "ticker",
                command: { command: "sh", args: ["-c", "i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.2; done"] }
              },
              { name: "quiet", command: { command: "sleep", args: ["300"] }, output: "log" }
            ]
          })
        )
        const socket = path.join(dir, "ham.sock")
        const s = ["--socket", socket]
        const daemon = yield* spawned("start", "--config", file)
        yield* waitUntil("the daemon to serve", () => /tcp port \d+/.test(daemon.out.stdout), 20_000)
        const tcp = ["--port", /tcp port (\d+)/.exec(daemon.out.stdout)![1], "--token-file", path.join(dir, "token")]
        const log = path.join(dir, "logs", "ticker.log")
        yield* waitUntil("the ticker to write", () =>
          fs.existsSync(log) && fs.readFileSync(log, "utf8").includes("tick 2"))

        // uptime over TCP: from the tree's startedAt, not /proc
        const overTcp = ham("ls", "--json", ...tcp)
        expect(overTcp.code, overTcp.stderr).toBe(0)
        const listed = JSON.parse(overTcp.stdout)
        for (const e of listed.entities) {
          expect(e.startedAt).toBeLessThanOrEqual(listed.time)
        }
        const table = ham("ls", ...tcp)
        // with the CPU (% of a core) and RSS of the process
        expect(table.stdout.split("\n")[1]).toMatch(
          /^ticker +process +\d+ +running +\d+[smhd] +[\d.]+ +[\d.]+[KMG]? +0 +0 +-$/
        )

        // logs: the last lines, a JSON result, and -f sees a new line
        const tail = ham("logs", "ticker", "-n", "2", ...s)
        expect(tail.code, tail.stderr).toBe(0)
        expect(
          tail.stdout.trimEnd().split("\n").map((l) =>
            /^tick \d+$/.test(l)
          )
        ).toEqual([true, true])
        const tailJson = JSON.parse(ham("logs", "ticker", "-n", "1", "--json", ...s).stdout)
        expect(tailJson).toMatchObject({ ok: true, command: "logs", entity: "ticker", file: log })
        expect(tailJson.lines).toHaveLength(1)
        const follower = yield* spawned("logs", "ticker", "-f", "-n", "0", ...s)
        const last = Number(/tick (\d+)\n$/.exec(fs.readFileSync(log, "utf8"))![1])
        yield* waitUntil("logs -f to print a new line", () => {
          const m = /tick (\d+)/.exec(follower.out.stdout)
          return m !== null && Number(m[1]) > last
        }, 15_000)
        follower.child.kill("SIGINT")
        const inLog = ham("logs", "quiet", ...s)
        expect([inLog.code, inLog.stderr]).toEqual([1, expect.stringContaining("goes to the HAM's log")])
        expect(ham("logs", "nobody", ...s).code).toBe(1)
        expect(ham("logs", "ticker", "-n", "-1", ...s).code).toBe(2)

        // restart: a new process, the old one gone, counted as a restart, not a death (over TCP)
        const [ticker0] = lsJson(socket)
        const restarted = ham("restart", "ticker", "--json", ...tcp)
        expect(restarted.code, restarted.stderr).toBe(0)
        const result = JSON.parse(restarted.stdout)
        expect(result).toMatchObject({ ok: true, command: "restart", entity: "ticker", restarts: 1 })
        expect(result.pid).not.toBe(ticker0.pid)
        yield* waitUntil("the old ticker to be gone", () => !isLive(ticker0.pid!), 10_000)
        const [ticker1] = lsJson(socket)
        expect([ticker1.pid, ticker1.status, ticker1.stats.restarts, ticker1.stats.deaths]).toEqual([
          result.pid,
          "running",
          1,
          0
        ])
        const missing = ham("restart", "nobody", "--json", ...s)
        expect(missing.code).toBe(1)
        expect(JSON.parse(missing.stdout)).toMatchObject({ ok: false, code: 1, error: { _tag: "EntityNotFound" } })

        // signal: a bad name exits 2 and changes nothing; a good one reaches the process
        const bad = ham("signal", "ticker", "NOPE", ...s)
        expect([bad.code, bad.stderr]).toEqual([2, expect.stringContaining("not a signal")])
        expect(lsJson(socket)[0]).toMatchObject({ pid: ticker1.pid, status: "running" })
        const [, quiet] = lsJson(socket)
        const hup = ham("signal", "quiet", "hup", "--json", ...s)
        expect(JSON.parse(hup.stdout)).toEqual({
          ok: true,
          command: "signal",
          entity: "quiet",
          signal: "SIGHUP",
          pid: quiet.pid
        })
        yield* waitUntil("quiet to die of it", () => lsJson(socket)[1].status === "dead", 10_000)
        expect(isLive(quiet.pid!)).toBe(false)
        const notRunning = ham("signal", "quiet", "TERM", ...s)
        expect([notRunning.code, notRunning.stderr]).toEqual([1, `ham: entity "quiet" is not running (it is dead)\n`])
        expect(ham("restart", "quiet", ...s).code).toBe(1)

        // --json on the other commands that change the HAM
        const j = (...args: ReadonlyArray<string>) => {
          const r = ham(...args, "--json", ...s)
          expect(r.code, r.stderr).toBe(0)
          return JSON.parse(r.stdout)
        }
        expect(j("attach", "x", "sleep", "300")).toMatchObject({ ok: true, command: "attach", entity: "x" })
        expect(j("publish", "x", "2")).toEqual({ ok: true, command: "publish", entity: "x", state: 2 })
        expect(j("raise", "x", "--type", "1")).toEqual({
          ok: true,
          command: "raise",
          entity: "x",
          type: 1,
          class: 0,
          severity: 0
        })
        expect(j("verbose", "3")).toEqual({ ok: true, command: "verbose", level: 3, previous: 1 })
        expect(j("detach", "x")).toEqual({ ok: true, command: "detach", entity: "x" })

        expect(ham("stop", ...s).code).toBe(0)
        yield* waitUntil("the daemon to exit", () => daemon.out.exit !== undefined, 10_000)
        expect(isLive(ticker1.pid!)).toBe(false)
      }).pipe(Effect.scoped),
    300_000
  )
})

describe("graceful reload through the daemon", () => {
  it.live(
    "a command changed in the config of a graceful entity is reloaded with no downtime; ham reload <entity> --env does it by hand",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir("ham-daemon-")
        const file = path.join(dir, "ham.json")
        const socket = path.join(dir, "ham.sock")
        const port = yield* freePort
        const fixture = path.join(import.meta.dirname, "fixtures", "reuseport-server.py")
        const write = (version: string) =>
          fs.writeFileSync(
            file,
            JSON.stringify({
              socket: "./ham.sock",
              state: false,
              entities: [{
                name: "web",
                command: { command: "python3", args: [fixture, String(port), version, "300", "ok"] },
                output: "ignore",
                reload: "graceful"
              }]
            })
          )
        const answer = () =>
          ChildProcess.spawnSync("python3", [
            "-c",
            `import socket; s = socket.create_connection(("127.0.0.1", ${port})); s.sendall(b"GET\\n"); print(s.recv(64).decode().strip())`
          ], { encoding: "utf8" }).stdout.trim()
        write("v1")
        const daemon = yield* spawned("start", "--config", file)
        yield* waitUntil("v1 to serve", () => answer().startsWith("v1 "), 20_000)
        const [v1] = lsJson(socket)

        write("v2")
        const r = ham("reload", "--socket", socket)
        expect([r.code, r.stdout, r.stderr]).toEqual([
          0,
          "reloaded: added 0, removed 0, changed 0, reloaded gracefully 1\n",
          ""
        ])
        const [v2] = lsJson(socket)
        expect(v2.pid).not.toBe(v1.pid)
        expect([v2.status, v2.stats.deaths, v2.stats.restarts]).toEqual(["running", 0, 0])
        expect(answer()).toBe(`v2 ${v2.pid}`)
        yield* waitUntil("the old process to be gone", () => !isLive(v1.pid!), 10_000)

        const byHand = ham("reload", "web", "--env", "VERSION=v3", "--json", "--socket", socket)
        expect(byHand.code, byHand.stderr).toBe(0)
        const result = JSON.parse(byHand.stdout)
        expect(result).toMatchObject({ ok: true, command: "reload", entity: "web", previousPid: v2.pid })
        expect(answer()).toBe(`v3 ${result.pid}`)
        const late = ham("reload", "web", "--ready-timeout", "0", "--socket", socket)
        expect([late.code, late.stderr]).toEqual([1, expect.stringContaining("readyTimeout")])

        expect(ham("stop", "--socket", socket).code).toBe(0)
        yield* waitUntil("the daemon to exit", () => daemon.out.exit !== undefined, 10_000)
        expect([v1.pid!, v2.pid!, result.pid].filter(isLive)).toEqual([])
      }).pipe(Effect.scoped),
    120_000
  )
})
