import { Deferred, Effect } from "effect"
import { Entity, Ham } from "effect-ham"
import { CondDeath } from "effect-ham/Condition"
const lives = Number(process.argv[2] ?? 200000)
const prog = Effect.gen(function*() {
  const done = yield* Deferred.make<void>()
  let n = 0
  const gaps: Array<number> = []
  let end = 0
  const eff = Effect.suspend(() => {
    if (n > 0) gaps.push((performance.now() - end) * 1000)
    if (++n > lives) return Deferred.succeed(done, void 0)
    end = performance.now()
    return Effect.fail("crash")
  })
  const e = yield* Ham.attach(Entity.fiber("crasher", eff))
  yield* Ham.condition(e, CondDeath).pipe(Ham.restart)
  const t = performance.now()
  yield* Deferred.await(done)
  gaps.sort((a, b) => a - b)
  console.log("total per restart us", ((performance.now() - t) * 1000 / lives).toFixed(2), "median gap", gaps[gaps.length >> 1].toFixed(2), "p90", gaps[Math.floor(gaps.length * 0.9)].toFixed(2))
}).pipe(Effect.scoped, Effect.provide(Ham.layer({ backoff: false, restartIntensity: { maxRestarts: Infinity } })))
Effect.runPromise(prog).then(() => process.exit(0))
