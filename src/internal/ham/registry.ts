/**
 * The registry's entity operations: lookups, attach (of each kind), attachSelf, placeholders,
 * detach, and the published states and raises. Each call validates its input first (a bad one
 * changes nothing), then changes the state record in one synchronous section and publishes its
 * events; the lives are started through the drivers. Conditions and actions are in
 * `conditions.ts`.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Predicate from "effect/Predicate"
import type * as Scope from "effect/Scope"
import {
  type AttachError,
  type AttachSelfError,
  DuplicateName,
  EntityNotFound,
  HamStopped,
  InvalidArgument,
  type PublishError
} from "../../HamError.js"
import type * as Api from "../../HamService.js"
import * as action_ from "../action.js"
import * as entity_ from "../entity.js"
import type { FiberDriver } from "../lives/fiber.js"
import type { PidDriver } from "../lives/pid.js"
import type { ProcessDriver } from "../lives/process.js"
import type { SelfDriver } from "../lives/self.js"
import * as watchConfig from "../watch/config.js"
import type { WatchRec } from "../watch/record.js"
import * as watch_ from "../watch/watch.js"
import * as beats from "./beats.js"
import * as dispatch from "./dispatch.js"
import { type AttachContext, common, type Engine, quiesce } from "./engine.js"
import { handleOf } from "./handle.js"
import type { BeatConfig, EntityRec, Policy } from "./state.js"
import { isUp, makeRec, none } from "./state.js"
import * as telemetry from "./telemetry.js"
import * as validate from "./validate.js"

/** @internal the drivers the registry starts lives with */
export interface Drivers {
  readonly fiber: FiberDriver
  readonly process: ProcessDriver
  readonly pid: PidDriver
  readonly self: SelfDriver
}

/** @internal */
export { handleOf, recordOf } from "./handle.js"

const refName = (ref: entity_.EntityRef): string => (typeof ref === "string" ? ref : ref.name)
const isGlobalRef = (ref: entity_.EntityRef) => typeof ref !== "string" && ref.isGlobal

/** @internal the lookups and entity operations of the registry */
export const make = (engine: Engine, drivers: Drivers) => {
  const state = engine.state
  const entities = state.entities

  const guard = Effect.suspend(() => (state.stopped ? Effect.fail(new HamStopped()) : Effect.void))

  const findEntity = (ref: entity_.EntityRef): Effect.Effect<EntityRec, EntityNotFound> =>
    Effect.suspend(() => {
      if (isGlobalRef(ref)) return Effect.succeed(state.global)
      const rec = entities.get(refName(ref))
      return rec === undefined ? Effect.fail(new EntityNotFound({ entity: refName(ref) })) : Effect.succeed(rec)
    })

  const findRealEntity = (ref: entity_.EntityRef, what: string) =>
    Effect.flatMap(findEntity(ref), (rec) =>
      rec.isGlobal
        ? Effect.fail(validate.invalid("entity", `${what} needs a real entity, not the global one`))
        : Effect.succeed(rec))

  /** the entity a new attach may take (a placeholder, or a dead entity with its history), if any */
  const claimable = (name: string): Effect.Effect<EntityRec | undefined, DuplicateName | InvalidArgument> =>
    Effect.suspend((): Effect.Effect<EntityRec | undefined, DuplicateName | InvalidArgument> => {
      if (name === entity_.globalName) {
        return Effect.fail(validate.invalid("entity name", `"*" is reserved for the global entity`))
      }
      const existing = entities.get(name)
      return existing !== undefined && isUp(existing)
        ? Effect.fail(new DuplicateName({ kind: "entity", name }))
        : Effect.succeed(existing)
    })

  /** the record an attach fills in: a new one, or the claimable one taking up its history */
  const take = (
    name: string,
    existing: EntityRec | undefined,
    policy: Policy,
    beat: BeatConfig | undefined,
    watch: WatchRec | undefined
  ) => {
    const rec = existing ?? makeRec(name, false, engine.now(), policy)
    if (existing !== undefined) {
      rec.policy = policy
      rec.restored = false
      if (rec.history.restartTimes.length > 0 || rec.history.backoffState !== undefined) {
        rec.history.backoffState = undefined
        rec.history.restartTimes = none
      }
    }
    rec.beat = beats.beatRecFor(rec, beat)
    if (rec.watch !== undefined) engine.beats.leave(rec)
    rec.watch = watch
    rec.code = undefined
    rec.process = undefined
    rec.external = undefined
    rec.attached = true
    rec.order = ++state.attachments
    entities.set(name, rec)
    return rec
  }

  /**
   * A process or pid entity restored from the store and up again (adopted, or started again) is
   * taken up by the application's first attach of its name.
   */
  const adoptRestored = (
    name: string,
    kind: "process" | "pid",
    beat: BeatConfig | undefined,
    policy: Policy,
    watch: WatchRec | undefined
  ) => {
    const rec = entities.get(name)
    if (rec === undefined || !rec.restored || rec.kind !== kind || !isUp(rec)) return undefined
    rec.restored = false
    rec.policy = policy
    if ((beat !== undefined && rec.beat === undefined) || watch !== undefined) {
      if (beat !== undefined && rec.beat === undefined) rec.beat = beats.beatRecFor(rec, beat)
      if (watch !== undefined) {
        if (rec.watch !== undefined) engine.beats.leave(rec)
        rec.watch = watch
      }
      if (rec.status === "running") engine.beats.start(rec)
    }
    engine.changes.touch(rec)
    return rec
  }

  /** what a driver's attach is given (engine.ts, `AttachContext`) */
  const contextOf = (
    name: string,
    beat: BeatConfig | undefined,
    policy: Policy,
    watch: WatchRec | undefined
  ): AttachContext => ({
    name,
    beat,
    policy,
    claimable: claimable(name),
    take: (existing) => take(name, existing, policy, beat, watch),
    adoptRestored: (kind) => adoptRestored(name, kind, beat, policy, watch)
  })

  /** the probe and limits of an attach, checked (limits need a process: `hasProcess`) */
  const watchOf = (options: Api.AttachOptions | undefined, hasProcess: boolean) =>
    Effect.gen(function*() {
      const probe = yield* watchConfig.validateProbe(options?.probe)
      const limits = yield* watchConfig.validateLimits(options?.limits)
      if (limits !== undefined && !hasProcess) {
        return yield* Effect.fail(validate.invalid("limits", "apply to process and pid entities only"))
      }
      return watch_.watchRecFor(probe, limits)
    })

  /** the driver that attaches each kind of spec */
  const attachers = {
    Fiber: drivers.fiber.attach,
    Process: drivers.process.attach,
    Pid: drivers.pid.attach
  } as const

  const attach = (spec: entity_.EntitySpec<any>, options?: Api.AttachOptions) =>
    Effect.gen(function*() {
      yield* guard
      const name = yield* validate.validateEntityName(spec.name)
      yield* validate.validateEntitySpec(spec)
      const { heartbeat: beat, policy } = yield* validate.validateAttachOptions(options, engine.basePolicy)
      const watch = yield* watchOf(options, spec._tag !== "Fiber")
      const attacher = attachers[spec._tag] as (
        spec: entity_.EntitySpec<any>,
        context: AttachContext
      ) => Effect.Effect<EntityRec, AttachError, any>
      return handleOf(yield* attacher(spec, contextOf(name, beat, policy, watch)))
    })

  /** a restart action declared on the entity (one read from the store counts once it is declared again) */
  const hasRestart = (rec: EntityRec) =>
    rec.conditions.some((c) => c.actions.some((a) => !a.restored && action_.restarts(a.action)))

  const attachSelf = (
    name: string,
    options?: Api.AttachOptions
  ): Effect.Effect<entity_.EntityHandle, AttachSelfError, Scope.Scope> =>
    Effect.gen(function*() {
      yield* guard
      const valid = yield* validate.validateEntityName(name)
      const { heartbeat: beat, policy } = yield* validate.validateAttachOptions(options, engine.basePolicy)
      const watch = yield* watchOf(options, false)
      const existing = yield* claimable(valid)
      if (existing !== undefined && hasRestart(existing)) {
        return yield* Effect.fail(
          validate.invalid("entity", `"${valid}" holds a restart action: a self-attached entity cannot be restarted`)
        )
      }
      const rec = take(valid, existing, policy, beat, watch)
      rec.kind = "self"
      yield* drivers.self.begin(rec)
      engine.enqueue(rec, { _tag: "CondAttach", ...common(engine, rec) })
      return handleOf(rec)
    })

  const entity = (name: string) =>
    Effect.gen(function*() {
      yield* guard
      const valid = yield* validate.validateEntityName(name)
      if (valid === entity_.globalName) return entity_.global
      const existing = entities.get(valid)
      if (existing !== undefined) return handleOf(existing)
      const rec = makeRec(valid, false, engine.now(), engine.basePolicy)
      entities.set(valid, rec)
      engine.changes.touch(rec)
      return handleOf(rec)
    })

  const entityHandle = (name: string) =>
    Effect.zipRight(guard, Effect.map(findEntity(name === entity_.globalName ? entity_.global : name), handleOf))

  const detach = (ref: entity_.EntityRef) =>
    Effect.gen(function*() {
      yield* guard
      const rec = yield* findRealEntity(ref, "detach")
      // the entity leaves and its life's stop begins at once; a caller interrupted meanwhile still
      // leaves it stopped, released and announced as detached (quiesce)
      yield* Effect.uninterruptibleMask((restore) =>
        Effect.suspend(() => {
          entities.delete(rec.name)
          engine.changes.forget(rec)
          rec.attached = false
          telemetry.setStatus(state, rec, "dead")
          return Effect.ensuring(
            quiesce(engine, rec, true, restore),
            Effect.sync(() => engine.enqueue(rec, { _tag: "CondDetach", ...common(engine, rec) }))
          )
        })
      )
    })

  /** the entity for a publish: hot path, checked without Schema (which only words the error) */
  const publisher = (ref: entity_.EntityRef, what: string): EntityRec | Effect.Effect<never, PublishError> => {
    if (state.stopped) return Effect.fail(new HamStopped())
    if (isGlobalRef(ref)) {
      return Effect.fail(validate.invalid("entity", `${what} needs a real entity, not the global one`))
    }
    const rec = entities.get(refName(ref))
    return rec === undefined ? Effect.fail(new EntityNotFound({ entity: refName(ref) })) : rec
  }

  const publishState = (ref: entity_.EntityRef, value: number) =>
    Effect.suspend(() => {
      if (!validate.isCount(value)) return Effect.asVoid(validate.validateState(value))
      const rec = publisher(ref, "publishState")
      if (Effect.isEffect(rec)) return rec
      dispatch.setState(engine, rec, value)
      return Effect.void
    })

  const raise = (
    ref: entity_.EntityRef,
    input: {
      readonly type: number
      readonly class: number
      readonly severity: number
      readonly detail?: string | undefined
    }
  ) =>
    Effect.suspend(() => {
      if (
        !Predicate.isRecord(input) || !validate.isCount(input.type) || !validate.isCount(input.class) ||
        !validate.isCount(input.severity) || (input.detail !== undefined && typeof input.detail !== "string")
      ) return Effect.asVoid(validate.validateRaise(input))
      const rec = publisher(ref, "raise")
      if (Effect.isEffect(rec)) return rec
      dispatch.raise(engine, rec, input)
      return Effect.void
    })

  return {
    guard,
    findEntity,
    findRealEntity,
    hasRestart,
    attach,
    attachSelf,
    entity,
    entityHandle,
    detach,
    publishState,
    raise
  }
}
