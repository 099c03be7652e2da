/**
 * Property-based tests (fast-check, through `it.prop` of @effect/vitest) of the HAM's pure rules:
 *
 * - restart intensity (`intensity.addRestart`): never more than `maxRestarts` restarts within any
 *   window, a give-up exactly when the window is full;
 * - the restart decision (`restart.decide`): intensity first, then the back-off schedule, which
 *   starts afresh after a life that lasted `backoffResetMillis`;
 * - heartbeat quantisation (`heartbeat.tick`, `heal`): a level fires exactly when the count of
 *   consecutive misses reaches it and it was armed, at most once per episode;
 * - state and raise filters (`matchStateFilter`, `matchRaiseFilter`): wildcards, `in`, `notIn`;
 * - the validation formatter (`formatParseError`): one line, whatever the input.
 *
 * Each property is checked on fast-check's default 100 runs (a seed is printed on failure).
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, ParseResult, Schedule, Schema } from "effect"
import * as fc from "fast-check"
import * as action_ from "../src/internal/action.js"
import * as cond from "../src/internal/condition.js"
import * as entity_ from "../src/internal/entity.js"
import * as restart_ from "../src/internal/ham/restart.js"
import * as validate from "../src/internal/ham/validate.js"
import * as heartbeat from "../src/internal/heartbeat.js"
import * as intensity from "../src/internal/intensity.js"

const sorted = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)

// ---------------------------------------------------------------------------------------------
// restart intensity
// ---------------------------------------------------------------------------------------------

/** times are drawn on a grid of 100 ms (and now and then off it) so that boundaries are often hit exactly */
const millisArb = (minTicks: number, maxTicks: number) =>
  fc.oneof(
    { weight: 4, arbitrary: fc.integer({ min: minTicks, max: maxTicks }).map((ticks) => ticks * 100) },
    { weight: 1, arbitrary: fc.integer({ min: Math.max(minTicks * 100, 1), max: maxTicks * 100 }) }
  )

const intensityArb = fc.record({ maxRestarts: fc.integer({ min: 0, max: 6 }), withinMillis: millisArb(1, 20) })

/** the times between consecutive restart attempts (0: two at the same instant) */
const gapsArb = fc.array(millisArb(0, 8), { maxLength: 40 })

describe("restart intensity (addRestart)", () => {
  it.prop(
    "never more than maxRestarts within any window; a give-up exactly when the window is full",
    [intensityArb, gapsArb],
    ([config, gaps]) => {
      const { maxRestarts: max, withinMillis: within } = config
      let now = 0
      let window: ReadonlyArray<number> = []
      const accepted: Array<number> = []
      for (const gap of gaps) {
        now += gap
        const decision = intensity.addRestart(window, now, config)
        const inWindow = accepted.filter((t) => t > now - within)
        expect(decision._tag).toBe(inWindow.length < max ? "Continue" : "GiveUp")
        // the decision's window: now and the restarts still inside it
        expect(sorted(decision.restarts)).toEqual(sorted([now, ...inWindow]))
        // a refused restart is not recorded (restart.ts), an accepted one is
        if (decision._tag === "Continue") {
          accepted.push(now)
          window = decision.restarts
        }
      }
      // every window (t - within, t] holds at most max accepted restarts
      for (const t of accepted) {
        expect(accepted.filter((u) => u > t - within && u <= t).length).toBeLessThanOrEqual(max)
      }
    }
  )

  it.prop(
    "waitFor: the least wait after which one more restart fits (undefined: never)",
    [intensityArb, gapsArb, millisArb(0, 8)],
    ([config, gaps, extra]) => {
      let now = 0
      let window: ReadonlyArray<number> = []
      for (const gap of gaps) {
        now += gap
        const decision = intensity.addRestart(window, now, config)
        if (decision._tag === "Continue") window = decision.restarts
      }
      now += extra
      const wait = intensity.waitFor(window, now, config)
      if (config.maxRestarts < 1) {
        expect(wait).toBeUndefined()
      } else {
        expect(wait).toBeGreaterThanOrEqual(0)
        expect(intensity.addRestart(window, now + wait!, config)._tag).toBe("Continue")
        if (wait! > 0) expect(intensity.addRestart(window, now + wait! - 1, config)._tag).toBe("GiveUp")
      }
    }
  )

  it.prop("Infinity never gives up and keeps no window", [gapsArb], ([gaps]) => {
    let now = 0
    for (const gap of gaps) {
      now += gap
      const decision = intensity.addRestart([], now, { maxRestarts: Infinity, withinMillis: 1_000 })
      expect(decision).toEqual({ _tag: "Continue", restarts: [] })
    }
  })
})

// ---------------------------------------------------------------------------------------------
// the restart decision: intensity, then back-off
// ---------------------------------------------------------------------------------------------

/** a decision, its schedule step run when there is one */
const decideNow = (...args: Parameters<typeof restart_.decide>): restart_.Decision => {
  const decision = restart_.decide(...args)
  return Effect.isEffect(decision) ? Effect.runSync(decision) : decision
}

/** how long each life lasted, and the back-off's base delay and reset time */
const livesArb = fc.array(millisArb(0, 30), { minLength: 1, maxLength: 25 })

describe("the restart decision (restart.decide)", () => {
  it.prop(
    "without a back-off: a restart at once exactly when the intensity allows it, the back-off state untouched",
    [intensityArb, gapsArb, fc.anything()],
    ([config, gaps, backoffState]) => {
      const policy = { intensity: config, backoff: undefined, backoffResetMillis: 0 }
      let now = 0
      let restartTimes: ReadonlyArray<number> = []
      for (const gap of gaps) {
        now += gap
        const expected = intensity.addRestart(restartTimes, now, config)
        const decision = restart_.decide({ restartTimes, backoffState }, 0, policy, now)
        if (Effect.isEffect(decision)) throw new Error("a decision without back-off must not step a schedule")
        expect(decision._tag).toBe(expected._tag === "Continue" ? "Restart" : "GiveUp")
        expect(decision.restartTimes).toEqual(expected.restarts)
        expect(decision.backoffState).toBe(backoffState)
        if (decision._tag === "Restart") {
          expect(decision.delayMillis).toBe(0)
          restartTimes = decision.restartTimes
        } else {
          expect(decision.reason).toBe("intensity")
        }
      }
    }
  )

  it.prop(
    "exponential back-off: base * 2^k after k short lives in a row; a life of backoffResetMillis or more restarts at once and starts it afresh; recurs(n) ends it after n",
    [livesArb, fc.integer({ min: 1, max: 200 }), millisArb(1, 20), fc.integer({ min: 0, max: 8 })],
    ([lives, base, reset, recurs]) => {
      const backoff = Schedule.exponential(Duration.millis(base)).pipe(Schedule.intersect(Schedule.recurs(recurs)))
      const policy = { intensity: { maxRestarts: Infinity, withinMillis: 1 }, backoff, backoffResetMillis: reset }
      let past: restart_.RestartHistory = { restartTimes: [], backoffState: undefined }
      let lastStart = 0
      let streak = 0 // consecutive backed-off restarts since the back-off last started afresh
      for (const life of lives) {
        const now = lastStart + life
        const decision = decideNow(past, lastStart, policy, now)
        if (life >= reset) {
          expect(decision).toMatchObject({ _tag: "Restart", delayMillis: 0, backoffState: undefined })
          streak = 0
        } else if (streak >= recurs) {
          expect(decision).toMatchObject({ _tag: "GiveUp", reason: "backoffEnded" })
          return
        } else {
          expect(decision).toMatchObject({ _tag: "Restart", delayMillis: base * 2 ** streak })
          streak++
        }
        past = { restartTimes: decision.restartTimes, backoffState: decision.backoffState }
        lastStart = now + (decision._tag === "Restart" ? decision.delayMillis : 0)
      }
    }
  )

  it.prop(
    "the intensity is checked before the back-off: a refused restart does not step the schedule",
    [fc.integer({ min: 0, max: 4 }), fc.integer({ min: 1, max: 100 })],
    ([max, base]) => {
      const backoff = Schedule.spaced(Duration.millis(base))
      const policy = {
        intensity: { maxRestarts: max, withinMillis: 1_000_000 },
        backoff,
        backoffResetMillis: 1_000_000
      }
      let past: restart_.RestartHistory = { restartTimes: [], backoffState: undefined }
      for (let i = 0; i < max; i++) {
        const decision = decideNow(past, i, policy, i + 1)
        expect(decision).toMatchObject({ _tag: "Restart", delayMillis: base })
        past = decision
      }
      const refused = restart_.decide(past, max, policy, max + 1)
      expect(Effect.isEffect(refused)).toBe(false)
      expect(refused).toMatchObject({ _tag: "GiveUp", reason: "intensity", backoffState: past.backoffState })
    }
  )
})

// ---------------------------------------------------------------------------------------------
// heartbeat quantisation
// ---------------------------------------------------------------------------------------------

/** levels as validation allows them: 0 (off), and low <= high when both are on */
const beatConfigArb = fc
  .record({ missedLow: fc.integer({ min: 0, max: 5 }), missedHigh: fc.integer({ min: 0, max: 8 }) })
  .filter((c) => c.missedLow === 0 || c.missedHigh === 0 || c.missedLow <= c.missedHigh)

/** what happens in each period: a beat, a miss, or a heartbeatHealthy action between periods */
const periodsArb = fc.array(fc.constantFrom("beat" as const, "miss" as const, "heal" as const), { maxLength: 80 })

describe("heartbeat quantisation (tick, heal)", () => {
  it.prop(
    "a level fires exactly when the misses in a row reach it and it was armed: once per episode, again only after a heal",
    [beatConfigArb, periodsArb],
    ([config, periods]) => {
      let state = heartbeat.healthy
      let misses = 0 // consecutive missed periods since the last beat
      const level = {
        low: { at: config.missedLow, armed: true, firedThisEpisode: false },
        high: { at: config.missedHigh, armed: true, firedThisEpisode: false }
      }
      for (const period of periods) {
        if (period === "heal") {
          state = heartbeat.heal(state)
          expect(state.missed).toBe(misses)
          level.low.armed = level.high.armed = true
          continue
        }
        const step = heartbeat.tick(state, period === "beat", config)
        state = step.state
        if (period === "beat") {
          misses = 0
          level.low.firedThisEpisode = level.high.firedThisEpisode = false
        } else {
          misses++
        }
        expect(state.missed).toBe(misses)
        for (const [name, fired] of [["low", step.low], ["high", step.high]] as const) {
          const l = level[name]
          expect(fired).toBe(period === "miss" && l.at > 0 && misses === l.at && l.armed)
          if (fired) {
            expect(l.firedThisEpisode).toBe(false)
            l.firedThisEpisode = true
            l.armed = false
          }
        }
        expect(heartbeat.isUnhealthy(state)).toBe(!level.low.armed || !level.high.armed)
      }
    }
  )
})

// ---------------------------------------------------------------------------------------------
// state and raise filters
// ---------------------------------------------------------------------------------------------

/** small states (so that filters and events meet), and now and then a large safe one */
const stateArb = fc.oneof(
  { weight: 9, arbitrary: fc.integer({ min: 0, max: 12 }) },
  { weight: 1, arbitrary: fc.maxSafeNat() }
)
const matchArb: fc.Arbitrary<cond.StateMatch> = fc.oneof(
  stateArb,
  fc.record({ in: fc.array(stateArb, { maxLength: 5 }) }),
  fc.record({ notIn: fc.array(stateArb, { maxLength: 5 }) })
)
const decodeStateFilter = Schema.decodeUnknownSync(cond.StateFilter)
const decodeRaiseFilter = Schema.decodeUnknownSync(cond.RaiseFilter)

const stateEvent = (from: number, to: number): cond.StateEvent => ({
  _tag: "CondState",
  entity: "e",
  time: 0,
  seq: 0,
  from,
  to
})

describe("state filters (matchStateFilter)", () => {
  it.prop("0 matches every state, another state only itself; in and notIn are complements", [matchArb, stateArb], ([
    match,
    state
  ]) => {
    const matched = cond.matchState(match, state)
    if (typeof match === "number") expect(matched).toBe(match === cond.StateAny || match === state)
    else if ("in" in match) {
      expect(matched).toBe(match.in.includes(state))
      expect(cond.matchState({ notIn: match.in }, state)).toBe(!matched)
    } else expect(matched).toBe(!match.notIn.includes(state))
  })

  it.prop(
    "a filter matches a transition when both sides match; an absent side matches any state",
    [fc.option(matchArb, { nil: undefined }), fc.option(matchArb, { nil: undefined }), stateArb, stateArb],
    ([from, to, a, b]) => {
      const filter = decodeStateFilter({ ...(from === undefined ? {} : { from }), ...(to === undefined ? {} : { to }) })
      const fromOk = from === undefined || cond.matchState(from, a)
      const toOk = to === undefined || cond.matchState(to, b)
      expect(cond.matchStateFilter(filter, stateEvent(a, b))).toBe(fromOk && toOk)
    }
  )
})

describe("raise filters (matchRaiseFilter)", () => {
  const fieldArb = fc.integer({ min: 0, max: 3 })
  const fieldsArb = fc.record({ type: fieldArb, class: fieldArb, severity: fieldArb })
  const partialArb = fc.record(
    { type: fieldArb, class: fieldArb, severity: fieldArb },
    { requiredKeys: [] }
  )

  it.prop(
    "each field matches when it is RaiseAny (0, or absent) or equal; the filter when all three do",
    [partialArb, fieldsArb, fc.string()],
    ([given, event, detail]) => {
      const filter = decodeRaiseFilter(given)
      const raise: cond.RaiseEvent = { _tag: "CondRaise", entity: "e", time: 0, seq: 0, ...event, detail }
      const fieldOk = (key: "type" | "class" | "severity") =>
        given[key] === undefined || given[key] === cond.RaiseAny || given[key] === event[key]
      expect(cond.matchRaiseFilter(filter, raise)).toBe(fieldOk("type") && fieldOk("class") && fieldOk("severity"))
      // the event's own fields always match it, the empty filter matches everything
      expect(cond.matchRaiseFilter(decodeRaiseFilter(event), raise)).toBe(true)
      expect(cond.matchRaiseFilter(decodeRaiseFilter({}), raise)).toBe(true)
    }
  )

  it.prop("the filters' and events' numbers are safe integers: above 2 ** 53 - 1 is refused", [
    fc.double({ min: 2 ** 53, max: 2 ** 60, noNaN: true })
  ], ([big]) => {
    expect(validate.isCount(big)).toBe(false)
    expect(() => decodeRaiseFilter({ type: big })).toThrow()
    expect(() => decodeStateFilter({ to: { in: [big] } })).toThrow()
  })
})

// ---------------------------------------------------------------------------------------------
// the validation formatter
// ---------------------------------------------------------------------------------------------

/** any value, with keys and strings that hold any character (line breaks and controls included) */
const anyInput = fc.anything({
  key: fc.string({ unit: "binary", maxLength: 6 }),
  values: [
    fc.string({ unit: "binary" }),
    fc.constantFrom("\n", "a\r\nb", "\u2028", "\u0000", "CondDeath\n"),
    fc.double(),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.constant(undefined)
  ],
  maxDepth: 3
})

/** the schemas user input is decoded with, by the name validation gives them */
const schemas: ReadonlyArray<readonly [string, Schema.Schema<any, any>]> = [
  ["state filter", cond.StateFilter],
  ["raise filter", cond.RaiseFilter],
  ["state", cond.Count],
  ["condition type", cond.ConditionTypeSchema],
  ["entity name", entity_.Name],
  ["action", action_.ActionData],
  ["raise", Schema.Struct({ type: cond.Count, class: cond.Count, severity: cond.Count, detail: Schema.String })]
]

describe("the validation formatter (formatParseError)", () => {
  it.prop(
    "every refusal is one non-empty line",
    [fc.constantFrom(...schemas), anyInput],
    ([[argument, schema], input]) => {
      const result = Schema.decodeUnknownEither(schema)(input)
      if (result._tag === "Right") return
      const sentence = validate.formatParseError(result.left)
      expect(sentence.length).toBeGreaterThan(0)
      expect(sentence).not.toMatch(/[\r\n\u2028\u2029]/)
      const error = Effect.runSync(Effect.flip(validate.decodeWith(schema, argument)(input)))
      expect(error.message).toBe(`invalid ${argument}: ${sentence}`)
    }
  )

  it.prop(
    "a field's path and value are shown whatever characters its key holds",
    [fc.string({ unit: "binary", minLength: 1, maxLength: 8 }), anyInput],
    ([key, value]) => {
      const result = Schema.decodeUnknownEither(Schema.Record({ key: Schema.String, value: cond.Count }))({
        [key]: value
      })
      if (result._tag === "Right") return
      expect(validate.formatParseError(result.left)).not.toMatch(/[\r\n\u2028\u2029]/)
      expect(ParseResult.isParseError(result.left)).toBe(true)
    }
  )
})
