#!/usr/bin/env node
/**
 * The `ham` executable (the package's `bin`), bundled into one file by `npm run build:js`
 * (esbuild): the commands are clients of a HAM, and Node loads one file much faster than the
 * ~650 modules it is made of (`ham ls` is timed by `npm run bench`, `ham_ls_ms`). `ham start`
 * runs the unbundled build instead (`bin.js`): the daemon starts its guardian program and helper
 * scripts from beside its own modules, and loads the engine only it needs.
 *
 * @internal
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Effect from "effect/Effect"
import { main } from "./main.js"

if (process.argv.slice(2).includes("start")) {
  await import("./bin.js")
} else {
  NodeRuntime.runMain(main(process.argv).pipe(Effect.provide(NodeContext.layer)), { disableErrorReporting: true })
}
