/**
 * Launching child processes as a service (TEMPORARY copy of the interface: replaced by the
 * launcher branch).
 *
 * @internal
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type { CommandLine } from "../action.js"

/** @internal how a process ended */
export interface ExitInfo {
  readonly exitCode?: number | undefined
  readonly signal?: string | undefined
}

/** @internal where the output of a process entity goes */
export type OutputOption = "log" | "ignore" | { readonly file: string }

/** @internal */
export interface Life {
  readonly pid: number
  readonly exit: Effect.Effect<ExitInfo>
  readonly exited: () => boolean
  readonly exitInfo: () => ExitInfo | undefined
  readonly stderrTail: () => ReadonlyArray<string>
  readonly stop: (signal: string, graceMillis: number) => Effect.Effect<void>
  readonly startTime?: number | undefined
}

/** @internal */
export interface LaunchRequest {
  readonly entity: string
  readonly line: CommandLine
  readonly env: { readonly [key: string]: string }
  readonly output: OutputOption
  readonly onLine: (stream: "stdout" | "stderr", line: string) => Effect.Effect<void>
  readonly onExit: (life: Life, info: ExitInfo) => void
}

/** @internal */
export interface ProcessLauncherService {
  readonly launch: (request: LaunchRequest) => Effect.Effect<Life, string>
  readonly helperPid: () => number | undefined
}

/** @internal */
export class ProcessLauncher extends Context.Tag("effect-ham/ProcessLauncher")<
  ProcessLauncher,
  ProcessLauncherService
>() {}
