/**
 * The options of an entity's probe and resource limits (`Ham.attach`'s `probe` and `limits`),
 * checked at the boundary: an unknown key, a negative or zero interval, a threshold that is not a
 * count, a probe with no target or two targets are `InvalidArgument`s, and nothing is attached.
 * The JSON forms (the protocol's, the daemon's config file) are the Schemas below.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { InvalidArgument } from "../../HamError.js"
import type * as Api from "../../HamService.js"
import * as cond from "../condition.js"
import { checkOptions, invalid, millisOf } from "../ham/validate.js"
import * as json from "../json.js"
import * as options_ from "../options.js"

/** @internal what a probe checks */
export type ProbeTarget =
  | { readonly _tag: "Http"; readonly url: string }
  | { readonly _tag: "Tcp"; readonly host: string; readonly port: number }
  | { readonly _tag: "Exec"; readonly argv: ReadonlyArray<string> }

/** @internal a probe, checked */
export interface ProbeConfig {
  readonly target: ProbeTarget
  readonly intervalMillis: number
  readonly timeoutMillis: number
  readonly missedLow: number
  readonly missedHigh: number
  readonly graceMillis: number
}

/** @internal resource limits, checked */
export interface LimitConfig {
  /** the RSS limit in bytes */
  readonly memoryBytes: number | undefined
  /** the CPU limit in percent of one core */
  readonly cpuPercent: number | undefined
  /** how many consecutive samples over a limit raise its condition */
  readonly samples: number
  readonly intervalMillis: number
}

/** @internal the defaults (Kubernetes' timeout and failure threshold; a 10 s period) */
export const probeDefaults = { intervalMillis: 10_000, timeoutMillis: 1_000, missedLow: 1, missedHigh: 3 } as const

/** @internal the defaults of the limits: a sample a second, three over the limit in a row */
export const limitDefaults = { samples: 3, intervalMillis: 1_000 } as const

const fail = (argument: string, reason: string): Effect.Effect<never, InvalidArgument> =>
  Effect.fail(invalid(argument, reason))

const got = (value: unknown): string => ` (got ${options_.show(value)})`

const probeKeys: ReadonlyArray<keyof Api.ProbeOptions> = [
  "http",
  "tcp",
  "exec",
  "interval",
  "timeout",
  "missedLow",
  "missedHigh",
  "startupGrace"
]

const count = (value: unknown, argument: string, fallback: number): Effect.Effect<number, InvalidArgument> =>
  value === undefined
    ? Effect.succeed(fallback)
    : cond.Count.pipe(Schema.is)(value)
    ? Effect.succeed(value)
    : fail(argument, `must be a non-negative integer${got(value)}`)

const targetOf = (options: Api.ProbeOptions): Effect.Effect<ProbeTarget, InvalidArgument> => {
  const given = (["http", "tcp", "exec"] as const).filter((k) => options[k] !== undefined)
  if (given.length !== 1) {
    return fail("probe", `needs exactly one of http, tcp, exec (got ${given.length === 0 ? "none" : given.join(", ")})`)
  }
  if (options.http !== undefined) {
    const url = options.http
    let parsed: URL | undefined
    try {
      parsed = typeof url === "string" ? new URL(url) : undefined
    } catch {
      parsed = undefined
    }
    return parsed !== undefined && (parsed.protocol === "http:" || parsed.protocol === "https:")
      ? Effect.succeed({ _tag: "Http", url: parsed.href })
      : fail("probe.http", `must be an http:// or https:// URL${got(url)}`)
  }
  if (options.tcp !== undefined) {
    const tcp = options.tcp
    return Effect.gen(function*() {
      yield* checkOptions(tcp, ["port", "host"], "probe.tcp")
      if (!(Number.isInteger(tcp.port) && tcp.port >= 1 && tcp.port <= 65535)) {
        return yield* fail("probe.tcp.port", `must be an integer from 1 to 65535${got(tcp.port)}`)
      }
      const host = tcp.host ?? "127.0.0.1"
      if (typeof host !== "string" || host.length === 0) {
        return yield* fail("probe.tcp.host", `must be a non-empty string${got(host)}`)
      }
      return { _tag: "Tcp", host, port: tcp.port } as const
    })
  }
  const argv = options.exec
  return Array.isArray(argv) && argv.length > 0 && argv.every((a) => typeof a === "string") && argv[0] !== ""
    ? Effect.succeed({ _tag: "Exec", argv: [...argv] })
    : fail("probe.exec", `must be a non-empty array of strings, the command and its arguments${got(argv)}`)
}

/** @internal a probe's options, checked */
export const validateProbe = (
  options: Api.ProbeOptions | undefined
): Effect.Effect<ProbeConfig | undefined, InvalidArgument> => {
  if (options === undefined) return Effect.succeed(undefined)
  return Effect.gen(function*() {
    yield* checkOptions(options, probeKeys, "probe")
    const target = yield* targetOf(options)
    const intervalMillis = options.interval === undefined
      ? probeDefaults.intervalMillis
      : yield* millisOf(options.interval, "probe.interval", 1)
    const timeoutMillis = options.timeout === undefined
      ? Math.min(probeDefaults.timeoutMillis, intervalMillis)
      : yield* millisOf(options.timeout, "probe.timeout", 1)
    if (timeoutMillis > intervalMillis) {
      return yield* fail("probe.timeout", `must not exceed the interval (got ${timeoutMillis} > ${intervalMillis} ms)`)
    }
    const missedLow = yield* count(options.missedLow, "probe.missedLow", probeDefaults.missedLow)
    const missedHigh = yield* count(options.missedHigh, "probe.missedHigh", probeDefaults.missedHigh)
    if (missedLow > 0 && missedHigh > 0 && missedLow > missedHigh) {
      return yield* fail("probe", `missedLow must not exceed missedHigh (got ${missedLow} > ${missedHigh})`)
    }
    const graceMillis = options.startupGrace === undefined
      ? 0
      : yield* millisOf(options.startupGrace, "probe.startupGrace", 0)
    return { target, intervalMillis, timeoutMillis, missedLow, missedHigh, graceMillis }
  })
}

const limitKeys: ReadonlyArray<keyof Api.LimitOptions> = ["memory", "cpu", "samples", "interval"]

/** @internal resource limits, checked */
export const validateLimits = (
  options: Api.LimitOptions | undefined
): Effect.Effect<LimitConfig | undefined, InvalidArgument> => {
  if (options === undefined) return Effect.succeed(undefined)
  return Effect.gen(function*() {
    yield* checkOptions(options, limitKeys, "limits")
    const { cpu, memory } = options
    if (memory === undefined && cpu === undefined) return yield* fail("limits", "needs memory, cpu or both")
    if (memory !== undefined && !(Number.isSafeInteger(memory) && memory > 0)) {
      return yield* fail("limits.memory", `must be a positive integer of bytes${got(memory)}`)
    }
    if (cpu !== undefined && !(typeof cpu === "number" && Number.isFinite(cpu) && cpu > 0)) {
      return yield* fail("limits.cpu", `must be a positive number, percent of one core${got(cpu)}`)
    }
    const samples = options.samples ?? limitDefaults.samples
    if (!(Number.isSafeInteger(samples) && samples >= 1)) {
      return yield* fail("limits.samples", `must be a positive integer${got(samples)}`)
    }
    const intervalMillis = options.interval === undefined
      ? limitDefaults.intervalMillis
      : yield* millisOf(options.interval, "limits.interval", 1)
    return { memoryBytes: memory, cpuPercent: cpu, samples, intervalMillis }
  })
}

// ---------------------------------------------------------------------------------------------
// JSON forms: the protocol's attach options and the daemon's config file
// ---------------------------------------------------------------------------------------------

/** @internal a probe as JSON (checked again by `validateProbe` when it is attached) */
export const ProbeJson = Schema.Struct({
  http: Schema.optional(Schema.String).annotations({ description: "GET this URL: a 2xx or 3xx status passes" }),
  tcp: Schema.optional(Schema.Struct({ port: Schema.Int, host: Schema.optional(Schema.String) })).annotations({
    description: "connect to this port (host default 127.0.0.1): an accepted connection passes"
  }),
  exec: Schema.optional(Schema.Array(Schema.String)).annotations({
    description: "run this command (no shell): exit code 0 passes; killed at the timeout"
  }),
  interval: Schema.optional(json.DurationInput).annotations({ description: "between two probes (default 10 s)" }),
  timeout: Schema.optional(json.DurationInput).annotations({ description: "a probe's time (default 1 s)" }),
  missedLow: Schema.optional(Schema.NonNegativeInt).annotations({
    description: "consecutive failures that fire CondBeatMissedLow (default 1; 0: never)"
  }),
  missedHigh: Schema.optional(Schema.NonNegativeInt).annotations({
    description: "consecutive failures that fire CondBeatMissedHigh (default 3; 0: never)"
  }),
  startupGrace: Schema.optional(json.DurationInput).annotations({
    description: "after a start, failures are not counted until the probe passes or this time is over"
  })
}).annotations({ identifier: "Probe", description: "a health check the HAM runs against the entity" })

/** @internal resource limits as JSON */
export const LimitsJson = Schema.Struct({
  memory: Schema.optional(Schema.Int).annotations({ description: "the RSS limit in bytes" }),
  cpu: Schema.optional(Schema.Number).annotations({ description: "the CPU limit in percent of one core" }),
  samples: Schema.optional(Schema.Int).annotations({
    description: "consecutive samples over a limit that raise its condition (default 3)"
  }),
  interval: Schema.optional(json.DurationInput).annotations({ description: "between two samples (default 1 s)" })
}).annotations({
  identifier: "Limits",
  description: "raise CondRaise (type RaiseTypeHam, class RaiseClassMemoryLimit or RaiseClassCpuLimit) " +
    "when the process stays over a limit"
})
