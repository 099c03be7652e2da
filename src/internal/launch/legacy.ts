/** TEMPORARY adapter of the old process/spawner modules to the launcher service (replaced by the launcher branch). @internal */
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as process_ from "../process.js"
import * as procStart from "../procStart.js"
import * as spawner_ from "../spawner.js"
import type { ProcessLauncherService } from "./launcher.js"

/** @internal */
export const make = (
  mode: "process" | "inline" | { readonly outputDir: string },
  directory: string,
  executor: CommandExecutor.CommandExecutor
): Effect.Effect<ProcessLauncherService, never, Scope.Scope> =>
  Effect.gen(function*() {
    const spawner = mode === "process" ? yield* spawner_.make(directory) : undefined
    const outputDir = typeof mode === "object" ? mode.outputDir : undefined
    return {
      helperPid: () => spawner?.pid(),
      launch: (request) => {
        const outputFile = outputDir === undefined
          ? undefined
          : `${outputDir}/${encodeURIComponent(request.entity)}.log`
        const line = outputFile === undefined ? request.line : process_.writingTo(request.line, outputFile)
        return Effect.map(
          process_.spawn({
            line,
            env: request.env,
            spawner,
            executor,
            output: outputFile === undefined ? request.output : "ignore",
            tailFile: outputFile,
            onLine: request.onLine,
            onExit: request.onExit
          }),
          (life) => outputDir === undefined ? life : Object.assign(life, { startTime: procStart.startTimeOf(life.pid) })
        )
      }
    }
  })
