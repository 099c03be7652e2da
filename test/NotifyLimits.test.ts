/**
 * The limits of the notify channel, pure: the total connection cap from the open-file limit, and
 * the log rate (what is logged, what is counted, when the summary is due and what it says).
 */
import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import * as limits from "../src/internal/notify/limits.js"

describe("notify connection caps", () => {
  it("the total cap is half the open-file limit, from 256 to 16,384", () => {
    expect(limits.totalConnectionsFor(1024)).toBe(512)
    expect(limits.totalConnectionsFor(20_000)).toBe(10_000)
    expect(limits.totalConnectionsFor(256)).toBe(256)
    expect(limits.totalConnectionsFor(1_048_576)).toBe(16_384)
    expect(limits.totalConnectionsFor(Infinity)).toBe(16_384)
  })

  it("reads the soft open-file limit of /proc/<pid>/limits", () => {
    const text = (soft: string) =>
      [
        "Limit                     Soft Limit           Hard Limit           Units     ",
        "Max processes             127764               127764               processes ",
        `Max open files            ${soft}                20000                files     `,
        "Max locked memory         8388608              8388608              bytes     "
      ].join("\n")
    expect(limits.parseOpenFilesLimit(text("1024"))).toBe(1024)
    expect(limits.parseOpenFilesLimit(text("unlimited"))).toBe(Infinity)
    expect(limits.parseOpenFilesLimit(text("x"))).toBeUndefined()
    expect(limits.parseOpenFilesLimit("Max processes 1 1 processes")).toBeUndefined()
    // this process: Node raises its soft limit to the hard one
    expect(limits.defaultTotalConnections()).toBeGreaterThanOrEqual(256)
  })
})

describe("notify log rate", () => {
  const rate = { burst: 3, intervalMillis: 1000 }

  /** runs reports at the given times; returns what was logged and the summaries due */
  const replay = (reports: ReadonlyArray<readonly [number, limits.Report]>) => {
    let window = limits.idleWindow
    const out: Array<string> = []
    for (const [now, kind] of reports) {
      const admission = limits.admit(rate, window, now, kind)
      window = admission.window
      out.push(`${now} ${kind} ${admission.log ? "logged" : "counted"}`)
      if (admission.summaryAt !== undefined) out.push(`summary due at ${admission.summaryAt}`)
    }
    return { out, window }
  }

  it("logs the first reports of an interval, counts the others, and asks for one summary at its end", () => {
    const { out, window } = replay([[100, "line"], [200, "line"], [300, "connection"], [400, "line"], [
      500,
      "connection"
    ], [1200, "line"]])
    expect(out).toEqual([
      "100 line logged",
      "200 line logged",
      "300 connection logged",
      "400 line counted",
      "summary due at 1100",
      "500 connection counted",
      // the summary has not run: the interval goes on
      "1200 line counted"
    ])
    const summary = limits.summarize(rate, window, 1100)
    expect(summary.message).toBe("notify: not logged in the last 1 s: 2 malformed lines, 1 refused connection")
    // after the summary a new interval starts
    const next = limits.admit(rate, summary.window, 1150, "line")
    expect(next).toMatchObject({ log: true, summaryAt: undefined })
  })

  it("an interval with nothing dropped ends by itself", () => {
    const { out } = replay([[0, "line"], [10, "line"], [999, "line"], [1000, "line"], [1001, "line"]])
    expect(out).toEqual(["0 line logged", "10 line logged", "999 line logged", "1000 line logged", "1001 line logged"])
  })

  it.prop(
    "burst + 1 lines per interval of the limiter: at most 2 × burst + 1 in any stretch of one interval",
    [fc.array(fc.tuple(fc.nat(20_000), fc.constantFrom<limits.Report>("line", "connection")), { maxLength: 300 })],
    ([reports]) => {
      // the reports in time order, with the summaries run when due
      const sorted = [...reports].sort((a, b) => a[0] - b[0])
      let window = limits.idleWindow
      let due: number | undefined
      const logged: Array<number> = []
      for (const [now, kind] of sorted) {
        if (due !== undefined && due <= now) {
          window = limits.summarize(rate, window, due).window
          logged.push(due)
          due = undefined
        }
        const admission = limits.admit(rate, window, now, kind)
        window = admission.window
        if (admission.log) logged.push(now)
        if (admission.summaryAt !== undefined) due = admission.summaryAt
      }
      for (const t of logged) {
        expect(logged.filter((u) => u >= t && u < t + rate.intervalMillis).length).toBeLessThanOrEqual(
          2 * rate.burst + 1
        )
      }
    }
  )
})
