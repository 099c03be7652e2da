/**
 * The timing rules of probes and resource limits, on the TestClock, with a fake probe transport
 * and a fake /proc reader provided in the HAM's context.
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Either, Exit, Queue, TestClock } from "effect"
import type { Duration } from "effect"
import { Action, Entity, Ham } from "effect-ham"
import type { ConditionEvent } from "effect-ham/Condition"
import {
  CondBeatMissedHigh,
  CondBeatMissedLow,
  CondDeath,
  RaiseClassCpuLimit,
  RaiseClassMemoryLimit,
  RaiseTypeHam
} from "effect-ham/Condition"
import * as top from "../src/internal/cli/top.js"
import * as view from "../src/internal/cli/view.js"
import * as width_ from "../src/internal/cli/width.js"
import * as config from "../src/internal/daemon/config.js"
import * as daemon from "../src/internal/daemon/daemon.js"
import * as tree_ from "../src/internal/tree.js"
import * as checks from "../src/internal/watch/checks.js"
import type { ProbeTarget } from "../src/internal/watch/config.js"
import * as usage from "../src/internal/watch/usage.js"
import { entityNode as nodeOf, treeOf } from "./trees.js"
import { at, entityNode, settle, stepTo, withHam } from "./utils.js"

/** a transport whose answer the test sets; `hang` makes a probe never answer */
const fakeTransport = () => {
  const state = { pass: false, hang: false, calls: 0, interrupted: 0, targets: [] as Array<ProbeTarget> }
  const service: checks.ProbeTransportService = {
    start: (target, done) => {
      state.calls++
      state.targets.push(target)
      if (state.hang) return () => state.interrupted++
      done(state.pass)
      return () => {}
    }
  }
  return { state, service }
}

const missed = (events: Queue.Dequeue<ConditionEvent>) =>
  Effect.map(
    Queue.takeAll(events),
    (chunk) =>
      Chunk.toReadonlyArray(chunk).flatMap((e) =>
        e._tag === "CondBeatMissedLow" || e._tag === "CondBeatMissedHigh" ? [[e._tag, e.time, e.missed] as const] : []
      )
  )

const raises = (events: Queue.Dequeue<ConditionEvent>) =>
  Effect.map(
    Queue.takeAll(events),
    (chunk) =>
      Chunk.toReadonlyArray(chunk).flatMap((e) =>
        e._tag === "CondRaise" && e.type === RaiseTypeHam ? [[e.class, e.time] as const] : []
      )
  )

const tcp = { tcp: { port: 8080 } } as const

const withFake = <A, E>(
  body: (fake: ReturnType<typeof fakeTransport>["state"]) => Effect.Effect<A, E, Ham.Ham | import("effect").Scope.Scope>
) => {
  const fake = fakeTransport()
  return withHam(body(fake.state)).pipe(Effect.provideService(checks.ProbeTransport, fake.service))
}

describe("Probe (TestClock, a fake transport)", () => {
  it.effect("a probe runs every interval; consecutive failures fire CondBeatMissedLow, then High, once each", () =>
    withFake((fake) =>
      Effect.gen(function*() {
        const events = yield* Ham.subscribe
        yield* Ham.attachSelf("app", { probe: { ...tcp, interval: "1 second", missedLow: 2, missedHigh: 3 } })
        yield* settle
        expect(fake.calls).toBe(0)
        yield* at(999)
        expect(fake.calls).toBe(0)
        yield* at(1_000)
        expect(fake.calls).toBe(1)
        expect(fake.targets[0]).toEqual({ _tag: "Tcp", host: "127.0.0.1", port: 8080 })
        expect(yield* missed(events)).toEqual([])
        yield* at(2_000)
        expect(yield* missed(events)).toEqual([[CondBeatMissedLow, 2_000, 2]])
        yield* at(3_000)
        expect(yield* missed(events)).toEqual([[CondBeatMissedHigh, 3_000, 3]])
        yield* stepTo(8_000, 1_000)
        expect(yield* missed(events)).toEqual([])
        const node = yield* entityNode("app")
        expect(node.probe).toMatchObject({
          target: "tcp 127.0.0.1:8080",
          intervalMillis: 1_000,
          missed: 8,
          unhealthy: true,
          probes: 8,
          failures: 8,
          lastPassed: false
        })
        expect(node.stats.missedLow).toBe(1)
        expect(node.stats.missedHigh).toBe(1)
      })
    ))

  it.effect("a pass resets the count (recovery); after heartbeatHealthy a new episode fires again", () =>
    withFake((fake) =>
      Effect.gen(function*() {
        const events = yield* Ham.subscribe
        const app = yield* Ham.attachSelf("app", {
          probe: { ...tcp, interval: "1 second", missedLow: 2, missedHigh: 4 }
        })
        yield* Ham.condition(app, CondBeatMissedLow).pipe(Ham.heartbeatHealthy)
        yield* stepTo(2_000, 1_000)
        expect(yield* missed(events)).toEqual([[CondBeatMissedLow, 2_000, 2]])
        fake.pass = true
        yield* at(3_000)
        expect((yield* entityNode("app")).probe).toMatchObject({ missed: 0, unhealthy: false, lastPassed: true })
        fake.pass = false
        // failures at 4 s and 5 s: a new episode, counted from 0 again
        yield* at(4_000)
        expect(yield* missed(events)).toEqual([])
        yield* at(5_000)
        expect(yield* missed(events)).toEqual([[CondBeatMissedLow, 5_000, 2]])
        // no pass: the high level is reached at 4 failures in a row
        yield* stepTo(7_000, 1_000)
        expect(yield* missed(events)).toEqual([[CondBeatMissedHigh, 7_000, 4]])
      })
    ))

  it.effect("a probe that does not answer within its timeout fails, and is interrupted", () =>
    withFake((fake) =>
      Effect.gen(function*() {
        fake.hang = true
        const events = yield* Ham.subscribe
        yield* Ham.attachSelf("app", {
          probe: { ...tcp, interval: "1 second", timeout: "300 millis", missedLow: 1, missedHigh: 0 }
        })
        yield* at(1_000)
        expect(fake.calls).toBe(1)
        yield* at(1_299)
        expect(yield* missed(events)).toEqual([])
        expect(fake.interrupted).toBe(0)
        yield* at(1_300)
        expect(yield* missed(events)).toEqual([[CondBeatMissedLow, 1_300, 1]])
        expect(fake.interrupted).toBe(1)
      })
    ))

  it.effect("start-up grace: failures are not counted until the grace is over", () =>
    withFake((fake) =>
      Effect.gen(function*() {
        const events = yield* Ham.subscribe
        yield* Ham.attachSelf("app", {
          probe: { ...tcp, interval: "1 second", missedLow: 1, missedHigh: 2, startupGrace: "5 seconds" }
        })
        yield* stepTo(4_000, 1_000)
        expect(fake.calls).toBe(4)
        expect(yield* missed(events)).toEqual([])
        expect((yield* entityNode("app")).probe).toMatchObject({ missed: 0, failures: 4, startupGraceMillis: 5_000 })
        yield* at(5_000)
        expect(yield* missed(events)).toEqual([[CondBeatMissedLow, 5_000, 1]])
        yield* at(6_000)
        expect(yield* missed(events)).toEqual([[CondBeatMissedHigh, 6_000, 2]])
      })
    ))

  it.effect("start-up grace: ends at the first pass; the steady-state count applies from then", () =>
    withFake((fake) =>
      Effect.gen(function*() {
        const events = yield* Ham.subscribe
        yield* Ham.attachSelf("app", {
          probe: { ...tcp, interval: "1 second", missedLow: 1, missedHigh: 2, startupGrace: "1 minute" }
        })
        yield* stepTo(2_000, 1_000)
        fake.pass = true
        yield* at(3_000)
        fake.pass = false
        yield* at(4_000)
        expect(yield* missed(events)).toEqual([[CondBeatMissedLow, 4_000, 1]])
      })
    ))

  it.effect("a fiber entity's probe restarts with each life (its count and grace start afresh)", () =>
    withFake(() =>
      Effect.gen(function*() {
        const events = yield* Ham.subscribe
        const worker = yield* Ham.attach(Entity.fiber("worker", Effect.never), {
          probe: { ...tcp, interval: "1 second", missedLow: 0, missedHigh: 2, startupGrace: "1500 millis" },
          backoff: false
        })
        yield* Ham.condition(worker, CondBeatMissedHigh).pipe(Ham.action(Action.signal("SIGKILL")))
        yield* Ham.condition(worker, CondDeath).pipe(Ham.restart)
        // failures counted from 2 s (1 s is inside the grace): high at 3 s, then a restart
        yield* stepTo(3_000, 1_000)
        expect(yield* missed(events)).toEqual([[CondBeatMissedHigh, 3_000, 2]])
        const node = yield* entityNode("worker")
        expect(node.stats.restarts).toBe(1)
        expect(node.probe?.missed).toBe(0)
        // the new life has its own grace: 4 s is inside it, 5 s and 6 s count
        yield* stepTo(5_000, 1_000)
        expect(yield* missed(events)).toEqual([])
        yield* at(6_000)
        expect(yield* missed(events)).toEqual([[CondBeatMissedHigh, 6_000, 2]])
      })
    ))

  it.effect("no probe runs once the entity is detached", () =>
    withFake((fake) =>
      Effect.gen(function*() {
        yield* Ham.attach(Entity.fiber("worker", Effect.never), { probe: { ...tcp, interval: "1 second" } })
        yield* stepTo(2_000, 1_000)
        expect(fake.calls).toBe(2)
        yield* Ham.detach("worker")
        yield* stepTo(6_000, 1_000)
        expect(fake.calls).toBe(2)
      })
    ))

  it.effect("untilPasses waits for the first pass (a readiness source)", () =>
    Effect.gen(function*() {
      const fake = fakeTransport()
      let n = 0
      const service: checks.ProbeTransportService = {
        start: (t, done) => fake.service.start(t, () => done(++n >= 3))
      }
      const fiber = yield* checks.untilPasses({ _tag: "Tcp", host: "127.0.0.1", port: 1 }, {
        intervalMillis: 1_000,
        timeoutMillis: 500
      }).pipe(Effect.provideService(checks.ProbeTransport, service), Effect.fork)
      yield* settle
      expect(n).toBe(1)
      yield* TestClock.adjust("1 second")
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 second")
      expect(n).toBe(3)
      expect(fiber.unsafePoll()).not.toBeNull()
    }))
})

describe("Probe options", () => {
  const bad: ReadonlyArray<[string, unknown, string]> = [
    ["an unknown key", { ...tcp, intervall: "1 second" }, "probe"],
    ["no target", { interval: "1 second" }, "probe"],
    ["two targets", { ...tcp, http: "http://127.0.0.1/" }, "probe"],
    ["a negative interval", { ...tcp, interval: -5 }, "probe.interval"],
    ["a zero interval", { ...tcp, interval: 0 }, "probe.interval"],
    ["a timeout over the interval", { ...tcp, interval: "1 second", timeout: "2 seconds" }, "probe.timeout"],
    ["a fractional threshold", { ...tcp, missedHigh: 1.5 }, "probe.missedHigh"],
    ["low over high", { ...tcp, missedLow: 4, missedHigh: 2 }, "probe"],
    ["a port out of range", { tcp: { port: 70_000 } }, "probe.tcp.port"],
    ["an unknown tcp key", { tcp: { port: 80, hots: "x" } }, "probe.tcp"],
    ["a URL that is not http", { http: "ftp://example.org/" }, "probe.http"],
    ["an empty exec", { exec: [] }, "probe.exec"],
    ["a negative grace", { ...tcp, startupGrace: "-1 seconds" }, "probe.startupGrace"]
  ]
  for (const [what, probe, argument] of bad) {
    it.effect(`${what} is an InvalidArgument and nothing is attached`, () =>
      withHam(Effect.gen(function*() {
        const exit = yield* Effect.exit(Ham.attach(Entity.fiber("w", Effect.never), { probe: probe as never }))
        expect(exit).toMatchObject(Exit.fail({ _tag: "InvalidArgument", argument }))
        expect((yield* Ham.snapshot).entities).toEqual([])
      })))
  }

  const badLimits: ReadonlyArray<[string, unknown, string]> = [
    ["no limit", { samples: 3 }, "limits"],
    ["an unknown key", { memory: 1e6, sample: 3 }, "limits"],
    ["a negative memory", { memory: -1 }, "limits.memory"],
    ["a zero cpu", { cpu: 0 }, "limits.cpu"],
    ["zero samples", { cpu: 50, samples: 0 }, "limits.samples"],
    ["a negative interval", { cpu: 50, interval: -1 }, "limits.interval"]
  ]
  for (const [what, limits, argument] of badLimits) {
    it.effect(`limits: ${what} is an InvalidArgument and nothing is attached`, () =>
      withHam(Effect.gen(function*() {
        const exit = yield* Effect.exit(Ham.attach(Entity.pid("p", process.pid), { limits: limits as never }))
        expect(exit).toMatchObject(Exit.fail({ _tag: "InvalidArgument", argument }))
        expect((yield* Ham.snapshot).entities).toEqual([])
      })))
  }

  it.effect("limits on a fiber entity are an InvalidArgument", () =>
    withHam(Effect.gen(function*() {
      const exit = yield* Effect.exit(Ham.attach(Entity.fiber("w", Effect.never), { limits: { memory: 1e9 } }))
      expect(exit).toMatchObject(Exit.fail({ _tag: "InvalidArgument", argument: "limits" }))
      expect((yield* Ham.snapshot).entities).toEqual([])
    })))
})

/** a reader that gives the test's figures for any pid */
const fakeReader = () => {
  const state = { cpuMillis: 0, rssBytes: 10e6, reads: 0 }
  const service: usage.UsageReaderService = {
    read: () => {
      state.reads++
      return { cpuMillis: state.cpuMillis, rssBytes: state.rssBytes }
    }
  }
  return { state, service }
}

const mb = 1024 * 1024

describe("Resource limits (TestClock, a fake /proc reader)", () => {
  const withReader = <A, E>(
    body: (fake: ReturnType<typeof fakeReader>["state"]) => Effect.Effect<A, E, Ham.Ham | import("effect").Scope.Scope>
  ) => {
    const fake = fakeReader()
    return withHam(body(fake.state)).pipe(Effect.provideService(usage.UsageReader, fake.service))
  }
  // the HAM's own process as a pid entity: polled once an hour, so only the limits read /proc
  const self = (limits: Ham.LimitOptions) =>
    Ham.attach(Entity.pid("me", process.pid, { pollInterval: "1 hour" }), { limits })

  it.effect("memory: samples consecutive samples over the limit raise RaiseClassMemoryLimit, once per episode", () =>
    withReader((fake) =>
      Effect.gen(function*() {
        const events = yield* Ham.subscribe
        yield* self({ memory: 100 * mb, samples: 3, interval: "1 second" })
        yield* settle
        fake.rssBytes = 150 * mb
        yield* stepTo(2_000, 1_000)
        expect(yield* raises(events)).toEqual([])
        yield* at(3_000)
        expect(yield* raises(events)).toEqual([[RaiseClassMemoryLimit, 3_000]])
        yield* stepTo(6_000, 1_000)
        expect(yield* raises(events)).toEqual([])
        // a sample under the limit ends the episode
        fake.rssBytes = 50 * mb
        yield* at(7_000)
        fake.rssBytes = 150 * mb
        yield* stepTo(9_000, 1_000)
        expect(yield* raises(events)).toEqual([])
        yield* at(10_000)
        expect(yield* raises(events)).toEqual([[RaiseClassMemoryLimit, 10_000]])
        const node = yield* entityNode("me")
        expect(node.rss).toBe(150 * mb)
      })
    ))

  it.effect("memory: a sample under the limit in the middle resets the count", () =>
    withReader((fake) =>
      Effect.gen(function*() {
        const events = yield* Ham.subscribe
        yield* self({ memory: 100 * mb, samples: 2 })
        fake.rssBytes = 150 * mb
        yield* at(1_000)
        fake.rssBytes = 100 * mb // at the limit is not over it
        yield* at(2_000)
        fake.rssBytes = 150 * mb
        yield* at(3_000)
        expect(yield* raises(events)).toEqual([])
        yield* at(4_000)
        expect(yield* raises(events)).toEqual([[RaiseClassMemoryLimit, 4_000]])
      })
    ))

  it.effect("cpu: percent of one core between samples; over the limit for samples samples raises RaiseClassCpuLimit", () =>
    withReader((fake) =>
      Effect.gen(function*() {
        const events = yield* Ham.subscribe
        const me = yield* self({ cpu: 50, samples: 2, interval: "1 second" })
        const raised = yield* Queue.unbounded<ConditionEvent>()
        yield* Ham.conditionRaise(me, { type: RaiseTypeHam, class: RaiseClassCpuLimit }).pipe(Ham.notify(raised))
        yield* settle
        // 300 ms of CPU a second: 30 %
        const burn = (millisPerSecond: number, until: number) =>
          Effect.gen(function*() {
            let now = yield* TestClock.currentTimeMillis
            while (now < until) {
              now += 1_000
              fake.cpuMillis += millisPerSecond
              yield* at(now)
            }
          })
        yield* burn(300, 3_000)
        expect((yield* entityNode("me")).cpu).toBe(30)
        expect(yield* raises(events)).toEqual([])
        yield* burn(800, 4_000)
        expect((yield* entityNode("me")).cpu).toBe(80)
        expect(yield* raises(events)).toEqual([])
        yield* burn(800, 5_000)
        expect(yield* raises(events)).toEqual([[RaiseClassCpuLimit, 5_000]])
        expect(yield* Queue.take(raised)).toMatchObject({
          _tag: "CondRaise",
          entity: "me",
          class: RaiseClassCpuLimit,
          detail: "CPU 80.0 % over the limit of 50 % for 2 samples"
        })
      })
    ))

  it.effect("the tree shows the CPU and RSS of a process entity without limits (read at most once a second)", () =>
    withReader((fake) =>
      Effect.gen(function*() {
        yield* Ham.attach(Entity.pid("me", process.pid, { pollInterval: "1 hour" }))
        expect((yield* entityNode("me")).rss).toBe(10e6)
        const reads = fake.reads
        yield* entityNode("me")
        expect(fake.reads).toBe(reads)
        fake.cpuMillis += 250
        yield* TestClock.adjust("1 second" as Duration.DurationInput)
        const node = yield* entityNode("me")
        expect(node.cpu).toBe(25)
        expect(fake.reads).toBe(reads + 1)
      })
    ))
})

describe("ham ls and ham top: the CPU and RSS columns", () => {
  it("appear after UPTIME when an entity runs a process, and every line fits in 80 columns", () => {
    const tree = treeOf([
      nodeOf({ name: "a-rather-long-name-of-a-web-server", pid: 4242, cpu: 12.34, rss: 157_286_400 }),
      nodeOf({ name: "worker", kind: "fiber" }),
      nodeOf({ name: "hog", pid: 99, cpu: 250, rss: 3 * 1024 ** 3, stats: { lastDeath: "killed by SIGKILL" } as never })
    ])
    const lines = view.table(tree).split("\n")
    expect(lines[0]).toMatch(/^NAME +KIND +PID +STATE +UPTIME +CPU% +RSS +RESTARTS +DEATHS +LAST DEATH$/)
    expect(lines[1]).toMatch(/ 12\.3 +150M /)
    expect(lines[2]).toMatch(/ fiber +- +running +- +- +- /)
    expect(lines[3]).toMatch(/ 250 +3\.0G /)
    for (const line of lines) expect(width_.width(line)).toBeLessThanOrEqual(80)
    for (const line of top.frame({ tree, events: [], address: "/tmp/ham.sock", columns: 80, rows: 24 })) {
      expect(width_.width(line)).toBeLessThanOrEqual(80)
    }
  })

  it("stay away when no entity runs a process (the table is as before)", () => {
    const lines = view.table(treeOf([nodeOf({ name: "worker", kind: "fiber" })])).split("\n")
    expect(lines[0]).toMatch(/^NAME +KIND +PID +STATE +UPTIME +RESTARTS +DEATHS +LAST DEATH$/)
  })

  it("sizes in at most 5 columns", () => {
    expect([512, 9.8 * 1024, 1000 * 1024, 12 * 1024 ** 2, 1.2 * 1024 ** 3].map(tree_.formatBytes)).toEqual([
      "512B",
      "9.8K",
      "1.0M",
      "12M",
      "1.2G"
    ])
  })
})

describe("the daemon's config file: probe and limits", () => {
  it.live("an entity's probe and limits are read from the config and applied", () =>
    Effect.gen(function*() {
      const c = yield* config.parse({
        entities: [{
          name: "sleeper",
          command: { command: "sleep", args: ["30"] },
          probe: { exec: ["true"], interval: "2 seconds", timeout: 500, missedHigh: 5, startupGrace: "10 seconds" },
          limits: { memory: 268435456, cpu: 90, samples: 5 },
          conditions: [{
            type: "CondRaise",
            raise: { type: RaiseTypeHam, class: RaiseClassMemoryLimit },
            actions: [{ _tag: "Signal", signal: "SIGTERM" }]
          }]
        }]
      })
      const ham = yield* Ham.Ham
      yield* daemon.apply(ham, c)
      const node = yield* entityNode("sleeper")
      expect(node.probe).toMatchObject({
        target: "exec true",
        intervalMillis: 2_000,
        timeoutMillis: 500,
        missedLow: 1,
        missedHigh: 5,
        startupGraceMillis: 10_000
      })
      expect(node.conditions[0].filter).toBe("type RaiseTypeHam class RaiseClassMemoryLimit severity any")
      const bad = yield* Effect.either(
        config.parse({
          entities: [{ name: "b", command: { command: "true" }, probe: { tcp: { port: 80 }, every: 1 } }]
        })
      )
      expect(Either.isLeft(bad) && bad.left.reason).toMatch(/^entities\.0\.probe\.every is not allowed/)
    }).pipe(Effect.provide(Ham.layer())))

  it.live("a config with a bad probe is an InvalidArgument when applied, and the entity is not attached", () =>
    Effect.gen(function*() {
      const c = yield* config.parse({
        entities: [{ name: "b", command: { command: "true" }, probe: { tcp: { port: 80 }, interval: -1 } }]
      })
      const failed = yield* Effect.either(daemon.apply(yield* Ham.Ham, c))
      expect(Either.isLeft(failed) && failed.left).toMatchObject({
        _tag: "InvalidArgument",
        argument: "probe.interval"
      })
      expect((yield* Ham.snapshot).entities).toEqual([])
    }).pipe(Effect.provide(Ham.layer())))

  it("the JSON Schema describes them", () => {
    const schema = config.jsonSchema() as any
    expect(Object.keys(schema.$defs.Entity.properties)).toEqual(expect.arrayContaining(["probe", "limits"]))
    expect(Object.keys(schema.$defs.Probe.properties)).toEqual([
      "http",
      "tcp",
      "exec",
      "interval",
      "timeout",
      "missedLow",
      "missedHigh",
      "startupGrace"
    ])
    expect(Object.keys(schema.$defs.Limits.properties)).toEqual(["memory", "cpu", "samples", "interval"])
  })
})
