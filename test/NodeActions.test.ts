/**
 * Node-qualified actions (QNX `ham_action_notify_*_node`): an action list on one HAM publishes a
 * state or raises a condition on an entity of another HAM, named by its address (TCP with a token
 * file, or a Unix socket), through the remote client. Two HAMs run in this process: B is served on
 * real sockets, A calls it from its actions. The failures (unreachable, refused token, no such
 * entity, no answer in time) go to the alternates; A keeps one connection per address and closes
 * it when it stops; the actions are data (JSON for the store, the wire and the config file).
 */
import { Command } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Either, Exit, Layer, Option, Queue, Schema, Scope } from "effect"
import { Action, Entity, Ham } from "effect-ham"
import { type ConditionEvent } from "effect-ham/Condition"
import * as HamClient from "effect-ham/HamClient"
import * as HamServer from "effect-ham/HamServer"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import { ActionFromJson } from "../src/internal/action-json.js"
import * as config from "../src/internal/daemon/config.js"
import { awaitEvents, freePort, tempDir, waitUntilEffect } from "./processes.js"
import { failureOf, is } from "./utils.js"

const token = "node-actions-token-0123456789abcdef"

/** HAM B, served on TCP (its token in a 0600 file) and on a Unix socket in `dir`; what A needs to reach it */
const serveB = (dir: string) =>
  Effect.gen(function*() {
    const tokenFile = path.join(dir, "token")
    fs.writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 })
    const context = yield* Layer.build(
      HamServer.layer({ listen: { tcp: { port: 0 }, unix: path.join(dir, "b.sock") }, auth: { tokenFile } }).pipe(
        Layer.provideMerge(Ham.layer())
      )
    )
    const server = Context.get(context, HamServer.HamServer)
    const b = Context.get(context, Ham.Ham)
    const tcp: Action.NodeAddress = { tcp: { port: Option.getOrThrow(server.tcp).port }, tokenFile }
    const unix: Action.NodeAddress = { unix: Option.getOrThrow(server.unix) }
    return { b, server, tcp, unix, tokenFile }
  })

/** an entity of A whose raise conditions (type 7) run `actions`; `fire` raises one */
const trigger = (...actions: ReadonlyArray<Action.Action>) =>
  Effect.gen(function*() {
    const web = yield* Ham.entity("web")
    const condition = yield* Ham.conditionRaise(web, { type: 7, class: 0, severity: 0 }, { name: "onRaise" })
    for (const action of actions) yield* Ham.addAction(condition, action)
    return Ham.raise(web, { type: 7, class: 1, severity: 1, detail: "go" })
  })

/** the tree node of one of A's actions */
const actionOf = (name: string) =>
  Effect.map(
    Ham.snapshot,
    (tree) =>
      tree.entities.find((e) => e.name === "web")!.conditions.find((c) => c.name === "onRaise")!.actions.find((a) =>
        a.name === name
      )!
  )

describe("node-qualified actions", () => {
  it.live("publish and raise on an entity of another HAM, over TCP and the Unix socket, on one connection each", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("ham-nodes-")
      const { b, server, tcp, unix } = yield* serveB(dir)
      yield* b.attach(Entity.fiber("db", Effect.never))
      const bEvents = yield* b.subscribe

      const aScope = yield* Scope.make()
      yield* Effect.gen(function*() {
        const fire = yield* trigger(
          Action.publishState("db", 2, { node: tcp }),
          Action.raise("db", { type: 1, class: 2, severity: 3 }, { node: unix })
        )
        yield* fire
        const seen = yield* awaitEvents(bEvents, is("CondRaise", "db"))
        const state = seen.find(is("CondState", "db")) as Extract<ConditionEvent, { _tag: "CondState" }>
        expect(state.to).toBe(2)
        const raised = seen[seen.length - 1] as Extract<ConditionEvent, { _tag: "CondRaise" }>
        expect([raised.type, raised.class, raised.severity]).toEqual([1, 2, 3])
        // no detail given: the event that fired the action is described
        expect(raised.detail).toMatch(/^CondRaise of "web" \(seq \d+\)$/)
        expect((yield* actionOf("publishState")).failures).toBe(0)
        expect((yield* server.stats).accepted).toBe(2)

        // again: the same two connections
        yield* fire
        yield* awaitEvents(bEvents, is("CondRaise", "db"))
        expect((yield* server.stats).accepted).toBe(2)
        expect((yield* actionOf("raise")).runs).toBe(2)
        const summary = (yield* actionOf("publishState")).summary
        expect(summary).toBe(`publish state 2 of entity "db" on tcp://127.0.0.1:${Option.getOrThrow(server.tcp).port}`)
      }).pipe(Effect.provide(Ham.layer()), Scope.extend(aScope))
      expect((yield* server.stats).open).toBe(2)
      // A stops: its connections to B are closed with it
      yield* Scope.close(aScope, Exit.void)
      yield* waitUntilEffect("A's connections closed", Effect.map(server.stats, (s) => s.open === 0))
    }).pipe(Effect.scoped))

  it.live("actions running at once on one address share one connection", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("ham-nodes-")
      const { b, server, tcp } = yield* serveB(dir)
      yield* b.attach(Entity.fiber("db", Effect.never))
      const bEvents = yield* b.subscribe
      yield* Effect.gen(function*() {
        const web = yield* Ham.entity("web")
        // independent conditions: each runs on a fiber of its own, all at once
        for (const state of [1, 2, 3, 4]) {
          yield* Ham.conditionRaise(web, { type: 7, class: 0, severity: 0 }, { independent: true }).pipe(
            Ham.action(Action.publishState("db", state, { node: tcp }))
          )
        }
        yield* Ham.raise(web, { type: 7, class: 1, severity: 1 })
        const states = new Set<number>()
        while (states.size < 4) {
          const event = yield* Queue.take(bEvents)
          if (event._tag === "CondState" && event.entity === "db") states.add(event.to)
        }
        expect((yield* server.stats).accepted).toBe(1)
      }).pipe(Effect.provide(Ham.layer()), Effect.scoped)
    }).pipe(Effect.scoped))

  it.live("the other HAM started again: the connection kept is made again, and the action succeeds", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("ham-nodes-")
      const startB = Effect.gen(function*() {
        const scope = yield* Scope.make()
        const served = yield* Scope.extend(serveB(dir), scope)
        yield* served.b.attach(Entity.fiber("db", Effect.never))
        return { ...served, events: yield* Scope.extend(served.b.subscribe, scope), scope }
      })
      const first = yield* startB
      const alternates = yield* Queue.unbounded<string>()
      yield* Effect.gen(function*() {
        const fire = yield* trigger(
          Action.publishState("db", 2, { node: first.unix }).pipe(Action.orElse(Action.notify(alternates, "failed")))
        )
        yield* fire
        yield* awaitEvents(first.events, is("CondState", "db"))
        yield* Scope.close(first.scope, Exit.void)
        const second = yield* startB
        yield* fire
        yield* awaitEvents(second.events, is("CondState", "db"))
        expect(yield* Queue.size(alternates)).toBe(0)
        expect((yield* actionOf("publishState")).failures).toBe(0)
        yield* Scope.close(second.scope, Exit.void)
      }).pipe(Effect.provide(Ham.layer()), Effect.scoped)
    }).pipe(Effect.scoped))

  it.live("on this HAM when no node is named", () =>
    Effect.gen(function*() {
      yield* Ham.attach(Entity.fiber("db", Effect.never))
      const events = yield* Ham.subscribe
      const fire = yield* trigger(Action.publishState("db", 4), Action.raise("db", { type: 2, class: 2, severity: 2 }))
      yield* fire
      const seen = yield* awaitEvents(events, is("CondRaise", "db"))
      expect(seen.some((e) => e._tag === "CondState" && e.entity === "db" && e.to === 4)).toBe(true)
    }).pipe(Effect.provide(Ham.layer()), Effect.scoped))

  it.live("unreachable, refused, unknown entity and no answer in time are failures: the alternates run, B is unchanged", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("ham-nodes-")
      const { b, tcp, unix } = yield* serveB(dir)
      yield* b.attach(Entity.fiber("db", Effect.never))
      const bEvents = yield* b.subscribe
      const wrongToken = path.join(dir, "wrong")
      fs.writeFileSync(wrongToken, "not-the-token-of-b-0123456789\n", { mode: 0o600 })
      // a server that accepts and never answers
      const silent = net.createServer(() => {})
      yield* Effect.acquireRelease(
        Effect.async<void>((resume) => {
          silent.listen(0, "127.0.0.1", () => resume(Effect.void))
        }),
        () => Effect.sync(() => silent.close())
      )
      const silentPort = (silent.address() as net.AddressInfo).port
      const port = yield* freePort

      const alternates = yield* Queue.unbounded<string>()
      const withAlternate = (name: string, action: Action.Action) =>
        action.pipe(Action.named(name), Action.orElse(Action.notify(alternates, name)))
      yield* Effect.gen(function*() {
        const fire = yield* trigger(
          withAlternate(
            "unreachable",
            Action.publishState("db", 5, { node: { tcp: { port }, tokenFile: wrongToken } })
          ),
          withAlternate(
            "refused",
            Action.publishState("db", 6, {
              node: { tcp: (tcp as { tcp: { port: number } }).tcp, tokenFile: wrongToken }
            })
          ),
          withAlternate("unknown", Action.raise("nope", { type: 1, class: 1, severity: 1 }, { node: unix })),
          withAlternate(
            "silent",
            Action.publishState("db", 7, {
              node: { tcp: { port: silentPort }, tokenEnv: "HAM_NODES_TEST_TOKEN" },
              timeout: "300 millis"
            })
          )
        )
        process.env.HAM_NODES_TEST_TOKEN = token
        yield* fire
        const ran: Array<string> = []
        for (let i = 0; i < 4; i++) ran.push(yield* Queue.take(alternates))
        expect(ran).toEqual(["unreachable", "refused", "unknown", "silent"])
        const reasons = yield* Effect.forEach(["unreachable", "refused", "unknown", "silent"], actionOf)
        expect(reasons.map((a) => a.failures)).toEqual([1, 1, 1, 1])
        expect(reasons[0].lastFailure).toMatch(/ECONNREFUSED/)
        expect(reasons[1].lastFailure).toMatch(/token/)
        expect(reasons[2].lastFailure).toMatch(/nope/)
        expect(reasons[3].lastFailure).toMatch(/no answer within 300 ms/)
      }).pipe(Effect.provide(Ham.layer()), Effect.scoped)
      // B saw none of it: no state published, nothing raised
      const seen = yield* Queue.takeAll(bEvents)
      expect([...seen].filter((e) => e.entity === "db" && e._tag !== "CondAttach")).toEqual([])
      const db = (yield* b.snapshot).entities.find((e) => e.name === "db")!
      expect(db.state).toBe(0)
    }).pipe(Effect.scoped))

  it.live("a signal to a process entity of another HAM (QNX ham_action_notify_signal_node); an unknown one fails to its alternate", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("ham-nodes-")
      const { b, tcp, unix } = yield* serveB(dir)
      yield* b.attach(Entity.process("sleeper", Command.make("sleep", "30")))
      const pid = (yield* b.snapshot).entities.find((e) => e.name === "sleeper")!.pid!
      const bEvents = yield* b.subscribe
      const alternates = yield* Queue.unbounded<string>()
      yield* Effect.gen(function*() {
        const fire = yield* trigger(
          Action.signal("SIGKILL", { entity: "sleeper", node: tcp }).pipe(Action.named("kill")),
          Action.signal("SIGTERM", { entity: "nope", node: unix }).pipe(
            Action.orElse(Action.notify(alternates, "unknown")),
            Action.named("unknown")
          )
        )
        yield* fire
        const seen = yield* awaitEvents(bEvents, is("CondDeath", "sleeper"))
        const death = seen[seen.length - 1] as Extract<ConditionEvent, { _tag: "CondDeath" }>
        expect([death.pid, death.signal]).toEqual([pid, "SIGKILL"])
        expect(yield* Queue.take(alternates)).toBe("unknown")
        expect((yield* actionOf("kill")).failures).toBe(0)
        expect((yield* actionOf("kill")).summary).toMatch(/^signal SIGKILL to entity "sleeper" on tcp:\/\//)
        expect((yield* actionOf("unknown")).lastFailure).toMatch(/nope/)
      }).pipe(Effect.provide(Ham.layer()), Effect.scoped)
    }).pipe(Effect.scoped))

  it.live("a node-qualified action is data: the store's and the wire's JSON, the config file, a remote addAction", () =>
    Effect.gen(function*() {
      const node: Action.NodeAddress = { tcp: { host: "10.0.0.2", port: 7410 }, tokenFile: "/etc/ham/token" }
      const action = Action.raise("db", { type: 1, class: 2, severity: 3 }, { node, timeout: "2 seconds" })
      const json = Schema.encodeSync(ActionFromJson)(action)
      expect(json).toEqual({
        _tag: "Raise",
        entity: "db",
        raise: { type: 1, class: 2, severity: 3 },
        node,
        timeoutMillis: 2000
      })
      const back = Schema.decodeSync(ActionFromJson)(json)
      expect(Action.summary(back)).toBe(
        `raise type 1 class 2 severity 3 on entity "db" on tcp://10.0.0.2:7410 (timeout 2000 ms)`
      )
      const parsed = yield* config.parse({
        entities: [{
          name: "web",
          command: { command: "sleep", args: ["30"] },
          conditions: [{
            type: "CondDeath",
            actions: [{ _tag: "PublishState", entity: "db", state: 3, node: { unix: "/run/ham/b.sock" } }]
          }]
        }]
      })
      expect(parsed.entities[0].conditions[0].actions[0]._tag).toBe("PublishState")
      const bad = yield* Effect.either(config.parse({
        entities: [{
          name: "web",
          command: { command: "sleep" },
          conditions: [{
            type: "CondDeath",
            actions: [{ _tag: "PublishState", entity: "db", state: 3, node: { tcp: {} } }]
          }]
        }]
      }))
      expect(Either.isLeft(bad) && bad.left.reason).toMatch(/node/)

      // sent to a remote HAM: the protocol carries it, and the tree shows it
      const dir = yield* tempDir("ham-nodes-")
      const { b, server } = yield* serveB(dir)
      const web = yield* b.entity("web")
      yield* Effect.gen(function*() {
        const death = yield* Ham.conditionRaise(web, { type: 1, class: 0, severity: 0 })
        yield* Ham.addAction(death, Action.publishState("db", 1, { node: { unix: "/run/ham/b.sock" } }))
      }).pipe(Effect.provide(HamClient.layer({ unix: Option.getOrThrow(server.unix) })))
      const tree = yield* b.snapshot
      expect(tree.entities.find((e) => e.name === "web")!.conditions[0].actions[0].summary).toBe(
        `publish state 1 of entity "db" on unix:/run/ham/b.sock`
      )
    }).pipe(Effect.scoped))

  it.effect("bad addresses and options are refused when the action is added, and nothing changes", () =>
    Effect.gen(function*() {
      const web = yield* Ham.entity("web")
      const c = yield* Ham.condition(web, "CondDeath")
      const refused = (action: Action.Action) => Effect.map(failureOf(Ham.addAction(c, action)), (e) => e._tag)
      const bad: ReadonlyArray<Action.Action> = [
        Action.publishState("db", 1, { node: { tcp: { port: 0 } } }),
        Action.publishState("db", 1, { node: { tcp: { port: 7410 }, token: "literal" } as never }),
        Action.publishState("db", 1, { node: { unix: "/x", tcp: { port: 1 } } as never }),
        Action.publishState("db", 1, { node: { tcp: { port: 7410 }, tokenFile: "/a", tokenEnv: "B" } }),
        Action.publishState("db", -1),
        Action.publishState("", 1),
        Action.raise("db", { type: -1, class: 0, severity: 0 }),
        Action.raise("db", { type: 1, class: 0, severity: 0 }, { timeout: "-1 seconds" }),
        Action.raise("db", { type: 1, class: 0, severity: 0 }, { nodes: {} } as never),
        // a node-qualified signal names its entity, and takes no pid or awaitExit
        Action.signal("SIGTERM", { node: { unix: "/x" } }),
        Action.signal("SIGTERM", { timeout: "1 second" }),
        Action.signal("SIGTERM", { entity: "db", pid: 1 }),
        Action.signal("SIGTERM", { entity: "db", awaitExit: "1 second" }),
        Action.signal("SIGTERM", { entity: "db", node: { tcp: { port: 0 } } })
      ]
      for (const action of bad) expect(yield* refused(action)).toBe("InvalidArgument")
      const tree = yield* Ham.snapshot
      expect(tree.entities.find((e) => e.name === "web")!.conditions[0].actions).toEqual([])
    }).pipe(Effect.provide(Ham.layer())))
})
