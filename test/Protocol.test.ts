/**
 * The protocol: every operation that can cross a process boundary as a Schema request. Each
 * request encodes to the JSON a config file would hold and decodes back to the same value; a
 * payload with an unknown key or a bad field is an `InvalidArgument` on one line; what is local to
 * the process (a fiber, local code, a schedule) fails to encode; and a request run through
 * `handle` against a real HAM does what the direct call does, and fails with its row's errors.
 */
import { Command } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Exit, Fiber, Layer, Queue, Schedule, Schema, Stream } from "effect"
import { Action, Entity, Ham } from "effect-ham"
import type { HamService } from "effect-ham/Ham"
import * as ChildProcess from "node:child_process"
import * as entity_ from "../src/internal/entity.js"
import * as protocol from "../src/internal/protocol.js"
import { isLive, unusedPid, waitUntil, waitUntilEffect } from "./processes.js"
import { failureOf, settle } from "./utils.js"

// ---------------------------------------------------------------------------------------------
// requests and their JSON
// ---------------------------------------------------------------------------------------------

const web = entity_.makeHandle("web")
const death = { _tag: "ConditionHandle", entity: "web", isGlobal: false, name: "death" } as const
const deathJson = death
const port = { _tag: "ActionHandle", entity: "web", isGlobal: false, condition: "death", name: "port" } as const

/** each request, and the JSON that a config file holds for it */
const examples: ReadonlyArray<readonly [protocol.Request, unknown]> = [
  [
    new protocol.Attach({
      spec: Entity.process("web", Command.make("sleep", "30"), { output: "ignore", stopGrace: "2 seconds" }),
      options: {
        heartbeat: { interval: "1 second", missedLow: 2, missedHigh: 5 },
        restartIntensity: { maxRestarts: 3, within: 60_000 },
        backoff: false,
        backoffResetAfter: "10 seconds"
      }
    }),
    {
      _tag: "Attach",
      spec: {
        _tag: "Process",
        name: "web",
        command: { command: "sleep", args: ["30"] },
        options: { output: "ignore", stopGrace: "2 seconds" }
      },
      options: {
        heartbeat: { interval: "1 second", missedLow: 2, missedHigh: 5 },
        restartIntensity: { maxRestarts: 3, within: 60_000 },
        backoff: false,
        backoffResetAfter: "10 seconds"
      }
    }
  ],
  [
    new protocol.Attach({
      spec: Entity.process(
        "job",
        Command.make("sh", "-c", "run").pipe(Command.env({ MODE: "fast" }), Command.workingDirectory("/tmp"))
      ),
      options: { restartIntensity: { maxRestarts: Infinity } }
    }),
    {
      _tag: "Attach",
      spec: {
        _tag: "Process",
        name: "job",
        command: { command: "sh", args: ["-c", "run"], env: { MODE: "fast" }, cwd: "/tmp" }
      },
      options: { restartIntensity: { maxRestarts: "Infinity" } }
    }
  ],
  [
    new protocol.Attach({ spec: Entity.pid("ext", 4242, { pollInterval: 50 }) }),
    { _tag: "Attach", spec: { _tag: "Pid", name: "ext", pid: 4242, options: { pollInterval: 50 } } }
  ],
  [new protocol.Entity({ name: "db" }), { _tag: "Entity", name: "db" }],
  [new protocol.LookupEntity({ name: "web" }), { _tag: "LookupEntity", name: "web" }],
  [
    new protocol.Detach({ entity: web }),
    { _tag: "Detach", entity: { _tag: "EntityHandle", name: "web", isGlobal: false } }
  ],
  [
    new protocol.Condition({ entity: "web", type: "CondDeath", options: { name: "death", independent: true } }),
    { _tag: "Condition", entity: "web", type: "CondDeath", options: { name: "death", independent: true } }
  ],
  [
    new protocol.ConditionState({ entity: "db", filter: { from: 0, to: { in: [2, 3] } } }),
    { _tag: "ConditionState", entity: "db", filter: { from: 0, to: { in: [2, 3] } } }
  ],
  [
    new protocol.ConditionRaise({ entity: Entity.global, filter: { severity: 5 }, options: { noWait: true } }),
    {
      _tag: "ConditionRaise",
      entity: { _tag: "EntityHandle", name: "*", isGlobal: true },
      filter: { severity: 5 },
      options: { noWait: true }
    }
  ],
  [
    new protocol.LookupCondition({ entity: "web", name: "death" }),
    { _tag: "LookupCondition", entity: "web", name: "death" }
  ],
  [
    new protocol.AddAction({ condition: death, action: Action.restart }),
    { _tag: "AddAction", condition: deathJson, action: { _tag: "Restart" } }
  ],
  [
    new protocol.AddAction({
      condition: death,
      action: Action.waitfor({ port: 8080, timeout: "5 seconds" }).pipe(
        Action.orElse(Action.log("port 8080 is not up", { verbosity: 2 })),
        Action.withOptions({ name: "port", breakOnFail: true })
      )
    }),
    {
      _tag: "AddAction",
      condition: deathJson,
      action: {
        _tag: "WaitFor",
        name: "port",
        breakOnFail: true,
        millis: 5000,
        port: 8080,
        alternates: [{ _tag: "Log", message: "port 8080 is not up", verbosity: 2 }]
      }
    }
  ],
  [
    new protocol.AddAction({
      condition: death,
      action: Action.execute(Command.make("mount-shares"), { timeout: "1 second" }).pipe(Action.named("mount"))
    }),
    {
      _tag: "AddAction",
      condition: deathJson,
      action: { _tag: "Execute", name: "mount", command: { command: "mount-shares" }, timeoutMillis: 1000 }
    }
  ],
  [
    new protocol.AddAction({
      condition: death,
      action: Action.signal("SIGTERM", { awaitExit: "500 millis" }).pipe(
        Action.orElse(Action.signal("SIGKILL")),
        Action.withOptions({ removeOnFail: true })
      )
    }),
    {
      _tag: "AddAction",
      condition: deathJson,
      action: {
        _tag: "Signal",
        signal: "SIGTERM",
        awaitExitMillis: 500,
        removeOnFail: true,
        alternates: [{ _tag: "Signal", signal: "SIGKILL" }]
      }
    }
  ],
  [
    new protocol.AddAction({
      condition: death,
      action: Action.heartbeatHealthy.pipe(Action.withOptions({ oneShot: true }))
    }),
    { _tag: "AddAction", condition: deathJson, action: { _tag: "HeartbeatHealthy", oneShot: true } }
  ],
  [
    new protocol.LookupAction({ condition: death, name: "port" }),
    { _tag: "LookupAction", condition: deathJson, name: "port" }
  ],
  [
    new protocol.Control({ handle: port, op: { setFlags: { oneShot: true } }, options: { recurse: false } }),
    { _tag: "Control", handle: port, op: { setFlags: { oneShot: true } }, options: { recurse: false } }
  ],
  [
    new protocol.Control({ handle: web, op: "disable" }),
    { _tag: "Control", handle: { _tag: "EntityHandle", name: "web", isGlobal: false }, op: "disable" }
  ],
  [new protocol.Remove({ handle: death }), { _tag: "Remove", handle: deathJson }],
  [
    new protocol.RemoveFailAction({ action: port, name: "page" }),
    { _tag: "RemoveFailAction", action: port, name: "page" }
  ],
  [new protocol.PublishState({ entity: "db", state: 2 }), { _tag: "PublishState", entity: "db", state: 2 }],
  [
    new protocol.Raise({ entity: "db", raise: { type: 1, class: 2, severity: 3, detail: "disk full" } }),
    { _tag: "Raise", entity: "db", raise: { type: 1, class: 2, severity: 3, detail: "disk full" } }
  ],
  [new protocol.RestartEntity({ entity: "web" }), { _tag: "RestartEntity", entity: "web" }],
  [
    new protocol.ReloadEntity({ entity: web, options: { env: { VERSION: "2" }, readyTimeout: 5000 } }),
    {
      _tag: "ReloadEntity",
      entity: { _tag: "EntityHandle", name: "web", isGlobal: false },
      options: { env: { VERSION: "2" }, readyTimeout: 5000 }
    }
  ],
  [
    new protocol.SignalEntity({ entity: web, signal: "SIGHUP" }),
    { _tag: "SignalEntity", entity: { _tag: "EntityHandle", name: "web", isGlobal: false }, signal: "SIGHUP" }
  ],
  [new protocol.Verbose({ level: 2 }), { _tag: "Verbose", level: 2 }],
  [new protocol.Snapshot(), { _tag: "Snapshot" }],
  [new protocol.Events({ entity: "web" }), { _tag: "Events", entity: "web" }],
  [new protocol.Events(), { _tag: "Events" }],
  [new protocol.Stop(), { _tag: "Stop" }]
]

describe("requests as JSON", () => {
  it("covers every request of the protocol", () => {
    const tags = new Set(examples.map(([request]) => request._tag))
    expect([...tags].sort()).toEqual(protocol.Request.members.map((member) => member._tag).sort())
  })

  it.effect("every request encodes to the JSON of a config file and decodes to the same value", () =>
    Effect.gen(function*() {
      for (const [request, json] of examples) {
        const encoded = yield* protocol.encodeRequest(request)
        expect(JSON.parse(JSON.stringify(encoded))).toStrictEqual(json)
        const decoded = yield* protocol.decodeRequest(json)
        expect(decoded).toBeInstanceOf(request.constructor)
        expect(decoded).toEqual(request)
        expect(JSON.parse(JSON.stringify(yield* protocol.encodeRequest(decoded)))).toStrictEqual(json)
      }
    }))

  it.effect("a decoded action is a real Action, a decoded entity handle a real handle, a spec a real spec", () =>
    Effect.gen(function*() {
      const add = yield* protocol.decodeRequest({
        _tag: "AddAction",
        condition: deathJson,
        action: { _tag: "WaitFor", millis: "2 seconds", alternates: [{ _tag: "Log", message: "late" }] }
      })
      if (add._tag !== "AddAction") return expect.unreachable()
      expect(Action.isAction(add.action)).toBe(true)
      expect(Action.isAction(add.action.alternates[0])).toBe(true)
      expect(add.action).toMatchObject({ millis: 2000, breakOnFail: false, oneShot: false })
      expect(Action.summary(add.action.alternates[0])).toBe(`log "late" (verbosity 1)`)
      const detach = yield* protocol.decodeRequest({
        _tag: "Detach",
        entity: { _tag: "EntityHandle", name: "web", isGlobal: false }
      })
      if (detach._tag !== "Detach") return expect.unreachable()
      expect(Entity.isEntityHandle(detach.entity)).toBe(true)
      const attach = yield* protocol.decodeRequest({
        _tag: "Attach",
        spec: { _tag: "Process", name: "web", command: { command: "sleep", args: ["30"] } }
      })
      if (attach._tag !== "Attach") return expect.unreachable()
      expect(Entity.isEntitySpec(attach.spec)).toBe(true)
      expect(attach.spec).toMatchObject({
        _tag: "Process",
        command: { command: "sleep", args: ["30"], env: {}, extendEnv: true, shell: false },
        options: {}
      })
    }))
})

// ---------------------------------------------------------------------------------------------
// refused payloads
// ---------------------------------------------------------------------------------------------

const process_ = { _tag: "Process", name: "web", command: { command: "sleep", args: ["30"] } }

/** payloads that do not decode, and the one line that says why */
const refused: ReadonlyArray<readonly [unknown, string]> = [
  [
    { _tag: "Entity", name: "db", color: "red" },
    `invalid Entity: color is not allowed (got "red"; the fields are "_tag", "name")`
  ],
  [
    { _tag: "Attach", spec: { ...process_, restart: true } },
    `invalid Attach: spec.restart is not allowed (got true; the fields are "_tag", "name", "command", "options")`
  ],
  [
    { _tag: "Attach", spec: process_, options: { heartbeat: { interval: "soon", missedLow: 1, missedHigh: 2 } } },
    `invalid Attach: options.heartbeat.interval must be a number of milliseconds or a duration such as "5 seconds" (got "soon")`
  ],
  [
    { _tag: "Attach", spec: process_, options: { heartbeat: { interval: 100, missedLow: -1, missedHigh: 2 } } },
    `invalid Attach: options.heartbeat.missedLow must be a non-negative number (got -1)`
  ],
  [
    { _tag: "Attach", spec: { _tag: "Fiber", name: "worker" } },
    `invalid Attach: spec._tag must be one of "Process", "Pid" (got "Fiber")`
  ],
  [
    { _tag: "Attach", spec: process_, options: { backoff: true } },
    `invalid Attach: options.backoff must be false or a back-off schedule (got true)`
  ],
  [
    { _tag: "PublishState", entity: "db", state: "up" },
    `invalid PublishState: state must be a number (got "up")`
  ],
  [{ _tag: "PublishState", entity: "db" }, `invalid PublishState: state is missing`],
  [
    { _tag: "PublishState", entity: 7, state: 1 },
    `invalid PublishState: entity must be an entity handle or a string (got 7)`
  ],
  [
    { _tag: "Condition", entity: "web", type: "CondExplode" },
    `invalid Condition: type must be one of "CondAny", "CondDeath", "CondDetach", "CondRestart", "CondBeatMissedLow", "CondBeatMissedHigh", "CondAbnormalDeath", "CondAttach", "CondState", "CondRaise" (got "CondExplode")`
  ],
  [
    { _tag: "ConditionState", entity: "db", filter: { to: { in: [2, -3] } } },
    `invalid ConditionState: filter.to.in.1 must be a non-negative integer (got -3)`
  ],
  [
    { _tag: "AddAction", condition: deathJson, action: { _tag: "Reboot" } },
    `invalid AddAction: action._tag must be one of "Restart", "Execute", "Signal", "WaitFor", "HeartbeatHealthy", "Log", "PublishState", "Raise", "NotifyEntity", "RestartEntity", "LocalCode" (got "Reboot")`
  ],
  [
    { _tag: "AddAction", condition: deathJson, action: { _tag: "Log", message: "x", colour: "red" } },
    `invalid AddAction: action.colour is not allowed (got "red"; the fields are "_tag", "name", "breakOnFail", "removeOnFail", "oneShot", "doNow", "alternates", "onFail", "message", "verbosity", "attachPrefix")`
  ],
  [
    {
      _tag: "AddAction",
      condition: deathJson,
      action: { _tag: "Log", message: "x", alternates: [{ _tag: "LocalCode", label: "hook" }] }
    },
    `invalid AddAction: action: the action "hook" is local code, which cannot be sent or written as data`
  ],
  [
    { _tag: "Control", handle: port, op: { setFlags: { oneShot: "yes" } } },
    `invalid Control: op.setFlags.oneShot must be a boolean (got "yes")`
  ],
  [{ _tag: "Snapshot", depth: 2 }, `invalid Snapshot: depth is not allowed (got 2; the fields are "_tag")`],
  [
    { _tag: "Reboot" },
    `invalid Reboot: _tag must be one of "Attach", "Entity", "LookupEntity", "Detach", "Condition", "ConditionState", "ConditionRaise", "LookupCondition", "AddAction", "LookupAction", "Control", "Remove", "RemoveFailAction", "PublishState", "Raise", "RestartEntity", "ReloadEntity", "SignalEntity", "Verbose", "Snapshot", "Stop", "Events" (got "Reboot")`
  ]
]

describe("refused payloads", () => {
  it.effect("an unknown key or a bad field is an InvalidArgument that names the field and the rule, on one line", () =>
    Effect.gen(function*() {
      for (const [payload, message] of refused) {
        const error = yield* failureOf(protocol.decodeRequest(payload))
        expect(error._tag).toBe("InvalidArgument")
        expect(error.message).toBe(message)
      }
      const notARequest = yield* failureOf(protocol.decodeRequest(42))
      expect(notARequest._tag).toBe("InvalidArgument")
      expect(notARequest.message).toBe("invalid request: must be an object whose _tag names an operation (got 42)")
      expect(notARequest.message).not.toContain("\n")
    }))
})

// ---------------------------------------------------------------------------------------------
// what is local to the process
// ---------------------------------------------------------------------------------------------

describe("local values", () => {
  it.effect("a fiber entity, local code, a notify and a schedule are held but cannot be encoded", () =>
    Effect.gen(function*() {
      const queue = yield* Queue.unbounded<string>()
      const local: ReadonlyArray<readonly [protocol.Request, string]> = [
        [
          new protocol.Attach({ spec: Entity.fiber("worker", Effect.never) }),
          `invalid Attach: spec: a fiber entity is local to its process and cannot be sent or written as data`
        ],
        [
          new protocol.AddAction({ condition: death, action: Action.effect(Effect.void, { label: "hook" }) }),
          `invalid AddAction: action: the action "hook" is local code, which cannot be sent or written as data`
        ],
        [
          new protocol.AddAction({
            condition: death,
            action: Action.log("down").pipe(Action.orElse(Action.notify(queue, "down")))
          }),
          `invalid AddAction: action: the action "notify" is local code, which cannot be sent or written as data`
        ],
        [
          new protocol.Attach({ spec: Entity.pid("ext", 4242), options: { backoff: Schedule.spaced("1 second") } }),
          `invalid Attach: options.backoff: a back-off schedule is local to its process and cannot be sent or written as data`
        ]
      ]
      for (const [request, message] of local) {
        const error = yield* failureOf(protocol.encodeRequest(request))
        expect(error._tag).toBe("InvalidArgument")
        expect(error.message).toBe(message)
      }
    }))
})

// ---------------------------------------------------------------------------------------------
// requests run against a real HAM
// ---------------------------------------------------------------------------------------------

/** a HAM of its own, closed with the test's scope */
const makeHam = Effect.map(Layer.build(Ham.layer()), (context) => Context.get(context, Ham.Ham))

/** a `sleep 30` that no HAM started, killed when the test's scope closes */
const externalSleep = Effect.acquireRelease(
  Effect.sync(() => ChildProcess.spawn("sleep", ["30"], { stdio: "ignore" })),
  (child) => Effect.sync(() => child.kill("SIGKILL"))
)

/** a value without what differs between two HAMs doing the same: times, pids, sequence numbers */
const comparable = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(comparable)
  if (typeof value !== "object" || value === null) return value
  return Object.fromEntries(
    Object.entries(value)
      // what differs between two HAMs' processes (their ids, times, and measured CPU and RSS)
      .filter(([key]) =>
        !["time", "seq", "pid", "spawnerPid", "created", "lastEvent", "startedAt", "cpu", "rss"].includes(key)
      )
      .map(([key, v]) => [key, comparable(v)])
  )
}

/** a request sent as data: encoded to JSON, decoded on the other side, run there */
const remotely = (ham: HamService) => <R extends protocol.Call>(request: R) =>
  Effect.gen(function*() {
    const json = JSON.parse(JSON.stringify(yield* Effect.orDie(protocol.encodeRequest(request))))
    const decoded = (yield* Effect.orDie(protocol.decodeRequest(json))) as R
    return yield* protocol.handle(ham)(decoded)
  })

describe("handle", () => {
  it.scopedLive("each request has the effect of the direct call", () =>
    Effect.gen(function*() {
      const direct = yield* makeHam
      const viaProtocol = yield* makeHam
      const run = remotely(viaProtocol)
      const same = Effect.gen(function*() {
        const [a, b] = yield* Effect.all([direct.snapshot, viaProtocol.snapshot])
        return JSON.stringify(comparable(a)) === JSON.stringify(comparable(b))
      })
      const [extA, extB] = [yield* externalSleep, yield* externalSleep]
      const quiet = { output: "ignore" } as const
      const steps: ReadonlyArray<readonly [Effect.Effect<unknown, unknown>, Effect.Effect<unknown, unknown>]> = [
        [
          direct.attach(Entity.process("web", Command.make("sleep", "30"), quiet), {
            restartIntensity: { maxRestarts: 5, within: "1 minute" }
          }),
          run(
            new protocol.Attach({
              spec: Entity.process("web", Command.make("sleep", "30"), quiet),
              options: { restartIntensity: { maxRestarts: 5, within: "1 minute" } }
            })
          )
        ],
        [
          direct.attach(Entity.pid("ext", extA.pid!, { pollInterval: 20 })),
          run(new protocol.Attach({ spec: Entity.pid("ext", extB.pid!, { pollInterval: 20 }) }))
        ],
        [direct.entity("db"), run(new protocol.Entity({ name: "db" }))],
        [direct.entityHandle("web"), run(new protocol.LookupEntity({ name: "web" }))],
        [direct.restartEntity("web"), run(new protocol.RestartEntity({ entity: "web" }))],
        [direct.signalEntity("web", "SIGCONT"), run(new protocol.SignalEntity({ entity: "web", signal: "SIGCONT" }))],
        [
          direct.condition("web", "CondDeath", { name: "death" }),
          run(new protocol.Condition({ entity: "web", type: "CondDeath", options: { name: "death" } }))
        ],
        [
          direct.addAction(death, Action.restart),
          run(new protocol.AddAction({ condition: death, action: Action.restart }))
        ],
        [
          direct.addAction(
            death,
            Action.log("web died").pipe(Action.orElse(Action.log("again")), Action.named("note"))
          ),
          run(
            new protocol.AddAction({
              condition: death,
              action: Action.log("web died").pipe(Action.orElse(Action.log("again")), Action.named("note"))
            })
          )
        ],
        [
          direct.conditionState("db", { to: 2 }, { name: "up" }),
          run(new protocol.ConditionState({ entity: "db", filter: { to: 2 }, options: { name: "up" } }))
        ],
        [
          direct.conditionRaise("db", { type: 1 }, { name: "alarm", noWait: true }),
          run(
            new protocol.ConditionRaise({ entity: "db", filter: { type: 1 }, options: { name: "alarm", noWait: true } })
          )
        ],
        [direct.conditionHandle("web", "death"), run(new protocol.LookupCondition({ entity: "web", name: "death" }))],
        [direct.actionHandle(death, "note"), run(new protocol.LookupAction({ condition: death, name: "note" }))],
        [
          direct.control({ ...death, _tag: "ActionHandle", condition: "death", name: "note" }, {
            setFlags: { oneShot: true }
          }),
          run(
            new protocol.Control({
              handle: { ...death, _tag: "ActionHandle", condition: "death", name: "note" },
              op: { setFlags: { oneShot: true } }
            })
          )
        ],
        [
          direct.control(entity_.makeHandle("db"), "disable", { recurse: true }),
          run(new protocol.Control({ handle: entity_.makeHandle("db"), op: "disable", options: { recurse: true } }))
        ],
        [
          direct.control(entity_.makeHandle("db"), "enable"),
          run(new protocol.Control({ handle: entity_.makeHandle("db"), op: "enable" }))
        ],
        [direct.publishState("db", 2), run(new protocol.PublishState({ entity: "db", state: 2 }))],
        [
          direct.raise("db", { type: 1, class: 2, severity: 3, detail: "disk full" }),
          run(new protocol.Raise({ entity: "db", raise: { type: 1, class: 2, severity: 3, detail: "disk full" } }))
        ],
        [direct.verbose(2), run(new protocol.Verbose({ level: 2 }))],
        [
          direct.remove({ _tag: "ConditionHandle", entity: "db", isGlobal: false, name: "alarm" }),
          run(
            new protocol.Remove({ handle: { _tag: "ConditionHandle", entity: "db", isGlobal: false, name: "alarm" } })
          )
        ],
        [direct.detach("ext"), run(new protocol.Detach({ entity: "ext" }))]
      ]
      for (const [call, request] of steps) {
        const [a, b] = yield* Effect.all([call, request])
        expect(comparable(b)).toEqual(comparable(a))
        yield* waitUntilEffect("the same tree in both HAMs", same)
      }
      const [a, b] = yield* Effect.all([direct.snapshot, run(new protocol.Snapshot())])
      expect(comparable(b)).toEqual(comparable(a))
      expect(b.entities.map((e) => [e.name, e.kind, e.status])).toEqual([
        ["web", "process", "running"],
        ["db", "placeholder", "placeholder"]
      ])
      expect(b.entities[0].conditions[0].actions.map((action) => [action.name, action.oneShot])).toEqual([
        ["restart", false],
        ["note", true]
      ])

      // the events of one entity, as a stream
      const events = yield* protocol.handleEvents(viaProtocol)(new protocol.Events({ entity: "db" })).pipe(
        Stream.take(1),
        Stream.runCollect,
        Effect.fork
      )
      const directEvents = yield* direct.events("db").pipe(Stream.take(1), Stream.runCollect, Effect.fork)
      yield* settle
      yield* Effect.all([direct.publishState("db", 5), run(new protocol.PublishState({ entity: "db", state: 5 }))])
      const [ea, eb] = yield* Effect.all([Fiber.join(directEvents), Fiber.join(events)])
      expect([...eb].map(comparable)).toEqual([...ea].map(comparable))
      expect([...eb][0]).toMatchObject({ _tag: "CondState", entity: "db", from: 2, to: 5 })

      // stop: the process entity is gone, and every later request fails with HamStopped
      const webPid = b.entities[0].pid!
      expect(isLive(webPid)).toBe(true)
      yield* Effect.all([direct.stop, run(new protocol.Stop())])
      yield* waitUntil("the process of web has ended", () => !isLive(webPid))
      const stopped = yield* failureOf(run(new protocol.LookupEntity({ name: "web" })))
      expect(stopped._tag).toBe("HamStopped")
    }))

  it.scopedLive("a failing request fails with an error of its row", () =>
    Effect.gen(function*() {
      const ham = yield* makeHam
      const run = remotely(ham)
      yield* run(
        new protocol.Attach({ spec: Entity.process("web", Command.make("sleep", "30"), { output: "ignore" }) })
      )
      yield* run(new protocol.Condition({ entity: "web", type: "CondDeath", options: { name: "death" } }))
      yield* run(new protocol.AddAction({ condition: death, action: Action.log("x").pipe(Action.named("note")) }))
      const nowhere = { _tag: "ConditionHandle", entity: "web", isGlobal: false, name: "nowhere" } as const
      const failing: ReadonlyArray<readonly [protocol.Call, string]> = [
        [new protocol.Attach({ spec: Entity.process("web", Command.make("sleep", "30")) }), "DuplicateName"],
        [new protocol.Attach({ spec: Entity.process("bad", Command.make("/nonexistent/ham-test")) }), "SpawnFailed"],
        [new protocol.Attach({ spec: Entity.pid("gone", unusedPid()) }), "ProcessNotFound"],
        [new protocol.Attach({ spec: Entity.pid("gone", 2 ** 22 + 1) }), "InvalidArgument"],
        [new protocol.Entity({ name: "a/b" }), "InvalidArgument"],
        [new protocol.LookupEntity({ name: "nobody" }), "EntityNotFound"],
        [new protocol.Detach({ entity: "nobody" }), "EntityNotFound"],
        [new protocol.Detach({ entity: Entity.global }), "InvalidArgument"],
        [new protocol.Condition({ entity: "nobody", type: "CondDeath" }), "EntityNotFound"],
        [new protocol.Condition({ entity: "web", type: "CondDeath", options: { name: "death" } }), "DuplicateName"],
        [new protocol.ConditionState({ entity: "nobody", filter: {} }), "EntityNotFound"],
        [new protocol.ConditionRaise({ entity: "web", filter: {}, options: { name: "" } }), "InvalidArgument"],
        [new protocol.LookupCondition({ entity: "web", name: "nowhere" }), "ConditionNotFound"],
        [new protocol.AddAction({ condition: nowhere, action: Action.restart }), "ConditionNotFound"],
        [
          new protocol.AddAction({ condition: death, action: Action.log("y").pipe(Action.named("note")) }),
          "DuplicateName"
        ],
        [
          new protocol.AddAction({ condition: death, action: Action.log("y").pipe(Action.orElse(Action.restart)) }),
          "InvalidArgument"
        ],
        [new protocol.LookupAction({ condition: death, name: "nothing" }), "ActionNotFound"],
        [
          new protocol.Control({
            handle: { ...death, _tag: "ActionHandle", condition: "death", name: "nothing" },
            op: "disable"
          }),
          "ActionNotFound"
        ],
        [new protocol.Control({ handle: web, op: { setFlags: { noWait: true } } }), "InvalidArgument"],
        [new protocol.Remove({ handle: nowhere }), "ConditionNotFound"],
        [new protocol.PublishState({ entity: "nobody", state: 1 }), "EntityNotFound"],
        [new protocol.Raise({ entity: "nobody", raise: { type: 1, class: 1, severity: 1 } }), "EntityNotFound"]
      ]
      const inRow = (request: protocol.Call, error: unknown) =>
        Schema.is((request.constructor as unknown as { readonly failure: Schema.Schema<unknown, any> }).failure)(error)
      for (const [request, tag] of failing) {
        const error = yield* failureOf(run(request))
        expect([request._tag, error._tag]).toEqual([request._tag, tag])
        expect(inRow(request, error)).toBe(true)
      }
      // a fiber entity is attached with Ham.attach: a request that holds one, run locally, is refused
      const fiber = yield* failureOf(
        protocol.handle(ham)(new protocol.Attach({ spec: Entity.fiber("w", Effect.never) }))
      )
      expect(fiber._tag).toBe("InvalidArgument")
      // once stopped, every request that can fail fails with HamStopped
      yield* run(new protocol.Stop())
      for (const [request] of failing) {
        const error = yield* failureOf(run(request))
        expect([request._tag, error._tag]).toEqual([request._tag, "HamStopped"])
      }
      const verbose = yield* failureOf(run(new protocol.Verbose({ level: 1 })))
      expect(verbose._tag).toBe("HamStopped")
      expect(Exit.isSuccess(yield* Effect.exit(run(new protocol.Snapshot())))).toBe(true)
    }))
})
