/**
 * The notify line protocol, pure: the parser, its inverse, IPC messages and the line splitter.
 */
import { describe, expect, it } from "@effect/vitest"
import { Either, Option } from "effect"
import * as notify from "../src/internal/notify/protocol.js"
import { raise, ready, state, status, unknown, watchdog } from "./notify.js"

const parsed = (line: string) => Either.getOrThrowWith(notify.parseLine(line), (e) => new Error(e.message))
const reason = (line: string) =>
  Either.match(notify.parseLine(line), { onLeft: (e) => e.reason, onRight: (m) => `parsed as ${m._tag}` })

// ---------------------------------------------------------------------------------------------
// the line parser
// ---------------------------------------------------------------------------------------------

describe("notify parseLine", () => {
  it("parses every key", () => {
    expect(parsed("READY=1")).toEqual(ready)
    expect(parsed("WATCHDOG=1")).toEqual(watchdog)
    expect(parsed("STATE=0")).toEqual(state(0))
    expect(parsed("STATE=42")).toEqual(state(42))
    expect(parsed("STATE=007")).toEqual(state(7))
    expect(parsed("RAISE=1,2,3")).toEqual(raise(1, 2, 3, ""))
    expect(parsed("RAISE=1,2,3,disk full")).toEqual(raise(1, 2, 3, "disk full"))
    expect(parsed("RAISE=10, 20 ,30,a, b,c")).toEqual(raise(10, 20, 30, "a, b,c"))
    expect(parsed("STATUS=serving 3 clients")).toEqual(status("serving 3 clients"))
    expect(parsed("STATUS=")).toEqual(status(""))
    expect(parsed("STATUS=a=b")).toEqual(status("a=b"))
  })

  it("ignores one trailing carriage return", () => {
    expect(parsed("READY=1\r")).toEqual(ready)
    expect(parsed("STATE=5\r")).toEqual(state(5))
  })

  it("gives unknown keys as Unknown", () => {
    expect(parsed("MAINPID=1234")).toEqual(unknown("MAINPID", "1234"))
    expect(parsed("ready=1")).toEqual(unknown("ready", "1"))
    expect(parsed("X_1=")).toEqual(unknown("X_1", ""))
  })

  it("reports malformed lines and values", () => {
    expect(reason("")).toBe("empty line")
    expect(reason("READY")).toBe("expected KEY=VALUE")
    expect(reason("=1")).toBe("invalid key")
    expect(reason("BAD KEY=1")).toBe("invalid key")
    expect(reason("READY=0")).toBe("READY takes the value 1")
    expect(reason("READY=")).toBe("READY takes the value 1")
    expect(reason("WATCHDOG=trigger")).toBe("WATCHDOG takes the value 1")
    for (const value of ["", "-1", "1.5", "abc", "1e3", "99999999999999999999"]) {
      expect(reason(`STATE=${value}`)).toBe("STATE takes a non-negative integer")
    }
    for (const value of ["", "1", "1,2", "1,2,x", "-1,2,3", "1,,3,detail"]) {
      expect(reason(`RAISE=${value}`)).toBe(
        "RAISE takes <type>,<class>,<severity>[,<detail>] with non-negative integers"
      )
    }
    const error = notify.parseLine("STATE=x")
    expect(Either.isLeft(error) && error.left).toMatchObject({ _tag: "NotifyParseError", line: "STATE=x" })
  })

  it("accepts lines of 4096 bytes and rejects longer ones", () => {
    const text = "x".repeat(4096 - "STATUS=".length)
    expect(parsed(`STATUS=${text}`)).toEqual(status(text))
    expect(reason(`STATUS=${text}y`)).toBe("line longer than 4096 bytes")
    // bytes, not characters: "é" is two bytes
    const accents = "é".repeat(2045)
    expect(Buffer.byteLength(`STATUS=${accents}`)).toBe(4097)
    expect(reason(`STATUS=${accents}`)).toBe("line longer than 4096 bytes")
    const error = notify.parseLine(`STATUS=${text}y`)
    expect(Either.isLeft(error) && error.left.line.length).toBe(200)
  })

  it("formats messages as lines that parse back", () => {
    const messages = [
      ready,
      watchdog,
      state(0),
      state(123456),
      raise(1, 2, 3, ""),
      raise(4, 5, 6, "with, commas"),
      status("hello"),
      unknown("FOO", "bar")
    ]
    for (const m of messages) expect(parsed(notify.formatMessage(m))).toEqual(m)
    expect(notify.formatMessage(raise(1, 2, 3, "a"))).toBe("RAISE=1,2,3,a")
    expect(notify.formatMessage(status("two\nlines\r\nhere"))).toBe("STATUS=two lines here")
    // cut to 4096 bytes on a character boundary
    const long = notify.formatMessage(status("é".repeat(3000)))
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(4096)
    expect(long).toBe(`STATUS=${"é".repeat(2044)}`)
  })

  it("reads IPC messages", () => {
    expect(notify.parseIpcMessage({ ham: "WATCHDOG=1" })).toEqual(Option.some(watchdog))
    expect(notify.parseIpcMessage({ ham: "RAISE=1,2,3,x" })).toEqual(Option.some(raise(1, 2, 3, "x")))
    expect(notify.parseIpcMessage({ ham: "STATE=-1" })).toEqual(Option.none())
    expect(notify.parseIpcMessage({ ham: 1 })).toEqual(Option.none())
    expect(notify.parseIpcMessage("WATCHDOG=1")).toEqual(Option.none())
    expect(notify.parseIpcMessage(null)).toEqual(Option.none())
    expect(notify.parseIpcMessage({ cmd: "NODE_CLUSTER" })).toEqual(Option.none())
  })
})

describe("notify line splitter", () => {
  const split = (maxBytes: number, chunks: ReadonlyArray<string | Buffer>, end = true) => {
    const out: Array<string> = []
    const splitter = notify.makeSplitter(
      maxBytes,
      (item) =>
        out.push(item._tag === "Line" ? item.bytes.toString("utf8") : `TOO LONG:${item.prefix.toString("utf8")}`)
    )
    for (const chunk of chunks) splitter.data(typeof chunk === "string" ? Buffer.from(chunk) : chunk)
    if (end) splitter.end()
    return out
  }

  it("splits lines across chunk boundaries", () => {
    expect(split(100, ["REA", "DY=1\nWATCH", "DOG=1\n", "\nSTATE=3\nSTA", "TUS=x"])).toEqual([
      "READY=1",
      "WATCHDOG=1",
      "",
      "STATE=3",
      "STATUS=x"
    ])
    expect(split(100, ["A=1\nB=2"], false)).toEqual(["A=1"])
  })

  it("keeps a UTF-8 character split between chunks whole", () => {
    const bytes = Buffer.from("STATUS=é€\n")
    expect(split(100, [bytes.subarray(0, 8), bytes.subarray(8, 11), bytes.subarray(11)])).toEqual(["STATUS=é€"])
  })

  it("drops an over-long line once (reporting its first bytes), then goes on with the next", () => {
    expect(split(8, ["0123456789\nA=1\n"])).toEqual(["TOO LONG:01234567", "A=1"])
    expect(split(8, ["0123", "4567", "89ab", "cdef\nA=1\n"])).toEqual(["TOO LONG:01234567", "A=1"])
    expect(split(8, ["01234567\n", "012345678"])).toEqual(["01234567", "TOO LONG:01234567"])
    expect(split(8, ["0123456", "78", "9\n", "0123456", "7\n"])).toEqual(["TOO LONG:01234567", "01234567"])
  })
})
