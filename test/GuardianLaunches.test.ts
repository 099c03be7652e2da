/**
 * Children started around a change of HAM: never two children of one entity, never one that no
 * HAM knows of. A HAM that hands its store over first waits for its launches in flight (the child
 * a restart started while the host asked for the store goes, and the store says the entity is to
 * be started again); a child started by a HAM SIGKILLed before it recorded it is found by the next
 * HAM (its launch id, recorded before it was started) and ended before the registry is restored.
 */
import { Command } from "@effect/platform"
import { NodeCommandExecutor, NodeFileSystem } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Scope } from "effect"
import { Entity, Guardian, Ham } from "effect-ham"
import { CondDeath } from "effect-ham/Condition"
import { open } from "lmdb"
import * as ChildProcess from "node:child_process"
import { mkdirSync } from "node:fs"
import { join } from "node:path"
import * as guardian_ from "../src/internal/guardian/layer.js"
import * as detached from "../src/internal/launch/detached.js"
import { ProcessLauncher } from "../src/internal/launch/launcher.js"
import { inTempDir, isLive, liveWithCmdline, waitUntil } from "./processes.js"

const root = join(import.meta.dirname, "..")

/** the Guardian's detached launcher (its children outlive their HAM); `after` runs once a child is started */
const launcherWith = (outputDir: string, after: Effect.Effect<void> = Effect.void) =>
  Layer.effect(
    ProcessLauncher,
    Effect.map(ProcessLauncher, (inner) => ({
      ...inner,
      launch: (request: Parameters<typeof inner.launch>[0]) => Effect.tap(inner.launch(request), () => after)
    }))
  ).pipe(
    Layer.provide(detached.layerDetached(outputDir)),
    Layer.provide(NodeCommandExecutor.layer),
    Layer.provide(NodeFileSystem.layer)
  )

/** the store's launch intents, read as another process would */
const intentsOf = (path: string) => {
  const db = open({ path, noSubdir: true })
  try {
    return [...db.getKeys({ start: "l/", end: "l0" })]
  } finally {
    void db.close()
  }
}

const svc = (marker: string) =>
  Effect.gen(function*() {
    const handle = yield* Ham.attach(Entity.process("svc", Command.make("sleep", `3600.${marker}`)), {
      backoff: false
    })
    yield* Ham.condition(handle, CondDeath).pipe(Ham.restart)
  })

const pidOfSvc = Effect.map(Ham.snapshot, (tree) => tree.entities.find((e) => e.name === "svc")?.pid)

describe("Guardian: children started around a change of HAM", () => {
  it.live(
    "a HAM handing its store over waits for its launch in flight: the child it started goes, the next HAM starts one",
    () =>
      inTempDir("ham-launch-", (dir) =>
        Effect.gen(function*() {
          const path = join(dir, "state.ham")
          const marker = `${process.pid}81`
          const children = () => liveWithCmdline(`sleep 3600.${marker}`)
          mkdirSync(`${path}.d`)
          // launches take 500 ms more once `slow`: the child runs, not yet taken up by its HAM
          let slow = false
          const launcher = launcherWith(
            `${path}.d`,
            Effect.suspend(() => slow ? Effect.sleep("500 millis") : Effect.void)
          )

          // a guardian's HAM that took over the store
          const scope = yield* Scope.make()
          const context = yield* Layer.buildWithScope(
            Ham.layer().pipe(
              Layer.provideMerge(guardian_.layerWithControl({ path }, "guardian")),
              Layer.provide(launcher)
            ),
            scope
          )
          const control = Context.get(context, guardian_.GuardianControl)
          const first = yield* Effect.gen(function*() {
            yield* svc(marker)
            return (yield* pidOfSvc)!
          }).pipe(Effect.provide(context))
          slow = true
          process.kill(first, "SIGKILL")
          // the restart's child runs: a host asks for the store now
          yield* waitUntil("the restart's child", () => children().some((pid) => pid !== first), 10_000)
          const inFlight = children().find((pid) => pid !== first)!
          yield* control.handOver
          // it did not hand a child over that the store does not know of
          expect(isLive(inFlight)).toBe(false)
          expect(children()).toEqual([])
          control.store.release()
          yield* Scope.close(scope, Exit.void)
          expect(intentsOf(path)).toEqual([])

          // the host takes the store: it starts the entity, once
          slow = false
          yield* Effect.gen(function*() {
            yield* svc(marker)
            const pid = yield* pidOfSvc
            yield* Effect.sleep("300 millis")
            expect(children()).toEqual([pid])
          }).pipe(
            Effect.scoped,
            Effect.provide(Ham.layer()),
            Effect.provide(Guardian.layer({ path })),
            Effect.provide(launcher)
          )
        }).pipe(Effect.ensuring(Effect.sync(() => {
          for (const pid of liveWithCmdline(`sleep 3600.${process.pid}81`)) process.kill(pid, "SIGKILL")
        })))),
    30_000
  )

  it.live(
    "a child started by a HAM SIGKILLed before it recorded it is ended by the next HAM: one child, never two",
    () =>
      inTempDir("ham-launch-", (dir) =>
        Effect.gen(function*() {
          const path = join(dir, "state.ham")
          const marker = `${process.pid}82`
          const children = () => liveWithCmdline(`sleep 3600.${marker}`)
          mkdirSync(`${path}.d`)
          // a HAM that kills its child, and is SIGKILLed right after its restart started the next one
          const run = ChildProcess.spawnSync(
            process.execPath,
            ["--conditions=source", "--import", "tsx", "test/fixtures/dies-after-spawn.ts", path, marker],
            { cwd: root, encoding: "utf8", timeout: 30_000 }
          )
          expect(run.signal).toBe("SIGKILL")
          const first = Number(run.stdout.trim())
          // the child it started is alive, and its launch is all the store knows of it
          const [unrecorded] = children()
          expect(children()).toHaveLength(1)
          expect(unrecorded).not.toBe(first)
          expect(intentsOf(path)).toHaveLength(1)

          // the next HAM ends it, then restarts the entity (its recorded child died unwatched)
          yield* Effect.gen(function*() {
            yield* svc(marker)
            yield* waitUntil("the entity started again", () => children().some((pid) => pid !== unrecorded), 10_000)
            const pid = yield* pidOfSvc
            expect(isLive(unrecorded)).toBe(false)
            yield* Effect.sleep("300 millis")
            expect(children()).toEqual([pid])
            expect(intentsOf(path)).toEqual([])
          }).pipe(
            Effect.scoped,
            Effect.provide(Ham.layer()),
            Effect.provide(Guardian.layer({ path })),
            Effect.provide(launcherWith(`${path}.d`))
          )
        }).pipe(Effect.ensuring(Effect.sync(() => {
          for (const pid of liveWithCmdline(`sleep 3600.${process.pid}82`)) process.kill(pid, "SIGKILL")
        })))),
    60_000
  )
})
