/**
 * The `ham` daemon: a HAM (with the Guardian store unless it is turned off), a `HamServer` on the
 * control socket (and on TCP when the config asks), and the config file applied. It runs until
 * `Ham.stop` is called through the server (`ham stop`), or its scope is closed (a signal), and
 * both stop every child with its stop signal and grace.
 *
 * @internal
 */
import * as Console from "effect/Console"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import type { HamService } from "../../HamService.js"
import * as guardian from "../guardian/layer.js"
import { localOf } from "../ham/local.js"
import { Ham, layer as hamLayer } from "../ham/make.js"
import * as mirror from "../mirror/sync.js"
import * as auth from "../remote/auth.js"
import * as server from "../remote/server.js"
import { attach } from "./attach.js"
import * as config_ from "./config.js"
import { type Config, EntityConfig } from "./config.js"
import { pidFile, reloadFile, type ReloadReport } from "./files.js"

/** @internal what `ham start` runs */
export interface DaemonOptions {
  readonly config: Config
  /** the config file, read again at each reload (SIGHUP, `ham reload`) */
  readonly file?: string | undefined
  /** the Guardian store's file; none: in memory */
  readonly state: string | undefined
  readonly socket: string
  readonly tokenFile: string | undefined
  /** a directory kept in sync with the tree (`mirror/sync.ts`), while the daemon runs */
  readonly mirror?: string | undefined
  /** the TCP listener's certificate and key files (absolute), when it speaks TLS */
  readonly tls?: { readonly certFile: string; readonly keyFile: string } | undefined
  /** the cluster's token file (absolute), when the config's `cluster` names one */
  readonly clusterTokenFile?: string | undefined
  /** called once the daemon serves and the config is applied */
  readonly onReady?: (
    info: { readonly socket: string; readonly tcpPort: number | undefined; readonly node: string | undefined }
  ) => Effect.Effect<void>
}

/**
 * Applies a config to a HAM: attaches its entities in order with their conditions and actions,
 * and detaches the entities a store brought back that the config no longer names.
 *
 * @internal
 */
export const apply = (ham: HamService, config: Config) =>
  Effect.gen(function*() {
    const tree = yield* ham.snapshot
    const named = new Set(config.entities.map((e) => e.name))
    for (const node of tree.entities) {
      if (!named.has(node.name)) yield* Effect.ignore(ham.detach(node.name))
    }
    for (const e of config.entities) yield* attach(ham, e)
    if (config.verbosity !== undefined) yield* ham.verbose(config.verbosity)
  })

/** @internal what a reload changes, by entity name */
export interface Diff {
  readonly removed: ReadonlyArray<string>
  readonly added: ReadonlyArray<string>
  readonly changed: ReadonlyArray<string>
  /** changed in their command only, with `reload: "graceful"`: reloaded with no downtime */
  readonly graceful: ReadonlyArray<string>
}

const encodeEntity = Schema.encodeSync(EntityConfig)

/** @internal the entities a new config removes, adds and changes (any field of the entity) */
export const diff = (before: Config, after: Config): Diff => {
  const key = (e: EntityConfig) => JSON.stringify(encodeEntity(e))
  const old = new Map(before.entities.map((e) => [e.name, key(e)]))
  const next = new Set(after.entities.map((e) => e.name))
  const changed = after.entities.filter((e) => old.has(e.name) && old.get(e.name) !== key(e))
  // the same but for the command (the one before in its place), and graceful
  const commandOnly = (e: EntityConfig) => {
    const was = before.entities.find((b) => b.name === e.name)!
    return e.reload === "graceful" && was.reload === "graceful" && key({ ...e, command: was.command }) === key(was)
  }
  return {
    removed: before.entities.filter((e) => !next.has(e.name)).map((e) => e.name),
    added: after.entities.filter((e) => !old.has(e.name)).map((e) => e.name),
    changed: changed.filter((e) => !commandOnly(e)).map((e) => e.name),
    graceful: changed.filter(commandOnly).map((e) => e.name)
  }
}

/**
 * Applies a changed config to a running HAM: the entities whose command alone changed, with
 * `reload: "graceful"`, are reloaded (`Ham.reloadEntity`: no downtime); the removed and changed
 * entities (and a graceful one whose reload failed: the config is the truth) are detached, then the
 * added and changed ones attached (in the new config's order); the others are not touched.
 *
 * @internal
 */
export const reload = (ham: HamService, before: Config, after: Config) =>
  Effect.gen(function*() {
    const d = diff(before, after)
    const failed: Array<string> = []
    for (const e of after.entities) {
      if (!d.graceful.includes(e.name)) continue
      const reloaded = yield* Effect.either(ham.reloadEntity(e.name, { command: e.command }))
      if (reloaded._tag === "Left") {
        failed.push(e.name)
        yield* Effect.logWarning(`graceful reload of "${e.name}" failed, attached again: ${reloaded.left.message}`)
      }
    }
    for (const name of [...d.removed, ...d.changed, ...failed]) yield* Effect.ignore(ham.detach(name))
    const attach_ = new Set([...d.added, ...d.changed, ...failed])
    for (const e of after.entities) if (attach_.has(e.name)) yield* attach(ham, e)
    if (after.verbosity !== undefined && after.verbosity !== before.verbosity) yield* ham.verbose(after.verbosity)
    return { ...d, failed }
  })

/** @internal the files beside the socket (in `files.ts`, which the CLI reads without loading the daemon) */
export { pidFile, reloadFile, type ReloadReport }

const writeOwnerOnly = (file: string, text: string) =>
  Effect.sync(() => {
    const tmp = `${file}.tmp`
    fs.writeFileSync(tmp, text, { mode: 0o600 })
    fs.renameSync(tmp, file)
  })

/** how the graceful reloads went, for the reload's report */
const gracefully = (d: Diff & { readonly failed: ReadonlyArray<string> }) =>
  `, reloaded gracefully ${d.graceful.length - d.failed.length}` +
  (d.failed.length === 0 ? "" : ` (failed, attached again: ${d.failed.join(", ")})`)

/** on each SIGHUP: the config file read again and applied; the outcome written beside the socket */
const reloads = (ham: HamService, options: DaemonOptions, file: string) =>
  Effect.gen(function*() {
    const current = yield* Ref.make(options.config)
    const seq = yield* Ref.make(0)
    const hups = yield* Queue.unbounded<void>()
    const onHup = () => Queue.unsafeOffer(hups, undefined)
    yield* Effect.acquireRelease(
      Effect.sync(() => process.on("SIGHUP", onHup)),
      () => Effect.sync(() => process.off("SIGHUP", onHup))
    )
    const once = Effect.gen(function*() {
      const before = yield* Ref.get(current)
      const outcome = yield* Effect.either(
        Effect.flatMap(config_.load(file), (after) =>
          Effect.map(reload(ham, before, after), (d) => {
            const changed = (k: "socket" | "state" | "listen" | "mirror" | "cluster") =>
              JSON.stringify(before[k]) !== JSON.stringify(after[k]) ? [k] : []
            const later = [
              ...changed("socket"),
              ...changed("state"),
              ...changed("listen"),
              ...changed("mirror"),
              ...changed("cluster")
            ]
            return [after, d, later] as const
          }))
      )
      const n = (yield* Ref.get(seq)) + 1
      yield* Ref.set(seq, n)
      const report: ReloadReport = outcome._tag === "Right"
        ? {
          seq: n,
          ok: true,
          message: `reloaded: added ${outcome.right[1].added.length}, removed ${outcome.right[1].removed.length}, ` +
            `changed ${outcome.right[1].changed.length}` +
            (outcome.right[1].graceful.length === 0 ? "" : gracefully(outcome.right[1])) +
            (outcome.right[2].length > 0 ? ` (${outcome.right[2].join(", ")}: at the next start)` : "")
        }
        : { seq: n, ok: false, message: `reload refused: ${outcome.left.message}` }
      if (outcome._tag === "Right") yield* Ref.set(current, outcome.right[0])
      yield* Console.log(`ham: ${report.message}`)
      yield* writeOwnerOnly(reloadFile(options.socket), JSON.stringify(report))
    })
    yield* Effect.forkScoped(Effect.forever(Effect.zipRight(Queue.take(hups), once)))
  })

/** @internal runs the daemon until `Ham.stop` is called through its server, or it is interrupted */
export const run = (options: DaemonOptions) =>
  Effect.gen(function*() {
    // a directory that cannot be a mirror is refused before anything starts
    if (options.mirror !== undefined) yield* mirror.check(options.mirror)
    const ham = yield* Ham
    const stopped = yield* Deferred.make<void>()
    // the served HAM: its `stop` also ends the daemon
    const served: HamService = { ...ham, stop: Effect.zipRight(ham.stop, Deferred.succeed(stopped, undefined)) }
    const tcp = options.config.listen?.tcp
    // a token file named by the config is made (a new random token, 0600) when it does not exist
    if (tcp !== undefined && options.tokenFile !== undefined) yield* auth.ensureTokenFile(options.tokenFile)
    const info = yield* server.make({
      listen: {
        unix: options.socket,
        ...(tcp === undefined ? {} : { tcp: { port: tcp.port, host: tcp.host, tls: options.tls } })
      },
      ...(tcp === undefined ? {} : {
        auth: options.tokenFile !== undefined
          ? { tokenFile: options.tokenFile }
          : { tokenEnv: options.config.listen?.tokenEnv }
      })
    }).pipe(Effect.provideService(Ham, served))
    // the mirror is written before the config is applied, so that a directory it cannot write starts nothing
    const mirrored = options.mirror === undefined ? undefined : yield* mirror.make(ham, options.mirror)
    yield* apply(ham, options.config).pipe(
      Effect.tapError(() => ham.stop)
    )
    // joined after the config is applied (which detaches what it does not name: the nodes' entities
    // would be); loaded only now, and only for a cluster (its packages are optional peers)
    const cluster = options.config.cluster
    if (cluster !== undefined) {
      const clustering = yield* Effect.promise(() => import("./cluster.js"))
      // the served HAM here too (a `Ham.stop` from the cluster's port ends the daemon), with the local
      // operations of the HAM it stands for (a remote entity's restart is a restart here)
      const local = localOf.get(ham)
      if (local !== undefined) localOf.set(served, local)
      yield* clustering.join(served, cluster, options.clusterTokenFile).pipe(Effect.tapError(() => ham.stop))
    }
    if (mirrored !== undefined) yield* mirrored.refresh
    if (options.file !== undefined) yield* reloads(ham, options, options.file)
    yield* Effect.acquireRelease(
      writeOwnerOnly(pidFile(options.socket), `${process.pid}\n`),
      () => Effect.sync(() => [pidFile, reloadFile].forEach((f) => fs.rmSync(f(options.socket), { force: true })))
    )
    if (options.onReady !== undefined) {
      yield* options.onReady({
        socket: options.socket,
        tcpPort: Option.getOrUndefined(Option.map(info.tcp, (t) => t.port)),
        node: cluster?.node
      })
    }
    yield* Deferred.await(stopped)
  }).pipe(
    Effect.scoped,
    Effect.provide(
      options.state === undefined
        ? hamLayer()
        : Layer.provide(hamLayer(), guardian.layer({ path: options.state }))
    )
  )
