/**
 * Helpers shared by the test files: running a test body against its own HAM, waiting for what
 * other fibers do, moving the TestClock, and reading the registry tree.
 */
import { expect } from "@effect/vitest"
import { Cause, Chunk, Effect, Exit, Option, Queue, Ref, TestClock } from "effect"
import type { Scope } from "effect"
import { Action, Ham } from "effect-ham"
import type { ConditionEvent } from "effect-ham/Condition"
import { dual } from "effect/Function"

// ---------------------------------------------------------------------------------------------
// a HAM per test
// ---------------------------------------------------------------------------------------------

/**
 * Runs a test body against a fresh HAM built inside the test (so it captures the TestClock),
 * closing the body's scope at the end. Data-first `withHam(body, options?)` or pipeable
 * `body.pipe(withHam(options?))`.
 */
export const withHam: {
  (options?: Ham.HamOptions): <A, E, R>(
    self: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | Ham.InvalidArgument, Exclude<Exclude<R, Scope.Scope>, Ham.Ham>>
  <A, E, R>(
    self: Effect.Effect<A, E, R>,
    options?: Ham.HamOptions
  ): Effect.Effect<A, E | Ham.InvalidArgument, Exclude<Exclude<R, Scope.Scope>, Ham.Ham>>
} = dual(
  (args) => Effect.isEffect(args[0]),
  <A, E, R>(self: Effect.Effect<A, E, R>, options?: Ham.HamOptions) =>
    self.pipe(Effect.scoped, Effect.provide(Ham.layer(options)))
)

// ---------------------------------------------------------------------------------------------
// letting other fibers run, moving the TestClock
// ---------------------------------------------------------------------------------------------

/** lets the other fibers (dispatcher, tickers, entity fibers, waits) run what is due now */
export const settle = Effect.gen(function*() {
  for (let i = 0; i < 200; i++) yield* Effect.yieldNow()
})

/** moves the TestClock to the absolute instant `millis`, then lets the HAM catch up */
export const at = (millis: number) => Effect.zipRight(TestClock.setTime(millis), settle)

/** moves the TestClock forward in whole steps of `step` up to `millis`, settling after each */
export const stepTo = (millis: number, step: number) =>
  Effect.gen(function*() {
    let now = yield* TestClock.currentTimeMillis
    while (now < millis) {
      now = Math.min(millis, now + step)
      yield* at(now)
    }
  })

// ---------------------------------------------------------------------------------------------
// queues and events
// ---------------------------------------------------------------------------------------------

/** takes the next item of a queue, letting the other fibers run; dies when nothing comes */
export const takeSoon = <A>(queue: Queue.Dequeue<A>): Effect.Effect<A> =>
  Effect.gen(function*() {
    for (let i = 0; i < 2000; i++) {
      const item = yield* Queue.poll(queue)
      if (Option.isSome(item)) return item.value
      yield* Effect.yieldNow()
    }
    return yield* Effect.dieMessage("nothing arrived on the queue")
  })

/** every item of a queue delivered so far */
export const drain = <A>(queue: Queue.Dequeue<A>) => Effect.map(Queue.takeAll(queue), Chunk.toReadonlyArray)

/** takes events until one satisfies `done`; returns every event taken, the last one included */
export const takeUntil = (
  events: Queue.Dequeue<ConditionEvent>,
  done: (event: ConditionEvent) => boolean
): Effect.Effect<Array<ConditionEvent>> =>
  Effect.gen(function*() {
    const seen: Array<ConditionEvent> = []
    while (true) {
      const event = yield* Queue.take(events)
      seen.push(event)
      if (done(event)) return seen
    }
  })

/** an event of this tag on this entity */
export const is = (tag: ConditionEvent["_tag"], entity: string) => (event: ConditionEvent) =>
  event._tag === tag && event.entity === entity

/** the tags of the events of one entity, in order */
export const tagsOf = (events: ReadonlyArray<ConditionEvent>, entity: string) =>
  events.filter((e) => e.entity === entity).map((e) => e._tag)

/**
 * Waits until the HAM's FIFO dispatcher has handled everything published before: raises a
 * marker on a placeholder entity whose condition notifies a queue.
 */
let barriers = 0
export const barrier = Effect.gen(function*() {
  const name = `barrier-${++barriers}`
  const done = yield* Queue.unbounded<string>()
  yield* Ham.entity(name)
  yield* Ham.conditionRaise(name, {}).pipe(Ham.notify(done, name))
  yield* Ham.raise(name, { type: 1, class: 1, severity: 1 })
  expect(yield* takeSoon(done)).toBe(name)
})

// ---------------------------------------------------------------------------------------------
// effects and entities
// ---------------------------------------------------------------------------------------------

/** the failure of an effect that must fail (a success fails the test) */
export const failureOf = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<E, never, R> =>
  Effect.flatMap(Effect.exit(effect), (exit) => {
    if (Exit.isSuccess(exit)) return Effect.dieMessage(`expected a failure, got ${JSON.stringify(exit.value)}`)
    const failure = Cause.failureOption(exit.cause)
    return failure._tag === "Some" ? Effect.succeed(failure.value) : Effect.dieMessage(Cause.pretty(exit.cause))
  })

/** a fiber whose life ends when told: "ok" returns (normal death), anything else fails */
export const mortal = Effect.gen(function*() {
  const kill = yield* Queue.unbounded<string>()
  const effect = Effect.flatMap(Queue.take(kill), (how) => (how === "ok" ? Effect.void : Effect.fail(how)))
  return { effect, kill }
})

export type Log = Ref.Ref<ReadonlyArray<string>>

/** an action that records `label` into `log` (and is named `label`) */
export const record = (log: Log, label: string) => Action.effect(Ref.update(log, (xs) => [...xs, label]), { label })

// ---------------------------------------------------------------------------------------------
// the registry tree
// ---------------------------------------------------------------------------------------------

/** the tree without its time stamp: what must not change after a refused call */
export const registry = Effect.map(Ham.snapshot, ({ spawnerPid: _spawner, time: _time, ...rest }) => rest)

/** the tree node of an entity; dies when there is none */
export const entityNode = (name: string) =>
  Effect.flatMap(Ham.snapshot, (tree) => {
    const node = tree.entities.find((e) => e.name === name)
    return node === undefined ? Effect.dieMessage(`no entity ${name} in the tree`) : Effect.succeed(node)
  })

/** the tree node of a condition; dies when there is none */
export const conditionNode = (entity: string, condition: string) =>
  Effect.flatMap(entityNode(entity), (node) => {
    const c = node.conditions.find((x) => x.name === condition)
    return c === undefined ? Effect.dieMessage(`no condition ${entity}/${condition} in the tree`) : Effect.succeed(c)
  })

/** the tree node of an action; dies when there is none */
export const actionNode = (entity: string, condition: string, action: string) =>
  Effect.flatMap(conditionNode(entity, condition), (c) => {
    const a = c.actions.find((x) => x.name === action)
    return a === undefined
      ? Effect.dieMessage(`no action ${entity}/${condition}/${action} in the tree`)
      : Effect.succeed(a)
  })
