/**
 * The `ham` command line (`@effect/cli`): `start` runs the daemon in the foreground; the other
 * commands talk to a running HAM through its control socket (default), or another socket, or TCP
 * with a token. Exit codes: 0 done; 1 the HAM refused the operation (an entity not found or not
 * running, a fiber entity asked remotely, output not in a file for `logs`, ...); 2 bad usage (an
 * unknown option, a bad signal name or level) or a bad config file; 3 no HAM answers there (or it
 * went away: `mirror`, `top`, `web`); 4 the token was refused. With `--json`, a command prints its result
 * as one JSON object (`"ok": true`) and a failure as `{ "ok": false, "code", "error": { "_tag",
 * "message", ... } }` on stdout (the message also on stderr).
 *
 * @internal
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as HashMap from "effect/HashMap"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as config_ from "../daemon/config.js"
import * as daemonFiles from "../daemon/files.js"
import * as control from "./control.js"
import { mirror } from "./mirror.js"
import * as ops from "./ops.js"
import { failureJson } from "./result.js"
import * as screen from "./screen.js"
import { CliFailure, ExitCode, fail, follow, json, target, withHam } from "./target.js"
import * as view from "./view.js"
import * as web from "./web.js"

// ---------------------------------------------------------------------------------------------
// commands
// ---------------------------------------------------------------------------------------------

const schema = Command.make("schema", {}, () => Console.log(JSON.stringify(config_.jsonSchema(), null, 2))).pipe(
  Command.withDescription("prints the config file's JSON Schema")
)

const start = Command.make("start", {
  config: Options.text("config").pipe(Options.withAlias("c"), Options.withDescription("the config file (JSON)")),
  state: Options.text("state").pipe(
    Options.withDescription("the Guardian store's file (default: the config's, or ham-state beside it)"),
    Options.optional
  ),
  memory: Options.boolean("memory").pipe(Options.withDescription("keep no store: the HAM's state is in memory only")),
  socket: target.socket
}, ({ config: file, memory, socket, state }) =>
  Effect.gen(function*() {
    const config = yield* Effect.mapError(config_.load(file), (e) => new CliFailure(e.message, ExitCode.usage))
    const paths = config_.resolvePaths(config, file)
    const sock = Option.getOrElse(socket, () => paths.socket ?? config_.defaultSocket())
    // loaded here: the other commands are clients, and do not load the engine (`ham ls` stays fast)
    const daemon = yield* Effect.promise(() => import("../daemon/daemon.js"))
    yield* daemon.run({
      config,
      file,
      state: memory ? undefined : Option.getOrElse(state, () => paths.state),
      socket: sock,
      tokenFile: paths.tokenFile,
      mirror: paths.mirror,
      tls: paths.tls,
      clusterTokenFile: paths.clusterTokenFile,
      onReady: ({ node, tcpPort }) =>
        Console.log(
          `ham: running ${config.entities.length} entities; control socket ${sock}` +
            (tcpPort === undefined ? "" : `; tcp port ${tcpPort}`) +
            (node === undefined ? "" : `; cluster node ${node}`)
        )
    })
    yield* Console.log("ham: stopped")
  })).pipe(Command.withDescription("runs the daemon in the foreground until `ham stop`"))

const stop = Command.make("stop", target, (t) =>
  Effect.gen(function*() {
    yield* withHam(t, (ham) => ham.stop).pipe(
      // the daemon may close the connection before the answer reaches us: the socket tells
      Effect.catchIf((e) => Predicate.isTagged(e, "HamUnreachable") && Option.isNone(t.port), () => Effect.void)
    )
    if (Option.isNone(t.port)) {
      const sock = Option.getOrElse(t.socket, () => config_.defaultSocket())
      // the daemon removes its socket as it exits, once every child is stopped
      const gone = yield* Effect.repeat(Effect.sync(() => !fs.existsSync(sock)), {
        until: (g) => g,
        schedule: Schedule.spaced("50 millis")
      }).pipe(Effect.timeout("60 seconds"), Effect.option)
      if (Option.isNone(gone)) return yield* fail(`the HAM stopped, but its socket ${sock} is still there`)
    }
  })).pipe(Command.withDescription("stops the HAM: every child gets its stop signal and grace"))

const reload = Command.make("reload", {
  ...target,
  json,
  entity: Args.text({ name: "entity" }).pipe(
    Args.withDescription("reload this entity only, gracefully: a new process, the old one stopped once it is ready"),
    Args.optional
  ),
  env: Options.keyValueMap("env").pipe(
    Options.withDescription("with an entity: a variable set in its new process's environment (NAME=value)"),
    Options.withDefault(HashMap.empty<string, string>())
  ),
  readyTimeout: Options.integer("ready-timeout").pipe(
    Options.withDescription("with an entity: how many seconds its new process has to say READY=1 (30)"),
    Options.optional
  )
}, ({ entity, env, json, readyTimeout, socket, ...t }) =>
  Option.isSome(entity)
    ? ops.reloadEntity({ ...t, socket }, entity.value, env, readyTimeout, json)
    : reloadConfig(socket)).pipe(
    Command.withDescription(
      "the daemon reads its config file again and applies what changed; with an entity, reloads that entity gracefully"
    )
  )

const reloadConfig = (socket: Option.Option<string>) =>
  Effect.gen(function*() {
    const sock = Option.getOrElse(socket, () => config_.defaultSocket())
    const read = <A>(file: string, parse: (text: string) => A) =>
      Effect.sync(() => {
        try {
          return Option.some(parse(fs.readFileSync(file, "utf8")))
        } catch {
          return Option.none<A>()
        }
      })
    const pid = yield* read(daemonFiles.pidFile(sock), Number)
    if (Option.isNone(pid) || !Number.isInteger(pid.value)) {
      return yield* fail(`no daemon at ${sock} (no pid file ${daemonFiles.pidFile(sock)})`, ExitCode.unreachable)
    }
    const report = read(daemonFiles.reloadFile(sock), (text) => JSON.parse(text) as daemonFiles.ReloadReport)
    const before = Option.match(yield* report, { onNone: () => 0, onSome: (r) => r.seq })
    yield* Effect.try({
      try: () => process.kill(pid.value, "SIGHUP"),
      catch: () => new CliFailure(`no daemon at ${sock} (pid ${pid.value} is gone)`, ExitCode.unreachable)
    })
    const answered = report.pipe(
      Effect.filterOrFail((r) => Option.isSome(r) && r.value.seq > before),
      Effect.flatten,
      Effect.retry(Schedule.spaced("50 millis")),
      Effect.timeout("60 seconds")
    )
    const done = yield* Effect.option(answered)
    if (Option.isNone(done)) return yield* fail(`the daemon at ${sock} did not answer the reload`)
    if (!done.value.ok) return yield* fail(done.value.message, ExitCode.usage)
    yield* Console.log(done.value.message)
  })

const ls = Command.make("ls", { ...target, json }, ({ json, ...t }) =>
  withHam(t, (ham) => ham.snapshot).pipe(
    Effect.flatMap((tree) =>
      Console.log(
        json ? JSON.stringify(tree, null, 2) : view.table(tree, Option.isSome(t.port) ? undefined : view.localUptime)
      )
    )
  )).pipe(Command.withDescription("the entities: name, kind, pid, state, uptime, restarts, deaths, last death"))

const cat = Command.make("cat", {
  ...target,
  json,
  path: Args.text({ name: "entity[/condition[/action]]" })
}, ({ json, path, ...t }) =>
  Effect.gen(function*() {
    const tree = yield* withHam(t, (ham) => ham.snapshot)
    const node = view.find(tree, path)
    if (typeof node === "string") return yield* fail(node)
    yield* Console.log(json ? JSON.stringify(node.node, null, 2) : view.cat(tree, node))
  })).pipe(Command.withDescription("one node of the tree (/proc/ham): an entity, a condition or an action"))

const events = Command.make("events", {
  ...target,
  json,
  follow,
  wait: Options.integer("wait").pipe(
    Options.withDescription("without -f: milliseconds to listen (1000)"),
    Options.withDefault(1000)
  ),
  entity: Args.text({ name: "entity" }).pipe(Args.optional)
}, ({ entity, follow, json, wait, ...t }) =>
  withHam(t, (ham) => {
    const all = ham.events(Option.getOrUndefined(entity))
    const stream = follow ? all : Stream.interruptWhen(all, Effect.sleep(Duration.millis(wait)))
    return Stream.runForEach(stream, (event) => Console.log(json ? JSON.stringify(event) : view.eventLine(event)))
  })).pipe(Command.withDescription("the HAM's events as they happen (of one entity, or all)"))

/** @internal the `ham` command */
export const ham = Command.make("ham").pipe(
  Command.withDescription("effect-ham: a High Availability Manager"),
  Command.withSubcommands([
    start,
    stop,
    reload,
    ls,
    cat,
    events,
    screen.command,
    web.command,
    ...control.commands,
    ...ops.commands,
    mirror,
    schema
  ])
)

const codeOf = (error: unknown): number => {
  if (error instanceof CliFailure) return error.code
  if (ValidationError.isValidationError(error)) return ExitCode.usage
  if (Predicate.isTagged(error, "MirrorRefused")) return ExitCode.usage
  if (Predicate.isTagged(error, "HamUnreachable")) return ExitCode.unreachable
  if (Predicate.isTagged(error, "Unauthorized")) return ExitCode.unauthorized
  return ExitCode.refused
}

const messageOf = (error: unknown): string =>
  error instanceof CliFailure
    ? error.message
    : Predicate.hasProperty(error, "message") && typeof error.message === "string" && error.message !== ""
    ? error.message
    : String(error)

/**
 * Runs the CLI on `argv`; reports a failure on stderr and sets the exit code.
 *
 * @internal
 */
export const main = (argv: ReadonlyArray<string>) =>
  Command.run(ham, { name: "ham", version: "0.1.0" })(argv).pipe(
    Effect.catchAll((error) =>
      Effect.sync(() => {
        // @effect/cli has printed its own validation errors and the help
        if (!ValidationError.isValidationError(error)) process.stderr.write(`ham: ${messageOf(error)}\n`)
        process.exitCode = codeOf(error)
        // a script that asked for JSON gets its failure as JSON too
        if (argv.includes("--json")) process.stdout.write(`${failureJson(codeOf(error), error, messageOf(error))}\n`)
      })
    )
  )
