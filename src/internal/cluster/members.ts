/**
 * The cluster's members, in PostgreSQL beside @effect/cluster's own tables: one row per node, its
 * name and where its HAM answers (`ham_cluster_nodes`). A node writes its row when it joins (and
 * again every few seconds, so that a database restarted empty learns it again) and deletes it
 * when it leaves; every node reads the rows to know which others to watch.
 *
 * A node that is killed leaves its row behind. A row not written again for `forgetAfter` (its age
 * is the database's clock, `now() - seen_at`) whose node does not answer here is forgotten: any
 * live node deletes it (`stale`, `forget`), so that a node that never comes back is not dialled
 * forever. A stale row whose node still answers (the database was away, or only that node's link
 * to it) is kept: its node writes it again once it can.
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type { Peer } from "./peers.js"

/** @internal the table's name */
export const table = "ham_cluster_nodes"

/** the table, made by whichever node comes first (two at once: one of them is told it exists) */
export const ensureTable = (sql: SqlClient.SqlClient) =>
  sql.unsafe(
    `CREATE TABLE IF NOT EXISTS ${table} (
      name text PRIMARY KEY,
      ham_host text NOT NULL,
      ham_port integer NOT NULL,
      runner text NOT NULL,
      seen_at timestamptz NOT NULL DEFAULT now()
    )`
  ).pipe(Effect.retry({ times: 5, schedule: Schedule.spaced("100 millis") }), Effect.asVoid)

/** @internal this node's row, written (or written again) */
export const join = (sql: SqlClient.SqlClient, self: Peer, runner: string) =>
  sql`INSERT INTO ${sql(table)} (name, ham_host, ham_port, runner, seen_at)
    VALUES (${self.name}, ${self.host}, ${self.port}, ${runner}, now())
    ON CONFLICT (name) DO UPDATE SET ham_host = EXCLUDED.ham_host, ham_port = EXCLUDED.ham_port,
      runner = EXCLUDED.runner, seen_at = now()`.pipe(Effect.asVoid)

/** @internal this node's row, deleted (it leaves the cluster) */
export const leave = (sql: SqlClient.SqlClient, name: string) =>
  sql`DELETE FROM ${sql(table)} WHERE name = ${name}`.pipe(Effect.asVoid)

/** @internal a member's row: where its HAM answers, and how long ago the row was written */
export interface Row extends Peer {
  readonly ageMillis: number
}

/** @internal every member, with its row's age */
export const list = (sql: SqlClient.SqlClient) =>
  sql<{ readonly name: string; readonly ham_host: string; readonly ham_port: number; readonly age: number | string }>`
    SELECT name, ham_host, ham_port, (EXTRACT(EPOCH FROM (now() - seen_at)) * 1000)::float8 AS age
    FROM ${sql(table)} ORDER BY name`.pipe(
    Effect.map((rows) =>
      rows.map((row): Row => ({ name: row.name, host: row.ham_host, port: row.ham_port, ageMillis: Number(row.age) }))
    )
  )

/**
 * The rows to forget: older than `forgetMillis`, of a node other than `self` that does not answer
 * here now (`answering`: its node entity runs).
 *
 * @internal
 */
export const stale = (
  rows: ReadonlyArray<Row>,
  self: string,
  forgetMillis: number,
  answering: (name: string) => boolean
): ReadonlyArray<Row> => rows.filter((row) => row.name !== self && row.ageMillis > forgetMillis && !answering(row.name))

/** @internal a stale row deleted (unless its node wrote it again meanwhile) */
export const forget = (sql: SqlClient.SqlClient, name: string, forgetMillis: number) =>
  sql`DELETE FROM ${sql(table)}
    WHERE name = ${name} AND seen_at < now() - (${forgetMillis} * interval '1 millisecond')`.pipe(Effect.asVoid)
