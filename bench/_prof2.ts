import { Effect } from "effect"
import * as core from "./core.js"
Effect.runPromise(core.dispatchThroughput).then(() => process.exit(0))
