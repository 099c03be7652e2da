/**
 * What a capability built on the HAM (the Guardian) adds to the HAM it is provided around: the
 * HAM looks for this service in the context it is built in, as it looks for its `StateStore`.
 *
 * @internal
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Api from "../../HamService.js"
import type * as launch from "../launch/launcher.js"
import type { EntityDoc } from "./doc.js"

/** @internal */
export interface HamExtensionService {
  /** launches the HAM's child processes (over the one the HAM would pick itself) */
  readonly launcher?: launch.ProcessLauncherService | undefined
  /** the records found in the store, as the HAM should restore them */
  readonly prepare?: ((docs: ReadonlyArray<EntityDoc>) => ReadonlyArray<EntityDoc>) | undefined
  /** runs once the HAM is restored, before it serves any call */
  readonly start?: ((ham: Api.HamService) => Effect.Effect<void, never, Scope.Scope>) | undefined
}

/** @internal */
export class HamExtension extends Context.Tag("effect-ham/internal/HamExtension")<
  HamExtension,
  HamExtensionService
>() {}
