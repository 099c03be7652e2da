/**
 * The daemon joined to a cluster: its config's `cluster` section made `HamCluster.layer`'s options
 * and the layer built in the daemon's scope, over the daemon's HAM. `daemon.ts` imports this
 * module dynamically, only for a config with that section: the CLI and a daemon without it never
 * load `@effect/cluster`, `@effect/sql` or `@effect/sql-pg` (optional peers).
 *
 * @internal
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as HamCluster from "../../HamCluster.js"
import { InvalidArgument } from "../../HamError.js"
import type { HamService } from "../../HamService.js"
import { Ham } from "../ham/tag.js"
import type { ClusterConfig } from "./config.js"

/** @internal the layer's options from the section (`tokenFile` already absolute) */
export const options = (
  cluster: ClusterConfig,
  tokenFile: string | undefined,
  env: NodeJS.ProcessEnv = process.env
): Effect.Effect<HamCluster.ClusterOptions, InvalidArgument> =>
  Effect.gen(function*() {
    let database = cluster.database
    if (database === undefined && cluster.databaseEnv !== undefined) {
      database = env[cluster.databaseEnv]
      if (database === undefined || database === "") {
        return yield* new InvalidArgument({
          argument: "cluster.databaseEnv",
          reason: `the environment variable ${cluster.databaseEnv} is not set`
        })
      }
    }
    return {
      node: cluster.node,
      database: Redacted.make(database ?? ""),
      ham: cluster.ham,
      runner: cluster.runner,
      auth: tokenFile !== undefined ? { tokenFile } : { tokenEnv: cluster.tokenEnv },
      watch: cluster.watch,
      locks: cluster.locks,
      groups: cluster.groups
    }
  })

/**
 * Joins the daemon's HAM to the cluster for the rest of the scope. A bad option is an
 * `InvalidArgument` naming it as the file does (`cluster.<option>`).
 *
 * @internal
 */
export const join = (ham: HamService, cluster: ClusterConfig, tokenFile: string | undefined) =>
  Effect.flatMap(options(cluster, tokenFile), (o) =>
    Layer.build(HamCluster.layer(o)).pipe(
      Effect.mapError((error) =>
        error._tag === "InvalidArgument" && !error.argument.startsWith("cluster")
          ? new InvalidArgument({ argument: `cluster.${error.argument}`, reason: error.reason })
          : error
      ),
      Effect.provideService(Ham, ham),
      Effect.map((context) => Context.get(context, HamCluster.HamCluster))
    ))
