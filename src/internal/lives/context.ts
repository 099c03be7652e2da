/**
 * A context that is another context plus one service, without copying it.
 *
 * Every fiber entity needs a context of its own (its `Scope` is its own), and `Context.add`
 * copies the whole map of services: a couple of hundred bytes for every idle entity. The map
 * here reads through to the other context's map instead. It offers what Effect reads from a
 * context's `unsafeMap` (get, has, size, iteration); a context made from it is never mutated
 * (every Effect operation that changes a context makes a new map from it).
 *
 * @internal
 */
import * as Context from "effect/Context"

class Layered<V> {
  constructor(readonly base: ReadonlyMap<string, V>, readonly key: string, readonly value: V) {}
  get(key: string): V | undefined {
    return key === this.key ? this.value : this.base.get(key)
  }
  has(key: string): boolean {
    return key === this.key || this.base.has(key)
  }
  get size(): number {
    return this.base.has(this.key) ? this.base.size : this.base.size + 1
  }
  *entries(): IterableIterator<[string, V]> {
    for (const entry of this.base) if (entry[0] !== this.key) yield entry
    yield [this.key, this.value]
  }
  *keys(): IterableIterator<string> {
    for (const [key] of this.entries()) yield key
  }
  *values(): IterableIterator<V> {
    for (const [, value] of this.entries()) yield value
  }
  forEach(f: (value: V, key: string, map: unknown) => void): void {
    for (const [key, value] of this.entries()) f(value, key, this)
  }
  [Symbol.iterator](): IterableIterator<[string, V]> {
    return this.entries()
  }
}

/** @internal `context` with `service` added under `tag`, sharing `context`'s map */
export const add = <Services, I, S>(
  context: Context.Context<Services>,
  tag: Context.Tag<I, S>,
  service: S
): Context.Context<Services | I> =>
  Context.unsafeMake(new Layered(context.unsafeMap, tag.key, service) as unknown as Map<string, any>)
