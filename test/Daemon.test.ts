/**
 * The `ham` daemon and CLI as a user runs them, each command a real process: `ham start --config`
 * runs the daemon in the foreground (the Guardian store, the control socket, the config applied);
 * `ham ls`, `ham cat` and `ham events -f` read it through the socket; a SIGKILLed child is
 * restarted and seen in both; `ham stop` ends the daemon and every child (one that ignores SIGTERM
 * is killed after its grace), checked in /proc. A bad config starts nothing and names the field.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { ham, lsJson, spawned } from "./daemon.js"
import { isLive, tempDir, waitUntil } from "./processes.js"

const config = (dir: string) => ({
  socket: "./run/ham.sock",
  entities: [
    {
      name: "sleeper",
      command: { command: "sleep", args: ["300"] },
      conditions: [{ type: "CondDeath", actions: [{ _tag: "Restart" }] }]
    },
    {
      name: "stubborn",
      command: { command: "sh", args: ["-c", "trap '' TERM; echo $$ > stubborn.pid; while true; do sleep 1; done"] },
      stopSignal: "SIGTERM",
      stopGrace: "500 millis"
    }
  ].map((e) => ({ ...e, command: { ...e.command, cwd: dir } }))
})

describe("ham daemon", () => {
  it.live("start, ls, cat, events -f, a SIGKILLed child restarted, stop: nothing left", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("ham-daemon-")
      const file = path.join(dir, "ham.json")
      fs.writeFileSync(file, JSON.stringify(config(dir)))
      const socket = path.join(dir, "run", "ham.sock")

      const daemon = yield* spawned("start", "--config", file)
      yield* waitUntil("the daemon to serve", () => daemon.out.stdout.includes("ham: running 2 entities"), 20_000)
      expect(fs.statSync(socket).mode & 0o777).toBe(0o600)
      expect(fs.existsSync(path.join(dir, "ham-state"))).toBe(true)

      const before = lsJson(socket)
      expect(before.map((e) => [e.name, e.status])).toEqual([["sleeper", "running"], ["stubborn", "running"]])
      const sleeperPid = before[0].pid!
      const stubbornPid = before[1].pid!
      expect(isLive(sleeperPid) && isLive(stubbornPid)).toBe(true)

      const table = ham("ls", "--socket", socket)
      expect(table.code).toBe(0)
      const lines = table.stdout.trimEnd().split("\n")
      // processes run: their CPU and RSS are shown
      expect(lines[0]).toMatch(/^NAME +KIND +PID +STATE +UPTIME +CPU% +RSS +RESTARTS +DEATHS +LAST DEATH$/)
      expect(lines[1]).toMatch(
        new RegExp(`^sleeper +process +${sleeperPid} +running +\\d+s +\\d+\\.\\d +[\\d.]+[BKMG] +0 +0 +-$`)
      )
      for (const line of lines) expect(line.length).toBeLessThanOrEqual(80)

      const events = yield* spawned("events", "-f", "sleeper", "--socket", socket)
      // the stream follows once the CLI has connected and subscribed, which takes a while under
      // load: the child is SIGKILLed again (at most 5 times) until a death and a restart are seen
      // (a subscription made between the two events of one kill sees the restart only)
      let kills = 0
      let pid = sleeperPid
      const seen = () => events.out.stdout.includes("CondDeath") && events.out.stdout.includes("CondRestart")
      while (!seen() && kills < 5) {
        if (kills > 0) pid = lsJson(socket)[0].pid!
        yield* Effect.sleep("1500 millis")
        process.kill(pid, "SIGKILL")
        kills++
        for (let i = 0; i < 40 && !seen(); i++) yield* Effect.sleep("100 millis")
      }
      expect(events.out.stdout).toMatch(/ sleeper CondDeath abnormal=true reason=killed by SIGKILL/)
      expect(events.out.stdout).toMatch(/ sleeper CondRestart restarts=\d+ pid=\d+/)
      expect(events.out.stdout).not.toMatch(/ stubborn /)

      yield* waitUntil("the last restart", () => lsJson(socket)[0].stats.restarts === kills, 10_000)
      const after = lsJson(socket)
      expect(after[0]).toMatchObject({ name: "sleeper", status: "running", stats: { restarts: kills, deaths: kills } })
      expect(after[0].pid).not.toBe(pid)
      expect(ham("ls", "--socket", socket).stdout).toMatch(new RegExp(`\nsleeper .* ${kills} +${kills} +SIGKILL\n`))

      const cat = ham("cat", "sleeper/death", "--socket", socket)
      expect(cat.code, cat.stderr).toBe(0)
      expect(cat.stdout).toMatch(
        new RegExp(`death \\[CondDeath\\].*fired ${kills}[\\s\\S]*restart: restart the entity runs ${kills} failures 0`)
      )
      const missing = ham("cat", "sleeper/life", "--socket", socket)
      expect([missing.code, missing.stderr]).toEqual([1, `ham: no condition "life" on "sleeper"\n`])

      const stop = ham("stop", "--socket", socket)
      expect(stop.code, stop.stderr).toBe(0)
      // `ham stop` returns once the daemon has gone: every child with it
      expect(fs.existsSync(socket)).toBe(false)
      yield* waitUntil("the daemon to exit", () => daemon.out.exit !== undefined, 10_000)
      expect(daemon.out.exit).toBe(0)
      expect(daemon.out.stdout).toContain("ham: stopped")
      expect([after[0].pid!, stubbornPid].filter(isLive)).toEqual([])
      yield* waitUntil("ham events -f to end", () => events.out.exit !== undefined, 10_000)

      const gone = ham("ls", "--socket", socket)
      expect(gone.code).toBe(3)
    }).pipe(Effect.scoped), 90_000)

  it.live("a bad config starts nothing and names the bad field; usage errors exit 2", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("ham-daemon-")
      const file = path.join(dir, "ham.json")
      const good = { name: "marker", command: { command: "touch", args: [path.join(dir, "started")] } }
      const bad = { name: "bad", command: { command: "sleep" }, stopGrace: "soon" }
      fs.writeFileSync(file, JSON.stringify({ socket: "./ham.sock", entities: [good, bad] }))
      const r = ham("start", "--config", file)
      expect(r.code).toBe(2)
      expect(r.stderr).toContain(
        `ham: invalid ${file}: entities.1.stopGrace must be a number of milliseconds or a duration`
      )
      expect(fs.readdirSync(dir)).toEqual(["ham.json"])
      const missing = ham("start", "--config", path.join(dir, "nope.json"))
      expect(missing.code).toBe(2)
      expect(ham("frobnicate").code).toBe(2)
    }).pipe(Effect.scoped), 60_000)
})
