/**
 * Restart intensity, as in Erlang/OTP's supervisor: at most `maxRestarts` restarts within a
 * sliding window of `withinMillis`. Pure functions of (state, now): `now` comes from `Clock`.
 *
 * @internal
 */

/** @internal */
export interface Intensity {
  readonly maxRestarts: number
  readonly withinMillis: number
}

/** @internal */
export type Decision =
  | { readonly _tag: "Continue"; readonly restarts: ReadonlyArray<number> }
  | { readonly _tag: "GiveUp"; readonly restarts: ReadonlyArray<number> }

/**
 * Records a restart at `now`: drops the restarts older than `now - withinMillis`, adds `now`,
 * and gives up when more than `maxRestarts` remain (OTP `add_restart`).
 *
 * @internal
 */
export const addRestart = (
  restarts: ReadonlyArray<number>,
  now: number,
  intensity: Intensity
): Decision => {
  if (intensity.maxRestarts === Infinity) return { _tag: "Continue", restarts }
  const since = now - intensity.withinMillis
  const kept = [now]
  for (const at of restarts) if (at > since) kept.push(at)
  return kept.length > intensity.maxRestarts
    ? { _tag: "GiveUp", restarts: kept }
    : { _tag: "Continue", restarts: kept }
}

/**
 * How long from `now` until `addRestart` would let one more restart happen (0: now), as restarts
 * leave the window; `undefined` when it never will (`maxRestarts` below 1).
 *
 * @internal
 */
export const waitFor = (
  restarts: ReadonlyArray<number>,
  now: number,
  intensity: Intensity
): number | undefined => {
  if (intensity.maxRestarts === Infinity) return 0
  if (intensity.maxRestarts < 1) return undefined
  const since = now - intensity.withinMillis
  const kept = restarts.filter((at) => at > since).sort((a, b) => b - a)
  if (kept.length < intensity.maxRestarts) return 0
  // one more fits once the `maxRestarts`-th newest has left the window
  return kept[intensity.maxRestarts - 1] + intensity.withinMillis - now
}
