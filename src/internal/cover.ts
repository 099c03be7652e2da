/**
 * The cover: a resource whose recoverable failures are repaired by a recovery function, after
 * which the failed operation is run again. One recovery at a time per cover, shared by every fiber
 * that failed on the same broken resource; the recovery runs in a fiber of the cover's own, so
 * interrupting a caller never leaves it half done.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Option from "effect/Option"
import { pipeArguments } from "effect/Pipeable"
import * as PubSub from "effect/PubSub"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Api from "../Cover.js"
import { InvalidArgument } from "../HamError.js"
import { applyControl, controlState, ControlTypeId, decodeControlOp, makeCounts, mayRecover } from "./cover-control.js"
import * as options_ from "./options.js"

// ---------------------------------------------------------------------------------------------
// errors and events
// ---------------------------------------------------------------------------------------------

/** @internal */
export class RecoveryFailed extends Schema.TaggedError<RecoveryFailed>()("RecoveryFailed", {
  /** how many times the recovery function was tried */
  attempts: Schema.Number,
  /** the failure that broke the resource */
  failure: Schema.Unknown,
  /** the last failure of the recovery function */
  cause: Schema.Unknown
}) {
  override get message(): string {
    return `the resource could not be recovered after ${this.attempts} attempt(s): ${describe(this.cause)}`
  }
}

/** @internal */
export class CoverClosed extends Schema.TaggedError<CoverClosed>()("CoverClosed", {}) {
  override get message(): string {
    return "the cover was closed"
  }
}

/** @internal */
export type RecoveryEvent = Api.RecoveryEvent

/** @internal */
export type CoverStats = Api.CoverStats

const describe = (u: unknown): string =>
  u instanceof Error
    ? `${u.name}: ${u.message}`
    : typeof u === "object" && u !== null && "message" in u
    ? String((u as { message: unknown }).message)
    : String(u)

// ---------------------------------------------------------------------------------------------
// what is recoverable
// ---------------------------------------------------------------------------------------------

/** @internal the error codes recovered by default: a stale or closed handle, a broken connection */
export const recoverableCodes: ReadonlySet<string> = new Set([
  "EBADF",
  "ESTALE",
  "EPIPE",
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "ENOTCONN",
  "ERR_STREAM_DESTROYED",
  "ERR_SOCKET_CLOSED"
])

const codeOf = (u: unknown, depth = 0): string | undefined => {
  if (typeof u !== "object" || u === null || depth > 4) return undefined
  const record = u as Record<string, unknown>
  if (typeof record.code === "string") return record.code
  // a platform SystemError keeps the Node error as its cause
  return codeOf(record.cause, depth + 1) ?? codeOf(record.error, depth + 1)
}

/** @internal the default test: an error (or its cause) with one of the recoverable codes */
export const isRecoverableDefault = (u: unknown): boolean => {
  const code = codeOf(u)
  return code !== undefined && recoverableCodes.has(code)
}

/** @internal the default recovery schedule: 10 ms doubling to 1 s, for at most 10 attempts */
export const defaultSchedule: Schedule.Schedule<unknown> = Schedule.exponential("10 millis", 2).pipe(
  Schedule.union(Schedule.spaced("1 second")),
  Schedule.intersect(Schedule.recurs(9))
)

// ---------------------------------------------------------------------------------------------
// the cover
// ---------------------------------------------------------------------------------------------

/** @internal */
export type Cover<A, EOp = unknown> = Api.Cover<A, EOp>

/** @internal */
export type RecoverFn<A> = Api.RecoverFn<A>

/** @internal */
export type CoverOptions<A, E, R, EOp = unknown> = Api.CoverOptions<A, E, R, EOp>

interface Current<A> {
  readonly resource: A
  readonly generation: number
  readonly scope: Scope.CloseableScope
}

const optionKeys: ReadonlyArray<keyof CoverOptions<unknown, unknown, unknown>> = [
  "acquire",
  "recover",
  "isRecoverable",
  "schedule",
  "retries"
]

/**
 * The options a cover takes (`what` names them in the message): only known keys; `retries` a
 * non-negative integer.
 *
 * @internal
 */
export const validateOptions = (
  options: { readonly retries?: number | undefined } | undefined,
  known: ReadonlyArray<string>,
  what: string
): Effect.Effect<void, InvalidArgument> => {
  const problem = options_.optionsProblem(options, known, what) ??
    (options?.retries === undefined || (Number.isInteger(options.retries) && options.retries >= 0)
      ? undefined
      : {
        argument: `${what} retries`,
        reason: `must be a non-negative integer (got ${options_.show(options.retries)})`
      })
  return problem === undefined ? Effect.void : Effect.fail(options_.fromProblem(problem))
}

/** @internal */
export const make = <A, E, R, EOp = unknown>(
  options: CoverOptions<A, E, R, EOp>
): Effect.Effect<Cover<A, EOp>, E | InvalidArgument, Exclude<R, Scope.Scope> | Scope.Scope> =>
  Effect.gen(function*() {
    yield* validateOptions(options, optionKeys, "Cover options")
    if (!Effect.isEffect(options.acquire)) {
      return yield* Effect.fail(
        new InvalidArgument({
          argument: "Cover acquire",
          reason: `must be an Effect (got ${options_.show(options.acquire)})`
        })
      )
    }
    const outer = yield* Effect.scope
    const context = yield* Effect.context<Exclude<R, Scope.Scope>>()
    // an operation's failures are of the resource's error type (`use` asks for it)
    const isRecoverable = (options.isRecoverable ?? isRecoverableDefault) as (error: unknown) => boolean
    const schedule = options.schedule ?? defaultSchedule
    const retries = options.retries ?? 3
    const acquireIn = (scope: Scope.CloseableScope, effect: Effect.Effect<A, unknown, any>) =>
      effect.pipe(
        Scope.extend(scope),
        Effect.provide(context),
        Effect.onError(() => Scope.close(scope, Exit.void))
      ) as Effect.Effect<A, unknown>

    const firstScope = yield* Scope.fork(outer, ExecutionStrategy.sequential)
    const first = yield* (acquireIn(firstScope, options.acquire) as Effect.Effect<A, E>)
    let current: Current<A> | undefined = { resource: first, generation: 0, scope: firstScope }
    let recover: RecoverFn<A> = options.recover ?? (() => options.acquire as Effect.Effect<A, unknown, any>)
    let inFlight:
      | { readonly generation: number; readonly done: Deferred.Deferred<Current<A>, RecoveryFailed> }
      | undefined
    let recoveries = 0
    let failedRecoveries = 0
    let retried = 0
    // the control (ha_connection_ctrl): suspension, and the limits with the counts they bound
    const ctl = makeCounts()
    const events = yield* PubSub.unbounded<RecoveryEvent>()
    yield* Effect.addFinalizer(() => PubSub.shutdown(events))

    const closed = new CoverClosed()

    /** one recovery of the resource of `generation`, run in a fiber of the cover's own */
    const runRecovery = (broken: Current<A>, failure: unknown, done: Deferred.Deferred<Current<A>, RecoveryFailed>) => {
      let attempts = 0
      ctl.recoveries++
      const attempt = Effect.flatMap(Scope.fork(outer, ExecutionStrategy.sequential), (scope) =>
        Effect.suspend(() => {
          attempts++
          ctl.attempts++
          return acquireIn(scope, recover(broken.resource, failure)).pipe(
            Effect.map((resource) => ({ resource, scope }))
          )
        }))
      // a limit on attempts caps the schedule: what is left of it (one attempt at least: a recovery
      // only starts when one is left)
      const left = ctl.maxAttempts === "unlimited" ? undefined : Math.max(1, ctl.maxAttempts - ctl.attempts)
      return attempt.pipe(
        Effect.retry(left === undefined ? schedule : Schedule.intersect(schedule, Schedule.recurs(left - 1))),
        Effect.matchCauseEffect({
          onFailure: (cause) => {
            failedRecoveries++
            const error = new RecoveryFailed({ attempts, failure, cause: Cause.squash(cause) })
            inFlight = undefined
            events.unsafeOffer({
              _tag: "RecoveryFailed",
              generation: broken.generation + 1,
              attempts,
              failure: describe(failure)
            })
            return Deferred.fail(done, error)
          },
          onSuccess: ({ resource, scope }) =>
            Effect.gen(function*() {
              if (current === undefined) {
                // closed meanwhile: the new resource goes at once
                yield* Scope.close(scope, Exit.void)
                return yield* Deferred.fail(done, new RecoveryFailed({ attempts, failure, cause: closed }))
              }
              const next: Current<A> = { resource, generation: broken.generation + 1, scope }
              const old = current
              current = next
              inFlight = undefined
              recoveries++
              ctl.attempts = 0
              events.unsafeOffer({
                _tag: "Recovered",
                generation: next.generation,
                attempts,
                failure: describe(failure)
              })
              yield* Deferred.succeed(done, next)
              yield* Scope.close(old.scope, Exit.void)
            })
        })
      )
    }

    /**
     * The resource after the one of `broken` failed: the recovery under way, or a new one; undefined
     * when the control forbids a new one (the failure then passes through, as on a plain resource).
     * `explicit` (recoverNow) recovers whatever the control says.
     */
    const recovered = (
      broken: Current<A>,
      failure: unknown,
      explicit = false
    ): Effect.Effect<Current<A> | undefined, RecoveryFailed | CoverClosed> =>
      Effect.suspend((): Effect.Effect<Current<A> | undefined, RecoveryFailed | CoverClosed> => {
        if (current === undefined) return Effect.fail(closed)
        if (current.generation > broken.generation) return Effect.succeed(current)
        if (inFlight !== undefined && inFlight.generation === broken.generation) return Deferred.await(inFlight.done)
        if (!explicit && !mayRecover(ctl)) return Effect.succeed(undefined)
        const done = Deferred.unsafeMake<Current<A>, RecoveryFailed>(FiberId.none)
        inFlight = { generation: broken.generation, done }
        // the recovery belongs to the cover: a caller's interruption does not stop it
        return Effect.zipRight(Effect.forkIn(runRecovery(broken, failure, done), outer), Deferred.await(done))
      })

    const use = <B, E2, R2>(f: (resource: A) => Effect.Effect<B, E2, R2>) => {
      const loop = (left: number): Effect.Effect<B, E2 | RecoveryFailed | CoverClosed, R2> =>
        Effect.suspend(() => {
          const taken = current
          if (taken === undefined) return Effect.fail(closed)
          return Effect.catchAll(f(taken.resource), (error) =>
            left <= 0 || !isRecoverable(error)
              ? Effect.fail(error)
              : Effect.flatMap(recovered(taken, error), (next) => {
                if (next === undefined) return Effect.fail(error)
                retried++
                return loop(left - 1)
              }))
        })
      return loop(retries)
    }

    const close = Effect.suspend(() => {
      const last = current
      current = undefined
      return last === undefined ? Effect.void : Scope.close(last.scope, Exit.void)
    })
    yield* Effect.addFinalizer(() => close)

    const cover: Cover<A, EOp> = {
      use,
      get: Effect.suspend(() => (current === undefined ? Effect.fail(closed) : Effect.succeed(current.resource))),
      setRecover: (next) =>
        Effect.sync(() => {
          recover = next
        }),
      recoverNow: (reason) =>
        Effect.suspend(() =>
          current === undefined ? Effect.fail(closed) : Effect.asVoid(recovered(current, reason, true))
        ),
      stats: Effect.sync(() => ({
        recoveries,
        failedRecoveries,
        retries: retried,
        generation: current?.generation ?? -1
      })),
      recoveries: Stream.fromPubSub(events),
      close,
      [ControlTypeId]: (op) =>
        Effect.flatMap(decodeControlOp(op), (decoded) =>
          Effect.suspend(() => {
            if (current === undefined) return Effect.fail(closed)
            applyControl(ctl, decoded, (next) => {
              recover = next as RecoverFn<A>
            })
            return Effect.succeed(controlState(ctl))
          })),
      pipe() {
        return pipeArguments(this, arguments)
      }
    }
    return cover
  })

/** @internal a failure with an errno code, for tests and adapters */
export const errnoError = (code: string, message = code): Error => Object.assign(new Error(message), { code })

/** @internal `Option` of the code of a failure (its own or its cause's) */
export const failureCode = (u: unknown): Option.Option<string> => Option.fromNullable(codeOf(u))
