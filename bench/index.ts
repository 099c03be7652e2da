/**
 * `npm run bench`: every benchmark of the project, in one run.
 */
import { Effect } from "effect"
import * as core from "./core.js"
import * as cover from "./cover.js"
import * as group from "./group.js"
import * as guardian from "./guardian.js"
import * as ls from "./ls.js"
import * as probes from "./probes.js"
import * as processes from "./process.js"
import * as remote from "./remote.js"
import * as restart from "./restart.js"
import * as telemetry from "./telemetry.js"
import * as web from "./web.js"

const main = Effect.gen(function*() {
  console.log(`# effect-ham benchmarks (node ${process.version}, ${process.platform}/${process.arch})`)
  yield* core.restartLatency
  yield* core.heartbeatCost
  yield* core.dispatchThroughput
  yield* core.heapPerEntity
  // before the telemetry figures (hundreds of thousands of spans exported): measured after them,
  // the fiber restart from outside came out at 1.42 x, against 0.86-0.89 x before them or alone
  yield* restart.fiberRestartFromOutside
  yield* restart.childRestart
  yield* group.groupRestart
  yield* processes.heapPerIdleChild
  yield* telemetry.cost
  yield* processes.idleChildren
  yield* probes.probeCpu
  yield* guardian.store
  yield* guardian.opening
  yield* guardian.takeover
  yield* cover.overhead
  yield* cover.layerOverhead
  yield* cover.recovery
  yield* remote.remote
  yield* ls.lsWallTime
  yield* web.web
})

Effect.runPromise(main).then(
  () => process.exit(0),
  (e) => {
    console.error(e)
    process.exit(1)
  }
)
