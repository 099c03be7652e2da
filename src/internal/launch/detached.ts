/**
 * The detached launcher, for the Guardian's process mode: the lives outlive this process, and a
 * later HAM adopts them by pid and start time (`Life.startTime`, read from /proc).
 *
 * Single commands are spawned by this process in process groups of their own, and write their
 * own output (stdout and stderr together, appended) to `<outputDir>/<entity>.log`: no pipe to
 * this process carries it, so nothing breaks when this process goes. Their stderr tail is read
 * from that file. Shell lines and pipelines keep their pipes (their output is ignored, their
 * stderr tail is what they wrote to the pipe).
 *
 * @internal
 */
import * as CommandExecutor from "@effect/platform/CommandExecutor"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { CommandLine } from "../action.js"
import * as child_ from "./child.js"
import { ProcessLauncher } from "./launcher.js"
import * as make_ from "./make.js"
import * as output_ from "./output.js"

/**
 * A command line that writes its own output to `file` (appending, stdout and stderr together),
 * through `sh -c 'exec ...'`: the process itself is the command (exec). Shell lines and pipelines
 * are left as they are (undefined).
 *
 * @internal
 */
const writingTo = (line: CommandLine, file: string): CommandLine | undefined =>
  line.shell !== false || line.pipeTo !== undefined
    ? undefined
    : {
      ...line,
      command: "/bin/sh",
      args: ["-c", `exec "$0" "$@" >>"$HAM_OUTPUT_FILE" 2>&1`, line.command, ...line.args],
      env: { ...line.env, HAM_OUTPUT_FILE: file }
    }

/** @internal */
export const layerDetached = (
  outputDir: string
): Layer.Layer<ProcessLauncher, never, CommandExecutor.CommandExecutor> =>
  Layer.effect(
    ProcessLauncher,
    Effect.map(CommandExecutor.CommandExecutor, (executor) => {
      const way: make_.Way = { executor, fork: child_.forkHere, outlives: true }
      // an entity's lives share one rewritten line: the environment made for it is reused
      const rewritten = new WeakMap<CommandLine, { readonly file: string; readonly line: CommandLine | undefined }>()
      const lineOf = (line: CommandLine, file: string) => {
        const known = rewritten.get(line)
        if (known !== undefined && known.file === file) return known.line
        const result = writingTo(line, file)
        rewritten.set(line, { file, line: result })
        return result
      }
      return {
        launch: (request) => {
          const file = `${outputDir}/${encodeURIComponent(request.entity)}.log`
          const own = lineOf(request.line, file)
          // the child appends to the file itself: it is rotated when a life starts
          if (own !== undefined && typeof request.output === "object") output_.rotateIfFull({ ...request.output, file })
          return make_.launchWith(
            way,
            { ...request, line: own ?? request.line, output: "ignore" },
            own === undefined ? undefined : file
          )
        },
        helperPid: () => undefined
      }
    })
  )
