/**
 * The typed errors of groups' dependencies (`Entity.group`), defined here and exported by the public module `HamError`
 * (see there).
 *
 * @internal
 */
import * as Schema from "effect/Schema"

/**
 * A group's `dependsOn` names form a cycle (the names in order, the first again at the end).
 *
 * @since 0.1.0
 * @category errors
 */
export class DependencyCycle extends Schema.TaggedError<DependencyCycle>()("DependencyCycle", {
  cycle: Schema.Array(Schema.String)
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `dependency cycle: ${this.cycle.join(" -> ")}`
  }
}

/**
 * A group member depends on a name that is no entity or group of the same group tree.
 *
 * @since 0.1.0
 * @category errors
 */
export class UnknownDependency extends Schema.TaggedError<UnknownDependency>()("UnknownDependency", {
  entity: Schema.String,
  dependency: Schema.String
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `"${this.entity}" depends on "${this.dependency}", which is not in its group tree`
  }
}

/**
 * A group's member was not ready within its `readyTimeout` while the group started.
 *
 * @since 0.1.0
 * @category errors
 */
export class DependencyNotReady extends Schema.TaggedError<DependencyNotReady>()("DependencyNotReady", {
  entity: Schema.String,
  timeoutMillis: Schema.Number
}) {
  /** @since 0.1.0 */
  override get message(): string {
    return `"${this.entity}" was not ready within ${this.timeoutMillis} ms`
  }
}
