/**
 * Records of store format 1 (effect-ham before the core's reshape), read as this format's: a
 * store written by the earlier version opens with everything in it. Nothing is checked here:
 * the result is checked as any record is (`ham/doc.ts`), and a damaged record stays damaged.
 *
 * @internal
 */

type Fields = { readonly [key: string]: unknown }

const isRecord = (u: unknown): u is Fields => typeof u === "object" && u !== null && !Array.isArray(u)

/** @internal a format 1 entity record as a format 2 one */
export const migrate = (value: unknown): unknown => {
  if (!isRecord(value) || !isRecord(value.history)) return value
  const { created, heartbeat, history, lastEvent, lastStart, process, ...rest } = value
  const { deaths, lastDeath, restartTimes, ...counts } = history
  const beat = isRecord(heartbeat) ? heartbeat : undefined
  const proc = isRecord(process) ? process : undefined
  const { external, nodeIpc, pid, startTime, ...line } = proc ?? {}
  return {
    ...rest,
    stats: {
      created,
      deaths,
      ...counts,
      heartbeats: beat?.count ?? 0,
      ...(lastEvent === undefined ? {} : { lastEvent }),
      ...(lastDeath === undefined ? {} : { lastDeath })
    },
    ...(proc === undefined ? {} : { process: { ...line, nodeIpc: nodeIpc === true } }),
    ...(typeof pid === "number" ? { life: typeof startTime === "number" ? { pid, startTime } : { pid } } : {}),
    ...(external === undefined ? {} : { external }),
    ...(beat === undefined
      ? {}
      : { heartbeat: { intervalMillis: beat.intervalMillis, missedLow: beat.missedLow, missedHigh: beat.missedHigh } }),
    lastStart: lastStart ?? created,
    restartTimes: restartTimes ?? []
  }
}
