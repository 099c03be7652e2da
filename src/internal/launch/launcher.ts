/**
 * The `ProcessLauncher` service: how the HAM starts the lives of its process entities. The
 * launcher is chosen by Layer, as @effect/platform's `CommandExecutor` is:
 *
 * - `layerSpawner` (spawner.ts, the default): single commands are forked by a small helper
 *   process, so a spawn does not copy the page tables of a large application;
 * - `layerInline` (inline.ts): single commands are spawned by this process;
 * - `layerDetached` (detached.ts): the Guardian's process mode: lives outlive this process and
 *   a later HAM adopts them by pid and start time.
 *
 * Every launcher starts pipelines (`Command.pipeTo`) through the platform's `CommandExecutor`,
 * which joins their pipes.
 *
 * The HAM uses the launcher it finds in its context (`Ham.layer(options).pipe(Layer.provide(layerInline))`,
 * or `Effect.provide(layerInline)` around the effect that builds the HAM's layer); without one, it
 * builds the one its `spawner` option names, in its own scope. The Guardian's process mode gives
 * the HAM a `layerDetached` launcher through its `HamExtension`, which comes before both.
 *
 * @internal
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Runtime from "effect/Runtime"
import type { CommandLine } from "../action.js"
import type { FileOutput } from "./output.js"

/** @internal how a process ended */
export interface ExitInfo {
  readonly exitCode?: number | undefined
  readonly signal?: string | undefined
}

/** @internal where the output of a process entity goes */
export type OutputOption = "log" | "ignore" | FileOutput

/**
 * What a launcher may do by itself when a life exits: start the next one at once, with the same
 * request (a restart the HAM authorised ahead of time).
 *
 * @internal
 */
export interface Authorisation {
  /** after an abnormal exit (a signal, or a code other than 0) */
  readonly abnormal: boolean
  /** after exit code 0 */
  readonly normal: boolean
  /** only when the exit comes at least this long after the authorisation */
  readonly afterMillis: number
}

/**
 * The next life, which a launcher started by itself when the last one exited, as it was
 * authorised to (`Life.arm`). Exactly one of the two is used, once.
 *
 * @internal
 */
export interface NextLife {
  /** takes it up: succeeds with the life once the process runs */
  readonly take: Effect.Effect<Life, string>
  /** lets it go: the process is killed (as soon as it runs, if it does not yet) */
  readonly discard: () => void
}

/** @internal one life of a process entity */
export interface Life {
  readonly pid: number
  /** completes when the process has exited (never fails) */
  readonly exit: Effect.Effect<ExitInfo>
  readonly exited: () => boolean
  /** how it ended, once known (the last output lines are in) */
  readonly exitInfo: () => ExitInfo | undefined
  /** the last lines the process wrote to stderr (bounded) */
  readonly stderrTail: () => ReadonlyArray<string>
  /**
   * Stops the whole process group: `signal`, then SIGKILL after `graceMillis` if the process is
   * still there; finally SIGKILL to what is left of the group. Closes the life's scope.
   * Once begun, it runs to its end, even when its caller is interrupted meanwhile.
   */
  readonly stop: (signal: string, graceMillis: number) => Effect.Effect<void>
  /**
   * the process's start time from /proc (clock ticks after boot), set by launchers whose lives
   * outlive the HAM: a later HAM adopts the process by pid and start time
   */
  readonly startTime?: number | undefined
  /** the file its output is appended to, when it goes to one */
  readonly outputFile?: string | undefined
  /**
   * Authorises the launcher to start the next life as soon as this one exits, or withdraws the
   * authorisation (`undefined`). Only the spawner's helper does; other lives ignore it. A stop
   * withdraws it first.
   */
  readonly arm: (authorisation: Authorisation | undefined) => void
}

/** @internal what to launch, and where its output and its exit go */
export interface LaunchRequest {
  /** the entity's name */
  readonly entity: string
  /** a single command or a pipeline (pipeTo) */
  readonly line: CommandLine
  /**
   * variables added; the SAME object for every life of an entity (environments are cached by its
   * identity)
   */
  readonly env: { readonly [key: string]: string }
  readonly output: OutputOption
  /** every line of output, when the output goes to the log */
  readonly onLine: (stream: "stdout" | "stderr", line: string) => Effect.Effect<void>
  /**
   * Called once, as soon as the exit is known. `next`: the next life, which the launcher started
   * as it was authorised to (`Life.arm`): taken up or discarded by the callee.
   */
  readonly onExit: (life: Life, info: ExitInfo, next: NextLife | undefined) => void
  /** the runtime the life's own fibers (its log lines, ...) run on; default: the caller's */
  readonly runtime?: Runtime.Runtime<never> | undefined
}

/** @internal */
export interface ProcessLauncherService {
  /** starts one life; fails with the reason when it cannot */
  readonly launch: (request: LaunchRequest) => Effect.Effect<Life, string>
  /** the pid of the helper process that forks the children, while one runs (the tree's spawnerPid) */
  readonly helperPid: () => number | undefined
}

/** @internal */
export class ProcessLauncher extends Context.Tag("effect-ham/ProcessLauncher")<
  ProcessLauncher,
  ProcessLauncherService
>() {}
