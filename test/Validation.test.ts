/**
 * Validation at the boundary: an unknown key in any options object is an InvalidArgument naming
 * the key, and changes nothing; a bad value is refused with one sentence that names the field and
 * the rule (never a rendered Schema tree).
 */
import { Command } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Queue, Ref } from "effect"
import { Action, Cover, Entity, Guardian, Ham } from "effect-ham"
import { CondDeath, CondRaise, CondState } from "effect-ham/Condition"
import { existsSync } from "node:fs"
import { join } from "node:path"
import { inTempDir } from "./processes.js"
import { failureOf, registry, withHam } from "./utils.js"

/** one sentence that names each of `words` */
const expectSentence = (error: { readonly _tag: string; readonly message: string }, words: ReadonlyArray<string>) => {
  expect(error._tag).toBe("InvalidArgument")
  expect(error.message).not.toMatch(/[\r\n]/)
  for (const word of words) expect(error.message).toContain(word)
}

/** the call is refused with one sentence naming `words`, and the registry is as it was */
const refused = <A, E extends { readonly _tag: string; readonly message: string }, R>(
  call: Effect.Effect<A, E, R>,
  ...words: ReadonlyArray<string>
) =>
  Effect.gen(function*() {
    const before = yield* registry
    const error = yield* failureOf(call)
    expectSentence(error, words)
    expect(yield* registry).toEqual(before)
    return error
  })

/** a HAM with an entity "app" holding a raise condition "raise", to add actions to */
const setup = Effect.gen(function*() {
  const app = yield* Ham.attach(Entity.fiber("app", Effect.never))
  const raise = yield* Ham.condition(app, CondRaise, { name: "raise" })
  const death = yield* Ham.condition(app, CondDeath, { name: "death" })
  return { app, raise, death }
})

const sleeper = Command.make("sleep", "30")

describe("unknown option keys are refused and change nothing", () => {
  it.effect("the layer's options", () =>
    Effect.gen(function*() {
      for (
        const [options, key, where] of [
          [{ restartIntensty: { maxRestarts: 3 } }, "restartIntensty", "layer options"],
          [{ restart: { intensity: 3 } }, "restart", "layer options"],
          [{ restartIntensity: { max: 3 } }, "max", "restartIntensity"],
          [{ verbose: 2 }, "verbose", "layer options"]
        ] as const
      ) {
        const error = yield* failureOf(Effect.scoped(Layer.build(Ham.layer(options as never))))
        expectSentence(error, [`"${key}"`, where])
      }
    }))

  it.effect("attach options, their heartbeat and restartIntensity", () =>
    Effect.gen(function*() {
      yield* setup
      const worker = Entity.fiber("worker", Effect.never)
      yield* refused(Ham.attach(worker, { restartIntensty: { maxRestarts: 3 } } as never), `"restartIntensty"`)
      yield* refused(Ham.attach(worker, { restart: { intensity: 3 } } as never), `"restart"`, "attach options")
      yield* refused(
        Ham.attach(worker, { heartbeat: { interval: "1 second", missedLow: 1, missedHigh: 2, misedHigh: 3 } } as never),
        `"misedHigh"`,
        "heartbeat"
      )
      yield* refused(Ham.attach(worker, { restartIntensity: { max: 3 } } as never), `"max"`, "restartIntensity")
      yield* refused(Effect.scoped(Ham.attachSelf("me", { hearbeat: {} } as never)), `"hearbeat"`)
    }).pipe(withHam()))

  it.effect("Entity.process and Entity.pid options", () =>
    Effect.gen(function*() {
      yield* setup
      yield* refused(Ham.attach(Entity.process("web", sleeper, { stopSignl: "SIGINT" } as never)), `"stopSignl"`)
      // a pid's option is not a process's
      yield* refused(
        Ham.attach(Entity.process("web", sleeper, { pollInterval: "1 second" } as never)),
        `"pollInterval"`
      )
      yield* refused(Ham.attach(Entity.pid("self", process.pid, { pollIntervl: "1 second" } as never)), `"pollIntervl"`)
      yield* refused(
        Ham.attach(Entity.process("web", sleeper, { output: { file: "/tmp/x", mode: 1 } } as never)),
        "output"
      )
    }).pipe(withHam()))

  it.effect("condition options and filters", () =>
    Effect.gen(function*() {
      const { app } = yield* setup
      yield* refused(Ham.condition(app, CondDeath, { nowait: true } as never), `"nowait"`, "condition options")
      yield* refused(Ham.conditionState(app, { from: 1 }, { oneshot: true } as never), `"oneshot"`)
      yield* refused(Ham.conditionRaise(app, {}, { indepedent: true } as never), `"indepedent"`)
      yield* refused(Ham.conditionState(app, { form: 1 } as never), `"form"`, "state filter")
      yield* refused(Ham.conditionRaise(app, { typ: 1 } as never), `"typ"`, "raise filter")
    }).pipe(withHam()))

  it.effect("control options and operations", () =>
    Effect.gen(function*() {
      const { app, raise } = yield* setup
      yield* refused(Ham.control(app, "disable", { recurs: true } as never), `"recurs"`, "control options")
      yield* refused(Ham.control(raise, { setFlag: { noWait: true } } as never), `"setFlag"`)
      yield* refused(Ham.control(raise, "enabled" as never), "control op", `"enabled"`)
    }).pipe(withHam()))

  it.effect("action options: withOptions, named, execute, signal, log, effect, waitfor targets", () =>
    Effect.gen(function*() {
      const { raise } = yield* setup
      const cases: ReadonlyArray<readonly [Action.Action, string]> = [
        [Action.log("x").pipe(Action.withOptions({ breakOnFial: true } as never)), "breakOnFial"],
        [Action.log("x").pipe(Action.named("x"), Action.withOptions({ oneshot: true } as never)), "oneshot"],
        [Action.execute(Command.make("true"), { timout: "1 second" } as never), "timout"],
        [Action.execute(Effect.void, { timout: "1 second" } as never), "timout"],
        [Action.signal("SIGTERM", { awaitexit: "1 second" } as never), "awaitexit"],
        [Action.log("x", { verbose: 2 } as never), "verbose"],
        [Action.effect(Effect.void, { lable: "x" } as never), "lable"],
        [Action.waitfor({ port: 8080, timout: "1 second" } as never), "timout"],
        [Action.waitfor({ prot: 8080, timeout: "1 second" } as never), "prot"],
        // in an alternate, and carried through the combinators
        [Action.log("x").pipe(Action.orElse(Action.log("y", { verbose: 1 } as never))), "verbose"],
        [Action.log("x", { verbose: 1 } as never).pipe(Action.orElse(Action.log("y")), Action.named("z")), "verbose"]
      ]
      for (const [action, key] of cases) yield* refused(Ham.addAction(raise, action), `"${key}"`)
      // the pipeable adders refuse the same way (the condition is added, the action is not)
      const piped = yield* failureOf(
        Ham.condition("app", CondRaise, { name: "other" }).pipe(Ham.log("x", { verbose: 2 } as never))
      )
      expectSentence(piped, [`"verbose"`])
      expect((yield* Ham.snapshot).numActions).toBe(0)
    }).pipe(withHam()))

  it.live("Guardian.layer options: refused before the file is touched", () =>
    inTempDir("ham-validation-", (dir) =>
      Effect.gen(function*() {
        const path = join(dir, "state.ham")
        const unknown = yield* failureOf(Effect.scoped(Layer.build(Guardian.layer({ path, fsnyc: true } as never))))
        expectSentence(unknown, [`"fsnyc"`, "Guardian options"])
        expect(existsSync(path)).toBe(false)
        const bad = yield* failureOf(Effect.scoped(Layer.build(Guardian.layer({ path, fsync: "yes" as never }))))
        expectSentence(bad, ["fsync", "boolean"])
        expect(existsSync(path)).toBe(false)
      })))

  it.scoped("Cover options: make, open and connect", () =>
    Effect.gen(function*() {
      const acquired = yield* Ref.make(0)
      const acquire = Ref.updateAndGet(acquired, (n) => n + 1)
      const error = yield* failureOf(Cover.make<number, never, never>({ acquire, retires: 3 } as never))
      expectSentence(error, [`"retires"`, "Cover options"])
      expectSentence(yield* failureOf(Cover.make({ acquire, retries: -1 })), ["retries", "(got -1)"])
      expect(yield* Ref.get(acquired)).toBe(0)
      const opened = yield* failureOf(Cover.open("/dev/null", "r", undefined, { retires: 1 } as never))
      expectSentence(opened as never, [`"retires"`, "Cover.open options"])
      const connected = yield* failureOf(Cover.connect({ port: 1, replai: () => Effect.void } as never))
      expectSentence(connected as never, [`"replai"`, "Cover.connect options"])
    }))
})

describe("bad values are refused with one sentence naming the field and the rule", () => {
  it.effect("names, policies, heartbeats", () =>
    Effect.gen(function*() {
      yield* setup
      const worker = (name = "worker") => Entity.fiber(name, Effect.never)
      yield* refused(Ham.attach(worker("a/b")), "entity name", "must not contain '/'", `(got "a/b")`)
      yield* refused(Ham.attach(worker("")), "entity name", "must not be empty")
      yield* refused(
        Ham.attach(worker(), { restartIntensity: { maxRestarts: -1 } }),
        "restartIntensity.maxRestarts",
        "must be a non-negative integer or Infinity",
        "(got -1)"
      )
      yield* refused(
        Ham.attach(worker(), { heartbeat: { interval: "1 second", missedLow: -1, missedHigh: 2 } }),
        "heartbeat",
        "missedLow must be a non-negative integer",
        "(got -1)"
      )
      yield* refused(
        Ham.attach(worker(), { heartbeat: { interval: "soon" as never, missedLow: 1, missedHigh: 2 } }),
        "heartbeat.interval",
        "duration"
      )
      yield* refused(Ham.attach(worker(), { backoff: 3 as never }), "backoff", "Schedule")
      yield* refused(Ham.attach(Entity.process("web", sleeper, { stopSignal: "SIGFOO" })), "stopSignal", "SIGFOO")
      yield* refused(Ham.attach(Entity.pid("p", -3)), "pid", "(got -3)")
    }).pipe(withHam()))

  it.effect("conditions, states, raises, verbosity", () =>
    Effect.gen(function*() {
      const { app, raise } = yield* setup
      yield* refused(Ham.condition(app, "CondFoo" as never), "condition type", "CondDeath", `(got "CondFoo")`)
      yield* refused(Ham.condition(app, CondState, { name: "a/b" }), "condition name")
      yield* refused(Ham.condition(app, CondDeath, { noWait: "yes" as never }), "noWait", "boolean")
      yield* refused(Ham.conditionState(app, { from: { in: [-1] } }), "state filter", "from.in.0", "(got -1)")
      yield* refused(Ham.conditionRaise(app, { type: 1.5 }), "raise filter", "type", "(got 1.5)")
      yield* refused(Ham.publishState(app, -1), "state", "non-negative integer", "(got -1)")
      yield* refused(Ham.raise(app, { type: 1, class: -1, severity: 0 }), "raise", "class", "(got -1)")
      yield* refused(Ham.verbose(1.5), "verbosity", "(got 1.5)")
      yield* refused(Ham.control(raise, { setFlags: { noWait: 1 as never } }), "setFlags.noWait", "boolean")
    }).pipe(withHam()))

  it.effect("actions", () =>
    Effect.gen(function*() {
      const { death, raise } = yield* setup
      yield* refused(Ham.addAction(raise, Action.log("x", { verbosity: -1 })), "log verbosity", "(got -1)")
      yield* refused(Ham.addAction(raise, Action.waitfor("soon" as never)), "waitfor", "duration", `(got "soon")`)
      yield* refused(Ham.addAction(raise, Action.waitfor({ port: 8080 } as never)), "waitfor target", "timeout")
      yield* refused(
        Ham.addAction(raise, Action.waitfor({ port: 8080, path: "/x", timeout: "1 second" } as never)),
        "waitfor target",
        "path and port"
      )
      yield* refused(Ham.addAction(raise, Action.signal("SIGFOO")), "signal", "SIGFOO")
      yield* refused(
        Ham.addAction(raise, Action.execute(Command.make("true"), { timeout: "soon" as never })),
        "execute timeout",
        `(got "soon")`
      )
      yield* refused(Ham.addAction(raise, Action.log("x").pipe(Action.named("a/b"))), "action name")
      yield* refused(Ham.addAction(death, Action.log("x").pipe(Action.orElse(Action.restart))), "restart")
    }).pipe(withHam()))

  it.effect("a valid call still works after refusals (nothing half-done)", () =>
    Effect.gen(function*() {
      const { raise } = yield* setup
      const log = yield* Queue.unbounded<string>()
      yield* refused(Ham.addAction(raise, Action.log("x", { verbose: 1 } as never)), "verbose")
      yield* Ham.addAction(raise, Action.notify(log, "ran"))
      yield* Ham.raise("app", { type: 1, class: 1, severity: 1 })
      expect(yield* Queue.take(log)).toBe("ran")
    }).pipe(withHam()))
})
