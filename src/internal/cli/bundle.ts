/**
 * The `ham` commands but `start`, as the bundle `ham.js` loads (`npm run build:js` makes
 * `dist/internal/cli/bundle.js` of this file with esbuild: Node loads one file much faster than
 * the ~650 modules it is made of; `ham ls` is timed by `npm run bench`, `ham_ls_ms`).
 *
 * @internal
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Effect from "effect/Effect"
import { main } from "./main.js"

NodeRuntime.runMain(main(process.argv).pipe(Effect.provide(NodeContext.layer)), { disableErrorReporting: true })
