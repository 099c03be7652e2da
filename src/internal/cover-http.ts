/**
 * A covered `HttpClient` (@effect/platform): a request that fails at the transport level (the
 * connection refused or reset, e.g. while the server restarts) is sent again on a new connection,
 * by the recovery schedule, when its method allows it (RFC 9110's safe methods by default).
 *
 * @internal
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import type * as HttpMethod from "@effect/platform/HttpMethod"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Api from "../CoverLayers.js"
import type { InvalidArgument } from "../HamError.js"
import {
  AnyFunction,
  AnySchedule,
  applyControl,
  controlState,
  ControlTypeId,
  decodeControlOp,
  decodeOptions,
  makeCounts,
  mayRecover
} from "./cover-control.js"
import * as cover_ from "./cover.js"

/** @internal */
export type HttpClientOptions = Api.HttpClientOptions

/** @internal */
export type HttpRecoverFn = Api.HttpRecoverFn

/** @internal the methods RFC 9110 (section 9.2.1) calls safe */
export const safeMethods: ReadonlyArray<HttpMethod.HttpMethod> = ["GET", "HEAD", "OPTIONS"]

/** @internal the methods RFC 9110 (section 9.2.2) calls idempotent: the safe ones, PUT and DELETE */
export const idempotentMethods: ReadonlyArray<HttpMethod.HttpMethod> = [...safeMethods, "PUT", "DELETE"]

const allMethods = ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "POST", "PATCH"] as const

/** the failures of a request that never reached a server: sent again whatever its method */
const notSentCodes: ReadonlySet<string> = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN"])

const OptionsSchema = Schema.Struct({
  schedule: Schema.optional(AnySchedule),
  methods: Schema.optional(
    Schema.Union(Schema.Literal("idempotent", "safe", "all"), Schema.Array(Schema.Literal(...allMethods)))
  ),
  isRecoverable: Schema.optional(AnyFunction),
  recover: Schema.optional(AnyFunction)
})

/** @internal the default test: a transport failure (refused, reset, closed before the response) */
export const isTransportFailure = (error: HttpClientError.HttpClientError): boolean =>
  error._tag === "RequestError" && error.reason === "Transport"

/** @internal a covered client over `client` */
export const make = (
  client: HttpClient.HttpClient,
  options: typeof OptionsSchema.Type
): HttpClient.HttpClient & Api.Controllable<HttpRecoverFn> => {
  const schedule = options.schedule ?? cover_.defaultSchedule
  const isRecoverable = (options.isRecoverable ?? isTransportFailure) as (error: unknown) => boolean
  const methods = options.methods === undefined || options.methods === "safe"
    ? safeMethods
    : options.methods === "idempotent"
    ? idempotentMethods
    : options.methods === "all"
    ? allMethods
    : options.methods
  let recover = options.recover as HttpRecoverFn | undefined
  const ctl = makeCounts()

  /** whether a failure of `request` may be recovered: the failure, the method, the control */
  const mayResend = (request: HttpClientRequest.HttpClientRequest, error: unknown, recovering: boolean) => {
    if (!isRecoverable(error)) return false
    const code = Option.getOrUndefined(cover_.failureCode(error))
    if (!methods.includes(request.method) && !(code !== undefined && notSentCodes.has(code))) return false
    // a recovery under way goes on while it has attempts left; a new one needs the control's leave
    if (!recovering) return mayRecover(ctl)
    return !ctl.suspended && (ctl.maxAttempts === "unlimited" || ctl.attempts < ctl.maxAttempts)
  }

  /** after the first failure of `request`: sent again while the failures may be recovered */
  const resend = (
    effect: Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError>,
    request: HttpClientRequest.HttpClientRequest,
    first: HttpClientError.HttpClientError
  ) =>
    Effect.suspend(() => {
      let attempts = 0
      let last: unknown = first
      // the first failure goes through the schedule too: its first delay comes before the first new sending
      const send = Effect.suspend(() =>
        attempts === 0
          ? Effect.fail(first)
          : recover === undefined
          ? effect
          : Effect.zipRight(Effect.ignore(recover(request, last)), effect)
      )
      return send.pipe(
        Effect.retry({
          schedule,
          while: (error) => {
            if (!mayResend(request, error, attempts > 0)) return false
            if (attempts === 0) ctl.recoveries++
            last = error
            attempts++
            ctl.attempts++
            return true
          }
        }),
        Effect.tap(() => {
          ctl.attempts = 0
        }),
        Effect.mapError((error) =>
          attempts === 0 || !isRecoverable(error) ? error : new HttpClientError.RequestError({
            request,
            reason: "Transport",
            description: `sent again ${attempts} time(s) after a transport failure, in vain: ${
              error instanceof Error ? error.message : String(error)
            }`,
            cause: new cover_.RecoveryFailed({ attempts, failure: first, cause: error })
          })
        )
      )
    })

  // a request that succeeds pays for one catchAll
  const covered = HttpClient.transform(
    client,
    (effect, request) => Effect.catchAll(effect, (error) => resend(effect, request, error))
  )

  return Object.assign(covered, {
    [ControlTypeId]: (op: Api.ControlOp<HttpRecoverFn>) =>
      Effect.map(decodeControlOp(op), (decoded) => {
        applyControl(ctl, decoded, (next) => {
          recover = next as HttpRecoverFn
        })
        return controlState(ctl)
      })
  })
}

/** @internal `Cover.layerHttpClient` */
export const layerHttpClient = (
  options?: HttpClientOptions
): Layer.Layer<HttpClient.HttpClient, InvalidArgument, HttpClient.HttpClient> =>
  Layer.effect(
    HttpClient.HttpClient,
    Effect.gen(function*() {
      const checked = yield* decodeOptions(OptionsSchema, options, "Cover.layerHttpClient options")
      const client = yield* HttpClient.HttpClient
      return make(client, checked)
    })
  )
