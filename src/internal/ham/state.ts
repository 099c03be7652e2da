/**
 * The HAM's state: one `HamState` record holding the registry (entities → conditions → actions)
 * and the counters of the HAM itself.
 *
 * Records are mutable and only touched in synchronous sections (no other fiber runs between a
 * change and the event it publishes). Each entity record keeps its stored data (what the
 * `StateStore` writes and the tree shows: see `doc.ts`) apart from its live handles (the current
 * life, the code of a fiber entity, the notify channel of a process entity): live handles are
 * never stored.
 *
 * @internal
 */
import type * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import type * as MetricLabel from "effect/MetricLabel"
import type * as Scope from "effect/Scope"
import type * as action_ from "../action.js"
import type * as cond from "../condition.js"
import type * as entity_ from "../entity.js"
import type { Member } from "../grid.js"
import type * as heartbeat_ from "../heartbeat.js"
import type * as launch from "../launch/launcher.js"
import type { Code } from "../lives/scope.js"
import type { WatchRec } from "../watch/record.js"
import type * as validate from "./validate.js"

/** @internal where an entity is in its life cycle */
export type Status = "placeholder" | "running" | "restarting" | "dead" | "gaveUp" | "stopped"

/** @internal the restart policy of an entity (shared by every entity with the same options) */
export type Policy = validate.Policy

/** @internal what happened to an entity: its statistics and its restart window */
export interface History {
  deaths: number
  abnormalDeaths: number
  restarts: number
  missedLow: number
  missedHigh: number
  lastDeath: string | undefined
  restartTimes: ReadonlyArray<number>
  /** the back-off schedule's state (live: a custom schedule cannot be stored) */
  backoffState: unknown
}

/** @internal one shared empty history: an idle entity costs nothing until something happens to it */
export const emptyHistory: History = Object.freeze({
  deaths: 0,
  abnormalDeaths: 0,
  restarts: 0,
  missedLow: 0,
  missedHigh: 0,
  lastDeath: undefined,
  restartTimes: [],
  backoffState: undefined
})

/** @internal the entity's own history, made on first write */
export const history = (rec: EntityRec): History =>
  rec.history === emptyHistory ? (rec.history = { ...emptyHistory }) : rec.history

/** @internal one shared empty array: lists are replaced, never mutated, so idle entities share it */
export const none: ReadonlyArray<never> = []

/** @internal */
export interface ActionRec {
  readonly name: string
  action: action_.Action
  enabled: boolean
  runs: number
  failures: number
  lastFailure: string | undefined
  /** read from the store and not declared again by the application since */
  restored: boolean
}

/** @internal */
export interface ConditionRec {
  readonly name: string
  readonly type: cond.ConditionType
  enabled: boolean
  independent: boolean
  noWait: boolean
  oneShot: boolean
  readonly stateFilter: cond.StateFilter | undefined
  readonly raiseFilter: cond.RaiseFilter | undefined
  actions: ReadonlyArray<ActionRec>
  fired: number
  /** read from the store and not declared again by the application since */
  restored: boolean
}

/** @internal the heartbeat rule of an entity: stored config and count, live beat state */
export interface BeatRec {
  readonly config: BeatConfig
  count: number
  state: heartbeat_.BeatState
  seen: boolean
  /** its place on the shared clock of its interval (`grid.ts`), while it runs */
  member: Member | undefined
}

/** @internal */
export type BeatConfig = validate.HeartbeatConfig

/** @internal an existing process watched by pid */
export interface ExternalPid {
  readonly pid: number
  /** its start time (clock ticks after boot, from /proc): a reused pid is not this process */
  readonly startTime: number
  readonly pollMillis: number
}

/** @internal what a process or pid entity is started (and restarted) with: stored */
export interface ProcessData {
  readonly line: action_.CommandLine
  readonly output: launch.OutputOption
  readonly stopSignal: string
  readonly stopGraceMillis: number
  readonly nodeIpc: boolean
}

/** @internal the notify channel of a process entity: the same socket and environment for every life */
export interface Channel {
  readonly path: string
  /** writes a line to the child's open connections (`Action.notifyEntity`): how many it reached */
  readonly send: (line: string) => Effect.Effect<number>
  readonly scope: Scope.CloseableScope
  /** the variables its lives are started with (one object: launchers cache environments by it) */
  env: { readonly [key: string]: string } | undefined
}

/** @internal the current life of an entity, as its driver keeps it */
export type Life = FiberLife | ProcessLife | PidLife | SelfLife

/** @internal a life of a fiber entity */
export interface FiberLife {
  readonly _tag: "Fiber"
  readonly fiber: Fiber.RuntimeFiber<unknown, unknown>
}

/** @internal a life of a process entity: a child process the HAM started */
export interface ProcessLife {
  readonly _tag: "Process"
  readonly process: launch.Life
  /** it announced READY=1 */
  ready: boolean
}

/** @internal a life of a pid entity: an existing process, watched by polling /proc */
export interface PidLife {
  readonly _tag: "Pid"
  readonly external: ExternalPid
  readonly watcher: Fiber.RuntimeFiber<unknown, unknown>
  /** started by an earlier HAM of the store: the HAM stops its group as its own child's */
  readonly adopted: boolean
}

/** @internal what a stored record keeps of a running life (`doc.ts`) */
export interface LifeRecord {
  readonly pid: number
  /** its start time, when the process outlives its HAM: a later HAM adopts it by pid and start time */
  readonly startTime?: number | undefined
}

/** @internal the life of a self-attached entity: the caller's scope */
export interface SelfLife {
  readonly _tag: "Self"
}

/** @internal */
export interface EntityRec {
  // ---- stored (see doc.ts)
  readonly name: string
  readonly isGlobal: boolean
  kind: entity_.EntityKind
  status: Status
  enabled: boolean
  /** the published state */
  state: number
  policy: Policy
  created: number
  /** when its current life started, on the HAM's clock */
  lastStart: number
  lastEvent: number | undefined
  history: History
  conditions: ReadonlyArray<ConditionRec>
  /** process and pid entities: what they are started with */
  process: ProcessData | undefined
  /** pid entities: the process watched (also kept while it is dead, for the record) */
  external: ExternalPid | undefined
  beat: BeatRec | undefined
  // ---- live, never stored
  /** its probe and resource limits (watch/watch.ts) */
  watch: WatchRec | undefined
  life: Life | undefined
  /** bumped at every start and stop: an event of an older life is ignored */
  generation: number
  /** the order of attachment: shutdown stops entities from the last attached to the first */
  order: number
  attached: boolean
  /** read from the store and not attached again by the application since */
  restored: boolean
  /** a fiber entity's code: what each of its lives runs (code cannot be stored) */
  code: Code | undefined
  channel: Channel | undefined
  /** its metric tags, made at its first update (telemetry.ts) */
  meter: Meter | undefined
}

/** @internal an entity's metric tags (the metrics cache their hooks by these arrays) */
export interface Meter {
  readonly entity: ReadonlyArray<MetricLabel.MetricLabel>
  /** with the level of a heartbeat miss */
  readonly low: ReadonlyArray<MetricLabel.MetricLabel>
  readonly high: ReadonlyArray<MetricLabel.MetricLabel>
  /** when the last life died (precise ms), for the restart latency */
  diedAt: number | undefined
}

/** @internal the HAM: its registry and its own counters */
export interface HamState {
  readonly entities: Map<string, EntityRec>
  readonly global: EntityRec
  seq: number
  attachments: number
  stopped: boolean
  /** the store is held by another HAM now: this one acts no more (see persist.ts) */
  fenced: boolean
  /** launches in flight (a child being started, until its life is taken up or ended) */
  launching: number
  verbosity: number
  /** Effect metrics are updated (telemetry.ts) */
  readonly metrics: boolean
  /** how often one of the HAM's dispatchers died and was replaced by the watchdog fiber */
  hamFailures: number
  /** how often the watchdog fiber died and was replaced */
  watchdogFailures: number
}

/** @internal a fresh entity record (a placeholder) */
export const makeRec = (name: string, isGlobal: boolean, now: number, policy: Policy): EntityRec => ({
  name,
  isGlobal,
  kind: "placeholder",
  status: "placeholder",
  enabled: true,
  state: 0,
  policy,
  created: now,
  lastStart: now,
  lastEvent: undefined,
  history: emptyHistory,
  conditions: none,
  process: undefined,
  external: undefined,
  beat: undefined,
  watch: undefined,
  life: undefined,
  generation: 0,
  order: 0,
  attached: true,
  restored: false,
  code: undefined,
  channel: undefined,
  meter: undefined
})

/** @internal */
export const makeState = (
  globalName: string,
  now: number,
  policy: Policy,
  verbosity: number,
  metrics = true
): HamState => ({
  entities: new Map(),
  global: makeRec(globalName, true, now, policy),
  seq: 0,
  attachments: 0,
  stopped: false,
  fenced: false,
  launching: 0,
  verbosity,
  metrics,
  hamFailures: 0,
  watchdogFailures: 0
})

/** @internal true while the entity has a life or is waiting for its next one */
export const isUp = (rec: EntityRec): boolean => rec.status === "running" || rec.status === "restarting"

/**
 * The command line of the entity's restart action, when it has one of its own (QNX's "Restart
 * Line"): a restart starts it instead of the entity's attach command.
 *
 * @internal
 */
export const restartLineOf = (rec: EntityRec): action_.CommandLine | undefined => {
  for (const c of rec.conditions) {
    for (const a of c.actions) {
      if (a.action._tag === "Restart" && a.action.command !== undefined) return a.action.command
    }
  }
  return undefined
}
