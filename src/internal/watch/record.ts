/**
 * What an entity's record keeps of its probe and limits (`EntityRec.watch`): the checked options,
 * the probe's failure count (the heartbeat rule of `heartbeat.ts`), its statistics, and the loop
 * of the current life. Never stored: the application (or the daemon's config) declares them again.
 *
 * @internal
 */
import type { Member } from "../grid.js"
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
  /** the current life's places on the shared clocks (`../grid.ts`) */
  probeTicks: Member | undefined
  limitTicks: Member | undefined
  /** gives up the probe running now (its socket, request or process freed), if one is */
  giveUp: (() => void) | undefined
}
