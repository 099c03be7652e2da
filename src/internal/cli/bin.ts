#!/usr/bin/env node
/**
 * The `ham` executable (the package's `bin`).
 *
 * @internal
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Effect from "effect/Effect"
import { main } from "./main.js"

NodeRuntime.runMain(main(process.argv).pipe(Effect.provide(NodeContext.layer)), { disableErrorReporting: true })
