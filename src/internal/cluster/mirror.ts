/**
 * Cross-node conditions: an entity of another node, seen in this HAM as `<node>:<entity>`
 * (`Entity.remote(node, entity)`). When this HAM has an entity of that name (a placeholder made
 * with `Ham.entity(Entity.remote(...))`, with its conditions and local actions), the cluster keeps
 * it in step with the other node's entity, through that node's events over the remote protocol:
 *
 * - the remote entity running: the local one is attached (`CondAttach`), a fiber entity whose life
 *   lasts as long as the remote one's;
 * - its restart (after its death, or `ham restart` while it ran): the local one is restarted
 *   (`CondRestart`, its restarts counted), through the HAM's local operations (`ham/local.ts`);
 * - its death: the local life ends (`CondDeath`; `CondAbnormalDeath` first when it was abnormal);
 * - its `CondRaise` and `CondState`: raised and published on the local one, so that conditions
 *   and subscribers here see them;
 * - the node lost (no connection): the local life ends abnormally (`NodeLost`).
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Condition from "../../Condition.js"
import * as Entity from "../../Entity.js"
import { NodeLost, RemoteEntityDied } from "../../HamError.js"
import type { HamService } from "../../HamService.js"
import * as entity_ from "../entity.js"
import { localOf } from "../ham/local.js"
import * as client from "../remote/client.js"
import type { Peer, WatchOptions } from "./peers.js"

/** @internal the local name of another node's entity */
export const localName: (node: string, entity: string) => string = entity_.remote

/** @internal the node and entity a local name stands for, when it names a member other than this node */
export const parse = (name: string, members: ReadonlySet<string>): Option.Option<readonly [string, string]> => {
  const at = name.indexOf(":")
  if (at <= 0 || at === name.length - 1) return Option.none()
  const node = name.slice(0, at)
  return members.has(node) ? Option.some([node, name.slice(at + 1)] as const) : Option.none()
}

type End = Deferred.Deferred<void, NodeLost | RemoteEntityDied>

/**
 * Keeps the local entity `<peer>:<entity>` in step with the peer's entity for as long as it runs
 * (interrupted when the peer leaves, or this node does).
 *
 * @internal
 */
export const mirror = (ham: HamService, peer: Peer, entity: string, options: WatchOptions): Effect.Effect<never> =>
  Effect.gen(function*() {
    const name = localName(peer.name, entity)
    let life: End | undefined
    /** how the last life ended */
    let last: Exit.Exit<void, NodeLost | RemoteEntityDied> = Exit.void
    let abnormal = false

    const end = (exit: Exit.Exit<void, NodeLost | RemoteEntityDied>) =>
      Effect.suspend(() => {
        const current = life
        life = undefined
        last = exit
        return current === undefined ? Effect.void : Deferred.done(current, exit)
      })

    // each run of the local fiber (its attach, each restart) awaits the remote life current then; one
    // the local HAM starts by itself (a restart action of the user's) ends as the last one did
    const body = Effect.suspend(() => life === undefined ? last : Deferred.await(life))
    const local = localOf.get(ham)

    const start = Effect.suspend(() => {
      if (life !== undefined) return Effect.void
      const next: End = Deferred.unsafeMake(FiberId.none)
      life = next
      // a remote restart comes right after its death: the local life that death ended may still be
      // going (its fiber ending, its death being handled), and the name still taken for a moment
      return ham.attach(Entity.fiber(name, body)).pipe(
        Effect.retry({
          while: (error) => error._tag === "DuplicateName" && life === next,
          schedule: Schedule.spaced("10 millis"),
          times: 200
        }),
        Effect.catchAll(() => Effect.sync(() => (life = undefined)))
      )
    })

    /** the local entity is not there, or never ran (a placeholder): it can only be attached */
    const unstarted = () => {
      const status = local?.statusOf(name)
      return status === undefined || status === "placeholder"
    }

    /** the remote entity restarted: the local one restarted too (`CondRestart`), or attached when it never ran */
    const restart = Effect.suspend(() => {
      if (local === undefined || unstarted()) return start
      if (life !== undefined) {
        // it ran here: a restart without a death (`ham restart` there)
        return Effect.catchAll(ham.restartEntity(name), () => Effect.void)
      }
      const next: End = Deferred.unsafeMake(FiberId.none)
      life = next
      // after its death: once the local life that death ended is down, its next life started
      const down = Effect.suspend(() => {
        const status = local.statusOf(name)
        return status === "running" || status === "restarting" ? Effect.fail("up") : Effect.void
      })
      return down.pipe(
        Effect.retry({ schedule: Schedule.spaced("10 millis"), times: 200 }),
        Effect.zipRight(Effect.suspend(() => unstarted() ? Effect.fail("gone") : local.resume(name))),
        Effect.catchAll(() =>
          Effect.suspend(() => {
            if (life !== next) return Effect.void
            life = undefined
            // detached meanwhile: attached as new
            return unstarted() ? start : Effect.void
          })
        )
      )
    })

    const onEvent = (event: Condition.ConditionEvent): Effect.Effect<void> => {
      switch (event._tag) {
        case "CondAttach":
          abnormal = false
          return start
        case "CondRestart":
          abnormal = false
          return restart
        case "CondAbnormalDeath":
          abnormal = true
          return Effect.void
        case "CondDeath": {
          const exit = abnormal
            ? Exit.fail(new RemoteEntityDied({ node: peer.name, entity }))
            : Exit.void
          abnormal = false
          return end(exit)
        }
        case "CondDetach":
          return end(Exit.void)
        case "CondRaise":
          return Effect.ignore(ham.raise(name, {
            type: event.type,
            class: event.class,
            severity: event.severity,
            detail: event.detail
          }))
        case "CondState":
          return Effect.ignore(ham.publishState(name, event.to))
        default:
          return Effect.void
      }
    }

    /** one connection's worth: the remote entity's status, then its events until the connection ends */
    const follow = Effect.gen(function*() {
      const scope = yield* Scope.make()
      yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
      const remote = yield* client.make({
        tcp: { host: peer.host, port: peer.port },
        auth: options.auth,
        connectTimeout: options.lossMillis
      }).pipe(Scope.extend(scope))
      // subscribed first, then the status: nothing missed between the two
      const queue = yield* remote.subscribe.pipe(Scope.extend(scope))
      const tree = yield* remote.snapshot
      const there = tree.entities.find((e) => e.name === entity)
      if (there !== undefined && there.status === "running") yield* start
      // the queue is shut down when the connection is lost: the stream ends
      yield* Stream.fromQueue(queue).pipe(
        Stream.filter((event) => event.entity === entity),
        Stream.runForEach(onEvent)
      )
    }).pipe(Effect.scoped, Effect.ignore)

    const lost = (reason: string) => end(Exit.fail(new NodeLost({ node: peer.name, silentMillis: 0, reason })))
    // the node gone from the cluster (or this one leaving): the entity seen here dies with it
    yield* Effect.addFinalizer(() => lost("it left the cluster"))
    while (true) {
      yield* follow
      yield* lost("its events ended")
      yield* Effect.sleep(options.intervalMillis)
    }
  }).pipe(Effect.scoped)
