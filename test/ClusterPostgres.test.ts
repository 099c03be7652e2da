/**
 * The throwaway PostgreSQL of the cluster's tests (test/postgres.ts): started as the postgres user
 * in a temporary directory on a loopback port, a fresh database per test (advisory locks are per
 * database: one held in a database does not block the same key in another), stopped and started
 * again on the same port, and gone when its scope closes: no server process, no directory.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import * as fs from "node:fs"
import { accepts, postgres, unavailable } from "./postgres.js"
import { liveProcesses } from "./processes.js"

/** a client of the database at url, for the scope */
const client = (url: string) =>
  Layer.build(PgClient.layer({ url: Redacted.make(url) })).pipe(
    Effect.map((context) => Effect.provide(SqlClient.SqlClient, context)),
    Effect.flatten,
    Effect.orDie
  )

/** one query on a connection of its own, closed after */
const query = (url: string, text: string) =>
  Effect.scoped(Effect.flatMap(client(url), (sql) => sql.unsafe<Record<string, unknown>>(text))).pipe(Effect.orDie)

const skip = unavailable()
if (skip !== undefined) console.log(`ClusterPostgres skipped: ${skip}`)

describe.skipIf(skip !== undefined)("the tests' PostgreSQL", () => {
  it.live(
    "started, a database per test, advisory locks per database, restarted, gone after",
    () =>
      Effect.gen(function*() {
        let dir = ""
        yield* Effect.scoped(Effect.gen(function*() {
          const pg = yield* postgres
          dir = pg.dir
          expect(yield* accepts(pg.port)).toBe(true)
          const a = pg.createDatabase()
          const b = pg.createDatabase()
          expect(a).not.toBe(b)
          // a session lock on key 7 in a, held: in a it is taken, in b it is free
          yield* Effect.scoped(Effect.gen(function*() {
            const holder = yield* (yield* client(a)).reserve.pipe(Effect.orDie)
            yield* holder.executeRaw("select pg_advisory_lock(7)", []).pipe(Effect.orDie)
            const inA = yield* query(a, "select pg_try_advisory_lock(7) as got")
            const inB = yield* query(b, "select pg_try_advisory_lock(7) as got")
            expect(inA[0].got).toBe(false)
            expect(inB[0].got).toBe(true)
          }))
          // the lock went with its session: free in a now
          expect((yield* query(a, "select pg_try_advisory_lock(7) as got"))[0].got).toBe(true)
          pg.stop()
          expect(yield* accepts(pg.port)).toBe(false)
          pg.start()
          expect((yield* query(a, "select 1 as one"))[0].one).toBe(1)
          expect(liveProcesses(pg.dir).length).toBeGreaterThan(0)
        }))
        expect(fs.existsSync(dir)).toBe(false)
        expect(liveProcesses(dir)).toEqual([])
      }),
    60_000
  )
})
