/**
 * `ham web`'s page in a real headless Chromium (Debian's `chromium`, driven by `playwright-core`
 * through `executablePath`): the bundled CLI's `ham web` against a real daemon, opened at the
 * address it printed. The page loads with no console error; its tree shows the supervised
 * process; a SIGKILL of that process shows as a death and a restart in the feed and on the
 * entity's timeline within 1 s, without a reload; the restart button, without the operator token,
 * gets 403 and changes nothing, and with it restarts the process; when the HAM stops, `ham web`
 * exits with 3. Skipped, with the reason
 * printed, on a machine without chromium (`.ci/run` installs it). With `HAM_WEB_SCREENSHOT=<file>`
 * it also saves a screenshot of the page there (the README's, `docs/ham-web.png`).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import { chromium, type ConsoleMessage, type Page } from "playwright-core"
import { ham, lsJson, restartingSleep, runningDaemon, spawned } from "./daemon.js"
import { waitUntilEffect } from "./processes.js"

/** Debian's chromium */
export const chromiumPath = process.env.HAM_CHROMIUM ?? "/usr/bin/chromium"
const hasChromium = fs.existsSync(chromiumPath)
if (!hasChromium) {
  console.log(`WebBrowser: the browser tests are skipped: no chromium at ${chromiumPath} (apt-get install chromium)`)
}

/** a daemon with restarting `sleep`s (`web` first), and `ham web` serving it on a free port */
export const served = (names: ReadonlyArray<string> = ["web", "worker"]) =>
  Effect.gen(function*() {
    const { dir, socket } = yield* runningDaemon("ham-web-", names.map(restartingSleep))
    const web = yield* spawned("web", "--socket", socket, "--web-port", "0")
    yield* waitUntilEffect("ham web to serve", Effect.sync(() => /Ctrl-C/.test(web.out.stdout)), 60_000).pipe(
      Effect.catchAllDefect((e) => Effect.die(`${String(e)}\n${web.out.stdout}\n${web.out.stderr}`))
    )
    const view = /view: (\S+)/.exec(web.out.stdout)![1]
    const operator = /operator token: (\S+)/.exec(web.out.stdout)![1]
    return { dir, socket, view, operator, web }
  })

/** a headless chromium, closed with the scope */
export const browser = Effect.acquireRelease(
  Effect.promise(() => chromium.launch({ executablePath: chromiumPath, args: ["--no-sandbox"] })),
  (b) => Effect.promise(() => b.close())
)

const entityOf = (socket: string, name: string) => lsJson(socket).find((e) => e.name === name)!

/** waits (in the page) for `selector`, at most `millis` */
const waitFor = (page: Page, selector: string, millis = 5000) =>
  Effect.promise(() => page.waitForSelector(selector, { timeout: millis, state: "attached" }))

describe("ham web in headless Chromium", () => {
  it.live.skipIf(!hasChromium)(
    "loads with no console error; shows the process; a SIGKILL's death and restart appear within 1 s without a reload; restart needs the operator token",
    () =>
      Effect.gen(function*() {
        const { operator, socket, view, web } = yield* served()
        const b = yield* browser
        const page = yield* Effect.promise(() => b.newPage({ viewport: { width: 1280, height: 640 } }))
        const errors: Array<string> = []
        page.on("console", (m: ConsoleMessage) => {
          if (m.type() === "error") errors.push(m.text())
        })
        page.on("pageerror", (e) => errors.push(String(e)))
        yield* Effect.promise(() => page.goto(view))
        // the token went to a cookie; the address lost it
        expect(page.url()).not.toContain("token=")

        const first = entityOf(socket, "web")
        expect(first.status).toBe("running")
        yield* waitFor(page, `tr.entity[data-entity="web"]`)
        const cells = yield* Effect.promise(() => page.locator(`tr.entity[data-entity="web"] > td`).allTextContents())
        expect(cells.slice(1, 4)).toEqual(["process", String(first.pid), "running"])
        yield* waitFor(page, "#live.on")
        expect(errors).toEqual([])

        // a SIGKILL: a death and a restart, in the feed and on the timeline, within 1 s, same document
        yield* Effect.promise(() => page.evaluate("window.mark = 42"))
        const t0 = performance.now()
        process.kill(first.pid!, "SIGKILL")
        yield* Effect.all([
          waitFor(page, `#feed li[data-entity="web"][data-type="Death"]`, 1000),
          waitFor(page, `#feed li[data-entity="web"][data-type="Restart"]`, 1000),
          waitFor(page, `svg.timeline[data-entity="web"][data-deaths="1"][data-restarts="1"]`, 1000)
        ], { concurrency: "unbounded" })
        const took = performance.now() - t0
        console.log(`WebBrowser: the death and the restart shown ${took.toFixed(0)} ms after the SIGKILL`)
        expect(took).toBeLessThan(1000)
        expect(yield* Effect.promise(() => page.evaluate("window.mark"))).toBe(42)
        const feed = yield* Effect.promise(() => page.locator(`#feed li[data-type="Death"]`).first().textContent())
        expect(feed).toContain(`pid ${first.pid}`)
        expect(feed).toContain("SIGKILL")
        expect(errors).toEqual([])

        // the restart button without the operator token: 403, and nothing changes
        yield* waitUntilEffect(
          "the restarted process in the tree",
          Effect.sync(() => entityOf(socket, "web").status === "running")
        )
        const before = entityOf(socket, "web")
        yield* Effect.promise(() => page.click(`tr.entity[data-entity="web"] td.ops button:text-is("restart")`))
        yield* waitFor(page, `body[data-last-action="restart web 403"]`)
        expect(yield* Effect.promise(() => page.textContent("#status"))).toContain("403")
        const unchanged = entityOf(socket, "web")
        expect([unchanged.pid, unchanged.stats.restarts]).toEqual([before.pid, before.stats.restarts])
        // Chromium reports the refused request itself; nothing else
        expect(errors.filter((e) => !/status of 403/.test(e))).toEqual([])

        // with the operator token: restarted
        yield* Effect.promise(() => page.fill("#operator", operator))
        yield* Effect.promise(() => page.dispatchEvent("#operator", "change"))
        yield* Effect.promise(() => page.click(`tr.entity[data-entity="web"] td.ops button:text-is("restart")`))
        yield* waitFor(page, `body[data-last-action="restart web 200"]`)
        const after = entityOf(socket, "web")
        expect(after.stats.restarts).toBe(before.stats.restarts + 1)
        expect(after.pid).not.toBe(before.pid)
        expect(errors.filter((e) => !/status of 403/.test(e))).toEqual([])

        const shot = process.env.HAM_WEB_SCREENSHOT
        if (shot !== undefined) {
          yield* Effect.promise(() => page.click(`tr.entity[data-entity="web"] button.fold`))
          yield* Effect.promise(() => page.fill("#operator", ""))
          yield* Effect.promise(() => page.screenshot({ path: shot, clip: { x: 0, y: 0, width: 1280, height: 330 } }))
        }
        // the HAM goes away: ham web ends with exit 3
        expect(ham("stop", "--socket", socket).code).toBe(0)
        yield* waitUntilEffect("ham web to exit", Effect.sync(() => web.out.exit !== undefined), 30_000)
        expect([web.out.exit, web.out.stderr]).toEqual([3, expect.stringContaining("went away")])
      }).pipe(Effect.scoped),
    60_000
  )
})
