/**
 * The operator's operations on an entity's current life: `Ham.restartEntity` (the life stopped as a
 * detach stops it, a new one started, counted and announced as a restart, no death) and
 * `Ham.signalEntity`; their refusals (typed, state unchanged); the same through a remote HAM,
 * which refuses fiber entities; the requests' decoding; the tree's `startedAt` and `output`.
 */
import { Command } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Option, Queue, Schema } from "effect"
import { Entity, Ham } from "effect-ham"
import { CondDeath } from "effect-ham/Condition"
import * as HamClient from "effect-ham/HamClient"
import * as HamServer from "effect-ham/HamServer"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import * as protocol from "../src/internal/protocol.js"
import { awaitEvents, isLive, pidOf, tempDir, waitUntil, waitUntilEffect } from "./processes.js"
import { entityNode, failureOf, is, mortal, registry, tagsOf, withHam } from "./utils.js"

const quiet = { output: "ignore" } as const

/** a shell that says it is up, and writes each SIGUSR1 it takes to `file` */
const trapping = (file: string) =>
  Command.make("sh", "-c", `trap 'echo usr1 >> ${file}' USR1; echo up >> ${file}; while :; do sleep 0.05; done`)

/** a file's text; empty while it does not exist */
const textOf = (file: string) => (existsSync(file) ? readFileSync(file, "utf8") : "")

describe("Ham.restartEntity", () => {
  it.live("stops the running process, starts a new one: counted in restarts, CondRestart, no death", () =>
    Effect.gen(function*() {
      yield* Ham.attach(Entity.process("web", Command.make("sleep", "30"), quiet))
      yield* Ham.condition("web", CondDeath, { name: "died" })
      const before = yield* pidOf("web")
      const node0 = yield* entityNode("web")
      const events = yield* Ham.subscribe
      yield* Ham.restartEntity("web")
      const after = yield* pidOf("web")
      expect(after).not.toBe(before)
      expect(isLive(after)).toBe(true)
      yield* waitUntil("the old process is gone", () => !isLive(before))
      const seen = yield* awaitEvents(events, is("CondRestart", "web"))
      expect(tagsOf(seen, "web")).toEqual(["CondRestart"])
      const node = yield* entityNode("web")
      expect([node.status, node.stats.restarts, node.stats.deaths]).toEqual(["running", 1, 0])
      expect(node.conditions[0].fired).toBe(0)
      expect(node.startedAt).toBeGreaterThanOrEqual(node0.startedAt!)
    }).pipe(withHam()))

  it.live("a fiber entity restarts locally: its fiber interrupted, a new life", () =>
    Effect.gen(function*() {
      const lives = yield* Queue.unbounded<number>()
      let n = 0
      yield* Ham.attach(
        Entity.fiber("worker", Effect.zipRight(Effect.suspend(() => Queue.offer(lives, ++n)), Effect.never))
      )
      expect(yield* Queue.take(lives)).toBe(1)
      yield* Ham.restartEntity("worker")
      expect(yield* Queue.take(lives)).toBe(2)
      const node = yield* entityNode("worker")
      expect([node.status, node.stats.restarts, node.stats.deaths]).toEqual(["running", 1, 0])
    }).pipe(withHam()))

  it.live("a fiber entity restarts itself, from its life or from a fiber of it: that life ends there, a new one starts", () =>
    Effect.gen(function*() {
      const lives = yield* Queue.unbounded<number>()
      const after = yield* Queue.unbounded<number>()
      let n = 0
      // life 1 restarts itself; life 2 from a fiber it forked; life 3 stays
      const life = Effect.gen(function*() {
        const mine = ++n
        yield* Queue.offer(lives, mine)
        if (mine === 1) yield* Ham.restartEntity("self")
        if (mine === 2) yield* Fiber.join(yield* Effect.fork(Ham.restartEntity("self")))
        // reached only when the restart did not end this life
        yield* Queue.offer(after, mine)
        return yield* Effect.never
      })
      yield* Ham.attach(Entity.fiber("self", life))
      expect(yield* Queue.take(lives)).toBe(1)
      expect(yield* Queue.take(lives).pipe(Effect.timeout("3 seconds"))).toBe(2)
      expect(yield* Queue.take(lives).pipe(Effect.timeout("3 seconds"))).toBe(3)
      expect(yield* Queue.take(after).pipe(Effect.timeout("3 seconds"))).toBe(3)
      expect(yield* Queue.size(after)).toBe(0)
      const node = yield* entityNode("self")
      expect([node.status, node.stats.restarts, node.stats.deaths]).toEqual(["running", 2, 0])
    }).pipe(withHam()))

  it.live("refusals are typed and change nothing: unknown, placeholder, dead, global", () =>
    Effect.gen(function*() {
      yield* Ham.entity("later")
      const { effect, kill } = yield* mortal
      yield* Ham.attach(Entity.fiber("gone", effect))
      const events = yield* Ham.subscribe
      yield* Queue.offer(kill, "ok")
      yield* awaitEvents(events, is("CondDeath", "gone"))
      const before = yield* registry
      const missing = yield* failureOf(Ham.restartEntity("nobody"))
      expect(missing._tag).toBe("EntityNotFound")
      const placeholder = yield* failureOf(Ham.restartEntity("later"))
      expect(placeholder._tag).toBe("EntityNotRunning")
      expect(placeholder.message).toBe(`entity "later" is not running (it is placeholder)`)
      const dead = yield* failureOf(Ham.restartEntity("gone"))
      expect(dead).toMatchObject({ _tag: "EntityNotRunning", status: "dead" })
      expect((yield* failureOf(Ham.restartEntity(Entity.global)))._tag).toBe("InvalidArgument")
      expect(yield* registry).toEqual(before)
    }).pipe(withHam()))
})

describe("Ham.signalEntity", () => {
  it.live("sends the signal to the current process; a bad name is refused and sends nothing", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("ham-signal-")
      const file = join(dir, "out")
      yield* Ham.attach(Entity.process("trap", trapping(file), quiet))
      yield* waitUntil("the shell is up", () => textOf(file).includes("up"))
      const before = yield* registry
      const bad = yield* failureOf(Ham.signalEntity("trap", "SIGNOPE"))
      expect(bad).toMatchObject({ _tag: "InvalidArgument", argument: "signal" })
      expect(yield* registry).toEqual(before)
      expect(textOf(file)).not.toContain("usr1")
      yield* Ham.signalEntity("trap", "SIGUSR1")
      yield* waitUntil("the trap ran", () => textOf(file).includes("usr1"))
      const node = yield* entityNode("trap")
      expect([node.status, node.stats.deaths]).toEqual(["running", 0])
      const events = yield* Ham.subscribe
      yield* Ham.signalEntity("trap", "SIGKILL")
      const seen = yield* awaitEvents(events, is("CondDeath", "trap"))
      expect(seen.find((e) => e._tag === "CondDeath")).toMatchObject({ signal: "SIGKILL" })
      expect(yield* failureOf(Ham.signalEntity("trap", "SIGTERM"))).toMatchObject({ _tag: "EntityNotRunning" })
      expect((yield* failureOf(Ham.signalEntity("nobody", "SIGTERM")))._tag).toBe("EntityNotFound")
    }).pipe(withHam(), Effect.scoped))
})

describe("the tree: startedAt and output", () => {
  it.live("a running entity has its life's start time; a process entity says where its output goes", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("ham-output-")
      yield* Ham.attach(Entity.process("a", Command.make("sleep", "30"), { output: { file: join(dir, "a.log") } }))
      yield* Ham.attach(Entity.process("b", Command.make("sleep", "30"), quiet))
      yield* Ham.attach(Entity.process("c", Command.make("sleep", "30")))
      yield* Ham.entity("p")
      const tree = yield* Ham.snapshot
      const [a, b, c, p] = ["a", "b", "c", "p"].map((n) => tree.entities.find((e) => e.name === n)!)
      expect(a.output).toEqual({ file: join(dir, "a.log") })
      expect(b.output).toBe("ignore")
      expect(c.output).toBe("log")
      expect(p.output).toBeUndefined()
      expect(p.startedAt).toBeUndefined()
      for (const e of [a, b, c]) {
        expect(e.startedAt).toBeGreaterThan(0)
        expect(e.startedAt).toBeLessThanOrEqual(tree.time)
      }
    }).pipe(withHam(), Effect.scoped))
})

// ---------------------------------------------------------------------------------------------
// remotely
// ---------------------------------------------------------------------------------------------

const remoteOf = (dir: string) =>
  HamServer.layer({ listen: { unix: `${dir}/ham.sock` } }).pipe(Layer.provideMerge(Ham.layer()))

describe("remotely", () => {
  it.live("restart and signal work on a process entity; a fiber entity is refused, typed", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("ham-ops-remote-")
      yield* Effect.gen(function*() {
        const server = yield* HamServer.HamServer
        const client = HamClient.layer({ unix: Option.getOrThrow(server.unix) })
        yield* Ham.attach(Entity.process("web", Command.make("sleep", "30"), quiet))
        yield* Ham.attach(Entity.fiber("worker", Effect.never))
        const before = yield* pidOf("web")
        yield* Effect.provide(Ham.restartEntity("web"), client)
        yield* waitUntilEffect("a new process", Effect.map(pidOf("web"), (pid) => pid !== before))
        const tree = yield* registry
        const refused = yield* failureOf(Effect.provide(Ham.restartEntity("worker"), client))
        expect(refused).toMatchObject({ _tag: "InvalidArgument", argument: "entity" })
        const signal = yield* failureOf(Effect.provide(Ham.signalEntity("worker", "SIGTERM"), client))
        expect(signal).toMatchObject({ _tag: "InvalidArgument", argument: "entity" })
        const bad = yield* failureOf(Effect.provide(Ham.signalEntity("web", "NOPE"), client))
        expect(bad).toMatchObject({ _tag: "InvalidArgument", argument: "signal" })
        const missing = yield* failureOf(Effect.provide(Ham.restartEntity("nobody"), client))
        expect(missing._tag).toBe("EntityNotFound")
        expect(yield* registry).toEqual(tree)
        const remoteTree = yield* Effect.provide(Ham.snapshot, client)
        const web = remoteTree.entities.find((e) => e.name === "web")!
        expect(web.startedAt).toBeGreaterThan(0)
        expect(web.stats.restarts).toBe(1)
      }).pipe(Effect.provide(remoteOf(dir)))
    }).pipe(Effect.scoped))
})

describe("the requests' JSON", () => {
  const decode = (input: unknown) => Effect.either(protocol.decodeRequest(input))

  it.effect("RestartEntity and SignalEntity decode; bad input is a typed InvalidArgument", () =>
    Effect.gen(function*() {
      const ok = yield* decode({ _tag: "RestartEntity", entity: "web" })
      expect(ok._tag).toBe("Right")
      const sig = yield* decode({ _tag: "SignalEntity", entity: "web", signal: "SIGHUP" })
      expect(sig._tag === "Right" && sig.right._tag === "SignalEntity" && sig.right.signal).toBe("SIGHUP")
      for (
        const bad of [
          { _tag: "RestartEntity" },
          { _tag: "RestartEntity", entity: 3 },
          { _tag: "RestartEntity", entity: "web", extra: true },
          { _tag: "SignalEntity", entity: "web" },
          { _tag: "SignalEntity", entity: "web", signal: 9 }
        ]
      ) {
        const result = yield* decode(bad)
        expect(result._tag).toBe("Left")
        if (result._tag === "Left") {
          expect(result.left._tag).toBe("InvalidArgument")
          expect(result.left.argument).toBe(bad._tag)
        }
      }
      const failure = Schema.decodeUnknownSync(protocol.RestartEntity.failure)({
        _tag: "EntityNotRunning",
        entity: "web",
        status: "dead"
      })
      expect(failure.message).toBe(`entity "web" is not running (it is dead)`)
    }))
})
