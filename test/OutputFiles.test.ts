/**
 * Output files written by the HAM: rotated by size with no external logrotate (nothing lost
 * between the files, the oldest dropped past `keep`), timestamped lines, a file already full
 * rotated when a life starts, and the daemon's `logRotate` / `logTimestamps`.
 */
import { Command } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { Entity, Ham } from "effect-ham"
import { appendFileSync, existsSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as ops from "../src/internal/cli/ops.js"
import * as config from "../src/internal/daemon/config.js"
import { bytesOf } from "../src/internal/ham/validate.js"
import * as output_ from "../src/internal/launch/output.js"
import { awaitEvents, inTempDir, waitUntil } from "./processes.js"
import { is, withHam } from "./utils.js"

const sh = (script: string) => Command.make("/bin/sh", "-c", script)

/** the lines of the rotated files, oldest first, then the current file's */
const linesOf = (file: string, keep: number): Array<string> => {
  const files = [...Array.from({ length: keep }, (_, i) => `${file}.${keep - i}`), file].filter(existsSync)
  return files.flatMap((f) => readFileSync(f, "utf8").split("\n").filter((line) => line !== ""))
}

describe("output files", () => {
  it.live("rotated by size: the newest lines kept in order across the files, the oldest dropped past keep", () =>
    inTempDir("ham-output-", (dir) =>
      Effect.gen(function*() {
        const out = join(dir, "out.log")
        const events = yield* Ham.subscribe
        // 3,000 numbered lines of 10-11 bytes (~31 KB) against files of 4 KB, 3 kept
        yield* Ham.attach(
          Entity.process("chatty", sh("i=0; while [ $i -lt 3000 ]; do i=$((i+1)); echo line-$i; done"), {
            output: { file: out, maxSize: "4K", keep: 3 }
          })
        )
        yield* awaitEvents(events, is("CondDeath", "chatty"))
        // a rotation's old file may still be flushing while the new one is written: wait for both
        const consecutive = (lines: ReadonlyArray<string>) =>
          lines.every((line, i) => i === 0 || Number(line.slice(5)) === Number(lines[i - 1].slice(5)) + 1)
        yield* waitUntil("the last line written, nothing missing", () => {
          const lines = existsSync(out) ? linesOf(out, 3) : []
          return lines.at(-1) === "line-3000" && consecutive(lines)
        })
        expect(existsSync(`${out}.3`)).toBe(true)
        expect(existsSync(`${out}.4`)).toBe(false)
        // a rotated file is cut at the first write that reaches the size: at most one chunk over
        for (const k of [1, 2, 3]) {
          const size = statSync(`${out}.${k}`).size
          expect(size).toBeGreaterThanOrEqual(4096)
          expect(size).toBeLessThan(4096 + 64 * 1024)
        }
        // what is kept is a run of consecutive lines ending with the last one: nothing lost between files
        const lines = linesOf(out, 3)
        const first = Number(lines[0].slice("line-".length))
        expect(first).toBeGreaterThan(1)
        expect(lines).toEqual(Array.from({ length: 3000 - first + 1 }, (_, i) => `line-${first + i}`))
      }).pipe(withHam())))

  // A child that writes and exits at once: its last lines can reach the HAM after its exit (Node
  // may see the exit before the data). The exit waits for its stdout and stderr to end, so the file
  // is not closed under them. Each way a process is started: through the spawner process, inline,
  // and as a pipeline (the platform's). Several at once, short and long, again and again
  const lines = (n: number) => `i=0; while [ $i -lt ${n} ]; do i=$((i+1)); echo line-$i; done`
  for (
    const [how, spawner, pipeline] of [
      ["the spawner", "process", false],
      ["inline", "inline", false],
      ["a pipeline", "process", true]
    ] as const
  ) {
    it.live(
      `the last lines written just before the exit are in the file (${how})`,
      () =>
        inTempDir("ham-output-", (dir) =>
          Effect.gen(function*() {
            const events = yield* Ham.subscribe
            const counts = [1, 1, 1, 1, 2000]
            for (let run = 0; run < 6; run++) {
              const names = counts.map((_, i) => `quick-${run}-${i}`)
              for (const [i, n] of counts.entries()) {
                const command = pipeline ? Command.pipeTo(sh(lines(n)), Command.make("cat")) : sh(lines(n))
                yield* Ham.attach(Entity.process(names[i], command, { output: { file: join(dir, `${names[i]}.log`) } }))
              }
              const dead = new Set<string>()
              yield* awaitEvents(events, (e) => e._tag === "CondDeath" && dead.add(e.entity).size === names.length)
              // by the deaths the lines are in: at most the writers' flush is left
              const written = (i: number) =>
                readFileSync(join(dir, `${names[i]}.log`), "utf8").split("\n").filter((line) => line !== "")
              yield* waitUntil(
                `run ${run}: every line in its file`,
                () => counts.every((n, i) => written(i).length === n),
                3000
              )
              for (const [i, n] of counts.entries()) {
                expect(written(i)).toEqual(Array.from({ length: n }, (_, k) => `line-${k + 1}`))
              }
            }
          }).pipe(withHam({ spawner }))),
      60_000
    )
  }

  it.live("timestamps: each line starts with the time it was read, stderr lines marked after it", () =>
    inTempDir("ham-output-", (dir) =>
      Effect.gen(function*() {
        const out = join(dir, "out.log")
        const events = yield* Ham.subscribe
        yield* Ham.attach(
          Entity.process("stamped", sh("echo hello; echo oops >&2"), { output: { file: out, timestamps: true } })
        )
        yield* awaitEvents(events, is("CondDeath", "stamped"))
        yield* waitUntil("both lines", () => existsSync(out) && readFileSync(out, "utf8").split("\n").length >= 3)
        const lines = readFileSync(out, "utf8").split("\n").filter((line) => line !== "").sort()
        const iso = "\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z"
        expect(lines).toHaveLength(2)
        expect(lines.some((line) => new RegExp(`^${iso} hello$`).test(line))).toBe(true)
        expect(lines.some((line) => new RegExp(`^${iso} \\[stderr\\] oops$`).test(line))).toBe(true)
        const stamp = Date.parse(lines[0].split(" ")[0])
        expect(Math.abs(stamp - Date.now())).toBeLessThan(60_000)
      }).pipe(withHam())))

  it.live("a file already at its size is rotated when a life starts; without maxSize a file only grows", () =>
    inTempDir("ham-output-", (dir) =>
      Effect.gen(function*() {
        const full = join(dir, "full.log")
        const plain = join(dir, "plain.log")
        writeFileSync(full, "x".repeat(2000) + "\n")
        writeFileSync(plain, "x".repeat(2000) + "\n")
        const events = yield* Ham.subscribe
        yield* Ham.attach(Entity.process("full", sh("echo fresh"), { output: { file: full, maxSize: 1000 } }))
        yield* Ham.attach(Entity.process("plain", sh("echo fresh"), { output: { file: plain } }))
        const dead = new Set<string>()
        yield* awaitEvents(events, (e) => e._tag === "CondDeath" && dead.add(e.entity).size === 2)
        yield* waitUntil("both written", () =>
          readFileSync(full, "utf8").includes("fresh") && readFileSync(plain, "utf8").includes("fresh"))
        expect(readFileSync(full, "utf8")).toBe("fresh\n")
        expect(readFileSync(`${full}.1`, "utf8")).toBe("x".repeat(2000) + "\n")
        expect(readFileSync(plain, "utf8")).toBe("x".repeat(2000) + "\nfresh\n")
        expect(existsSync(`${plain}.1`)).toBe(false)
      }).pipe(withHam())))

  it("rotate: each file moves up one, the one past keep is removed, a gap in the chain is no error", () =>
    Effect.runPromise(inTempDir("ham-output-", (dir) =>
      Effect.sync(() => {
        const file = join(dir, "r.log")
        for (const [name, text] of [["r.log", "now"], ["r.log.1", "one"], ["r.log.3", "three"]]) {
          writeFileSync(join(dir, name), text)
        }
        output_.rotate(file, 3)
        expect(existsSync(file)).toBe(false)
        expect(readFileSync(`${file}.1`, "utf8")).toBe("now")
        expect(readFileSync(`${file}.2`, "utf8")).toBe("one")
        // .3 was the oldest kept: it went, and the gap at .2 moved nothing into its place
        expect(existsSync(`${file}.3`)).toBe(false)
        expect(existsSync(`${file}.4`)).toBe(false)
      }))))

  it.effect("sizes: bytes or a number with K, M or G (powers of 1024); anything else is refused", () =>
    Effect.gen(function*() {
      expect(yield* bytesOf(512, "s")).toBe(512)
      expect(yield* bytesOf("10M", "s")).toBe(10 * 1024 * 1024)
      expect(yield* bytesOf("4k", "s")).toBe(4096)
      expect(yield* bytesOf("1GB", "s")).toBe(1024 ** 3)
      for (const bad of [0, -1, 1.5, "10X", "", "M", "1e3", Infinity, null]) {
        const error = yield* Effect.flip(bytesOf(bad, "output.maxSize"))
        expect(error._tag).toBe("InvalidArgument")
        expect(error.message).toContain("output.maxSize")
      }
    }))

  it.effect("the daemon's logRotate and logTimestamps go to the files of logDir, not to explicit outputs", () =>
    Effect.gen(function*() {
      const parsed = yield* config.parse({
        logDir: "logs",
        logRotate: { maxSize: "10M", keep: 2 },
        logTimestamps: true,
        entities: [
          { name: "a", command: { command: "true" } },
          { name: "d", command: { command: "true" }, output: { file: "d.out", maxSize: 100 } }
        ]
      })
      const resolved = config.resolveOutputs(parsed, "/etc/ham/ham.json")
      expect(resolved.entities.map((e) => e.output)).toEqual([
        { file: "/etc/ham/logs/a.log", maxSize: "10M", keep: 2, timestamps: true },
        { file: "/etc/ham/d.out", maxSize: 100 }
      ])
      const bad = yield* Effect.flip(config.parse({ logRotate: { keep: 2 }, entities: [] }))
      expect(bad.reason).toMatch(/maxSize/)
    }))
})

describe("ham logs -f across a rotation", () => {
  it.live("the end of the rotated file is read before the new file, from its start: no line lost", () =>
    inTempDir("ham-output-", (dir) =>
      Effect.gen(function*() {
        const file = join(dir, "f.log")
        writeFileSync(file, "old\n")
        const seen: Array<string> = []
        const fiber = yield* Effect.fork(ops.followFile(file, 4, (line) => Effect.sync(() => seen.push(line))))
        appendFileSync(file, "one\n")
        yield* waitUntil("the first line", () => seen.length === 1)
        // between two reads: a line at the end of the file, which is then rotated, and a new file
        appendFileSync(file, "two\n")
        output_.rotate(file, 2)
        writeFileSync(file, "three\n")
        yield* waitUntil("the lines after the rotation", () => seen.length >= 3)
        appendFileSync(file, "four\n")
        yield* waitUntil("a line appended to the new file", () => seen.length >= 4)
        yield* Fiber.interrupt(fiber)
        expect(seen).toEqual(["one", "two", "three", "four"])
      })))
})
