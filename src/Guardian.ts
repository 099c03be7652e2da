/**
 * The Guardian: the HAM's whole state kept in a memory-mapped LMDB file, so that a HAM that
 * starts again with the same file gets back its entities, conditions, actions, statistics and
 * published states.
 *
 * Provide it around the HAM's layer (the HAM looks for a store in the context it is built in), or
 * take the HAM and its store as one layer, `Guardian.layerHam`:
 *
 * ```ts
 * program.pipe(Effect.provide(Guardian.layerHam({ path: "./ham-state" })))
 * // the same:
 * program.pipe(Effect.provide(HamLive), Effect.provide(Guardian.layer({ path: "./ham-state" })))
 * const HamStored = HamLive.pipe(Layer.provide(Guardian.layer({ path: "./ham-state" })))
 * ```
 *
 * Never beside it: `Layer.merge(HamLive, Guardian.layer(...))` builds a HAM that does not see the
 * store (and keeps nothing in it). Every `Ham` call made where such a HAM and a store are both
 * provided dies with a defect that says so.
 *
 * What is kept, and when:
 * - Registry calls (`attach`, `condition`, the action adders, `publishState`, `raise`,
 *   `control`, `remove`, `detach`) commit their change to the file before they return, in one
 *   synchronous transaction: no other fiber runs in between, so they behave as in memory.
 * - Changes the HAM makes itself (deaths, restarts, runs and failures of actions, counts) are
 *   committed in the next flush: one scheduler turn plus one commit (about 0.3 ms) later.
 *   Heartbeat counts are written with the entity's next change and when the HAM stops.
 * - Actions are data and come back whole (restart, execute, signal, waitfor, heartbeatHealthy,
 *   log). A notify action (a local queue) or an `Action.effect` (code) comes back as a
 *   placeholder action that fails until the application declares it again.
 * - Fiber and self-attached entities come back as placeholders: code cannot be stored. The
 *   application's next attach of the same name takes up their history, state and conditions.
 *   Process entities are started again with their stored command line; the application's next
 *   attach of the same name takes up the running process instead of starting another.
 * - A declaration that matches a restored one by name (a condition of the same type and
 *   filters, an action of the same name) takes it up with its statistics: running the same
 *   setup code again does not duplicate anything. What the code declares wins.
 * - A custom back-off `Schedule` cannot be stored: a restored entity uses the HAM's back-off.
 *
 * The file is created owner-only (0600), with its `-lock` file beside it. Before LMDB is given
 * them, the paths are looked at without following them: a path or lock path that is a symbolic
 * link, is not a regular file (a FIFO, a socket, a device, a directory) or belongs to another user
 * fails with `StoreUnavailable`, as does a path whose directory is missing or not writable (with
 * the OS code), and nothing is opened, created or written. An existing file is then checked whole
 * by a short-lived process of its own (a probe: every page walked, every record read back), so
 * that a damaged file cannot crash this process: a file that is not an LMDB file, is damaged or
 * cut short, crashes or hangs the probe, is another program's LMDB file, or was written by another
 * store format fails with `StoreCorrupt`, and is left exactly as it was. The probe is skipped for
 * an empty file, and for a file that holds exactly the bytes this process left in it when it
 * closed it (the same SHA-256). A guardian process (`process: true`) keeps a probe started ahead,
 * so that its takeover does not wait for a Node process to start.
 *
 * Under a store, each child of a process entity is recorded as being started before it is (its
 * id in its environment, `HAM_LAUNCH_ID`): a child whose HAM was killed before it recorded the
 * child's life is ended by the next HAM of the store, which then starts the entity again.
 *
 * @since 0.1.0
 * @module
 */
import * as Layer from "effect/Layer"
import type { InvalidArgument, StoreBusy, StoreCorrupt, StoreUnavailable } from "./HamError.js"
import type { HamOptions } from "./HamService.js"
import * as guardian from "./internal/guardian/layer.js"
import type { HamExtension } from "./internal/ham/extension.js"
import * as ham from "./internal/ham/make.js"
import * as internal from "./internal/store/lmdb.js"
import type { StateStore } from "./internal/store/service.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface GuardianOptions {
  /** the LMDB file (created when missing, with a `-lock` file beside it) */
  readonly path: string
  /**
   * Wait for the disk at every commit (fsync), so that a crash of the machine loses nothing
   * committed either. By default a commit is written to the file (the operating system's cache)
   * before it returns: a crash of the process loses nothing committed, and commits are ~30
   * times faster.
   */
  readonly fsync?: boolean | undefined
  /**
   * Run a guardian process beside this one. When this process dies (even by SIGKILL), the
   * guardian takes the HAM over: it loads the store, adopts the process entities by pid and keeps
   * supervising them, runs the death conditions of the host's own entity (`hostName`: a
   * `Ham.restart` there restarts this program with its command line) and starts a guardian of
   * its own. When the host comes back with the same store, the guardian hands the store back.
   * Process entities are started so that they outlive this process: their output goes to
   * `<path>.d/<entity>.log` (written by the child itself, not through a pipe).
   */
  readonly process?: boolean | undefined
  /** the entity that stands for this process in process mode (default "host") */
  readonly hostName?: string | undefined
}

/**
 * The store of the HAM's state at `options.path`. Fails with `StoreUnavailable` when the path
 * cannot be used (nothing is written), with `StoreCorrupt` when the file there is not a sound
 * store (the file is then left as it was), and with `StoreBusy` when another live HAM holds the
 * store: exactly one HAM is active per store (a lease in the file, taken in one LMDB write
 * transaction, so that of two HAMs opening it at once exactly one gets it; given back when the
 * layer's scope closes; a lease whose holder died is taken over). Fails with `InvalidArgument`
 * for options it does not know or a bad value, before the file is touched.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: GuardianOptions
): Layer.Layer<StateStore | HamExtension, StoreCorrupt | StoreUnavailable | StoreBusy | InvalidArgument> =>
  guardian.layer(options)

/**
 * A HAM with its store as one layer: `Ham.layer(hamOptions)` built on `Guardian.layer(options)`,
 * so that the store cannot end up beside the HAM instead of under it. Fails as both layers do.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerHam = (
  options: GuardianOptions,
  hamOptions?: HamOptions
): Layer.Layer<ham.Ham, StoreCorrupt | StoreUnavailable | StoreBusy | InvalidArgument> =>
  Layer.provide(ham.layer(hamOptions), guardian.layer(options))

/**
 * The format version of the records this version of effect-ham writes and reads.
 *
 * @since 0.1.0
 * @category constants
 */
export const formatVersion: number = internal.formatVersion
