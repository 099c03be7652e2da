/**
 * The chaos suite (`chaos/suite.ts`, `npm run chaos` for the full run), short: a host under its
 * guardian process, with process children, fiber entities and a counter it changes all the time,
 * while six SIGKILLs strike (picked by a seed: a child while the guardian holds the store, the
 * guardian during a takeover, a double fault), in about 20 seconds. Every count must be zero: no
 * acknowledged change lost, no process left after the final stop, no two HAMs writing at once,
 * no two children of one entity alive at once, every fault recovered from, and the store opens
 * clean.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { run } from "../chaos/suite.js"

describe("Chaos suite, short", () => {
  it.live(
    "SIGKILLs of the host, the guardian and a child, a takeover and a double fault: every count is zero",
    () =>
      Effect.gen(function*() {
        // bounded by its kills, not by time: the seed picks the faults (no child killed at random
        // moments besides), whatever the machine's load
        const result = yield* run({
          kills: 6,
          minutes: 2,
          children: 5,
          childEveryMillis: 0,
          build: "source",
          weights: { host: 2, guardian: 1, child: 1, childInTakeover: 1, takeover: 1, double: 1 },
          seed: 1101
        })
        expect(result.problems).toEqual([])
        expect(result.kills).toBeGreaterThanOrEqual(6)
        // this seed: a child killed while the guardian holds the store, a takeover, a double fault
        expect(result.killed.host).toBeGreaterThanOrEqual(2)
        expect(result.killed.guardian).toBeGreaterThanOrEqual(1)
        expect(result.killed.child).toBeGreaterThanOrEqual(1)
        expect(result.acknowledged).toBeGreaterThan(0)
        expect({
          lost: result.lost,
          outOfOrder: result.outOfOrder,
          orphans: result.orphans,
          splitBrain: result.splitBrain,
          twoChildren: result.twoChildren,
          unrecovered: result.unrecovered,
          storeOpens: result.storeOpens
        }).toEqual({
          lost: 0,
          outOfOrder: 0,
          orphans: 0,
          splitBrain: 0,
          twoChildren: 0,
          unrecovered: 0,
          storeOpens: true
        })
      }),
    120_000
  )
})
