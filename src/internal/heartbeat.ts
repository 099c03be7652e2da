/**
 * The heartbeat rule as a pure state machine, one step per period (QNX quantises beats to the
 * period grid: any number of beats inside one period counts as one, seen at its end).
 *
 * - A period with a beat resets the count of consecutive misses.
 * - A period without one adds a miss. `CondBeatMissedLow` fires when the count reaches
 *   `missedLow`, `CondBeatMissedHigh` when it reaches `missedHigh` (0 disables a level).
 * - Each level fires once per episode: after it fired the entity is unhealthy for that level and
 *   it does not fire again, even after late beats, until a `heartbeatHealthy` action runs.
 * - `heartbeatHealthy` re-arms both levels (`heal`) but keeps the count of consecutive misses: an
 *   entity that stays hung after a low miss was handled (log, healthy) still reaches the high
 *   count. Since a level fires when the count *reaches* it, a re-armed level fires again only in
 *   a new episode (after a beat reset the count).
 *
 * @internal
 */

/** @internal */
export interface BeatConfig {
  readonly missedLow: number
  readonly missedHigh: number
}

/** @internal */
export interface BeatState {
  readonly missed: number
  readonly lowFired: boolean
  readonly highFired: boolean
}

/** @internal */
export const healthy: BeatState = { missed: 0, lowFired: false, highFired: false }

/** @internal */
export interface Step {
  readonly state: BeatState
  readonly low: boolean
  readonly high: boolean
}

/** @internal one period ends: `beat` tells whether at least one heartbeat arrived in it */
export const tick = (state: BeatState, beat: boolean, config: BeatConfig): Step => {
  if (beat) {
    return { state: state.missed === 0 ? state : { ...state, missed: 0 }, low: false, high: false }
  }
  const missed = state.missed + 1
  const low = !state.lowFired && config.missedLow > 0 && missed === config.missedLow
  const high = !state.highFired && config.missedHigh > 0 && missed === config.missedHigh
  return {
    state: { missed, lowFired: state.lowFired || low, highFired: state.highFired || high },
    low,
    high
  }
}

/** @internal what a heartbeatHealthy action does: re-arm both levels, keep the count */
export const heal = (state: BeatState): BeatState =>
  state.lowFired || state.highFired ? { ...state, lowFired: false, highFired: false } : state

/** @internal true when a missed-heartbeat condition has fired and no healthy action ran since */
export const isUnhealthy = (state: BeatState): boolean => state.lowFired || state.highFired
