/**
 * `ham web` (issue 18): the page's first render with 200 entities, in headless Chromium, and what a
 * connected page costs the HAM. The server runs in the HAM's own process here (the worst case: the
 * `ham web` command is a process of its own, which costs the HAM one event subscription).
 *
 * - `web_first_render_ms`: the median, over fresh loads, of the time from the navigation's start
 *   (the visit with `?token=`, its redirect, the page, its script, the tree) to the 200 entities'
 *   rows in the DOM, as the page measures it (`performance.now()` at its first render). Target:
 *   ≤ 500 ms. Baseline: the same page of a HAM with one entity (`web_first_render_1_ms`), and the
 *   ratio. Skipped, with a line saying so, without chromium.
 * - `web_feed_delivered`: the events a connected page received (a server-sent event client in a
 *   process of its own) of 1,000 events/s raised for 3 s, as a fraction (target 1.00), and
 *   `web_feed_lag_ms`: the median time from an event to its arrival.
 * - The HAM's dispatch figure (`dispatch_throughput`'s: 200,000 raises), rounds interleaved, timed
 *   on this process's CPU clock (the machine is shared: its wall clock moves with the others' load,
 *   ±30 %, its CPU time within a few %): `web_dispatch_served` with `ham web` serving the HAM and no
 *   page, `web_dispatch_watched` with a page connected to its events; `web_dispatch_ratio`, the
 *   second over the first, is what a connected page costs. Target: ≥ 0.95 (no more than 5 %
 *   lost). `web_dispatch_alone` (no `ham web`) and `web_served_ratio` say what `ham web`'s event
 *   subscription itself costs: a subscriber that lags behind a flood (any: `ham top`, `ham events
 *   -f`) makes each event go through the pubsub's slow path (`ham/dispatch.ts`, `enqueue`).
 */
import { Effect, Layer, Redacted, Schedule } from "effect"
import { Entity, Ham } from "effect-ham"
import { CondDeath } from "effect-ham/Condition"
import * as cp from "node:child_process"
import * as fs from "node:fs"
import { chromium } from "playwright-core"
import * as server from "../src/internal/web/server.js"
import { cpuMillis, dispatchRate, median, report } from "./core.js"

const chromiumPath = process.env.HAM_CHROMIUM ?? "/usr/bin/chromium"
const viewToken = "bench-view-token-0123456789"
const operatorToken = "bench-operator-token-0123456789"
const tokens = { viewToken: Redacted.make(viewToken), operatorToken: Redacted.make(operatorToken) }

/** `n` fiber entities, each with a death condition holding a restart and a log */
const populate = (n: number) =>
  Effect.forEach(
    Array.from({ length: n }, (_, i) => `svc-${String(i).padStart(3, "0")}`),
    (name) =>
      Effect.zipRight(
        Ham.attach(Entity.fiber(name, Effect.never)),
        Ham.condition(name, CondDeath).pipe(Ham.restart, Ham.log(`${name} died`))
      ),
    { discard: true }
  )

/** `ham web` of a HAM of this process, for the scope */
export const served = Effect.flatMap(Ham.Ham, (ham) => server.serve(ham, { ...tokens, port: 0 }))

/** the median first render (ms) of the page of a HAM with `n` entities, over `loads` fresh loads */
const firstRender = (n: number, loads: number) =>
  Effect.gen(function*() {
    yield* populate(n)
    const web = yield* served
    const browser = yield* Effect.acquireRelease(
      Effect.promise(() => chromium.launch({ executablePath: chromiumPath, args: ["--no-sandbox"] })),
      (b) => Effect.promise(() => b.close())
    )
    const times: Array<number> = []
    for (let i = 0; i < loads; i++) {
      const context = yield* Effect.promise(() => browser.newContext())
      const page = yield* Effect.promise(() => context.newPage())
      yield* Effect.promise(() => page.goto(`${web.url}?token=${viewToken}`))
      yield* Effect.promise(() => page.waitForFunction(`document.querySelectorAll("tr.entity").length === ${n}`))
      times.push(Number(yield* Effect.promise(() => page.evaluate("document.body.dataset.rendered"))))
      yield* Effect.promise(() => context.close())
    }
    // the first load warms the server and the browser's process up
    return median(times.slice(1))
  }).pipe(Effect.scoped, Effect.provide(Ham.HamLive))

/**
 * A page of its own process: a server-sent event client of `url` that reports, every 100 ms, how
 * many events it has received and the median delay of those (from the event's time to its arrival).
 */
const clientScript = `
const http = require("node:http")
let n = 0, rest = "", lags = []
http.get(process.argv[1], { headers: { authorization: "Bearer " + process.argv[2] } }, (res) => {
  res.setEncoding("utf8")
  res.on("data", (chunk) => {
    const now = Date.now()
    const frames = (rest + chunk).split("\\n\\n")
    rest = frames.pop()
    for (const f of frames) {
      const at = f.indexOf("data: {")
      if (at < 0) continue
      n++
      if (lags.length < 100000) lags.push(now - JSON.parse(f.slice(at + 6)).time)
    }
  })
})
setInterval(() => {
  const s = [...lags].sort((a, b) => a - b)
  process.stdout.write(n + " " + (s.length ? s[Math.floor(s.length / 2)] : -1) + "\\n")
}, 100)
`

/** a connected page (a process of its own), for the scope; `seen` reads its last report */
const page = (url: string) =>
  Effect.gen(function*() {
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        cp.spawn(process.execPath, ["-e", clientScript, `${url}api/events`, viewToken], {
          stdio: ["ignore", "pipe", "inherit"]
        })
      ),
      (child) => Effect.sync(() => child.kill("SIGKILL"))
    )
    let last = { n: 0, lag: -1 }
    child.stdout.setEncoding("utf8")
    child.stdout.on("data", (text: string) => {
      const line = text.trim().split("\n").pop()!.split(" ")
      last = { n: Number(line[0]), lag: Number(line[1]) }
    })
    // connected once it has reported (and the server counts it)
    yield* Effect.sleep("300 millis")
    return { seen: Effect.sync(() => last) }
  })

/** 1,000 raises a second for 3 s on one entity; what a connected page received of them */
const feed = Effect.gen(function*() {
  const web = yield* served
  const e = yield* Ham.attachSelf("feeder")
  const client = yield* page(web.url)
  const before = (yield* client.seen).n
  const raise = Ham.raise(e, { type: 1, class: 1, severity: 1 })
  // 10 raises every 10 ms: 1,000 a second
  yield* Effect.repeat(Effect.repeatN(raise, 9), Schedule.recurs(299).pipe(Schedule.addDelay(() => "10 millis")))
  yield* Effect.sleep("500 millis")
  const after = yield* client.seen
  return { delivered: (after.n - before) / 3000, lag: after.lag }
}).pipe(Effect.scoped, Effect.provide(Ham.HamLive))

/** a HAM with `ham web` serving it, and a page connected to its events when `connected` */
export const withWeb = (connected: boolean) =>
  Layer.scopedDiscard(Effect.gen(function*() {
    const web = yield* served
    if (connected) yield* page(web.url)
  })).pipe(Layer.provideMerge(Ham.HamLive))

export const web = Effect.gen(function*() {
  if (fs.existsSync(chromiumPath)) {
    const one = yield* firstRender(1, 6)
    const many = yield* firstRender(200, 6)
    report("web_first_render_1_ms", one, "ms (the page of 1 entity: the baseline)", 1)
    report("web_first_render_ms", many, "ms (200 entities, target <= 500)", 1)
    report("web_first_render_ratio", many / one, "x (200 entities / 1)")
  } else {
    console.log(`web_first_render_ms: skipped (no chromium at ${chromiumPath}: apt-get install chromium)`)
  }
  const f = yield* feed
  report("web_feed_delivered", f.delivered, "of 1000 events/s for 3 s received by a connected page (target 1.00)")
  report("web_feed_lag_ms", f.lag, "ms (median, an event to its arrival in the page)", 0)
  const alone: Array<number> = []
  const servedRates: Array<number> = []
  const watched: Array<number> = []
  const rate = <E>(layer: Layer.Layer<Ham.Ham, E>) => dispatchRate(layer, 200_000, "publisher", cpuMillis)
  for (let round = 0; round < 10; round++) {
    alone.push(yield* rate(Ham.HamLive))
    servedRates.push(yield* rate(withWeb(false)))
    watched.push(yield* rate(withWeb(true)))
  }
  const [a, s, w] = [alone, servedRates, watched].map((rates) => median(rates.slice(1)))
  report("web_dispatch_alone", a, "events/s of CPU time (no ham web)", 0)
  report("web_dispatch_served", s, "events/s of CPU time (ham web in the HAM's process, no page)", 0)
  report("web_dispatch_watched", w, "events/s of CPU time (the same, a page connected to the feed)", 0)
  report("web_dispatch_ratio", w / s, "x (watched / served: a connected page's cost, target >= 0.95)")
  report("web_served_ratio", s / a, "x (served / alone: ham web's event subscription, lagging behind the flood)")
})

// `node --import tsx bench/web.ts`: these figures alone
if (process.argv[1]?.endsWith("web.ts")) {
  Effect.runPromise(web).then(() => process.exit(0), (e) => {
    console.error(e)
    process.exit(1)
  })
}
