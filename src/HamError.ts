/**
 * The typed errors of effect-ham. Every failure the HAM can report is one of these
 * `Schema.TaggedError` classes, so it can cross `@effect/rpc` and be written by the Guardian.
 * Bad input never changes the HAM's state: the call fails with one of these instead.
 *
 * @since 0.1.0
 * @module
 */
import * as Schema from "effect/Schema"
import type { DependencyCycle, DependencyNotReady, UnknownDependency } from "./internal/errors/group.js"

// the errors of the cluster and of groups' dependencies are defined beside those modules
export { ClusterUnavailable, NodeLost, RemoteEntityDied } from "./internal/errors/cluster.js"
export { DependencyCycle, DependencyNotReady, UnknownDependency } from "./internal/errors/group.js"

/**
 * The entity named does not exist in this HAM (or was detached: a stale handle).
 *
 * @since 0.1.0
 * @category errors
 */
export class EntityNotFound extends Schema.TaggedError<EntityNotFound>()("EntityNotFound", {
  entity: Schema.String
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `entity "${this.entity}" not found`
  }
}

/**
 * The condition named does not exist on its entity.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConditionNotFound extends Schema.TaggedError<ConditionNotFound>()("ConditionNotFound", {
  entity: Schema.String,
  condition: Schema.String
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `condition "${this.condition}" not found on entity "${this.entity}"`
  }
}

/**
 * The action named does not exist in its condition.
 *
 * @since 0.1.0
 * @category errors
 */
export class ActionNotFound extends Schema.TaggedError<ActionNotFound>()("ActionNotFound", {
  entity: Schema.String,
  condition: Schema.String,
  action: Schema.String
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `action "${this.action}" not found in condition "${this.entity}/${this.condition}"`
  }
}

/**
 * A name is already taken: entity names are unique in a HAM, condition names within an
 * entity, action names within a condition (QNX `EEXIST`).
 *
 * @since 0.1.0
 * @category errors
 */
export class DuplicateName extends Schema.TaggedError<DuplicateName>()("DuplicateName", {
  kind: Schema.Literal("entity", "condition", "action", "fail action"),
  name: Schema.String
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `${this.kind} name "${this.name}" is already in use`
  }
}

/**
 * Input the HAM refuses: a bad name, a bad number, a restart action where none is allowed, a
 * waitfor in a `noWait` condition (QNX `EINVAL` / `ENAMETOOLONG`).
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidArgument extends Schema.TaggedError<InvalidArgument>()("InvalidArgument", {
  argument: Schema.String,
  reason: Schema.String
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `invalid ${this.argument}: ${this.reason}`
  }
}

/**
 * An action failed while its condition ran (its alternates, if any, were tried too). The HAM
 * logs it as a warning (verbosity 1 and up) and keeps the last one of each action: the tree
 * shows its reason as `lastFailure`. `condition` is the `entity/condition` path of the
 * condition that holds the action (the global entity's is `*`); `entity` the entity of the
 * event.
 *
 * @since 0.1.0
 * @category errors
 */
export class ActionFailed extends Schema.TaggedError<ActionFailed>()("ActionFailed", {
  entity: Schema.String,
  condition: Schema.String,
  action: Schema.String,
  reason: Schema.String
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `action ${this.condition}/${this.action} failed on an event of "${this.entity}": ${this.reason}`
  }
}

/**
 * A restart was refused: the entity already restarted `restarts` times within `withinMillis`
 * and another would exceed its restart intensity (`reason: "intensity"`, as OTP), or its
 * back-off schedule ended (`reason: "backoffEnded"`).
 *
 * @since 0.1.0
 * @category errors
 */
export class RestartIntensityExceeded
  extends Schema.TaggedError<RestartIntensityExceeded>()("RestartIntensityExceeded", {
    entity: Schema.String,
    reason: Schema.Literal("intensity", "backoffEnded"),
    restarts: Schema.Number,
    withinMillis: Schema.Number
  })
{
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return this.reason === "intensity"
      ? `entity "${this.entity}" already restarted ${this.restarts} times within ${this.withinMillis} ms: giving up`
      : `entity "${this.entity}" restarted ${this.restarts} times and its back-off schedule ended: giving up`
  }
}

/**
 * A process entity could not be started: the command does not exist, is not executable, its
 * working directory is missing, ...
 *
 * @since 0.1.0
 * @category errors
 */
export class SpawnFailed extends Schema.TaggedError<SpawnFailed>()("SpawnFailed", {
  entity: Schema.String,
  command: Schema.String,
  reason: Schema.String
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `cannot start "${this.entity}" (${this.command}): ${this.reason}`
  }
}

/**
 * A graceful reload (`Ham.reloadEntity`) did not take place: the new process could not be
 * started, exited before it said `READY=1`, or was not ready in time. The old process runs on,
 * untouched; the new one is gone.
 *
 * @since 0.1.0
 * @category errors
 */
export class ReloadFailed extends Schema.TaggedError<ReloadFailed>()("ReloadFailed", {
  entity: Schema.String,
  reason: Schema.String
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `reload of "${this.entity}" failed, its process runs on: ${this.reason}`
  }
}

/**
 * `Entity.pid` was given a pid that is not a live process (none, or a zombie).
 *
 * @since 0.1.0
 * @category errors
 */
export class ProcessNotFound extends Schema.TaggedError<ProcessNotFound>()("ProcessNotFound", {
  pid: Schema.Number
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `no live process with pid ${this.pid}`
  }
}

/**
 * `Entity.pid` was given a live process the HAM may not signal (another user's), or whose
 * command line it cannot read, so it could neither stop nor restart it.
 *
 * @since 0.1.0
 * @category errors
 */
export class ProcessNotSignallable extends Schema.TaggedError<ProcessNotSignallable>()("ProcessNotSignallable", {
  pid: Schema.Number,
  reason: Schema.String
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `cannot supervise pid ${this.pid}: ${this.reason}`
  }
}

/**
 * The entity exists but has no life to act on: it is a placeholder, dead, restarting, gave up or
 * stopped (`status`). `Ham.restartEntity` and `Ham.signalEntity` refuse it and change nothing.
 *
 * @since 0.1.0
 * @category errors
 */
export class EntityNotRunning extends Schema.TaggedError<EntityNotRunning>()("EntityNotRunning", {
  entity: Schema.String,
  status: Schema.String
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `entity "${this.entity}" is not running (it is ${this.status})`
  }
}

/**
 * The HAM was stopped with `Ham.stop`; it accepts no more calls.
 *
 * @since 0.1.0
 * @category errors
 */
export class HamStopped extends Schema.TaggedError<HamStopped>()("HamStopped", {}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return "the HAM has been stopped"
  }
}

/**
 * The Guardian's state file exists and is not a store this effect-ham can use: it is not an LMDB
 * file, it is damaged (cut short, a page or a record that does not read back, a check of the file
 * that crashed or did not finish), it is an LMDB file of another program, or it was written by
 * another format version of effect-ham. The file is never overwritten or deleted: move it away
 * (or point the Guardian at another path) to start afresh.
 *
 * @since 0.1.0
 * @category errors
 */
export class StoreCorrupt extends Schema.TaggedError<StoreCorrupt>()("StoreCorrupt", {
  path: Schema.String,
  reason: Schema.String
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `the state store ${this.path} cannot be used: ${this.reason} (the file was left as it is)`
  }
}

/**
 * The Guardian's state file cannot be opened or created at its path, whatever it holds: the path
 * is empty, its directory is missing (`code` "ENOENT") or not writable ("EACCES"), the file cannot
 * be read, or the path or its `-lock` file is a symbolic link, is not a regular file (a FIFO, a
 * socket, a device, a directory) or belongs to another user. Nothing was written: no file was
 * created, changed or followed. `code` is the operating system's error code, when it gave one.
 *
 * @since 0.1.0
 * @category errors
 */
export class StoreUnavailable extends Schema.TaggedError<StoreUnavailable>()("StoreUnavailable", {
  path: Schema.String,
  reason: Schema.String,
  code: Schema.optional(Schema.String)
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `the state store ${this.path} cannot be opened: ${this.reason}`
  }
}

/**
 * Another HAM is active on this state store (it holds the store's lease and is alive): exactly
 * one HAM may be active per store.
 *
 * @since 0.1.0
 * @category errors
 */
export class StoreBusy extends Schema.TaggedError<StoreBusy>()("StoreBusy", {
  path: Schema.String,
  pid: Schema.Number,
  role: Schema.String
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `the state store ${this.path} is in use by the ${this.role} HAM of pid ${this.pid}`
  }
}

/**
 * A call to a remote HAM was refused: it carried no token, or not the server's (`HamServer`'s
 * TCP listener requires one). The call changed nothing. A `HamClient` whose token is refused
 * fails to build with it.
 *
 * @since 0.1.0
 * @category errors
 */
export class Unauthorized extends Schema.TaggedError<Unauthorized>()("Unauthorized", {
  reason: Schema.String
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `unauthorized: ${this.reason}`
  }
}

/**
 * A remote HAM could not be reached at `address`: nothing listens there, the connection was lost,
 * or what answers does not speak the HAM's protocol. A `HamClient` that cannot connect fails to
 * build with it; a call whose connection is lost afterwards dies with it (the `Ham` service's
 * operations have no transport error).
 *
 * @since 0.1.0
 * @category errors
 */
export class HamUnreachable extends Schema.TaggedError<HamUnreachable>()("HamUnreachable", {
  address: Schema.String,
  reason: Schema.String
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `cannot reach the HAM at ${this.address}: ${this.reason}`
  }
}

/**
 * A `HamServer` could not listen at `address`: the address is in use (by a live server), the
 * Unix socket's directory is not private to this user (mode 0700, owned by it), the path is
 * something other than a socket, or the operating system refused (`code`, when it gave one).
 *
 * @since 0.1.0
 * @category errors
 */
export class ListenFailed extends Schema.TaggedError<ListenFailed>()("ListenFailed", {
  address: Schema.String,
  reason: Schema.String,
  code: Schema.optional(Schema.String)
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `cannot listen at ${this.address}: ${this.reason}`
  }
}

/**
 * A mirror of the tree (`ham mirror <dir>`, the daemon's `mirror` option) refused its directory:
 * the path is not a directory, or a directory that holds other files and is not a mirror (no
 * `.ham-mirror` marker), or a mirror another live process keeps. Nothing in it was touched.
 *
 * @since 0.1.0
 * @category errors
 */
export class MirrorRefused extends Schema.TaggedError<MirrorRefused>()("MirrorRefused", {
  dir: Schema.String,
  reason: Schema.String
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `cannot mirror the tree in ${this.dir}: ${this.reason}`
  }
}

/**
 * Every error an operation of the HAM can fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type HamError =
  | EntityNotFound
  | ConditionNotFound
  | ActionNotFound
  | DuplicateName
  | InvalidArgument
  | RestartIntensityExceeded
  | SpawnFailed
  | ProcessNotFound
  | ProcessNotSignallable
  | EntityNotRunning
  | ReloadFailed
  | HamStopped

/**
 * What `Ham.attach` can fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type AttachError =
  | HamStopped
  | InvalidArgument
  | DuplicateName
  | SpawnFailed
  | ProcessNotFound
  | ProcessNotSignallable

/**
 * What `Ham.attachSelf` can fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type AttachSelfError = HamStopped | InvalidArgument | DuplicateName

/**
 * What `Ham.entity` can fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type EntityError = HamStopped | InvalidArgument

/**
 * What `Ham.entityHandle` can fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type EntityHandleError = HamStopped | EntityNotFound

/**
 * What `Ham.detach` can fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type DetachError = HamStopped | EntityNotFound | InvalidArgument

/**
 * What `Ham.condition`, `Ham.conditionState` and `Ham.conditionRaise` can fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type ConditionError = HamStopped | InvalidArgument | EntityNotFound | DuplicateName

/**
 * What `Ham.conditionHandle` can fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type ConditionHandleError = HamStopped | EntityNotFound | ConditionNotFound

/**
 * What `Ham.addAction` and the action adders (`Ham.restart`, `Ham.log`, ...) can fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type AddActionError = HamStopped | InvalidArgument | EntityNotFound | ConditionNotFound | DuplicateName

/**
 * What `Ham.actionHandle` can fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type ActionHandleError = HamStopped | EntityNotFound | ConditionNotFound | ActionNotFound

/**
 * What `Ham.publishState` and `Ham.raise` can fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type PublishError = HamStopped | InvalidArgument | EntityNotFound

/**
 * What `Ham.control` can fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type ControlError = HamStopped | InvalidArgument | EntityNotFound | ConditionNotFound | ActionNotFound

/**
 * What `Ham.remove` can fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type RemoveError = HamStopped | InvalidArgument | EntityNotFound | ConditionNotFound | ActionNotFound

/**
 * What `Ham.verbose` can fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type VerboseError = HamStopped | InvalidArgument

/**
 * What `Ham.restartEntity` can fail with: the entity is not found or not running, it is of a kind
 * the HAM cannot restart (`InvalidArgument`), or its next life could not be started
 * (`SpawnFailed`: it is then dead).
 *
 * @since 0.1.0
 * @category errors
 */
export type RestartEntityError = HamStopped | InvalidArgument | EntityNotFound | EntityNotRunning | SpawnFailed

/**
 * What `Ham.reloadEntity` can fail with: the entity is not found or not running, it is not a
 * process entity or the options are bad (`InvalidArgument`), or the new process did not become
 * ready (`ReloadFailed`: the old one runs on).
 *
 * @since 0.1.0
 * @category errors
 */
export type ReloadEntityError = HamStopped | InvalidArgument | EntityNotFound | EntityNotRunning | ReloadFailed

/**
 * What `Ham.signalEntity` can fail with: a bad signal name or one the entity's kind does not take
 * (`InvalidArgument`), the entity not found or not running, or the signal could not be sent
 * (`ProcessNotSignallable`).
 *
 * @since 0.1.0
 * @category errors
 */
export type SignalEntityError =
  | HamStopped
  | InvalidArgument
  | EntityNotFound
  | EntityNotRunning
  | ProcessNotSignallable

/**
 * What `Ham.attach` of a group (`Entity.group`) can fail with; the registry is left as it was.
 *
 * @since 0.1.0
 * @category errors
 */
export type GroupError = AttachError | DependencyCycle | UnknownDependency | DependencyNotReady
