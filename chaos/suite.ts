/**
 * The chaos suite: a host (`chaos/host.ts`) under its guardian process, with process children,
 * fiber entities and a counter it changes all the time, while the suite SIGKILLs, at random
 * moments, the host, the guardian process, children, the guardian that took over while it
 * hands back (a takeover), and double faults (the host, then the guardian that took over 0.3-1 s
 * later). After each fault it waits until all is back (a host holds the store, commits and is set
 * up, its guardian is up, each child runs once), then waits a random moment and strikes again.
 *
 * It checks, as it goes and at the end: no acknowledged change lost (the ledger against the
 * store), no two children of one entity alive at once (/proc, sampled), no two HAMs writing at
 * once (the store's record of epochs), no process left after the final stop (/proc), and that
 * the store opens clean in a fresh HAM.
 */
import { Effect, Fiber, Layer } from "effect"
import { Guardian, Ham } from "effect-ham"
import * as ChildProcess from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import Ts from "typescript"
import { ProcessLauncher } from "../src/internal/launch/launcher.js"
import * as lease_ from "../src/internal/store/lease.js"
import { ledgerAccount, storeReader, tailOf } from "./observe.js"
import { aliveTogether, endAll, ofRun, type Proc, signal, startOf } from "./procs.js"

/**
 * The faults the suite strikes with, once all is back: the host; the guardian process; a child;
 * the host, then a child while the guardian holds the store; the host, then the guardian that
 * took over while it hands the store back to the host it restarted (a takeover); the host, then
 * the guardian that took over 0.3-1 s after (a double fault).
 */
export type FaultKind = "host" | "guardian" | "child" | "childInTakeover" | "takeover" | "double"

/** how often each fault is picked, relative to the others */
export const defaultWeights: Readonly<Record<FaultKind, number>> = {
  host: 3,
  guardian: 2,
  child: 1,
  childInTakeover: 1,
  takeover: 1,
  double: 1
}

export interface ChaosOptions {
  /** stop striking after this many SIGKILLs */
  readonly kills: number
  /** or after this many minutes */
  readonly minutes: number
  /** process children of the host (at least 5) */
  readonly children?: number | undefined
  /**
   * besides the faults, a child is SIGKILLed at any moment (a takeover or a handback under way
   * too), every this many milliseconds on average (0: never; default 2000)
   */
  readonly childEveryMillis?: number | undefined
  /**
   * what the hosts (and so their guardians) run: the built package (`dist`, after `npm run
   * build`: what users run) or the TypeScript sources through tsx (`source`, the default)
   */
  readonly build?: "dist" | "source" | undefined
  readonly weights?: Partial<Record<FaultKind, number>> | undefined
  /** how long all may take to be back after a fault before it counts as not recovered */
  readonly recoverMillis?: number | undefined
  /** the seed of the random choices (faults, moments, targets) */
  readonly seed?: number | undefined
  /** keep the run's directory (store, ledger, logs) */
  readonly keep?: boolean | undefined
  /** progress lines */
  readonly progress?: ((line: string) => void) | undefined
}

export interface ChaosResult {
  readonly seed: number
  readonly dir: string
  readonly kills: number
  readonly killed: Readonly<Record<"host" | "guardian" | "child", number>>
  readonly faults: Readonly<Record<FaultKind | "childAnyTime", number>>
  readonly minutes: number
  /** host SIGKILL -> the guardian holds the store */
  readonly takeoverMillis: ReadonlyArray<number>
  /** host SIGKILL -> a host holds the store again and commits (single faults) */
  readonly hostBackMillis: ReadonlyArray<number>
  /** the same, for double faults (the guardian that took over killed too) */
  readonly hostBackDoubleMillis: ReadonlyArray<number>
  /** guardian SIGKILL -> a new guardian is up */
  readonly guardianBackMillis: ReadonlyArray<number>
  /** child SIGKILL -> its entity runs a new child */
  readonly childBackMillis: ReadonlyArray<number>
  /**
   * the way back after a host SIGKILL, each step timed from it: the guardian restarted the host
   * (`spawned`), the new host holds the store (`leased`), and has committed (`committed`: host
   * back), its program is set up (`up`), its guardian is up (`guardianUp`)
   */
  readonly hostStepsMillis: Readonly<Record<string, ReadonlyArray<number>>>
  readonly acknowledged: number
  readonly lost: number
  readonly outOfOrder: number
  readonly orphans: number
  readonly splitBrain: number
  readonly twoChildren: number
  readonly unrecovered: number
  readonly storeOpens: boolean
  readonly problems: ReadonlyArray<string>
}

const root = NodePath.join(import.meta.dirname, "..")

/** a small seeded generator (mulberry32): a run can be repeated */
const random = (seed: number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** polls `check` every `every` ms; the milliseconds it took, or undefined after `millis` */
const waitFor = (check: () => boolean, millis: number, every = 2) =>
  Effect.gen(function*() {
    const t0 = performance.now()
    while (!check()) {
      if (performance.now() - t0 > millis) return undefined
      yield* Effect.sleep(every)
    }
    return performance.now() - t0
  })

/**
 * The host's program and the Node flags it needs (its guardian runs with the same): the
 * TypeScript source through tsx, or, on the built package, the host compiled to JavaScript
 * (`chaos/.build/`), so that a restarted host (and each guardian) starts as a user's built
 * program does, without a TypeScript loader.
 */
const hostProgram = (build: "dist" | "source"): ReadonlyArray<string> => {
  if (build === "source") return ["--conditions=source", "--import", "tsx", "chaos/host.ts"]
  const out = NodePath.join(root, "chaos", ".build")
  NodeFs.mkdirSync(out, { recursive: true })
  for (const name of ["host", "names"]) {
    const { outputText } = Ts.transpileModule(NodeFs.readFileSync(NodePath.join(root, "chaos", `${name}.ts`), "utf8"), {
      compilerOptions: { module: Ts.ModuleKind.ESNext, target: Ts.ScriptTarget.ES2022 }
    })
    NodeFs.writeFileSync(NodePath.join(out, `${name}.js`), outputText)
  }
  return ["chaos/.build/host.js"]
}

/** a launcher that starts nothing: the store is opened at the end without acting on the world */
const startsNothing = Layer.succeed(ProcessLauncher, {
  launch: () => Effect.fail("the chaos suite's final check starts nothing"),
  helperPid: () => undefined
})

export const run = (options: ChaosOptions): Effect.Effect<ChaosResult> => {
  const children = Math.max(5, options.children ?? 6)
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31)
  const rand = random(seed)
  const weights = { ...defaultWeights, ...options.weights }
  const recoverMillis = options.recoverMillis ?? 60_000
  const progress = options.progress ?? (() => {})
  const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "ham-chaos-"))
  const path = NodePath.join(dir, "state.ham")
  const ledgerPath = NodePath.join(dir, "ledger")
  const runId = String(100_000 + Math.floor(rand() * 900_000))
  const procs = ofRun(path, runId, children)

  const body = Effect.gen(function*() {
    const t0 = performance.now()
    const elapsedMinutes = () => (performance.now() - t0) / 60_000
    const problems: Array<string> = []
    // what happened, in the run's directory (kept with --keep)
    const journal = NodeFs.openSync(NodePath.join(dir, "chaos.log"), "a")
    yield* Effect.addFinalizer(() => Effect.sync(() => NodeFs.closeSync(journal)))
    const note = (what: string) => NodeFs.writeSync(journal, `${(performance.now() - t0).toFixed(0)} ${what}\n`)
    const problem = (what: string) => {
      problems.push(what)
      note(`PROBLEM ${what}`)
      progress(`PROBLEM ${what}`)
    }
    const killed = { host: 0, guardian: 0, child: 0 }
    const faults: Record<FaultKind | "childAnyTime", number> = {
      childAnyTime: 0,
      host: 0,
      guardian: 0,
      child: 0,
      childInTakeover: 0,
      takeover: 0,
      double: 0
    }
    const times = {
      takeover: [] as Array<number>,
      hostBack: [] as Array<number>,
      hostBackDouble: [] as Array<number>,
      guardianBack: [] as Array<number>,
      childBack: [] as Array<number>,
      hostSteps: {} as Record<string, Array<number>>
    }
    let kills = 0
    let unrecovered = 0

    // ---- what the suite sees ------------------------------------------------------------------
    const ledger = ledgerAccount()
    const ledgerTail = tailOf(ledgerPath)
    const guardianTail = tailOf(`${path}.d/guardian.log`)
    const guardiansUp = new Set<number>()
    const pairsSeen = new Set<string>()
    const look = () => {
      for (const line of ledgerTail()) ledger.read(line)
      for (const line of guardianTail()) {
        const up = /^guardian (\d+): up:/.exec(line)
        if (up !== null) guardiansUp.add(Number(up[1]))
      }
      const all = procs.all()
      const lives: Array<Array<Proc>> = Array.from({ length: children }, () => [])
      for (const p of all) {
        const i = procs.childOf(p.line)
        if (i >= 0) lives[i].push(p)
      }
      // two children of one entity alive at one instant (read again to be sure)
      lives.forEach((list, i) => {
        if (list.length < 2 || !aliveTogether(list)) return
        const key = `c${i}:${list.map((p) => p.pid).sort((a, b) => a - b).join(",")}`
        if (pairsSeen.has(key)) return
        pairsSeen.add(key)
        problem(`two children of c${i} alive at once: ${list.map((p) => p.pid).join(", ")}`)
      })
      return { all, lives, hosts: all.filter(procs.isHost), guardians: all.filter(procs.isGuardian) }
    }
    const sampler = yield* Effect.fork(Effect.forever(Effect.zipRight(Effect.sync(look), Effect.sleep(50))))

    const hostArgs = hostProgram(options.build ?? "source")
    const startHost = Effect.sync(() => {
      const out = NodeFs.openSync(NodePath.join(dir, "host-started-by-suite.log"), "a")
      const child = ChildProcess.spawn(
        process.execPath,
        [...hostArgs, path, runId, ledgerPath, String(children)],
        { cwd: root, stdio: ["ignore", out, out], detached: true }
      )
      NodeFs.closeSync(out)
      child.unref()
      return child.pid!
    })
    const first = yield* startHost
    const firstUp = yield* waitFor(
      () => {
        look()
        return ledger.account.up.has(first)
      },
      60_000,
      20
    )
    if (firstUp === undefined) return yield* Effect.dieMessage("the first host did not come up within 60 s")
    const store = yield* Effect.acquireRelease(Effect.sync(() => storeReader(path)), (reader) => reader.close)

    // ---- all is back ---------------------------------------------------------------------------
    interface Steady {
      readonly host: Proc
      readonly guardian: Proc
      readonly lives: ReadonlyArray<Proc>
    }
    let notYet = ""
    const no = (why: string): undefined => {
      notYet = why
      return undefined
    }
    const steadyNow = (): Steady | undefined => {
      const seen = look()
      const lease = store.lease()
      if (lease?.role !== "host") return no(`no host holds the store (${JSON.stringify(lease)})`)
      if (startOf(lease.pid) !== lease.startTime) return no(`host ${lease.pid} holds the store, but is gone`)
      if (!ledger.account.up.has(lease.pid)) return no(`host ${lease.pid} is not set up yet`)
      if (store.lastCommitEpoch() !== lease.epoch) return no(`host ${lease.pid} has not committed yet`)
      const host = seen.hosts.find((p) => p.pid === lease.pid)
      const guardian = seen.guardians.find((g) => procs.watchedBy(g) === lease.pid && guardiansUp.has(g.pid))
      if (host === undefined || guardian === undefined) return no(`host ${lease.pid}'s guardian is not up`)
      if (seen.hosts.length > 1 || seen.guardians.length > 1) {
        return no(`more hosts or guardians than one each: ${JSON.stringify(seen.hosts.concat(seen.guardians))}`)
      }
      const lives: Array<Proc> = []
      for (let i = 0; i < children; i++) {
        if (seen.lives[i].length !== 1) return no(`c${i} has ${seen.lives[i].length} processes`)
        lives.push(seen.lives[i][0])
      }
      return { host, guardian, lives }
    }
    /** waits until all is back; an operator's restart of the whole run when it is not */
    const steady: Effect.Effect<Steady> = Effect.gen(function*() {
      let found: Steady | undefined
      const took = yield* waitFor(() => (found = steadyNow()) !== undefined, recoverMillis, 20)
      if (took !== undefined) return found!
      unrecovered++
      problem(`not back ${recoverMillis} ms after the fault: ${notYet}; processes: ${JSON.stringify(procs.all())}`)
      yield* endAll(procs.all)
      yield* startHost
      const again = yield* waitFor(() => (found = steadyNow()) !== undefined, recoverMillis, 20)
      if (again === undefined) return yield* Effect.dieMessage(`the run did not come back after a restart: ${notYet}`)
      return found!
    })

    // ---- the faults ----------------------------------------------------------------------------
    const kill = (p: Proc, target: keyof typeof killed): boolean => {
      if (startOf(p.pid) !== p.start) return false
      signal(p.pid, "SIGKILL")
      note(`SIGKILL ${target} ${p.pid}`)
      kills++
      killed[target]++
      return true
    }
    const pick = <A>(list: ReadonlyArray<A>): A => list[Math.floor(rand() * list.length)]
    const between = (low: number, high: number) => low + Math.floor(rand() * (high - low))
    const leaseIs = (role: "host" | "guardian", pid: number) => {
      const lease = store.lease()
      return lease?.role === role && lease.pid === pid
    }
    /** a host other than `old` holds the store and has committed */
    const hostBack = (old: number) => () => {
      const lease = store.lease()
      return lease?.role === "host" && lease.pid !== old && startOf(lease.pid) === lease.startTime &&
        store.lastCommitEpoch() === lease.epoch
    }
    /** the milliseconds from `t0` until each check first held (polled together; bounded) */
    const stepsOf = (t0: number, checks: ReadonlyArray<readonly [string, () => boolean]>) =>
      Effect.gen(function*() {
        const when: Record<string, number> = {}
        while (Object.keys(when).length < checks.length && performance.now() - t0 < recoverMillis) {
          for (const [step, check] of checks) {
            if (when[step] === undefined && check()) when[step] = performance.now() - t0
          }
          yield* Effect.sleep(5)
        }
        return when
      })
    /** kills the host; the milliseconds until its guardian holds the store */
    const killHost = (at: Steady) =>
      Effect.gen(function*() {
        const k0 = performance.now()
        kill(at.host, "host")
        const took = yield* waitFor(() => leaseIs("guardian", at.guardian.pid), recoverMillis)
        if (took === undefined) return undefined
        times.takeover.push(took)
        return k0
      })

    const strike = (kind: FaultKind, at: Steady) =>
      Effect.gen(function*() {
        faults[kind]++
        note(`fault ${kind}: host ${at.host.pid}, guardian ${at.guardian.pid}`)
        switch (kind) {
          case "child": {
            const i = Math.floor(rand() * children)
            const k0 = performance.now()
            kill(at.lives[i], "child")
            const back = yield* waitFor(() => look().lives[i].some((p) => p.pid !== at.lives[i].pid), recoverMillis, 5)
            if (back !== undefined) times.childBack.push(performance.now() - k0)
            return
          }
          case "guardian": {
            const k0 = performance.now()
            kill(at.guardian, "guardian")
            const back = yield* waitFor(
              () => look().guardians.some((g) => g.pid !== at.guardian.pid && guardiansUp.has(g.pid)),
              recoverMillis,
              10
            )
            if (back !== undefined) times.guardianBack.push(performance.now() - k0)
            return
          }
          case "host":
          case "childInTakeover": {
            const k0 = yield* killHost(at)
            if (k0 === undefined) return
            if (kind === "childInTakeover") {
              kill(pick(at.lives), "child")
              yield* waitFor(hostBack(at.host.pid), recoverMillis)
              return
            }
            // the steps of the way back, each timed from the host's SIGKILL
            const old = at.host.pid
            const holder = () => {
              const lease = store.lease()
              return lease?.role === "host" && lease.pid !== old ? lease.pid : undefined
            }
            const steps = yield* stepsOf(k0, [
              ["spawned", () => look().hosts.some((p) => p.pid !== old)],
              ["leased", () => holder() !== undefined],
              ["committed", hostBack(old)],
              ["up", () => ledger.account.up.has(holder() ?? -1)],
              ["guardianUp", () =>
                look().guardians.some((g) => procs.watchedBy(g) === holder() && guardiansUp.has(g.pid))]
            ])
            if (steps.committed !== undefined) {
              times.hostBack.push(steps.committed)
            }
            for (const [step, millis] of Object.entries(steps)) {
              ;(times.hostSteps[step] ??= []).push(millis)
            }
            return
          }
          case "takeover":
          case "double": {
            const k0 = yield* killHost(at)
            if (k0 === undefined) {
              return
            }
            if (kind === "takeover") {
              // the guardian restarts the host: killed while it hands the store back to it
              yield* waitFor(
                () =>
                  look().hosts.some((p) => p.pid !== at.host.pid),
                recoverMillis,
                5
              )
              yield* Effect.sleep(between(0, 300))
            } else {
              yield* Effect.sleep(between(300, 1000))
            }
            kill(at.guardian, "guardian")
            const back = yield* waitFor(hostBack(at.host.pid), recoverMillis)
            if (back !== undefined) times.hostBackDouble.push(performance.now() - k0)
            return
          }
        }
      })

    const kinds = (Object.keys(weights) as Array<FaultKind>).filter((k) => weights[k] > 0)
    const total = kinds.reduce((sum, k) => sum + weights[k], 0)
    const choose = (): FaultKind => {
      let r = rand() * total
      for (const k of kinds) {
        r -= weights[k]
        if (r < 0) return k
      }
      return kinds[kinds.length - 1]
    }

    const going = () => kills < options.kills && elapsedMinutes() < options.minutes
    // a child SIGKILLed at any moment
    const childEvery = options.childEveryMillis ?? 2000
    const childKiller = Effect.gen(function*() {
      while (going()) {
        yield* Effect.sleep(between(childEvery / 2, (childEvery * 3) / 2))
        const live = look().lives.flat()
        if (live.length > 0 && going() && kill(pick(live), "child")) faults.childAnyTime++
      }
    })
    const killer = childEvery > 0 ? yield* Effect.fork(childKiller) : undefined

    let lastReport = performance.now()
    while (going()) {
      const at = yield* steady
      const splits = lease_.interleavings(store.epochs())
      if (splits.length > 0) problem(`two epochs wrote at once: ${JSON.stringify(splits)}`)
      yield* Effect.sleep(between(0, 500))
      yield* strike(choose(), at)
      if (performance.now() - lastReport > 30_000) {
        lastReport = performance.now()
        progress(
          `${kills} kills in ${elapsedMinutes().toFixed(1)} min; ${ledger.account.acknowledged} acknowledged; ` +
            `faults ${JSON.stringify(faults)}`
        )
      }
    }
    const minutes = elapsedMinutes()
    if (killer !== undefined) yield* Fiber.interrupt(killer)

    // ---- the operator stops it: nothing may be left --------------------------------------------
    const last = yield* steady
    progress(`${kills} kills in ${minutes.toFixed(1)} min: stopping host ${last.host.pid} (SIGTERM)`)
    signal(last.host.pid, "SIGTERM")
    yield* waitFor(() => procs.all().length === 0, 30_000, 50)
    const left = procs.all()
    if (left.length > 0) problem(`left after the final stop: ${JSON.stringify(left)}`)
    yield* endAll(procs.all)
    yield* Fiber.interrupt(sampler)
    look()
    const splits = lease_.interleavings(store.epochs())
    if (splits.length > 0) problem(`two epochs wrote at once: ${JSON.stringify(splits)}`)
    // (a process opens an LMDB file once: this reader goes before the HAM opens it)
    yield* store.close

    // ---- the store opens clean in a fresh HAM (which starts nothing) ---------------------------
    progress("all stopped: opening the store in a fresh HAM")
    const opened = yield* Ham.snapshot.pipe(
      Effect.provide(Ham.layer({ spawner: "inline" })),
      Effect.provide(Guardian.layer({ path })),
      Effect.provide(startsNothing),
      Effect.exit
    )
    if (opened._tag === "Success") {
      const counter = opened.value.entities.find((e) => e.name === "counter")
      ledger.final(counter?.state ?? 0)
    } else {
      problem(`the store does not open: ${String(opened.cause)}`)
    }
    for (const p of ledger.account.problems) problem(p)
    for (const s of ledger.account.stopped) problem(`a host's changes stopped being acknowledged: ${s}`)

    return {
      seed,
      dir,
      kills,
      killed,
      faults,
      minutes,
      takeoverMillis: times.takeover,
      hostBackMillis: times.hostBack,
      hostBackDoubleMillis: times.hostBackDouble,
      guardianBackMillis: times.guardianBack,
      childBackMillis: times.childBack,
      hostStepsMillis: times.hostSteps,
      acknowledged: ledger.account.acknowledged,
      lost: ledger.account.lost,
      outOfOrder: ledger.account.outOfOrder,
      orphans: left.length,
      splitBrain: splits.length,
      twoChildren: pairsSeen.size,
      unrecovered,
      storeOpens: opened._tag === "Success",
      problems
    } satisfies ChaosResult
  })

  // every process of the run goes, whatever happened
  return body.pipe(
    Effect.scoped,
    Effect.ensuring(Effect.suspend(() => endAll(procs.all))),
    Effect.ensuring(Effect.sync(() => {
      if (options.keep !== true) NodeFs.rmSync(dir, { recursive: true, force: true })
    }))
  )
}

/** the q-quantile of a sample (0 when it is empty) */
export const quantile = (xs: ReadonlyArray<number>, q: number): number => {
  if (xs.length === 0) return 0
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]
}
