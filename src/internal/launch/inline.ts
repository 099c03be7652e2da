/**
 * The inline launcher: single commands are spawned by this process, on `node:child_process`
 * (pipelines by the platform's executor). A spawn copies this process's page tables: from an
 * application with a large heap, `layerSpawner` is the cheaper choice.
 *
 * @internal
 */
import * as CommandExecutor from "@effect/platform/CommandExecutor"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as child_ from "./child.js"
import { ProcessLauncher } from "./launcher.js"
import * as make_ from "./make.js"

/** @internal */
export const layerInline: Layer.Layer<ProcessLauncher, never, CommandExecutor.CommandExecutor> = Layer.effect(
  ProcessLauncher,
  Effect.map(CommandExecutor.CommandExecutor, (executor) => make_.make({ executor, fork: child_.forkHere }))
)
