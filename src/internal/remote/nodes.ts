/**
 * The other HAMs a HAM's node-qualified actions call (`Action.publishState`, `Action.raise` with a
 * `node`): one client connection per address, made when an action first needs it and kept until
 * the HAM stops (then closed, with the client's fibers). A connection that fails, or is lost, is
 * dropped: the next action connects again. Every call is bounded (connecting included), and every
 * way it goes wrong is the action's failure, a reason its alternates run on.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Scope from "effect/Scope"
import type * as ClientApi from "../../HamClient.js"
import type { HamService } from "../../HamService.js"
import { describeCause } from "../ham/describe.js"
import type { Nodes } from "../ham/engine.js"
import * as node_ from "../node.js"
import * as client from "./client.js"

/** @internal how long a call to another HAM may take when its action says nothing */
export const defaultTimeoutMillis = 5_000

/** the client's options for an address */
const clientOptions = (node: node_.NodeAddress, timeoutMillis: number): ClientApi.ClientOptions => {
  const connectTimeout = Math.max(1, timeoutMillis)
  if ("unix" in node) return { unix: node.unix, connectTimeout }
  return {
    tcp: node.tcp,
    auth: node.tokenFile !== undefined
      ? { tokenFile: node.tokenFile }
      : node.tokenEnv !== undefined
      ? { tokenEnv: node.tokenEnv }
      : undefined,
    tls: node.tls,
    connectTimeout
  }
}

interface Connection {
  readonly scope: Scope.CloseableScope
  readonly ham: Deferred.Deferred<HamService, string>
}

/**
 * The calls of a HAM's node-qualified actions; `local` is the HAM's own service (known once it is
 * built). Scoped: the connections are closed with the HAM's scope, after the HAM has stopped (this
 * is made before the HAM's stop is registered).
 *
 * @internal
 */
export const make = (local: () => HamService): Effect.Effect<Nodes, never, Scope.Scope> =>
  Effect.gen(function*() {
    const parent = yield* Scope.make()
    const connections = new Map<string, Connection>()
    let closed = false
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        closed = true
        connections.clear()
        return Scope.close(parent, Exit.void)
      })
    )

    const drop = (key: string, connection: Connection) =>
      Effect.suspend(() => {
        if (connections.get(key) !== connection) return Effect.void
        connections.delete(key)
        return Scope.close(connection.scope, Exit.void)
      })

    /**
     * The address's connection: the one kept (`fresh` false), or a new one, made once whoever asks
     * meanwhile (looked up and registered in one synchronous step). Settled however the making
     * ends: an action that gives up (its timeout) while connecting leaves no connection half made,
     * and whoever waits on it fails too.
     */
    const connect = (node: node_.NodeAddress, timeoutMillis: number) =>
      Effect.suspend(() => {
        if (closed) return Effect.fail("the HAM is stopping")
        const key = node_.key(node)
        const kept = connections.get(key)
        if (kept !== undefined) return Effect.succeed({ key, connection: kept, fresh: false })
        const connection: Connection = {
          scope: Effect.runSync(Scope.fork(parent, ExecutionStrategy.sequential)),
          ham: Deferred.unsafeMake<HamService, string>(FiberId.none)
        }
        connections.set(key, connection)
        return client.make(clientOptions(node, timeoutMillis)).pipe(
          Scope.extend(connection.scope),
          Effect.catchAllCause((cause) => Effect.fail(describeCause(cause))),
          Effect.onExit((exit) =>
            Exit.isSuccess(exit)
              ? Deferred.succeed(connection.ham, exit.value)
              : Effect.zipRight(
                Deferred.fail(
                  connection.ham,
                  Exit.isInterrupted(exit)
                    ? "the connection was given up"
                    : exit.cause._tag === "Fail"
                    ? exit.cause.error
                    : describeCause(exit.cause)
                ),
                drop(key, connection)
              )
          ),
          Effect.ignore,
          Effect.as({ key, connection, fresh: true })
        )
      })

    const remote = <A, E>(
      node: node_.NodeAddress,
      timeoutMillis: number,
      f: (ham: HamService) => Effect.Effect<A, E>
    ): Effect.Effect<A, E | string> =>
      Effect.flatMap(connect(node, timeoutMillis), ({ connection, fresh, key }) =>
        Effect.flatMap(Deferred.await(connection.ham), (ham) =>
          // a lost connection makes the client's calls die (HamUnreachable): the connection is
          // dropped; a kept one (the other HAM restarted meanwhile) is made again once, a new one
          // is a failure
          Effect.catchAllCause(f(ham), (cause): Effect.Effect<A, E | string> =>
            !Cause.isDie(cause)
              ? Effect.failCause(cause)
              : Effect.zipRight(
                drop(key, connection),
                fresh ? Effect.fail(describeCause(cause)) : remote(node, timeoutMillis, f)
              ))))

    const call: Nodes["call"] = <A, E>(
      node: node_.NodeAddress | undefined,
      timeoutMillis: number | undefined,
      f: (ham: HamService) => Effect.Effect<A, E>
    ): Effect.Effect<A, E | string> => {
      if (node === undefined) {
        const work: Effect.Effect<A, E | string> = f(local())
        return timeoutMillis === undefined ? work : Effect.timeoutFail(work, {
          duration: timeoutMillis,
          onTimeout: () =>
            `no answer within ${timeoutMillis} ms`
        })
      }
      const millis = timeoutMillis ?? defaultTimeoutMillis
      return Effect.timeoutFail(remote(node, millis, f), {
        duration: millis,
        onTimeout: () =>
          `${node_.render(node)}: no answer within ${millis} ms`
      })
    }
    return { call }
  })
