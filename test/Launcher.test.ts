/**
 * The process launcher, chosen by Layer: the HAM takes the `ProcessLauncher` it finds in its
 * context (a layer provided to `Ham.layer(...)`/`HamLive`, or provided around the effect that
 * builds them), and builds the one its `spawner` option names when there is none. The detached
 * launcher (the Guardian's process mode) on its own. The checks ask /proc who forked a child.
 */
import { Command } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { Entity, Ham } from "effect-ham"
import { readFileSync } from "node:fs"
import { layerDetached } from "../src/internal/launch/detached.js"
import { layerInline } from "../src/internal/launch/inline.js"
import { ProcessLauncher } from "../src/internal/launch/launcher.js"
import { layerSpawner } from "../src/internal/launch/spawner.js"
import * as procStart from "../src/internal/procStart.js"
import { cmdlineOf, isLive, launchRequest, liveWithCmdline, parentOf, pidOf, tempDir, waitUntil } from "./processes.js"
import * as procfs from "./procfs.js"

const spawnerPid = Effect.map(Ham.snapshot, (tree) => tree.spawnerPid)

/** attaches `sleep <seconds>`; its pid, its parent's and the tree's spawner pid */
const attachSleeper = (seconds: string) =>
  Effect.gen(function*() {
    yield* Ham.attach(Entity.process("svc", Command.make("sleep", seconds)))
    const pid = yield* pidOf("svc")
    return { pid, parent: parentOf(pid), spawner: yield* spawnerPid }
  })

/** runs the body with a HAM built from `ham`, then checks that no `sleep <seconds>` is left */
const withLayer = <A, E>(ham: Layer.Layer<Ham.Ham, Ham.InvalidArgument>, seconds: string) =>
(
  body: Effect.Effect<A, E, Ham.Ham>
) =>
  body.pipe(
    Effect.scoped,
    Effect.provide(ham),
    Effect.zipLeft(waitUntil("no sleeper left", () => liveWithCmdline(`sleep ${seconds}`).length === 0))
  )

describe("the launcher, chosen by Layer", () => {
  it.live("the default: the spawner's helper forks the children", () =>
    Effect.gen(function*() {
      const { parent, spawner } = yield* attachSleeper("31.90")
      expect(spawner).toBeDefined()
      expect(parent).toBe(spawner)
      expect(parentOf(spawner!)).toBe(process.pid)
    }).pipe(withLayer(Ham.layer(), "31.90")))

  it.live("layerInline provided to Ham.layer: this process forks the children, no spawner runs", () =>
    Effect.gen(function*() {
      const { parent, spawner } = yield* attachSleeper("31.91")
      expect(parent).toBe(process.pid)
      expect(spawner).toBeUndefined()
    }).pipe(withLayer(Ham.layer().pipe(Layer.provide(layerInline), Layer.provide(NodeContext.layer)), "31.91")))

  it.live("the launcher in the context wins over the spawner option", () =>
    Effect.gen(function*() {
      const { parent } = yield* attachSleeper("31.92")
      expect(parent).toBe(process.pid)
    }).pipe(
      withLayer(
        Ham.layer({ spawner: "process" }).pipe(Layer.provide(layerInline), Layer.provide(NodeContext.layer)),
        "31.92"
      )
    ))

  it.live("layerSpawner provided by Effect.provide around Ham.layer({ spawner: \"inline\" }): the helper forks", () =>
    Effect.gen(function*() {
      const { parent, spawner } = yield* attachSleeper("31.93")
      expect(spawner).toBeDefined()
      expect(parent).toBe(spawner)
      expect(cmdlineOf(spawner!)).toContain("spawner.cjs")
    }).pipe(
      Effect.scoped,
      Effect.provide(Ham.layer({ spawner: "inline" })),
      Effect.provide(layerSpawner),
      Effect.provide(NodeContext.layer),
      Effect.orDie,
      Effect.zipLeft(waitUntil("no sleeper left", () => liveWithCmdline("sleep 31.93").length === 0))
    ))

  it.live("layerInline provided by Effect.provide around HamLive: this process forks the children", () =>
    Effect.gen(function*() {
      const { parent, spawner } = yield* attachSleeper("31.94")
      expect(parent).toBe(process.pid)
      expect(spawner).toBeUndefined()
    }).pipe(
      Effect.scoped,
      Effect.provide(Ham.HamLive),
      Effect.provide(layerInline),
      Effect.provide(NodeContext.layer),
      Effect.zipLeft(waitUntil("no sleeper left", () => liveWithCmdline("sleep 31.94").length === 0))
    ))
})

describe("the detached launcher (the Guardian's process mode)", () => {
  it.live("a single command: forked here in its own group, writes its own output to <dir>/<entity>.log, its start time is known", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("ham-detached-")
      const launcher = yield* Effect.provide(ProcessLauncher, layerDetached(dir))
      const { exits, request } = launchRequest("my svc/1", "sh", ["-c", "echo out; echo e1 >&2; echo e2 >&2; exit 3"])
      const life = yield* launcher.launch(request)
      expect(parentOf(life.pid)).toBe(process.pid)
      expect(launcher.helperPid()).toBeUndefined()
      const info = yield* life.exit
      expect(info).toEqual({ exitCode: 3 })
      expect(exits).toEqual([{ exitCode: 3 }])
      const file = `${dir}/${encodeURIComponent("my svc/1")}.log`
      expect(readFileSync(file, "utf8")).toBe("out\ne1\ne2\n")
      expect(life.stderrTail()).toEqual(["out", "e1", "e2"])
      yield* life.stop("SIGTERM", 1000)

      const sleeper = yield* launcher.launch(launchRequest("sleeper", "sleep", ["31.95"]).request)
      expect(sleeper.startTime).toBeDefined()
      expect(sleeper.startTime).toBe(procStart.startTimeOf(sleeper.pid))
      // its own process group, and it is the command itself (exec'ed by the shell)
      expect(Effect.runSync(procfs.readStat(sleeper.pid)).pgrp).toBe(sleeper.pid)
      yield* waitUntil("the sleeper exec'ed", () => cmdlineOf(sleeper.pid) === "sleep 31.95")
      yield* sleeper.stop("SIGTERM", 1000)
      expect(isLive(sleeper.pid)).toBe(false)
    }).pipe(Effect.scoped, Effect.provide(NodeContext.layer)))

  it.live("a shell line keeps its pipes: its output is not written to the file, its stderr tail is from the pipe", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("ham-detached-")
      const launcher = yield* Effect.provide(ProcessLauncher, layerDetached(dir))
      const life = yield* launcher.launch(launchRequest("shell", "echo e1 >&2; exit 4", [], true).request)
      expect(yield* life.exit).toEqual({ exitCode: 4 })
      expect(life.stderrTail()).toEqual(["e1"])
      expect(life.startTime === undefined || life.startTime > 0).toBe(true)
      yield* life.stop("SIGTERM", 1000)
    }).pipe(Effect.scoped, Effect.provide(NodeContext.layer)))
})
