/**
 * How an application wires the HAM: `layer(HamLive)` in @effect/vitest, `Layer.provide(HamLive)`
 * into the application's own layers (services that depend on `Ham`), the Guardian's store under
 * the HAM (`Guardian.layerHam`, `Layer.provide`) and never beside it (`Layer.merge`: a defect that
 * says so), and a second HAM provided inside the first (a warning that says so).
 */
import { describe, expect, it, layer } from "@effect/vitest"
import { Cause, Context, Effect, Exit, Layer, Logger } from "effect"
import { Entity, Guardian, Ham, HamLive } from "effect-ham"
import { join } from "node:path"
import { tempDir } from "./processes.js"

const names = Effect.map(Ham.snapshot, (tree) => tree.entities.map((e) => e.name))

// ---------------------------------------------------------------------------------------------
// application services that depend on the HAM
// ---------------------------------------------------------------------------------------------

/** attaches the application's jobs when it is built */
class Jobs extends Context.Tag("test/Jobs")<Jobs, { readonly started: ReadonlyArray<string> }>() {}

const JobsLive = Layer.effect(
  Jobs,
  Effect.gen(function*() {
    yield* Ham.attach(Entity.fiber("mailer", Effect.never))
    yield* Ham.attach(Entity.fiber("indexer", Effect.never))
    return { started: ["mailer", "indexer"] }
  })
)

/** reads the registry: the entities of the HAM it was given */
class Monitor extends Context.Tag("test/Monitor")<Monitor, { readonly entities: Effect.Effect<Array<string>> }>() {}

const MonitorLive = Layer.effect(
  Monitor,
  Effect.map(Ham.Ham, (ham) => ({
    entities: Effect.map(ham.snapshot, (tree) => tree.entities.map((e) => e.name))
  }))
)

describe("Layer.provide(HamLive) into the application's layers", () => {
  // both services get the same HAM: a layer is built once per Effect.provide
  const AppLive = Layer.mergeAll(JobsLive, MonitorLive).pipe(Layer.provide(HamLive))

  it.scoped("services built on the HAM share it; the program needs no Ham of its own", () =>
    Effect.gen(function*() {
      const jobs = yield* Jobs
      const monitor = yield* Monitor
      expect(jobs.started).toEqual(["mailer", "indexer"])
      expect(yield* monitor.entities).toEqual(["mailer", "indexer"])
    }).pipe(Effect.provide(AppLive)))

  it.scoped("provideMerge keeps the HAM in the program's context too", () =>
    Effect.gen(function*() {
      yield* Jobs
      expect(yield* names).toEqual(["mailer", "indexer"])
    }).pipe(Effect.provide(JobsLive.pipe(Layer.provideMerge(HamLive)))))

  it.scoped("HamLive provided twice (two Effect.provide): two HAMs, and the warning says so", () =>
    Effect.gen(function*() {
      const logs: Array<string> = []
      const logger = Logger.add(
        Logger.make(({ logLevel, message }) => logs.push(`${logLevel.label} ${String(message)}`))
      )
      const inner = Effect.gen(function*() {
        yield* Jobs
        return yield* names
      }).pipe(Effect.provide(JobsLive.pipe(Layer.provideMerge(HamLive))))
      const outer = yield* Effect.gen(function*() {
        yield* Ham.attach(Entity.fiber("outer", Effect.never))
        const seenInside = yield* inner
        return { seenInside, seenOutside: yield* names }
      }).pipe(Effect.provide(HamLive), Effect.provide(logger))
      // the inner code sees its own HAM only, the outer code its own
      expect(outer.seenInside).toEqual(["mailer", "indexer"])
      expect(outer.seenOutside).toEqual(["outer"])
      expect(logs.filter((line) => line.includes("another HAM is already provided"))).toHaveLength(1)
      expect(logs[0]).toMatch(/^WARN /)
    }))
})

describe("the Guardian's store goes under the HAM, never beside it", () => {
  const attachAndRead = Effect.gen(function*() {
    yield* Ham.attach(Entity.fiber("kept", Effect.never))
    return yield* names
  })

  it.scopedLive("Layer.merge(HamLive, Guardian.layer(...)): every Ham call dies, saying how to wire it", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("ham-wiring-")
      const exit = yield* attachAndRead.pipe(
        Effect.scoped,
        Effect.provide(Layer.merge(HamLive, Guardian.layer({ path: join(dir, "state.ham") }))),
        Effect.exit
      )
      expect(Exit.isFailure(exit)).toBe(true)
      const defect = Exit.isFailure(exit) ? Cause.pretty(exit.cause) : ""
      expect(defect).toContain("built without the store beside it")
      expect(defect).toContain("Guardian.layerHam(options)")
      expect(defect).toContain("never Layer.merge(HamLive, Guardian.layer(options))")
    }))

  it.scopedLive("Guardian.layerHam and Layer.provide: the store keeps what the HAM was given", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("ham-wiring-")
      const path = join(dir, "state.ham")
      expect(yield* attachAndRead.pipe(Effect.scoped, Effect.provide(Guardian.layerHam({ path })))).toEqual(["kept"])
      // the next HAM on the same file gets the entity back (a placeholder until it is attached again)
      const again = yield* names.pipe(Effect.provide(HamLive.pipe(Layer.provide(Guardian.layer({ path })))))
      expect(again).toEqual(["kept"])
      // the contract's form: the store provided around the program and its HAM
      const contract = yield* names.pipe(Effect.provide(HamLive), Effect.provide(Guardian.layer({ path })))
      expect(contract).toEqual(["kept"])
    }))
})

// last in the file: @effect/vitest's `layer` also sets the module's `it.effect` and `it.scoped` to
// run in its layer, for the tests declared after it
describe("layer(HamLive) in @effect/vitest: one HAM for the tests of the block", () => {
  layer(HamLive)((it) => {
    it.effect("a test attaches an entity", () =>
      Effect.gen(function*() {
        yield* Ham.attach(Entity.fiber("shared", Effect.never))
        expect(yield* names).toEqual(["shared"])
      }))

    it.effect("the next test of the block sees it: the same HAM", () =>
      Effect.gen(function*() {
        expect(yield* names).toEqual(["shared"])
      }))
  })
})
