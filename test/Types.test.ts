/**
 * Type-level tests: every operation of the HAM names exactly what it can fail with (checked by
 * `tsc` through `npm run typecheck`; the runtime part only makes vitest see the file).
 */
import { describe, expectTypeOf, it } from "@effect/vitest"
import type { Effect, Scope, Stream } from "effect"
import { Action, Entity, Ham } from "effect-ham"
import type { ConditionEvent } from "effect-ham/Condition"
import type * as Tree from "effect-ham/Tree"

type ErrorOf<T> = T extends Effect.Effect<any, infer E, any> ? E : never
type ErrorOfCall<F extends (...args: any) => any> = ErrorOf<ReturnType<F>>
type ErrorOfService<K extends keyof Ham.HamService> = Ham.HamService[K] extends (...args: any) => any
  ? ErrorOfCall<Ham.HamService[K]>
  : ErrorOf<Ham.HamService[K]>

type Tags<E> = E extends { readonly _tag: infer T } ? T : never

describe("error channels", () => {
  it("each operation fails with exactly the errors of the plan's table", () => {
    expectTypeOf<Tags<ErrorOfCall<typeof Ham.attach<Entity.ProcessSpec>>>>().toEqualTypeOf<
      "HamStopped" | "InvalidArgument" | "DuplicateName" | "SpawnFailed" | "ProcessNotFound" | "ProcessNotSignallable"
    >()
    expectTypeOf<Tags<ErrorOfCall<typeof Ham.attachSelf>>>().toEqualTypeOf<
      "HamStopped" | "InvalidArgument" | "DuplicateName"
    >()
    expectTypeOf<Tags<ErrorOfCall<typeof Ham.entity>>>().toEqualTypeOf<"HamStopped" | "InvalidArgument">()
    expectTypeOf<Tags<ErrorOfCall<typeof Ham.entityHandle>>>().toEqualTypeOf<"HamStopped" | "EntityNotFound">()
    expectTypeOf<Tags<ErrorOfCall<typeof Ham.detach>>>().toEqualTypeOf<
      "HamStopped" | "EntityNotFound" | "InvalidArgument"
    >()
    for (const _ of [Ham.condition, Ham.conditionState, Ham.conditionRaise] as const) {
      expectTypeOf<Tags<ErrorOfCall<typeof _>>>().toEqualTypeOf<
        "HamStopped" | "InvalidArgument" | "EntityNotFound" | "DuplicateName"
      >()
    }
    expectTypeOf<Tags<ErrorOfCall<typeof Ham.conditionHandle>>>().toEqualTypeOf<
      "HamStopped" | "EntityNotFound" | "ConditionNotFound"
    >()
    expectTypeOf<Tags<ErrorOfCall<typeof Ham.addAction>>>().toEqualTypeOf<
      "HamStopped" | "InvalidArgument" | "EntityNotFound" | "ConditionNotFound" | "DuplicateName"
    >()
    expectTypeOf<Tags<ErrorOfCall<typeof Ham.actionHandle>>>().toEqualTypeOf<
      "HamStopped" | "EntityNotFound" | "ConditionNotFound" | "ActionNotFound"
    >()
    for (const _ of [Ham.publishState, Ham.raise] as const) {
      expectTypeOf<Tags<ErrorOfCall<typeof _>>>().toEqualTypeOf<"HamStopped" | "InvalidArgument" | "EntityNotFound">()
    }
    for (const _ of [Ham.control, Ham.remove] as const) {
      expectTypeOf<Tags<ErrorOfCall<typeof _>>>().toEqualTypeOf<
        "HamStopped" | "InvalidArgument" | "EntityNotFound" | "ConditionNotFound" | "ActionNotFound"
      >()
    }
    expectTypeOf<Tags<ErrorOfCall<typeof Ham.verbose>>>().toEqualTypeOf<"HamStopped" | "InvalidArgument">()
  })

  it("Ham.condition cannot fail with SpawnFailed; snapshot, verbosity, events, subscribe and stop cannot fail", () => {
    expectTypeOf<Extract<ErrorOfCall<typeof Ham.condition>, Ham.SpawnFailed>>().toBeNever()
    expectTypeOf(Ham.snapshot).toEqualTypeOf<Effect.Effect<Tree.Tree, never, Ham.Ham>>()
    expectTypeOf<ErrorOf<typeof Ham.verbosity>>().toBeNever()
    expectTypeOf<ErrorOf<typeof Ham.stop>>().toBeNever()
    expectTypeOf<ErrorOf<typeof Ham.subscribe>>().toBeNever()
    expectTypeOf(Ham.events()).toEqualTypeOf<Stream.Stream<ConditionEvent, never, Ham.Ham>>()
  })

  it("the action adders add what addAction can fail with to their input's errors", () => {
    const added = Ham.condition("web", "CondDeath").pipe(Ham.restart, Ham.log("restarted"))
    expectTypeOf(added).toEqualTypeOf<
      Effect.Effect<Ham.ConditionHandle, Ham.ConditionError | Ham.AddActionError, Ham.Ham>
    >()
    const fromHandle = Ham.restart({ _tag: "ConditionHandle", entity: "web", isGlobal: false, name: "death" })
    expectTypeOf(fromHandle).toEqualTypeOf<Effect.Effect<Ham.ConditionHandle, Ham.AddActionError, Ham.Ham>>()
    expectTypeOf<Tags<Ham.AddActionError>>().toEqualTypeOf<
      "HamStopped" | "InvalidArgument" | "EntityNotFound" | "ConditionNotFound" | "DuplicateName"
    >()
    expectTypeOf(Action.restart).toEqualTypeOf<Action.Action>()
  })

  it("the service's members name the same errors as the functions", () => {
    expectTypeOf<ErrorOfService<"condition">>().toEqualTypeOf<ErrorOfCall<typeof Ham.condition>>()
    expectTypeOf<ErrorOfService<"addAction">>().toEqualTypeOf<ErrorOfCall<typeof Ham.addAction>>()
    expectTypeOf<ErrorOfService<"control">>().toEqualTypeOf<ErrorOfCall<typeof Ham.control>>()
    expectTypeOf<ErrorOfService<"snapshot">>().toBeNever()
    expectTypeOf<ErrorOfService<"stop">>().toBeNever()
    expectTypeOf<Ham.HamService["attachSelf"]>().returns.toEqualTypeOf<
      Effect.Effect<Entity.EntityHandle, Ham.AttachSelfError, Scope.Scope>
    >()
  })
})

describe("groups", () => {
  it("attaching a group fails with GroupError and needs what its fiber members need", () => {
    interface Db {
      readonly _: unique symbol
    }
    const needsDb = null as unknown as Effect.Effect<void, never, Db>
    const group = Entity.group("g", [
      Entity.fiber("a", needsDb),
      Entity.member(Entity.fiber("b", needsDb), { dependsOn: ["a"] })
    ])
    const _attached = Ham.attach(group)
    type Attached = typeof _attached
    expectTypeOf<Tags<ErrorOf<Attached>>>().toEqualTypeOf<
      | "HamStopped"
      | "InvalidArgument"
      | "DuplicateName"
      | "SpawnFailed"
      | "ProcessNotFound"
      | "ProcessNotSignallable"
      | "DependencyCycle"
      | "UnknownDependency"
      | "DependencyNotReady"
    >()
    expectTypeOf<Effect.Effect.Context<Attached>>().toEqualTypeOf<Ham.Ham | Db>()
    expectTypeOf<Effect.Effect.Success<Attached>>().toEqualTypeOf<Entity.GroupHandle>()
  })
})
