/**
 * The notify line protocol, pure: the parser, its inverse, IPC messages and the line splitter.
 */
import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck as fc, Option } from "effect"
import * as notify from "../src/internal/notify/protocol.js"
import { raise, ready, state, status, unknown, watchdog } from "./notify.js"

const parsed = (line: string) => Either.getOrThrowWith(notify.parseLine(line), (e) => new Error(e.message))
const reason = (line: string) =>
  Either.match(notify.parseLine(line), { onLeft: (e) => e.reason, onRight: (m) => `parsed as ${m._tag}` })

// ---------------------------------------------------------------------------------------------
// the line parser
// ---------------------------------------------------------------------------------------------

/** what a child's text may not carry into the log: C0 and C1 controls, DEL, line and bidi separators */
// eslint-disable-next-line no-control-regex -- control characters are what it looks for
const Unsafe = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/

describe("notify parseLine", () => {
  it("parses every key", () => {
    expect(parsed("READY=1")).toEqual(ready)
    expect(parsed("WATCHDOG=1")).toEqual(watchdog)
    expect(parsed("STATE=0")).toEqual(state(0))
    expect(parsed("STATE=42")).toEqual(state(42))
    expect(parsed("STATE=9007199254740991")).toEqual(state(Number.MAX_SAFE_INTEGER))
    expect(parsed("RAISE=1,2,3")).toEqual(raise(1, 2, 3, ""))
    expect(parsed("RAISE=1,2,3,disk full")).toEqual(raise(1, 2, 3, "disk full"))
    expect(parsed("RAISE=10,20,30,a, b,c")).toEqual(raise(10, 20, 30, "a, b,c"))
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

describe("notify numbers are canonical", () => {
  const bad = [
    " 5",
    "5 ",
    "\t5",
    "007",
    "00",
    "+5",
    "-0",
    "1e3",
    "0x10",
    "5.0",
    "1_000",
    "9007199254740992",
    "99999999999999999999",
    "\u0665"
  ]

  it("STATE= takes a non-negative integer in its canonical decimal form only", () => {
    for (const value of bad) expect(reason(`STATE=${value}`)).toBe("STATE takes a non-negative integer")
    expect(parsed("STATE=0")).toEqual(state(0))
    expect(parsed("STATE=10")).toEqual(state(10))
    expect(parsed("STATE=9007199254740991")).toEqual(state(9007199254740991))
  })

  it("so do the numbers of RAISE=", () => {
    const message = "RAISE takes <type>,<class>,<severity>[,<detail>] with non-negative integers"
    for (const value of bad) {
      expect(reason(`RAISE=${value},2,3`)).toBe(message)
      expect(reason(`RAISE=1,${value},3`)).toBe(message)
      expect(reason(`RAISE=1,2,${value}`)).toBe(message)
      expect(reason(`RAISE=1,2,${value},detail`)).toBe(message)
    }
    expect(parsed("RAISE=0,10,9007199254740991, padded detail ")).toEqual(
      raise(0, 10, 9007199254740991, " padded detail ")
    )
  })
})

describe("notify text in the log", () => {
  it("escapeText shows control, line-separator and bidi characters as \\u escapes", () => {
    expect(notify.escapeText("plain text, é and € stay")).toBe("plain text, é and € stay")
    expect(notify.escapeText("a\u001b[31mred\rb\u0000c\td\u007fe\u009bf\u2028g\u202eh\u2066i")).toBe(
      "a\\u001b[31mred\\u000db\\u0000c\\u0009d\\u007fe\\u009bf\\u2028g\\u202eh\\u2066i"
    )
  })

  it("a parse error's message quotes the line with its control characters escaped", () => {
    const line = "STATE=\u001b[2J\u009b1m\rlevel=ERROR \u202e"
    const error = Either.flip(notify.parseLine(line)).pipe(Either.getOrThrow)
    expect(error.line).toBe(line)
    expect(error.message).not.toMatch(Unsafe)
    expect(error.message).toContain("\\u001b[2J\\u009b1m\\u000dlevel=ERROR \\u202e")
  })
})

// ---------------------------------------------------------------------------------------------
// properties
// ---------------------------------------------------------------------------------------------

const Known = new Set(["READY", "WATCHDOG", "STATE", "RAISE", "STATUS"])
const nat = fc.maxSafeNat()
/** one-line text: no newline or carriage return (formatMessage turns those into spaces) */
const oneLine = fc.string({ unit: "binary", maxLength: 300 }).map((s) => s.replace(/[\r\n]/g, " "))
/** text rich in what a hostile child would send: escapes, carriage returns, NULs, C1 and bidi controls */
const hostile = fc.string({
  unit: fc.oneof(
    fc.constantFrom("\u001b", "[", "\r", "\u0000", "\t", "\u007f", "\u009b", "\u2028", "\u202e", "\u2066", "="),
    fc.string({ unit: "binary", minLength: 1, maxLength: 1 })
  ),
  maxLength: 300
})
const message: fc.Arbitrary<notify.NotifyMessage> = fc.oneof(
  fc.constant(ready),
  fc.constant(watchdog),
  nat.map(state),
  fc.tuple(nat, nat, nat, oneLine).map(([t, c, s, d]) => raise(t, c, s, d)),
  oneLine.map(status),
  fc.tuple(fc.stringMatching(/^[A-Za-z0-9_]{1,20}$/).filter((k) => !Known.has(k)), oneLine).map(([k, v]) =>
    unknown(k, v)
  )
)

describe("notify protocol properties", () => {
  it.prop("formatMessage then parseLine gives the message back", [message], ([m]) => {
    expect(parsed(notify.formatMessage(m))).toEqual(m)
  })

  it.prop(
    "formatMessage gives one line of at most 4096 bytes that parses, whatever the text",
    [fc.string({ unit: "binary", maxLength: 5000 })],
    ([text]) => {
      for (const m of [status(text), raise(1, 2, 3, text), unknown("X", text)]) {
        const line = notify.formatMessage(m)
        expect(line).not.toMatch(/[\r\n]/)
        expect(Buffer.byteLength(line)).toBeLessThanOrEqual(4096)
        expect(Either.isRight(notify.parseLine(line))).toBe(true)
      }
    }
  )

  it.prop(
    "parseLine never throws, and its errors' messages carry no control character",
    [fc.oneof(
      fc.string({ unit: "binary", maxLength: 5000 }),
      hostile,
      hostile.map((text) => `STATE=${text}`),
      fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes).toString("utf8")),
      fc.tuple(fc.constantFrom("READY=", "WATCHDOG=", "STATE=", "RAISE=", "STATUS=", "X="), fc.string()).map(
        ([key, value]) => key + value
      )
    )],
    ([line]) => {
      const result = notify.parseLine(line)
      if (Either.isLeft(result)) expect(result.left.message).not.toMatch(Unsafe)
    }
  )

  /** numbers in many spellings, canonical or not */
  const spelled = fc.tuple(
    fc.constantFrom("", "", " ", "0", "00", "+", "-", "\t"),
    fc.oneof(nat, fc.constant(Number.MAX_SAFE_INTEGER + 1)),
    fc.constantFrom("", "", " ", "\r", ".0", "e0", "\r\r")
  ).map(([before, n, after]) => `${before}${n}${after}`)

  it.prop("a number parses only in its canonical form", [fc.oneof(spelled, fc.string())], ([value]) => {
    const result = notify.parseLine(`STATE=${value}`)
    if (Either.isRight(result)) {
      expect(result.right._tag).toBe("State")
      expect(value.replace(/\r$/, "")).toBe(String((result.right as { state: number }).state))
    }
    const raised = notify.parseLine(`RAISE=${value},${value},${value}`)
    if (Either.isRight(raised)) expect(Either.isRight(result)).toBe(true)
  })

  it.prop(
    "the splitter gives the same lines whatever the chunks",
    [fc.uint8Array({ maxLength: 400 }), fc.array(fc.nat(400), { maxLength: 20 }), fc.integer({ min: 1, max: 64 })],
    ([bytes, cuts, maxBytes]) => {
      const run = (chunks: ReadonlyArray<Uint8Array>) => {
        const out: Array<string> = []
        const splitter = notify.makeSplitter(
          maxBytes,
          (item) =>
            out.push(item._tag === "Line" ? `L:${item.bytes.toString("hex")}` : `T:${item.prefix.toString("hex")}`)
        )
        for (const chunk of chunks) splitter.data(Buffer.from(chunk))
        splitter.end()
        return out
      }
      const points = [...new Set(cuts.filter((c) => c < bytes.length))].sort((a, b) => a - b)
      const chunks = [0, ...points].map((start, i) => bytes.subarray(start, points[i] ?? bytes.length))
      expect(run(chunks)).toEqual(run([bytes]))
      // and one byte at a time
      expect(run(Array.from(bytes, (b) => Uint8Array.of(b)))).toEqual(run([bytes]))
    }
  )
})
