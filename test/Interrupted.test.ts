/**
 * Registry calls on process entities whose caller is interrupted while they run, with real
 * children: a detach interrupted while the HAM waits out the stop grace of a child that ignores
 * SIGTERM still ends the child and closes the entity's notify socket; an attach interrupted at
 * many points of its spawn leaves the entity whole (running, its child and socket live) or absent
 * (no child, no socket); a fiber entity that detaches itself is not left waiting for its own end.
 * The evidence is the OS's (/proc, the socket files, the sockets this process still listens on);
 * every wait is bounded.
 */
import { Command } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber } from "effect"
import { Entity, Ham } from "effect-ham"
import * as NodeFs from "node:fs"
import * as NodeNet from "node:net"
import { basename, dirname } from "node:path"
import { awaitEvents, isLive, liveWithCmdline, pidOf, waitUntil } from "./processes.js"
import { is, tagsOf, withHam } from "./utils.js"

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

const sh = (script: string) => Command.make("sh", "-c", script)

/** the live processes whose command line is exactly `sleep <seconds>` */
const sleeping = (seconds: string): Array<number> => liveWithCmdline(`sleep ${seconds}`)

/** what a process was started with, from /proc/<pid>/environ */
const environOf = (pid: number): Record<string, string> =>
  Object.fromEntries(
    NodeFs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").filter((entry) => entry.includes("=")).map((
      entry
    ) => [entry.slice(0, entry.indexOf("=")), entry.slice(entry.indexOf("=") + 1)])
  )

/** the entity's notify socket, as its child was told (HAM_NOTIFY_SOCKET) */
const notifySocketOf = (pid: number): string => {
  const path = environOf(pid).HAM_NOTIFY_SOCKET
  if (path === undefined) throw new Error(`pid ${pid} has no HAM_NOTIFY_SOCKET`)
  return path
}

/** the socket files in the HAM's notify directory */
const socketFiles = (directory: string): Array<string> =>
  NodeFs.readdirSync(directory).filter((file) => file.endsWith(".sock")).sort()

/**
 * The paths of the Unix sockets this process listens on under `directory`: a listening server
 * keeps the event loop alive, whether or not its file is still there.
 */
const listeningUnder = (directory: string): Array<string> =>
  (process as unknown as { _getActiveHandles: () => Array<unknown> })._getActiveHandles()
    .filter((handle): handle is NodeNet.Server => handle instanceof NodeNet.Server && handle.listening)
    .map((server) => server.address())
    .filter((address): address is string => typeof address === "string" && address.startsWith(`${directory}/`))
    .sort()

/** a connection to `path` is accepted */
const accepts = (path: string) =>
  Effect.async<boolean>((resume) => {
    const socket = NodeNet.createConnection({ path })
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.succeed(true))
    })
    socket.once("error", () => resume(Effect.succeed(false)))
  })

/** the test's own children go even when it fails (SIGKILL: they ignore SIGTERM) */
const killLeft = (...seconds: ReadonlyArray<string>) =>
  Effect.sync(() => {
    for (const s of seconds) {
      for (const pid of liveWithCmdline(`sleep ${s}`)) process.kill(pid, "SIGKILL")
      for (const pid of liveWithCmdline(`sh -c trap "" TERM; sleep ${s}`)) process.kill(pid, "SIGKILL")
    }
  })

// ---------------------------------------------------------------------------------------------
// detach
// ---------------------------------------------------------------------------------------------

describe("an interrupted detach", () => {
  it.live(
    "still stops the child (SIGKILL after the grace) and closes its notify socket before the interrupt returns",
    () =>
      Effect.gen(function*() {
        const events = yield* Ham.subscribe
        yield* Ham.attach(
          Entity.process("deaf", sh(`trap "" TERM; sleep 31.41`), { output: "ignore", stopGrace: "1200 millis" })
        )
        yield* waitUntil("the sleep under the shell", () => sleeping("31.41").length === 1)
        const pid = yield* pidOf("deaf")
        const socket = notifySocketOf(pid)
        const directory = dirname(socket)
        expect(yield* accepts(socket)).toBe(true)
        expect(listeningUnder(directory)).toEqual([socket])

        const detaching = yield* Effect.fork(Ham.detach("deaf"))
        // the HAM sent SIGTERM (ignored) and waits out the grace
        yield* Effect.sleep("300 millis")
        expect(isLive(pid)).toBe(true)
        const exit = yield* Fiber.interrupt(detaching)
        expect(Exit.isInterrupted(exit) || Exit.isSuccess(exit)).toBe(true)

        // the stop ran to its end before the interrupt returned: the child was killed and reaped,
        // the socket closed and its file removed
        expect(isLive(pid)).toBe(false)
        expect(listeningUnder(directory)).toEqual([])
        expect(NodeFs.existsSync(socket)).toBe(false)
        expect(yield* accepts(socket)).toBe(false)
        yield* waitUntil("the group's sleep gone", () => sleeping("31.41").length === 0, 1000)
        // the entity is gone, and its detach was announced
        expect((yield* Effect.flip(Ham.entityHandle("deaf")))._tag).toBe("EntityNotFound")
        const seen = yield* awaitEvents(events, is("CondDetach", "deaf"))
        expect(tagsOf(seen, "deaf")).toEqual(["CondAttach", "CondDetach"])
      }).pipe(withHam(), Effect.ensuring(killLeft("31.41"))),
    15_000
  )

  it.live("Ham.remove of the handle, interrupted in the grace, ends the same way", () =>
    Effect.gen(function*() {
      const handle = yield* Ham.attach(
        Entity.process("deaf2", sh(`trap "" TERM; sleep 31.44`), { output: "ignore", stopGrace: "800 millis" })
      )
      yield* waitUntil("the sleep under the shell", () => sleeping("31.44").length === 1)
      const pid = yield* pidOf("deaf2")
      const socket = notifySocketOf(pid)
      const removing = yield* Effect.fork(Ham.remove(handle))
      yield* Effect.sleep("200 millis")
      yield* Fiber.interrupt(removing)
      expect(isLive(pid)).toBe(false)
      expect(listeningUnder(dirname(socket))).toEqual([])
      expect(NodeFs.existsSync(socket)).toBe(false)
      yield* waitUntil("the group's sleep gone", () => sleeping("31.44").length === 0, 1000)
    }).pipe(withHam(), Effect.ensuring(killLeft("31.44"))), 15_000)
})

describe("a detach from the entity's own fiber", () => {
  // a detach that waited, uninterruptibly, for the end of the fiber that calls it would wait for ever
  it.live("ends the fiber (the call is interrupted with it) and is announced", () =>
    Effect.gen(function*() {
      const events = yield* Ham.subscribe
      const outcome = yield* Deferred.make<Exit.Exit<void, unknown>>()
      yield* Ham.attach(Entity.fiber(
        "self-detaching",
        Effect.zipRight(
          Effect.onExit(Ham.detach("self-detaching"), (exit) => Deferred.succeed(outcome, exit)),
          Effect.never
        )
      ))
      const exit = yield* Deferred.await(outcome).pipe(Effect.timeout("3 seconds"), Effect.orDie)
      expect(Exit.isInterrupted(exit)).toBe(true)
      const seen = yield* awaitEvents(events, is("CondDetach", "self-detaching"))
      expect(tagsOf(seen, "self-detaching")).toEqual(["CondAttach", "CondDetach"])
      expect((yield* Effect.flip(Ham.entityHandle("self-detaching")))._tag).toBe("EntityNotFound")
    }).pipe(withHam()))

  it.live("runs the finalizers of the life's scope (its resources are released)", () =>
    Effect.gen(function*() {
      const released = yield* Deferred.make<string>()
      yield* Ham.attach(Entity.fiber(
        "self-detaching",
        Effect.gen(function*() {
          yield* Effect.addFinalizer((exit) => Deferred.succeed(released, exit._tag))
          yield* Ham.detach("self-detaching")
          return yield* Effect.never
        })
      ))
      expect(yield* Deferred.await(released).pipe(Effect.timeout("3 seconds"), Effect.orDie)).toBe("Failure")
      expect((yield* Effect.flip(Ham.entityHandle("self-detaching")))._tag).toBe("EntityNotFound")
    }).pipe(withHam()))
})

// ---------------------------------------------------------------------------------------------
// attach
// ---------------------------------------------------------------------------------------------

/**
 * Interrupts `rounds` attaches of one entity, each at another point: after `i % 12` scheduler
 * turns, then (every other round) a sleep of up to 7 ms. After each: the entity is whole
 * (running, its child live, its socket listening) or absent (no child, no socket of its own);
 * then it is detached and nothing of it is left.
 */
const interruptedAttaches = (seconds: string, rounds: number) =>
  Effect.gen(function*() {
    // an entity of its own says where the HAM's notify sockets are
    yield* Ham.attach(Entity.process("anchor", sh(`exec sleep 31.49`), { output: "ignore" }))
    yield* waitUntil("the anchor's sleep", () => sleeping("31.49").length === 1)
    const anchor = notifySocketOf(yield* pidOf("anchor"))
    const directory = dirname(anchor)
    const outcomes = { absent: 0, whole: 0 }
    for (let i = 0; i < rounds; i++) {
      const attaching = yield* Effect.fork(
        Ham.attach(Entity.process("racer", sh(`exec sleep ${seconds}`), { output: "ignore" }))
      )
      for (let turn = 0; turn < i % 12; turn++) yield* Effect.yieldNow()
      if (i % 2 === 1) yield* Effect.sleep(`${Math.floor(i / 2) % 8} millis`)
      yield* Fiber.interrupt(attaching)
      const tree = yield* Ham.snapshot
      const node = tree.entities.find((e) => e.name === "racer")
      if (node === undefined) {
        outcomes.absent++
        // an abandoned spawn is killed as soon as it is up
        yield* waitUntil(`round ${i}: no child of the absent entity`, () => sleeping(seconds).length === 0, 2000)
      } else {
        outcomes.whole++
        expect(node.status, `round ${i}`).toBe("running")
        expect(node.pid !== undefined && isLive(node.pid), `round ${i}: its child lives`).toBe(true)
        // the shell execs the sleep: its only process once it has
        yield* waitUntil(`round ${i}: the sleep`, () => sleeping(seconds).length === 1, 2000)
        expect(sleeping(seconds), `round ${i}`).toEqual([node.pid])
        const socket = notifySocketOf(node.pid!)
        expect(listeningUnder(directory), `round ${i}`).toEqual([anchor, socket].sort())
        yield* Ham.detach("racer")
        yield* waitUntil(`round ${i}: the detached child gone`, () => sleeping(seconds).length === 0, 2000)
      }
      expect(socketFiles(directory), `round ${i}: the socket files`).toEqual([basename(anchor)])
      expect(listeningUnder(directory), `round ${i}: the listening sockets`).toEqual([anchor])
    }
    // both ends were reached: the rounds cover the attach from before it began to after it ended
    expect(outcomes.absent).toBeGreaterThan(0)
    expect(outcomes.whole).toBeGreaterThan(0)
  })

describe("an interrupted attach", () => {
  it.live(
    "through the spawner's helper: the entity whole or absent, no child and no socket left",
    () => interruptedAttaches("31.45", 48).pipe(withHam(), Effect.ensuring(killLeft("31.45", "31.49"))),
    60_000
  )

  it.live(
    "spawned inline: the entity whole or absent, no child and no socket left",
    () =>
      interruptedAttaches("31.46", 48).pipe(
        withHam({ spawner: "inline" }),
        Effect.ensuring(killLeft("31.46", "31.49"))
      ),
    60_000
  )
})
