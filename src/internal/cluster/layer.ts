/**
 * `HamCluster.layer`: joins the HAM of the context to a cluster. It serves the HAM on TCP (the
 * other nodes watch it there), writes this node in the members' table, watches every other member
 * (`peers.ts`), runs an @effect/cluster runner whose storage and shard locks are in PostgreSQL
 * (`@effect/sql-pg`), and registers the cluster-wide groups as singletons (`groups.ts`).
 *
 * @internal
 */
import * as RunnerAddress from "@effect/cluster/RunnerAddress"
import * as NodeClusterSocket from "@effect/platform-node/NodeClusterSocket"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberMap from "effect/FiberMap"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Api from "../../HamCluster.js"
import { ClusterUnavailable, InvalidArgument, ListenFailed } from "../../HamError.js"
import * as entity_ from "../entity.js"
import { Ham } from "../ham/tag.js"
import { formatParseError } from "../ham/validate.js"
import * as server from "../remote/server.js"
import * as ddl from "./ddl.js"
import * as groups from "./groups.js"
import * as members from "./members.js"
import * as mirror from "./mirror.js"
import * as peers from "./peers.js"

/** @internal */
export class HamCluster extends Context.Tag("effect-ham/HamCluster")<HamCluster, Api.HamClusterService>() {}

/** @internal the lock timings that gave a 4.1 s failover (the library's defaults: 27 s) */
export const defaultLocks = { refresh: "1 second", expiration: "3 seconds", assignmentRefresh: "500 millis" } as const

/** @internal how other nodes are watched by default */
export const defaultWatch = {
  interval: "100 millis",
  lossAfter: "500 millis",
  missedLow: 2,
  missedHigh: 4,
  forgetAfter: "1 minute"
} as const

interface Parsed {
  readonly node: string
  readonly database: Redacted.Redacted<string>
  readonly databaseShown: string
  readonly ham: peers.Peer
  readonly listenHost: string
  readonly runner: { readonly host: string; readonly port: number }
  readonly watch: peers.WatchOptions
  readonly locks: {
    readonly refresh: Duration.Duration
    readonly expiration: Duration.Duration
    readonly assignment: Duration.Duration
  }
  readonly groups: ReadonlyArray<groups.GroupConfig>
  readonly membersMillis: number
  /** a member's row not written for this long, its node not answering, is forgotten */
  readonly forgetMillis: number
  /** how often this node's row is written again */
  readonly rowMillis: number
}

const invalid = (argument: string, reason: string) => new InvalidArgument({ argument, reason })

const Port = Schema.Int.pipe(Schema.between(1, 65535))

const millisOf = (argument: string, input: Duration.DurationInput | undefined, fallback: Duration.DurationInput) =>
  Effect.flatMap(
    Effect.mapError(Duration.decodeUnknown(input ?? fallback), () => invalid(argument, "must be a duration")),
    (d) =>
      Duration.isFinite(d) && Duration.toMillis(d) >= 1
        ? Effect.succeed(Duration.toMillis(d))
        : Effect.fail(invalid(argument, "must be a finite duration of at least 1 ms"))
  )

const count = (argument: string, n: number | undefined, fallback: number) =>
  Number.isInteger(n ?? fallback) && (n ?? fallback) >= 1
    ? Effect.succeed(n ?? fallback)
    : Effect.fail(invalid(argument, "must be an integer of at least 1"))

/**
 * The URL with the session settings that end a cut-off node's session (and so its advisory locks)
 * within seconds (PostgreSQL's defaults leave it to the kernel: up to hours): keepalives while the
 * connection is idle, and a bound on unacknowledged data (`tcp_user_timeout`), shorter than the
 * locks' expiration. An `options` the URL has already is kept as it is.
 */
export const withSessionTimeouts = (url: string, expirationMillis: number, refreshMillis: number): string => {
  const parsed = new URL(url)
  if (parsed.searchParams.has("options")) return url
  const userTimeout = Math.max(1_000, expirationMillis - refreshMillis)
  parsed.searchParams.set(
    "options",
    `-c tcp_keepalives_idle=1 -c tcp_keepalives_interval=1 -c tcp_keepalives_count=2 -c tcp_user_timeout=${userTimeout}`
  )
  return parsed.toString()
}

/** the database's URL without its password, for errors and logs */
const shown = (url: string) => url.replace(/\/\/([^:@/]+):[^@/]*@/, "//$1:***@")

const parse = (options: Api.ClusterOptions): Effect.Effect<Parsed, InvalidArgument> =>
  Effect.gen(function*() {
    if (!Schema.is(entity_.Name)(options.node)) {
      return yield* invalid("node", "must be a name: 1 to 255 characters, no '/' or control characters")
    }
    const url = typeof options.database === "string" ? options.database : Redacted.value(options.database)
    if (!/^postgres(ql)?:\/\//.test(url)) return yield* invalid("database", "must be a postgres:// URL")
    if (!Schema.is(Port)(options.ham?.port)) return yield* invalid("ham.port", "must be a port, 1 to 65535")
    if (!Schema.is(Port)(options.runner?.port)) return yield* invalid("runner.port", "must be a port, 1 to 65535")
    if (options.ham.port === options.runner.port && (options.ham.host ?? "") === (options.runner.host ?? "")) {
      return yield* invalid("runner.port", "must differ from ham.port")
    }
    const watch = options.watch ?? {}
    const intervalMillis = yield* millisOf("watch.interval", watch.interval, defaultWatch.interval)
    const lossMillis = yield* millisOf("watch.lossAfter", watch.lossAfter, defaultWatch.lossAfter)
    if (lossMillis < intervalMillis) return yield* invalid("watch.lossAfter", "must be at least watch.interval")
    const forgetMillis = yield* millisOf("watch.forgetAfter", watch.forgetAfter, defaultWatch.forgetAfter)
    if (forgetMillis < 1_000 || forgetMillis <= lossMillis) {
      return yield* invalid("watch.forgetAfter", "must be at least 1 second, and longer than watch.lossAfter")
    }
    const locks = options.locks ?? {}
    const refresh = yield* millisOf("locks.refresh", locks.refresh, defaultLocks.refresh)
    const expiration = yield* millisOf("locks.expiration", locks.expiration, defaultLocks.expiration)
    const assignment = yield* millisOf(
      "locks.assignmentRefresh",
      locks.assignmentRefresh,
      defaultLocks.assignmentRefresh
    )
    if (expiration <= refresh) return yield* invalid("locks.expiration", "must be longer than locks.refresh")
    const decoded = Schema.decodeUnknownEither(Schema.Array(groups.GroupConfig))(options.groups ?? [])
    if (decoded._tag === "Left") return yield* invalid("groups", formatParseError(decoded.left))
    const names = decoded.right.flatMap((g) => g.entities.map((e) => e.name))
    const twice = names.find((name, i) => names.indexOf(name) !== i)
    if (twice !== undefined) return yield* invalid("groups", `entity ${JSON.stringify(twice)} is named twice`)
    const groupNames = decoded.right.map((g) => g.name)
    const groupTwice = groupNames.find((name, i) => groupNames.indexOf(name) !== i)
    if (groupTwice !== undefined) return yield* invalid("groups", `group ${JSON.stringify(groupTwice)} is named twice`)
    const advertised = options.ham.advertise ?? options.ham.host ?? "127.0.0.1"
    return {
      node: options.node,
      database: Redacted.make(withSessionTimeouts(url, expiration, refresh)),
      databaseShown: shown(url),
      ham: { name: options.node, host: advertised, port: options.ham.port },
      listenHost: options.ham.host ?? "127.0.0.1",
      runner: { host: options.runner.host ?? "127.0.0.1", port: options.runner.port },
      watch: {
        intervalMillis,
        lossMillis,
        missedLow: yield* count("watch.missedLow", watch.missedLow, defaultWatch.missedLow),
        missedHigh: yield* count("watch.missedHigh", watch.missedHigh, defaultWatch.missedHigh),
        auth: options.auth
      },
      locks: {
        refresh: Duration.millis(refresh),
        expiration: Duration.millis(expiration),
        assignment: Duration.millis(assignment)
      },
      groups: decoded.right,
      membersMillis: Math.max(intervalMillis, 250),
      forgetMillis,
      // written again well within the time others forget it
      rowMillis: Math.min(5_000, Math.floor(forgetMillis / 4))
    }
  })

const make = (parsed: Parsed) =>
  Effect.gen(function*() {
    const ham = yield* Ham
    const sql = yield* SqlClient.SqlClient
    yield* server.make({ listen: { tcp: { port: parsed.ham.port, host: parsed.listenHost } }, auth: parsed.watch.auth })
    const unavailable = (reason: unknown) =>
      new ClusterUnavailable({ database: parsed.databaseShown, reason: String((reason as any)?.message ?? reason) })
    const runner = `${parsed.runner.host}:${parsed.runner.port}`
    yield* Effect.mapError(members.ensureTable(sql), unavailable)
    yield* Effect.mapError(members.join(sql, parsed.ham, runner), unavailable)
    yield* Effect.addFinalizer(() =>
      members.leave(sql, parsed.node).pipe(Effect.timeout("2 seconds"), Effect.ignore, Effect.interruptible)
    )
    // written again now and then: a database restarted empty (or a row deleted by hand) learns it
    // again, and the others do not forget this node
    yield* members.join(sql, parsed.ham, runner).pipe(
      Effect.ignore,
      Effect.repeat(Schedule.spaced(parsed.rowMillis)),
      Effect.delay(parsed.rowMillis),
      Effect.forkScoped
    )

    const runningNodes = Effect.map(
      ham.snapshot,
      (tree) => new Set(tree.entities.filter((e) => e.status === "running").map((e) => e.name))
    )
    const watchers = yield* FiberMap.make<string>()
    const known = new Map<string, peers.Peer>()
    const refresh = Effect.gen(function*() {
      const all = yield* members.list(sql)
      // the rows of nodes gone for good (killed, never back): forgotten, their entities detached
      const old = members.stale(all, parsed.node, parsed.forgetMillis, () => false)
      const up = old.length === 0 ? new Set<string>() : yield* runningNodes
      const gone = new Set(
        members.stale(old, parsed.node, parsed.forgetMillis, (name) => up.has(peers.entityName(name))).map((r) =>
          r.name
        )
      )
      for (const name of gone) {
        yield* Effect.ignore(members.forget(sql, name, parsed.forgetMillis))
        yield* Effect.annotateLogs(Effect.logInfo("member forgotten: its row is stale and it does not answer"), {
          node: name
        })
      }
      const rows = all.filter((peer) => peer.name !== parsed.node && !gone.has(peer.name))
      const now = new Set(rows.map((peer) => peer.name))
      for (const [name] of known) {
        if (!now.has(name)) {
          known.delete(name)
          yield* FiberMap.remove(watchers, name)
        }
      }
      for (const peer of rows) {
        const before = known.get(peer.name)
        if (before !== undefined && before.host === peer.host && before.port === peer.port) continue
        known.set(peer.name, peer)
        yield* FiberMap.run(watchers, peer.name, peers.watch(ham, peer, parsed.watch))
      }
    })
    // the entities of other nodes this HAM has (Entity.remote), each kept in step by a mirror
    // (looked for as often as the members are read)
    const mirrors = yield* FiberMap.make<string>()
    const mirrored = new Map<string, peers.Peer>()
    const scan = Effect.gen(function*() {
      const tree = yield* ham.snapshot
      const names = new Set(known.keys())
      const wanted = new Map<string, readonly [peers.Peer, string]>()
      for (const e of tree.entities) {
        const target = mirror.parse(e.name, names)
        if (Option.isSome(target)) wanted.set(e.name, [known.get(target.value[0])!, target.value[1]])
      }
      for (const [name, peer] of mirrored) {
        const now = wanted.get(name)
        if (now === undefined || now[0] !== peer) {
          mirrored.delete(name)
          yield* FiberMap.remove(mirrors, name)
        }
      }
      for (const [name, [peer, entity]] of wanted) {
        if (mirrored.has(name)) continue
        mirrored.set(name, peer)
        yield* FiberMap.run(mirrors, name, mirror.mirror(ham, peer, entity, parsed.watch))
      }
    })
    // the database away: the members known go on being watched
    yield* scan.pipe(
      Effect.catchAllCause((cause) => Effect.logDebug("remote entities not scanned", cause)),
      Effect.repeat(Schedule.spaced(parsed.membersMillis)),
      Effect.forkScoped
    )
    yield* refresh.pipe(
      Effect.catchAllCause((cause) => Effect.logDebug("members not read", cause)),
      Effect.repeat(Schedule.spaced(parsed.membersMillis)),
      Effect.forkScoped
    )

    const here = new Set<string>()
    yield* groups.register(ham, parsed.groups, here, parsed.watch.lossMillis)
    return {
      node: parsed.node,
      members: Effect.sync(() => [parsed.node, ...known.keys()].sort()),
      groupsHere: Effect.sync(() => [...here].sort())
    } satisfies Api.HamClusterService
  })

const sharding = (parsed: Parsed) =>
  NodeClusterSocket.layer({
    storage: "sql",
    shardingConfig: {
      runnerAddress: Option.some(RunnerAddress.make(parsed.runner.host, parsed.runner.port)),
      shardLockRefreshInterval: parsed.locks.refresh,
      shardLockExpiration: parsed.locks.expiration,
      refreshAssignmentsInterval: parsed.locks.assignment
    }
  })

/** @internal */
export const layer = (
  options: Api.ClusterOptions
): Layer.Layer<HamCluster, InvalidArgument | ListenFailed | ClusterUnavailable, Ham> =>
  Layer.unwrapEffect(Effect.map(parse(options), (parsed) => {
    const sql = PgClient.layer({ url: parsed.database, connectTimeout: "2 seconds" }).pipe(
      Layer.mapError((error) => new ClusterUnavailable({ database: parsed.databaseShown, reason: error.message }))
    )
    // nodes started together run @effect/cluster's migrations together: PostgreSQL may refuse one
    // node's CREATE TABLE while another's runs (a failure or a defect): it is built again
    const runner = ddl.rebuiltOnConcurrentDdl(() => sharding(parsed), 8, 250).pipe(
      Layer.catchAll((error) =>
        Layer.fail(
          error._tag === "SocketServerError"
            ? new ListenFailed({
              address: `${parsed.runner.host}:${parsed.runner.port}`,
              reason: String((error.cause as any)?.message ?? error.reason)
            })
            : invalid("cluster config", String(error))
        )
      ),
      Layer.provideMerge(sql)
    )
    return Layer.scoped(HamCluster, make(parsed)).pipe(Layer.provide(runner))
  }))
