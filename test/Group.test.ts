/**
 * Groups (`Entity.group`) with fiber members under the TestClock: the strategies, the intensity
 * window, escalation, significant members and auto-shutdown, dependencies (start order, cycles,
 * unknown names, readiness, what a dependency's restart does to its dependents), the tree.
 */
import { describe, expect, it } from "@effect/vitest"
import { type Duration, Effect, Ref, Schema, TestClock } from "effect"
import { Action, Entity, Group, Ham } from "effect-ham"
import type * as Tree from "effect-ham/Tree"
import { ActionFromJson } from "../src/internal/action-json.js"
import { entityNode, failureOf, settle, stepTo, withHam } from "./utils.js"

type Log = Ref.Ref<ReadonlyArray<string>>

const newLog = Ref.make<ReadonlyArray<string>>([])

/** a fiber member that logs "+name" when a life starts and "-name" when the HAM stops it, then waits */
const worker = (log: Log, name: string, life: Effect.Effect<void> = Effect.never) =>
  Entity.fiber(
    name,
    Effect.zipRight(
      Ref.update(log, (xs) => [...xs, `+${name}`]),
      Effect.onInterrupt(life, () => Ref.update(log, (xs) => [...xs, `-${name}`]))
    )
  )

const kill = (name: string) => Effect.zipRight(Ham.signalEntity(name, "SIGKILL"), settle)

const groupNode = (name: string) =>
  Effect.map(Ham.snapshot, (tree) => tree.groups?.find((g: Tree.GroupNode) => g.name === name))

const restartsOf = (name: string) => Effect.map(entityNode(name), (n) => n.stats.restarts)

/** the log since the last call */
const taken = (log: Log) => Ref.getAndSet(log, [])

describe("group strategies", () => {
  it.effect("oneForOne restarts the dead member only", () =>
    Effect.gen(function*() {
      const log = yield* newLog
      yield* Ham.attach(Entity.group("g", [worker(log, "a"), worker(log, "b"), worker(log, "c")]))
      yield* settle
      expect(yield* taken(log)).toEqual(["+a", "+b", "+c"])
      yield* kill("b")
      expect(yield* taken(log)).toEqual(["-b", "+b"])
      expect([yield* restartsOf("a"), yield* restartsOf("b"), yield* restartsOf("c")]).toEqual([0, 1, 0])
      const node = yield* groupNode("g")
      expect(node).toMatchObject({ strategy: "oneForOne", status: "running", restarts: 1 })
      expect(node!.members.map((m) => m.name)).toEqual(["a", "b", "c"])
    }).pipe(withHam()))

  it.effect("oneForAll stops the others in reverse order, then starts all in order", () =>
    Effect.gen(function*() {
      const log = yield* newLog
      yield* Ham.attach(
        Entity.group("g", [worker(log, "a"), worker(log, "b"), worker(log, "c")], { strategy: "oneForAll" })
      )
      yield* settle
      yield* taken(log)
      yield* kill("b")
      expect(yield* taken(log)).toEqual(["-b", "-c", "-a", "+a", "+b", "+c"])
      expect([yield* restartsOf("a"), yield* restartsOf("b"), yield* restartsOf("c")]).toEqual([1, 1, 1])
    }).pipe(withHam()))

  it.effect("restForOne restarts the dead member and those after it", () =>
    Effect.gen(function*() {
      const log = yield* newLog
      yield* Ham.attach(
        Entity.group("g", [worker(log, "a"), worker(log, "b"), worker(log, "c")], { strategy: "restForOne" })
      )
      yield* settle
      yield* taken(log)
      yield* kill("b")
      expect(yield* taken(log)).toEqual(["-b", "-c", "+b", "+c"])
      expect([yield* restartsOf("a"), yield* restartsOf("b"), yield* restartsOf("c")]).toEqual([0, 1, 1])
    }).pipe(withHam()))

  it.effect("a temporary member is stopped with the others and not started again", () =>
    Effect.gen(function*() {
      const log = yield* newLog
      yield* Ham.attach(
        Entity.group("g", [worker(log, "a"), Entity.member(worker(log, "t"), { restart: "temporary" })], {
          strategy: "oneForAll"
        })
      )
      yield* settle
      yield* taken(log)
      yield* kill("a")
      expect(yield* taken(log)).toEqual(["-a", "-t", "+a"])
      expect((yield* entityNode("t")).status).toBe("stopped")
    }).pipe(withHam()))
})

describe("group intensity", () => {
  const opts = { intensity: { maxRestarts: 2, within: "10 seconds" } } as const

  it.effect("more than maxRestarts within the window: the group gives up and stops its members", () =>
    Effect.gen(function*() {
      const log = yield* newLog
      yield* Ham.attach(Entity.group("g", [worker(log, "a"), worker(log, "b")], opts))
      yield* settle
      yield* kill("a")
      yield* TestClock.adjust("1 second")
      yield* kill("a")
      expect((yield* groupNode("g"))!.status).toBe("running")
      yield* TestClock.adjust("1 second")
      yield* kill("a")
      expect((yield* groupNode("g"))!.status).toBe("gaveUp")
      expect((yield* entityNode("a")).status).toBe("dead")
      expect((yield* entityNode("b")).status).toBe("stopped")
    }).pipe(withHam()))

  it.effect("restarts that leave the window are forgotten", () =>
    Effect.gen(function*() {
      const log = yield* newLog
      yield* Ham.attach(Entity.group("g", [worker(log, "a")], opts))
      yield* settle
      for (let i = 0; i < 6; i++) {
        yield* kill("a")
        yield* TestClock.adjust("6 seconds")
      }
      expect(yield* groupNode("g")).toMatchObject({ status: "running", restarts: 6 })
      expect((yield* entityNode("a")).status).toBe("running")
    }).pipe(withHam()))

  it.effect("a nested group that gives up is restarted by its parent (escalation), which may give up in turn", () =>
    Effect.gen(function*() {
      const log = yield* newLog
      const inner = Entity.group("inner", [worker(log, "x"), worker(log, "y")], {
        intensity: { maxRestarts: 1, within: "10 seconds" }
      })
      yield* Ham.attach(
        Entity.group("root", [worker(log, "z"), inner], { intensity: { maxRestarts: 1, within: "10 seconds" } })
      )
      yield* settle
      yield* taken(log)
      yield* kill("x") // inner restarts x
      yield* kill("x") // inner gives up: y stopped; root restarts inner: x and y start again
      expect(yield* taken(log)).toEqual(["-x", "+x", "-x", "-y", "+x", "+y"])
      expect(yield* groupNode("inner")).toMatchObject({ status: "running", restarts: 1, parent: "root" })
      expect(yield* groupNode("root")).toMatchObject({ status: "running", restarts: 1 })
      yield* kill("x") // inner's window is fresh: it restarts x
      yield* kill("x") // inner gives up again; root's second restart within 10 s: root gives up
      expect(yield* groupNode("root")).toMatchObject({ status: "gaveUp" })
      expect(yield* groupNode("inner")).toMatchObject({ status: "gaveUp" })
      expect((yield* entityNode("z")).status).toBe("stopped")
      expect((yield* entityNode("y")).status).toBe("stopped")
    }).pipe(withHam()))
})

describe("significant members and auto-shutdown", () => {
  it.effect("anySignificant: a significant member that ends shuts the group down", () =>
    Effect.gen(function*() {
      const log = yield* newLog
      const job = Entity.member(worker(log, "job", Effect.sleep("5 seconds")), {
        restart: "transient",
        significant: true
      })
      yield* Ham.attach(Entity.group("g", [worker(log, "a"), job], { autoShutdown: "anySignificant" }))
      yield* settle
      yield* TestClock.adjust("5 seconds")
      yield* settle
      expect(yield* groupNode("g")).toMatchObject({ status: "shutdown" })
      expect((yield* entityNode("a")).status).toBe("stopped")
      expect((yield* groupNode("g"))!.members[1]).toMatchObject({ significant: true, restart: "transient" })
    }).pipe(withHam()))

  it.effect("allSignificant: the group shuts down once every significant member ended", () =>
    Effect.gen(function*() {
      const log = yield* newLog
      const job = (name: string, after: Duration.DurationInput) =>
        Entity.member(worker(log, name, Effect.sleep(after)), { restart: "temporary", significant: true })
      yield* Ham.attach(
        Entity.group("g", [worker(log, "a"), job("j1", "1 second"), job("j2", "3 seconds")], {
          autoShutdown: "allSignificant"
        })
      )
      yield* settle
      yield* TestClock.adjust("2 seconds")
      yield* settle
      expect(yield* groupNode("g")).toMatchObject({ status: "running" })
      yield* TestClock.adjust("2 seconds")
      yield* settle
      expect(yield* groupNode("g")).toMatchObject({ status: "shutdown" })
    }).pipe(withHam()))

  it.effect("a nested group that shuts down is a member that ended normally: restarted if permanent, not if temporary", () =>
    Effect.gen(function*() {
      const log = yield* newLog
      const inner = (name: string, job: string, after: Duration.DurationInput) =>
        Entity.group(name, [
          worker(log, `${name}-a`),
          Entity.member(worker(log, job, Effect.sleep(after)), { restart: "transient", significant: true })
        ], { autoShutdown: "anySignificant" })
      yield* Ham.attach(Entity.group("root", [
        inner("kept", "j1", "2 seconds"),
        Entity.member(inner("gone", "j2", "1 second"), { restart: "temporary" })
      ], { intensity: { maxRestarts: 5, within: "10 seconds" } }))
      yield* settle
      yield* taken(log)
      yield* TestClock.adjust("1 second")
      yield* settle
      // j2 ended: "gone" shut down, and root leaves it down (temporary)
      expect(yield* taken(log)).toEqual(["-gone-a"])
      expect(yield* groupNode("gone")).toMatchObject({ status: "shutdown" })
      yield* TestClock.adjust("1 second")
      yield* settle
      // j1 ended: "kept" shut down, and root started it again (permanent)
      expect(yield* taken(log)).toEqual(["-kept-a", "+kept-a", "+j1"])
      expect(yield* groupNode("kept")).toMatchObject({ status: "running" })
      expect(yield* groupNode("root")).toMatchObject({ status: "running", restarts: 1 })
    }).pipe(withHam()))

  it.effect("a transient member that ends normally is not restarted; an abnormal death is", () =>
    Effect.gen(function*() {
      const log = yield* newLog
      yield* Ham.attach(
        Entity.group("g", [Entity.member(worker(log, "t", Effect.sleep("1 second")), { restart: "transient" })])
      )
      yield* settle
      yield* kill("t")
      expect(yield* restartsOf("t")).toBe(1)
      yield* TestClock.adjust("1 second")
      yield* settle
      expect((yield* entityNode("t")).status).toBe("dead")
      expect(yield* restartsOf("t")).toBe(1)
    }).pipe(withHam()))

  it.effect("a significant member must be transient or temporary", () =>
    Effect.gen(function*() {
      const log = yield* newLog
      const e = yield* failureOf(
        Ham.attach(Entity.group("g", [Entity.member(worker(log, "a"), { significant: true })]))
      )
      expect(e._tag).toBe("InvalidArgument")
      expect((yield* Ham.snapshot).entities).toEqual([])
    }).pipe(withHam()))
})

describe("where groups run", () => {
  it.effect("a Ham service of another process (not built here) cannot attach a group", () =>
    Effect.gen(function*() {
      const log = yield* newLog
      // a copy of the service stands for a client's: it has none of the HAM's local operations
      const client = { ...(yield* Ham.Ham) }
      const e = yield* failureOf(
        Ham.attach(Entity.group("g", [worker(log, "a")])).pipe(Effect.provideService(Ham.Ham, client))
      )
      expect(e).toMatchObject({ _tag: "InvalidArgument", argument: "group" })
      expect((yield* Ham.snapshot).entities).toEqual([])
    }).pipe(withHam()))
})

describe("dependencies", () => {
  it.effect("a member starts after its dependencies, stops before them; the tree shows them", () =>
    Effect.gen(function*() {
      const log = yield* newLog
      yield* Ham.attach(
        Entity.group("g", [
          Entity.member(worker(log, "web"), { dependsOn: ["db"] }),
          Entity.member(worker(log, "db"), { dependsOn: ["cache"] }),
          worker(log, "cache")
        ])
      )
      yield* settle
      expect(yield* taken(log)).toEqual(["+cache", "+db", "+web"])
      const node = yield* groupNode("g")
      expect(node!.members.map((m) => [m.name, m.dependsOn])).toEqual([["cache", []], ["db", ["cache"]], [
        "web",
        ["db"]
      ]])
      expect(Object.keys(yield* Ham.snapshot)).toContain("groups")
    }).pipe(withHam()))

  it.effect("a cycle or an unknown name is a typed error, and nothing is attached", () =>
    Effect.gen(function*() {
      const log = yield* newLog
      const cycle = yield* failureOf(Ham.attach(Entity.group("g", [
        Entity.member(worker(log, "a"), { dependsOn: ["c"] }),
        Entity.member(worker(log, "b"), { dependsOn: ["a"] }),
        Entity.member(worker(log, "c"), { dependsOn: ["b"] })
      ])))
      expect(cycle).toMatchObject({ _tag: "DependencyCycle", cycle: ["a", "c", "b", "a"] })
      const unknown = yield* failureOf(
        Ham.attach(Entity.group("g", [Entity.member(worker(log, "a"), { dependsOn: ["nope"] })]))
      )
      expect(unknown).toMatchObject({ _tag: "UnknownDependency", entity: "a", dependency: "nope" })
      const self = yield* failureOf(
        Ham.attach(Entity.group("g", [Entity.member(worker(log, "a"), { dependsOn: ["g"] })]))
      )
      expect(self._tag).toBe("DependencyCycle")
      const tree = yield* Ham.snapshot
      expect(tree.entities).toEqual([])
      expect(tree.groups).toBeUndefined()
      expect(yield* Ref.get(log)).toEqual([])
    }).pipe(withHam()))

  it.effect("a dependency not ready within readyTimeout fails the attach, and what was attached is detached", () =>
    Effect.gen(function*() {
      const log = yield* newLog
      const fiber = yield* Effect.fork(failureOf(Ham.attach(Entity.group("g", [
        Entity.member(worker(log, "db"), { ready: { check: Effect.succeed(false) }, readyTimeout: "2 seconds" }),
        Entity.member(worker(log, "web"), { dependsOn: ["db"] })
      ]))))
      yield* stepTo(2010, 10)
      const e = yield* fiber
      expect(e).toMatchObject({ _tag: "DependencyNotReady", entity: "db", timeoutMillis: 2000 })
      expect((yield* Ham.snapshot).entities).toEqual([])
      expect(yield* Ref.get(log)).toEqual(["+db", "-db"])
    }).pipe(withHam()))

  it.effect("onDependencyRestart: restart (after it is ready), pause (stopped while it is down), none", () =>
    Effect.gen(function*() {
      const log = yield* newLog
      const dbReady = yield* Ref.make(true)
      yield* Ham.attach(Entity.group("g", [
        Entity.member(worker(log, "db"), { ready: { check: Ref.get(dbReady) } }),
        Entity.member(worker(log, "r"), { dependsOn: ["db"] }),
        Entity.member(worker(log, "p"), { dependsOn: ["db"], onDependencyRestart: "pause" }),
        Entity.member(worker(log, "n"), { dependsOn: ["db"], onDependencyRestart: "none" })
      ], { intensity: { maxRestarts: 10, within: "1 second" } }))
      yield* settle
      yield* taken(log)
      yield* Ref.set(dbReady, false)
      yield* kill("db")
      // db is back but not ready: p is paused, r still runs (it restarts once db is ready), n is left alone
      expect(yield* taken(log)).toEqual(["-db", "-p", "+db"])
      expect((yield* entityNode("p")).status).toBe("stopped")
      expect((yield* entityNode("r")).status).toBe("running")
      yield* Ref.set(dbReady, true)
      yield* stepTo(20, 10)
      expect(yield* taken(log)).toEqual(["-r", "+r", "+p"])
      expect([yield* restartsOf("r"), yield* restartsOf("p"), yield* restartsOf("n")]).toEqual([1, 1, 0])
    }).pipe(withHam()))

  it.effect("a group's dependsOn and mode hold for its members; a dependent of a group follows its members' restarts", () =>
    Effect.gen(function*() {
      const log = yield* newLog
      yield* Ham.attach(Entity.group("root", [
        worker(log, "db"),
        Entity.member(Entity.group("inner", [worker(log, "x")]), { dependsOn: ["db"], onDependencyRestart: "none" }),
        Entity.member(worker(log, "z"), { dependsOn: ["inner"] })
      ], { intensity: { maxRestarts: 10, within: "1 second" } }))
      yield* settle
      expect(yield* taken(log)).toEqual(["+db", "+x", "+z"])
      yield* kill("db")
      // inner takes no notice of db's restart ("none"), and so neither does z
      expect(yield* taken(log)).toEqual(["-db", "+db"])
      yield* kill("x")
      // inner restarted x: z depends on inner, so it restarts once inner is ready
      expect(yield* taken(log)).toEqual(["-x", "+x", "-z", "+z"])
    }).pipe(withHam()))

  it.effect("an operator's restart of a dependency restarts its dependents", () =>
    Effect.gen(function*() {
      const log = yield* newLog
      yield* Ham.attach(
        Entity.group("g", [worker(log, "db"), Entity.member(worker(log, "web"), { dependsOn: ["db"] })])
      )
      yield* settle
      yield* taken(log)
      yield* Ham.restartEntity("db")
      yield* settle
      expect(yield* taken(log)).toEqual(["-db", "+db", "-web", "+web"])
      expect(yield* restartsOf("web")).toBe(1)
    }).pipe(withHam()))
})

describe("actions on a sibling by name", () => {
  it.effect("Group.restart restarts a sibling from another entity's condition; its dependents follow", () =>
    Effect.gen(function*() {
      const log = yield* newLog
      yield* Ham.attach(Entity.group("g", [
        worker(log, "db"),
        Entity.member(worker(log, "web"), { dependsOn: ["db"] }),
        worker(log, "other")
      ]))
      yield* Ham.conditionRaise("other", {}).pipe(Ham.action(Group.restart("db")))
      yield* settle
      yield* taken(log)
      yield* Ham.raise("other", { type: 1, class: 1, severity: 1 })
      yield* settle
      expect(yield* taken(log)).toEqual(["-db", "+db", "-web", "+web"])
      expect([yield* restartsOf("db"), yield* restartsOf("web"), yield* restartsOf("other")]).toEqual([1, 1, 0])
      const action = (yield* entityNode("other")).conditions[0].actions[0]
      expect([action.type, action.summary, action.runs, action.failures]).toEqual([
        "RestartEntity",
        "restart entity \"db\"",
        1,
        0
      ])
      // an entity that does not run: the action fails, and its alternate runs
      yield* Ham.conditionRaise("other", {}, { name: "again" }).pipe(
        Ham.action(Group.restart("nope").pipe(Action.orElse(Action.log("no such entity"))))
      )
      yield* Ham.raise("other", { type: 1, class: 1, severity: 1 })
      yield* settle
      const failed = (yield* entityNode("other")).conditions[1].actions[0]
      expect([failed.failures, failed.lastFailure]).toEqual([1, expect.stringContaining("nope")])
    }).pipe(withHam()))

  it.effect("a bad name is refused, the registry unchanged; the action is data (JSON)", () =>
    Effect.gen(function*() {
      yield* Ham.attach(Entity.fiber("v", Effect.never))
      const c = yield* Ham.conditionRaise("v", {})
      const before = yield* Ham.snapshot
      const bad = yield* failureOf(Ham.addAction(c, Group.restart("a/b")))
      expect(bad._tag).toBe("InvalidArgument")
      expect((yield* Ham.snapshot).entities).toEqual(before.entities)
      const json = Schema.encodeSync(ActionFromJson)(Group.restart("db"))
      expect(json).toEqual({ _tag: "RestartEntity", entity: "db" })
      expect(Schema.decodeUnknownSync(ActionFromJson)(json)).toMatchObject({ _tag: "RestartEntity", entity: "db" })
    }).pipe(withHam()))

  it.effect("a sibling is signalled by name with Action.signal's entity", () =>
    Effect.gen(function*() {
      const log = yield* newLog
      yield* Ham.attach(Entity.group("g", [worker(log, "a"), worker(log, "b")]))
      yield* Ham.conditionRaise("a", {}).pipe(Ham.action(Action.signal("SIGTERM", { entity: "b" })))
      yield* settle
      yield* taken(log)
      yield* Ham.raise("a", { type: 1, class: 1, severity: 1 })
      yield* settle
      // b died of the signal; its group restarted it
      expect(yield* taken(log)).toEqual(["-b", "+b"])
      expect((yield* groupNode("g"))!.restarts).toBe(1)
    }).pipe(withHam()))
})
