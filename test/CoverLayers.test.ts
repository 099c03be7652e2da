/**
 * The drop-in covers: platform services whose resources recover (`Cover.layerFileSystem`,
 * `Cover.layerHttpClient`), tried with real files and real processes.
 */
import { FileSystem } from "@effect/platform"
import { NodeFileSystem } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option, pipe, Schedule } from "effect"
import { Cover } from "effect-ham"
import { closeSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { inTempDir } from "./processes.js"

const text = "The quick brown fox jumps over the lazy dog."
const decode = (bytes: Uint8Array) => Buffer.from(bytes).toString("utf8")

/** the covered FileSystem over Node's */
const covered = (options?: Cover.FileSystemOptions) =>
  Cover.layerFileSystem(options).pipe(Layer.provide(NodeFileSystem.layer))

/** reads `n` bytes (fewer at the end of the file) */
const read = (file: FileSystem.File, n: number) =>
  Effect.map(file.readAlloc(n), (chunk) => Option.match(chunk, { onNone: () => "", onSome: decode }))

/** reads to the end */
const readRest = (file: FileSystem.File) =>
  Effect.gen(function*() {
    let all = ""
    for (;;) {
      const chunk = yield* read(file, 8)
      if (chunk === "") return all
      all += chunk
    }
  })

/** replaces `path` by a rename over it, as an editor or a log rotation does */
const renameOver = (path: string, content: string) => {
  writeFileSync(`${path}.new`, content)
  renameSync(`${path}.new`, path)
}

describe("Cover.layerFileSystem", () => {
  it.live("a file renamed over under its open handle: at the end of the old one, reads go on in the new one at the same offset", () =>
    inTempDir("ham-cover-fs-", (dir) =>
      Effect.gen(function*() {
        const path = join(dir, "data.txt")
        writeFileSync(path, text)
        const fs = yield* FileSystem.FileSystem
        const file = yield* fs.open(path)
        expect(yield* read(file, 15)).toBe("The quick brown")
        const first = file.fd
        renameOver(path, text.toUpperCase() + " AND MORE")
        // what the handle had open is read to its end (it is still there), then the new file from byte 44
        expect(yield* readRest(file)).toBe(" fox jumps over the lazy dog. AND MORE")
        expect(file.fd).not.toBe(first)
        expect(yield* Cover.control(file, "get")).toMatchObject({ recoveries: 1 })
      }).pipe(Effect.scoped, Effect.provide(covered()))))

  it.live("checkPath always: the next read after the rename is the new file's, at the same offset", () =>
    inTempDir("ham-cover-fs-", (dir) =>
      Effect.gen(function*() {
        const path = join(dir, "data.txt")
        writeFileSync(path, text)
        const fs = yield* FileSystem.FileSystem
        const file = yield* fs.open(path)
        expect(yield* read(file, 15)).toBe("The quick brown")
        renameOver(path, text.toUpperCase())
        expect(yield* read(file, 15)).toBe(" FOX JUMPS OVER")
        // removed and created again
        unlinkSync(path)
        writeFileSync(path, "0123456789012345678901234567890123456789")
        expect(yield* read(file, 5)).toBe("01234")
        expect(yield* Cover.control(file, "get")).toMatchObject({ recoveries: 2 })
      }).pipe(Effect.scoped, Effect.provide(covered({ checkPath: "always" })))))

  it.live("removed and created again, read at the end: the new file from the same offset", () =>
    inTempDir("ham-cover-fs-", (dir) =>
      Effect.gen(function*() {
        const path = join(dir, "log.txt")
        writeFileSync(path, "line 1\n")
        const fs = yield* FileSystem.FileSystem
        const file = yield* fs.open(path)
        expect(yield* readRest(file)).toBe("line 1\n")
        unlinkSync(path)
        writeFileSync(path, "line 1\nline 2\n")
        expect(yield* readRest(file)).toBe("line 2\n")
      }).pipe(Effect.scoped, Effect.provide(covered()))))

  it.live("removed for good: the recovery gives up, a SystemError NotFound whose cause is RecoveryFailed", () =>
    inTempDir("ham-cover-fs-", (dir) =>
      Effect.gen(function*() {
        const path = join(dir, "gone.txt")
        writeFileSync(path, "abc")
        const fs = yield* FileSystem.FileSystem
        const file = yield* fs.open(path)
        expect(yield* read(file, 3)).toBe("abc")
        unlinkSync(path)
        const error = yield* Effect.flip(file.readAlloc(3))
        expect(error).toMatchObject({ _tag: "SystemError", reason: "NotFound", method: "readAlloc" })
        expect(error.cause).toBeInstanceOf(Cover.RecoveryFailed)
        expect(error.cause).toMatchObject({ attempts: 3 })
        // the path is back: the next read recovers
        writeFileSync(path, "abcdef")
        expect(yield* read(file, 3)).toBe("def")
      }).pipe(Effect.scoped, Effect.provide(covered({ schedule: Schedule.recurs(2) })))))

  it.live("a descriptor closed behind its back (EBADF): reopened, the offset restored, the old number never closed again", () =>
    inTempDir("ham-cover-fs-", (dir) =>
      Effect.gen(function*() {
        const path = join(dir, "data.txt")
        writeFileSync(path, text)
        const fs = yield* FileSystem.FileSystem
        const file = yield* fs.open(path)
        expect(yield* read(file, 4)).toBe("The ")
        closeSync(file.fd)
        expect(yield* read(file, 6)).toBe("quick ")
        // the new descriptor often has the old number: closing the broken file must not close it
        expect(yield* read(file, 6)).toBe("brown ")
        expect(yield* Cover.control(file, "get")).toMatchObject({ recoveries: 1 })
        // seek, then a failure: the offset is the seeked one
        yield* file.seek(4, "start")
        closeSync(file.fd)
        expect(yield* read(file, 5)).toBe("quick")
      }).pipe(Effect.scoped, Effect.provide(covered()))))

  it.live("writes: a file opened with w recovers without being truncated, and writes on at its offset", () =>
    inTempDir("ham-cover-fs-", (dir) =>
      Effect.gen(function*() {
        const path = join(dir, "out.txt")
        const fs = yield* FileSystem.FileSystem
        yield* Effect.scoped(Effect.gen(function*() {
          const file = yield* fs.open(path, { flag: "w" })
          yield* file.writeAll(new TextEncoder().encode("hello, "))
          closeSync(file.fd)
          yield* file.writeAll(new TextEncoder().encode("world"))
        }))
        expect(readFileSync(path, "utf8")).toBe("hello, world")
        // the other methods pass through
        expect(yield* fs.readFileString(path)).toBe("hello, world")
        expect(yield* fs.exists(join(dir, "nothing"))).toBe(false)
      }).pipe(Effect.provide(covered()))))

  it.live("Cover.control: suspended, a failure passes through as the platform's error; resumed, recovered", () =>
    inTempDir("ham-cover-fs-", (dir) =>
      Effect.gen(function*() {
        const path = join(dir, "data.txt")
        writeFileSync(path, text)
        const fs = yield* FileSystem.FileSystem
        const file = yield* fs.open(path)
        yield* Cover.control(file, "suspend")
        closeSync(file.fd)
        expect(yield* Effect.flip(read(file, 3))).toMatchObject({ _tag: "SystemError", syscall: "read" })
        const offsets: Array<bigint> = []
        yield* pipe(file, Cover.control("resume"))
        yield* Cover.control(file, {
          setRecover: (state: Cover.FileSystemFileState) =>
            Effect.zipRight(Effect.sync(() => offsets.push(state.offset)), fs.open(state.path))
        })
        expect(yield* read(file, 3)).toBe("The")
        expect(offsets).toEqual([BigInt(0)])
      }).pipe(Effect.scoped, Effect.provide(covered()))))

  it.live("bad options fail the layer with InvalidArgument", () =>
    Effect.gen(function*() {
      const bad: ReadonlyArray<[unknown, string]> = [
        [{ retry: 3 }, "retry is not allowed"],
        [{ retries: -1 }, "retries"],
        [{ checkPath: "sometimes" }, "checkPath"],
        [{ schedule: "10 millis" }, "schedule"],
        [{ isRecoverable: true }, "isRecoverable"],
        ["fast", ""]
      ]
      for (const [options, reason] of bad) {
        const error = yield* Effect.flip(Effect.scoped(Layer.build(covered(options as Cover.FileSystemOptions))))
        expect(error).toMatchObject({ _tag: "InvalidArgument", argument: "Cover.layerFileSystem options" })
        expect(error.message).toContain(reason)
      }
    }))
})
