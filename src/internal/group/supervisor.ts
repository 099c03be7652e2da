/**
 * A group at work (OTP's supervisor, on the HAM's entities): attaches its members in start order,
 * each after its dependencies are ready; then one fiber per group tree takes the deaths of its
 * members from the HAM's events, one at a time, and restarts as the group's strategy says
 * (`oneForOne`, `oneForAll`, `restForOne`) within the group's intensity. A group that gives up stops
 * its members and is a dead member of its parent (escalation); a significant member that ends may
 * shut its group down (`autoShutdown`). A dependency's restart restarts or pauses its dependents.
 *
 * Members are held and started again through the HAM's local operations (`ham/local.ts`): a hold
 * is not a death, a start again is a restart (`CondRestart`).
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import type * as Entity from "../../Entity.js"
import { DependencyNotReady, type GroupError, InvalidArgument } from "../../HamError.js"
import type * as Api from "../../HamService.js"
import type * as cond from "../condition.js"
import type { LocalOps } from "../ham/local.js"
import { localOf } from "../ham/local.js"
import * as intensity_ from "../intensity.js"
import * as probe_ from "../probe.js"
import type * as tree from "../tree.js"
import * as spec_ from "./spec.js"

type GroupStatus = tree.GroupNode["status"]

/** a member at work: its plan and, for a group, its restart window and status */
interface Leaf {
  readonly _tag: "Leaf"
  readonly plan: spec_.LeafPlan
  readonly parent: Group
  /** restarts this group started whose `CondRestart` is still to come */
  ownStarts: number
}

interface Group {
  readonly _tag: "Group"
  readonly plan: spec_.GroupPlan
  readonly parent: Group | undefined
  readonly members: ReadonlyArray<Node>
  status: GroupStatus
  restartTimes: ReadonlyArray<number>
  restarts: number
}

type Node = Leaf | Group

const build = (plan: spec_.NodePlan, parent: Group | undefined, byName: Map<string, Node>): Node => {
  if (plan._tag === "Leaf") {
    const leaf: Leaf = { _tag: "Leaf", plan, parent: parent!, ownStarts: 0 }
    byName.set(plan.name, leaf)
    return leaf
  }
  const members: Array<Node> = []
  const group: Group = { _tag: "Group", plan, parent, members, status: "starting", restartTimes: [], restarts: 0 }
  byName.set(plan.name, group)
  for (const m of plan.members) members.push(build(m, group, byName))
  return group
}

const leavesOf = (node: Node): ReadonlyArray<Leaf> => node._tag === "Leaf" ? [node] : node.members.flatMap(leavesOf)

const groupsOf = (node: Node): ReadonlyArray<Group> =>
  node._tag === "Leaf" ? [] : [node, ...node.members.flatMap(groupsOf)]

const within = (node: Node, ancestor: Group): boolean => {
  for (let at: Node | undefined = node; at !== undefined; at = at.parent) if (at === ancestor) return true
  return false
}

const nodeOf = (group: Group): tree.GroupNode => ({
  name: group.plan.name,
  ...(group.parent === undefined ? {} : { parent: group.parent.plan.name }),
  strategy: group.plan.strategy,
  status: group.status,
  maxRestarts: group.plan.intensity.maxRestarts,
  withinMillis: group.plan.intensity.withinMillis,
  autoShutdown: group.plan.autoShutdown,
  restarts: group.restarts,
  members: group.members.map((m) => ({
    name: m.plan.name,
    kind: m._tag === "Leaf" ? "entity" : "group",
    restart: m.plan.restart,
    significant: m.plan.significant,
    dependsOn: m.plan.dependsOn,
    onDependencyRestart: m.plan.onDependencyRestart
  }))
})

const pollMillis = 10

/**
 * Attaches a group: plans it (a bad spec changes nothing), attaches its members in start order
 * (each after its dependencies are ready), then supervises it in a fiber the HAM owns. A member
 * that cannot be attached, or a dependency not ready in time, detaches what was attached.
 *
 * @internal
 */
export const attach = (
  ham: Api.HamService,
  spec: spec_.GroupSpec<unknown>
): Effect.Effect<Entity.GroupHandle, GroupError> =>
  Effect.gen(function*() {
    const local = localOf.get(ham)
    if (local === undefined) {
      return yield* new InvalidArgument({ argument: "group", reason: "groups run in the HAM's own process" })
    }
    const existing = yield* ham.snapshot
    const taken = new Set([...existing.entities.map((e) => e.name), ...local.groups.keys()])
    const plan = yield* spec_.plan(spec, (name) => taken.has(name))
    const byName = new Map<string, Node>()
    const root = build(plan, undefined, byName) as Group
    const order = leavesOf(root)
    const rank = new Map(order.map((leaf, i) => [leaf, i]))
    const groups = groupsOf(root)
    const sup = supervisor(ham, local, root, byName, rank)

    // the members' deaths and restarts, observed before the first member starts: none is missed
    const events = yield* Queue.unbounded<cond.ConditionEvent>()
    const stopObserving = local.observe((event) => {
      if ((event._tag === "CondDeath" || event._tag === "CondRestart") && byName.has(event.entity)) {
        Queue.unsafeOffer(events, event)
      }
    })
    const done = Effect.zipRight(Effect.sync(stopObserving), Queue.shutdown(events))
    for (const g of groups) local.groups.set(g.plan.name, () => nodeOf(g))
    const attached: Array<string> = []
    const undo = Effect.zipRight(
      Effect.forEach(attached.reverse(), (name) => Effect.ignore(ham.detach(name)), { discard: true }),
      Effect.sync(() => {
        for (const g of groups) local.groups.delete(g.plan.name)
      })
    )
    yield* sup.startInitial(root, attached).pipe(
      Effect.tapError(() => Effect.zipRight(undo, done)),
      Effect.onInterrupt(() => Effect.zipRight(undo, done))
    )
    local.fork(Effect.ensuring(sup.loop(events), done))
    return { _tag: "GroupHandle", name: plan.name } as const
  })

const supervisor = (
  ham: Api.HamService,
  local: LocalOps,
  root: Group,
  byName: Map<string, Node>,
  rank: Map<Leaf, number>
) => {
  const isUp = (name: string) => {
    const status = local.statusOf(name)
    return status === "running" || status === "restarting"
  }

  const readyNow = (node: Node): Effect.Effect<boolean> => {
    if (node._tag === "Group") {
      return node.status === "running"
        ? Effect.map(Effect.forEach(node.members, readyNow), (all) => all.every(Boolean))
        : Effect.succeed(false)
    }
    const name = node.plan.name
    if (local.statusOf(name) !== "running") return Effect.succeed(false)
    const ready = node.plan.ready
    if (ready === "started") return Effect.succeed(true)
    if (ready === "notify") return Effect.sync(() => local.isReady(name))
    if ("check" in ready) return Effect.orElseSucceed(ready.check, () => false)
    return probe_.accepts({ host: ready.host ?? "127.0.0.1", port: ready.port })
  }

  /** waits until `node` is ready, looking every 10 ms; false when it is not within `millis` */
  const awaitReady = (node: Node, millis: number): Effect.Effect<boolean> => {
    const poll: Effect.Effect<void> = Effect.flatMap(
      readyNow(node),
      (ok) => ok ? Effect.void : Effect.zipRight(Effect.sleep(pollMillis), poll)
    )
    return Effect.map(Effect.timeoutOption(poll, millis), (o) => o._tag === "Some")
  }

  /** waits for the dependencies of `node`, each up to its `readyTimeout`; the first not ready in time, if any */
  const awaitDependencies = (node: Node): Effect.Effect<Node | undefined> =>
    Effect.gen(function*() {
      for (const name of node.plan.dependsOn) {
        const dep = byName.get(name)!
        if (!(yield* awaitReady(dep, dep.plan.readyTimeoutMillis))) return dep
      }
      return undefined
    })

  const startInitial = (node: Node, attached: Array<string>): Effect.Effect<void, GroupError> =>
    Effect.gen(function*() {
      if (node._tag === "Group") {
        for (const m of node.members) yield* startInitial(m, attached)
        node.status = "running"
        return
      }
      const late = yield* awaitDependencies(node)
      if (late !== undefined) {
        return yield* new DependencyNotReady({ entity: late.plan.name, timeoutMillis: late.plan.readyTimeoutMillis })
      }
      yield* ham.attach(node.plan.spec as Entity.EntitySpec<never>)
      attached.push(node.plan.name)
    })

  /** starts `node` again (a group: fresh, with an empty restart window), each leaf after its dependencies */
  const start = (node: Node): Effect.Effect<void> =>
    Effect.gen(function*() {
      if (local.stopped()) return
      if (node._tag === "Group") {
        node.status = "starting"
        node.restartTimes = []
        for (const m of node.members) yield* start(m)
        if (node.status === "starting") node.status = "running"
        return
      }
      const name = node.plan.name
      if (isUp(name)) return
      const late = yield* awaitDependencies(node)
      if (late !== undefined) {
        yield* Effect.logWarning(`effect-ham: group member "${name}" starts though "${late.plan.name}" is not ready`)
      }
      node.ownStarts++
      const failed = yield* Effect.flip(local.resume(name)).pipe(Effect.option)
      if (failed._tag === "Some") {
        node.ownStarts--
        yield* Effect.logWarning(`effect-ham: group member "${name}" did not start: ${failed.value}`)
      }
    })

  const hold = (leaves: ReadonlyArray<Leaf>): Effect.Effect<void> =>
    Effect.forEach(
      [...leaves].sort((a, b) => rank.get(b)! - rank.get(a)!),
      (leaf) => local.hold(leaf.plan.name),
      { discard: true }
    )

  /**
   * The leaves that depend on something in `nodes` (transitively), with how they take its restart: a
   * node restarts with what it holds and, for its dependents, so do the groups that hold it. A leaf
   * depends through its own `dependsOn` or one of its groups', in the mode of the one that names it
   * (`pause` wins over `restart`).
   */
  const dependentsOf = (nodes: ReadonlyArray<Node>): Map<Leaf, "restart" | "pause"> => {
    const found = new Map<Leaf, "restart" | "pause">()
    const inside = (leaf: Leaf) => nodes.some((n) => n === leaf || (n._tag === "Group" && within(leaf, n)))
    const restarting = (n: Node): Array<Node> => {
      const ancestors: Array<Node> = []
      for (let at = n.parent; at !== undefined && at !== root; at = at.parent) ancestors.push(at)
      return [n, ...ancestors, ...(n._tag === "Group" ? [...groupsOf(n), ...leavesOf(n)] : [])]
    }
    let frontier = new Set(nodes.flatMap(restarting))
    while (frontier.size > 0) {
      const next = new Set<Node>()
      for (const leaf of rank.keys()) {
        if (inside(leaf)) continue
        let mode: "restart" | "pause" | undefined
        for (let at: Node | undefined = leaf; at !== undefined && at !== root; at = at.parent) {
          const m = at.plan.onDependencyRestart
          if (m !== "none" && at.plan.dependsOn.some((d) => frontier.has(byName.get(d)!))) {
            mode = mode === "pause" ? mode : m
          }
        }
        if (mode === undefined) continue
        const before = found.get(leaf)
        if (before === undefined) { for (const n of restarting(leaf)) next.add(n) }
        if (before !== "pause") found.set(leaf, mode)
      }
      frontier = next
    }
    return found
  }

  /** the restart of some members of `group`: held, started again in order, then their dependents */
  const restartMembers = (members: ReadonlyArray<Node>): Effect.Effect<void> =>
    Effect.gen(function*() {
      const dependents = dependentsOf(members)
      const paused = [...dependents].filter(([, m]) => m === "pause").map(([leaf]) => leaf)
      yield* hold([...members.flatMap(leavesOf), ...paused])
      // a temporary member is stopped with the others, never started again (OTP)
      for (const m of members) if (m.plan.restart !== "temporary") yield* start(m)
      const after = [...dependents.keys()].sort((a, b) => rank.get(a)! - rank.get(b)!)
      for (const leaf of after) {
        if (dependents.get(leaf) === "restart") {
          // it runs on until what it depends on is ready again, then restarts
          yield* awaitDependencies(leaf)
          yield* local.hold(leaf.plan.name)
        }
        yield* start(leaf)
      }
    })

  /** a member's life ended: a leaf died, or a group gave up (abnormal) or shut down (normal) */
  const exited = (node: Node, abnormal: boolean): Effect.Effect<void> =>
    Effect.gen(function*() {
      const group = node.parent
      if (group === undefined || group.status !== "running") return
      const restart = node.plan.restart === "permanent" || (node.plan.restart === "transient" && abnormal)
      if (!restart) {
        const dependents = dependentsOf([node])
        yield* hold([...dependents.keys()])
        if (node.plan.significant) yield* autoShutdown(group)
        return
      }
      const now = yield* Clock.currentTimeMillis
      const decision = intensity_.addRestart(group.restartTimes, now, group.plan.intensity)
      group.restartTimes = decision.restarts
      if (decision._tag === "GiveUp") {
        yield* Effect.logWarning(
          `effect-ham: group "${group.plan.name}" gave up: more than ${group.plan.intensity.maxRestarts} restarts ` +
            `in ${group.plan.intensity.withinMillis} ms`
        )
        yield* end(group, "gaveUp")
        return yield* exited(group, true)
      }
      group.restarts++
      const members = group.members
      const at = members.indexOf(node)
      const set = group.plan.strategy === "oneForOne"
        ? [node]
        : group.plan.strategy === "oneForAll"
        ? members
        : members.slice(at)
      yield* restartMembers(set)
    })

  /** the group ends (gave up, or shut down): its members held in reverse order, and their dependents */
  const end = (group: Group, status: "gaveUp" | "shutdown"): Effect.Effect<void> =>
    Effect.gen(function*() {
      for (const g of groupsOf(group)) g.status = status
      const dependents = dependentsOf([group])
      yield* hold([...leavesOf(group), ...dependents.keys()])
    })

  const isDown = (node: Node) =>
    node._tag === "Leaf" ? !isUp(node.plan.name) : node.status === "gaveUp" || node.status === "shutdown"

  const autoShutdown = (group: Group): Effect.Effect<void> => {
    const mode = group.plan.autoShutdown
    const significant = group.members.filter((m) => m.plan.significant)
    const shut = mode === "anySignificant" || (mode === "allSignificant" && significant.every(isDown))
    if (!shut) return Effect.void
    return Effect.zipRight(end(group, "shutdown"), exited(group, false))
  }

  /** a member is up again by someone else's restart (an operator's, an action's): its dependents follow */
  const restartedElsewhere = (leaf: Leaf): Effect.Effect<void> =>
    Effect.gen(function*() {
      const dependents = [...dependentsOf([leaf]).keys()].sort((a, b) => rank.get(a)! - rank.get(b)!)
      for (const d of dependents) {
        yield* local.hold(d.plan.name)
        yield* start(d)
      }
    })

  const active = (leaf: Leaf) => {
    for (let g: Group | undefined = leaf.parent; g !== undefined; g = g.parent) if (g.status !== "running") return false
    return true
  }

  const onEvent = (event: cond.ConditionEvent): Effect.Effect<void> => {
    const node = byName.get(event.entity)
    if (node === undefined || node._tag !== "Leaf") return Effect.void
    if (event._tag === "CondRestart") {
      if (node.ownStarts > 0) {
        node.ownStarts--
        return Effect.void
      }
      return active(node) ? restartedElsewhere(node) : Effect.void
    }
    // a death already followed by a new life (restarted with its group) is old news
    if (event._tag !== "CondDeath" || local.statusOf(event.entity) !== "dead" || !active(node)) return Effect.void
    return exited(node, event.abnormal)
  }

  const loop = (events: Queue.Dequeue<cond.ConditionEvent>): Effect.Effect<never> =>
    Effect.forever(Effect.flatMap(Queue.take(events), onEvent))

  return { startInitial, loop }
}
