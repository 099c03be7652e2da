/**
 * `HamCluster.layer`'s options, checked before anything is opened: a bad one is an
 * `InvalidArgument` naming it (no database, no port touched: the URL points nowhere). The session
 * settings added to the database's URL (a cut-off node's session, and its locks, end in seconds).
 */
import { SqlError } from "@effect/sql/SqlError"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Context, Effect, Exit, Fiber, Layer, TestClock } from "effect"
import { Ham } from "effect-ham"
import * as HamCluster from "effect-ham/HamCluster"
import * as ddl from "../src/internal/cluster/ddl.js"
import { withSessionTimeouts } from "../src/internal/cluster/layer.js"
import * as members from "../src/internal/cluster/members.js"

const good: HamCluster.ClusterOptions = {
  node: "a",
  database: "postgres://nobody@127.0.0.1:1/none",
  ham: { port: 7420 },
  runner: { port: 7421 },
  auth: { token: "a-token-of-enough-length-0123" }
}

/** the error building the layer fails with */
const refusal = (options: unknown) =>
  Layer.build(HamCluster.layer(options as HamCluster.ClusterOptions).pipe(Layer.provide(Ham.layer()))).pipe(
    Effect.scoped,
    Effect.flip
  )

describe("HamCluster.layer's options", () => {
  it.effect("a bad option is an InvalidArgument naming it", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [Record<string, unknown>, string]> = [
        [{ node: "a/b" }, "node"],
        [{ node: "" }, "node"],
        [{ database: "mysql://x" }, "database"],
        [{ ham: { port: 0 } }, "ham.port"],
        [{ runner: { port: 70000 } }, "runner.port"],
        [{ runner: { port: 7420 } }, "runner.port"],
        [{ watch: { interval: "1 second", lossAfter: "100 millis" } }, "watch.lossAfter"],
        [{ watch: { missedHigh: 0 } }, "watch.missedHigh"],
        [{ watch: { forgetAfter: "900 millis" } }, "watch.forgetAfter"],
        [{ watch: { lossAfter: "2 seconds", forgetAfter: "2 seconds" } }, "watch.forgetAfter"],
        [{ watch: { forgetAfter: "soon" } }, "watch.forgetAfter"],
        [{ locks: { refresh: "5 seconds", expiration: "4 seconds" } }, "locks.expiration"],
        [{ groups: [{ name: "g", entities: [{ name: "x" }] }] }, "groups"],
        [{ groups: [{ name: "g", entities: [] }, { name: "g", entities: [] }] }, "groups"]
      ]
      for (const [change, argument] of cases) {
        const error = yield* refusal({ ...good, ...change })
        expect(error._tag, JSON.stringify(change)).toBe("InvalidArgument")
        expect((error as { argument: string }).argument, JSON.stringify(change)).toBe(argument)
      }
    }))

  it.effect(
    "a database that cannot be reached is ClusterUnavailable, its password not shown",
    () =>
      Effect.gen(function*() {
        const error = yield* refusal({ ...good, database: "postgres://user:secret@127.0.0.1:1/none" })
        expect(error._tag).toBe("ClusterUnavailable")
        expect(error.message).not.toContain("secret")
      }),
    30_000
  )

  it("the URL gets the session timeouts, shorter than the locks' expiration; an options of its own is kept", () => {
    const url = new URL(withSessionTimeouts("postgres://u:p@db:5432/ham", 3_000, 1_000))
    expect(url.searchParams.get("options")).toBe(
      "-c tcp_keepalives_idle=1 -c tcp_keepalives_interval=1 -c tcp_keepalives_count=2 -c tcp_user_timeout=2000"
    )
    expect(url.password).toBe("p")
    const own = "postgres://db/ham?options=-c%20statement_timeout%3D5"
    expect(withSessionTimeouts(own, 3_000, 1_000)).toBe(own)
  })

  it("stale rows: older than forgetAfter, of another node that does not answer here", () => {
    const row = (name: string, ageMillis: number) => ({ name, host: "127.0.0.1", port: 1, ageMillis })
    const rows = [row("self", 90_000), row("fresh", 1_000), row("gone", 60_001), row("answers", 90_000)]
    const answering = (name: string) => name === "answers"
    expect(members.stale(rows, "self", 60_000, answering).map((r) => r.name)).toEqual(["gone"])
    // exactly forgetAfter old: not yet
    expect(members.stale([row("edge", 60_000)], "self", 60_000, () => false)).toEqual([])
  })
})

describe("nodes started together: the tables created at once", () => {
  // PostgreSQL's refusal as @effect/sql reports it: an SqlError whose cause carries the code
  const refused = (code: string) =>
    new SqlError({ message: "Failed to execute statement", cause: Object.assign(new Error("refused"), { code }) })

  it.effect("a build that dies or fails of a concurrent CREATE TABLE is built again, fresh; any other error is not", () =>
    Effect.gen(function*() {
      const Tag = Context.GenericTag<string>("test/built")
      let builds = 0
      // dies twice (as the message storage's migrations do), fails once (the runner storage's), then builds
      const flaky = () =>
        Layer.effect(
          Tag,
          Effect.suspend(() => {
            builds++
            return builds <= 2
              ? Effect.die(refused("23505"))
              : builds === 3
              ? Effect.fail(refused("42P07"))
              : Effect.succeed(`build ${builds}`)
          })
        )
      const fiber = yield* Effect.fork(Effect.scoped(Layer.build(ddl.rebuiltOnConcurrentDdl(flaky, 8, 250))))
      yield* TestClock.adjust("1 second")
      const built = yield* Fiber.join(fiber)
      expect([Context.get(built, Tag), builds]).toEqual(["build 4", 4])

      // another error: built once, its cause kept
      let others = 0
      const broken = Layer.effect(Tag, Effect.suspend(() => (others++, Effect.die(refused("28P01")))))
      const exit = yield* Effect.exit(Effect.scoped(Layer.build(ddl.rebuiltOnConcurrentDdl(() => broken, 8, 250))))
      expect(others).toBe(1)
      expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(true)

      // always refused: given up after its attempts, with the refusal
      let always = 0
      const refusing = Layer.effect(Tag, Effect.suspend(() => (always++, Effect.die(refused("23505")))))
      const given = yield* Effect.fork(
        Effect.exit(Effect.scoped(Layer.build(ddl.rebuiltOnConcurrentDdl(() => refusing, 3, 250))))
      )
      yield* TestClock.adjust("2 seconds")
      const last = yield* Fiber.join(given)
      expect(always).toBe(4)
      expect(Exit.isFailure(last) && ddl.concurrentDdl(last.cause)).toBe(true)
    }))
})
