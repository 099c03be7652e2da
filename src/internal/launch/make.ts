/**
 * The launcher every layer builds, given how it forks a single command: the output file opened
 * first (a file that cannot be opened is a launch failure), single commands through the fork,
 * pipelines (with a scope for each) through the platform's executor.
 *
 * @internal
 */
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as NodeFs from "node:fs"
import * as child_ from "./child.js"
import { type LaunchRequest, type Life, ProcessLauncher, type ProcessLauncherService } from "./launcher.js"
import * as life_ from "./life.js"
import * as output_ from "./output.js"
import * as pipeline_ from "./pipeline.js"

/** @internal how a launcher starts its lives */
export interface Way {
  readonly executor: CommandExecutor.CommandExecutor
  /** forks a single command */
  readonly fork: child_.Fork
  /** the lives outlive this process: their start times are read, for a later HAM to adopt them */
  readonly outlives?: boolean | undefined
}

/**
 * Launches one life. `tailFile`: the child writes its output to this file itself, and its last
 * lines are read from there.
 *
 * @internal
 */
export const launchWith = (way: Way, request: LaunchRequest, tailFile?: string): Effect.Effect<Life, string> =>
  Effect.gen(function*() {
    const output = request.output
    const fd = typeof output === "object"
      ? yield* Effect.try({
        try: () => {
          output_.rotateIfFull(output)
          return NodeFs.openSync(output.file, "a", 0o640)
        },
        catch: (e) => `cannot open the output file ${output.file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`
      })
      : undefined
    const closeFd = Effect.sync(() => {
      if (fd !== undefined) NodeFs.closeSync(fd)
    })
    const setting: life_.Setting = {
      request,
      runtime: request.runtime ?? (yield* Effect.runtime<never>()),
      fd,
      tailFile,
      outlives: way.outlives === true,
      // the next life a forker started by itself (an authorised restart): launched through the
      // same way, the child taken up instead of forked
      again: (relaunch) => ({
        take: launchWith({ ...way, fork: (_, listener) => relaunch.join(listener) }, request, tailFile).pipe(
          Effect.onError(() => Effect.sync(() => relaunch.discard()))
        ),
        discard: () => relaunch.discard()
      })
    }
    if (request.line.pipeTo === undefined) {
      return yield* Effect.onError(child_.launchChild(setting, way.fork), () => closeFd)
    }
    const scope = yield* Scope.make()
    return yield* pipeline_.launchPipeline(setting, scope, way.executor).pipe(
      Effect.onError(() => Effect.zipRight(Scope.close(scope, Exit.void), closeFd))
    )
  })

/** @internal a launcher with no helper process */
export const make = (way: Way): ProcessLauncherService => ({
  launch: (request) => launchWith(way, request),
  helperPid: () => undefined
})

/** @internal builds a launcher's layer in the current scope (its helper, if any, ends with the scope) */
export const build = <E, R>(
  layer: Layer.Layer<ProcessLauncher, E, R>
): Effect.Effect<ProcessLauncherService, E, Scope.Scope | R> =>
  Effect.map(Layer.build(layer), (context) => Context.get(context, ProcessLauncher))
