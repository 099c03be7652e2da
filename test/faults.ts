/**
 * Fault injection into a HAM's own fibers (tests only): a HAM built with `layer` in its context
 * lets `inject` make its dispatcher, its noWait dispatcher or its watchdog die of a defect at
 * their next step.
 */
import { Effect, Layer } from "effect"
import * as dispatch from "../src/internal/ham/dispatch.js"

/** provide it around the HAM's layer */
export const layer: Layer.Layer<dispatch.Faults> = Layer.sync(dispatch.Faults, () => ({ inject: undefined }))

/** a defect in one of the HAM's fibers at its next step */
export const inject = (target: dispatch.HamFiber): Effect.Effect<void, never, dispatch.Faults> =>
  Effect.flatMap(
    dispatch.Faults,
    (faults) =>
      faults.inject === undefined ? Effect.dieMessage("no HAM was built with the fault layer") : faults.inject(target)
  )

/** `inject`, with the HAM's faults taken from the context now */
export const injector: Effect.Effect<(target: dispatch.HamFiber) => Effect.Effect<void>, never, dispatch.Faults> =
  Effect.map(Effect.context<dispatch.Faults>(), (context) => (target) => Effect.provide(inject(target), context))
