/**
 * The `Ham` service's tag, alone: what a client of a HAM needs (the remote client, the `ham` CLI)
 * without the engine that `make.ts` builds.
 *
 * @internal
 */
import * as Context from "effect/Context"
import type * as Api from "../../HamService.js"

/** @internal */
export class Ham extends Context.Tag("effect-ham/Ham")<Ham, Api.HamService>() {}
