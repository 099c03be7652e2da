/**
 * What `ham web` keeps of the HAM's events and gives its pages: the deaths and restarts of each
 * entity over the last hour (the timelines: the HAM keeps no history, so these start when `ham
 * web` does), the last events (a page's feed at its load, and after a reconnection), and the
 * events as server-sent event frames, encoded once for every connected page.
 *
 * The events are taken from one subscription in batches (`batchWindow` apart at most), so that a
 * flood costs the HAM one offer per event into a sliding queue and `ham web` a few wake-ups a
 * second; a batch larger than `maxPerBatch` sends its newest events and says how many it left out.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import type { HamService } from "../../HamService.js"
import { detail } from "../cli/top.js"
import * as view from "../cli/view.js"
import type * as cond from "../condition.js"
import type * as tree_ from "../tree.js"

/** @internal how far back the timelines go */
export const historyWindow = 3_600_000

/** @internal the marks kept per entity: the newest of the last hour */
export const maxMarks = 500

/** @internal how many of the last events a page gets at its load */
export const recentEvents = 200

/** @internal a batch waits at most this long for more events */
export const batchWindow = Duration.millis(25)

/** @internal the most events one batch sends to the pages */
export const maxPerBatch = 100

/** @internal an event as a page shows it */
export interface WebEvent {
  readonly seq: number
  readonly time: number
  readonly entity: string
  /** the event's type without `Cond`: "Death", "Restart", ... */
  readonly type: string
  /** what it says beside (`ham top`'s feed): "pid 412 SIGKILL", "restart 3 pid 415" */
  readonly detail: string
  /** a mark on the entity's timeline: a death or a restart */
  readonly mark?: "death" | "restart" | undefined
}

/** @internal a death or a restart on an entity's timeline */
export interface Mark {
  readonly seq: number
  readonly time: number
  readonly mark: "death" | "restart"
}

/** @internal an event as a page shows it */
export const webEvent = (event: cond.ConditionEvent): WebEvent => {
  const mark = event._tag === "CondDeath" ? "death" : event._tag === "CondRestart" ? "restart" : undefined
  return {
    seq: event.seq,
    time: event.time,
    entity: event.entity,
    type: event._tag.replace(/^Cond/, ""),
    detail: detail(event),
    ...(mark === undefined ? {} : { mark })
  }
}

/** @internal the frames of a batch: an event each, and a note of those left out */
export const frames = (events: ReadonlyArray<WebEvent>, leftOut: number): string =>
  (leftOut > 0 ? `event: dropped\ndata: ${leftOut}\n\n` : "") +
  events.map((e) => `id: ${e.seq}\ndata: ${JSON.stringify(e)}\n\n`).join("")

/** @internal the marks kept after `more`: those of the last hour before `now`, at most `maxMarks` */
export const keepMarks = (marks: ReadonlyArray<Mark>, more: ReadonlyArray<Mark>, now: number): Array<Mark> => {
  const all = marks.concat(more).filter((m) => m.time >= now - historyWindow)
  return all.length > maxMarks ? all.slice(all.length - maxMarks) : all
}

/** @internal the conditions of a tree node, as a page folds them */
const conditions = (cs: ReadonlyArray<tree_.ConditionNode>) =>
  cs.map((c) => ({
    name: c.name,
    type: c.type,
    enabled: c.enabled,
    fired: c.fired,
    ...(c.filter === undefined ? {} : { filter: c.filter }),
    actions: c.actions.map((a) => ({
      name: a.name,
      type: a.type,
      summary: a.summary,
      enabled: a.enabled,
      runs: a.runs,
      failures: a.failures
    }))
  }))

/** @internal the health of an entity's heartbeat: none watched, healthy, or how many periods missed */
const health = (e: tree_.EntityNode): string =>
  e.heartbeat === undefined ? "-" : e.heartbeat.unhealthy ? `missed ${e.heartbeat.missed}` : "ok"

/** @internal the page's view of the tree: `ham ls`'s cells, the health, the conditions, the timelines */
export const treeView = (
  tree: tree_.Tree,
  history: ReadonlyMap<string, ReadonlyArray<Mark>>,
  since: number,
  uptimeOf?: (pid: number) => number | undefined
) => {
  const cells = view.rows(tree, uptimeOf)
  return {
    time: tree.time,
    since,
    window: historyWindow,
    headers: view.headersOf(tree),
    entities: tree.entities.map((e, i) => ({
      name: e.name,
      kind: e.kind,
      status: e.status,
      enabled: e.enabled,
      cells: cells[i].short,
      last: cells[i].last,
      health: health(e),
      healthy: e.heartbeat?.unhealthy !== true,
      conditions: conditions(e.conditions),
      marks: (history.get(e.name) ?? []).filter((m) => m.time >= tree.time - historyWindow)
    })),
    global: conditions(tree.global.conditions)
  }
}

/** @internal what `ham web` keeps */
export interface Hub {
  /** the marks of each entity, over the last hour */
  readonly history: Effect.Effect<ReadonlyMap<string, ReadonlyArray<Mark>>>
  /** when `ham web` started listening (the HAM's clock) */
  readonly since: number
  /** the last events, oldest first, after `seq` when given */
  readonly recent: (after?: number) => ReadonlyArray<WebEvent>
  /** the frames of every batch to come, while the scope lasts */
  readonly frames: Effect.Effect<Queue.Dequeue<Uint8Array>, never, Scope.Scope>
  /** until the HAM's events end (the HAM went away); forked by the server */
  readonly run: Effect.Effect<void>
}

const encoder = new TextEncoder()

/** @internal a hub over the HAM's events, subscribed when made */
export const make = (ham: HamService): Effect.Effect<Hub, never, Scope.Scope> =>
  Effect.gen(function*() {
    const events = yield* ham.subscribe
    const since = yield* Clock.currentTimeMillis
    // a page that cannot keep up loses whole batches, the oldest first (it says so: seq gaps)
    const pages = yield* PubSub.sliding<Uint8Array>(64)
    const history = new Map<string, Array<Mark>>()
    let recent: Array<WebEvent> = []
    let listeners = 0

    const take = (batch: ReadonlyArray<cond.ConditionEvent>, now: number) => {
      const marks = new Map<string, Array<Mark>>()
      for (const event of batch) {
        const mark = event._tag === "CondDeath" ? "death" : event._tag === "CondRestart" ? "restart" : undefined
        if (mark === undefined) continue
        const list = marks.get(event.entity) ?? []
        list.push({ seq: event.seq, time: event.time, mark })
        marks.set(event.entity, list)
      }
      for (const [entity, more] of marks) history.set(entity, keepMarks(history.get(entity) ?? [], more, now))
      const shown = batch.length > maxPerBatch ? batch.slice(batch.length - maxPerBatch) : batch
      const kept = shown.length > recentEvents ? shown.slice(shown.length - recentEvents) : shown
      const web = kept.map(webEvent)
      recent = recent.concat(web)
      if (recent.length > recentEvents) recent = recent.slice(recent.length - recentEvents)
      // encoded only while a page listens: the whole batch, once for all of them
      return listeners === 0
        ? Effect.void
        : PubSub.publish(
          pages,
          encoder.encode(frames(shown === kept ? web : shown.map(webEvent), batch.length - shown.length))
        )
    }

    const run = Effect.gen(function*() {
      const first = yield* Queue.take(events)
      yield* Effect.sleep(batchWindow)
      const rest = yield* Queue.takeAll(events)
      const now = yield* Clock.currentTimeMillis
      yield* take([first, ...rest], now)
    }).pipe(Effect.forever, Effect.catchAllCause(() => Effect.void))

    return {
      history: Effect.sync(() => history),
      since,
      recent: (after) => after === undefined ? recent : recent.filter((e) => e.seq > after),
      frames: Effect.acquireRelease(
        Effect.sync(() => listeners++),
        () => Effect.sync(() => listeners--)
      ).pipe(Effect.zipRight(PubSub.subscribe(pages))),
      run
    }
  })
