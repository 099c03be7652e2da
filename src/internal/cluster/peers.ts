/**
 * The other nodes of a cluster in this HAM's tree: each is a fiber entity `node:<name>` whose life
 * is the time the other node's HAM answers this one over the remote protocol. The life asks the
 * other HAM (`verbosity`, a read) every interval and beats the entity's HAM heartbeat at each
 * answer (so a slow node is a `CondBeatMissedLow`/`High`); when no answer came for the loss time
 * (a SIGKILLed node refuses the connection at once, a cut link answers nothing), the life fails
 * with `NodeLost`: `CondAbnormalDeath` and `CondDeath`. The watcher then waits until the node
 * answers again and attaches it again (`CondAttach`; the dead entity keeps its history and its
 * conditions).
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Entity from "../../Entity.js"
import * as Ham from "../../Ham.js"
import { NodeLost } from "../../HamError.js"
import type * as ServerApi from "../../HamServer.js"
import type { HamService } from "../../HamService.js"
import * as client from "../remote/client.js"

/** @internal where another node's HAM listens */
export interface Peer {
  readonly name: string
  readonly host: string
  readonly port: number
}

/** @internal how the other nodes are watched */
export interface WatchOptions {
  readonly intervalMillis: number
  readonly lossMillis: number
  readonly missedLow: number
  readonly missedHigh: number
  readonly auth: ServerApi.TokenSource
}

/** @internal the name of a node's entity in every other node's tree */
export const entityName = (node: string): string => `node:${node}`

interface Connection {
  readonly scope: Scope.CloseableScope
  readonly remote: HamService
}

const connect = (peer: Peer, options: WatchOptions, timeoutMillis: number) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const remote = yield* client.make({
      tcp: { host: peer.host, port: peer.port },
      auth: options.auth,
      connectTimeout: Math.max(1, timeoutMillis)
    }).pipe(Scope.extend(scope), Effect.onError(() => Scope.close(scope, Exit.void)))
    return { scope, remote } satisfies Connection
  })

/** one question to the other HAM, bounded: does it answer */
const ask = (connection: Connection, timeoutMillis: number) =>
  connection.remote.verbosity.pipe(
    Effect.timeout(Math.max(1, timeoutMillis)),
    Effect.as(true),
    Effect.catchAllCause(() => Effect.succeed(false))
  )

/** true when the node's HAM answers now (a connection made, asked once, closed) */
export const answers = (peer: Peer, options: WatchOptions) =>
  Effect.scoped(
    Effect.flatMap(
      connect(peer, options, options.lossMillis),
      (connection) => Effect.zipLeft(ask(connection, options.lossMillis), Scope.close(connection.scope, Exit.void))
    )
  ).pipe(Effect.catchAllCause(() => Effect.succeed(false)))

/** the life of a node entity: it ends (NodeLost) once the node has not answered for the loss time */
const life = (peer: Peer, options: WatchOptions) =>
  Effect.gen(function*() {
    const self = yield* Entity.Current
    let connection: Connection | undefined
    const drop = Effect.suspend(() => {
      const c = connection
      connection = undefined
      return c === undefined ? Effect.void : Scope.close(c.scope, Exit.void)
    })
    yield* Effect.addFinalizer(() => drop)
    let lastAnswer = yield* Clock.currentTimeMillis
    let reason = "no answer"
    while (true) {
      const now = yield* Clock.currentTimeMillis
      const left = lastAnswer + options.lossMillis - now
      if (connection === undefined) {
        const made = yield* Effect.either(connect(peer, options, left))
        if (made._tag === "Right") connection = made.right
        else reason = made.left.message
      }
      const answered = connection === undefined ? false : yield* ask(connection, left)
      const after = yield* Clock.currentTimeMillis
      if (answered) {
        lastAnswer = after
        yield* Ham.heartbeat(self)
      } else {
        yield* drop
        if (after - lastAnswer >= options.lossMillis) {
          return yield* new NodeLost({ node: peer.name, silentMillis: after - lastAnswer, reason })
        }
      }
      yield* Effect.sleep(answered ? options.intervalMillis : Math.min(options.intervalMillis, options.lossMillis / 5))
    }
  })

/**
 * Watches one other node for as long as it runs: its entity attached while it answers, dead when
 * lost, attached again when it answers again; detached when the watch ends (the node left the
 * cluster, or this HAM leaves).
 *
 * @internal
 */
export const watch = (ham: HamService, peer: Peer, options: WatchOptions): Effect.Effect<never> =>
  Effect.gen(function*() {
    const name = entityName(peer.name)
    while (true) {
      yield* Effect.repeat(answers(peer, options), {
        until: (ok) => ok,
        schedule: Schedule.spaced(options.intervalMillis)
      })
      const ended = yield* Deferred.make<void>()
      const attached = yield* Effect.either(ham.attach(
        Entity.fiber(name, Effect.ensuring(life(peer, options), Deferred.succeed(ended, undefined))),
        {
          heartbeat: {
            interval: options.intervalMillis,
            missedLow: options.missedLow,
            missedHigh: options.missedHigh
          }
        }
      ))
      // up already (a restart action of the user's brought it back): looked at again later
      if (attached._tag === "Left") yield* Effect.sleep(options.lossMillis)
      else yield* Deferred.await(ended)
      yield* Effect.sleep(options.intervalMillis)
    }
  }).pipe(Effect.ensuring(Effect.ignore(ham.detach(entityName(peer.name)))))
