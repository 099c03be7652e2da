import { Effect, Runtime } from "effect"
const heap = () => { (globalThis as any).gc(); (globalThis as any).gc(); return process.memoryUsage().heapUsed }
const n = 10000
Effect.runPromise(Effect.gen(function*() {
  const rt = yield* Effect.runtime<never>()
  const b = heap()
  const fibers: any[] = []
  for (let i = 0; i < n; i++) { const f = Runtime.runFork(rt, Effect.never); f.addObserver(() => {}); fibers.push(f) }
  yield* Effect.yieldNow()
  console.log("per bare root fiber", ((heap() - b) / n).toFixed(0))
  const b2 = heap()
  const fibers2: any[] = []
  for (let i = 0; i < n; i++) { fibers2.push(yield* Effect.forkDaemon(Effect.never)) }
  yield* Effect.yieldNow()
  console.log("per forkDaemon fiber", ((heap() - b2) / n).toFixed(0))
})).then(() => process.exit(0))
