/**
 * Children started by a HAM that died before it recorded them. A HAM under a store records a
 * launch intent before it starts a child, gives the child the intent's id in `HAM_LAUNCH_ID`, and
 * settles the intent in the commit that records the child's life. An intent left in the store is a
 * child no HAM knows of (its HAM was killed between the start and that commit): the next HAM finds
 * it by that variable in `/proc/<pid>/environ` and ends it before it restores the registry, which
 * starts the entity again (or adopts the life that was recorded). A program that rewrites its own
 * environment area is not found this way.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as NodeFs from "node:fs"
import * as notifyProtocol from "../notify/protocol.js"
import { startTimeOf } from "../procStart.js"
import type { LaunchIntent } from "../store/service.js"

/** @internal a child of an unrecorded launch, found and ended */
export interface Ended {
  readonly pid: number
  readonly entity: string
}

const marker = `${notifyProtocol.EnvLaunch}=`

/** the launch id in a process's environment, if it has one (and its environment can be read) */
const launchIdOf = (pid: string): string | undefined => {
  let environ: Buffer
  try {
    environ = NodeFs.readFileSync(`/proc/${pid}/environ`)
  } catch {
    return undefined
  }
  const at = environ.indexOf(marker)
  if (at < 0 || (at > 0 && environ[at - 1] !== 0)) return undefined
  const end = environ.indexOf(0, at)
  return environ.toString("latin1", at + marker.length, end < 0 ? environ.length : end)
}

const kill = (pid: number): void => {
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, "SIGKILL")
    } catch {
      // not a group leader, or gone already
    }
  }
}

/**
 * Ends every live process whose launch is one of `intents` (and its process group), and waits
 * (up to two seconds) until they are gone. Returns what it ended.
 *
 * @internal
 */
export const endUnrecorded = (intents: ReadonlyArray<LaunchIntent>): Effect.Effect<ReadonlyArray<Ended>> =>
  Effect.gen(function*() {
    const entityOf = new Map(intents.map((intent) => [intent.id, intent.entity]))
    const found: Array<Ended & { readonly start: number }> = []
    for (const entry of NodeFs.readdirSync("/proc")) {
      if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue
      const id = launchIdOf(entry)
      const entity = id === undefined ? undefined : entityOf.get(id)
      const start = entity === undefined ? undefined : startTimeOf(Number(entry))
      if (entity !== undefined && start !== undefined) found.push({ pid: Number(entry), entity, start })
    }
    for (const child of found) kill(child.pid)
    const alive = () => found.some((child) => startTimeOf(child.pid) === child.start)
    for (let waited = 0; waited < 2000 && alive(); waited += 5) yield* Effect.sleep("5 millis")
    return found.map(({ entity, pid }) => ({ entity, pid }))
  })
