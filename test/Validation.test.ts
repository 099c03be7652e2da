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
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { inTempDir } from "./processes.js"
import { entityNode, failureOf, registry, withHam } from "./utils.js"

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
      // rotation and timestamps of an output file
      yield* refused(
        Ham.attach(Entity.process("web", sleeper, { output: { file: "/tmp/x", maxSize: "10X" } })),
        "output.maxSize"
      )
      yield* refused(
        Ham.attach(Entity.process("web", sleeper, { output: { file: "/tmp/x", keep: 3 } })),
        "output.keep",
        "maxSize"
      )
      yield* refused(
        Ham.attach(Entity.process("web", sleeper, { output: { file: "/tmp/x", maxSize: 10, keep: 0 } })),
        "output.keep"
      )
      yield* refused(
        Ham.attach(Entity.process("web", sleeper, { output: { file: "/tmp/x", timestamps: "yes" } } as never)),
        "output.timestamps"
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

describe("values that were accepted silently (issue 11, item 7) are refused and change nothing", () => {
  /** the highest pid this machine gives, read as the HAM reads it */
  const pidMax = Number(readFileSync("/proc/sys/kernel/pid_max", "utf8").trim())

  it.effect("backoffResetAfter -1 or NaN in the layer's options: the layer is not built", () =>
    Effect.gen(function*() {
      for (const [backoffResetAfter, shown] of [[-1, "-1"], [NaN, "NaN"], ["-1 seconds", `"-1 seconds"`]] as const) {
        const error = yield* failureOf(Effect.scoped(Layer.build(Ham.layer({ backoffResetAfter }))))
        expectSentence(error, ["backoffResetAfter", `(got ${shown})`])
      }
      // and in an attach's options
      yield* setup
      yield* refused(Ham.attach(Entity.fiber("w", Effect.never), { backoffResetAfter: -1 }), "backoffResetAfter")
    }).pipe(withHam()))

  it.effect("stopGrace -1 or NaN, a pollInterval of NaN", () =>
    Effect.gen(function*() {
      yield* setup
      yield* refused(Ham.attach(Entity.process("web", sleeper, { stopGrace: -1 })), "stopGrace", "(got -1)")
      yield* refused(Ham.attach(Entity.process("web", sleeper, { stopGrace: NaN })), "stopGrace", "(got NaN)")
      yield* refused(Ham.attach(Entity.pid("p", process.pid, { stopGrace: -5 })), "stopGrace", "(got -5)")
      yield* refused(Ham.attach(Entity.pid("p", process.pid, { pollInterval: NaN })), "pollInterval", "(got NaN)")
    }).pipe(withHam()))

  it.effect("an execute timeout of -1 or NaN (was: no timeout), a signal's awaitExit of -1", () =>
    Effect.gen(function*() {
      const { raise } = yield* setup
      for (const timeout of [-1, NaN, "-3 seconds"] as const) {
        yield* refused(Ham.addAction(raise, Action.execute(Command.make("true"), { timeout })), "execute timeout")
        yield* refused(Ham.addAction(raise, Action.execute(Effect.void, { timeout })), "execute timeout")
      }
      yield* refused(Ham.addAction(raise, Action.signal("SIGTERM", { awaitExit: -1 })), "signal awaitExit", "(got -1)")
      yield* refused(Ham.addAction(raise, Action.waitfor(-1)), "waitfor", "(got -1)")
    }).pipe(withHam()))

  it.effect("waitfor port 70000, -1 or 1.5", () =>
    Effect.gen(function*() {
      const { raise } = yield* setup
      for (const port of [70000, -1, 0, 1.5]) {
        yield* refused(
          Ham.addAction(raise, Action.waitfor({ port, timeout: "1 second" })),
          "port",
          "1 to 65535",
          `(got ${port})`
        )
      }
    }).pipe(withHam()))

  it.effect("states, raise fields and verbosity beyond the safe integers (2 ** 53 + 2)", () =>
    Effect.gen(function*() {
      const { app } = yield* setup
      const huge = 2 ** 53 + 2
      yield* refused(Ham.publishState(app, huge), "state", "(got 9007199254740994)")
      yield* refused(Ham.publishState(app, Infinity), "state", "(got Infinity)")
      yield* refused(Ham.raise(app, { type: huge, class: 1, severity: 1 }), "raise", "type")
      yield* refused(Ham.raise(app, { type: 1, class: 1, severity: huge }), "raise", "severity")
      yield* refused(Ham.conditionState(app, { to: huge }), "state filter", "to")
      yield* refused(Ham.conditionRaise(app, { class: huge }), "raise filter", "class")
      yield* refused(Ham.verbose(huge), "verbosity")
      // the largest safe integer is a state
      yield* Ham.publishState(app, Number.MAX_SAFE_INTEGER)
      expect((yield* entityNode("app")).state).toBe(Number.MAX_SAFE_INTEGER)
    }).pipe(withHam()))

  it.effect("Ham.control(h, \"explode\")", () =>
    Effect.gen(function*() {
      const { app, raise } = yield* setup
      yield* refused(Ham.control(raise, "explode" as never), "control op", `"explode"`)
      yield* refused(Ham.control(app, "explode" as never), "control op", `"explode"`)
      yield* refused(Ham.control(app, {} as never), "control op")
      yield* refused(Ham.control(app, null as never), "control op")
    }).pipe(withHam()))

  it.effect("a pid outside 1 .. pid_max: a signal action's target, an Entity.pid", () =>
    Effect.gen(function*() {
      const { raise } = yield* setup
      for (const pid of [pidMax + 1, 2 ** 31, 2 ** 53 + 2, 0, -1]) {
        yield* refused(Ham.addAction(raise, Action.signal("SIGTERM", { pid })), "pid", `(got ${pid})`)
        yield* refused(Ham.attach(Entity.pid("p", pid)), "pid", `(got ${pid})`)
      }
      expect((yield* failureOf(Ham.attach(Entity.pid("p", pidMax + 1)))).message).toContain(String(pidMax))
    }).pipe(withHam()))
})
