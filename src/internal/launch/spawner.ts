/**
 * The spawner launcher (the default): single commands are forked by the spawner's helper process
 * (helper.ts), a small Node process, so a spawn does not copy the page tables of a large
 * application; pipelines go through the platform's executor. When the helper cannot start at all,
 * the spawns are made by this process (with a warning), as `layerInline` makes them.
 *
 * @internal
 */
import * as CommandExecutor from "@effect/platform/CommandExecutor"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as child_ from "./child.js"
import * as helper_ from "./helper.js"
import { ProcessLauncher, type ProcessLauncherService } from "./launcher.js"
import * as make_ from "./make.js"

/**
 * A spawner launcher for the scope: its helper starts on the first spawn and ends with the scope.
 *
 * @internal
 */
export const make = (
  options?: helper_.HelperOptions
): Effect.Effect<
  ProcessLauncherService & Pick<helper_.Helper, "holdReports">,
  never,
  Scope.Scope | CommandExecutor.CommandExecutor
> =>
  Effect.gen(function*() {
    const executor = yield* CommandExecutor.CommandExecutor
    const helper = yield* helper_.make(options)
    // through the helper while it can run; when it cannot, from this process
    const fork: child_.Fork = (request, listener) =>
      helper.available()
        ? helper.spawn(request, listener).pipe(
          Effect.catchAll((reason) => helper.available() ? Effect.fail(reason) : child_.forkHere(request, listener))
        )
        : child_.forkHere(request, listener)
    return { ...make_.make({ executor, fork }), helperPid: helper.pid, holdReports: helper.holdReports }
  })

/** @internal */
export const layerSpawner: Layer.Layer<ProcessLauncher, never, CommandExecutor.CommandExecutor> = Layer.scoped(
  ProcessLauncher,
  make()
)
