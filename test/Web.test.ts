/**
 * `ham web`'s HTTP server (src/internal/web/server.ts) over real HTTP, serving a HAM of this
 * process with a supervised `sleep`: who may see (the view or the operator token, as a header or
 * the cookie of a `?token=` visit), who may act (the operator token in the header, nothing else:
 * 403 and no change), no act by GET, the headers of every answer, the server-sent events of a
 * SIGKILL (a death, then a restart), the options refused with typed errors. The page itself in a
 * browser: `test/WebBrowser.test.ts`.
 */
import { Command } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { inject } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Option, Redacted, Scope } from "effect"
import { Entity, Ham } from "effect-ham"
import { CondDeath } from "effect-ham/Condition"
import * as cp from "node:child_process"
import * as http from "node:http"
import * as net from "node:net"
import * as hub from "../src/internal/web/hub.js"
import * as server from "../src/internal/web/server.js"
import { isLive, pidOf, waitUntil, waitUntilEffect } from "./processes.js"
import { entityNode, failureOf, withHam } from "./utils.js"

const viewToken = "view-token-0123456789abcdef"
const operatorToken = "operator-token-0123456789abcdef"
const quiet = { output: "ignore" } as const

/** a HAM with one supervised `sleep` ("web", restarted when it dies), served by `ham web` on a free port */
const served = Effect.gen(function*() {
  yield* Ham.attach(Entity.process("web", Command.make("sleep", "30"), quiet))
  yield* Ham.condition("web", CondDeath).pipe(Ham.restart)
  const ham = yield* Ham.Ham
  return yield* server.serve(ham, {
    port: 0,
    viewToken: Redacted.make(viewToken),
    operatorToken: Redacted.make(operatorToken)
  })
})

interface Answer {
  readonly status: number
  readonly headers: Headers
  readonly text: string
}

/** one request, its answer read whole (no redirect followed) */
const request = (url: string, init: RequestInit = {}) =>
  Effect.promise(async (): Promise<Answer> => {
    const r = await fetch(url, { redirect: "manual", ...init, signal: AbortSignal.timeout(5000) })
    return { status: r.status, headers: r.headers, text: await r.text() }
  })

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

/** the headers every answer carries */
const expectGuarded = (answer: Answer) => {
  expect(answer.headers.get("x-frame-options")).toBe("DENY")
  expect(answer.headers.get("x-content-type-options")).toBe("nosniff")
  const csp = answer.headers.get("content-security-policy") ?? ""
  expect(csp).toContain("frame-ancestors 'none'")
  expect(csp).toContain("script-src 'self'")
  expect(csp).toContain("default-src 'none'")
  expect(csp).not.toContain("unsafe-inline")
  expect(csp).not.toContain("unsafe-eval")
}

const statsOf = Effect.map(entityNode("web"), (n) => ({ pid: n.pid, restarts: n.stats.restarts, enabled: n.enabled }))

describe("ham web: the server", () => {
  it.live("binds 127.0.0.1 by default; every answer carries the framing, CSP and nosniff headers", () =>
    Effect.gen(function*() {
      const web = yield* served
      expect(web.host).toBe("127.0.0.1")
      expect(web.url).toBe(`http://127.0.0.1:${web.port}/`)
      const answers = [
        yield* request(web.url),
        yield* request(web.url, { headers: bearer(viewToken) }),
        yield* request(`${web.url}app.js`, { headers: bearer(viewToken) }),
        yield* request(`${web.url}api/tree`, { headers: bearer(viewToken) }),
        yield* request(`${web.url}api/entities/web/restart`, { method: "POST" }),
        yield* request(`${web.url}api/entities/web/restart`, { headers: bearer(operatorToken) }),
        yield* request(`${web.url}nowhere`, { headers: bearer(viewToken) })
      ]
      expect(answers.map((a) => a.status)).toEqual([401, 200, 200, 200, 403, 405, 404])
      answers.forEach(expectGuarded)
      // the page runs no inline script: its script is a file of the server's
      const page = answers[1].text
      expect(page).toContain(`<script src="/app.js"`)
      expect(page).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/)
      expect(page).not.toMatch(/\sstyle=|\son[a-z]+=/)
      expect(answers[2].headers.get("content-type")).toMatch(/^text\/javascript/)
    }).pipe(Effect.scoped, withHam()))

  it.live("viewing needs the view or the operator token: as a header, or the cookie of a ?token= visit", () =>
    Effect.gen(function*() {
      const web = yield* served
      for (const path of ["", "app.js", "app.css", "api/tree", "api/events"]) {
        expect((yield* request(`${web.url}${path}`)).status, path).toBe(401)
        expect((yield* request(`${web.url}${path}`, { headers: bearer("not-the-token-0123456789") })).status).toBe(401)
      }
      expect((yield* request(`${web.url}api/tree`, { headers: bearer(operatorToken) })).status).toBe(200)
      // a visit with a bad token gets no cookie
      const bad = yield* request(`${web.url}?token=wrong-token-0123456789`)
      expect(bad.status).toBe(401)
      expect(bad.headers.get("set-cookie")).toBeNull()
      // a visit with the view token: a cookie (HttpOnly, SameSite=Strict), and the address without the token
      const visit = yield* request(`${web.url}?token=${viewToken}`)
      expect(visit.status).toBe(303)
      expect(visit.headers.get("location")).toBe("/")
      // the redirect stays on this server, whatever the path
      const away = yield* request(`${web.url}.//evil.example/x?token=${viewToken}&a=1`)
      expect(away.headers.get("location")).toMatch(/^\/(?![/\\])[^?]*\?a=1$/)
      const cookie = visit.headers.get("set-cookie") ?? ""
      expect(cookie).toMatch(/HttpOnly/i)
      expect(cookie).toMatch(/SameSite=Strict/i)
      const tree = yield* request(`${web.url}api/tree`, { headers: { cookie: cookie.split(";")[0] } })
      expect(tree.status).toBe(200)
      const body = JSON.parse(tree.text)
      const entity = body.entities.find((e: { name: string }) => e.name === "web")
      expect(entity.kind).toBe("process")
      expect(entity.status).toBe("running")
      expect(entity.cells[1]).toBe(String(yield* pidOf("web")))
      expect(entity.conditions[0].actions[0].type).toBe("Restart")
      // a process runs: its CPU and RSS columns are there, and its cells line up with the headers
      expect(body.headers).toEqual([
        "NAME",
        "KIND",
        "PID",
        "STATE",
        "UPTIME",
        "CPU%",
        "RSS",
        "RESTARTS",
        "DEATHS",
        "LAST DEATH"
      ])
      expect(entity.cells).toHaveLength(body.headers.length - 2)
    }).pipe(Effect.scoped, withHam()))

  it.live("an act needs the operator token in its header: 403 and no change without it; done with it", () =>
    Effect.gen(function*() {
      const web = yield* served
      const before = yield* statsOf
      const restart = `${web.url}api/entities/web/restart`
      const refused = [
        yield* request(restart, { method: "POST" }),
        yield* request(restart, { method: "POST", headers: bearer(viewToken) }),
        yield* request(restart, { method: "POST", headers: bearer("not-the-token-0123456789") }),
        // the operator token as the cookie does not act: only the header does (no other site can send it)
        yield* request(restart, { method: "POST", headers: { cookie: `${server.cookieName}=${operatorToken}` } })
      ]
      expect(refused.map((a) => a.status)).toEqual([403, 403, 403, 403])
      for (const what of ["signal", "disable", "detach"]) {
        const a = yield* request(`${web.url}api/entities/web/${what}`, {
          method: "POST",
          headers: bearer(viewToken),
          body: JSON.stringify({ signal: "SIGKILL" })
        })
        expect(a.status, what).toBe(403)
      }
      expect(yield* statsOf).toEqual(before)
      expect(isLive(before.pid!)).toBe(true)

      const done = yield* request(restart, { method: "POST", headers: bearer(operatorToken) })
      expect(done.status, done.text).toBe(200)
      const after = yield* statsOf
      expect(after.restarts).toBe(before.restarts + 1)
      expect(after.pid).not.toBe(before.pid)

      const act = (what: string, body?: unknown) =>
        request(`${web.url}api/entities/web/${what}`, {
          method: "POST",
          headers: { ...bearer(operatorToken), "content-type": "application/json" },
          ...(body === undefined ? {} : { body: JSON.stringify(body) })
        })
      expect((yield* act("signal", { signal: "NOSUCH" })).status).toBe(400)
      expect((yield* act("disable")).status).toBe(200)
      expect((yield* statsOf).enabled).toBe(false)
      expect((yield* act("enable")).status).toBe(200)
      expect((yield* statsOf).enabled).toBe(true)
      expect(
        (yield* request(`${web.url}api/entities/nobody/restart`, {
          method: "POST",
          headers: bearer(operatorToken)
        })).status
      ).toBe(404)
      const pid = after.pid!
      expect((yield* act("signal", { signal: "TERM" })).status).toBe(200)
      yield* waitUntil("the signalled process is gone", () => !isLive(pid))
      yield* waitUntilEffect(
        "the restart after the signal",
        Effect.map(statsOf, (s) => s.pid !== undefined && s.pid !== pid)
      )
      expect((yield* act("detach")).status).toBe(200)
      expect((yield* Ham.snapshot).entities.map((e) => e.name)).toEqual([])
    }).pipe(Effect.scoped, withHam()))

  it.live("no act is reachable by GET (nor by another method than POST): 405, and nothing changes", () =>
    Effect.gen(function*() {
      const web = yield* served
      const before = yield* statsOf
      for (const what of server.acts) {
        for (const method of ["GET", "HEAD", "PUT", "DELETE"]) {
          const a = yield* request(`${web.url}api/entities/web/${what}?signal=SIGKILL`, {
            method,
            headers: bearer(operatorToken)
          })
          expect(a.status, `${method} ${what}`).toBe(405)
          expect(a.headers.get("allow")).toBe("POST")
        }
      }
      // and a visit's token never acts either
      expect((yield* request(`${web.url}api/entities/web/restart?token=${operatorToken}`)).status).toBe(405)
      expect(yield* statsOf).toEqual(before)
      expect((yield* Ham.snapshot).entities.map((e) => e.name)).toEqual(["web"])
    }).pipe(Effect.scoped, withHam()))

  it.live("the events come as server-sent events: a SIGKILL makes a death and a restart", () =>
    Effect.gen(function*() {
      const web = yield* served
      const pid = yield* pidOf("web")
      const stream = yield* Effect.acquireRelease(
        Effect.async<{ readonly res: http.IncomingMessage; readonly text: () => string }>((resume) => {
          let text = ""
          const req = http.get(`${web.url}api/events`, { headers: bearer(viewToken) }, (res) => {
            res.setEncoding("utf8")
            res.on("data", (chunk: string) => (text += chunk))
            resume(Effect.succeed({ res, text: () => text }))
          })
          req.on("error", (e) => resume(Effect.die(e)))
        }),
        ({ res }) => Effect.sync(() => res.destroy())
      )
      expect(stream.res.statusCode).toBe(200)
      expect(stream.res.headers["content-type"]).toMatch(/^text\/event-stream/)
      expect(stream.res.headers["x-frame-options"]).toBe("DENY")
      yield* waitUntil("the stream's first frame", () => stream.text().startsWith("retry: 1000\n\n"))
      process.kill(pid, "SIGKILL")
      const events = () =>
        stream.text().split("\n\n").filter((f) => f.includes("data: {")).map((f) =>
          JSON.parse(f.slice(f.indexOf("data: ") + 6))
        ) as Array<hub.WebEvent>
      yield* waitUntil("a death and a restart in the stream", () => {
        const types = events().filter((e) => e.entity === "web").map((e) => e.type)
        return types.includes("Death") && types.includes("Restart")
      })
      const death = events().find((e) => e.type === "Death")!
      expect(death.mark).toBe("death")
      expect(death.detail).toContain(`pid ${pid}`)
      expect(death.detail).toContain("SIGKILL")
      const seqs = events().map((e) => e.seq)
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b))
      // the tree's timeline has them too
      const tree = JSON.parse((yield* request(`${web.url}api/tree`, { headers: bearer(viewToken) })).text)
      const marks = tree.entities[0].marks.map((m: hub.Mark) => m.mark)
      expect(marks).toEqual(["death", "restart"])
    }).pipe(Effect.scoped, withHam()))

  it.live("closing does not wait for the pages: their event streams and connections are ended", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const web = yield* Scope.extend(served, scope)
      const agent = new http.Agent({ keepAlive: true })
      const ended = yield* Deferred.make<void>()
      let text = ""
      // a page's stream, and a keep-alive connection of its, idle
      yield* request(`${web.url}api/tree`, { headers: bearer(viewToken) })
      http.get(`${web.url}api/events`, { agent, headers: bearer(viewToken) }, (res) => {
        res.setEncoding("utf8")
        res.on("data", (chunk: string) => (text += chunk))
        res.on("close", () => Deferred.unsafeDone(ended, Exit.void))
      })
      yield* waitUntil("the stream's first frame", () => text.startsWith("retry: 1000"))
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* waitUntilEffect("the server to close", Effect.map(Fiber.poll(closing), Option.isSome), 5000)
      yield* Deferred.await(ended)
      agent.destroy()
    }).pipe(withHam()))

  it.live("bad options are typed errors: a port out of range, one token for both, a port in use", () =>
    Effect.gen(function*() {
      const ham = yield* Ham.Ham
      const tokens = { viewToken: Redacted.make(viewToken), operatorToken: Redacted.make(operatorToken) }
      const port = yield* failureOf(Effect.scoped(server.serve(ham, { ...tokens, port: 70000 })))
      expect(port._tag).toBe("InvalidArgument")
      expect(port.message).toContain("port")
      const same = yield* failureOf(
        Effect.scoped(server.serve(ham, { ...tokens, operatorToken: Redacted.make(viewToken) }))
      )
      expect(same._tag).toBe("InvalidArgument")
      const busy = yield* Effect.acquireRelease(
        Effect.async<net.Server>((resume) => {
          const s = net.createServer().listen(0, "127.0.0.1", () => resume(Effect.succeed(s)))
        }),
        (s) => Effect.sync(() => s.close())
      )
      const taken = (busy.address() as net.AddressInfo).port
      const exit = yield* Effect.exit(Effect.scoped(server.serve(ham, { ...tokens, port: taken })))
      expect(Exit.isFailure(exit)).toBe(true)
      const listen = yield* failureOf(Effect.scoped(server.serve(ham, { ...tokens, port: taken })))
      expect(listen._tag).toBe("ListenFailed")
      expect(listen.message).toContain(String(taken))
    }).pipe(Effect.scoped, withHam()))
})

describe("ham web: the command's options", () => {
  /** `ham web` (the bundled CLI) with `env`; the HAM's socket does not exist: options are refused before it is asked */
  const web = (env: Record<string, string>, ...args: ReadonlyArray<string>) =>
    cp.spawnSync(process.execPath, [inject("hamBundle"), "web", "--socket", "/nonexistent/ham.sock", ...args], {
      encoding: "utf8",
      timeout: 30_000,
      env: { ...process.env, ...env }
    })

  it("a bad port, one token for both, a short token: exit 2 with the reason; no HAM: exit 3", () => {
    const port = web({}, "--web-port", "70000")
    expect([port.status, port.stderr]).toEqual([2, expect.stringContaining("invalid port")])
    const same = web({ HAM_WEB_VIEW_TOKEN: viewToken, HAM_WEB_OPERATOR_TOKEN: viewToken })
    expect([same.status, same.stderr]).toEqual([2, expect.stringContaining("must differ")])
    const short = web({ HAM_WEB_VIEW_TOKEN: "short" })
    expect([short.status, short.stderr]).toEqual([2, expect.stringContaining("viewToken")])
    const none = web({}, "--web-port", "0")
    expect(none.status).toBe(3)
  })
})

describe("ham web: what it keeps", () => {
  it("the timelines keep the last hour, at most maxMarks per entity", () => {
    const now = 10 * hub.historyWindow
    const old = { seq: 1, time: now - hub.historyWindow - 1, mark: "death" as const }
    const fresh = { seq: 2, time: now - 1000, mark: "restart" as const }
    expect(hub.keepMarks([old], [fresh], now)).toEqual([fresh])
    const many = Array.from({ length: hub.maxMarks + 10 }, (_, i) => ({ seq: i, time: now, mark: "death" as const }))
    const kept = hub.keepMarks([], many, now)
    expect(kept.length).toBe(hub.maxMarks)
    expect(kept[0].seq).toBe(10)
  })

  it("a batch's frames: an event each with its seq as id, and a note of the events left out", () => {
    const e: hub.WebEvent = { seq: 7, time: 1, entity: "a", type: "Death", detail: "pid 1 SIGKILL", mark: "death" }
    expect(hub.frames([e], 0)).toBe(`id: 7\ndata: ${JSON.stringify(e)}\n\n`)
    expect(hub.frames([], 3)).toBe("event: dropped\ndata: 3\n\n")
  })
})
