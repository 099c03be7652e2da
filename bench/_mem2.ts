import { Effect, Layer } from "effect"
import * as core from "./core.js"
Effect.runPromise(core.heapPerEntity).then(() => process.exit(0))
