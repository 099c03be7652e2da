/**
 * The guardian process (started by `Guardian.layer({ process: true })`; not meant to be run by
 * hand). Arguments: the store's path, the host's pid, the name of the host's entity.
 *
 * While the host lives, the guardian only holds its pipe. When the pipe ends without a `stop`
 * line, the host died: the guardian becomes the HAM. It takes the store's lease, rebuilds the
 * registry, adopts the process entities by pid, runs the host entity's death conditions (which
 * may restart the host), and starts a guardian process of its own. When a host asks for the
 * store back, it hands it over and ends, leaving the processes running for the host to adopt.
 * SIGTERM ends it: before a takeover at once (a warm-up under way removes what it made first),
 * after one through `Ham.stop` (every entity goes).
 *
 * @internal
 */
import * as Command from "@effect/platform/Command"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import * as action_ from "../action.js"
import * as entity_ from "../entity.js"
import * as ham_ from "../ham/make.js"
import { startTimeOf } from "../procStart.js"
import * as probe_ from "../store/probe.js"
import * as tmpdirs from "../tmpdirs.js"
import * as tree_ from "../tree.js"
import * as guardian_ from "./layer.js"

const [path, hostPidText, hostName, hostEpochText] = process.argv.slice(2)
const hostPid = Number(hostPidText)
/** the epoch of the host's lease on the store: it is taken over only while the store is still its */
const hostEpoch = hostEpochText === undefined ? undefined : Number(hostEpochText)
const hostStart = startTimeOf(hostPid)

let stopping = false
let active = false
/**
 * The store's probe, started ahead (lmdb loaded, the file not opened yet), so that a takeover does
 * not wait for a Node process to start. It is killed as this process exits (and ends by itself
 * when this process is killed: its stdin ends).
 */
const standbyScope = Effect.runSync(Scope.make())
const standby = Effect.runSync(Scope.extend(probe_.standby(path), standbyScope))
process.on("exit", () => Effect.runSync(Scope.close(standbyScope, Exit.void)))
const stopped = Deferred.unsafeMake<void>(FiberId.none)

const log = (message: string) => process.stderr.write(`guardian ${process.pid}: ${message}\n`)

/** the warm-up, while it runs (below) */
let warming: Fiber.RuntimeFiber<void> | undefined

/**
 * Ends this process. A warm-up under way is interrupted first and its finalizers run (bounded):
 * its store and its HAM's directories are removed, which an exit at once would leave behind.
 */
const exitNow = (): void => {
  const fiber = warming
  if (fiber === undefined) return process.exit(0)
  warming = undefined
  void Effect.runPromise(Effect.ignore(Effect.timeout(Fiber.interrupt(fiber), "2 seconds"))).finally(() =>
    process.exit(0)
  )
}

/** the host is gone: not alive (already when this guardian started), or another process under its pid */
const hostGone = Effect.sync(() => hostStart === undefined || startTimeOf(hostPid) !== hostStart)

const takeover = Effect.gen(function*() {
  // the pipe ends as the host's process is torn down: wait for it to be gone (bounded)
  yield* hostGone.pipe(
    Effect.repeat({ schedule: Schedule.spaced("1 millis"), until: (gone) => gone }),
    Effect.timeout("2 seconds"),
    Effect.ignore
  )
  log(`host ${hostPid} died: taking over the store ${path}`)
  active = true
  yield* Effect.gen(function*() {
    const ham = yield* ham_.Ham
    const { guardian, handOver, store } = yield* guardian_.GuardianControl
    const tree = yield* ham.snapshot
    log(`took over; the registry now:\n${tree_.render(tree)}`)
    // hand the store back to a host that asks for it, or stop on SIGTERM
    const handover = Effect.sync(() => store.handoverRequest()).pipe(
      Effect.zipLeft(Effect.sleep("20 millis")),
      Effect.repeat({ until: (pid): pid is number => pid !== undefined })
    )
    // or it finds the store held by another HAM: it acts no more, and leaves the processes to it
    const lost = Effect.as(store.lost, "lost" as const)
    const asked = yield* Effect.raceAll([handover, Effect.as(Deferred.await(stopped), undefined), lost])
    if (asked === "lost") {
      log(`the store is held by another HAM now (${JSON.stringify(store.currentLease())}): exiting`)
      if (guardian !== undefined) yield* guardian.dismiss
      process.exit(0)
    }
    if (asked === undefined) return
    log(`host ${asked} asked for the store: handing it over`)
    // it acts no more, and what it began is recorded, before the host can take the store
    yield* handOver
    if (guardian !== undefined) yield* guardian.dismiss
    store.release()
    // the processes stay: the host adopts them (no scope is closed, nothing is stopped)
    process.exit(0)
  }).pipe(
    Effect.scoped,
    Effect.provide(
      ham_.layer().pipe(
        Layer.provideMerge(
          guardian_.layerWithControl({ path, process: true, hostName }, "guardian", hostEpoch, standby)
        )
      )
    )
  )
})

process.on("SIGTERM", () => {
  if (!active) return exitNow()
  Deferred.unsafeDone(stopped, Exit.void)
})
process.stdin.on("data", (data: Buffer) => {
  if (data.toString("utf8").includes("stop")) {
    stopping = true
    exitNow()
  }
})
process.stdin.on("error", () => {})
process.stdin.on("end", () => {
  if (stopping) return
  Effect.runPromise(
    takeover.pipe(Effect.catchTag("StoreMoved", (moved) =>
      Effect.sync(() =>
        log(
          `the store moved on since host ${hostPid} (epoch ${hostEpoch}) held it ` +
            `(${
              moved.holder === undefined ? "nobody holds it" : `epoch ${moved.holder.epoch}, pid ${moved.holder.pid}`
            }): ` +
            "nothing to take over"
        )
      )))
  ).then(
    () => process.exit(0),
    (e) => {
      log(`takeover failed: ${String(e)}`)
      process.exit(1)
    }
  )
})

/**
 * A hot standby: the HAM's code paths are run once before the guardian says it is up (a HAM on a
 * store of its own, an entity, a condition and its action, an event, a snapshot, and the store
 * opened again: its records read back), so that a takeover runs warm code instead of paying for
 * the first run of each path (the first decoding of a record builds its parser).
 */
const warmUpOnce = Effect.gen(function*() {
  const ham = yield* ham_.Ham
  const handle = yield* ham.attach(entity_.fiber("warm-up", Effect.never))
  const condition = yield* ham.condition(handle, "CondState")
  yield* ham.addAction(condition, action_.log("warm"))
  yield* ham.publishState(handle, 1)
  // the path of a process entity: spawn, output, exit, a restart
  const events = yield* ham.subscribe
  const child = yield* ham.attach(entity_.process("warm-up-process", Command.make("true"), { output: "ignore" }))
  const death = yield* ham.condition(child, "CondDeath", { oneShot: true })
  yield* ham.addAction(death, action_.restart)
  yield* Queue.take(events).pipe(
    Effect.repeat({ until: (event) => event._tag === "CondRestart" }),
    Effect.timeout("2 seconds")
  )
  yield* ham.snapshot
})

const warmUp = Effect.acquireUseRelease(
  // named after this process: one a SIGKILLed guardian left is removed by the next (tmpdirs.ts)
  Effect.sync(() => tmpdirs.makePrivate("ham-guardian-warm-")),
  (dir) => {
    const store = guardian_.layer({ path: NodePath.join(dir, "warm.ham") })
    const once = warmUpOnce.pipe(Effect.scoped, Effect.provide(ham_.layer({ verbosity: 0 }).pipe(Layer.provide(store))))
    return Effect.zipRight(once, once)
  },
  (dir) => Effect.sync(() => NodeFs.rmSync(dir, { recursive: true, force: true }))
).pipe(Effect.ignore)

warming = Effect.runFork(warmUp)
const warmed = await Effect.runPromise(Fiber.await(warming))
// stopped while it warmed up: the exit comes once the warm-up's finalizers have run
if (Exit.isInterrupted(warmed)) await new Promise<never>(() => {})
warming = undefined
log(`up: watching host ${hostPid} (epoch ${hostEpoch})`)

// tell the host the guardian is up
try {
  NodeFs.writeSync(3, "ready\n")
  NodeFs.closeSync(3)
} catch {
  // started by hand: nobody to tell
}
