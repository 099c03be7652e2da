import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Entity, Ham, HamLive } from "effect-ham"

describe("smoke", () => {
  it.effect("attach and snapshot", () =>
    Effect.gen(function*() {
      yield* Ham.attach(Entity.fiber("a", Effect.never))
      const tree = yield* Ham.snapshot
      expect(tree.entities.map((e) => e.name)).toEqual(["a"])
    }).pipe(Effect.provide(HamLive)))
})
