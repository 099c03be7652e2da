/**
 * The host of the chaos suite: a HAM on the store given as its first argument, under its
 * guardian process (`Guardian.layer({ process: true })`), whose own entity ("host") restarts it
 * when it dies. It supervises
 *
 * - `children` process entities `c0`, `c1`, ...: `sleep 3600.<run><i>` (the command line names
 *   the run and the entity), each restarted when it dies;
 * - fiber entities: three that run forever and one ("flaky") that fails every 50-250 ms, each
 *   restarted when it dies (commits the HAM makes itself, all the time);
 * - a counter ("counter"): its state published again and again, one more each time. Each call is
 *   acknowledged (committed) when it returns, and only then is it written to the ledger.
 *
 * The ledger (appended to, one line each): `r <pid> <n>` when a host starts (the counter it
 * found in the store), `a <n>` after each acknowledged change, `up <pid>` once the host is set
 * up (SIGTERM stops it from then on), `x <pid> <reason>` when its changes stop being
 * acknowledged. SIGTERM stops the host (`Ham.stop`: every entity and the guardian go too).
 *
 * Arguments: the store's path, the run's marker (digits), the ledger's path, the number of
 * children.
 */
import { Command } from "@effect/platform"
import { Deferred, Effect, Exit } from "effect"
import { Entity, Guardian, Ham } from "effect-ham"
import { CondDeath } from "effect-ham/Condition"
import * as NodeFs from "node:fs"
import { childArgs } from "./names.js"

const [path, run, ledgerPath, childrenText] = process.argv.slice(2)
const children = Number(childrenText ?? 6)

const ledger = NodeFs.openSync(ledgerPath, "a")
const note = (line: string) => NodeFs.writeSync(ledger, `${line}\n`)

const restarted = <E, R>(attached: Effect.Effect<Entity.EntityHandle, E, R>) =>
  Effect.flatMap(attached, (handle) => Ham.condition(handle, CondDeath).pipe(Ham.restart))

const program = Effect.gen(function*() {
  const stop = yield* Deferred.make<void>()
  process.on("SIGTERM", () => Deferred.unsafeDone(stop, Exit.void))
  yield* Ham.condition("host", CondDeath).pipe(Ham.restart)
  for (let i = 0; i < children; i++) {
    const [command, ...args] = childArgs(run, i)
    yield* restarted(Ham.attach(Entity.process(`c${i}`, Command.make(command, ...args))))
  }
  for (let i = 0; i < 3; i++) yield* restarted(Ham.attach(Entity.fiber(`f${i}`, Effect.never)))
  const flaky = Effect.suspend(() => Effect.sleep(50 + Math.floor(Math.random() * 200))).pipe(
    Effect.zipRight(Effect.fail("flaky"))
  )
  yield* restarted(Ham.attach(Entity.fiber("flaky", flaky)))

  const counter = yield* Ham.entity("counter")
  const found = (yield* Ham.snapshot).entities.find((e) => e.name === "counter")?.state ?? 0
  note(`r ${process.pid} ${found}`)
  let n = found
  yield* Effect.suspend(() => Ham.publishState(counter, n + 1)).pipe(
    Effect.tap(() =>
      Effect.sync(() => {
        n++
        note(`a ${n}`)
      })
    ),
    Effect.zipRight(Effect.sleep("2 millis")),
    Effect.forever,
    Effect.catchAll((e) => Effect.sync(() => note(`x ${process.pid} ${e._tag}`))),
    Effect.forkScoped
  )
  note(`up ${process.pid}`)
  yield* Deferred.await(stop)
})

Effect.runPromise(
  program.pipe(
    Effect.scoped,
    Effect.provide(Ham.layer({ backoff: false, restartIntensity: { maxRestarts: Infinity } })),
    Effect.provide(Guardian.layer({ path, process: true }))
  )
).then(
  () => process.exit(0),
  (e) => {
    console.error(e)
    process.exit(1)
  }
)
