/**
 * The spawner: the HAM's children are forked by a small helper process, not by the
 * application's (possibly large) process.
 *
 * - a `sleep` supervised by the HAM: its parent is the spawner, whose pid the tree shows;
 * - the spawner is SIGKILLed: its child dies with it, the HAM reports the death (SIGKILL) and
 *   its restart action starts the child again under a new spawner;
 * - a HAM with `spawner: "inline"` forks from its own process instead.
 *
 *   npm run example -- examples/spawner.ts
 */
import { Command } from "@effect/platform"
import { Console, Effect, Queue } from "effect"
import { Entity, Ham } from "effect-ham"
import { CondDeath, type ConditionEvent } from "effect-ham/Condition"
import { readFileSync } from "node:fs"

/** the parent of a process, read from /proc/<pid>/stat */
const parentOf = (pid: number): number => {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1])
}

const until = (events: Queue.Dequeue<ConditionEvent>, tag: ConditionEvent["_tag"]): Effect.Effect<ConditionEvent> =>
  Effect.flatMap(Queue.take(events), (event) => event._tag === tag ? Effect.succeed(event) : until(events, tag))

const withSpawner = Effect.gen(function*() {
  const events = yield* Ham.subscribe
  const svc = yield* Ham.attach(Entity.process("svc", Command.make("sleep", "600")), { backoff: false })
  yield* Ham.condition(svc, CondDeath).pipe(Ham.restart)
  const attached = yield* until(events, "CondAttach")
  const pid = attached._tag === "CondAttach" ? attached.pid! : -1
  const spawner = (yield* Ham.snapshot).spawnerPid!
  yield* Console.log(
    `this process: ${process.pid}; svc: pid ${pid}, its parent ${parentOf(pid)}, the spawner ${spawner}`
  )

  process.kill(spawner, "SIGKILL")
  yield* Console.log(`spawner ${spawner} SIGKILLed`)
  const death = yield* until(events, "CondDeath")
  if (death._tag === "CondDeath") yield* Console.log(`svc died with it: pid ${death.pid}, ${death.reason}`)
  const restart = yield* until(events, "CondRestart")
  const again = restart._tag === "CondRestart" ? restart.pid! : -1
  const next = (yield* Ham.snapshot).spawnerPid!
  yield* Console.log(`svc restarted: pid ${again}, its parent ${parentOf(again)}, the new spawner ${next}`)
}).pipe(Effect.scoped, Effect.provide(Ham.layer()))

const inline = Effect.gen(function*() {
  yield* Ham.attach(Entity.process("svc", Command.make("sleep", "600")))
  const node = (yield* Ham.snapshot).entities.find((e) => e.name === "svc")!
  yield* Console.log(`spawner "inline": svc pid ${node.pid}, its parent ${parentOf(node.pid!)} (this process)`)
}).pipe(Effect.scoped, Effect.provide(Ham.layer({ spawner: "inline" })))

Effect.runPromise(Effect.zipRight(withSpawner, inline))
