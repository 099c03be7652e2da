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

/**
 * `add`, with a second service under `derivedTag` made from the first each time it is read: an
 * entry that costs the context nothing until it is used (one class per derived tag, made once).
 *
 * @internal
 */
export const addDerived = <I, S, J, T>(
  tag: Context.Tag<I, S>,
  derivedTag: Context.Tag<J, T>,
  derive: (service: S) => T
) => {
  const derivedKey = derivedTag.key
  class Derived extends Layered<any> {
    override get(key: string): any {
      return key === derivedKey ? derive(this.value) : super.get(key)
    }
    override has(key: string): boolean {
      return key === derivedKey || super.has(key)
    }
    override get size(): number {
      return super.size + (this.base.has(derivedKey) ? 0 : 1)
    }
    override *entries(): IterableIterator<[string, any]> {
      for (const entry of super.entries()) if (entry[0] !== derivedKey) yield entry
      yield [derivedKey, derive(this.value)]
    }
  }
  return <Services>(context: Context.Context<Services>, service: S): Context.Context<Services | I | J> =>
    Context.unsafeMake(new Derived(context.unsafeMap, tag.key, service) as unknown as Map<string, any>)
}
