/**
 * The `ham` commands that change a running HAM: attach, detach, publish, raise, verbose (each
 * prints its result as JSON with `--json`).
 *
 * @internal
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as action_ from "../action.js"
import * as entity_ from "../entity.js"
import { report } from "./result.js"
import { ExitCode, fail, json, target, withHam } from "./target.js"

const entityArg = Args.text({ name: "entity" })

const attach = Command.make("attach", {
  ...target,
  json,
  name: entityArg,
  cwd: Options.text("cwd").pipe(Options.withDescription("the working directory of the process"), Options.optional),
  env: Options.keyValueMap("env").pipe(
    Options.withDescription("an environment variable (K=V), repeatable"),
    Options.optional
  ),
  restart: Options.boolean("restart").pipe(
    Options.withDescription("restart it when it dies (a CondDeath with a restart)")
  ),
  stopGrace: Options.integer("stop-grace").pipe(
    Options.withDescription("milliseconds between its stop signal and SIGKILL"),
    Options.optional
  ),
  command: Args.text({ name: "command" }).pipe(Args.atLeast(1))
}, ({ command, cwd, env, json, name, restart, stopGrace, ...t }) =>
  withHam(t, (ham) =>
    Effect.gen(function*() {
      const [cmd, ...args] = command
      const line: action_.CommandLine = {
        command: cmd,
        args,
        env: Option.match(env, { onNone: () => ({}), onSome: (m) => Object.fromEntries(m) }),
        extendEnv: true,
        shell: false,
        ...(Option.isSome(cwd) ? { cwd: cwd.value } : {})
      }
      const handle = yield* ham.attach(
        entity_.processFromLine(name, line, Option.isSome(stopGrace) ? { stopGrace: stopGrace.value } : {})
      )
      if (restart) {
        const death = yield* ham.condition(handle, "CondDeath")
        yield* ham.addAction(death, action_.restart)
      }
      const pid = (yield* ham.snapshot).entities.find((e) => e.name === name)?.pid
      yield* report(json, "attach", { entity: name, pid, restart }, `attached ${name}`)
    }))).pipe(Command.withDescription("attaches a process the HAM starts and supervises"))

const detach = Command.make(
  "detach",
  { ...target, json, name: entityArg },
  ({ json, name, ...t }) =>
    withHam(t, (ham) => Effect.zipRight(ham.detach(name), report(json, "detach", { entity: name }, "")))
).pipe(Command.withDescription("detaches an entity (its process is stopped)"))

const publish = Command.make("publish", {
  ...target,
  json,
  name: entityArg,
  state: Args.integer({ name: "state" })
}, ({ json, name, state, ...t }) =>
  withHam(
    t,
    (ham) => Effect.zipRight(ham.publishState(name, state), report(json, "publish", { entity: name, state }, ""))
  )).pipe(
    Command.withDescription("publishes the state of an entity (fires its CondState conditions)")
  )

const count = (name: string) => Options.integer(name).pipe(Options.withDefault(0))

const raise = Command.make("raise", {
  ...target,
  json,
  name: entityArg,
  type: count("type"),
  class: count("class"),
  severity: count("severity"),
  detail: Options.text("detail").pipe(Options.optional)
}, ({ class: klass, detail, json, name, severity, type, ...t }) =>
  withHam(t, (ham) => {
    const raised = { type, class: klass, severity, ...(Option.isSome(detail) ? { detail: detail.value } : {}) }
    return Effect.zipRight(ham.raise(name, raised), report(json, "raise", { entity: name, ...raised }, ""))
  })).pipe(Command.withDescription("raises an event of an entity (fires its CondRaise conditions)"))

const verbose = Command.make("verbose", {
  ...target,
  json,
  level: Args.text({ name: "n|+|-" }).pipe(Args.optional)
}, ({ json, level, ...t }) =>
  withHam(t, (ham) =>
    Effect.gen(function*() {
      const current = (yield* ham.snapshot).verbosity
      if (Option.isNone(level)) return yield* report(json, "verbose", { level: current }, String(current))
      const next = level.value === "+" ? current + 1 : level.value === "-" ? current - 1 : Number(level.value)
      if (!Number.isInteger(next) || next < 0) {
        return yield* fail(
          `verbose takes a level (a non-negative integer), + or - (got "${level.value}")`,
          ExitCode.usage
        )
      }
      yield* ham.verbose(next)
      yield* report(json, "verbose", { level: next, previous: current }, String(next))
    }))).pipe(Command.withDescription("prints the HAM's verbosity, or sets it (n), one more (+) or one less (-)"))

/** @internal */
export const commands = [attach, detach, publish, raise, verbose] as const
