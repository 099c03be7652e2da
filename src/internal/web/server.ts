/**
 * The HTTP server of `ham web`: the page (`/`, `/app.js`, `/app.css`), the tree as JSON
 * (`/api/tree`), the events as server-sent events (`/api/events`), and the operator's acts
 * (`POST /api/entities/<name>/<restart|signal|enable|disable|detach>`).
 *
 * - It binds 127.0.0.1 unless told otherwise.
 * - Every request but the acts needs the view token or the operator token: in the `Authorization`
 *   header (`Bearer <token>`), or in the cookie a first visit with `?token=<token>` sets
 *   (HttpOnly, SameSite=Strict; answered with a redirect to the address without the token).
 * - An act needs the operator token in the `Authorization` header (a cookie never acts, so no
 *   other site can make a browser act): without it, 403 and nothing done. An act is a POST: a GET
 *   of its address is 405 and does nothing.
 * - Tokens are checked in constant time (`remote/auth.ts`).
 * - Every answer carries `X-Frame-Options: DENY`, a content security policy that allows only the
 *   server's own script, style and connections (no inline script or style, `frame-ancestors
 *   'none'`), `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer` and
 *   `Cache-Control: no-store`.
 *
 * @internal
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as http from "node:http"
import type { InvalidArgument } from "../../HamError.js"
import { ListenFailed } from "../../HamError.js"
import type { HamService } from "../../HamService.js"
import { signalName } from "../cli/ops.js"
import * as auth from "../remote/auth.js"
import * as hub_ from "./hub.js"
import { invalid, validate, type WebOptions } from "./options.js"
import * as page from "./page.js"
import { js } from "./script.js"

/** @internal */
export type { WebOptions } from "./options.js"

/** @internal where it listens */
export interface Web {
  readonly host: string
  readonly port: number
  /** the page's address, without a token */
  readonly url: string
  /** until the HAM's events end: the HAM went away */
  readonly done: Effect.Effect<void>
}

/** @internal the cookie a visit with `?token=` sets */
export const cookieName = "ham_web"

/** @internal the content security policy of every answer */
export const contentSecurityPolicy = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'"
].join("; ")

/** @internal the headers of every answer */
export const securityHeaders: Readonly<Record<string, string>> = {
  "content-security-policy": contentSecurityPolicy,
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin"
}

/** @internal the acts, by the last part of their address */
export const acts = ["restart", "signal", "enable", "disable", "detach"] as const

/** the largest body an act takes */
const maxBody = 4096

const json = (status: number, body: unknown) => HttpServerResponse.unsafeJson(body, { status })

const refuse = (status: number, message: string) => json(status, { message })

/** the token of a request: its `Authorization: Bearer` header, else its cookie (when `cookie`) */
const tokenOf = (request: HttpServerRequest.HttpServerRequest, cookie: boolean): string | undefined => {
  const header = request.headers["authorization"]
  if (header !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header)
    return match === null ? "" : match[1]
  }
  return cookie ? request.cookies[cookieName] : undefined
}

/** what an act's failure answers: its status, the error as JSON */
const failure = (error: unknown) => {
  const tag = Predicate.hasProperty(error, "_tag") ? String(error._tag) : "Error"
  const message = Predicate.hasProperty(error, "message") ? String(error.message) : String(error)
  const status = tag === "EntityNotFound"
    ? 404
    : tag === "InvalidArgument"
    ? 400
    : tag === "EntityNotRunning" || tag === "ProcessNotFound" || tag === "HamStopped"
    ? 409
    : 500
  return json(status, { _tag: tag, message })
}

/** an act on an entity, with its body (a signal's name) */
const act = (
  ham: HamService,
  name: string,
  what: (typeof acts)[number],
  body: unknown
): Effect.Effect<unknown, unknown> => {
  switch (what) {
    case "restart":
      return ham.restartEntity(name)
    case "signal": {
      const given = Predicate.hasProperty(body, "signal") && typeof body.signal === "string" ? body.signal : ""
      const sig = signalName(given)
      return sig === undefined
        ? Effect.fail(invalid("signal", `not a signal: "${given}" (a name such as SIGTERM or HUP, or its number)`))
        : ham.signalEntity(name, sig)
    }
    case "enable":
    case "disable":
      return Effect.flatMap(ham.entityHandle(name), (handle) => ham.control(handle, what))
    case "detach":
      return ham.detach(name)
  }
}

const encoder = new TextEncoder()

/**
 * Serves `ham web` for `ham` until the scope closes.
 *
 * @internal
 */
export const serve = (
  ham: HamService,
  options: WebOptions
): Effect.Effect<Web, InvalidArgument | ListenFailed, Scope.Scope> =>
  Effect.gen(function*() {
    yield* validate(options)
    const host = options.host ?? "127.0.0.1"
    const isView = auth.tokenChecker(options.viewToken)
    const isOperator = auth.tokenChecker(options.operatorToken)
    // both checks are made, whichever answers: the time tells nothing of which token was given
    const mayView = (token: string | undefined) => [isView(token), isOperator(token)].some((ok) => ok)

    const hub = yield* hub_.make(ham)
    // done when the server closes: the event streams end then, or the server would wait for their pages
    const closing = yield* Deferred.make<void>()

    const events = (request: HttpServerRequest.HttpServerRequest) => {
      const last = Number(request.headers["last-event-id"])
      const after = Number.isInteger(last) ? last : undefined
      const keepAlive = Stream.fromSchedule(Schedule.spaced("15 seconds")).pipe(
        Stream.map(() => encoder.encode(": keep-alive\n\n"))
      )
      const body = Stream.unwrapScoped(Effect.map(hub.frames, (frames) => {
        // subscribed first: what comes after the recent events is not missed (a page drops repeats by seq)
        const head = encoder.encode("retry: 1000\n\n" + hub_.frames(hub.recent(after), 0))
        return Stream.concat(Stream.make(head), Stream.merge(Stream.fromQueue(frames), keepAlive))
      })).pipe(Stream.interruptWhen(Deferred.await(closing)))
      return HttpServerResponse.stream(body, {
        contentType: "text/event-stream; charset=utf-8",
        headers: { "x-accel-buffering": "no" }
      })
    }

    // a HAM gone away may leave a call unanswered: the page is told, and the server can close
    const tree = Effect.gen(function*() {
      const snapshot = yield* ham.snapshot
      const history = yield* hub.history
      return json(200, hub_.treeView(snapshot, history, hub.since, options.uptimeOf))
    }).pipe(
      Effect.timeoutTo({
        duration: "5 seconds",
        onTimeout: () => refuse(503, "the HAM does not answer"),
        onSuccess: (answer) => answer
      }),
      Effect.interruptible
    )

    const operate = (request: HttpServerRequest.HttpServerRequest, name: string, what: (typeof acts)[number]) =>
      Effect.gen(function*() {
        if (!isOperator(tokenOf(request, false))) {
          return refuse(403, "acting needs the operator token (Authorization: Bearer <token>)")
        }
        const length = Number(request.headers["content-length"] ?? "0")
        if (!(length <= maxBody)) return refuse(413, `a body of at most ${maxBody} bytes`)
        const text = yield* request.text.pipe(
          HttpIncomingMessage.withMaxBodySize(Option.some(maxBody)),
          Effect.orElseSucceed(() => undefined)
        )
        let body: unknown = {}
        try {
          if (text !== undefined && text.trim() !== "") body = JSON.parse(text)
        } catch {
          return refuse(400, "the body is not JSON")
        }
        // a restart waits for the stop grace of the life it stops
        return yield* act(ham, name, what, body).pipe(
          Effect.as(json(200, { ok: true, entity: name, act: what })),
          Effect.catchAll((e) => Effect.succeed(failure(e))),
          Effect.timeoutTo({
            duration: "2 minutes",
            onTimeout: () => refuse(504, "the HAM did not answer within 2 minutes"),
            onSuccess: (answer) => answer
          })
        )
      })

    const route = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const url = new URL(request.url, "http://ham-web")
      const path = url.pathname
      const actMatch = /^\/api\/entities\/([^/]+)\/([a-z]+)$/.exec(path)
      if (actMatch !== null) {
        const what = acts.find((a) => a === actMatch[2])
        if (what === undefined) return refuse(404, `no such act: ${actMatch[2]}`)
        if (request.method !== "POST") {
          return HttpServerResponse.setHeader(refuse(405, "an act is a POST"), "allow", "POST")
        }
        let name: string
        try {
          name = decodeURIComponent(actMatch[1])
        } catch {
          return refuse(400, "not an entity name")
        }
        return yield* operate(request, name, what)
      }
      if (request.method !== "GET") return HttpServerResponse.setHeader(refuse(405, "only GET here"), "allow", "GET")
      // a visit with ?token=: the token goes to a cookie, and the address loses it
      const given = url.searchParams.get("token")
      if (given !== null) {
        if (!mayView(given)) return refuse(401, "not a token of this ham web")
        url.searchParams.delete("token")
        // a path of this server only ("//host" would send the browser elsewhere)
        const location = "/" + url.pathname.replace(/^\/+/, "") + url.search
        return yield* HttpServerResponse.empty({ status: 303, headers: { location } }).pipe(
          HttpServerResponse.setCookie(cookieName, given, { httpOnly: true, sameSite: "strict", path: "/" }),
          Effect.orElseSucceed(() => refuse(400, "not a token"))
        )
      }
      if (!mayView(tokenOf(request, true))) {
        return refuse(401, "viewing needs a token: open the address ham web printed (…/?token=<token>)")
      }
      switch (path) {
        case "/":
          return HttpServerResponse.text(page.html, { contentType: "text/html; charset=utf-8" })
        case "/app.js":
          return HttpServerResponse.text(js, { contentType: "text/javascript; charset=utf-8" })
        case "/app.css":
          return HttpServerResponse.text(page.css, { contentType: "text/css; charset=utf-8" })
        case "/favicon.svg":
          return HttpServerResponse.text(page.icon, { contentType: "image/svg+xml" })
        case "/api/tree":
          return yield* tree
        case "/api/events":
          return events(request)
        default:
          return refuse(404, `nothing at ${path}`)
      }
    })

    const app = route.pipe(
      Effect.catchAllCause(() => Effect.succeed(refuse(500, "the server failed"))),
      Effect.map(HttpServerResponse.setHeaders(securityHeaders))
    )

    const address = `${host}:${options.port ?? 0}`
    const node = http.createServer()
    const server = yield* NodeHttpServer.make(() => node, { host, port: options.port ?? 0 }).pipe(
      Effect.mapError((e) => {
        const cause = e.cause as NodeJS.ErrnoException | undefined
        return new ListenFailed({
          address,
          reason: cause?.message ?? String(e),
          ...(cause?.code === undefined ? {} : { code: cause.code })
        })
      })
    )
    yield* server.serve(app)
    // run before the server's own finalizers (added before it): the event streams end, the server
    // stops listening and closes every connection (a page's open keep-alive connections, on which
    // a request would find no handler once the server's are gone, and keep it open)
    yield* Effect.addFinalizer(() =>
      Effect.zipRight(
        Deferred.succeed(closing, undefined),
        Effect.sync(() => {
          node.close()
          node.closeAllConnections()
        })
      )
    )
    const done = yield* Effect.forkScoped(hub.run)
    const bound = server.address
    const port = bound._tag === "TcpAddress" ? bound.port : 0
    const shown = host.includes(":") ? `[${host}]` : host
    return { host, port, url: `http://${shown}:${port}/`, done: Effect.asVoid(done.await) }
  })
