/**
 * The `ham` daemon's config file (decoded with the protocol's Schemas; a bad field named by its
 * path), its JSON Schema (`ham schema`), the config applied to a HAM, and what the CLI prints
 * (`ham ls` on 80 columns, `ham cat`, event lines). No process is started here but the children
 * of the applied config.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, FastCheck as fc } from "effect"
import { Ham } from "effect-ham"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as ops from "../src/internal/cli/ops.js"
import * as result from "../src/internal/cli/result.js"
import * as view from "../src/internal/cli/view.js"
import * as config from "../src/internal/daemon/config.js"
import * as daemon from "../src/internal/daemon/daemon.js"
import type * as tree_ from "../src/internal/tree.js"
import { entityNode, treeOf } from "./trees.js"

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)))

const parse = (input: unknown) => Effect.runSync(Effect.either(config.parse(input, "ham.json")))
const reason = (input: unknown) => {
  const r = parse(input)
  if (Either.isRight(r)) throw new Error("expected a bad config")
  expect(r.left._tag).toBe("InvalidArgument")
  expect(r.left.argument).toBe("ham.json")
  return r.left.reason
}

const good = {
  socket: "./run/ham.sock",
  listen: { tcp: { port: 7410 }, tokenFile: "token" },
  entities: [{
    name: "web",
    command: { command: "node", args: ["server.js"], env: { PORT: "8080" }, cwd: "/srv/web" },
    stopSignal: "SIGINT",
    stopGrace: "5 seconds",
    heartbeat: { interval: "1 second", missedLow: 2, missedHigh: 5 },
    restartIntensity: { maxRestarts: 5, within: "1 minute" },
    backoff: false,
    conditions: [
      {
        type: "CondDeath",
        actions: [{ _tag: "Restart" }, { _tag: "WaitFor", port: 8080, millis: "5 seconds" }]
      },
      {
        type: "CondBeatMissedHigh",
        actions: [{ _tag: "Signal", signal: "SIGTERM", alternates: [{ _tag: "Signal", signal: "SIGKILL" }] }]
      },
      { type: "CondState", state: { to: 3 }, actions: [{ _tag: "Log", message: "degraded" }] }
    ]
  }]
}

describe("config file", () => {
  it("decodes a config with commands, env, cwd, heartbeats, stop signal and grace, restart policy, conditions and actions", () => {
    const r = parse(good)
    expect(Either.isRight(r)).toBe(true)
    const c = Either.getOrThrow(r)
    const web = c.entities[0]
    expect(web.command).toMatchObject({ command: "node", args: ["server.js"], env: { PORT: "8080" }, cwd: "/srv/web" })
    expect(web.stopGrace).toBe("5 seconds")
    expect(web.conditions.map((x) => x.type)).toEqual(["CondDeath", "CondBeatMissedHigh", "CondState"])
    expect(web.conditions[1].actions[0]._tag).toBe("Signal")
    expect(web.conditions[1].actions[0].alternates[0]._tag).toBe("Signal")
    expect(config.resolvePaths(c, "/etc/ham/ham.json")).toEqual({
      state: "/etc/ham/ham-state",
      socket: "/etc/ham/run/ham.sock",
      tokenFile: "/etc/ham/token"
    })
    expect(config.resolvePaths({ ...c, state: false }, "/etc/ham/ham.json").state).toBeUndefined()
    expect(config.resolvePaths({ ...c, mirror: "proc-ham" }, "/etc/ham/ham.json").mirror).toBe("/etc/ham/proc-ham")
  })

  it("names the path of the bad field", () => {
    expect(reason({ entities: [{ name: "web", command: { command: "x" }, conditions: [{ type: "CondDeth" }] }] }))
      .toMatch(/^entities\.0\.conditions\.0\.type must be one of .*"CondDeath".*\(got "CondDeth"\)/)
    expect(reason({ entities: [{ name: "web", command: { command: "x" }, stopGrace: "5 parsecs" }] }))
      .toMatch(/^entities\.0\.stopGrace must be a number of milliseconds or a duration/)
    expect(reason({ entities: [{ name: "web", command: { args: [] } }] })).toBe("entities.0.command.command is missing")
    expect(reason({ entites: [] })).toMatch(/^entites is not allowed/)
    expect(reason({ entities: [{ name: "a", command: { command: "x" } }, { name: "a", command: { command: "y" } }] }))
      .toMatch(/^entities\.1\.name is used twice/)
    expect(
      reason({
        entities: [{
          name: "a",
          command: { command: "x" },
          conditions: [{ type: "CondDeath", actions: [{ _tag: "Restart", alternates: [{ _tag: "Sgnal" }] }] }]
        }]
      })
    ).toMatch(/^entities\.0\.conditions\.0\.actions\.0\.alternates\.0/)
    expect(reason({ listen: { tcp: { port: 70000 } } })).toMatch(/^listen\.tcp\.port/)
  })

  it("reads a file; a file that is not JSON is an InvalidArgument naming it", () => {
    const bad = Effect.runSync(Effect.either(config.load(path.join(root, "package-lock.json-missing"))))
    expect(Either.isLeft(bad) && bad.left._tag).toBe("InvalidArgument")
    const example = Effect.runSync(config.load(path.join(root, "examples", "ham.json")))
    expect(example.entities.length).toBeGreaterThan(0)
  })

  it("has a JSON Schema (ham schema) that describes the file", () => {
    const schema = config.jsonSchema() as any
    const top = schema.$defs[schema.$ref.split("/").pop()]
    expect(Object.keys(top.properties)).toEqual([
      "$schema",
      "state",
      "socket",
      "listen",
      "verbosity",
      "mirror",
      "logDir",
      "logRotate",
      "logTimestamps",
      "entities",
      "cluster"
    ])
    expect(top.additionalProperties).toBe(false)
    expect(schema.$defs.Entity.required).toEqual(["name", "command"])
    expect(schema.$defs.Condition.properties.type.enum).toContain("CondDeath")
    expect(JSON.stringify(schema.$defs.Action)).toContain("\"Restart\"")
  })

  it.scoped("the default control socket is the user's, or $HAM_SOCKET", () =>
    Effect.sync(() => {
      expect(config.defaultSocket({ HAM_SOCKET: "/x/h.sock" })).toBe("/x/h.sock")
      expect(config.defaultSocket({ XDG_RUNTIME_DIR: "/run/user/7" })).toBe("/run/user/7/ham/ham.sock")
      expect(config.defaultSocket({})).toMatch(/\/ham-\d+\/ham\.sock$/)
    }))
})

describe("config applied", () => {
  it.live("attaches the entities with their conditions and actions; applied again, nothing is doubled", () =>
    Effect.gen(function*() {
      const c = yield* config.parse({
        entities: [{
          name: "sleeper",
          command: { command: "sleep", args: ["30"] },
          conditions: [{ type: "CondDeath", actions: [{ _tag: "Restart", name: "again" }] }, {
            type: "CondRaise",
            raise: { severity: 2 },
            actions: [{ _tag: "Log", message: "raised" }]
          }]
        }]
      })
      const ham = yield* Ham.Ham
      yield* daemon.apply(ham, c)
      const tree = yield* Ham.snapshot
      expect(tree.entities.map((e) => [e.name, e.kind, e.status])).toEqual([["sleeper", "process", "running"]])
      expect(tree.entities[0].conditions.map((x) => [x.type, x.actions.map((a) => a.name)])).toEqual([
        ["CondDeath", ["again"]],
        ["CondRaise", [expect.any(String)]]
      ])
      const bad = yield* Effect.either(
        config.parse({
          entities: [{ name: "b", command: { command: "sleep" }, conditions: [{ type: "CondDeath", state: {} }] }]
        }).pipe(Effect.flatMap((c) => daemon.apply(ham, c)))
      )
      expect(Either.isLeft(bad) && bad.left._tag).toBe("InvalidArgument")
    }).pipe(Effect.provide(Ham.layer())))
})

describe("reload", () => {
  it("diff: removed, added, and changed in any field (unchanged ones left out)", () =>
    Effect.runSync(Effect.gen(function*() {
      const e = (name: string, extra: object = {}) => ({ name, command: { command: "sleep", args: ["1"] }, ...extra })
      const before = yield* config.parse({ entities: [e("a"), e("b"), e("c"), e("d")] })
      const after = yield* config.parse({
        entities: [
          e("a"),
          e("b", { stopGrace: 100 }),
          e("c", { conditions: [{ type: "CondDeath", actions: [{ _tag: "Restart" }] }] }),
          e("e")
        ]
      })
      expect(daemon.diff(before, after)).toEqual({ removed: ["d"], added: ["e"], changed: ["b", "c"], graceful: [] })
      expect(daemon.diff(after, after)).toEqual({ removed: [], added: [], changed: [], graceful: [] })
      // reload "graceful": a change of the command alone is a graceful reload, any other change is not
      const g = (name: string, args: ReadonlyArray<string>, extra: object = {}) =>
        e(name, { command: { command: "sleep", args }, reload: "graceful", ...extra })
      const before2 = yield* config.parse({ entities: [g("f", ["1"]), g("g", ["1"]), g("h", ["1"]), e("i")] })
      const after2 = yield* config.parse({
        entities: [
          g("f", ["2"]),
          g("g", ["2"], { stopGrace: 100 }),
          g("h", ["1"]),
          e("i", { command: { command: "true" } })
        ]
      })
      expect(daemon.diff(before2, after2)).toEqual({ removed: [], added: [], changed: ["g", "i"], graceful: ["f"] })
    })))
})

const tree = (entities: ReadonlyArray<Partial<tree_.EntityNode>>): tree_.Tree =>
  treeOf(entities.map((e) => entityNode({ path: `/${e.name ?? "x"}`, ...e })))

describe("ham ls, ham cat, ham events: what they print", () => {
  it("ls: one line per entity, within 80 columns", () => {
    const t = tree([
      { name: "web", pid: 4242 },
      {
        name: "a-very-long-entity-name-indeed",
        status: "restarting",
        stats: { restarts: 12, deaths: 13, lastDeath: "killed by SIGKILL\nmore" } as tree_.EntityNode["stats"]
      },
      { name: "db", status: "dead", enabled: false, stats: { deaths: 1, lastDeath: "exited with code 3" } as never }
    ])
    const out = view.table(t, (pid) => (pid === 4242 ? 125_000 : undefined))
    const lines = out.split("\n")
    expect(lines).toHaveLength(4)
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(80)
    expect(lines[0]).toMatch(/^NAME +KIND +PID +STATE +UPTIME +RESTARTS +DEATHS +LAST DEATH$/)
    expect(lines[1]).toMatch(/^web +process +4242 +running +2m +0 +0 +-$/)
    expect(lines[2]).toMatch(/^a-very-long…ame-indeed +process +- +restarting +- +12 +13 +SIGKILL$/)
    expect(lines[3]).toMatch(/dead\(off\) .* exit 3$/)
  })

  it("ls: long names lose their middle, long deaths their end, and no line is over 80 columns", () => {
    const long = (i: number) => `payment-gateway-worker-eu-west-${i}`
    const t = tree([
      ...[1, 2].map((i) => ({ name: long(i), pid: 4_194_303, stats: { restarts: 3 } as tree_.EntityNode["stats"] })),
      {
        name: "inventory-service-with-a-name-far-too-long-for-any-terminal-column-at-all",
        status: "gaveUp",
        enabled: false,
        heartbeat: { unhealthy: true } as tree_.EntityNode["heartbeat"],
        stats: {
          restarts: 1_234_567,
          deaths: 99_999_999_999,
          lastDeath: "exited with code 3: and a reason that goes on and on past the end of the line"
        } as tree_.EntityNode["stats"]
      },
      // wide characters take two columns each
      {
        name: "数据库主服务器北京第一数据中心",
        status: "restarting",
        stats: { lastDeath: "killed by SIGSEGV" } as never
      }
    ])
    const lines = view.table(t).split("\n")
    const columns = (line: string) => [...line].reduce((n, c) => n + (/[\u3000-\u9fff]/.test(c) ? 2 : 1), 0)
    for (const line of lines) expect(columns(line), line).toBeLessThanOrEqual(80)
    // the two workers differ by their ends, which stay
    expect(lines[1]).toMatch(/^payment-…u-west-1 +process +4194303 +running +- +3 +0 +-$/)
    expect(lines[2]).toMatch(/^payment-…u-west-2 /)
    expect(lines[3]).toMatch(/^inventor…n-at-all +process +- +gaveUp\(off\)! +- +1\.2M +100\.0G +exit 3: a…$/)
    expect(lines[4]).toMatch(/^数据库主…数据中心 +process +- +restarting +- +0 +0 +SIGSEGV$/)
    // every column starts where its header does
    const starts = (line: string) => [...line.matchAll(/(?<= )\S/g)].map((m) => m.index)
    expect(starts(lines[1]).slice(0, 6)).toEqual(starts(lines[0]).slice(0, 6))
    // a narrower terminal: still no line over its width
    for (const width of [64, 72, 100]) {
      for (const line of view.table(t, undefined, width).split("\n")) {
        expect(columns(line)).toBeLessThanOrEqual(width)
      }
    }
  })

  it("ls: any names, states, counts and deaths: no line over the terminal's width (property)", () =>
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            name: fc.string({ minLength: 1, maxLength: 255 }),
            status: fc.constantFrom<tree_.EntityNode["status"]>(
              "placeholder",
              "running",
              "restarting",
              "dead",
              "gaveUp",
              "stopped"
            ),
            kind: fc.constantFrom<tree_.EntityNode["kind"]>("placeholder", "fiber", "self", "process", "pid"),
            enabled: fc.boolean(),
            pid: fc.option(fc.integer({ min: 1, max: 4_194_304 }), { nil: undefined }),
            restarts: fc.nat(),
            deaths: fc.nat(),
            lastDeath: fc.option(fc.string({ maxLength: 300 }), { nil: undefined })
          }),
          { maxLength: 8 }
        ),
        fc.integer({ min: 64, max: 200 }),
        (entities, width) => {
          const t = tree(entities.map(({ deaths, lastDeath, restarts, ...e }) => ({
            ...e,
            stats: { deaths, restarts, ...(lastDeath === undefined ? {} : { lastDeath }) } as tree_.EntityNode["stats"]
          })))
          const lines = view.table(t, () => 1000, width).split("\n")
          expect(lines).toHaveLength(entities.length + 1)
          for (const line of lines) expect(line.length).toBeLessThanOrEqual(width)
        }
      )
    ))

  it("ls: the uptime is the tree's time less startedAt (the HAM's clock, also over TCP), /proc only without it", () => {
    const t = {
      ...tree([
        { name: "web", pid: 4242, startedAt: 100_000 },
        { name: "old", pid: 4343 },
        { name: "down", status: "dead", startedAt: 0 }
      ]),
      time: 3_700_000
    }
    const asked: Array<number> = []
    const lines = view.table(t, (pid) => {
      asked.push(pid)
      return 5_000
    }).split("\n")
    expect(lines[1]).toMatch(/^web +process +4242 +running +1h +0 +0 +-$/)
    expect(lines[2]).toMatch(/^old +process +4343 +running +5s +/)
    expect(lines[3]).toMatch(/^down +process +- +dead +- +/)
    expect(asked).toEqual([4343])
  })

  it("cat: an entity, a condition, an action, by path; a missing node says which", () => {
    const t = tree([{
      name: "web",
      conditions: [{
        name: "death",
        type: "CondDeath",
        enabled: true,
        independent: false,
        noWait: false,
        oneShot: false,
        fired: 2,
        path: "/web/death",
        actions: [{
          name: "restart",
          path: "/web/death/restart",
          type: "Restart",
          summary: "restart the entity",
          enabled: true,
          runs: 2,
          failures: 0,
          breakOnFail: false,
          removeOnFail: false,
          oneShot: false,
          alternates: []
        }]
      }]
    }])
    const entity = view.find(t, "web")
    expect(typeof entity !== "string" && view.cat(t, entity)).toMatch(/^web +process running[\s\S]*death \[CondDeath\]/)
    const action = view.find(t, "/web/death/restart")
    expect(typeof action !== "string" && view.cat(t, action)).toMatch(/^\/web\/death\/restart +Restart[\s\S]*runs 2/)
    expect(view.find(t, "web/life")).toBe(`no condition "life" on "web"`)
    expect(view.find(t, "db")).toBe(`no entity "db"`)
    expect(view.find(t, "web/death/x")).toBe(`no action "x" in "web/death"`)
  })

  it("events: one line each", () => {
    expect(view.eventLine({
      _tag: "CondDeath",
      entity: "web",
      time: 0,
      seq: 7,
      abnormal: true,
      reason: "killed by SIGKILL",
      signal: "SIGKILL",
      stderr: []
    })).toBe("1970-01-01T00:00:00.000Z #7 web CondDeath abnormal=true reason=killed by SIGKILL signal=SIGKILL")
  })
})

describe("the cluster section", () => {
  const cluster = (more: Record<string, unknown> = {}) => ({
    node: "a",
    database: "postgres://ham@db:5432/ham",
    ham: { port: 7420 },
    runner: { port: 7421 },
    tokenFile: "cluster-token",
    ...more
  })
  const group = (name: string, entity: string) => ({ name, entities: [{ name: entity, command: { command: "x" } }] })

  it("decodes the layer's options, its groups' entities written as the file's", () => {
    const r = parse({
      entities: [],
      cluster: cluster({ watch: { interval: "200 millis", forgetAfter: "1 minute" }, groups: [group("g", "w")] })
    })
    if (Either.isLeft(r)) throw new Error(r.left.reason)
    expect(r.right.cluster?.node).toBe("a")
    expect(r.right.cluster?.groups[0].entities[0].conditions).toEqual([])
  })

  it("names the bad field: unknown keys, bad values, a missing database or token, names used twice", () => {
    expect(reason({ cluster: cluster({ nodes: "b" }) })).toMatch(/^cluster\.nodes is not allowed/)
    expect(reason({ cluster: cluster({ ham: { port: 0 } }) })).toMatch(/^cluster\.ham\.port/)
    expect(reason({ cluster: cluster({ runner: { port: 7421, hots: "x" } }) })).toMatch(/^cluster\.runner\.hots/)
    expect(reason({ cluster: cluster({ watch: { lossAfter: "soon" } }) })).toMatch(/^cluster\.watch\.lossAfter/)
    expect(reason({ cluster: cluster({ node: "a/b" }) })).toMatch(/^cluster\.node/)
    expect(reason({ cluster: cluster({ database: undefined }) })).toMatch(
      /^cluster\.database or databaseEnv: exactly one of the two is needed/
    )
    expect(reason({ cluster: cluster({ tokenFile: undefined }) })).toMatch(
      /^cluster\.tokenFile or tokenEnv: exactly one of the two is needed/
    )
    expect(reason({ cluster: cluster({ groups: [group("g", "w"), group("g", "v")] }) }))
      .toMatch(/^cluster\.groups\.1\.name is used twice/)
    expect(
      reason({ entities: [{ name: "w", command: { command: "x" } }], cluster: cluster({ groups: [group("g", "w")] }) })
    )
      .toMatch(/^cluster\.groups\.0\.entities\.0\.name is used twice/)
    expect(reason({ cluster: cluster({ groups: [{ name: "g", entities: [{ name: "w" }] }] }) }))
      .toMatch(/^cluster\.groups\.0\.entities\.0\.command is missing/)
  })

  it("its token file and its groups' output files are taken from the config file's directory", () => {
    const r = parse({ logDir: "logs", cluster: cluster({ groups: [group("g", "w")] }) })
    if (Either.isLeft(r)) throw new Error(r.left.reason)
    const resolved = config.resolveOutputs(r.right, "/etc/ham/ham.json")
    expect(resolved.cluster?.groups[0].entities[0].output).toMatchObject({ file: "/etc/ham/logs/w.log" })
    expect(config.resolvePaths(resolved, "/etc/ham/ham.json").clusterTokenFile).toBe("/etc/ham/cluster-token")
  })

  it("the example cluster config is valid", () => {
    const text = fs.readFileSync(path.join(root, "examples", "ham-cluster.json"), "utf8")
    const r = parse(JSON.parse(text))
    if (Either.isLeft(r)) throw new Error(r.left.reason)
    expect(r.right.cluster?.groups.length).toBeGreaterThan(0)
  })
})

it("the example config is valid", () => {
  const text = fs.readFileSync(path.join(root, "examples", "ham.json"), "utf8")
  expect(Either.isRight(parse(JSON.parse(text)))).toBe(true)
})

it("examples/ham.schema.json is what ham schema prints", () => {
  const text = fs.readFileSync(path.join(root, "examples", "ham.schema.json"), "utf8")
  expect(JSON.parse(text)).toEqual(config.jsonSchema())
})

describe("ham logs: where the output goes; ham signal: the name; --json failures", () => {
  it.effect("output files are made absolute against the config file; logDir gives the others a file", () =>
    Effect.gen(function*() {
      const parsed = yield* config.parse({
        logDir: "logs",
        entities: [
          { name: "a", command: { command: "true" } },
          { name: "b/c", command: { command: "true" } },
          { name: "d", command: { command: "true" }, output: { file: "d.out" } },
          { name: "e", command: { command: "true" }, output: { file: "/var/e.out" } },
          { name: "f", command: { command: "true" }, output: "log" }
        ]
      })
      const resolved = config.resolveOutputs(parsed, "/etc/ham/ham.json")
      expect(resolved.logDir).toBe("/etc/ham/logs")
      expect(resolved.entities.map((e) => e.output)).toEqual([
        { file: "/etc/ham/logs/a.log" },
        { file: "/etc/ham/logs/b%2Fc.log" },
        { file: "/etc/ham/d.out" },
        { file: "/var/e.out" },
        "log"
      ])
      const without = config.resolveOutputs(
        yield* config.parse({ entities: [{ name: "a", command: { command: "true" } }] }),
        "/etc/ham/ham.json"
      )
      expect(without.entities[0].output).toBeUndefined()
      const bad = yield* Effect.either(config.parse({ logDir: 3, entities: [] }))
      expect(Either.isLeft(bad) && bad.left.reason).toMatch(/logDir/)
    }))

  it("a signal is a name, a short name or a number; anything else is not one", () => {
    expect(["SIGHUP", "HUP", "hup", "1", "sigterm", "9"].map(ops.signalName)).toEqual([
      "SIGHUP",
      "SIGHUP",
      "SIGHUP",
      "SIGHUP",
      "SIGTERM",
      "SIGKILL"
    ])
    expect(["NOPE", "SIGNOPE", "", "999", "-1", "constructor"].map(ops.signalName)).toEqual(
      Array(6).fill(undefined)
    )
  })

  it("a failure printed as JSON carries the error's tag, fields and message", () => {
    const error = new Ham.EntityNotRunning({ entity: "web", status: "dead" })
    expect(JSON.parse(result.failureJson(1, error, error.message))).toEqual({
      ok: false,
      code: 1,
      error: {
        _tag: "EntityNotRunning",
        entity: "web",
        status: "dead",
        message: `entity "web" is not running (it is dead)`
      }
    })
    expect(JSON.parse(result.failureJson(3, "boom", "boom"))).toEqual({
      ok: false,
      code: 3,
      error: { message: "boom" }
    })
  })
})
