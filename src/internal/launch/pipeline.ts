/**
 * A pipeline (`Command.pipeTo`), started through the platform's `CommandExecutor`, which joins
 * the pipes of its commands. The executor's wiring: stdin is a pipe nothing writes to, stdout
 * and stderr are pipes read as Effect streams, a death by a signal is a failure of `exitCode`.
 *
 * @internal
 */
import * as Command from "@effect/platform/Command"
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { commandFrom } from "../action.js"
import type { ExitInfo, Life } from "./launcher.js"
import * as life_ from "./life.js"

/** the signal name in the platform's error for a child killed by a signal */
const signalOf = (description: string): string | undefined => /signal:?\s*(SIG[A-Z0-9]+)/.exec(description)?.[1]

/** @internal a pipeline, started by the executor, wired to a life */
export const launchPipeline = (
  setting: life_.Setting,
  scope: Scope.CloseableScope,
  executor: CommandExecutor.CommandExecutor
): Effect.Effect<Life, string> =>
  Effect.gen(function*() {
    const { request } = setting
    const command = Command.env(commandFrom(request.line), request.env)
    const started = yield* executor.start(command).pipe(
      Scope.extend(scope),
      Effect.mapError((e) => e.message)
    )
    const life = new life_.ChildLife(setting, scope)
    life.started({ pid: started.pid })
    const ignored = request.output === "ignore"
    const drain = (name: "stdout" | "stderr", stream: Stream.Stream<Uint8Array, unknown>) =>
      ignored
        ? Stream.runForEach(stream, (chunk) => Effect.sync(() => name === "stderr" && life.onRawStderr(chunk)))
        : Stream.runForEach(
          stream.pipe(Stream.decodeText(), Stream.splitLines, Stream.map(life_.clip)),
          (line) => Effect.sync(() => life.onLines(name, [line]))
        )
    // the exit is reported once both have ended (or after a moment): its last lines are in
    yield* Effect.forkIn(
      Effect.all([Effect.ignore(drain("stdout", started.stdout)), Effect.ignore(drain("stderr", started.stderr))], {
        concurrency: 2,
        discard: true
      }).pipe(Effect.ensuring(Effect.sync(() => life.onOutputEnd()))),
      scope
    )
    // the exit: a code, or death by a signal (the platform reports it as a failure)
    yield* started.exitCode.pipe(
      Effect.match({
        onSuccess: (code): ExitInfo => ({ exitCode: code }),
        onFailure: (e): ExitInfo => ({ signal: signalOf(e.message) ?? "unknown" })
      }),
      Effect.flatMap((info) => Effect.sync(() => life.onExited(info))),
      Effect.forkIn(scope)
    )
    return life
  })
