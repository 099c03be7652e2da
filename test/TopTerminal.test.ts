/**
 * `ham top` in a real terminal: tmux (`new-session -x 80 -y 24`, then 132×40) runs the bundled
 * CLI against a real daemon; a child SIGKILLed shows as a death and a restart in the capture
 * within a bounded wait; `q` gives the terminal back as it was (the normal screen, the tty's
 * modes); a HAM going away ends `ham top` with exit 3, the terminal given back too. Skipped, with
 * the reason printed, on a machine without tmux (`.ci/run` installs it). `--once` needs no tmux.
 */
import { describe, expect, inject, it } from "@effect/vitest"
import { Effect } from "effect"
import * as cp from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { ham, lsJson, restartingSleep, runningDaemon } from "./daemon.js"
import { waitUntilEffect } from "./processes.js"

const hasTmux = cp.spawnSync("tmux", ["-V"], { encoding: "utf8" }).status === 0
if (!hasTmux) console.log("TopTerminal: the tmux tests are skipped: tmux is not on this machine (apt-get install tmux)")

const longName = "payment-gateway-eu-west-1-primary-replica"

/** a daemon with two restarting processes, in a private directory */
const daemon = runningDaemon("ham-top-", [restartingSleep("web"), restartingSleep(longName)])

/** a tmux server of its own (its socket in `dir`), killed with the scope */
const tmux = (dir: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const sock = path.join(dir, "tmux.sock")
      const run = (...args: ReadonlyArray<string>) => {
        const r = cp.spawnSync("tmux", ["-S", sock, "-f", "/dev/null", ...args], { encoding: "utf8", timeout: 10_000 })
        expect(r.status, r.stderr).toBe(0)
        return r.stdout
      }
      run("new-session", "-d", "-x", "80", "-y", "24", "-s", "top", "env PS1='$ ' sh")
      return {
        run,
        type: (line: string) => run("send-keys", "-t", "top", line, "Enter"),
        capture: () => run("capture-pane", "-p", "-t", "top"),
        alternate: () => run("display-message", "-p", "-t", "top", "#{alternate_on}").trim() === "1"
      }
    }),
    ({ run }) => Effect.sync(() => run("kill-server"))
  )

/** waits for the pane to show what `check` looks for, reading it every 100 ms, at most `millis` */
const showing = (what: string, read: () => string, check: (screen: string) => boolean, millis = 5000) =>
  waitUntilEffect(what, Effect.sync(() => check(read())).pipe(Effect.zipLeft(Effect.sleep("100 millis"))), millis)
    .pipe(Effect.catchAllDefect((d) => Effect.die(`${String(d)}; the pane:\n${read()}`)))

describe("ham top in a terminal (tmux)", () => {
  it.live.skipIf(!hasTmux)(
    "80×24 then 132×40: a SIGKILLed child's death and restart show within 3 s; a resize redraws; q restores the terminal; a HAM gone exits 3",
    () =>
      Effect.gen(function*() {
        const { daemon: d, dir, socket } = yield* daemon
        const term = yield* tmux(dir)
        const topLine = `${process.execPath} ${inject("hamBundle")} top --socket ${socket} --interval`
        // a minute between snapshots: what is drawn within this test is drawn by the events and the resize
        term.type(`stty -g > ${dir}/before; ${topLine} 60000; echo "exit=$?"; stty -g > ${dir}/after`)
        yield* showing(
          "the view",
          term.capture,
          (s) => s.startsWith("ham top  2/2 running") && /\nweb +process/.test(s)
        )
        expect(term.alternate()).toBe(true)

        const [web] = lsJson(socket)
        process.kill(web.pid!, "SIGKILL")
        // the event stream redraws at once; 3 s bounds a loaded machine
        yield* showing(
          "the death and the restart",
          term.capture,
          (s) =>
            s.includes(`web AbnormalDeath pid ${web.pid} SIGKILL`) && /web Restart restart 1 pid \d+/.test(s) &&
            // UPTIME, CPU% and RSS (a life just started may show no CPU yet: "-")
            /\nweb +process +\d+ +running +\S+ +(\d+\.\d|-) +(\S+[BKMG]|-) +1 +1 +SIGKILL\n/.test(s),
          3000
        )
        const small = term.capture()
        console.log(`ham top at 80×24:\n${small}`)
        const lines = small.replace(/\n+$/, "").split("\n")
        expect(lines.length).toBeLessThanOrEqual(24)
        for (const line of lines) expect(line.length).toBeLessThanOrEqual(80)
        // the CPU% and RSS columns leave the name less room: it loses more of its middle
        expect(small).toMatch(/\npayment\S*…\S*replica +process/)

        // a resized terminal is drawn again at its size: the long name whole
        term.run("resize-window", "-t", "top", "-x", "132", "-y", "40")
        yield* showing("the view resized", term.capture, (s) => new RegExp(`\\n${longName} +process`).test(s))

        term.run("send-keys", "-t", "top", "q")
        yield* showing("ham top to quit", term.capture, (s) => s.includes("exit=0"))
        expect(term.alternate()).toBe(false)
        expect(term.capture()).not.toContain("EVENTS (the newest last)")
        yield* showing("stty -g after", () => (fs.existsSync(`${dir}/after`) ? "yes" : ""), (s) => s === "yes")
        expect(fs.readFileSync(`${dir}/after`, "utf8")).toBe(fs.readFileSync(`${dir}/before`, "utf8"))

        // started at 132×40; then the HAM goes away
        term.type("clear")
        term.type(`${topLine} 300; echo "exit=$?"`)
        yield* showing("the view at 132×40", term.capture, (s) => s.startsWith("ham top") && s.includes(longName))
        const [, second] = lsJson(socket)
        process.kill(second.pid!, "SIGKILL")
        yield* showing("the second death", term.capture, (s) => s.includes(`AbnormalDeath pid ${second.pid} SIGKILL`))
        const large = term.capture()
        console.log(`ham top at 132×40:\n${large}`)
        for (const line of large.split("\n")) expect(line.length).toBeLessThanOrEqual(132)
        expect(large).toMatch(
          new RegExp(`\\n${longName} +process +\\d+ +running +\\S+ +(\\d+\\.\\d|-) +(\\S+[BKMG]|-) +1 +1 +SIGKILL\\n`)
        )

        expect(ham("stop", "--socket", socket).code).toBe(0)
        yield* showing("exit 3", term.capture, (s) => s.includes("exit=3"), 15_000)
        expect(term.capture()).toMatch(/ham: the HAM at \S+ went away\nexit=3/)
        expect(term.alternate()).toBe(false)
        yield* waitUntilEffect("the daemon to exit", Effect.sync(() => d.out.exit !== undefined), 15_000)
      }).pipe(Effect.scoped),
    90_000
  )
})

describe("ham top --once", () => {
  it.live(
    "one frame without control codes: the header, the table, the events of one interval",
    () =>
      Effect.gen(function*() {
        const { daemon: d, socket } = yield* daemon
        const [web] = lsJson(socket)
        const once = yield* spawnedOnce(socket)
        // the events of its interval are in its frame
        yield* Effect.sleep("400 millis")
        process.kill(web.pid!, "SIGKILL")
        const out = yield* once
        expect(out.code, out.stderr).toBe(0)
        expect(out.stdout).not.toContain("\x1b")
        const lines = out.stdout.replace(/\n$/, "").split("\n")
        expect(lines[0]).toMatch(
          /^ham top {2}\d\/2 running {2}up \d+s {2}events \S+ {2}\d\d:\d\d:\d\d {2}\S+ham\.sock$/
        )
        // at 80 columns the last death's header may be cut (its column keeps 40 % of what the others leave)
        expect(lines[2]).toMatch(/^NAME +KIND +PID +STATE +UPTIME +CPU% +RSS +RESTARTS DEATHS LAST(?: DEATH| \S*…|…)$/)
        expect(out.stdout).toContain(`web AbnormalDeath pid ${web.pid} SIGKILL`)
        expect(lines.length).toBeLessThanOrEqual(24)
        for (const line of lines) expect(line.length).toBeLessThanOrEqual(80)
        expect(ham("top", "--once", "--socket", path.join(path.dirname(socket), "none.sock")).code).toBe(3)
        expect(ham("top", "--once", "--interval", "10", "--socket", socket).code).toBe(2)
        expect(ham("stop", "--socket", socket).code).toBe(0)
        yield* waitUntilEffect("the daemon to exit", Effect.sync(() => d.out.exit !== undefined), 15_000)
      }).pipe(Effect.scoped),
    60_000
  )
})

/** `ham top --once --interval 1500` run in the background: its exit code and output */
const spawnedOnce = (socket: string) =>
  Effect.async<{ code: number | null; stdout: string; stderr: string }>((resume) => {
    const child = cp.execFile(
      process.execPath,
      [inject("hamBundle"), "top", "--once", "--interval", "1500", "--socket", socket],
      { encoding: "utf8", timeout: 20_000 },
      (error, stdout, stderr) =>
        resume(Effect.succeed({ code: error === null ? 0 : (error.code as number | null), stdout, stderr }))
    )
    return Effect.sync(() => child.kill())
  }).pipe(Effect.fork, Effect.map((fiber) => fiber.await.pipe(Effect.flatMap((exit) => exit))))
