/**
 * What an entity's record keeps of its probe and limits (`EntityRec.watch`): the checked options,
 * the probe's failure count (the heartbeat rule of `heartbeat.ts`), its statistics, and the loop
 * of the current life. Never stored: the application (or the daemon's config) declares them again.
 *
 * @internal
 */
import type * as Fiber from "effect/Fiber"
import type * as heartbeat_ from "../heartbeat.js"
import type { LimitConfig, ProbeConfig } from "./config.js"

/** @internal */
export interface WatchRec {
  readonly probe: ProbeConfig | undefined
  readonly limits: LimitConfig | undefined
  /** the probe's consecutive failures and the levels fired (reset at each start) */
  probeState: heartbeat_.BeatState
  /** probes run, and how many failed, over every life */
  probes: number
  failures: number
  /** the last probe passed */
  lastPass: boolean | undefined
  /** the probe and limit loops of the current life */
  fiber: Fiber.RuntimeFiber<unknown, unknown> | undefined
}
