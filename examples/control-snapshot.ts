/**
 * Handles, control, the tree, verbosity and stop.
 *
 * - handles are client-side names: `Ham.entityHandle`, `Ham.conditionHandle` and
 *   `Ham.actionHandle` find existing objects by name (freeing a handle removes nothing);
 * - `Ham.control` disables and enables an entity, a condition or an action (a disabled
 *   condition never fires, a disabled action is skipped), and reads or sets flags;
 * - `Ham.remove` removes an action or a condition;
 * - `Ham.verbose` sets the verbosity: a log action writes only when the verbosity is at least
 *   its own;
 * - `Ham.snapshot` returns the /proc/ham tree as data and `Tree.render` prints it;
 * - `Ham.stop` interrupts every supervised fiber; later calls fail with `HamStopped`.
 *
 *   npm run example -- examples/control-snapshot.ts
 */
import { Console, Deferred, Effect, Either, Queue } from "effect"
import { Action, Entity, Ham, HamLive, Tree } from "effect-ham"

const TypeAlarm = 1
const TypeMarker = 2

const program = Effect.gen(function*() {
  const seen = yield* Queue.unbounded<string>()
  const running = yield* Deferred.make<void>()
  const stopped = yield* Deferred.make<string>()
  const pump = Effect.gen(function*() {
    yield* Deferred.succeed(running, undefined)
    return yield* Effect.never
  }).pipe(Effect.onInterrupt(() => Deferred.succeed(stopped, "the pump fiber was interrupted by Ham.stop")))
  yield* Ham.attach(Entity.fiber("pump", pump))
  yield* Deferred.await(running)

  // set up by name: the code that controls things later only knows the names
  yield* Ham.conditionRaise("pump", { type: TypeAlarm }, { name: "alarm" }).pipe(
    Ham.action(Action.named(Action.notify(seen, "page the operator"), "page")),
    Ham.action(Action.named(Action.notify(seen, "open a ticket"), "ticket")),
    Ham.action(Action.named(Action.log("alarm on the pump (debug detail)", { verbosity: 2 }), "debug-log"))
  )

  // raise an alarm, then a marker on another entity whose condition proves that the alarm's
  // actions are done (the dispatcher handles events in order)
  const probe = yield* Ham.entity("probe")
  const alarm = (label: string) =>
    Effect.gen(function*() {
      const marker = yield* Deferred.make<void>()
      const handle = yield* Ham.conditionRaise(probe, { type: TypeMarker }, { name: "marker" }).pipe(
        Ham.notify(marker, undefined)
      )
      yield* Ham.raise("pump", { type: TypeAlarm, class: 1, severity: 5, detail: label })
      yield* Ham.raise(probe, { type: TypeMarker, class: 1, severity: 1 })
      yield* Deferred.await(marker)
      yield* Ham.remove(handle)
      const got = yield* Queue.takeAll(seen)
      yield* Console.log(`${label}: actions ran: [${[...got].join(", ")}]`)
    })

  const pumpHandle = yield* Ham.entityHandle("pump")
  const alarmHandle = yield* Ham.conditionHandle(pumpHandle, "alarm")
  const pageHandle = yield* Ham.actionHandle(alarmHandle, "page")

  yield* alarm("alarm 1 (all enabled, verbosity 1: no debug log)")

  yield* Ham.control(pageHandle, "disable")
  yield* alarm("alarm 2 (page disabled)")

  yield* Ham.control(pageHandle, "enable")
  yield* Ham.control(alarmHandle, "disable")
  yield* alarm("alarm 3 (condition disabled)")

  yield* Ham.control(alarmHandle, "enable")
  yield* Ham.control(pumpHandle, "disable")
  yield* alarm("alarm 4 (entity disabled)")

  yield* Ham.control(pumpHandle, "enable")
  yield* Console.log(`page action: ${JSON.stringify(yield* Ham.control(pageHandle, "getFlags"))}`)
  const flags = yield* Ham.control(alarmHandle, { setFlags: { independent: false, oneShot: true } })
  yield* Console.log(`alarm condition flags: ${JSON.stringify(flags)}`)

  yield* Ham.remove(yield* Ham.actionHandle(alarmHandle, "ticket"))
  const previous = yield* Ham.verbose(2)
  yield* Console.log(`verbosity ${previous} -> 2`)
  yield* alarm("alarm 5 (ticket removed, verbosity 2: the debug log writes)")

  yield* Console.log("\n" + Tree.render(yield* Ham.snapshot) + "\n")

  // stop: the supervised fiber is interrupted (not a death), the HAM refuses further calls
  yield* Ham.stop
  yield* Console.log(yield* Deferred.await(stopped))
  const after = yield* Effect.either(Ham.entity("late"))
  yield* Console.log(`after stop: ${Either.isLeft(after) ? after.left._tag : "accepted?!"}`)
})

Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(HamLive)))
