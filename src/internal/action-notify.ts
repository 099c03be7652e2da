/**
 * `Action.notify`: a subscriber's queue, pubsub or deferred, as the interpreter takes it.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import type * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import type { Action } from "../Action.js"
import * as internal from "./action.js"

/** @internal */
export const notify = <A, E = never>(
  target: Queue.Enqueue<A> | PubSub.PubSub<A> | Deferred.Deferred<A, E>,
  ...value: [] | [A]
): Action =>
  internal.notify(
    Predicate.hasProperty(target, Deferred.DeferredTypeId)
      ? { _tag: "Deferred", complete: (v) => Deferred.succeed(target as unknown as Deferred.Deferred<unknown>, v) }
      : { _tag: "Queue", offer: (v) => Queue.offer(target as Queue.Enqueue<unknown>, v) },
    value.length === 0 ? Option.none() : Option.some(value[0])
  )
