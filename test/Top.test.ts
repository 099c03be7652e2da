/**
 * `ham top`'s frame (src/internal/cli/top.ts): the header, the table and the feed fitted to the
 * terminal's columns and rows, the newest events shown, long names elided; the events' rate; the
 * frame as written to a terminal (screen.ts). `test/TopTerminal.test.ts` runs it in tmux.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fc from "effect/FastCheck"
import * as screen from "../src/internal/cli/screen.js"
import * as top from "../src/internal/cli/top.js"
import * as width_ from "../src/internal/cli/width.js"
import type * as cond from "../src/internal/condition.js"
import type * as tree_ from "../src/internal/tree.js"
import { entityNode, treeOf } from "./trees.js"

const start = Date.UTC(2026, 10, 27, 18, 0, 0)

const entity = (name: string, e: Partial<tree_.EntityNode> = {}): tree_.EntityNode =>
  entityNode({ name, path: name, pid: 4000, startedAt: start - 65_000, ...e })

const tree = (entities: ReadonlyArray<tree_.EntityNode>): tree_.Tree => treeOf(entities, start)

const death = (seq: number, name = "web"): cond.ConditionEvent => ({
  _tag: "CondAbnormalDeath",
  entity: name,
  time: start + seq * 1000,
  seq,
  abnormal: true,
  reason: "killed by SIGKILL",
  pid: 5000 + seq,
  signal: "SIGKILL"
})

const restart = (seq: number, name = "web"): cond.ConditionEvent => ({
  _tag: "CondRestart",
  entity: name,
  time: start + seq * 1000,
  seq,
  restarts: seq,
  pid: 6000 + seq
})

const longName = "payment-gateway-eu-west-1-primary-replica-number-two"

const input = (
  entities: ReadonlyArray<tree_.EntityNode>,
  events: ReadonlyArray<cond.ConditionEvent>,
  size: { readonly columns: number; readonly rows: number }
): top.Input => ({
  tree: tree(entities),
  events,
  rate: 2.5,
  uptime: 3_600_000,
  address: "/run/user/1000/ham/ham.sock",
  ...size
})

const sizes = [{ columns: 80, rows: 24 }, { columns: 132, rows: 40 }] as const

describe("ham top: the frame", () => {
  for (const size of sizes) {
    it(`fits ${size.columns}×${size.rows}: no line longer than the columns, no more lines than the rows`, () => {
      const many = Array.from({ length: 60 }, (_, i) => entity(i === 3 ? longName : `svc-${i}`))
      const events = Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? death(i, longName) : restart(i)))
      for (const entities of [many.slice(0, 3), many]) {
        const lines = top.frame(input(entities, events, size))
        expect(lines.length).toBeLessThanOrEqual(size.rows)
        for (const line of lines) expect(width_.width(line), line).toBeLessThanOrEqual(size.columns)
      }
      // three entities: the whole screen is used, the feed takes what the table leaves
      expect(top.frame(input(many.slice(0, 3), events, size)).length).toBe(size.rows)
    })
  }

  it("the header: running of all, the HAM's uptime, the events' rate, the time, the address", () => {
    const [header] = top.frame(
      input([entity("web"), entity("db", { status: "dead", pid: undefined })], [], { columns: 132, rows: 40 })
    )
    expect(header).toBe(`ham top  1/2 running  up 1h  events 2.5/s  ${top.clock(start)}  /run/user/1000/ham/ham.sock`)
    const unknown = top.header({ ...input([], [], sizes[0]), rate: undefined, uptime: undefined })
    expect(unknown).toBe(`ham top  0/0 running  events -  ${top.clock(start)}  /run/user/1000/ham/ham.sock`)
    // an address too long loses its middle: its end names the socket
    const long = top.header({ ...input([], [], sizes[0]), address: `/run/${"x".repeat(80)}/ham.sock` })
    expect(width_.width(long)).toBe(80)
    expect(long).toMatch(/ {2}\/run\/x+…x+\/ham\.sock$/)
  })

  it("the table is ham ls's: name, kind, pid, state, uptime, restarts, deaths, last death", () => {
    const lines = top.frame(input(
      [
        entity("web", { pid: 4242, stats: { restarts: 1, deaths: 1, lastDeath: "killed by SIGKILL" } as never })
      ],
      [],
      sizes[0]
    ))
    expect(lines[2]).toMatch(/^NAME +KIND +PID +STATE +UPTIME RESTARTS DEATHS LAST DEATH$/)
    expect(lines[3].split(/ +/)).toEqual(["web", "process", "4242", "running", "1m", "1", "1", "SIGKILL"])
  })

  it("the feed shows the newest events, oldest first, as many as fit", () => {
    const events = Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? death(i) : restart(i)))
    for (const size of sizes) {
      const lines = top.frame(input([entity("web")], events, size))
      const title = lines.indexOf("EVENTS (the newest last)")
      const feed = lines.slice(title + 1)
      // header, blank, table of 2, blank, title
      expect(feed.length).toBe(size.rows - 6)
      expect(feed.at(-1)).toBe(`${top.clock(start + 99_000)} web Restart restart 99 pid 6099`)
      expect(feed.at(-2)).toBe(`${top.clock(start + 98_000)} web AbnormalDeath pid 5098 SIGKILL`)
      const seqs = feed.map((line) => events.findIndex((e) => top.eventLine(e, size.columns) === line))
      expect(seqs).toEqual(Array.from({ length: feed.length }, (_, i) => 100 - feed.length + i))
    }
  })

  it("no events yet: the feed says so", () => {
    const lines = top.frame(input([entity("web")], [], sizes[0]))
    expect(lines.slice(-2)).toEqual([
      "EVENTS (the newest last)",
      "(none since ham top started: the HAM keeps no history)"
    ])
  })

  it("long names lose their middle (as in ham ls), in the table and in the feed", () => {
    const lines = top.frame(input([entity(longName), entity(`${longName}-b`)], [death(1, longName)], sizes[0]))
    const [a, b] = [lines[3].split(" ")[0], lines[4].split(" ")[0]]
    expect(a).toContain(width_.ellipsis)
    expect(a.startsWith("payment-")).toBe(true)
    expect(a.endsWith("two")).toBe(true)
    expect(b.endsWith("two-b")).toBe(true)
    const feed = lines.at(-1)!
    expect(feed.split(" ")[1]).toBe(width_.elide(longName, 20, "middle"))
    expect(feed.endsWith("AbnormalDeath pid 5001 SIGKILL")).toBe(true)
  })

  it("a table longer than the screen is cut and says how many entities are not shown; the feed keeps 3 rows", () => {
    const entities = Array.from({ length: 40 }, (_, i) => entity(`svc-${i}`))
    const lines = top.frame(input(entities, [death(1), restart(2), death(3), restart(4)], sizes[0]))
    expect(lines.length).toBe(24)
    // 24 rows: header, blank, 17 table lines (header, 15 entities, the "more" line), blank, title, 3 events
    expect(lines[18]).toBe("… 25 more entities (ham ls shows them all)")
    expect(lines.slice(-3).map((l) => l.split(" ").slice(1, 3).join(" "))).toEqual([
      "web Restart",
      "web AbnormalDeath",
      "web Restart"
    ])
  })

  it("any size, any names: the frame fits", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 300 }),
        fc.integer({ min: 1, max: 100 }),
        fc.array(fc.string({ maxLength: 80, unit: "grapheme" }), { maxLength: 30 }),
        fc.integer({ min: 0, max: 40 }),
        (columns, rows, names, n) => {
          const events = Array.from({ length: n }, (_, i) => death(i, names[i % Math.max(1, names.length)] ?? "x"))
          const lines = top.frame(input(names.map((name) => entity(name)), events, { columns, rows }))
          expect(lines.length).toBeLessThanOrEqual(rows)
          for (const line of lines) expect(width_.width(line)).toBeLessThanOrEqual(columns)
        }
      )
    )
  })
})

describe("ham top: the events kept and their rate", () => {
  it("keeps the last keptEvents events", () => {
    const events = Array.from({ length: top.keptEvents + 10 }, (_, i) => death(i))
    const kept = top.keep(events.slice(0, 300), events.slice(300))
    expect(kept.length).toBe(top.keptEvents)
    expect(kept[0].seq).toBe(10)
    expect(kept.at(-1)!.seq).toBe(top.keptEvents + 9)
  })

  it("the rate is over the last 10 seconds, from the samples of the refreshes", () => {
    let state = top.sample([], { at: 0, seen: 0 })
    expect(state.rate).toBeUndefined()
    state = top.sample(state.samples, { at: 1000, seen: 5 })
    expect(state.rate).toBe(5)
    // 20 events a second for 30 seconds, then none for 10 seconds: the window forgets the flood
    for (let s = 2; s <= 31; s++) state = top.sample(state.samples, { at: s * 1000, seen: 5 + (s - 1) * 20 })
    expect(state.rate).toBe(20)
    for (let s = 32; s <= 42; s++) state = top.sample(state.samples, { at: s * 1000, seen: 605 })
    expect(state.rate).toBe(0)
    expect(state.samples.length).toBeLessThanOrEqual(12)
  })
})

describe("ham top: the frame on a terminal", () => {
  it("drawn from the cursor's home, each line cleared to its end, the rest of the screen cleared", () => {
    expect(screen.draw(["a", "b"])).toBe("\x1b[H" + "a\x1b[K" + "\r\n" + "b\x1b[K" + "\x1b[J")
    // the alternate screen and the cursor: what is set on entering is unset on leaving
    expect(screen.ansi.enter).toBe("\x1b[?1049h\x1b[?25l")
    expect(screen.ansi.leave).toBe("\x1b[?25h\x1b[?1049l")
  })
})
