import { Command } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Deferred, Effect, Logger, PubSub, Queue, Ref, Schema, TestClock } from "effect"
import { Action, Entity, Ham } from "effect-ham"
import type * as Condition from "effect-ham/Condition"
import { CondAbnormalDeath, CondDeath, CondRaise, CondRestart, CondState } from "effect-ham/Condition"
import { execFileSync } from "node:child_process"
import {
  actionNode,
  barrier,
  conditionNode,
  entityNode,
  type Log,
  mortal,
  record,
  settle,
  takeSoon,
  withHam
} from "./utils.js"

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

/** takes from the HAM's event subscription until an event satisfies `predicate` */
const nextEvent = (
  events: Queue.Dequeue<Condition.ConditionEvent>,
  predicate: (event: Condition.ConditionEvent) => boolean
): Effect.Effect<Condition.ConditionEvent> =>
  Effect.flatMap(takeSoon(events), (event) => (predicate(event) ? Effect.succeed(event) : nextEvent(events, predicate)))

/** an action that records `label`, then fails */
const failing = (log: Log, label: string) =>
  Action.effect(Effect.zipRight(Ref.update(log, (xs) => [...xs, label]), Effect.fail(`${label} failed`)), { label })

const one = { type: 1, class: 1, severity: 1 } as const

// ---------------------------------------------------------------------------------------------
// action lists and alternates
// ---------------------------------------------------------------------------------------------

describe("action lists", () => {
  it.effect("multistage recovery: the actions of a condition run in insertion order", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const e = yield* Ham.attach(Entity.fiber("m", Effect.never))
      yield* Ham.condition(e, CondRaise, { name: "alarm" }).pipe(
        Ham.action(record(log, "first")),
        Ham.action(record(log, "second")),
        Ham.waitfor("10 millis"),
        Ham.action(record(log, "third")),
        Ham.action(record(log, "fourth"))
      )
      const names = (yield* conditionNode("m", "alarm")).actions.map((a) => a.name)
      expect(names).toEqual(["first", "second", "waitFor", "third", "fourth"])
      yield* Ham.raise(e, one)
      // the list stops at the waitfor until (test) time moves on
      yield* settle
      expect(yield* Ref.get(log)).toEqual(["first", "second"])
      yield* TestClock.adjust("10 millis")
      yield* barrier
      expect(yield* Ref.get(log)).toEqual(["first", "second", "third", "fourth"])
      const runs = (yield* conditionNode("m", "alarm")).actions.map((a) => a.runs)
      expect(runs).toEqual([1, 1, 1, 1, 1])
    }).pipe(withHam()))

  it.effect("orElse: when the primary fails, its alternate runs", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const e = yield* Ham.attach(Entity.fiber("o", Effect.never))
      yield* Ham.condition(e, CondRaise, { name: "c" }).pipe(
        Ham.action(failing(log, "primary").pipe(Action.orElse(record(log, "alternate")))),
        Ham.action(record(log, "next"))
      )
      yield* Ham.raise(e, one)
      yield* barrier
      expect(yield* Ref.get(log)).toEqual(["primary", "alternate", "next"])
      const node = yield* actionNode("o", "c", "primary")
      expect([node.runs, node.failures]).toEqual([1, 1])
      expect(node.alternates.map((a) => a.type)).toEqual(["Local"])
    }).pipe(withHam()))

  it.effect("orElse: a primary that succeeds does not run its alternate", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const e = yield* Ham.attach(Entity.fiber("o", Effect.never))
      yield* Ham.condition(e, CondRaise, { name: "c" }).pipe(
        Ham.action(record(log, "primary").pipe(Action.orElse(record(log, "alternate"))))
      )
      yield* Ham.raise(e, one)
      yield* barrier
      expect(yield* Ref.get(log)).toEqual(["primary"])
      expect((yield* actionNode("o", "c", "primary")).failures).toBe(0)
    }).pipe(withHam()))

  it.effect("orElse: when the alternate fails too, the next alternate runs; later actions and conditions run", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const e = yield* Ham.attach(Entity.fiber("o", Effect.never))
      yield* Ham.condition(e, CondRaise, { name: "c1" }).pipe(
        Ham.action(failing(log, "a").pipe(Action.orElse(failing(log, "b")), Action.orElse(record(log, "c")))),
        Ham.action(failing(log, "x").pipe(Action.orElse(failing(log, "y")))),
        Ham.action(record(log, "after"))
      )
      yield* Ham.condition(e, CondRaise, { name: "c2" }).pipe(Ham.action(record(log, "next condition")))
      yield* Ham.raise(e, one)
      yield* barrier
      expect(yield* Ref.get(log)).toEqual(["a", "b", "c", "x", "y", "after", "next condition"])
      const c1 = yield* conditionNode("o", "c1")
      expect(c1.actions.map((a) => [a.name, a.runs, a.failures])).toEqual([
        ["a", 1, 1],
        ["x", 1, 1],
        ["after", 1, 0]
      ])
    }).pipe(withHam()))

  it.effect("orElse chain: a.pipe(orElse(b), orElse(c)) with b succeeding does not run c", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const e = yield* Ham.attach(Entity.fiber("o", Effect.never))
      const chained = failing(log, "a").pipe(Action.orElse(record(log, "b")), Action.orElse(record(log, "c")))
      expect(chained.alternates.map((x) => x._tag === "Local" && x.label)).toEqual(["b", "c"])
      yield* Ham.condition(e, CondRaise, { name: "c" }).pipe(Ham.action(chained), Ham.action(record(log, "next")))
      yield* Ham.raise(e, one)
      yield* barrier
      expect(yield* Ref.get(log)).toEqual(["a", "b", "next"])
    }).pipe(withHam()))

  it.effect("orElse is dual", () =>
    Effect.sync(() => {
      const a = Action.log("a")
      const b = Action.log("b")
      const dataFirst = Action.orElse(a, b)
      const dataLast = a.pipe(Action.orElse(b))
      expect(dataFirst.alternates.map(Action.summary)).toEqual([Action.summary(b)])
      expect(dataLast.alternates.map(Action.summary)).toEqual([Action.summary(b)])
      expect(a.alternates).toEqual([])
    }))

  it.effect("breakOnFail skips the rest of the list after a failure (the alternate still runs)", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const e = yield* Ham.attach(Entity.fiber("b", Effect.never))
      yield* Ham.conditionRaise(e, { type: 1 }, { name: "c" }).pipe(
        Ham.action(record(log, "before")),
        Ham.action(
          failing(log, "breaks").pipe(
            Action.orElse(record(log, "alternate")),
            Action.withOptions({ breakOnFail: true })
          )
        ),
        Ham.action(record(log, "skipped"))
      )
      yield* Ham.conditionRaise(e, { type: 1 }, { name: "other" }).pipe(Ham.action(record(log, "other condition")))
      expect((yield* actionNode("b", "c", "breaks")).breakOnFail).toBe(true)
      yield* Ham.raise(e, one)
      yield* barrier
      expect(yield* Ref.get(log)).toEqual(["before", "breaks", "alternate", "other condition"])
      expect((yield* actionNode("b", "c", "skipped")).runs).toBe(0)
    }).pipe(withHam()))

  it.effect("breakOnFail does nothing when the action succeeds", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const e = yield* Ham.attach(Entity.fiber("b", Effect.never))
      yield* Ham.condition(e, CondRaise, { name: "c" }).pipe(
        Ham.action(record(log, "fine").pipe(Action.withOptions({ breakOnFail: true }))),
        Ham.action(record(log, "runs"))
      )
      yield* Ham.raise(e, one)
      yield* barrier
      expect(yield* Ref.get(log)).toEqual(["fine", "runs"])
    }).pipe(withHam()))

  it.effect("removeOnFail removes a failed action; by default a failed action is kept", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const e = yield* Ham.attach(Entity.fiber("r", Effect.never))
      yield* Ham.condition(e, CondRaise, { name: "c" }).pipe(
        Ham.action(failing(log, "removed").pipe(Action.withOptions({ removeOnFail: true }))),
        Ham.action(failing(log, "kept"))
      )
      const names = Effect.map(conditionNode("r", "c"), (c) => c.actions.map((a) => a.name))
      expect(yield* names).toEqual(["removed", "kept"])
      expect((yield* actionNode("r", "c", "removed")).removeOnFail).toBe(true)
      expect((yield* actionNode("r", "c", "kept")).removeOnFail).toBe(false)
      yield* Ham.raise(e, one)
      yield* barrier
      expect(yield* names).toEqual(["kept"])
      yield* Ham.raise(e, one)
      yield* barrier
      expect(yield* Ref.get(log)).toEqual(["removed", "kept", "kept"])
      const kept = yield* actionNode("r", "c", "kept")
      expect([kept.runs, kept.failures]).toEqual([2, 2])
    }).pipe(withHam()))

  it.effect("an action-level oneShot is removed when the entity restarts; others are kept", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const restarted = yield* Queue.unbounded<string>()
      const { effect, kill } = yield* mortal
      yield* Ham.entity("w")
      yield* Ham.condition("w", CondDeath, { name: "death" }).pipe(
        Ham.action(record(log, "once").pipe(Action.withOptions({ oneShot: true }))),
        Ham.restart,
        Ham.action(record(log, "always"))
      )
      yield* Ham.condition("w", CondRestart).pipe(Ham.notify(restarted, "up"))
      yield* Ham.attach(Entity.fiber("w", effect))
      const names = Effect.map(conditionNode("w", "death"), (c) => c.actions.map((a) => a.name))
      expect(yield* names).toEqual(["once", "restart", "always"])
      expect((yield* actionNode("w", "death", "once")).oneShot).toBe(true)

      yield* Queue.offer(kill, "crash 1")
      expect(yield* takeSoon(restarted)).toBe("up")
      yield* barrier
      expect(yield* names).toEqual(["restart", "always"])

      yield* Queue.offer(kill, "crash 2")
      expect(yield* takeSoon(restarted)).toBe("up")
      yield* barrier
      expect(yield* Ref.get(log)).toEqual(["once", "always", "always"])
      expect(yield* names).toEqual(["restart", "always"])
    }).pipe(withHam({ backoff: false })))
})

// ---------------------------------------------------------------------------------------------
// notify
// ---------------------------------------------------------------------------------------------

describe("notify", () => {
  it.effect("delivers the given value to a Queue", () =>
    Effect.gen(function*() {
      const q = yield* Queue.unbounded<number>()
      const e = yield* Ham.attach(Entity.fiber("n", Effect.never))
      yield* Ham.condition(e, CondRaise).pipe(Ham.notify(q, 42))
      yield* Ham.raise(e, one)
      expect(yield* takeSoon(q)).toBe(42)
    }).pipe(withHam()))

  it.effect("without a value, delivers the ConditionEvent that fired the condition", () =>
    Effect.gen(function*() {
      const q = yield* Queue.unbounded<Condition.ConditionEvent>()
      const e = yield* Ham.attach(Entity.fiber("n", Effect.never))
      yield* Ham.condition(e, CondRaise).pipe(Ham.notify(q))
      yield* Ham.condition(e, CondState).pipe(Ham.action(Action.notify(q)))
      yield* Ham.raise(e, { type: 5, class: 6, severity: 7, detail: "overheat" })
      yield* Ham.publishState(e, 3)
      expect(yield* takeSoon(q)).toMatchObject({
        _tag: "CondRaise",
        entity: "n",
        type: 5,
        class: 6,
        severity: 7,
        detail: "overheat"
      })
      expect(yield* takeSoon(q)).toMatchObject({ _tag: "CondState", entity: "n", from: 0, to: 3 })
    }).pipe(withHam()))

  it.effect("delivers to a PubSub", () =>
    Effect.gen(function*() {
      const hub = yield* PubSub.unbounded<string>()
      const sub = yield* PubSub.subscribe(hub)
      const e = yield* Ham.attach(Entity.fiber("n", Effect.never))
      yield* Ham.condition(e, CondRaise).pipe(Ham.notify(hub, "published"))
      yield* Ham.raise(e, one)
      expect(yield* takeSoon(sub)).toBe("published")
    }).pipe(withHam()))

  it.effect("completes a Deferred (with a value, or with the event)", () =>
    Effect.gen(function*() {
      const withValue = yield* Deferred.make<string>()
      const withEvent = yield* Deferred.make<Condition.ConditionEvent>()
      const e = yield* Ham.attach(Entity.fiber("n", Effect.never))
      yield* Ham.condition(e, CondRaise, { name: "c" }).pipe(Ham.notify(withValue, "ready"), Ham.notify(withEvent))
      yield* Ham.raise(e, { type: 2, class: 2, severity: 2, detail: "first" })
      yield* barrier
      expect(yield* Deferred.isDone(withValue)).toBe(true)
      expect(yield* Deferred.await(withValue)).toBe("ready")
      const event = yield* Deferred.await(withEvent)
      expect(event).toMatchObject({ _tag: "CondRaise", detail: "first" })
      // a deferred already complete is not a failure
      yield* Ham.raise(e, { type: 2, class: 2, severity: 2, detail: "second" })
      yield* barrier
      expect((yield* conditionNode("n", "c")).actions.map((a) => a.failures)).toEqual([0, 0])
      expect(yield* Deferred.await(withEvent)).toMatchObject({ detail: "first" })
    }).pipe(withHam()))

  it.effect("notify into a shut-down queue fails (counted, alternate runs)", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const q = yield* Queue.unbounded<string>()
      const e = yield* Ham.attach(Entity.fiber("n", Effect.never))
      yield* Ham.condition(e, CondRaise, { name: "c" }).pipe(
        Ham.action(Action.notify(q, "lost").pipe(Action.named("toClosed"), Action.orElse(record(log, "alternate")))),
        Ham.action(record(log, "next"))
      )
      yield* Queue.shutdown(q)
      yield* Ham.raise(e, one)
      yield* barrier
      expect(yield* Ref.get(log)).toEqual(["alternate", "next"])
      const node = yield* actionNode("n", "c", "toClosed")
      expect([node.runs, node.failures]).toEqual([1, 1])
    }).pipe(withHam()))

  it.effect("notify into a full dropping queue fails", () =>
    Effect.gen(function*() {
      const q = yield* Queue.dropping<string>(1)
      const e = yield* Ham.attach(Entity.fiber("n", Effect.never))
      yield* Ham.condition(e, CondRaise, { name: "c" }).pipe(Ham.notify(q, "x"))
      yield* Ham.raise(e, one)
      yield* Ham.raise(e, one)
      yield* barrier
      const node = yield* actionNode("n", "c", "notify")
      expect([node.runs, node.failures]).toEqual([2, 1])
      expect(yield* Queue.size(q)).toBe(1)
    }).pipe(withHam()))
})

// ---------------------------------------------------------------------------------------------
// log
// ---------------------------------------------------------------------------------------------

const messageText = (message: unknown): string =>
  Array.isArray(message) ? message.map(String).join(" ") : String(message)

describe("log", () => {
  it.effect("honours Ham.verbose and prefixes entity/condition/action", () => {
    const lines: Array<string> = []
    const capture = Logger.make(({ message }) => {
      lines.push(messageText(message))
    })
    return Effect.gen(function*() {
      const e = yield* Ham.attach(Entity.fiber("v", Effect.never))
      yield* Ham.condition(e, CondRaise, { name: "alarm" }).pipe(
        Ham.log("hello"),
        Ham.action(Action.log("loud", { verbosity: 2 }).pipe(Action.named("loudLog"))),
        Ham.action(Action.log("bare", { attachPrefix: false }).pipe(Action.named("bareLog")))
      )
      expect(yield* Ham.verbosity).toBe(1)
      expect(yield* Ham.verbose(0)).toBe(1)
      yield* Ham.raise(e, one)
      yield* barrier
      expect(lines.filter((l) => /hello|loud|bare/.test(l))).toEqual([])

      expect(yield* Ham.verbose(1)).toBe(0)
      yield* Ham.raise(e, one)
      yield* barrier
      expect(lines.filter((l) => /hello|loud|bare/.test(l))).toEqual(["v/alarm/log: hello", "bare"])

      lines.length = 0
      yield* Ham.verbose(2)
      yield* Ham.raise(e, one)
      yield* barrier
      expect(lines.filter((l) => /hello|loud|bare/.test(l))).toEqual([
        "v/alarm/log: hello",
        "v/alarm/loudLog: loud",
        "bare"
      ])
      // a log action never fails
      const actions = (yield* conditionNode("v", "alarm")).actions
      expect(actions.map((a) => [a.runs, a.failures])).toEqual([[3, 0], [3, 0], [3, 0]])
    }).pipe(withHam(), Effect.provide(Logger.replace(Logger.defaultLogger, capture)))
  })

  it.effect("a failed action is an ActionFailed: logged as a warning (verbosity >= 1), kept as lastFailure", () => {
    const lines: Array<string> = []
    const capture = Logger.make(({ logLevel, message }) => {
      lines.push(`${logLevel.label} ${messageText(message)}`)
    })
    return Effect.gen(function*() {
      const e = yield* Ham.attach(Entity.fiber("w", Effect.never))
      yield* Ham.condition(e, CondRaise, { name: "alarm" }).pipe(
        Ham.action(Action.effect(Effect.fail("disk full"), { label: "save" }))
      )
      yield* Ham.raise(e, one)
      yield* barrier
      const expected = new Ham.ActionFailed({ entity: "w", condition: "w/alarm", action: "save", reason: "disk full" })
      expect(lines.filter((l) => l.includes("failed"))).toEqual([`WARN ${expected.message}`])
      expect(expected.message).toBe(`action w/alarm/save failed on an event of "w": disk full`)
      expect(yield* actionNode("w", "alarm", "save")).toMatchObject({ failures: 1, lastFailure: "disk full" })
      // at verbosity 0 the failure is still counted and kept, but not logged
      lines.length = 0
      yield* Ham.verbose(0)
      yield* Ham.raise(e, one)
      yield* barrier
      expect(lines.filter((l) => l.includes("failed"))).toEqual([])
      expect(yield* actionNode("w", "alarm", "save")).toMatchObject({ failures: 2, lastFailure: "disk full" })
    }).pipe(withHam(), Effect.provide(Logger.replace(Logger.defaultLogger, capture)))
  })

  it.effect("Ham.verbose refuses a bad level", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Ham.verbose(-1))
      expect(error._tag).toBe("InvalidArgument")
      expect(yield* Ham.verbosity).toBe(1)
    }).pipe(withHam()))

  it.effect("a log action with a bad verbosity is refused", () =>
    Effect.gen(function*() {
      const e = yield* Ham.attach(Entity.fiber("v", Effect.never))
      const c = yield* Ham.condition(e, CondRaise)
      const error = yield* Effect.flip(Ham.addAction(c, Action.log("x", { verbosity: -1 })))
      expect(error._tag).toBe("InvalidArgument")
    }).pipe(withHam()))
})

// ---------------------------------------------------------------------------------------------
// execute and effect
// ---------------------------------------------------------------------------------------------

describe("execute and effect", () => {
  it.effect("Action.execute(Effect) runs the effect; its failure is the action's failure", () =>
    Effect.gen(function*() {
      const ran = yield* Ref.make(0)
      const e = yield* Ham.attach(Entity.fiber("x", Effect.never))
      yield* Ham.condition(e, CondRaise, { name: "c" }).pipe(
        Ham.execute(Ref.update(ran, (n) => n + 1)),
        Ham.action(Action.execute(Effect.fail("nope")).pipe(Action.named("bad")))
      )
      yield* Ham.raise(e, one)
      yield* barrier
      expect(yield* Ref.get(ran)).toBe(1)
      const actions = (yield* conditionNode("x", "c")).actions
      expect(actions.map((a) => [a.name, a.runs, a.failures])).toEqual([["execute", 1, 0], ["bad", 1, 1]])
    }).pipe(withHam()))

  it.effect("Action.execute(Effect, { timeout }): an effect that outlives the timeout fails the action (was: ignored)", () =>
    Effect.gen(function*() {
      const e = yield* Ham.attach(Entity.fiber("x", Effect.never))
      const c = yield* Ham.condition(e, CondRaise, { name: "c" })
      yield* Ham.addAction(c, Action.execute(Effect.never, { timeout: "1 second" }).pipe(Action.named("slow")))
      yield* Ham.addAction(
        c,
        Action.execute(Effect.sleep("10 millis"), { timeout: "1 second" }).pipe(Action.named("quick"))
      )
      yield* Ham.raise(e, one)
      yield* TestClock.adjust("999 millis")
      expect((yield* conditionNode("x", "c")).actions.map((a) => [a.name, a.runs, a.failures])).toEqual([
        ["slow", 1, 0],
        ["quick", 0, 0]
      ])
      yield* TestClock.adjust("20 millis")
      yield* barrier
      expect((yield* conditionNode("x", "c")).actions.map((a) => [a.name, a.runs, a.failures])).toEqual([
        ["slow", 1, 1],
        ["quick", 1, 0]
      ])
    }).pipe(withHam()))

  it.effect("Action.effect receives the event that fired the condition", () =>
    Effect.gen(function*() {
      const seen = yield* Ref.make<ReadonlyArray<Condition.ConditionEvent>>([])
      const e = yield* Ham.attach(Entity.fiber("x", Effect.never))
      yield* Ham.condition(e, CondRaise).pipe(
        Ham.action(Action.effect((event) => Ref.update(seen, (xs) => [...xs, event])))
      )
      yield* Ham.raise(e, { type: 4, class: 5, severity: 6, detail: "payload" })
      yield* barrier
      const events = yield* Ref.get(seen)
      expect(events).toHaveLength(1)
      expect(events[0]).toMatchObject({
        _tag: "CondRaise",
        entity: "x",
        type: 4,
        class: 5,
        severity: 6,
        detail: "payload"
      })
    }).pipe(withHam()))

  it.effect("a defect in the effect is a failure (alternate runs, HAM keeps working)", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const e = yield* Ham.attach(Entity.fiber("x", Effect.never))
      yield* Ham.condition(e, CondRaise, { name: "c" }).pipe(
        Ham.action(
          Action.effect(Effect.die(new Error("bug")), { label: "dies" }).pipe(Action.orElse(record(log, "rescued")))
        ),
        Ham.action(record(log, "next"))
      )
      yield* Ham.raise(e, one)
      yield* barrier
      yield* Ham.raise(e, one)
      yield* barrier
      expect(yield* Ref.get(log)).toEqual(["rescued", "next", "rescued", "next"])
      const node = yield* actionNode("x", "c", "dies")
      expect([node.runs, node.failures]).toEqual([2, 2])
    }).pipe(withHam()))

  it.effect("a function that throws instead of returning an effect is a failure, not a crash of the HAM", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const e = yield* Ham.attach(Entity.fiber("x", Effect.never))
      yield* Ham.condition(e, CondRaise, { name: "c" }).pipe(
        Ham.action(
          Action.effect(() => {
            throw new Error("thrown while building the effect")
          }, { label: "throws" }).pipe(Action.orElse(record(log, "rescued")))
        ),
        Ham.action(record(log, "next"))
      )
      yield* Ham.raise(e, one)
      yield* barrier
      expect(yield* Ref.get(log)).toEqual(["rescued", "next"])
      const node = yield* actionNode("x", "c", "throws")
      expect([node.runs, node.failures]).toEqual([1, 1])
    }).pipe(withHam()))

  it.effect("the effect runs once per firing", () =>
    Effect.gen(function*() {
      const count = yield* Ref.make(0)
      const e = yield* Ham.attach(Entity.fiber("x", Effect.never))
      yield* Ham.condition(e, CondRaise).pipe(Ham.execute(Ref.update(count, (n) => n + 1)))
      for (let i = 0; i < 3; i++) yield* Ham.raise(e, one)
      yield* barrier
      expect(yield* Ref.get(count)).toBe(3)
    }).pipe(withHam()))
})

// ---------------------------------------------------------------------------------------------
// execute a Command (real processes)
// ---------------------------------------------------------------------------------------------

/** the processes whose command line is exactly `args` (zombies excluded) */
const processesRunning = (args: string): Array<string> =>
  execFileSync("ps", ["-eo", "pid=,stat=,args="], { encoding: "utf8" })
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => {
      const [, stat, ...rest] = line.split(/\s+/)
      return stat !== undefined && !stat.startsWith("Z") && rest.join(" ") === args
    })

/** a condition whose action runs `action`, reporting "ok" or "failed" on a queue */
const outcomeOf = (action: Action.Action) =>
  Effect.gen(function*() {
    const outcome = yield* Queue.unbounded<string>()
    const e = yield* Ham.attach(Entity.fiber("cmd", Effect.never))
    yield* Ham.condition(e, CondRaise, { name: "c" }).pipe(
      Ham.action(action.pipe(Action.named("run"), Action.orElse(Action.notify(outcome, "failed")))),
      Ham.notify(outcome, "next")
    )
    yield* Ham.raise(e, one)
    // bounded: a real process, real time
    const first = yield* Queue.take(outcome).pipe(
      Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => "no outcome within 10 seconds" })
    )
    const node = yield* actionNode("cmd", "c", "run")
    return { first, node, outcome }
  })

describe("execute a Command", () => {
  it.live("a command exiting with code 3 fails", () =>
    Effect.gen(function*() {
      const { first, node } = yield* outcomeOf(Action.execute(Command.make("sh", "-c", "exit 3")))
      expect(first).toBe("failed")
      expect([node.runs, node.failures]).toEqual([1, 1])
      expect(node.summary).toContain("sh -c")
    }).pipe(withHam()))

  it.live("a command exiting with code 0 succeeds", () =>
    Effect.gen(function*() {
      const { first, node, outcome } = yield* outcomeOf(Action.execute(Command.make("true")))
      expect(first).toBe("next")
      expect([node.runs, node.failures]).toEqual([1, 0])
      expect(yield* Queue.size(outcome)).toBe(0)
    }).pipe(withHam()))

  it.live("a command that outlives its timeout fails and leaves no process behind", () =>
    Effect.gen(function*() {
      // an unusual argument, so that `ps` finds only this sleep
      const args = ["sleep", "5.01234"]
      expect(processesRunning(args.join(" "))).toEqual([])
      const start = yield* Clock.currentTimeMillis
      const { first, node } = yield* outcomeOf(
        Action.execute(Command.make(args[0], args[1]), { timeout: "200 millis" })
      )
      const elapsed = (yield* Clock.currentTimeMillis) - start
      expect(first).toBe("failed")
      expect(elapsed).toBeGreaterThanOrEqual(150)
      expect(elapsed).toBeLessThan(4000)
      expect([node.runs, node.failures]).toEqual([1, 1])
      expect(processesRunning(args.join(" "))).toEqual([])
    }).pipe(withHam()))

  it.effect("a timeout must be above 0", () =>
    Effect.gen(function*() {
      const e = yield* Ham.attach(Entity.fiber("cmd", Effect.never))
      const c = yield* Ham.condition(e, CondRaise)
      const error = yield* Effect.flip(Ham.addAction(c, Action.execute(Command.make("true"), { timeout: 0 })))
      expect(error._tag).toBe("InvalidArgument")
    }).pipe(withHam()))
})

// ---------------------------------------------------------------------------------------------
// signal
// ---------------------------------------------------------------------------------------------

describe("signal", () => {
  it.effect("SIGTERM interrupts a fiber entity, which dies abnormally with the signal", () =>
    Effect.gen(function*() {
      const events = yield* Ham.subscribe
      const started = yield* Deferred.make<void>()
      const interrupted = yield* Deferred.make<void>()
      const life = Effect.zipRight(
        Deferred.succeed(started, undefined),
        Effect.onInterrupt(Effect.never, () => Deferred.succeed(interrupted, undefined))
      )
      const e = yield* Ham.attach(Entity.fiber("s", life))
      yield* Ham.condition(e, CondRaise).pipe(Ham.signal("SIGTERM"))
      yield* Deferred.await(started)
      yield* Ham.raise(e, one)
      const abnormal = yield* nextEvent(events, (ev) => ev._tag === "CondAbnormalDeath")
      const death = yield* nextEvent(events, (ev) => ev._tag === "CondDeath")
      for (const ev of [abnormal, death]) {
        expect(ev).toMatchObject({ entity: "s", abnormal: true, signal: "SIGTERM" })
      }
      expect(yield* Deferred.isDone(interrupted)).toBe(true)
      const node = yield* entityNode("s")
      expect(node.status).toBe("dead")
      expect(node.stats.abnormalDeaths).toBe(1)
      expect(node.stats.deaths).toBe(1)
    }).pipe(withHam()))

  it.effect("Ham.signalEntity right after the attach, before the first life has run: the entity dies of it", () =>
    Effect.gen(function*() {
      const events = yield* Ham.subscribe
      const e = yield* Ham.attach(Entity.fiber("early", Effect.never))
      // no yield in between: the first life starts on the next scheduler turn
      yield* Ham.signalEntity(e, "SIGTERM")
      const death = yield* nextEvent(events, (ev) => ev._tag === "CondDeath")
      expect(death).toMatchObject({ entity: "early", abnormal: true, signal: "SIGTERM" })
      expect((yield* entityNode("early")).status).toBe("dead")
    }).pipe(withHam()))

  it.effect("SIGUSR1 on a fiber entity fails and leaves it running", () =>
    Effect.gen(function*() {
      const log = yield* Ref.make<ReadonlyArray<string>>([])
      const e = yield* Ham.attach(Entity.fiber("s", Effect.never))
      yield* Ham.condition(e, CondRaise, { name: "c" }).pipe(
        Ham.action(Action.signal("SIGUSR1").pipe(Action.orElse(record(log, "alternate"))))
      )
      yield* Ham.raise(e, one)
      yield* barrier
      expect(yield* Ref.get(log)).toEqual(["alternate"])
      const node = yield* actionNode("s", "c", "signal")
      expect([node.runs, node.failures]).toEqual([1, 1])
      expect((yield* entityNode("s")).status).toBe("running")
    }).pipe(withHam()))

  it.effect("an unknown signal name is refused when the action is added", () =>
    Effect.gen(function*() {
      const e = yield* Ham.attach(Entity.fiber("s", Effect.never))
      const c = yield* Ham.condition(e, CondRaise, { name: "c" })
      for (const name of ["SIGNOPE", "TERM", ""]) {
        const error = yield* Effect.flip(Ham.addAction(c, Action.signal(name)))
        expect(error._tag).toBe("InvalidArgument")
      }
      const alternate = yield* Effect.flip(
        Ham.addAction(c, Action.signal("SIGTERM").pipe(Action.orElse(Action.signal("SIGBOGUS"))))
      )
      expect(alternate._tag).toBe("InvalidArgument")
      expect((yield* conditionNode("s", "c")).actions).toEqual([])
    }).pipe(withHam()))
})

// ---------------------------------------------------------------------------------------------
// restart rules
// ---------------------------------------------------------------------------------------------

describe("restart rules", () => {
  const restartCount = Effect.map(
    Ham.snapshot,
    (tree) =>
      [...tree.entities.flatMap((e) => e.conditions), ...tree.global.conditions]
        .flatMap((c) => c.actions)
        .filter((a) => a.type === "Restart").length
  )

  it.effect("a restart belongs to a death condition", () =>
    Effect.gen(function*() {
      const e = yield* Ham.attach(Entity.fiber("r", Effect.never))
      for (const type of [CondRaise, CondState, CondRestart] as const) {
        const error = yield* Effect.flip(Ham.condition(e, type).pipe(Ham.restart))
        expect(error._tag).toBe("InvalidArgument")
      }
      expect(yield* restartCount).toBe(0)
      yield* Ham.condition(e, CondAbnormalDeath).pipe(Ham.restart)
      expect(yield* restartCount).toBe(1)
    }).pipe(withHam()))

  it.effect("a second restart on the same entity is refused", () =>
    Effect.gen(function*() {
      const e = yield* Ham.attach(Entity.fiber("r", Effect.never))
      const c = yield* Ham.condition(e, CondDeath).pipe(Ham.restart)
      const same = yield* Effect.flip(Ham.addAction(c, Action.restart.pipe(Action.named("again"))))
      expect(same._tag).toBe("InvalidArgument")
      const other = yield* Effect.flip(Ham.condition(e, CondAbnormalDeath).pipe(Ham.restart))
      expect(other._tag).toBe("InvalidArgument")
      expect(yield* restartCount).toBe(1)
    }).pipe(withHam()))

  it.effect("the global entity cannot hold a restart", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Ham.condition(Entity.global, CondDeath).pipe(Ham.restart))
      expect(error._tag).toBe("InvalidArgument")
      expect(yield* restartCount).toBe(0)
    }).pipe(withHam()))

  it.effect("a restart cannot be an alternate", () =>
    Effect.gen(function*() {
      const e = yield* Ham.attach(Entity.fiber("r", Effect.never))
      const c = yield* Ham.condition(e, CondDeath)
      const error = yield* Effect.flip(Ham.addAction(c, Action.log("x").pipe(Action.orElse(Action.restart))))
      expect(error._tag).toBe("InvalidArgument")
      expect(yield* restartCount).toBe(0)
      // the entity can still take its one restart as a primary action
      yield* Ham.addAction(c, Action.restart)
      expect(yield* restartCount).toBe(1)
    }).pipe(withHam()))
})

// ---------------------------------------------------------------------------------------------
// the action schema
// ---------------------------------------------------------------------------------------------

describe("ActionData schema", () => {
  const flags = { breakOnFail: false, removeOnFail: false, oneShot: false, alternates: [] }

  it("decodes plain restart, log and waitfor actions", () => {
    const decode = Schema.decodeUnknownSync(Action.ActionData)
    const restart = decode({ _tag: "Restart", ...flags })
    expect(restart._tag).toBe("Restart")
    const log = decode({ _tag: "Log", ...flags, message: "hi", verbosity: 2, attachPrefix: false })
    expect(log).toMatchObject({ _tag: "Log", message: "hi", verbosity: 2, attachPrefix: false })
    const wait = decode({ _tag: "WaitFor", ...flags, millis: 1500, entity: "db" })
    expect(wait).toMatchObject({ _tag: "WaitFor", millis: 1500, entity: "db" })
    const nested = decode({
      _tag: "Log",
      ...flags,
      breakOnFail: true,
      message: "m",
      verbosity: 1,
      attachPrefix: true,
      alternates: [{ _tag: "WaitFor", ...flags, millis: 10 }]
    })
    expect(nested.breakOnFail).toBe(true)
    expect(nested.alternates.map((a) => a._tag)).toEqual(["WaitFor"])
  })

  it("refuses malformed action data", () => {
    const decode = Schema.decodeUnknownSync(Action.ActionData)
    expect(() => decode({ _tag: "Log", ...flags, message: "x", verbosity: -1, attachPrefix: true })).toThrow()
    expect(() => decode({ _tag: "Restart" })).toThrow()
    expect(() => decode({ _tag: "Reboot", ...flags })).toThrow()
    expect(() => decode({ _tag: "WaitFor", ...flags, millis: "soon" })).toThrow()
  })

  it("round-trips the actions built by the constructors", () => {
    const encode = Schema.encodeSync(Action.ActionData)
    const decode = Schema.decodeUnknownSync(Action.ActionData)
    const built = [
      Action.restart,
      Action.log("hello", { verbosity: 3, attachPrefix: false }),
      Action.waitfor("2 seconds"),
      Action.waitfor({ entity: "db", timeout: "5 seconds" }),
      Action.heartbeatHealthy.pipe(Action.withOptions({ oneShot: true })),
      Action.execute(Command.make("echo", "hi"), { timeout: "1 second" }),
      Action.signal("SIGTERM").pipe(Action.orElse(Action.signal("SIGKILL")))
    ]
    const tags = built.map((action) => {
      const plain = JSON.parse(JSON.stringify(encode(action)))
      const back = decode(plain)
      expect(Action.summary(back)).toBe(Action.summary(action))
      expect(back.alternates.map((a) => a._tag)).toEqual(action.alternates.map((a) => a._tag))
      return back._tag
    })
    expect(tags).toEqual(["Restart", "Log", "WaitFor", "WaitFor", "HeartbeatHealthy", "Execute", "Signal"])
    expect(decode(JSON.parse(JSON.stringify(encode(Action.waitfor("2 seconds")))))).toMatchObject({ millis: 2000 })
  })
})
