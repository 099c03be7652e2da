/**
 * Conditions before the entity exists, and conditions on every entity.
 *
 * - `Ham.entity("database")` makes a placeholder: conditions can be hung on it before the
 *   database is attached; when it is, `CondAttach` fires (QNX `ham_entity`).
 * - `Entity.global` is the wildcard entity: its conditions fire for the events of every entity,
 *   after the entity's own conditions.
 * - An entity that died is kept in the tree with its history; attaching the same name again
 *   takes the record over (its conditions and statistics) and fires `CondAttach` again.
 *
 *   npm run example -- examples/placeholder-global.ts
 */
import { Console, Deferred, Effect } from "effect"
import { Action, Entity, Ham, HamLive, Tree } from "effect-ham"
import { CondAttach, CondDeath, type ConditionEvent } from "effect-ham/Condition"

const say = (prefix: string) => Action.effect((e: ConditionEvent) => Console.log(`${prefix} ${e._tag} on ${e.entity}`))

const program = Effect.gen(function*() {
  // 1. a placeholder, with a condition waiting for the real database
  const db = yield* Ham.entity("database")
  yield* Ham.condition(db, CondAttach).pipe(Ham.action(say("[database]")))
  yield* Ham.condition(db, CondDeath).pipe(Ham.action(say("[database]")))

  // 2. global conditions: every attach and every death of every entity
  yield* Ham.condition(Entity.global, CondAttach).pipe(Ham.action(say("[global]  ")))
  yield* Ham.condition(Entity.global, CondDeath).pipe(Ham.action(say("[global]  ")))

  const before = yield* Ham.snapshot
  const node = before.entities.find((e) => e.name === "database")!
  yield* Console.log(`before attach: "database" is a ${node.kind} with ${node.conditions.length} conditions\n`)

  // 3. the entities join; a one-shot job dies normally
  const jobDone = yield* Deferred.make<void>()
  yield* Ham.condition(Entity.global, CondDeath, { name: "job-done" }).pipe(
    Ham.action(Action.effect((e) => e.entity === "job" ? Deferred.succeed(jobDone, undefined) : Effect.void))
  )
  yield* Ham.attach(Entity.fiber("database", Effect.never))
  yield* Ham.attach(Entity.fiber("job", Effect.sleep("30 millis")))
  yield* Deferred.await(jobDone)

  // 4. the job is dead but still in the tree; attaching it again takes its record over
  const again = yield* Deferred.make<void>()
  yield* Ham.condition("job", CondAttach).pipe(Ham.notify(again, undefined))
  yield* Console.log("\nattaching job again")
  yield* Ham.attach(Entity.fiber("job", Effect.never))
  yield* Deferred.await(again)

  const tree = yield* Ham.snapshot
  const job = tree.entities.find((e) => e.name === "job")!
  yield* Console.log(`\njob is ${job.status} again, its history kept: deaths ${job.stats.deaths}`)
  yield* Console.log("\n" + Tree.render(tree))
})

Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(HamLive)))
