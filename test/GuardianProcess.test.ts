/**
 * The guardian process, with real processes and real SIGKILLs: the host dies and the guardian
 * takes the HAM over (adopting the process entities, restarting one killed after, running the
 * host's own death conditions), the guardian dies and the host starts a new one, a host that
 * comes back gets the store handed back, and stopping leaves no process behind.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Guardian, Ham } from "effect-ham"
import * as ChildProcess from "node:child_process"
import { mkdirSync, readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { inheritedFlags } from "../src/internal/guardian/process.js"
import {
  explained,
  guardianUp,
  leaseOf,
  leftovers,
  sigkill,
  startHost,
  startHostNow,
  wait
} from "./guardianProcesses.js"
import { cmdlineOf, inTempDir, isLive, liveProcesses, liveWithCmdline, waitUntil } from "./processes.js"

describe("Guardian: the guardian process", () => {
  it.live(
    "host SIGKILLed: the guardian takes over, adopts the processes, restarts one killed after; the host comes back and gets the store",
    () =>
      inTempDir("ham-gp-", (dir) =>
        Effect.gen(function*() {
          const path = join(dir, "state.ham")
          const marker = String(process.pid)
          const first = yield* startHost(path, marker)
          expect(isLive(first.svc)).toBe(true)
          expect(cmdlineOf(first.guardian)).toContain("guardian/main")
          expect(leaseOf(path)).toMatchObject({ pid: first.host, role: "host" })

          sigkill(first.host)
          yield* wait("the guardian to take over", () => leaseOf(path)?.pid === first.guardian)
          expect(leaseOf(path)).toMatchObject({ role: "guardian" })
          // the sleeper outlived its host and is adopted as it is
          expect(isLive(first.svc)).toBe(true)
          // the guardian that took over has a guardian of its own, watching it
          yield* wait("the new guardian's own guardian", () =>
            liveProcesses(`${path} ${first.guardian} host`).length === 1)

          // killed after the host died: restarted by the guardian
          sigkill(first.svc)
          yield* wait(
            "the sleeper restarted",
            () =>
              liveWithCmdline(`sleep 3600.${marker}`).some((p) => p !== first.svc)
          )
          const [restarted] = liveWithCmdline(`sleep 3600.${marker}`)

          // the host comes back: the guardian hands the store over, the host adopts the sleeper
          const second = yield* startHost(path, marker)
          expect(second.svc).toBe(restarted)
          expect(leaseOf(path)).toMatchObject({ pid: second.host, role: "host" })
          yield* wait("the old guardian gone", () => !isLive(first.guardian))
          expect(liveWithCmdline(`sleep 3600.${marker}`)).toEqual([restarted])

          // stopping the host ends its HAM, its guardian and every entity
          process.kill(second.host, "SIGTERM")
          yield* wait("nothing left", () => leftovers(path, marker).length === 0)
          expect(leftovers(path, marker)).toEqual([])
        }).pipe(
          explained(join(dir, "state.ham")),
          Effect.ensuring(Effect.sync(() => {
            for (const pid of leftovers(join(dir, "state.ham"), String(process.pid))) sigkill(pid)
          }))
        )),
    90_000
  )

  it.live(
    "a child adopted by a host is adopted again at the next takeover: one child, never two",
    () =>
      inTempDir("ham-gp-", (dir) =>
        Effect.gen(function*() {
          const path = join(dir, "state.ham")
          const marker = `${process.pid}03`
          const sleepers = () => liveWithCmdline(`sleep 3600.${marker}`)
          const first = yield* startHost(path, marker)
          sigkill(first.host)
          yield* wait("the guardian to take over", () => leaseOf(path)?.pid === first.guardian)
          // the host comes back and adopts the sleeper from the guardian
          const second = yield* startHost(path, marker)
          expect(second.svc).toBe(first.svc)
          yield* wait("the old guardian gone", () => !isLive(first.guardian))
          // the host that adopted it dies: its guardian adopts the same sleeper again
          sigkill(second.host)
          yield* wait("the second guardian to take over", () => leaseOf(path)?.pid === second.guardian)
          yield* Effect.sleep("500 millis")
          expect(sleepers()).toEqual([first.svc])
          process.kill(second.guardian, "SIGTERM")
          yield* wait("nothing left", () => leftovers(path, marker).length === 0)
        }).pipe(
          explained(join(dir, "state.ham")),
          Effect.ensuring(Effect.sync(() => {
            for (const pid of leftovers(join(dir, "state.ham"), `${process.pid}03`)) sigkill(pid)
          }))
        )),
    90_000
  )

  it.live(
    "the host SIGKILLed before its guardian is up (the host does not wait for it): the guardian takes over once it is",
    () =>
      inTempDir("ham-gp-", (dir) =>
        Effect.gen(function*() {
          const path = join(dir, "state.ham")
          const marker = `${process.pid}04`
          const first = yield* startHostNow(path, marker)
          // the host is up before its guardian is
          expect(guardianUp(path, first.guardian)).toBe(false)
          sigkill(first.host)
          yield* wait("the guardian to take over", () => leaseOf(path)?.pid === first.guardian, 30_000)
          expect(liveWithCmdline(`sleep 3600.${marker}`)).toEqual([first.svc])
          process.kill(first.guardian, "SIGTERM")
          yield* wait("nothing left", () => leftovers(path, marker).length === 0)
        }).pipe(
          explained(join(dir, "state.ham")),
          Effect.ensuring(Effect.sync(() => {
            for (const pid of leftovers(join(dir, "state.ham"), `${process.pid}04`)) sigkill(pid)
          }))
        )),
    90_000
  )

  it.live(
    "the host's own death condition runs in the guardian: the host is restarted with its command line",
    () =>
      inTempDir("ham-gp-", (dir) =>
        Effect.gen(function*() {
          const path = join(dir, "state.ham")
          const marker = String(process.pid + 1)
          const first = yield* startHost(path, marker, "restart-host")
          const hostLine = cmdlineOf(first.host)!
          sigkill(first.host)
          // the guardian takes over, restarts the host, which then takes its store back
          yield* wait(
            "a new host holding the store",
            () => {
              const lease = leaseOf(path)
              return lease?.role === "host" && lease.pid !== first.host
            },
            40_000
          )
          const host = leaseOf(path)!.pid
          expect(cmdlineOf(host)).toBe(hostLine)
          expect(liveWithCmdline(`sleep 3600.${marker}`)).toEqual([first.svc])
          yield* wait("the guardian that took over gone", () => !isLive(first.guardian))
          // the restarted host writes its output to the host entity's log: wait until it is up
          yield* wait("the restarted host up", () => {
            try {
              return readFileSync(`${path}.d/host.log`, "utf8").includes(`"host":${host}`)
            } catch {
              return false
            }
          })
          process.kill(host, "SIGTERM")
          yield* wait("nothing left", () => leftovers(path, marker).length === 0)
          expect(leftovers(path, marker)).toEqual([])
        }).pipe(
          explained(join(dir, "state.ham")),
          Effect.ensuring(Effect.sync(() => {
            for (const pid of leftovers(join(dir, "state.ham"), String(process.pid + 1))) sigkill(pid)
          }))
        )),
    90_000
  )

  it.live(
    "the guardian process SIGKILLed: the host starts a new one; closing the HAM ends it",
    () =>
      inTempDir("ham-gp-", (dir) =>
        Effect.gen(function*() {
          const path = join(dir, "state.ham")
          const guardians = yield* Effect.gen(function*() {
            const before = yield* Ham.snapshot
            const first = before.guardianPid!
            expect(cmdlineOf(first)).toContain("guardian/main")
            // the guardian keeps a probe of the store started ahead (lmdb loaded): one
            const standbys = () => liveProcesses(`${path} standby`)
            yield* wait("the guardian's standby probe", () => standbys().length === 1, 30_000)
            const standby = standbys()[0]
            sigkill(first)
            yield* wait(
              "a new guardian",
              () => liveProcesses(path).some((p) => p !== first && cmdlineOf(p)?.includes("guardian/main")),
              30_000
            )
            // the killed guardian's standby went with it; the new one has its own
            yield* wait("the old standby gone", () => !isLive(standby))
            yield* wait("the new guardian's standby probe", () => standbys().length === 1, 30_000)
            yield* Effect.sleep("100 millis")
            const after = yield* Ham.snapshot
            expect(after.guardianPid).not.toBe(first)
            expect(after.guardianFailures).toBe(1)
            return [first, after.guardianPid!]
          }).pipe(
            Effect.scoped,
            Effect.provide(Ham.layer()),
            Effect.provide(Guardian.layer({ path, process: true }))
          )
          expect(guardians.some(isLive)).toBe(false)
          expect(liveProcesses(path)).toEqual([])
        })),
    60_000
  )

  /**
   * A guardian process started by hand for a host that is this test (it never dies), with a
   * temporary directory of its own (TMPDIR): stopped once its warm-up has begun, and before it is
   * up, it leaves nothing in that directory.
   */
  const stoppedWarmingUp = (stop: (guardian: ChildProcess.ChildProcess) => void) =>
    inTempDir("ham-gp-", (dir) =>
      Effect.gen(function*() {
        const tmp = join(dir, "tmp")
        mkdirSync(tmp)
        const main = join(import.meta.dirname, "..", "src", "internal", "guardian", "main.ts")
        const guardian = ChildProcess.spawn(
          process.execPath,
          [...inheritedFlags(main), main, join(dir, "state.ham"), String(process.pid), "host", "1"],
          { env: { ...process.env, TMPDIR: tmp }, stdio: ["pipe", "ignore", "pipe", "pipe"] }
        )
        let said = ""
        guardian.stderr!.on("data", (chunk: Buffer) => (said += chunk.toString("utf8")))
        const exited = new Promise<number | null>((resolve) => guardian.once("exit", (code) => resolve(code)))
        const ours = () => readdirSync(tmp).filter((name) => name.startsWith("ham-")).sort()
        yield* waitUntil(
          "its warm-up store",
          () => ours().some((name) => name.startsWith("ham-guardian-warm-")),
          30_000
        )
        // (the warm-up runs a HAM twice, a child process each time: it is not over yet)
        expect(said).not.toContain("up:")
        stop(guardian)
        const code = yield* Effect.promise(() => exited).pipe(
          Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => "the guardian did not exit" }),
          Effect.orDie
        )
        // stopped before it was up: it never said it was, and ended cleanly
        expect(said).not.toContain("up:")
        expect(code).toBe(0)
        expect(ours()).toEqual([])
      }).pipe(Effect.ensuring(Effect.sync(() => {
        for (const pid of liveProcesses(join(dir, "state.ham"))) sigkill(pid)
      }))))

  it.live(
    "a guardian told to stop while it warms up removes its warm-up store and directories first",
    () => stoppedWarmingUp((guardian) => guardian.stdin!.end("stop\n")),
    60_000
  )

  it.live(
    "a guardian SIGTERMed while it warms up removes its warm-up store and directories first",
    () => stoppedWarmingUp((guardian) => guardian.kill("SIGTERM")),
    60_000
  )
})
