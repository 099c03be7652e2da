import { Command } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Ref, Schema, TestClock } from "effect"
import { Action, Entity, Ham, Tree } from "effect-ham"
import { CondDeath, CondRaise } from "effect-ham/Condition"
import * as ChildProcess from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { ActionFromJson } from "../src/internal/action-json.js"
import * as view from "../src/internal/cli/view.js"
import * as config from "../src/internal/daemon/config.js"
import { awaitEvents, cmdlineOf, inTempDir, waitUntil } from "./processes.js"
import { actionNode, failureOf, is, type Log, record, registry, settle, withHam } from "./utils.js"

const one = { type: 1, class: 1, severity: 1 } as const

// ---------------------------------------------------------------------------------------------
// HACTIONDONOW
// ---------------------------------------------------------------------------------------------

describe("doNow (QNX HACTIONDONOW)", () => {
  it.effect("a doNow action runs once when it is added, then at each firing; others only when fired", () =>
    Effect.gen(function*() {
      const log: Log = yield* Ref.make<ReadonlyArray<string>>([])
      const seen = yield* Ref.make<ReadonlyArray<string>>([])
      const e = yield* Ham.attach(Entity.fiber("now", Effect.never))
      const c = yield* Ham.condition(e, CondRaise, { name: "alarm" })
      yield* Ham.addAction(c, record(log, "later"))
      yield* Ham.addAction(
        c,
        Action.effect((event) => Ref.update(seen, (xs) => [...xs, `${event._tag} ${event.entity}`]), {
          label: "now"
        }).pipe(Action.withOptions({ doNow: true }))
      )
      yield* settle
      expect(yield* Ref.get(log)).toEqual([])
      expect(yield* Ref.get(seen)).toEqual(["CondAttach now"])
      const node = yield* actionNode("now", "alarm", "now")
      expect([node.doNow, node.runs]).toEqual([true, 1])
      expect((yield* actionNode("now", "alarm", "later")).doNow).toBeUndefined()
      yield* Ham.raise(e, one)
      yield* settle
      expect(yield* Ref.get(log)).toEqual(["later"])
      expect(yield* Ref.get(seen)).toEqual(["CondAttach now", "CondRaise now"])
      expect((yield* actionNode("now", "alarm", "now")).runs).toBe(2)
    }).pipe(withHam()))

  it.effect("a doNow action that fails runs its alternates and is counted as failed (removeOnFail applies)", () =>
    Effect.gen(function*() {
      const log: Log = yield* Ref.make<ReadonlyArray<string>>([])
      const e = yield* Ham.attach(Entity.fiber("f", Effect.never))
      const c = yield* Ham.condition(e, CondRaise, { name: "c" })
      yield* Ham.addAction(
        c,
        Action.effect(Effect.fail("no"), { label: "bad" }).pipe(
          Action.orElse(record(log, "alternate")),
          Action.withOptions({ doNow: true })
        )
      )
      yield* settle
      expect(yield* Ref.get(log)).toEqual(["alternate"])
      const node = yield* actionNode("f", "c", "bad")
      expect([node.runs, node.failures]).toEqual([1, 1])
      yield* Ham.addAction(
        c,
        Action.effect(Effect.fail("no"), { label: "gone" }).pipe(
          Action.withOptions({ doNow: true, removeOnFail: true })
        )
      )
      yield* settle
      const names = (yield* Ham.snapshot).entities[0].conditions[0].actions.map((a) => a.name)
      expect(names).toEqual(["bad"])
    }).pipe(withHam()))

  it.effect("doNow on a restart, on an alternate, or not a boolean is refused; the registry is unchanged", () =>
    Effect.gen(function*() {
      const e = yield* Ham.attach(Entity.fiber("r", Effect.never))
      const death = yield* Ham.condition(e, CondDeath, { name: "d" })
      const before = yield* registry
      const errors = [
        yield* failureOf(Ham.addAction(death, Action.restart.pipe(Action.withOptions({ doNow: true })))),
        yield* failureOf(
          Ham.addAction(
            death,
            Action.log("x").pipe(Action.orElse(Action.log("y").pipe(Action.withOptions({ doNow: true }))))
          )
        ),
        yield* failureOf(Ham.addAction(death, Action.log("x").pipe(Action.withOptions({ doNow: "yes" as never }))))
      ]
      expect(errors.map((error) => error._tag)).toEqual(["InvalidArgument", "InvalidArgument", "InvalidArgument"])
      expect(errors.map((error) => (error as { argument: string }).argument)).toEqual(["doNow", "doNow", "doNow"])
      expect(yield* registry).toEqual(before)
    }).pipe(withHam()))

  it.effect("doNow is data: written in JSON only when set, read back, and taken by the daemon's config", () =>
    Effect.gen(function*() {
      const action = Action.log("hello").pipe(Action.withOptions({ doNow: true }))
      const json = Schema.encodeSync(ActionFromJson)(action)
      expect(json).toEqual({ _tag: "Log", message: "hello", doNow: true })
      expect(Schema.decodeSync(ActionFromJson)(json).doNow).toBe(true)
      expect(Schema.encodeSync(ActionFromJson)(Action.log("hello"))).toEqual({ _tag: "Log", message: "hello" })
      const parsed = yield* config.parse({
        entities: [{
          name: "web",
          command: { command: "sleep", args: ["30"] },
          conditions: [{ type: "CondDeath", actions: [{ _tag: "Log", message: "up", doNow: true }] }]
        }]
      })
      expect(parsed.entities[0].conditions[0].actions[0].doNow).toBe(true)
    }))
})

// ---------------------------------------------------------------------------------------------
// the HAM's own pid (QNX /proc/ham/.info "Ham Pid")
// ---------------------------------------------------------------------------------------------

describe("the HAM's pid in the tree", () => {
  it.effect("the tree holds the pid of the HAM's process; the header and `ham cat /` show it", () =>
    Effect.gen(function*() {
      yield* Ham.attach(Entity.fiber("w", Effect.never))
      const tree = yield* Ham.snapshot
      expect(tree.hamPid).toBe(process.pid)
      const encoded = Schema.encodeSync(Tree.Tree)(tree)
      expect(encoded.hamPid).toBe(process.pid)
      expect(Tree.render(tree).split("\n")[0]).toContain(`  ham pid ${process.pid}`)
      const root = view.find(tree, "/")
      expect(typeof root === "string" ? root : root._tag).toBe("Root")
      if (typeof root === "string") return
      expect(root.node).toMatchObject({ hamPid: process.pid, numEntities: 1 })
      expect("entities" in root.node).toBe(false)
      expect(view.cat(tree, root)).toBe(Tree.render(tree).split("\n")[0])
      // a path without its leading slash is still an entity's
      expect(view.find(tree, "")).toBe(`not a path: ""`)
    }).pipe(withHam()))
})

// ---------------------------------------------------------------------------------------------
// the restart line (QNX ham_action_restart's path)
// ---------------------------------------------------------------------------------------------

describe("Action.restartWith: a restart line of its own", () => {
  it.live("after a death the entity is started with the restart line, at each restart; the tree shows it", () =>
    Effect.gen(function*() {
      const events = yield* Ham.subscribe
      // no back-off: the spawner is armed to start the next life by itself (not with a restart line)
      const e = yield* Ham.attach(Entity.process("rl", Command.make("sleep", "31.81")), { backoff: false })
      yield* Ham.condition(e, CondDeath, { name: "death" }).pipe(
        Ham.action(Action.restartWith(Command.make("sleep", "31.82")))
      )
      const first = (yield* Ham.snapshot).entities[0].pid!
      expect(cmdlineOf(first)).toBe("sleep 31.81")
      const node = yield* actionNode("rl", "death", "restart")
      expect([node.summary, node.restartLine]).toEqual(["restart the entity with sleep 31.82", "sleep 31.82"])
      for (const n of [1, 2]) {
        const pid = (yield* Ham.snapshot).entities[0].pid!
        process.kill(pid, "SIGKILL")
        const seen = yield* awaitEvents(events, is("CondRestart", "rl"))
        const restarted = seen[seen.length - 1]
        if (restarted._tag !== "CondRestart") throw new Error("no CondRestart")
        expect(restarted.restarts).toBe(n)
        yield* waitUntil("the restart line to run", () => cmdlineOf(restarted.pid!) === "sleep 31.82")
      }
      expect(Tree.render(yield* Ham.snapshot)).toContain("restart line: sleep 31.82")
    }).pipe(withHam()))

  it.live("a plain restart's line is the attach command; a pid entity takes a restart line too", () =>
    Effect.gen(function*() {
      yield* Ham.condition(yield* Ham.attach(Entity.process("plain", Command.make("sleep", "31.83"))), CondDeath, {
        name: "death"
      }).pipe(Ham.restart)
      expect((yield* actionNode("plain", "death", "restart")).restartLine).toBe("sleep 31.83")
      const child = ChildProcess.spawn("sleep", ["31.84"], { stdio: "ignore" })
      yield* Effect.addFinalizer(() => Effect.sync(() => child.kill("SIGKILL")))
      const events = yield* Ham.subscribe
      const p = yield* Ham.attach(Entity.pid("adopted", child.pid!))
      yield* Ham.condition(p, CondDeath, { name: "death" }).pipe(
        Ham.action(Action.restartWith(Command.make("sleep", "31.85")))
      )
      expect((yield* actionNode("adopted", "death", "restart")).restartLine).toBe("sleep 31.85")
      child.kill("SIGKILL")
      const seen = yield* awaitEvents(events, is("CondRestart", "adopted"), 10_000)
      const restarted = seen[seen.length - 1]
      if (restarted._tag !== "CondRestart") throw new Error("no CondRestart")
      yield* waitUntil("the restart line to run", () => cmdlineOf(restarted.pid!) === "sleep 31.85")
    }).pipe(withHam()))

  it.effect("a restart line on a fiber entity, or not a Command, is refused; the registry is unchanged", () =>
    Effect.gen(function*() {
      const e = yield* Ham.attach(Entity.fiber("f", Effect.never))
      const death = yield* Ham.condition(e, CondDeath, { name: "d" })
      const before = yield* registry
      const fiber = yield* failureOf(Ham.addAction(death, Action.restartWith(Command.make("true"))))
      const notCommand = yield* failureOf(Ham.addAction(death, Action.restartWith("true" as never)))
      expect([fiber._tag, notCommand._tag]).toEqual(["InvalidArgument", "InvalidArgument"])
      expect((notCommand as { argument: string }).argument).toBe("restartWith")
      expect(yield* registry).toEqual(before)
    }).pipe(withHam()))

  it("a restart line is data: JSON and back", () => {
    const json = Schema.encodeSync(ActionFromJson)(Action.restartWith(Command.make("srv", "--recover")))
    expect(json).toEqual({ _tag: "Restart", command: { command: "srv", args: ["--recover"] } })
    expect(Action.summary(Schema.decodeSync(ActionFromJson)(json))).toBe("restart the entity with srv --recover")
  })
})

// ---------------------------------------------------------------------------------------------
// fail lists (QNX ham_action_fail_*, ham_action_fail_remove)
// ---------------------------------------------------------------------------------------------

/** an action that records `label`, then fails */
const failing = (log: Log, label: string) =>
  Action.effect(Effect.zipRight(Ref.update(log, (xs) => [...xs, label]), Effect.fail(`${label} failed`)), { label })

describe("fail lists: every fail action runs when the action fails", () => {
  it.effect("after the alternates (which stop at the first success), every fail action runs, failed or not", () =>
    Effect.gen(function*() {
      const log: Log = yield* Ref.make<ReadonlyArray<string>>([])
      const e = yield* Ham.attach(Entity.fiber("fl", Effect.never))
      const c = yield* Ham.condition(e, CondRaise, { name: "c" })
      yield* Ham.addAction(
        c,
        failing(log, "primary").pipe(
          Action.orElse(record(log, "alt-1")),
          Action.orElse(record(log, "alt-2")),
          Action.onFail(failing(log, "fail-a")),
          Action.onFail(Action.waitfor("1 second")),
          Action.onFail(record(log, "fail-b")),
          Action.named("p")
        )
      )
      yield* Ham.addAction(c, record(log, "next"))
      const node = yield* actionNode("fl", "c", "p")
      expect(node.onFail?.map((f) => f.name)).toEqual(["fail-a", "waitFor", "fail-b"])
      expect(Tree.render(yield* Ham.snapshot)).toContain("on fail: fail-b: local code (fail-b)")
      yield* Ham.raise(e, one)
      yield* settle
      // fail-a failed: the list goes on; the waitfor holds it (TestClock)
      expect(yield* Ref.get(log)).toEqual(["primary", "alt-1", "fail-a"])
      yield* TestClock.adjust("1 second")
      yield* settle
      expect(yield* Ref.get(log)).toEqual(["primary", "alt-1", "fail-a", "fail-b", "next"])
      const after = yield* actionNode("fl", "c", "p")
      expect([after.runs, after.failures]).toEqual([1, 1])
    }).pipe(withHam()))

  it.effect("a fail list does not run when the action succeeds", () =>
    Effect.gen(function*() {
      const log: Log = yield* Ref.make<ReadonlyArray<string>>([])
      const e = yield* Ham.attach(Entity.fiber("ok", Effect.never))
      yield* Ham.condition(e, CondRaise).pipe(
        Ham.action(record(log, "fine").pipe(Action.onFail(record(log, "never"))))
      )
      yield* Ham.raise(e, one)
      yield* settle
      expect(yield* Ref.get(log)).toEqual(["fine"])
    }).pipe(withHam()))

  it.effect("removeFailAction (ham_action_fail_remove) takes one out by name; an unknown name changes nothing", () =>
    Effect.gen(function*() {
      const log: Log = yield* Ref.make<ReadonlyArray<string>>([])
      const e = yield* Ham.attach(Entity.fiber("rm", Effect.never))
      const c = yield* Ham.condition(e, CondRaise, { name: "c" })
      const handle = yield* Ham.addAction(
        c,
        failing(log, "p").pipe(Action.onFail(record(log, "a")), Action.onFail(record(log, "b")))
      )
      yield* Ham.removeFailAction(handle, "a")
      expect((yield* actionNode("rm", "c", "p")).onFail?.map((f) => f.name)).toEqual(["b"])
      const before = yield* registry
      const missing = yield* failureOf(Ham.removeFailAction(handle, "a"))
      expect(missing._tag).toBe("ActionNotFound")
      expect((missing as { action: string }).action).toBe("p/a")
      expect(yield* registry).toEqual(before)
      yield* Ham.raise(e, one)
      yield* settle
      expect(yield* Ref.get(log)).toEqual(["p", "b"])
      yield* Ham.removeFailAction(handle, "b")
      expect((yield* actionNode("rm", "c", "p")).onFail).toBeUndefined()
    }).pipe(withHam()))

  it.effect("a duplicate fail name (EEXIST), a restart as a fail action, or a waitfor in noWait are refused", () =>
    Effect.gen(function*() {
      const e = yield* Ham.attach(Entity.fiber("bad", Effect.never))
      const death = yield* Ham.condition(e, CondDeath, { name: "d" })
      const quick = yield* Ham.condition(e, CondRaise, { name: "q", noWait: true })
      const before = yield* registry
      const twice = yield* failureOf(
        Ham.addAction(
          death,
          Action.log("x").pipe(
            Action.onFail(Action.log("a").pipe(Action.named("same"))),
            Action.onFail(Action.log("b").pipe(Action.named("same")))
          )
        )
      )
      expect(twice).toMatchObject({ _tag: "DuplicateName", kind: "fail action", name: "same" })
      const restart = yield* failureOf(Ham.addAction(death, Action.log("x").pipe(Action.onFail(Action.restart))))
      expect(restart._tag).toBe("InvalidArgument")
      const wait = yield* failureOf(
        Ham.addAction(quick, Action.log("x").pipe(Action.onFail(Action.waitfor("1 second"))))
      )
      expect(wait._tag).toBe("InvalidArgument")
      expect(yield* registry).toEqual(before)
    }).pipe(withHam()))

  it("a fail list is data: JSON and back, absent when empty", () => {
    const action = Action.log("x").pipe(Action.onFail(Action.log("y")))
    const json = Schema.encodeSync(ActionFromJson)(action)
    expect(json).toEqual({ _tag: "Log", message: "x", onFail: [{ _tag: "Log", message: "y" }] })
    const back = Schema.decodeSync(ActionFromJson)(json)
    expect(back.onFail?.map((f) => Action.summary(f))).toEqual([`log "y" (verbosity 1)`])
    expect(Schema.encodeSync(ActionFromJson)(Action.log("x"))).toEqual({ _tag: "Log", message: "x" })
  })
})

// ---------------------------------------------------------------------------------------------
// a message to another process (QNX's pulse or signal to a recipient)
// ---------------------------------------------------------------------------------------------

/** a child that says READY=1 on its notify socket, then appends every line the HAM sends it to `out` */
const listener = (out: string) =>
  Command.make(
    process.execPath,
    "-e",
    `const s = require("node:net").connect(process.env.HAM_NOTIFY_SOCKET, () => s.write("READY=1\\n"));` +
      `s.on("data", (d) => require("node:fs").appendFileSync(${JSON.stringify(out)}, d));` +
      `setInterval(() => {}, 1000)`
  )

describe("Action.notifyEntity: a message on a process entity's notify connection", () => {
  it.live("the child reads MESSAGE=<text> on its notify socket when the action runs", () =>
    inTempDir("ham-qnx-", (dir) =>
      Effect.gen(function*() {
        const out = path.join(dir, "got")
        const child = yield* Ham.attach(Entity.process("reader", listener(out)))
        // the child is connected once it said READY=1
        yield* Ham.condition(child, CondRaise, { name: "tell" }).pipe(
          Ham.waitfor({ ready: "reader", timeout: "5 seconds" }),
          Ham.action(Action.notifyEntity("reader", "reload config"))
        )
        yield* Ham.raise(child, one)
        yield* waitUntil("the message", () => fs.existsSync(out) && fs.readFileSync(out, "utf8").includes("\n"))
        expect(fs.readFileSync(out, "utf8")).toBe("MESSAGE=reload config\n")
        const node = yield* actionNode("reader", "tell", "notifyEntity")
        expect([node.runs, node.failures, node.summary]).toEqual([1, 0, `send "reload config" to entity "reader"`])
      }).pipe(withHam())))

  it.effect("no such entity, or one without a notify connection: the action fails (its alternates run)", () =>
    Effect.gen(function*() {
      const log: Log = yield* Ref.make<ReadonlyArray<string>>([])
      const e = yield* Ham.attach(Entity.fiber("fib", Effect.never))
      yield* Ham.condition(e, CondRaise, { name: "c" }).pipe(
        Ham.action(Action.notifyEntity("nobody", "x").pipe(Action.named("missing"), Action.orElse(record(log, "alt")))),
        Ham.action(Action.notifyEntity("fib", "x").pipe(Action.named("fiber")))
      )
      yield* Ham.raise(e, one)
      yield* settle
      expect(yield* Ref.get(log)).toEqual(["alt"])
      expect((yield* actionNode("fib", "c", "missing")).lastFailure).toContain(`no entity "nobody"`)
      expect((yield* actionNode("fib", "c", "fiber")).lastFailure).toContain("no notify socket")
    }).pipe(withHam()))

  it.effect("a message of two lines, or a bad entity name, is refused; the registry is unchanged", () =>
    Effect.gen(function*() {
      const e = yield* Ham.attach(Entity.fiber("v", Effect.never))
      const c = yield* Ham.condition(e, CondRaise)
      const before = yield* registry
      const twoLines = yield* failureOf(Ham.addAction(c, Action.notifyEntity("v", "a\nb")))
      const badName = yield* failureOf(Ham.addAction(c, Action.notifyEntity("", "a")))
      expect([twoLines._tag, badName._tag]).toEqual(["InvalidArgument", "InvalidArgument"])
      expect(yield* registry).toEqual(before)
      const json = Schema.encodeSync(ActionFromJson)(Action.notifyEntity("v", "hi"))
      expect(json).toEqual({ _tag: "NotifyEntity", entity: "v", message: "hi" })
    }).pipe(withHam()))
})
