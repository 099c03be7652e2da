/**
 * The smaller conveniences: `Ham.heartbeat` by name, a fiber life's own handle in its context
 * (`Entity.Current`), pipeable condition handles, the members of covers as dual module functions,
 * and `Cover.make`'s `isRecoverable` typed with the resource's error type.
 */
import { describe, expect, expectTypeOf, it } from "@effect/vitest"
import { Data, Deferred, Effect, Queue, Ref } from "effect"
import { Cover, Entity, Ham } from "effect-ham"
import { CondAbnormalDeath, CondDeath } from "effect-ham/Condition"
import * as NodeFs from "node:fs"
import { join } from "node:path"
import { tempDir } from "./processes.js"
import { actionNode, conditionNode, entityNode, settle, withHam } from "./utils.js"

describe("Ham.heartbeat", () => {
  it.effect("takes a name as the other calls do; an unknown name does nothing", () =>
    Effect.gen(function*() {
      yield* Ham.attach(Entity.fiber("worker", Effect.never), {
        heartbeat: { interval: "1 second", missedLow: 2, missedHigh: 4 }
      })
      yield* settle
      yield* Ham.heartbeat("worker")
      yield* Ham.heartbeat("worker")
      expect((yield* entityNode("worker")).stats.heartbeats).toBe(2)
      yield* Ham.heartbeat("nobody")
      // the handle form still needs no Ham in the context
      expectTypeOf(Ham.heartbeat(Entity.global)).toEqualTypeOf<Effect.Effect<void>>()
      expectTypeOf(Ham.heartbeat("worker")).toEqualTypeOf<Effect.Effect<void, never, Ham.Ham>>()
    }).pipe(withHam()))
})

describe("Entity.Current: a fiber life's own handle", () => {
  it.effect("every life finds its entity's handle in its context, and beats through it", () =>
    Effect.gen(function*() {
      const seen = yield* Queue.unbounded<string>()
      const lives = yield* Ref.make(0)
      const worker = Entity.fiber(
        "worker",
        Effect.gen(function*() {
          const self = yield* Entity.Current
          yield* Queue.offer(seen, self.name)
          yield* Ham.heartbeat(self)
          // the first life fails: the restart's life finds the handle too
          if ((yield* Ref.getAndUpdate(lives, (n) => n + 1)) === 0) return yield* Effect.fail("first life")
          return yield* Effect.never
        })
      )
      // attaching needs no Entity.Current (nor Scope) from the caller
      expectTypeOf(Ham.attach(worker)).toEqualTypeOf<
        Effect.Effect<Entity.EntityHandle, Ham.AttachError, Ham.Ham>
      >()
      const handle = yield* Ham.attach(worker, {
        heartbeat: { interval: "1 second", missedLow: 2, missedHigh: 4 },
        backoff: false
      })
      yield* Ham.condition(handle, CondAbnormalDeath).pipe(Ham.restart)
      yield* settle
      yield* settle
      expect(yield* Queue.takeAll(seen).pipe(Effect.map((names) => [...names]))).toEqual(["worker", "worker"])
      const node = yield* entityNode("worker")
      expect(node.stats.restarts).toBe(1)
      expect(node.stats.heartbeats).toBe(2)
    }).pipe(withHam()))

  it.effect("outside a fiber entity's life there is no Entity.Current", () =>
    Effect.gen(function*() {
      const found = yield* Effect.serviceOption(Entity.Current)
      expect(found._tag).toBe("None")
    }))
})

describe("condition handles are pipeable", () => {
  it.effect("a handle pipes into the action adders, which pass a pipeable handle on", () =>
    Effect.gen(function*() {
      const worker = yield* Ham.attach(Entity.fiber("worker", Effect.never))
      const death = yield* Ham.condition(worker, CondDeath)
      const again = yield* death.pipe(Ham.restart, Ham.log("restarted"))
      expect(again.name).toBe("death")
      yield* again.pipe(Ham.log("and again"))
      expect((yield* conditionNode("worker", "death")).actions.map((a) => a.name)).toEqual(["restart", "log", "log-2"])
      // a plain record of a handle's fields is still taken, and comes back pipeable
      const fromRecord = yield* Ham.log("from a record")({
        _tag: "ConditionHandle",
        entity: "worker",
        isGlobal: false,
        name: "death"
      })
      yield* fromRecord.pipe(Ham.log("piped"))
      expect((yield* actionNode("worker", "death", "log-4")).summary).toContain("piped")
    }).pipe(withHam()))
})

class Broken extends Data.TaggedError("Broken")<{ readonly code: string }> {}
class Other extends Data.TaggedError("Other")<{}> {}

describe("Cover: members as dual module functions; isRecoverable typed", () => {
  it.scopedLive("use, setRecover, recoverNow, stats, get: data-first and data-last", () =>
    Effect.gen(function*() {
      const generation = yield* Ref.make(0)
      const cover = yield* Cover.make({
        acquire: Ref.updateAndGet(generation, (n) => n + 1),
        isRecoverable: (error: Broken) => error.code === "EPIPE"
      })
      expectTypeOf(cover).toEqualTypeOf<Cover.Cover<number, Broken>>()
      // an operation that fails with another error type than the resource's is refused
      // @ts-expect-error: Other is not the resource's error type (Broken)
      cover.use(() => Effect.fail(new Other()))
      // @ts-expect-error: the same, data-first
      Cover.use(cover, () => Effect.fail(new Other()))

      expect(yield* Cover.use(cover, (n) => Effect.succeed(n * 10))).toBe(10)
      expect(yield* cover.pipe(Cover.use((n) => Effect.succeed(n * 100)))).toBe(100)
      // a recoverable failure of the resource's type: recovered, then run again on the new resource
      const failedOnce = yield* Deferred.make<void>()
      const result = yield* Cover.use(cover, (n) =>
        Effect.flatMap(Deferred.isDone(failedOnce), (done) =>
          done
            ? Effect.succeed(n)
            : Effect.zipRight(Deferred.succeed(failedOnce, undefined), Effect.fail(new Broken({ code: "EPIPE" })))))
      expect(result).toBe(2)
      // one that isRecoverable refuses passes through
      const refused = yield* Effect.flip(Cover.use(cover, () => Effect.fail(new Broken({ code: "EACCES" }))))
      expect(refused).toEqual(new Broken({ code: "EACCES" }))

      yield* Cover.recoverNow(cover, "by hand")
      yield* cover.pipe(Cover.recoverNow("by hand again"))
      expect(yield* Cover.get(cover)).toBe(4)
      yield* cover.pipe(Cover.setRecover(() => Effect.succeed(40)))
      yield* Cover.recoverNow(cover, "with the new recovery")
      expect(yield* Cover.get(cover)).toBe(40)
      expect((yield* Cover.stats(cover)).recoveries).toBe(4)
    }))

  it.scopedLive("a covered file: write, seek, read, reopen, dup, close in both forms", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("ham-cover-dual-")
      const path = join(dir, "data")
      NodeFs.writeFileSync(path, "")
      const file = yield* Cover.open(path, "r+")
      expect(yield* Cover.write(file, "hello ")).toBe(6)
      expect(yield* file.pipe(Cover.write("world"))).toBe(5)
      expect(yield* Cover.seek(file, 0)).toBe(0)
      expect(new TextDecoder().decode(yield* Cover.read(file, 5))).toBe("hello")
      expect(yield* file.pipe(Cover.seek(1, "current"))).toBe(6)
      expect(new TextDecoder().decode(yield* file.pipe(Cover.read(5)))).toBe("world")
      yield* file.pipe(Cover.reopen())
      yield* Cover.reopen(file, path)
      expect(yield* file.offset).toBe(11)
      const twin = yield* Cover.dup(file)
      yield* twin.pipe(Cover.seek(0))
      expect(new TextDecoder().decode(yield* Cover.read(twin, 11))).toBe("hello world")
      expect((yield* Cover.stats(file)).recoveries).toBe(2)
      yield* Cover.close(twin)
      yield* Cover.close(file)
    }))
})
