/**
 * Shared clocks for periodic work: every member with the same interval is ticked by one fiber, at
 * grid lines common to all of them (multiples of the interval on the HAM's clock), so that 200
 * probes every second cost one timer wake a second, not 200 drifting ones. A member joins at its
 * start; its first tick is the first grid line at least one interval later. A clock's fiber ends
 * when its last member leaves. A member whose tick answers `false` leaves then. A member may also
 * set a deadline inside the period (a probe's timeout): the clock wakes then too. The heartbeat
 * clocks (`ham/beats.ts`), probes and resource limits (`watch/watch.ts`) run on it.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"

/** @internal one member: what it does at each of its ticks, and at its deadline */
export interface Member {
  /** `false`: the member leaves its clock */
  readonly tick: () => boolean | void
  /** the first grid line it is ticked at */
  firstDue: number
  /** a time inside the period at which `expire` runs (once; the member sets it again) */
  deadline: number | undefined
  readonly expire: () => void
}

interface Clock {
  readonly intervalMillis: number
  readonly members: Set<Member>
  fiber: Fiber.RuntimeFiber<unknown, unknown> | undefined
}

/** @internal */
export interface Grid {
  /** the member is ticked every `intervalMillis` from the first grid line an interval from now */
  readonly join: (intervalMillis: number, tick: () => boolean | void, expire?: () => void) => Member
  readonly leave: (intervalMillis: number, member: Member) => void
}

/** the `expire` of members that set no deadline (one function for all of them) */
const noDeadline = (): void => {}

/** @internal clocks on `now`, their fibers forked with `fork` */
export const make = (
  now: () => number,
  fork: (effect: Effect.Effect<void>) => Fiber.RuntimeFiber<unknown, unknown>
): Grid => {
  const clocks = new Map<number, Clock>()

  const run = (clock: Clock): Effect.Effect<void> => {
    const period = clock.intervalMillis
    let last = 0
    const step = Effect.suspend(() => {
      const t = now()
      const line = Math.max(Math.floor(t / period) * period + period, last + period)
      // the clock wakes at the next grid line, or at a member's deadline before it
      let wake = line
      for (const member of clock.members) {
        if (member.deadline !== undefined && member.deadline < wake) wake = member.deadline
      }
      return Effect.zipRight(
        Effect.sleep(Math.max(0, wake - t)),
        Effect.sync(() => {
          const at = Math.max(wake, t)
          for (const member of clock.members) {
            if (member.deadline !== undefined && member.deadline <= at) {
              member.deadline = undefined
              member.expire()
            }
          }
          if (wake !== line) return
          last = line
          for (const member of clock.members) {
            if (line >= member.firstDue && member.tick() === false) clock.members.delete(member)
          }
        })
      )
    })
    const loop: Effect.Effect<void> = Effect.flatMap(step, () => {
      if (clock.members.size > 0) return loop
      clock.fiber = undefined
      clocks.delete(period)
      return Effect.void
    })
    return loop
  }

  const join = (intervalMillis: number, tick: () => boolean | void, expire: () => void = noDeadline): Member => {
    const member: Member = {
      tick,
      expire,
      deadline: undefined,
      firstDue: Math.ceil((now() + intervalMillis) / intervalMillis) * intervalMillis
    }
    let clock = clocks.get(intervalMillis)
    if (clock === undefined) {
      clock = { intervalMillis, members: new Set(), fiber: undefined }
      clocks.set(intervalMillis, clock)
    }
    clock.members.add(member)
    if (clock.fiber === undefined) clock.fiber = fork(run(clock))
    return member
  }

  const leave = (intervalMillis: number, member: Member): void => {
    clocks.get(intervalMillis)?.members.delete(member)
  }

  return { join, leave }
}
