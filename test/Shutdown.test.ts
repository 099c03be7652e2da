/**
 * Stopping the HAM stops its entities in reverse attach order, one after another, each with its
 * own stop signal and grace (OTP's shutdown order): a later entity is gone before an earlier one
 * is asked to stop.
 */
import { Command } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Entity, Ham } from "effect-ham"
import { appendFileSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { inTempDir, isLive, waitUntil } from "./processes.js"

/** `name <what> <nanoseconds>` lines, as the children and the fibers write them */
interface Line {
  readonly name: string
  readonly what: string
  readonly at: number
}

const readLines = (file: string): Array<Line> =>
  readFileSync(file, "utf8").trim().split("\n").map((line) => {
    const [name, what, at] = line.split(" ")
    return { name, what, at: Number(at) / 1e6 }
  })

/** a shell child that writes a line when it gets `signal`, then exits after 100 ms (or never) */
const child = (file: string, name: string, signal: string, exits: boolean) =>
  Command.make(
    "sh",
    "-c",
    `trap 'echo ${name} ${signal} $(date +%s%N) >> "$F"${
      exits ? `; sleep 0.1; echo ${name} gone $(date +%s%N) >> "$F"; exit 0` : ""
    }' ${signal.slice(3)}; echo ${name} up $(date +%s%N) >> "$F"; while :; do sleep 0.02; done`
  ).pipe(Command.env({ F: file }))

describe("shutdown", () => {
  it.live("entities stop from the last attached to the first, one after another, each with its signal and grace", () =>
    inTempDir("ham-shutdown-", (dir) =>
      Effect.gen(function*() {
        const file = join(dir, "log")
        const note = (name: string, what: string) =>
          Effect.sync(() => appendFileSync(file, `${name} ${what} ${Date.now() * 1e6}\n`))
        const pids = yield* Effect.gen(function*() {
          const a = yield* Ham.attach(Entity.process("a", child(file, "a", "SIGTERM", true), { output: "ignore" }))
          // a fiber between them: stopped (interrupted) in its turn, its finalizer taking 100 ms
          yield* Ham.attach(Entity.fiber(
            "b",
            Effect.never.pipe(Effect.onInterrupt(() =>
              note("b", "interrupted").pipe(Effect.zipRight(Effect.sleep(100)), Effect.zipRight(note("b", "gone")))
            ))
          ))
          const c = yield* Ham.attach(
            Entity.process("c", child(file, "c", "SIGUSR1", true), { output: "ignore", stopSignal: "SIGUSR1" })
          )
          // d ignores its stop signal: it is killed after its grace, and only then is c asked
          const d = yield* Ham.attach(
            Entity.process("d", child(file, "d", "SIGTERM", false), { output: "ignore", stopGrace: "300 millis" })
          )
          yield* waitUntil("every child up", () => {
            try {
              return readLines(file).filter((l) =>
                l.what === "up"
              ).length === 3
            } catch {
              return false
            }
          })
          const tree = yield* Ham.snapshot
          const pidOf = (name: string) => tree.entities.find((e) => e.name === name)!.pid!
          void a
          void c
          void d
          const pids = ["a", "c", "d"].map(pidOf)
          yield* Ham.stop
          return pids
        }).pipe(Effect.scoped, Effect.provide(Ham.layer()))
        const lines = readLines(file).filter((l) => l.what !== "up")
        expect(lines.map((l) => `${l.name} ${l.what}`)).toEqual([
          "d SIGTERM",
          "c SIGUSR1",
          "c gone",
          "b interrupted",
          "b gone",
          "a SIGTERM",
          "a gone"
        ])
        const at = (name: string, what: string) => lines.find((l) => l.name === name && l.what === what)!.at
        // d had its grace before it was killed, and c was asked only after that
        expect(at("c", "SIGUSR1") - at("d", "SIGTERM")).toBeGreaterThanOrEqual(250)
        // one after another
        expect(at("b", "interrupted")).toBeGreaterThanOrEqual(at("c", "gone"))
        expect(at("a", "SIGTERM")).toBeGreaterThanOrEqual(at("b", "gone"))
        expect(pids.filter(isLive)).toEqual([])
      })))
})
