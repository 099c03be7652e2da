/**
 * Runs every program in examples/ as a real child process, as a user would
 * (`node --conditions=source --import tsx examples/<file>.ts`), at most two at a time, and checks
 * that it exits 0 within its time limit and prints what it is meant to show.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import { readdirSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { create as createPostgres, unavailable } from "./postgres.js"

const root = fileURLToPath(new URL("..", import.meta.url))
const examplesDir = fileURLToPath(new URL("../examples/", import.meta.url))
const timeoutMillis = 20_000

interface Expectation {
  /** lines (substrings) the output must contain */
  readonly contains: ReadonlyArray<string | RegExp>
  /** text the output must not contain */
  readonly absent?: ReadonlyArray<string>
  /** a time limit of its own (real processes that boot Node several times) */
  readonly timeoutMillis?: number
}

const expected: Record<string, Expectation> = {
  "cluster.ts": {
    contains: [
      "a sees node:b and node:c attached",
      /the group web runs on [abc]/,
      /node [abc] lost: seen by [abc] after \d+ ms/,
      /the group web failed over from [abc] to [abc] in \d+ ms/,
      "the two nodes left have left the cluster"
    ],
    // three nodes booted with tsx on 2 cores, then a failover
    timeoutMillis: 120_000
  },
  "demo.ts": {
    contains: ["worker: life 2 started", "registry down: registered through the fallback", "/proc/ham"]
  },
  "fiber-entity.ts": {
    contains: [
      "[died] normal death",
      "worker is dead: 3 deaths, 2 abnormal, 2 restarts"
    ]
  },
  "self-heartbeat.ts": {
    contains: [
      /\[low\] {2}missed 2 periods/,
      /after low: missed \d+, unhealthy true/,
      "beats are back but no healthy action ran: missed 0, unhealthy true",
      /\[high\] missed 4 periods/,
      "[high] heartbeatHealthy ran",
      "after high and heartbeatHealthy: missed 4, unhealthy false",
      "[death] app died",
      /missed low 1 time\(s\), high 1 time\(s\), deaths 1/
    ]
  },
  "placeholder-global.ts": {
    contains: [
      `before attach: "database" is a placeholder with 2 conditions`,
      "[database] CondAttach on database",
      "[global]   CondDeath on job",
      "job is running again, its history kept: deaths 1"
    ]
  },
  "multistage-recovery.ts": {
    contains: [
      "cache: life 2 started",
      "step 2: the database is up",
      "step 3: warm-up commands failed: the cache starts cold",
      "step 4: health check failed: the rest of the list is skipped",
      /announce: .* runs 0 failures 0/
    ],
    absent: ["never printed"]
  },
  "publish-state-raise.ts": {
    contains: [
      "came-up                fired: 2 -> 3",
      "link-errors-sev5       fired: type 10 class 2 severity 5 (crc errors)",
      "fired counts: came-up 1, trouble 2, left-not-up 2, any-link-raise 2, link-errors-sev5 1, marker 1, " +
      "global-severity7 1"
    ]
  },
  "graceful-reload.ts": {
    contains: [
      /reloaded: pid \d+ -> \d+, restarts 0, deaths 0/,
      /ReloadFailed: .*did not say READY=1 within 1000 ms/,
      "(the same as after the first reload: true)",
      "conditions fired for web: 0",
      "service v2 ready",
      "service v1 stopping"
    ]
  },
  "log-rotation.ts": {
    contains: [
      /chatty\.log\.3: \d+ bytes/,
      /first line kept: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z line \d+/,
      /lines (?:[2-9]|\d{2,}) to 3000 kept, none missing between the files: true/
    ],
    absent: ["chatty.log.4"]
  },
  "notify.ts": {
    contains: [
      "queue got: CondAbnormalDeath of worker",
      "listener A heard: worker restarted",
      "listener B heard: worker restarted",
      "the pager queue is full: the notify failed, its alternate ran",
      "deferred completed with: CondDetach of worker"
    ]
  },
  "groups.ts": {
    contains: [
      /started in dependency order: db \d+, api \d+, web \d+/,
      "db killed: db, api and web restarted (restForOne)",
      `Group.restart("api") ran: api restarted, web followed`,
      `group \\"workers\\" gave up`,
      "workers gave up, app restarted it (escalation)",
      "group app  restForOne running",
      "  web  after api (on restart: restart)",
      "group workers (in app)  oneForAll running",
      "stopped in reverse order"
    ]
  },
  "restart-intensity.ts": {
    contains: [
      "ESCALATE:",
      "the standby worker is attached",
      "worker: gaveUp, restarts 4",
      "worker-standby: running",
      "batch: gaveUp, restarts 2",
      // the tree names the give-up raise's type and class
      "gave-up [CondRaise type RaiseTypeHam class RaiseClassRestartGaveUp severity any]"
    ]
  },
  "control-snapshot.ts": {
    contains: [
      "alarm 1 (all enabled, verbosity 1: no debug log): actions ran: [page the operator, open a ticket]",
      "alarm 2 (page disabled): actions ran: [open a ticket]",
      "alarm 3 (condition disabled): actions ran: []",
      "alarm 4 (entity disabled): actions ran: []",
      "pump/alarm/debug-log: alarm on the pump (debug detail)",
      "alarm 5 (ticket removed, verbosity 2: the debug log writes): actions ran: [page the operator]",
      "the pump fiber was interrupted by Ham.stop",
      "after stop: HamStopped"
    ]
  },
  "file-server-recovery.ts": {
    contains: [
      /client: bytes 10\.\.19 from pid \d+: "abcdefghij"/,
      /killing the file server \(pid (\d+)\) with SIGKILL\n[\s\S]*?step 0: the file server died \(pid \1, killed by SIGKILL\)/,
      // the steps in order, the new pid different from the old one
      /from pid (\d+):[\s\S]*step 1: restarted, new pid (?!\1\b)\d+[\s\S]*step 2: port \d+ accepts connections[\s\S]*step 3: remount command ran/,
      "remount marker: remounted /export/data at ",
      /file-server {2}process running pid \d+ {2}state 0 {2}deaths 1 \(abnormal 1\) {2}restarts 1/
    ],
    absent: ["no remount marker", "the recovery did not end"]
  },
  "guardian-takeover.ts": {
    contains: [
      /1\. killing the host \(pid (\d+)\) with SIGKILL/,
      /\[guardian\] guardian \d+: host \d+ died: taking over the store/,
      /\[guardian\] worker {2}process running pid (\d+)/,
      /the worker \(pid \d+\) still runs: true/,
      /the guardian restarted it: new pid \d+/,
      /the store was handed back: the new host \d+ adopted the worker pid \d+/,
      // the adopted worker belonged to init once the host died: its SIGKILL is known (abnormal 1)
      // when the guardian found it a zombie, unknown (abnormal 0) when init had reaped it already
      /\[host\] worker {2}process running pid \d+ {2}state 0 {2}deaths 1 \(abnormal [01]\) {2}restarts 1/,
      "nothing left: no worker, no host, no guardian"
    ],
    timeoutMillis: 60_000
  },
  "spawner.ts": {
    contains: [
      /this process: (\d+); svc: pid \d+, its parent (\d+), the spawner \2\n/,
      /spawner \d+ SIGKILLed/,
      /svc died with it: pid \d+, killed by SIGKILL/,
      /svc restarted: pid \d+, its parent (\d+), the new spawner \1\n/,
      // a new spawner, not the old one
      /the spawner (\d+)\n[\s\S]*the new spawner (?!\1\n)\d+\n/,
      // inline: the parent is the example's own process
      /this process: (\d+);[\s\S]*spawner "inline": svc pid \d+, its parent \1 \(this process\)/
    ]
  },
  "probes.ts": {
    contains: [
      /cache: CondRaise class 2: RSS \d+\.\d MiB over the limit of 100\.0 MiB for 2 samples/,
      "cache: CondRestart (restart 1)",
      "web: CondBeatMissedHigh after 3 failed probes",
      "web: CondDeath (killed by SIGKILL)",
      "web: CondRestart (restart 1)",
      /web: running, restarts 1 {2}cpu \d+\.\d % {2}rss \S+ {2}probe http http:\/\/127\.0\.0\.1:\d+\/health: \d+ run, \d+ failed, last passed/,
      /cache: running, restarts 1 {2}cpu \d+\.\d % {2}rss \S+/,
      /checker: running, restarts 0 {2}probe exec sh -c 'test -d \/tmp': \d+ run, 0 failed, last passed/
    ],
    timeoutMillis: 30_000
  },
  "run-main.ts": {
    contains: [/READY \{"api":\d+,"indexer":\d+,"spawner":\d+\}/, "indexer received: SIGINT", "api received: SIGTERM"]
  },
  "recovery.ts": {
    contains: [
      `first 15 bytes: "The quick brown"`,
      /killing the file server \(pid (\d+)\) with SIGKILL/,
      "recovery: connected again, replayed the offset (OK 15)",
      `next 15 bytes: " fox jumps over"`,
      /the file server now: pid \d+, restarts 1/,
      "recoveries: 1"
    ]
  },
  "drop-in.ts": {
    contains: [
      /plain layers: killing the server \(pid \d+\) with SIGKILL/,
      "plain layers: the report failed: Transport error (GET http://127.0.0.1:",
      /covered layers: item a02 from (\d+)\n[\s\S]*covered layers: item a03 from (?!\1\b)\d+/,
      "covered layers: the ids file was replaced by a rename (six ids now)",
      /covered layers: item a06 from \d+/,
      "covered layers: 6 items from 2 server lives",
      /the server now: pid \d+, restarts 2/
    ],
    absent: ["plain layers: the report got"]
  },
  "remote.ts": {
    contains: [
      /a HAM served by pid \d+'s child on tcp:\/\/127\.0\.0\.1:\d+ and a Unix socket/,
      "  remote event: CondAttach web",
      /over TCP: attached "web" on the remote HAM \(pid (\d+)\); SIGKILL it/,
      "  remote event: CondAbnormalDeath web (SIGKILL)\n  remote event: CondDeath web (SIGKILL)\n" +
      "  remote event: CondRestart web",
      /"web" restarted by the remote HAM: pid \d+, 1 restart\(s\)/,
      "a fiber entity, remotely: InvalidArgument: invalid Attach: spec: a fiber entity is local to its process",
      "without the token: Unauthorized (unauthorized: the call carries no token)",
      /web {2}process running pid \d+ {2}state 0 {2}deaths 1 \(abnormal 1\) {2}restarts 1/,
      "remote HAM stopped"
    ]
  },
  "telemetry.ts": {
    contains: [
      "span ham.recovery worker/death on CondDeath: failed [restart=ok, effect~1=ok, effect=failed]",
      "worker: deaths 2, restarts 2, action failures 2, restart latency measured 2 times",
      "metric ham_restarts_total{entity=worker} 2",
      "metric ham_restart_latency_ms{entity=worker} count 2",
      "metric ham_action_duration_ms{action=Local} count 2"
    ]
  },
  "events.ts": {
    contains: [
      "worker: CondAbnormalDeath",
      "worker: CondRestart",
      `{"_tag":"CondState","entity":"sensor"`,
      "slow subscriber kept 4 of 6 events (the newest): worker CondAttach, worker CondAbnormalDeath, " +
      "worker CondDeath, worker CondRestart"
    ]
  }
}

interface Run {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly output: string
  readonly millis: number
}

const runExample = (file: string, limitMillis: number, env: NodeJS.ProcessEnv = process.env): Promise<Run> =>
  new Promise((resolve) => {
    const started = performance.now()
    execFile(
      process.execPath,
      ["--conditions=source", "--import", "tsx", `examples/${file}`],
      { cwd: root, env, timeout: limitMillis, killSignal: "SIGKILL", maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : null
        resolve({
          code,
          signal: error?.signal ?? null,
          output: `${stdout}\n${stderr}`,
          millis: performance.now() - started
        })
      }
    )
  })

/** at most `n` child processes at a time */
const limit = (n: number) => {
  let active = 0
  const waiting: Array<() => void> = []
  return async <A>(task: () => Promise<A>): Promise<A> => {
    if (active >= n) await new Promise<void>((resolve) => waiting.push(resolve))
    active++
    try {
      return await task()
    } finally {
      active--
      waiting.shift()?.()
    }
  }
}

const twoAtATime = limit(2)

const files = readdirSync(examplesDir).filter((f) => f.endsWith(".ts")).sort()

// cluster.ts needs a PostgreSQL database: a throwaway server (test/postgres.ts) where this machine
// has one, else the example says what it needs and the test checks that
const noPostgres = unavailable()
let pg: ReturnType<typeof createPostgres> | undefined
afterAll(() => pg?.destroy())
const envOf = (file: string): NodeJS.ProcessEnv => {
  if (file !== "cluster.ts" || noPostgres !== undefined) return process.env
  pg ??= createPostgres()
  return { ...process.env, HAM_CLUSTER_DATABASE: pg.createDatabase() }
}
if (noPostgres !== undefined) {
  console.log(`examples/cluster.ts runs without a database (${noPostgres}): only its message is checked`)
  expected["cluster.ts"] = { contains: ["examples/cluster.ts needs an empty PostgreSQL database"] }
}

describe("examples", () => {
  it("every example has an expectation, and every expectation an example", () => {
    expect(files).toEqual(Object.keys(expected).sort())
  })

  describe.concurrent("run", () => {
    for (const file of files) {
      it(file, async () => {
        const run = await twoAtATime(() =>
          runExample(file, expected[file]?.timeoutMillis ?? timeoutMillis, envOf(file))
        )
        const context = `${file} (exit ${run.code}, signal ${run.signal}, ${Math.round(run.millis)} ms):\n${run.output}`
        expect(run.signal, context).toBeNull()
        expect(run.code, context).toBe(0)
        const expectation = expected[file]
        expect(expectation, `no expectation for ${file}`).toBeDefined()
        for (const line of expectation.contains) {
          if (typeof line === "string") expect(run.output, context).toContain(line)
          else expect(run.output, context).toMatch(line)
        }
        for (const text of expectation.absent ?? []) expect(run.output, context).not.toContain(text)
      }, 4 * timeoutMillis + (expected[file]?.timeoutMillis ?? 0))
    }
  })
})
