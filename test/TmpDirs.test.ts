/**
 * The HAM's private directories under the temp directory: named after their process, and those a
 * process that is gone left (a HAM killed by SIGKILL closes no scope) removed by the next one,
 * and nothing else. Real processes give the pids: a child that has exited and been reaped is gone.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as cp from "node:child_process"
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { basename, join } from "node:path"
import * as tmpdirs from "../src/internal/tmpdirs.js"

/** the pid of a process that has run and been reaped */
const deadPid = Effect.async<number>((resume) => {
  const child = cp.spawn("true")
  child.on("exit", () => resume(Effect.succeed(child.pid!)))
})

/** a live process for the test's length, and its pid */
const livePid = Effect.acquireRelease(
  Effect.sync(() => cp.spawn("sleep", ["30.71"], { stdio: "ignore" })),
  (child) => Effect.sync(() => child.kill("SIGKILL"))
).pipe(Effect.map((child) => child.pid!))

const scratch = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "ham-tmpdirs-test-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/** a directory as `mkdtemp` makes one (0700), with a file in it */
const makeDir = (parent: string, name: string, mode = 0o700) => {
  const path = join(parent, name)
  mkdirSync(path)
  writeFileSync(join(path, "n.sock"), "")
  chmodSync(path, mode)
  return path
}

describe("private directories under the temp directory", () => {
  it.scoped("a directory whose process is gone is removed with its content; the others stay", () =>
    Effect.gen(function*() {
      const parent = yield* scratch
      const dead = yield* deadPid
      const live = yield* livePid
      const gone = makeDir(parent, `ham-${dead}-aB3dE6`)
      const ofLive = makeDir(parent, `ham-${live}-aB3dE6`)
      const own = makeDir(parent, `ham-${process.pid}-aB3dE6`)
      const open = makeDir(parent, `ham-${dead}-Zz9yY8`, 0o755)
      const otherKind = makeDir(parent, `ham-spawner-${dead}-aB3dE6`)
      const notOurs = makeDir(parent, `ham-bench-${dead}-aB3dE6`)
      // the daemon's control socket directory, ham-<uid>
      const daemonish = makeDir(parent, `ham-${dead}`)
      const file = join(parent, `ham-${dead}-fIlE01`)
      writeFileSync(file, "")
      const target = makeDir(parent, "target")
      const link = join(parent, `ham-${dead}-lInK01`)
      symlinkSync(target, link)

      const removed = tmpdirs.sweep(parent, "ham-")

      expect(removed).toEqual([basename(gone)])
      expect(existsSync(gone)).toBe(false)
      for (const kept of [ofLive, own, open, otherKind, notOurs, daemonish, file, target, join(target, "n.sock")]) {
        expect(existsSync(kept)).toBe(true)
      }
      expect(lstatSync(link).isSymbolicLink()).toBe(true)
      // the other kind is swept with its own prefix
      expect(tmpdirs.sweep(parent, "ham-spawner-")).toEqual([basename(otherKind)])
    }))

  it.scoped("makePrivate names the directory after this process, 0700, under the OS temp directory", () =>
    Effect.gen(function*() {
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => tmpdirs.makePrivate("ham-tmpdirs-test-make-")),
        (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
      )
      expect(basename(dir)).toMatch(new RegExp(`^ham-tmpdirs-test-make-${process.pid}-[A-Za-z0-9]{6}$`))
      expect(lstatSync(dir).mode & 0o777).toBe(0o700)
    }))

  it.scoped("a parent that cannot be read: nothing is removed, nothing thrown", () =>
    Effect.gen(function*() {
      const parent = yield* scratch
      expect(tmpdirs.sweep(join(parent, "missing"), "ham-")).toEqual([])
    }))
})
