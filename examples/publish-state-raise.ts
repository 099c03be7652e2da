/**
 * Publishing and subscribing: an entity publishes its state (`Ham.publishState`) and anyone
 * raises conditions on it (`Ham.raise`); subscribers hang `CondState` / `CondRaise` conditions
 * with filters on it.
 *
 * States are non-negative integers; the HAM remembers the last one and fires `CondState` with
 * the previous and the new state. A filter side is an exact state, `StateAny` (0), a set
 * (`{ in: [...] }`) or its complement (`{ notIn: [...] }`). Every entity starts in state 0.
 * Raise filters match `type`, `class` and `severity`, each exact or `RaiseAny` (0, or absent).
 *
 *   npm run example -- examples/publish-state-raise.ts
 */
import { Console, Deferred, Effect } from "effect"
import { Action, Entity, Ham, HamLive } from "effect-ham"
import { RaiseAny, StateAny } from "effect-ham/Condition"

// the states the link publishes
const Down = 1
const Connecting = 2
const Up = 3
const Degraded = 4

// raise types and classes of this application
const TypeLink = 10
const TypeDisk = 20
const ClassLatency = 1
const ClassErrors = 2

const print = (name: string) =>
  Action.effect((e) => {
    switch (e._tag) {
      case "CondState":
        return Console.log(`  ${name.padEnd(22)} fired: ${e.from} -> ${e.to}`)
      case "CondRaise":
        return Console.log(
          `  ${name.padEnd(22)} fired: type ${e.type} class ${e.class} severity ${e.severity} (${e.detail})`
        )
      default:
        return Effect.void
    }
  })

const program = Effect.gen(function*() {
  const link = yield* Ham.attach(Entity.fiber("link", Effect.never))

  // state filters
  yield* Ham.conditionState(link, { from: Connecting, to: Up }, { name: "came-up" }).pipe(Ham.action(print("came-up")))
  yield* Ham.conditionState(link, { to: { in: [Down, Degraded] } }, { name: "trouble" }).pipe(
    Ham.action(print("trouble"))
  )
  yield* Ham.conditionState(link, { from: { notIn: [Up, Degraded] }, to: StateAny }, { name: "left-not-up" }).pipe(
    Ham.action(print("left-not-up"))
  )
  // raise filters; absent fields are wildcards
  yield* Ham.conditionRaise(link, { type: TypeLink }, { name: "any-link-raise" }).pipe(
    Ham.action(print("any-link-raise"))
  )
  yield* Ham.conditionRaise(link, { type: TypeLink, class: ClassErrors, severity: 5 }, { name: "link-errors-sev5" })
    .pipe(Ham.action(print("link-errors-sev5")))
  yield* Ham.conditionRaise(Entity.global, { type: RaiseAny, class: RaiseAny, severity: 7 }, {
    name: "global-severity7"
  }).pipe(Ham.action(print("global-severity7")))

  const sequence = [[Connecting, "Connecting"], [Up, "Up"], [Degraded, "Degraded"], [Down, "Down"]] as const
  for (const [state, name] of sequence) {
    yield* Console.log(`publishState ${name} (${state})`)
    yield* Ham.publishState(link, state)
  }
  yield* Ham.raise(link, { type: TypeLink, class: ClassLatency, severity: 3, detail: "rtt 250 ms" })
  yield* Ham.raise(link, { type: TypeLink, class: ClassErrors, severity: 5, detail: "crc errors" })
  yield* Ham.raise(link, { type: TypeDisk, class: ClassErrors, severity: 7, detail: "disk full" })

  // the dispatcher handles events in order (FIFO): once this marker's condition has run, every
  // ordinary condition of the events above has run too
  const done = yield* Deferred.make<void>()
  yield* Ham.conditionRaise(link, { type: 99 }, { name: "marker" }).pipe(Ham.notify(done, undefined))
  yield* Ham.raise(link, { type: 99, class: 0, severity: 0 })
  yield* Deferred.await(done)

  // the order in which the lines above appear is the order of the events; within one event,
  // the entity's conditions run in the order they were added, then the global entity's
  const tree = yield* Ham.snapshot
  const fired = tree.entities[0].conditions.map((c) => `${c.name} ${c.fired}`).join(", ")
  yield* Console.log(`\nfired counts: ${fired}, global-severity7 ${tree.global.conditions[0].fired}`)
})

Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(HamLive)))
