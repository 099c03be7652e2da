import { describe, expect, it } from "@effect/vitest"
import * as heartbeat from "../src/internal/heartbeat.js"
import * as intensity from "../src/internal/intensity.js"

describe("intensity.addRestart", () => {
  const policy: intensity.Intensity = { maxRestarts: 3, withinMillis: 10_000 }

  /** feeds restarts at the given times, returning every decision */
  const run = (times: ReadonlyArray<number>, config: intensity.Intensity = policy) => {
    const decisions: Array<intensity.Decision> = []
    let restarts: ReadonlyArray<number> = []
    for (const at of times) {
      const decision = intensity.addRestart(restarts, at, config)
      decisions.push(decision)
      restarts = decision.restarts
    }
    return decisions
  }

  it("continues up to maxRestarts and gives up on the next one inside the window", () => {
    const decisions = run([0, 1_000, 2_000, 3_000])
    expect(decisions.map((d) => d._tag)).toEqual(["Continue", "Continue", "Continue", "GiveUp"])
    expect(decisions[2].restarts).toHaveLength(3)
    expect(decisions[3].restarts).toHaveLength(4)
  })

  it("records now and keeps the restarts still inside the window", () => {
    const decision = intensity.addRestart([1_000, 500], 2_000, policy)
    expect(decision._tag).toBe("Continue")
    expect([...decision.restarts].sort((a, b) => a - b)).toEqual([500, 1_000, 2_000])
  })

  it("drops the restarts older than now - within", () => {
    // 0 and 1 000 are outside (now - within = 1 500); only 5 000 and 11 500 remain
    const decision = intensity.addRestart([5_000, 1_000, 0], 11_500, policy)
    expect(decision._tag).toBe("Continue")
    expect([...decision.restarts].sort((a, b) => a - b)).toEqual([5_000, 11_500])
  })

  it("a restart exactly `within` ago has left the window", () => {
    const config = { maxRestarts: 2, withinMillis: 10_000 }
    // 0 is exactly now - within: dropped, so 5 000 and 10 000 remain (2, not more than 2)
    const edge = intensity.addRestart([5_000, 0], 10_000, config)
    expect(edge._tag).toBe("Continue")
    expect([...edge.restarts].sort((a, b) => a - b)).toEqual([5_000, 10_000])
    // 1 ms later it is still inside: 3 restarts, more than 2
    const inside = intensity.addRestart([5_000, 1], 10_000, config)
    expect(inside._tag).toBe("GiveUp")
    expect([...inside.restarts].sort((a, b) => a - b)).toEqual([1, 5_000, 10_000])
  })

  it("never gives up when restarts are spaced beyond the window", () => {
    const decisions = run([0, 10_000, 20_000, 30_000, 40_000, 50_000], { maxRestarts: 1, withinMillis: 10_000 })
    expect(decisions.every((d) => d._tag === "Continue")).toBe(true)
    expect(decisions.every((d) => d.restarts.length === 1)).toBe(true)
  })

  it("a sliding window: a burst gives up, the same count spread out does not", () => {
    expect(run([0, 3_000, 6_000, 9_000]).map((d) => d._tag)).toEqual(["Continue", "Continue", "Continue", "GiveUp"])
    expect(run([0, 4_000, 8_000, 12_000, 16_000, 20_000]).every((d) => d._tag === "Continue")).toBe(true)
  })

  it("maxRestarts 0 gives up on the first restart; Infinity never does", () => {
    expect(intensity.addRestart([], 0, { maxRestarts: 0, withinMillis: 1_000 })._tag).toBe("GiveUp")
    const times = Array.from({ length: 100 }, (_, i) => i)
    expect(run(times, { maxRestarts: Infinity, withinMillis: 1_000_000 }).every((d) => d._tag === "Continue")).toBe(
      true
    )
  })

  it("does not mutate its input", () => {
    const before = Object.freeze([1_000, 0])
    const decision = intensity.addRestart(before, 20_000, policy)
    expect(before).toEqual([1_000, 0])
    expect(decision.restarts).toEqual([20_000])
  })
})

describe("heartbeat.tick", () => {
  /** runs one tick per entry (true = a beat arrived in that period) and returns the steps */
  const run = (
    beats: ReadonlyArray<boolean>,
    config: heartbeat.BeatConfig,
    from: heartbeat.BeatState = heartbeat.healthy
  ) => {
    const steps: Array<heartbeat.Step> = []
    let state = from
    for (const beat of beats) {
      const step = heartbeat.tick(state, beat, config)
      steps.push(step)
      state = step.state
    }
    return steps
  }
  const lowAt = (steps: ReadonlyArray<heartbeat.Step>) => steps.flatMap((s, i) => (s.low ? [i + 1] : []))
  const highAt = (steps: ReadonlyArray<heartbeat.Step>) => steps.flatMap((s, i) => (s.high ? [i + 1] : []))
  const misses = (n: number) => Array.from({ length: n }, () => false)

  it("healthy is the initial state", () => {
    expect(heartbeat.healthy).toEqual({ missed: 0, lowFired: false, highFired: false })
    expect(heartbeat.isUnhealthy(heartbeat.healthy)).toBe(false)
  })

  it("low fires exactly at missedLow, high exactly at missedHigh", () => {
    const steps = run(misses(4), { missedLow: 2, missedHigh: 4 })
    expect(lowAt(steps)).toEqual([2])
    expect(highAt(steps)).toEqual([4])
    expect(steps.map((s) => s.state.missed)).toEqual([1, 2, 3, 4])
  })

  it("each level fires once per episode", () => {
    const steps = run(misses(20), { missedLow: 2, missedHigh: 4 })
    expect(lowAt(steps)).toEqual([2])
    expect(highAt(steps)).toEqual([4])
    expect(steps[19].state).toEqual({ missed: 20, lowFired: true, highFired: true })
  })

  it("a beaten period resets the consecutive count", () => {
    // miss, beat, miss, miss: low at the 4th tick, not the 3rd
    const steps = run([false, true, false, false], { missedLow: 2, missedHigh: 0 })
    expect(steps.map((s) => s.state.missed)).toEqual([1, 0, 1, 2])
    expect(lowAt(steps)).toEqual([4])
    expect(steps[1].low || steps[1].high).toBe(false)
  })

  it("beats never fire anything", () => {
    const steps = run([true, true, true], { missedLow: 1, missedHigh: 1 })
    expect(steps.every((s) => !s.low && !s.high && s.state.missed === 0)).toBe(true)
  })

  it("0 disables a level", () => {
    const noLow = run(misses(10), { missedLow: 0, missedHigh: 3 })
    expect(lowAt(noLow)).toEqual([])
    expect(highAt(noLow)).toEqual([3])
    expect(noLow[9].state.lowFired).toBe(false)
    const noHigh = run(misses(10), { missedLow: 3, missedHigh: 0 })
    expect(lowAt(noHigh)).toEqual([3])
    expect(highAt(noHigh)).toEqual([])
    const none = run(misses(10), { missedLow: 0, missedHigh: 0 })
    expect(none.some((s) => s.low || s.high)).toBe(false)
    expect(heartbeat.isUnhealthy(none[9].state)).toBe(false)
  })

  it("missedLow == missedHigh fires both on the same tick", () => {
    const steps = run(misses(6), { missedLow: 3, missedHigh: 3 })
    expect(lowAt(steps)).toEqual([3])
    expect(highAt(steps)).toEqual([3])
    expect(steps[2].low && steps[2].high).toBe(true)
  })

  it("late beats reset the count but not the fired flags: no refire in the same episode", () => {
    const config = { missedLow: 2, missedHigh: 4 }
    // low fires at tick 2; beats at 3 and 4; misses again from 5: low must not refire at 6
    const steps = run([false, false, true, true, false, false, false, false], config)
    expect(lowAt(steps)).toEqual([2])
    expect(steps[3].state).toEqual({ missed: 0, lowFired: true, highFired: false })
    expect(heartbeat.isUnhealthy(steps[3].state)).toBe(true)
    // high had not fired in this episode: it fires at the 4th consecutive miss (tick 8)
    expect(highAt(steps)).toEqual([8])
  })

  it("heal re-arms both levels and keeps the count of consecutive misses", () => {
    const config = { missedLow: 2, missedHigh: 4 }
    const steps = run(misses(2), config)
    const healed = heartbeat.heal(steps[1].state)
    expect(healed).toEqual({ missed: 2, lowFired: false, highFired: false })
    expect(heartbeat.isUnhealthy(healed)).toBe(false)
    // still hung: the count goes on, low does not refire (it fires on reaching 2), high fires at 4
    const third = heartbeat.tick(healed, false, config)
    const fourth = heartbeat.tick(third.state, false, config)
    expect([third.low, third.high, fourth.low, fourth.high]).toEqual([false, false, false, true])
    // heal leaves a healthy state as it is
    expect(heartbeat.heal(heartbeat.healthy)).toBe(heartbeat.healthy)
  })

  it("isUnhealthy once either level fired", () => {
    const low = run(misses(2), { missedLow: 2, missedHigh: 4 })
    expect(heartbeat.isUnhealthy(low[0].state)).toBe(false)
    expect(heartbeat.isUnhealthy(low[1].state)).toBe(true)
    const high = run(misses(4), { missedLow: 0, missedHigh: 4 })
    expect(heartbeat.isUnhealthy(high[2].state)).toBe(false)
    expect(heartbeat.isUnhealthy(high[3].state)).toBe(true)
  })

  it("after a reset to healthy a new episode fires again", () => {
    const config = { missedLow: 2, missedHigh: 4 }
    const first = run(misses(5), config)
    expect(lowAt(first)).toEqual([2])
    // the heartbeatHealthy action: back to the healthy state
    const second = run(misses(5), config, heartbeat.healthy)
    expect(lowAt(second)).toEqual([2])
    expect(highAt(second)).toEqual([4])
    // without the reset, nothing fires
    expect(run(misses(5), config, first[4].state).some((s) => s.low || s.high)).toBe(false)
  })

  it("does not mutate the state it is given", () => {
    const state: heartbeat.BeatState = Object.freeze({ missed: 1, lowFired: false, highFired: false })
    const step = heartbeat.tick(state, false, { missedLow: 2, missedHigh: 4 })
    expect(state.missed).toBe(1)
    expect(step.state.missed).toBe(2)
    expect(step.low).toBe(true)
  })
})
