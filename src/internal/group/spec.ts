/**
 * Groups as data (`Entity.group`, `Entity.member`): the specs, and their plan: the options
 * checked, the names unique, the dependencies known and acyclic, the members of each group in
 * start order (member order, except that a member starts after the members it depends on). Pure:
 * a bad spec is refused before anything is attached.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { Pipeable } from "effect/Pipeable"
import { pipeArguments } from "effect/Pipeable"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import type * as Entity from "../../Entity.js"
import { DependencyCycle, DuplicateName, InvalidArgument, UnknownDependency } from "../../HamError.js"
import * as entity_ from "../entity.js"
import type * as intensity_ from "../intensity.js"
import * as options_ from "../options.js"

/** @internal */
export const TypeId: unique symbol = Symbol.for("effect-ham/Entity/Group") as never

/** @internal */
export const MemberTypeId: unique symbol = Symbol.for("effect-ham/Entity/Member") as never

/** @internal OTP's restart strategies */
export type Strategy = "oneForOne" | "oneForAll" | "restForOne"

/** @internal OTP's restart types */
export type RestartType = "permanent" | "transient" | "temporary"

/** @internal OTP's `auto_shutdown` */
export type AutoShutdown = "never" | "anySignificant" | "allSignificant"

/** @internal what a dependency's restart does to its dependents */
export type OnDependencyRestart = "restart" | "pause" | "none"

/** @internal when a member counts as ready for the members that depend on it */
export type Readiness =
  | "started"
  | "notify"
  | { readonly port: number; readonly host?: string | undefined }
  | { readonly check: Effect.Effect<boolean> }

/** @internal */
export interface GroupOptions {
  readonly strategy?: Strategy | undefined
  readonly intensity?: {
    readonly maxRestarts?: number | undefined
    readonly within?: Duration.DurationInput | undefined
  } | undefined
  readonly autoShutdown?: AutoShutdown | undefined
}

/** @internal */
export interface MemberOptions {
  readonly restart?: RestartType | undefined
  readonly significant?: boolean | undefined
  readonly dependsOn?: ReadonlyArray<string> | undefined
  readonly onDependencyRestart?: OnDependencyRestart | undefined
  readonly ready?: Readiness | undefined
  readonly readyTimeout?: Duration.DurationInput | undefined
}

/** @internal */
export interface GroupSpec<R = never> extends Pipeable {
  readonly [TypeId]: typeof TypeId
  readonly _tag: "Group"
  readonly name: string
  readonly members: ReadonlyArray<Member<R>>
  readonly options: GroupOptions
}

/** @internal a member with its options */
export interface MemberSpec<R = never> {
  readonly [MemberTypeId]: typeof MemberTypeId
  readonly spec: Entity.EntitySpec<R> | GroupSpec<R>
  readonly options: MemberOptions
}

/** @internal */
export type Member<R = never> = Entity.EntitySpec<R> | GroupSpec<R> | MemberSpec<R>

const GroupProto = {
  [TypeId]: TypeId,
  pipe() {
    return pipeArguments(this, arguments)
  },
  toJSON(this: GroupSpec<unknown>) {
    return { _id: "GroupSpec", name: this.name, members: this.members.length }
  }
}

/** @internal */
export const group = <R>(name: string, members: ReadonlyArray<Member<R>>, options?: GroupOptions): GroupSpec<R> => {
  const self = Object.create(GroupProto)
  self._tag = "Group"
  self.name = name
  self.members = members
  self.options = options ?? {}
  return self
}

/** @internal */
export const member = <R>(spec: Entity.EntitySpec<R> | GroupSpec<R>, options: MemberOptions): MemberSpec<R> => ({
  [MemberTypeId]: MemberTypeId,
  spec,
  options
})

/** @internal */
export const isGroupSpec = (u: unknown): u is GroupSpec<unknown> => Predicate.hasProperty(u, TypeId)

const isMemberSpec = (u: unknown): u is MemberSpec<unknown> => Predicate.hasProperty(u, MemberTypeId)

// ---------------------------------------------------------------------------------------------
// the plan
// ---------------------------------------------------------------------------------------------

/** @internal what a member of a group is, checked: a leaf (an entity) or a group */
export interface PlanCommon {
  readonly name: string
  readonly restart: RestartType
  readonly significant: boolean
  readonly dependsOn: ReadonlyArray<string>
  readonly onDependencyRestart: OnDependencyRestart
  readonly ready: Readiness
  readonly readyTimeoutMillis: number
}

/** @internal */
export interface LeafPlan extends PlanCommon {
  readonly _tag: "Leaf"
  readonly spec: Entity.EntitySpec<unknown>
}

/** @internal */
export interface GroupPlan extends PlanCommon {
  readonly _tag: "Group"
  readonly strategy: Strategy
  readonly intensity: intensity_.Intensity
  readonly autoShutdown: AutoShutdown
  /** in start order */
  readonly members: ReadonlyArray<NodePlan>
}

/** @internal */
export type NodePlan = LeafPlan | GroupPlan

/** @internal OTP's defaults: at most 1 restart in 5 seconds */
export const defaultIntensity: intensity_.Intensity = { maxRestarts: 1, withinMillis: 5_000 }

const defaultReadyTimeoutMillis = 30_000

/** @internal the errors a plan can be refused with */
export type PlanError = InvalidArgument | DuplicateName | DependencyCycle | UnknownDependency

const invalid = (argument: string, reason: string) => new InvalidArgument({ argument, reason })

const oneOf = <A extends string>(value: unknown, allowed: ReadonlyArray<A>, fallback: A, what: string): A => {
  if (value === undefined) return fallback
  if (typeof value === "string" && (allowed as ReadonlyArray<string>).includes(value)) return value as A
  throw invalid(what, `must be one of ${allowed.join(", ")} (got ${options_.show(value)})`)
}

const millisOf = (input: unknown, what: string, fallback: number): number => {
  if (input === undefined) return fallback
  const millis = options_.isNegativeDuration(input)
    ? NaN
    : Duration.decodeUnknown(input as Duration.DurationInput).pipe((o) =>
      o._tag === "Some" ? Duration.toMillis(o.value) : NaN
    )
  if (!(millis > 0)) throw invalid(what, `must be a duration above 0 (got ${options_.show(input)})`)
  return millis
}

const checkName = (name: unknown, what: string): string => {
  const result = Schema.decodeUnknownEither(entity_.Name)(name)
  if (result._tag === "Left") throw invalid(what, `${options_.show(name)} ${result.left.message.split("\n").pop()}`)
  return result.right
}

const checkReady = (ready: unknown): Readiness => {
  if (ready === undefined) return "started"
  if (ready === "started" || ready === "notify") return ready
  if (Predicate.isRecord(ready) && "check" in ready && Effect.isEffect(ready.check)) return ready as Readiness
  if (Predicate.isRecord(ready) && "port" in ready) {
    const port = ready.port
    if (typeof port === "number" && Number.isInteger(port) && port > 0 && port < 65536) {
      if (ready.host === undefined || typeof ready.host === "string") return ready as Readiness
    }
  }
  throw invalid("ready", `must be "started", "notify", { port, host? } or { check } (got ${options_.show(ready)})`)
}

const memberKeys = ["restart", "significant", "dependsOn", "onDependencyRestart", "ready", "readyTimeout"]

const planMember = (m: unknown, names: Set<string>, parent: string): NodePlan => {
  const spec = isMemberSpec(m) ? m.spec : m
  const options: MemberOptions = isMemberSpec(m) ? m.options ?? {} : {}
  const problem = options_.optionsProblem(options, memberKeys, "member options")
  if (problem !== undefined) throw options_.fromProblem(problem)
  if (!isGroupSpec(spec) && !entity_.isEntitySpec(spec)) {
    throw invalid("members", `a member of group "${parent}" must be an entity or a group spec`)
  }
  const name = checkName(spec.name, "member name")
  if (names.has(name)) throw new DuplicateName({ kind: "entity", name })
  names.add(name)
  const restart = oneOf(options.restart, ["permanent", "transient", "temporary"], "permanent", "restart")
  const significant = options.significant ?? false
  if (typeof significant !== "boolean") throw invalid("significant", "must be a boolean")
  if (significant && restart === "permanent") {
    throw invalid("significant", `"${name}": a significant member is transient or temporary (as in OTP)`)
  }
  const dependsOn = options.dependsOn ?? []
  if (!Array.isArray(dependsOn) || dependsOn.some((d) => typeof d !== "string")) {
    throw invalid("dependsOn", `"${name}": must be a list of names`)
  }
  const common: PlanCommon = {
    name,
    restart,
    significant,
    dependsOn,
    onDependencyRestart: oneOf(
      options.onDependencyRestart,
      ["restart", "pause", "none"],
      "restart",
      "onDependencyRestart"
    ),
    ready: checkReady(options.ready),
    readyTimeoutMillis: millisOf(options.readyTimeout, "readyTimeout", defaultReadyTimeoutMillis)
  }
  return isGroupSpec(spec)
    ? planGroupBody(spec, common, names)
    : { _tag: "Leaf", ...common, spec: spec as Entity.EntitySpec<unknown> }
}

const groupKeys = ["strategy", "intensity", "autoShutdown"]

const planGroupBody = (spec: GroupSpec<unknown>, common: PlanCommon, names: Set<string>): GroupPlan => {
  const options = spec.options
  const problem = options_.optionsProblem(options, groupKeys, "group options") ??
    (options.intensity === undefined
      ? undefined
      : options_.optionsProblem(options.intensity, ["maxRestarts", "within"], "group intensity"))
  if (problem !== undefined) throw options_.fromProblem(problem)
  const maxRestarts = options.intensity?.maxRestarts ?? defaultIntensity.maxRestarts
  if (!(maxRestarts === Infinity || (Number.isInteger(maxRestarts) && maxRestarts >= 0))) {
    throw invalid("maxRestarts", `must be a non-negative integer (got ${options_.show(maxRestarts)})`)
  }
  if (!Array.isArray(spec.members) || spec.members.length === 0) {
    throw invalid("members", `group "${common.name}" needs at least one member`)
  }
  const members = spec.members.map((m) => planMember(m, names, common.name))
  return {
    _tag: "Group",
    ...common,
    strategy: oneOf(options.strategy, ["oneForOne", "oneForAll", "restForOne"], "oneForOne", "strategy"),
    intensity: {
      maxRestarts,
      withinMillis: millisOf(options.intensity?.within, "intensity within", defaultIntensity.withinMillis)
    },
    autoShutdown: oneOf(options.autoShutdown, ["never", "anySignificant", "allSignificant"], "never", "autoShutdown"),
    members
  }
}

/** @internal every name in the node's subtree, the node's own first */
export const namesOf = (node: NodePlan): ReadonlyArray<string> =>
  node._tag === "Leaf" ? [node.name] : [node.name, ...node.members.flatMap(namesOf)]

/** the dependencies of a subtree (of every node in it) that point outside it */
const outsideDeps = (node: NodePlan): ReadonlyArray<{ readonly from: string; readonly to: string }> => {
  const inside = new Set(namesOf(node))
  const all: Array<{ from: string; to: string }> = []
  const walk = (n: NodePlan) => {
    for (const to of n.dependsOn) all.push({ from: n.name, to })
    if (n._tag === "Group") n.members.forEach(walk)
  }
  walk(node)
  return all.filter((d) => !inside.has(d.to))
}

/** sorts a group's members: member order, each after the siblings it depends on; a cycle is refused */
const sortMembers = (group: GroupPlan): GroupPlan => {
  const members = group.members.map((m) => m._tag === "Group" ? sortMembers(m) : m)
  const siblingOf = new Map<string, number>()
  members.forEach((m, i) => {
    for (const n of namesOf(m)) siblingOf.set(n, i)
  })
  const deps = members.map((m) =>
    new Set(outsideDeps(m).flatMap((d) => siblingOf.has(d.to) ? [siblingOf.get(d.to)!] : []))
  )
  const placed: Array<number> = []
  const done = new Set<number>()
  while (placed.length < members.length) {
    const next = members.findIndex((_, i) => !done.has(i) && [...deps[i]].every((d) => done.has(d)))
    if (next === -1) {
      // a cycle: follow unplaced dependencies from the first unplaced member until one repeats
      const path: Array<number> = []
      let at = members.findIndex((_, i) => !done.has(i))
      while (!path.includes(at)) {
        path.push(at)
        at = [...deps[at]].find((d) => !done.has(d))!
      }
      const cycle = [...path.slice(path.indexOf(at)), at].map((i) => members[i].name)
      throw new DependencyCycle({ cycle })
    }
    done.add(next)
    placed.push(next)
  }
  return { ...group, members: placed.map((i) => members[i]) }
}

/**
 * The plan of a group spec: checked, its names unique (`taken`: the names already in use), its
 * dependencies known and acyclic, its members sorted. Fails with the first problem found.
 *
 * @internal
 */
export const plan = (spec: GroupSpec<unknown>, taken: (name: string) => boolean): Effect.Effect<GroupPlan, PlanError> =>
  Effect.suspend(() => {
    try {
      const names = new Set<string>()
      const root = planMember(spec, names, "")
      if (root._tag !== "Group") throw invalid("group", "not a group spec")
      for (const name of names) if (taken(name)) throw new DuplicateName({ kind: "entity", name })
      const check = (n: NodePlan, ancestors: ReadonlyArray<string>) => {
        for (const d of n.dependsOn) {
          if (!names.has(d)) throw new UnknownDependency({ entity: n.name, dependency: d })
          if (d === n.name || ancestors.includes(d)) throw new DependencyCycle({ cycle: [n.name, d, n.name] })
        }
        if (n._tag === "Group") { for (const m of n.members) check(m, [...ancestors, n.name]) }
      }
      check(root, [])
      return Effect.succeed(sortMembers(root))
    } catch (e) {
      if (
        e instanceof InvalidArgument || e instanceof DuplicateName || e instanceof DependencyCycle ||
        e instanceof UnknownDependency
      ) return Effect.fail(e)
      throw e
    }
  })
