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

/** @internal what the HAM gives the extension to act on it */
export interface HamControl {
  /**
   * Stops the HAM acting (no restart, signal or spawn: its processes are left to the next HAM)
   * to hand its store over: waits until its launches in flight have settled, then commits what is
   * pending (the lives they began included). The store is the caller's to give back.
   */
  readonly handOver: Effect.Effect<void>
}

/** @internal */
export interface HamExtensionService {
  /** launches the HAM's child processes (over the one the HAM would pick itself) */
  readonly launcher?: launch.ProcessLauncherService | undefined
  /** the records found in the store, as the HAM should restore them */
  readonly prepare?: ((docs: ReadonlyArray<EntityDoc>) => ReadonlyArray<EntityDoc>) | undefined
  /** runs once the HAM is restored, before it serves any call */
  readonly start?: ((ham: Api.HamService) => Effect.Effect<void, never, Scope.Scope>) | undefined
  /** is given the HAM's control once the HAM is built */
  readonly bind?: ((control: HamControl) => void) | undefined
}

/** @internal */
export class HamExtension extends Context.Tag("effect-ham/internal/HamExtension")<
  HamExtension,
  HamExtensionService
>() {}
