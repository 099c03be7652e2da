/**
 * The `ham` daemon's config file: one JSON object, decoded with the protocol's Schemas (command
 * lines, attach options, condition types, filters and actions are written exactly as a remote
 * client sends them). A bad file is an `InvalidArgument` naming the path of the bad field. Its
 * `cluster` section is decoded here too (no cluster package is loaded for it: `cluster.ts` joins).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as JSONSchema from "effect/JSONSchema"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { InvalidArgument } from "../../HamError.js"
import * as action_ from "../action.js"
import * as cond from "../condition.js"
import * as entity_ from "../entity.js"
import { formatParseError } from "../ham/validate.js"
import * as json from "../json.js"
import * as data from "../protocol/data.js"

const Name = Schema.String.pipe(Schema.minLength(1), Schema.annotations({ description: "a non-empty name" }))

/** @internal a condition of an entity with its action list */
export const ConditionConfig = Schema.Struct({
  type: cond.ConditionTypeSchema,
  ...data.ConditionOptions.fields,
  state: Schema.optional(data.StateFilter).annotations({ description: "the from/to filter of a CondState" }),
  raise: Schema.optional(data.RaiseFilter).annotations({
    description: "the type/class/severity filter of a CondRaise"
  }),
  actions: json.list(data.DataAction)
}).annotations({ identifier: "Condition", description: "a condition of the entity and the actions it runs, in order" })

/** @internal */
export type ConditionConfig = typeof ConditionConfig.Type

/** @internal a process entity the daemon starts */
export const EntityConfig = Schema.Struct({
  name: Name,
  command: action_.CommandLine,
  output: Schema.optional(entity_.Output),
  stopSignal: Schema.optional(Schema.String),
  stopGrace: Schema.optional(json.DurationInput),
  heartbeat: data.AttachOptions.fields.heartbeat,
  restartIntensity: data.AttachOptions.fields.restartIntensity,
  backoff: Schema.optional(Schema.Literal(false)).annotations({ description: "false turns the back-off off" }),
  backoffResetAfter: data.AttachOptions.fields.backoffResetAfter,
  probe: data.AttachOptions.fields.probe,
  limits: data.AttachOptions.fields.limits,
  reload: Schema.optional(Schema.Literal("graceful", "restart")).annotations({
    description: "how `ham reload` applies a change of only its command: \"graceful\" starts the new process " +
      "and stops the old one once the new one says READY=1, keeping its statistics; \"restart\" (default) " +
      "detaches it and attaches it again"
  }),
  conditions: json.list(ConditionConfig)
}).annotations({ identifier: "Entity", description: "a child process the daemon starts and supervises" })

/** @internal */
export type EntityConfig = typeof EntityConfig.Type

/** @internal */
export const ListenConfig = Schema.Struct({
  tcp: Schema.optional(Schema.Struct({
    port: Schema.Int.pipe(Schema.between(0, 65535)),
    host: Schema.optional(Schema.String)
  })),
  tokenFile: Schema.optional(Schema.String),
  tokenEnv: Schema.optional(Schema.String),
  tls: Schema.optional(Schema.Struct({
    certFile: Schema.String.annotations({ description: "the server's certificate (PEM)" }),
    keyFile: Schema.String.annotations({ description: "its private key (PEM; a file of mode 0600)" })
  })).annotations({ description: "speak TLS on the TCP listener (for addresses beyond loopback)" })
}).annotations({ description: "a TCP listener (loopback unless host says otherwise), its token and TLS" })

const Port = Schema.Int.pipe(Schema.between(1, 65535)).annotations({ description: "a TCP port, 1 to 65535" })

/** @internal a cluster-wide group (`HamCluster`'s `groups`): its entities written as the file's */
export const GroupConfig = Schema.Struct({
  name: entity_.Name,
  entities: json.list(EntityConfig)
}).annotations({ identifier: "Group", description: "entities that run together on one node of the cluster" })

/** @internal */
export type GroupConfig = typeof GroupConfig.Type

/** @internal the daemon joined to a cluster (`HamCluster.layer`'s options, as a file writes them) */
export const ClusterConfig = Schema.Struct({
  node: entity_.Name.annotations({ description: "this node's name, unique in the cluster" }),
  database: Schema.optional(Schema.String).annotations({
    description: "the cluster's PostgreSQL database, postgres://user:password@host:port/db (or databaseEnv)"
  }),
  databaseEnv: Schema.optional(Schema.String).annotations({
    description: "the environment variable that holds the database's URL"
  }),
  ham: Schema.Struct({
    port: Port,
    host: Schema.optional(Schema.String),
    advertise: Schema.optional(Schema.String)
  }).annotations({
    description: "where this HAM is served to the other nodes: host to listen on (127.0.0.1), " +
      "advertise the address they reach it at (host)"
  }),
  runner: Schema.Struct({ port: Port, host: Schema.optional(Schema.String) }).annotations({
    description: "the @effect/cluster runner's address (host 127.0.0.1)"
  }),
  tokenFile: Schema.optional(Schema.String).annotations({
    description: "the cluster's token, the same file on every node (relative to the config file)"
  }),
  tokenEnv: Schema.optional(Schema.String).annotations({
    description: "the environment variable that holds the cluster's token"
  }),
  watch: Schema.optional(Schema.Struct({
    interval: Schema.optional(json.DurationInput),
    lossAfter: Schema.optional(json.DurationInput),
    missedLow: Schema.optional(Schema.Int),
    missedHigh: Schema.optional(Schema.Int),
    forgetAfter: Schema.optional(json.DurationInput)
  })).annotations({ description: "how the other nodes are watched (100 ms, lost after 500 ms; 2 and 4 misses)" }),
  locks: Schema.optional(Schema.Struct({
    refresh: Schema.optional(json.DurationInput),
    expiration: Schema.optional(json.DurationInput),
    assignmentRefresh: Schema.optional(json.DurationInput)
  })).annotations({ description: "the shard locks' timings (1 s, 3 s, 500 ms)" }),
  groups: json.list(GroupConfig)
}).pipe(
  Schema.filter((c) => {
    if ((c.database === undefined) === (c.databaseEnv === undefined)) {
      return { path: ["database"], message: "or databaseEnv: exactly one of the two is needed" }
    }
    if ((c.tokenFile === undefined) === (c.tokenEnv === undefined)) {
      return { path: ["tokenFile"], message: "or tokenEnv: exactly one of the two is needed" }
    }
    return true
  }),
  Schema.annotations({
    identifier: "Cluster",
    description: "joins the daemon to a cluster (HamCluster, docs/cluster.md): its node, the database, " +
      "its addresses, the token and the cluster-wide groups"
  })
)

/** @internal */
export type ClusterConfig = typeof ClusterConfig.Type

const uniqueNames = (entities: ReadonlyArray<EntityConfig>) => {
  const seen = new Set<string>()
  for (const [i, e] of entities.entries()) {
    if (seen.has(e.name)) return { path: [i, "name"], message: `is used twice` }
    seen.add(e.name)
  }
  return true
}

/** @internal the whole file */
export const Config = Schema.Struct({
  $schema: Schema.optional(Schema.String),
  state: Schema.optional(Schema.Union(Schema.String, Schema.Literal(false))).annotations({
    description: "the Guardian store's file (default ham-state beside the config file); false keeps nothing"
  }),
  socket: Schema.optional(Schema.String).annotations({ description: "the control socket's path" }),
  listen: Schema.optional(ListenConfig),
  verbosity: Schema.optional(Schema.NonNegativeInt),
  mirror: Schema.optional(Schema.String).annotations({
    description: "a directory kept in sync with the tree, read-only, as QNX's /proc/ham (ham mirror)"
  }),
  logDir: Schema.optional(Schema.String).annotations({
    description: "a directory for the entities' output: an entity without `output` appends to <logDir>/<name>.log " +
      "(relative to the config file; made if missing)"
  }),
  logRotate: Schema.optional(Schema.Struct({
    maxSize: Schema.Union(Schema.Number, Schema.String),
    keep: Schema.optional(Schema.Number)
  })).annotations({
    description:
      "how the files in logDir are rotated: at maxSize (bytes, or \"10M\"), keeping `keep` old files (default 5)"
  }),
  logTimestamps: Schema.optional(Schema.Boolean).annotations({
    description: "each line of the files in logDir starts with its time"
  }),
  entities: json.list(EntityConfig),
  cluster: Schema.optional(ClusterConfig)
}).pipe(
  Schema.filter((config) => {
    const r = uniqueNames(config.entities)
    if (r !== true) return { path: ["entities", ...r.path], message: r.message }
    const named = new Set(config.entities.map((e) => e.name))
    const groups = config.cluster?.groups ?? []
    const groupNames = new Set<string>()
    for (const [g, group] of groups.entries()) {
      if (groupNames.has(group.name)) return { path: ["cluster", "groups", g, "name"], message: "is used twice" }
      groupNames.add(group.name)
      for (const [i, e] of group.entities.entries()) {
        if (named.has(e.name)) {
          return { path: ["cluster", "groups", g, "entities", i, "name"], message: "is used twice" }
        }
        named.add(e.name)
      }
    }
    return true
  }),
  Schema.annotations({ identifier: "HamConfig", title: "effect-ham daemon config" })
)

/** @internal */
export type Config = typeof Config.Type

const decode = Schema.decodeUnknownEither(Config, { onExcessProperty: "error", errors: "all" })

/** @internal a config from its JSON value; a bad field is named with its path */
export const parse = (input: unknown, file = "config"): Effect.Effect<Config, InvalidArgument> => {
  const result = decode(input)
  return result._tag === "Right"
    ? Effect.succeed(result.right)
    : Effect.fail(new InvalidArgument({ argument: file, reason: formatParseError(result.left) }))
}

/**
 * The entities' output files made absolute against the config file's directory (as the store and
 * the socket are); with a `logDir`, an entity without `output` appends to `<logDir>/<name>.log`,
 * rotated as `logRotate` says and timestamped when `logTimestamps` is set.
 *
 * @internal
 */
export const resolveOutputs = (config: Config, file: string): Config => {
  const dir = path.dirname(path.resolve(file))
  const logDir = config.logDir === undefined ? undefined : path.resolve(dir, config.logDir)
  const resolve = (e: EntityConfig): EntityConfig => {
    const output = e.output ??
      (logDir === undefined ? undefined : {
        file: path.join(logDir, `${encodeURIComponent(e.name)}.log`),
        ...config.logRotate,
        ...(config.logTimestamps === true ? { timestamps: true } : {})
      })
    return output === undefined || typeof output === "string"
      ? e
      : { ...e, output: { ...output, file: path.resolve(dir, output.file) } }
  }
  return {
    ...config,
    ...(logDir === undefined ? {} : { logDir }),
    entities: config.entities.map(resolve),
    ...(config.cluster === undefined ? {} : {
      cluster: {
        ...config.cluster,
        groups: config.cluster.groups.map((g) => ({ ...g, entities: g.entities.map(resolve) }))
      }
    })
  }
}

/** @internal reads and decodes a config file (its paths resolved: `resolveOutputs`) */
export const load = (file: string): Effect.Effect<Config, InvalidArgument> =>
  Effect.flatMap(
    Effect.try({
      try: () => JSON.parse(fs.readFileSync(file, "utf8")) as unknown,
      catch: (e) => new InvalidArgument({ argument: file, reason: e instanceof Error ? e.message : String(e) })
    }),
    (input) => Effect.map(parse(input, file), (config) => resolveOutputs(config, file))
  )

/** @internal the config's JSON Schema (its encoded side: what a person writes) */
export const jsonSchema = (): JSONSchema.JsonSchema7Root => JSONSchema.make(Config)

/**
 * The default control socket: `$XDG_RUNTIME_DIR/ham/ham.sock`, else `<tmpdir>/ham-<uid>/ham.sock`
 * (the directory is the owner's only, 0700).
 *
 * @internal
 */
export const defaultSocket = (env: NodeJS.ProcessEnv = process.env): string =>
  env.HAM_SOCKET !== undefined && env.HAM_SOCKET !== ""
    ? env.HAM_SOCKET
    : env.XDG_RUNTIME_DIR !== undefined && env.XDG_RUNTIME_DIR !== ""
    ? path.join(env.XDG_RUNTIME_DIR, "ham", "ham.sock")
    : path.join(os.tmpdir(), `ham-${process.getuid?.() ?? "user"}`, "ham.sock")

/** @internal paths of the file made absolute against its directory */
export const resolvePaths = (config: Config, file: string) => {
  const dir = path.dirname(path.resolve(file))
  const abs = (p: string) => path.resolve(dir, p)
  return {
    state: config.state === false ? undefined : abs(config.state ?? "ham-state"),
    socket: config.socket === undefined ? undefined : abs(config.socket),
    tokenFile: config.listen?.tokenFile === undefined ? undefined : abs(config.listen.tokenFile),
    mirror: config.mirror === undefined ? undefined : abs(config.mirror),
    clusterTokenFile: config.cluster?.tokenFile === undefined ? undefined : abs(config.cluster.tokenFile),
    tls: config.listen?.tls === undefined
      ? undefined
      : { certFile: abs(config.listen.tls.certFile), keyFile: abs(config.listen.tls.keyFile) }
  }
}
