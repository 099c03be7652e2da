/**
 * Validation at the boundary: every argument the HAM is given is checked here before anything
 * changes. A refusal is an `InvalidArgument` whose message is one sentence naming the field and
 * the rule it breaks (`invalid restartIntensity.maxRestarts: must be a non-negative integer or
 * Infinity (got -1)`, `invalid attach options: unknown option "restartIntensty" (known: ...)`),
 * never a rendered Schema tree. Unknown keys of an options object are refused too.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { constants as osConstants } from "node:os"
import type * as Entity from "../../Entity.js"
import { InvalidArgument } from "../../HamError.js"
import type * as Api from "../../HamService.js"
import * as action_ from "../action.js"
import * as cond from "../condition.js"
import * as entity_ from "../entity.js"
import type * as intensity_ from "../intensity.js"
import type * as launch from "../launch/launcher.js"
import * as output_ from "../launch/output.js"
import * as node_ from "../node.js"
import * as options_ from "../options.js"
import * as procfs from "../procfs.js"

/** @internal */
export const invalid = (argument: string, reason: string): InvalidArgument => new InvalidArgument({ argument, reason })

const fail = (argument: string, reason: string): Effect.Effect<never, InvalidArgument> =>
  Effect.fail(invalid(argument, reason))

/** @internal fails when an options object is not an object or has a key not in `known` */
export const checkOptions = options_.checkOptions

const got = (value: unknown): string => ` (got ${options_.show(value)})`

// ---------------------------------------------------------------------------------------------
// Schema decoding: one sentence from a ParseError
// ---------------------------------------------------------------------------------------------

const expectedActual = /^Expected (.+), actual [\s\S]+$/
const literal = /^(".*"|-?\d+(\.\d+)?|true|false|null)$/
const primitives = new Set(["string", "number", "boolean", "bigint", "symbol", "object"])

const literals = /^(".*"|-?\d+(\.\d+)?|true|false|null)( \| (".*"|-?\d+(\.\d+)?|true|false|null))+$/

/** "must be <what was expected>", in words */
const mustBe = (expected: string): string => {
  if (literals.test(expected)) return `must be one of ${expected.split(" | ").join(", ")}`
  if (expected.startsWith("a ") || expected.startsWith("an ") || literal.test(expected)) return `must be ${expected}`
  if (expected.startsWith("{") || expected.startsWith("Struct")) return "must be an object"
  if (expected.startsWith("ReadonlyArray<") || expected.endsWith("[]")) return "must be an array"
  if (primitives.has(expected)) return `must be ${expected === "object" ? "an" : "a"} ${expected}`
  return `must be ${expected}`
}

const valueAt = (input: unknown, path: ReadonlyArray<PropertyKey>): unknown =>
  path.reduce<unknown>((value, key) => (Predicate.isObject(value) ? (value as any)[key] : undefined), input)

/** a key of a path as a message shows it: as it is when it is a plain name or an index, else quoted and escaped */
const segment = (key: PropertyKey): string =>
  typeof key === "number" || (typeof key === "string" && /^[\w$-]+$/.test(key)) ? String(key) : options_.show(key)

/**
 * The first problem of a failed decoding as one sentence: the path of the field (empty for the
 * value itself), the rule and the value, e.g. `from.in.0 must be a non-negative integer (got -1)`.
 * Of the issues, the deepest is taken (in a union, the member that matched furthest); a value that
 * is none of a set of literals gets them all (`must be one of "CondAny", "CondDeath", ...`).
 *
 * @internal
 */
export const formatParseError = (error: ParseResult.ParseError): string => {
  const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
  const depth = Math.max(...issues.map((issue) => issue.path.length))
  const deepest = issues.filter((issue) => issue.path.length === depth)
  // the `undefined` alternative of an optional field says nothing the other issue does not
  const telling = deepest.filter((issue) => !issue.message.startsWith("Expected undefined,"))
  // something local to this process that cannot be written tells why, whatever else a union says
  const first = telling.find((issue) => issue._tag === "Forbidden") ?? (telling.length > 0 ? telling : deepest)[0]
  const at = first.path.length === 0 ? "" : `${first.path.map(segment).join(".")} `
  if (first._tag === "Missing") return `${at}is missing`
  if (first._tag === "Forbidden") return `${at === "" ? "" : `${at.trimEnd()}: `}${first.message}`
  const value = got(valueAt(error.issue.actual, first.path))
  if (first._tag === "Unexpected") {
    const known = /expected: (.+)$/.exec(first.message)?.[1]
    const fields = known === undefined ? "" : `; the fields are ${known.replace(/ \| /g, ", ")}`
    return `${at}is not allowed (got ${options_.show(valueAt(error.issue.actual, first.path))}${fields})`
  }
  // the members of a union that failed here: each says what it expected
  const expected = [
    ...new Set(telling.map((issue) => expectedActual.exec(issue.message)?.[1]).filter((e) => e !== undefined))
  ]
  if (expected.length > 1 && expected.length === telling.length) {
    return expected.every((e) => literal.test(e))
      ? `${at}must be one of ${expected.join(", ")}${value}`
      : `${at}must be ${expected.map((e) => mustBe(e).slice("must be ".length)).join(" or ")}${value}`
  }
  const one = expectedActual.exec(first.message)?.[1]
  return `${at}${one === undefined ? first.message : mustBe(one)}${value}`
}

/** @internal the decoder of user input: a failure is an InvalidArgument of `argument`, in one sentence */
export const decodeWith = <A, I>(schema: Schema.Schema<A, I>, argument: string) => {
  const decode = Schema.decodeUnknownEither(schema)
  return (input: unknown): Effect.Effect<A, InvalidArgument> => {
    const result = decode(input)
    return result._tag === "Right" ? Effect.succeed(result.right) : fail(argument, formatParseError(result.left))
  }
}

/** a decoder of an options object: its unknown keys are refused first */
const decodeOptions = <Fields extends Schema.Struct.Fields>(schema: Schema.Struct<Fields>, argument: string) => {
  const decode = decodeWith(schema as unknown as Schema.Schema<Schema.Struct.Type<Fields>, unknown>, argument)
  const known = Object.keys(schema.fields)
  return (input: unknown) => Effect.zipRight(checkOptions(input, known, argument), decode(input))
}

// ---------------------------------------------------------------------------------------------
// names, states, raises, filters, verbosity
// ---------------------------------------------------------------------------------------------

/** @internal */
export const validateName = (kind: string) => decodeWith(entity_.Name, `${kind} name`)
/** @internal */
export const validateEntityName = validateName("entity")
/** @internal */
export const validateConditionName = validateName("condition")
/** @internal */
export const validateActionName = validateName("action")
/** @internal */
export const validateState = decodeWith(cond.Count, "state")
/** @internal */
export const validateRaise = decodeWith(
  Schema.Struct({
    type: cond.Count,
    class: cond.Count,
    severity: cond.Count,
    detail: Schema.optionalWith(Schema.String, { default: () => "" })
  }),
  "raise"
)
/** @internal */
export const validateStateFilter = decodeOptions(cond.StateFilter, "state filter")
/** @internal */
export const validateRaiseFilter = decodeOptions(cond.RaiseFilter, "raise filter")
/** @internal */
export const validateVerbosity = decodeWith(cond.Count, "verbosity")
/** @internal a non-negative safe integer (`cond.Count`: the hot path's check, without Schema) */
export const isCount = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0

/** @internal */
export const validateConditionType = decodeWith(cond.ConditionTypeSchema, "condition type")

// ---------------------------------------------------------------------------------------------
// durations, heartbeat, restart policy, the layer's and attach's options
// ---------------------------------------------------------------------------------------------

/** @internal a duration in milliseconds, finite and at least `min` */
export const millisOf = (input: unknown, argument: string, min: number): Effect.Effect<number, InvalidArgument> =>
  options_.isNegativeDuration(input)
    ? fail(argument, `must be a finite duration of at least ${min} ms${got(input)}`)
    : Option.match(Duration.decodeUnknown(input), {
      onNone: () => fail(argument, `must be a duration such as "5 seconds"${got(input)}`),
      onSome: (d) => {
        const ms = Duration.toMillis(d)
        return ms >= min && Number.isFinite(ms)
          ? Effect.succeed(ms)
          : fail(argument, `must be a finite duration of at least ${min} ms${got(input)}`)
      }
    })

/** @internal a heartbeat, checked */
export interface HeartbeatConfig {
  readonly intervalMillis: number
  readonly missedLow: number
  readonly missedHigh: number
}

const heartbeatCounts = decodeWith(Schema.Struct({ missedLow: cond.Count, missedHigh: cond.Count }), "heartbeat")

/** @internal */
export const validateHeartbeat = (
  options: Api.HeartbeatOptions | undefined
): Effect.Effect<HeartbeatConfig | undefined, InvalidArgument> => {
  if (options === undefined) return Effect.succeed(undefined)
  return Effect.gen(function*() {
    yield* checkOptions(options, ["interval", "missedLow", "missedHigh"], "heartbeat")
    const intervalMillis = yield* millisOf(options.interval, "heartbeat.interval", 1)
    const counts = yield* heartbeatCounts(options)
    if (counts.missedLow > 0 && counts.missedHigh > 0 && counts.missedLow > counts.missedHigh) {
      return yield* fail(
        "heartbeat",
        `missedLow must not exceed missedHigh (got ${counts.missedLow} > ${counts.missedHigh})`
      )
    }
    return { intervalMillis, missedLow: counts.missedLow, missedHigh: counts.missedHigh }
  })
}

/** @internal an entity's restart policy, checked (shared by every entity with the same options) */
export interface Policy {
  readonly intensity: intensity_.Intensity
  readonly backoff: Schedule.Schedule<unknown> | undefined
  readonly backoffResetMillis: number
}

/** @internal */
export const validatePolicy = (
  options: Api.RestartPolicyOptions | undefined,
  base: Policy
): Effect.Effect<Policy, InvalidArgument> =>
  Effect.gen(function*() {
    if (options === undefined) return base
    let intensity = base.intensity
    if (options.restartIntensity !== undefined) {
      yield* checkOptions(options.restartIntensity, ["maxRestarts", "within"], "restartIntensity")
      const max = options.restartIntensity.maxRestarts ?? intensity.maxRestarts
      if (!(max === Infinity || (Number.isInteger(max) && max >= 0))) {
        return yield* fail("restartIntensity.maxRestarts", `must be a non-negative integer or Infinity${got(max)}`)
      }
      const within = options.restartIntensity.within === undefined
        ? intensity.withinMillis
        : yield* millisOf(options.restartIntensity.within, "restartIntensity.within", 1)
      intensity = { maxRestarts: max, withinMillis: within }
    }
    if (options.backoff !== undefined && options.backoff !== false && !Schedule.isSchedule(options.backoff)) {
      return yield* fail("backoff", `must be a Schedule or false${got(options.backoff)}`)
    }
    const backoff = options.backoff === undefined
      ? base.backoff
      : options.backoff === false
      ? undefined
      : options.backoff
    const backoffResetMillis = options.backoffResetAfter === undefined
      ? base.backoffResetMillis
      : yield* millisOf(options.backoffResetAfter, "backoffResetAfter", 0)
    return { intensity, backoff, backoffResetMillis }
  })

const policyKeys: ReadonlyArray<keyof Api.RestartPolicyOptions> = ["restartIntensity", "backoff", "backoffResetAfter"]

const hamOptionKeys: ReadonlyArray<keyof Api.HamOptions> = [
  ...policyKeys,
  "verbosity",
  "eventBuffer",
  "spawner",
  "metrics",
  "tracing"
]

/** @internal the options of `Ham.layer`, checked */
export const validateHamOptions = (options: Api.HamOptions | undefined, base: Policy) =>
  Effect.gen(function*() {
    yield* checkOptions(options, hamOptionKeys, "layer options")
    const policy = yield* validatePolicy(options, base)
    const verbosity = yield* validateVerbosity(options?.verbosity ?? 1)
    const eventBuffer = options?.eventBuffer ?? defaultEventBuffer
    const spawner = options?.spawner ?? "process"
    if (spawner !== "process" && spawner !== "inline") {
      return yield* fail("spawner", `must be "process" or "inline"${got(spawner)}`)
    }
    if (!Number.isInteger(eventBuffer) || eventBuffer < 1) {
      return yield* fail("eventBuffer", `must be a positive integer${got(eventBuffer)}`)
    }
    for (const key of ["metrics", "tracing"] as const) {
      const value = options?.[key]
      if (value !== undefined && typeof value !== "boolean") return yield* fail(key, `must be a boolean${got(value)}`)
    }
    return {
      policy,
      verbosity,
      eventBuffer,
      spawner,
      metrics: options?.metrics !== false,
      tracing: options?.tracing !== false
    }
  })

/** @internal the default number of undelivered events each subscriber keeps */
export const defaultEventBuffer = 4096

const attachOptionKeys: ReadonlyArray<keyof Api.AttachOptions> = [...policyKeys, "heartbeat", "probe", "limits"]

/** @internal the options of `Ham.attach` and `Ham.attachSelf`, checked */
export const validateAttachOptions = (
  options: Api.AttachOptions | undefined,
  base: Policy
): Effect.Effect<{ readonly heartbeat: HeartbeatConfig | undefined; readonly policy: Policy }, InvalidArgument> =>
  Effect.gen(function*() {
    yield* checkOptions(options, attachOptionKeys, "attach options")
    const heartbeat = yield* validateHeartbeat(options?.heartbeat)
    const policy = yield* validatePolicy(options, base)
    return { heartbeat, policy }
  })

// ---------------------------------------------------------------------------------------------
// entity specs: process and pid options
// ---------------------------------------------------------------------------------------------

/** @internal every signal name this platform knows */
export const validSignals: ReadonlySet<string> = new Set(Object.keys(osConstants.signals))

/** @internal the default time a stopping process may take before SIGKILL */
export const defaultStopGraceMillis = 5_000

const processOptionKeys: ReadonlyArray<keyof Entity.ProcessOptions> = ["output", "stopSignal", "stopGrace", "nodeIpc"]
const pidOptionKeys: ReadonlyArray<keyof Entity.PidOptions> = [...processOptionKeys, "pollInterval"]

/** @internal a size in bytes: a whole number, or a string with a unit ("512K", "10M", "1G"; powers of 1024) */
export const bytesOf = (input: unknown, argument: string): Effect.Effect<number, InvalidArgument> => {
  if (typeof input === "number" && Number.isSafeInteger(input) && input > 0) return Effect.succeed(input)
  const match = typeof input === "string" ? /^\s*(\d+)\s*([KMG]?)B?\s*$/i.exec(input) : null
  const units: Record<string, number> = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }
  const bytes = match === null ? NaN : Number(match[1]) * units[match[2].toUpperCase()]
  return Number.isSafeInteger(bytes) && bytes > 0
    ? Effect.succeed(bytes)
    : fail(argument, `must be a positive number of bytes or a size such as "10M"${got(input)}`)
}

const outputKeys = ["file", "maxSize", "keep", "timestamps"]

/** @internal */
export const validateOutput = (
  output: Entity.ProcessOptions["output"]
): Effect.Effect<launch.OutputOption, InvalidArgument> => {
  if (output === undefined || output === "log" || output === "ignore") return Effect.succeed(output ?? "log")
  const problem = options_.optionsProblem(output, outputKeys, "output")
  if (problem !== undefined) return Effect.fail(options_.fromProblem(problem))
  if (!(typeof output.file === "string" && output.file.length > 0)) {
    return fail("output", `must be "log", "ignore" or { file } with a non-empty path${got(output)}`)
  }
  return Effect.gen(function*() {
    const maxSize = output.maxSize === undefined ? undefined : yield* bytesOf(output.maxSize, "output.maxSize")
    if (output.keep !== undefined && !(Number.isInteger(output.keep) && output.keep >= 1 && output.keep <= 1000)) {
      return yield* fail("output.keep", `must be a whole number from 1 to 1000${got(output.keep)}`)
    }
    if (output.keep !== undefined && maxSize === undefined) {
      return yield* fail("output.keep", "needs output.maxSize: files are rotated by size")
    }
    if (output.timestamps !== undefined && typeof output.timestamps !== "boolean") {
      return yield* fail("output.timestamps", `must be a boolean${got(output.timestamps)}`)
    }
    return {
      file: output.file,
      ...(maxSize === undefined ? {} : { maxSize, keep: output.keep ?? output_.defaultKeep }),
      ...(output.timestamps === true ? { timestamps: true } : {})
    }
  })
}

/** @internal the options every process entity takes, checked (their keys: `validateEntitySpec`) */
export const validateProcessOptions = (options: Entity.ProcessOptions) =>
  Effect.gen(function*() {
    const stopSignal = options.stopSignal ?? "SIGTERM"
    if (!validSignals.has(stopSignal)) return yield* fail("stopSignal", `must be a signal name${got(stopSignal)}`)
    const stopGraceMillis = options.stopGrace === undefined
      ? defaultStopGraceMillis
      : yield* millisOf(options.stopGrace, "stopGrace", 0)
    const output = yield* validateOutput(options.output)
    if (options.nodeIpc !== undefined && typeof options.nodeIpc !== "boolean") {
      return yield* fail("nodeIpc", `must be a boolean${got(options.nodeIpc)}`)
    }
    return { stopSignal, stopGraceMillis, output, nodeIpc: options.nodeIpc === true }
  })

/** @internal a pid this system can give: 1 to its pid_max (a larger one names no process, and Node's `kill` throws) */
export const validatePid = (pid: number): Effect.Effect<number, InvalidArgument> =>
  Number.isSafeInteger(pid) && pid > 0 && pid <= procfs.pidMax()
    ? Effect.succeed(pid)
    : fail("pid", `must be an integer from 1 to ${procfs.pidMax()} (the system's pid_max)${got(pid)}`)

/** @internal what a spec carries besides its name: the keys of its options, and a pid's number */
export const validateEntitySpec = (spec: Entity.EntitySpec<any>): Effect.Effect<void, InvalidArgument> => {
  switch (spec._tag) {
    case "Fiber":
      return Effect.void
    case "Process":
      return checkOptions(spec.options, processOptionKeys, "process options")
    case "Pid":
      return Effect.zipRight(checkOptions(spec.options, pidOptionKeys, "pid options"), validatePid(spec.pid))
  }
}

// ---------------------------------------------------------------------------------------------
// conditions and control
// ---------------------------------------------------------------------------------------------

const flagProblem = options_.flagsProblem

const conditionOptionKeys: ReadonlyArray<keyof Api.ConditionOptions> = ["name", "independent", "noWait", "oneShot"]

/** @internal the keys and flags of a condition's options (its name is checked where it is taken) */
export const validateConditionOptions = (
  options: Api.ConditionOptions | undefined
): Effect.Effect<void, InvalidArgument> => {
  const problem = options_.optionsProblem(options, conditionOptionKeys, "condition options") ??
    (options === undefined
      ? undefined
      : flagProblem({
        independent: options.independent,
        noWait: options.noWait,
        oneShot: options.oneShot
      }))
  return problem === undefined ? Effect.void : Effect.fail(options_.fromProblem(problem))
}

/** @internal the operation and options of `Ham.control` (whether the flags exist is the registry's business) */
export const validateControl = (
  op: Api.ControlOp,
  options: Api.ControlOptions | undefined
): Effect.Effect<void, InvalidArgument> => {
  const problem = controlOpProblem(op) ?? options_.optionsProblem(options, ["recurse"], "control options") ??
    (options === undefined ? undefined : flagProblem({ recurse: options.recurse }))
  return problem === undefined ? Effect.void : Effect.fail(options_.fromProblem(problem))
}

const controlOpProblem = (op: unknown): options_.Problem | undefined => {
  if (op === "enable" || op === "disable" || op === "getFlags") return undefined
  const shape = {
    argument: "control op",
    reason: `must be "enable", "disable", "getFlags" or { setFlags: { flag: boolean } }${got(op)}`
  }
  if (!Predicate.isRecord(op)) return shape
  const keys = options_.optionsProblem(op, ["setFlags"], "control op")
  if (keys !== undefined) return keys
  if (!Predicate.isRecord(op.setFlags)) return shape
  return flagProblem(op.setFlags, "setFlags.")
}

// ---------------------------------------------------------------------------------------------
// actions
// ---------------------------------------------------------------------------------------------

/** an optional time: finite, and above 0 (or at least 0) */
const finiteTime = (ms: number | undefined, zero: boolean): boolean =>
  ms === undefined || ((zero ? ms >= 0 : ms > 0) && Number.isFinite(ms))

/**
 * The checks of one action that need no registry: what its constructor found wrong (an unknown
 * option, a bad duration), its flags, and its own fields. The name of an alternate is checked
 * here; a primary action's name where it is taken.
 *
 * @internal
 */
export const validateActionData = (
  action: action_.ActionData,
  primary: boolean
): Effect.Effect<void, InvalidArgument> =>
  Effect.gen(function*() {
    const problem = action_.problemOf(action) ??
      flagProblem({
        breakOnFail: action.breakOnFail,
        removeOnFail: action.removeOnFail,
        oneShot: action.oneShot,
        doNow: action.doNow
      })
    if (problem !== undefined) return yield* Effect.fail(options_.fromProblem(problem))
    if (action.doNow === true) {
      // QNX's HACTIONDONOW: a primary action of its own list, run once when added
      if (!primary) return yield* fail("doNow", "an alternate runs only when its action fails: it takes no doNow")
      if (action._tag === "Restart") return yield* fail("doNow", "a restart runs at a death: it takes no doNow")
    }
    switch (action._tag) {
      case "WaitFor": {
        if (!(action.millis > 0 && Number.isFinite(action.millis))) {
          return yield* fail("waitfor", `the time must be a finite duration above 0 ms${got(action.millis)}`)
        }
        if (action.entity !== undefined) yield* validateEntityName(action.entity)
        if (action.ready !== undefined) yield* validateEntityName(action.ready)
        if (action.port !== undefined && !(Number.isInteger(action.port) && action.port > 0 && action.port < 65536)) {
          return yield* fail("waitfor port", `must be an integer from 1 to 65535${got(action.port)}`)
        }
        break
      }
      case "Execute": {
        if (!finiteTime(action.timeoutMillis, false)) {
          return yield* fail("execute timeout", `must be a finite duration above 0 ms${got(action.timeoutMillis)}`)
        }
        break
      }
      case "Signal": {
        if (!validSignals.has(action.signal)) return yield* fail("signal", `must be a signal name${got(action.signal)}`)
        if (action.pid !== undefined) yield* validatePid(action.pid)
        if (!finiteTime(action.awaitExitMillis, true)) {
          return yield* fail("signal awaitExit", `must be a finite duration${got(action.awaitExitMillis)}`)
        }
        break
      }
      case "RestartEntity":
        yield* validateEntityName(action.entity)
        break
      case "PublishState":
      case "Raise": {
        const what = action._tag === "Raise" ? "raise" : "publishState"
        yield* validateEntityName(action.entity)
        if (action._tag === "Raise") yield* validateRaise(action.raise)
        else yield* validateState(action.state)
        if (action.node !== undefined) yield* decodeWith(node_.NodeAddress, `${what} node`)(action.node)
        if (!finiteTime(action.timeoutMillis, false)) {
          return yield* fail(`${what} timeout`, `must be a finite duration above 0 ms${got(action.timeoutMillis)}`)
        }
        break
      }
      case "NotifyEntity": {
        yield* validateEntityName(action.entity)
        if (typeof action.message !== "string" || /[\r\n]/.test(action.message)) {
          return yield* fail("notifyEntity message", `must be one line of text${got(action.message)}`)
        }
        if (Buffer.byteLength(action.message, "utf8") > 4096 - "MESSAGE=".length) {
          return yield* fail("notifyEntity message", "must be at most 4088 bytes")
        }
        break
      }
      case "Log": {
        yield* decodeWith(cond.Count, "log verbosity")(action.verbosity)
        if (typeof action.attachPrefix !== "boolean") {
          return yield* fail("log attachPrefix", `must be a boolean${got(action.attachPrefix)}`)
        }
        break
      }
    }
    if (action.name !== undefined && !primary) yield* validateActionName(action.name)
  })
