/**
 * The remote HAM: a HAM served by `HamServer.layer` on real sockets (TCP on loopback and a Unix
 * socket), used through `HamClient.layer`, which provides the same `Ham` service. The same
 * program runs against the local HAM and a remote one; what is local to a process gives a typed
 * error remotely and the server goes on; each operation's errors come back typed; events stream.
 */
import { Command } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Chunk, Context, Effect, Exit, Fiber, Layer, Option, Queue, Schedule, Scope, Stream } from "effect"
import { Action, Entity, Ham } from "effect-ham"
import { CondDeath, type ConditionEvent, CondRestart } from "effect-ham/Condition"
import * as HamClient from "effect-ham/HamClient"
import * as HamServer from "effect-ham/HamServer"
import { existsSync } from "node:fs"
import { isLive, tempDir, waitUntil, waitUntilEffect } from "./processes.js"
import { failureOf, is, takeUntil } from "./utils.js"

const token = "remote-test-token-0123456789abcdef"

/** a HAM in this process served on TCP (port 0) and on a Unix socket in a private temporary directory */
const served = (dir: string, limits?: HamServer.Limits) =>
  HamServer.layer({ listen: { tcp: { port: 0 }, unix: `${dir}/ham.sock` }, auth: { token }, limits }).pipe(
    Layer.provideMerge(Ham.layer())
  )

type Transport = "tcp" | "unix"

/** a client of the served HAM, over TCP (ndjson, the default) or the Unix socket (msgpack) */
const clientOf = (server: HamServer.HamServerService, transport: Transport) =>
  transport === "tcp"
    ? HamClient.layer({ tcp: { port: Option.getOrThrow(server.tcp).port }, auth: { token } })
    : HamClient.layer({ unix: Option.getOrThrow(server.unix), serialization: "msgpack" })

/** runs `body` with a served HAM: the local `Ham`, and a function running an effect against it remotely */
const withServed = <A, E>(
  body: (
    remote: <X, Y, R>(transport: Transport, effect: Effect.Effect<X, Y, R>) => Effect.Effect<X, Y, Exclude<R, Ham.Ham>>,
    server: HamServer.HamServerService
  ) => Effect.Effect<A, E, Ham.Ham | Scope.Scope>,
  limits?: HamServer.Limits
) =>
  Effect.gen(function*() {
    const dir = yield* tempDir("ham-remote-")
    return yield* Effect.gen(function*() {
      const server = yield* HamServer.HamServer
      const remote = <X, Y, R>(transport: Transport, effect: Effect.Effect<X, Y, R>) =>
        Effect.provide(effect, clientOf(server, transport)) as Effect.Effect<X, Y, Exclude<R, Ham.Ham>>
      return yield* body(remote, server)
    }).pipe(Effect.provide(served(dir, limits)))
  }).pipe(Effect.scoped)

/** subscribes now; the effect returned takes the next `n` events */
const nextEvents = (n: number) =>
  Effect.map(Ham.subscribe, (queue) => Effect.forEach(Array.from({ length: n }), () => Queue.take(queue)))

/** the program that runs the same locally and remotely: what it did, as plain data */
const program = (name: string) =>
  Effect.gen(function*() {
    const web = yield* Ham.attach(Entity.process(name, Command.make("sleep", "30")), {
      heartbeat: { interval: "10 seconds", missedLow: 0, missedHigh: 0 }
    })
    const death = yield* Ham.condition(web, CondDeath).pipe(
      Ham.restart,
      Ham.log("restarted"),
      Ham.action(Action.signal("SIGTERM").pipe(Action.orElse(Action.log("no signal"))))
    )
    yield* Ham.conditionState(web, { from: 1, to: 2 }, { name: "up" }).pipe(Ham.log("up"))
    yield* Ham.publishState(web, 1)
    yield* Ham.publishState(web, 2)
    yield* Ham.raise(web, { type: 3, class: 4, severity: 5, detail: "remote" })
    const flags = yield* Ham.control(death, "disable")
    const lookedUp = yield* Ham.conditionHandle(web, death.name)
    const tree = yield* Ham.snapshot
    const node = tree.entities.find((e) => e.name === name)!
    const result = {
      handle: { name: web.name, isGlobal: web.isGlobal },
      lookedUp: lookedUp.name === death.name,
      flags,
      kind: node.kind,
      state: node.state,
      conditions: node.conditions.map((c) => ({ name: c.name, type: c.type, actions: c.actions.map((a) => a.name) })),
      pid: node.pid!,
      verbosity: yield* Ham.verbosity
    }
    yield* Ham.detach(web)
    return result
  })

describe("Remote HAM", () => {
  it.live(
    "the same program gives the same result locally, over TCP and over the Unix socket",
    () =>
      withServed((remote) =>
        Effect.gen(function*() {
          const local = yield* program("local")
          for (const transport of ["tcp", "unix"] as const) {
            const events = yield* nextEvents(5)
            const result = yield* remote(transport, program(transport))
            expect({ ...result, pid: 0 }).toEqual({ ...local, handle: { ...local.handle, name: transport }, pid: 0 })
            // the child ran on the served HAM's side, and is gone after the detach
            expect(result.pid).toBeGreaterThan(0)
            yield* waitUntil(`the ${transport} child to end`, () => !isLive(result.pid))
            expect((yield* events).map((e) => [e.entity, e._tag].join(" "))).toEqual([
              `${transport} CondAttach`,
              `${transport} CondState`,
              `${transport} CondState`,
              `${transport} CondRaise`,
              `${transport} CondDetach`
            ])
          }
          // the served HAM's own view: nothing left of the remote entities
          expect((yield* Ham.snapshot).entities.map((e) => e.name)).toEqual([])
        })
      ),
    30_000
  )

  it.live(
    "a remote process entity is restarted after a SIGKILL, and the remote events stream shows it",
    () =>
      withServed((remote) =>
        remote(
          "tcp",
          Effect.gen(function*() {
            const events = yield* Ham.subscribe
            const job = yield* Ham.attach(Entity.process("job", Command.make("sleep", "30")))
            yield* Ham.condition(job, CondDeath).pipe(Ham.restart)
            const first = (yield* Ham.snapshot).entities[0].pid!
            process.kill(first, "SIGKILL")
            const seen = yield* takeUntil(events, is("CondRestart", "job")).pipe(Effect.timeout("10 seconds"))
            expect(seen.map((e) => e._tag)).toEqual(["CondAttach", "CondAbnormalDeath", "CondDeath", "CondRestart"])
            const death = seen[2] as Extract<ConditionEvent, { _tag: "CondDeath" }>
            expect(death.signal).toBe("SIGKILL")
            const second = (yield* Ham.snapshot).entities[0].pid!
            expect(second).not.toBe(first)
            expect(isLive(second)).toBe(true)
            // Ham.events, filtered by entity, streams too
            const restarts = yield* Ham.events(job).pipe(
              Stream.filter((e) => e._tag === CondRestart),
              Stream.take(1),
              Stream.runCollect,
              Effect.fork
            )
            yield* Effect.sleep("50 millis")
            process.kill(second, "SIGKILL")
            const again = Chunk.toReadonlyArray(yield* Fiber.join(restarts).pipe(Effect.timeout("10 seconds")))
            expect(again.map((e) => [e._tag, e.entity])).toEqual([["CondRestart", "job"]])
            yield* Ham.detach(job)
          })
        )
      ),
    30_000
  )

  it.live("what is local to a process gives a typed error remotely, changes nothing, and the server goes on", () =>
    withServed((remote) =>
      Effect.gen(function*() {
        const queue = yield* Queue.unbounded<unknown>()
        const errors = yield* remote(
          "tcp",
          Effect.gen(function*() {
            const web = yield* Ham.entity("web")
            const death = yield* Ham.condition(web, CondDeath)
            return [
              yield* failureOf(Ham.attach(Entity.fiber("f", Effect.never))),
              yield* failureOf(Ham.addAction(death, Action.effect(Effect.void))),
              yield* failureOf(Ham.addAction(death, Action.log("x").pipe(Action.orElse(Action.effect(Effect.void))))),
              yield* failureOf(Ham.addAction(death, Action.notify(queue))),
              yield* failureOf(
                Ham.attach(Entity.process("p", Command.make("sleep", "1")), { backoff: Schedule.spaced("1 second") })
              ),
              yield* failureOf(Effect.scoped(Ham.attachSelf("me")))
            ]
          })
        )
        expect(errors.map((e) => e._tag)).toEqual(Array(6).fill("InvalidArgument"))
        expect(errors.map((e) => (e as Ham.InvalidArgument).argument)).toEqual([
          "Attach",
          "AddAction",
          "AddAction",
          "AddAction",
          "Attach",
          "attachSelf"
        ])
        // nothing of them reached the HAM: web and its condition only, no action
        const tree = yield* Ham.snapshot
        expect(tree.entities.map((e) => [e.name, e.conditions.flatMap((c) => c.actions)])).toEqual([["web", []]])
        // the server serves on
        expect((yield* remote("unix", Ham.snapshot)).entities.length).toBe(1)
      })
    ))

  it.live("each operation's errors come back typed; bad input is InvalidArgument; after Ham.stop, HamStopped", () =>
    withServed((remote) =>
      remote(
        "tcp",
        Effect.gen(function*() {
          yield* Ham.entity("a")
          const c = yield* Ham.condition("a", CondDeath, { name: "c" })
          // a remote condition handle pipes into the action adders, as a local one
          yield* c.pipe(Ham.log("first"), Ham.log("second"))
          expect((yield* Ham.snapshot).entities[0].conditions[0].actions.map((a) => a.summary)).toEqual([
            `log "first" (verbosity 1)`,
            `log "second" (verbosity 1)`
          ])
          expect(yield* failureOf(Ham.detach("nope"))).toMatchObject({ _tag: "EntityNotFound", entity: "nope" })
          expect(yield* failureOf(Ham.condition("a", CondDeath, { name: "c" }))).toMatchObject({
            _tag: "DuplicateName",
            kind: "condition"
          })
          expect(yield* failureOf(Ham.conditionHandle("a", "zz"))).toMatchObject({ _tag: "ConditionNotFound" })
          expect(yield* failureOf(Ham.actionHandle(c, "zz"))).toMatchObject({ _tag: "ActionNotFound" })
          expect(yield* failureOf(Ham.publishState("a", -1))).toMatchObject({
            _tag: "InvalidArgument",
            argument: "PublishState"
          })
          expect(yield* failureOf(Ham.verbose(1.5))).toMatchObject({ _tag: "InvalidArgument" })
          expect(yield* Ham.verbose(2)).toBe(1)
          expect(yield* Ham.verbosity).toBe(2)
          yield* Ham.stop
          expect(yield* failureOf(Ham.entity("b"))).toMatchObject({ _tag: "HamStopped" })
        })
      )
    ))

  it.live("Ham.subscribe remotely: no event published after it returns is missed", () =>
    withServed((remote) =>
      Effect.gen(function*() {
        const local = yield* Ham.Ham
        yield* Ham.entity("x")
        for (let i = 0; i < 6; i++) {
          const got = yield* remote(
            i % 2 === 0 ? "tcp" : "unix",
            Effect.gen(function*() {
              const events = yield* Ham.subscribe
              yield* local.raise("x", { type: i + 1, class: 1, severity: 1 })
              return yield* Queue.take(events).pipe(Effect.timeout("5 seconds"))
            })
          )
          expect(got).toMatchObject({ _tag: "CondRaise", entity: "x", type: i + 1 })
        }
      })
    ))

  it.live("a server closed while a client streams its events: the server closes at once, the stream dies typed", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("ham-remote-")
      const outer = yield* Scope.make()
      const context = yield* Layer.buildWithScope(served(dir), outer)
      const server = Context.get(context, HamServer.HamServer)
      const client = yield* Layer.build(clientOf(server, "tcp"))
      const stream = yield* Ham.events().pipe(Stream.runDrain, Effect.provide(client), Effect.exit, Effect.fork)
      yield* Effect.sleep("100 millis")
      const t0 = Date.now()
      yield* Scope.close(outer, Exit.void)
      expect(Date.now() - t0).toBeLessThan(2000)
      const exit = yield* Fiber.join(stream).pipe(Effect.timeout("5 seconds"))
      expect(Exit.isFailure(exit) ? Cause.pretty(exit.cause) : "succeeded").toMatch(/HamUnreachable/)
    }).pipe(Effect.scoped))

  it.live("a client's scope closes its connection; the server's closes its listeners and the socket file", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("ham-remote-")
      const path = `${dir}/ham.sock`
      const { port, stats } = yield* Effect.gen(function*() {
        const server = yield* HamServer.HamServer
        yield* Effect.scoped(Layer.build(clientOf(server, "tcp")))
        yield* Effect.scoped(Layer.build(clientOf(server, "unix")))
        yield* waitUntilEffect("the connections to close", Effect.map(server.stats, (s) => s.open === 0))
        return { port: Option.getOrThrow(server.tcp).port, stats: yield* server.stats }
      }).pipe(Effect.provide(served(dir)), Effect.scoped)
      expect(stats).toMatchObject({ accepted: 2, open: 0, refused: 0 })
      expect(existsSync(path)).toBe(false)
      const exit = yield* Effect.exit(Effect.scoped(Layer.build(
        HamClient.layer({ tcp: { port }, auth: { token }, connectTimeout: "2 seconds" })
      )))
      expect(Exit.isFailure(exit) && JSON.stringify(exit.cause)).toContain("HamUnreachable")
    }).pipe(Effect.scoped))
})
