/**
 * The driver of process entities: each life is a child process started by the `ProcessLauncher`
 * with the entity's command line. The entity keeps one notify socket for all its lives
 * (`HAM_NOTIFY_SOCKET`), opened on its first start and closed when it is stopped.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as NodeFs from "node:fs"
import { type AttachError, DuplicateName, SpawnFailed } from "../../HamError.js"
import * as action_ from "../action.js"
import type * as entity_ from "../entity.js"
import * as beats from "../ham/beats.js"
import * as dispatch from "../ham/dispatch.js"
import { type AttachContext, common, type Driver, type Engine, forkOwnedLater, notActing } from "../ham/engine.js"
import { history, makeRec, restartLineOf } from "../ham/state.js"
import type { Channel, EntityRec, ProcessData } from "../ham/state.js"
import * as telemetry from "../ham/telemetry.js"
import * as validate from "../ham/validate.js"
import type * as launch from "../launch/launcher.js"
import * as life_ from "../launch/life.js"
import * as notifyLimits from "../notify/limits.js"
import * as notifyProtocol from "../notify/protocol.js"
import * as notifyServer from "../notify/server.js"
import { defaultPollMillis, type PidDriver, takeUp, wasUp } from "./pid.js"

/** a life just started, and the id of its launch intent (none when the store keeps none) */
interface Launched {
  readonly life: launch.Life
  readonly id: string | undefined
}

const abandoned = (rec: EntityRec) => `restart of "${rec.name}" abandoned: the entity changed while waiting`

/** @internal */
export interface ProcessDriver extends Driver {
  /**
   * Attaches a child process: it is started before anything changes (a spawn that fails changes
   * nothing), with a notify socket of its own kept for all its lives.
   */
  readonly attach: (spec: entity_.ProcessSpec, context: AttachContext) => Effect.Effect<EntityRec, AttachError>
  /**
   * A graceful reload of a running entity: a new life started from `line` beside the current one,
   * with a notify socket of its own; once it says `READY=1` it becomes the entity's life and the old
   * one is stopped (its stop signal, then SIGKILL after its grace). Not a death and not a restart.
   * Fails with the reason, the old life untouched, when the new one exits or is not ready within
   * `readyMillis` (it is then killed).
   */
  readonly reload: (rec: EntityRec, line: action_.CommandLine, readyMillis: number) => Effect.Effect<void, string>
}

/**
 * @internal `resume` is the pid driver's: a child recorded as outliving its HAM is adopted
 * through it
 */
export const make = (engine: Engine, resume: PidDriver["resume"]): ProcessDriver => {
  /** the process.send bridge of Node children (option nodeIpc), written once in the private directory */
  let bridgePath: string | undefined
  const ipcBridge = (): string => {
    if (bridgePath === undefined) {
      const file = `${engine.notifyDirectory}/ipc-bridge.cjs`
      NodeFs.writeFileSync(file, notifyProtocol.ipcBridgeSource, { mode: 0o600 })
      bridgePath = file
    }
    return bridgePath
  }
  let sockets = 0
  /** the connections open on all the entities' notify sockets, against the HAM's total cap */
  const connections = notifyLimits.makeConnectionBudget(notifyLimits.defaultTotalConnections())

  /**
   * What a child says on its notify socket (see docs/notify-protocol.md): one handler. Readiness
   * and heartbeats are handled at once, in the socket's callback (no fiber wakes); the rest is an
   * effect, which the server runs in order for the connection.
   */
  const onNotify = (name: string) => (message: notifyProtocol.NotifyMessage): Effect.Effect<void> | undefined => {
    const rec = engine.state.entities.get(name)
    if (rec === undefined || rec.status !== "running" || rec.life?._tag !== "Process") return undefined
    switch (message._tag) {
      case "Ready": {
        rec.life.ready = true
        engine.wake()
        return undefined
      }
      case "Watchdog":
        beats.mark(rec)
        return undefined
      case "State":
        return Effect.sync(() => dispatch.setState(engine, rec, message.state))
      case "Raise":
        return Effect.sync(() => dispatch.raise(engine, rec, message))
      case "Status":
        return Effect.logInfo(`status: ${notifyProtocol.escapeText(message.text)}`).pipe(
          Effect.annotateLogs({ entity: rec.name })
        )
      case "Unknown":
        return undefined
    }
  }

  /**
   * A notify socket of the entity's: what is said on it counts while it is the entity's channel;
   * until then (the channel of a new life being reloaded in) only its `READY=1` is heard, by `ready`.
   */
  const serveChannel = (name: string, ready?: () => void): Effect.Effect<Channel, string> =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const path = `${engine.notifyDirectory}/${++sockets}.sock`
      const handle = onNotify(name)
      const made: { channel?: Channel } = {}
      const server = yield* notifyServer.serve(path, (message) => {
        if (ready === undefined || engine.state.entities.get(name)?.channel === made.channel) return handle(message)
        if (message._tag === "Ready") ready()
        return undefined
      }, { budget: connections }).pipe(
        Scope.extend(scope),
        Effect.mapError((e) => e.message),
        Effect.tapError(() => Scope.close(scope, Exit.void))
      )
      return made.channel = { path, scope, env: undefined, send: server.send }
    })

  /** the entity's notify socket, opened on its first start and kept for its later lives */
  const openChannel = (rec: EntityRec): Effect.Effect<Channel, string> => {
    if (rec.channel !== undefined) return Effect.succeed(rec.channel)
    return Effect.map(serveChannel(rec.name), (channel) => rec.channel = channel)
  }

  const closeChannel = (rec: EntityRec): Effect.Effect<void> => {
    const channel = rec.channel
    if (channel === undefined) return Effect.void
    rec.channel = undefined
    return Scope.close(channel.scope, Exit.void)
  }

  /** the variables every life of the entity is given: made once (launchers cache environments by it) */
  const envOf = (rec: EntityRec, channel: Channel, process: ProcessData) => {
    if (channel.env !== undefined) return channel.env
    const env: Record<string, string> = {
      [notifyProtocol.EnvEntity]: rec.name,
      [notifyProtocol.EnvSocket]: channel.path
    }
    if (process.nodeIpc) {
      const line = process.line
      const inherited = line.env.NODE_OPTIONS ?? (line.extendEnv ? globalThis.process.env.NODE_OPTIONS : undefined)
      env.NODE_OPTIONS = `${inherited === undefined ? "" : `${inherited} `}--require=${ipcBridge()}`
    }
    channel.env = env
    return env
  }

  /**
   * whatever is left of an ended life's process group goes, and the life's resources with it
   * (in a fiber made once the fibers its death woke have run)
   */
  const release = (life: launch.Life) => forkOwnedLater(engine, life.stop("SIGKILL", 0))

  /** `next`: the life the launcher started by itself, as it was authorised to (`arm`) */
  const onExit = (name: string) => (life: launch.Life, info: launch.ExitInfo, next?: launch.NextLife) => {
    const rec = engine.state.entities.get(name)
    if (rec === undefined || rec.life?._tag !== "Process" || rec.life.process !== life) {
      next?.discard()
      return release(life)
    }
    const abnormal = info.signal !== undefined || info.exitCode !== 0
    engine.reportDeath(rec, rec.generation, {
      abnormal,
      reason: info.signal !== undefined ? `killed by ${info.signal}` : `exited with code ${info.exitCode}`,
      pid: life.pid,
      exitCode: info.exitCode,
      signal: info.signal,
      stderr: life.stderrTail()
    }, next)
    // released after its death is announced: the fibers woken by the death run first
    release(life)
  }

  /**
   * Starts a life of the entity: recorded first as a launch intent (the id the child is given in
   * `HAM_LAUNCH_ID`), which `begin` (or `ended`) settles. `on`: the notify socket it is given
   * (default the entity's).
   */
  const spawn = (rec: EntityRec, line?: action_.CommandLine, on?: Channel): Effect.Effect<Launched, string> =>
    !engine.mayAct() ? Effect.fail(notActing) : Effect.flatMap(
      on === undefined ? openChannel(rec) : Effect.succeed(on),
      (channel) => {
        const process = rec.process!
        const id = engine.changes.intend(rec.name)
        if (id === false) return Effect.fail(notActing)
        const env = envOf(rec, channel, line === undefined ? process : { ...process, line })
        return engine.launcher.launch({
          entity: rec.name,
          line: line ?? process.line,
          env: id === undefined ? env : { ...env, [notifyProtocol.EnvLaunch]: id },
          output: process.output,
          onLine: (stream, line) => Effect.logInfo(line).pipe(Effect.annotateLogs({ entity: rec.name, stream })),
          onExit: onExit(rec.name),
          runtime: engine.runtime
        }).pipe(
          Effect.map((life): Launched => ({ life, id })),
          Effect.tapError(() => Effect.sync(() => engine.changes.settle(id)))
        )
      }
    )

  /**
   * The life the launcher started by itself: taken up, unless this HAM may not act any more (it
   * is then killed). When it cannot be taken up (its spawner went away meanwhile), a new one is
   * spawned. It has no launch intent: a HAM under a store's lease never lets a launcher start a
   * life by itself.
   */
  const takeNext = (rec: EntityRec, next: launch.NextLife): Effect.Effect<Launched, string> => {
    if (!engine.mayAct()) {
      next.discard()
      return Effect.fail(notActing)
    }
    return Effect.orElse(
      Effect.map(next.take, (life): Launched => ({ life, id: undefined })),
      () => spawn(rec, restartLineOf(rec))
    )
  }

  /** a life just started that does not go on: it is ended, and its launch settled */
  const ended = ({ id, life }: Launched): Effect.Effect<void> =>
    Effect.ensuring(life.stop("SIGKILL", 0), Effect.sync(() => engine.changes.settle(id)))

  /** the launch in flight of each entity, by name */
  const launches = new Map<string, Deferred.Deferred<void>>()

  /**
   * A launch of the entity `name` and what follows it, until its life is taken up or ended. One
   * at a time for an entity: a launch waits until the one in flight has settled (an attach racing
   * the restart of a restored entity decides once that restart has, so that two children of one
   * entity are never alive at once). Counted, so that a HAM handing its store over waits for them
   * (`HamControl.handOver`).
   */
  const inFlight = <A, E>(name: string, self: Effect.Effect<A, E>): Effect.Effect<A, E> =>
    Effect.suspend(() => {
      const busy = launches.get(name)
      if (busy !== undefined) return Effect.zipRight(Deferred.await(busy), inFlight(name, self))
      const settled = Deferred.unsafeMake<void>(FiberId.none)
      launches.set(name, settled)
      engine.state.launching++
      return Effect.ensuring(
        self,
        Effect.sync(() => {
          launches.delete(name)
          engine.state.launching--
          Deferred.unsafeDone(settled, Exit.void)
        })
      )
    })

  const begin = (rec: EntityRec, { id, life }: Launched): void => {
    rec.generation++
    telemetry.setStatus(engine.state, rec, "running")
    rec.lastStart = engine.now()
    rec.life = { _tag: "Process", process: life, ready: false }
    // the life is recorded in the commit that settles its launch
    engine.changes.touch(rec)
    engine.changes.settle(id)
    engine.wake()
  }

  /**
   * The life runs from now on: its heartbeat clock starts, and its launcher is told what it may do
   * by itself when it ends. A life that ended before it was taken up (its exit went unseen) is
   * handled now.
   */
  const settle = (rec: EntityRec, life: launch.Life): void => {
    const ended = life.exitInfo()
    if (ended !== undefined) return onExit(rec.name)(life, ended)
    engine.beats.start(rec)
    engine.rearm(rec)
  }

  /** a life started for an entity that was not running: it runs from now on */
  const starting = (rec: EntityRec, launched: Launched) => {
    engine.enqueue(rec, { _tag: "CondAttach", ...common(engine, rec), pid: launched.life.pid })
    begin(rec, launched)
    settle(rec, launched.life)
  }

  /** the entity still has the life a reload started from */
  const unchanged = (rec: EntityRec, life: launch.Life) =>
    rec.attached && !engine.state.stopped && rec.status === "running" && rec.life?._tag === "Process" &&
    rec.life.process === life

  const reload: ProcessDriver["reload"] = (rec, line, readyMillis) =>
    inFlight(
      rec.name,
      Effect.gen(function*() {
        const old = rec.life
        if (rec.status !== "running" || old?._tag !== "Process") {
          return yield* Effect.fail(`entity "${rec.name}" is not running`)
        }
        const ready = Deferred.unsafeMake<void>(FiberId.none)
        const channel = yield* serveChannel(rec.name, () => Deferred.unsafeDone(ready, Exit.void))
        const closing = Scope.close(channel.scope, Exit.void)
        const launched = yield* Effect.tapError(spawn(rec, line, channel), () => closing)
        const pid = launched.life.pid
        // interruptible (the race's loser is interrupted); a caller that goes away ends the new life
        const outcome = yield* Deferred.await(ready).pipe(
          Effect.as("ready" as const),
          Effect.raceFirst(Effect.as(launched.life.exit, "exited" as const)),
          Effect.timeoutTo({
            duration: readyMillis,
            onSuccess: (outcome) => outcome,
            onTimeout: () => "late" as const
          }),
          Effect.interruptible,
          Effect.onInterrupt(() => Effect.zipRight(ended(launched), closing))
        )
        const refused = outcome === "exited"
          ? `the new process (pid ${pid}) exited before it said READY=1`
          : outcome === "late"
          ? `the new process (pid ${pid}) did not say READY=1 within ${readyMillis} ms`
          : unchanged(rec, old.process)
          ? undefined
          : `the entity's process changed while the new one started`
        if (refused !== undefined) {
          yield* Effect.zipRight(ended(launched), closing)
          return yield* Effect.fail(refused)
        }
        // the new life takes the old one's place: same entity, its own channel from now on
        const retired = rec.channel
        rec.channel = channel
        rec.process = { ...rec.process!, line }
        begin(rec, launched)
        if (rec.life?._tag === "Process") rec.life.ready = true
        settle(rec, launched.life)
        yield* Effect.logInfo(`reloaded: pid ${old.process.pid} replaced by pid ${pid}`).pipe(
          Effect.annotateLogs({ entity: rec.name })
        )
        yield* old.process.stop(rec.process.stopSignal, rec.process.stopGraceMillis)
        if (retired !== undefined) yield* Scope.close(retired.scope, Exit.void)
      })
    )

  return {
    restartable: true,
    inProcess: false,
    reload,
    attach: (spec, context) =>
      Effect.gen(function*() {
        const options = yield* validate.validateProcessOptions(spec.options)
        const process: ProcessData = { line: spec.command, ...options }
        // uninterruptible once its turn has come (the wait for a launch in flight is not): a caller
        // interrupted while the child and its notify socket are made leaves the entity whole or
        // absent, never a child or a socket that nothing holds
        return yield* inFlight(
          context.name,
          Effect.uninterruptible(Effect.gen(function*() {
            const adopted = context.adoptRestored("process")
            if (adopted !== undefined) {
              adopted.process = process
              return adopted
            }
            const existing = yield* context.claimable
            // started before anything changes: the process and its notify socket go to a new record,
            // which takes the place of the claimable one once the process runs
            const staged = makeRec(context.name, false, engine.now(), context.policy)
            staged.process = process
            const launched = yield* spawn(staged).pipe(
              // on any failure, an interruption included (a fiber's children are interrupted with it)
              Effect.onError(() => closeChannel(staged)),
              Effect.mapError((reason) =>
                new SpawnFailed({ entity: context.name, command: action_.renderCommandLine(spec.command), reason })
              )
            )
            // the spawn yields: the entity may have been started meanwhile (its restart, another
            // attach). Then the process just started goes, and the attach takes up a restored entity
            // (as above) or fails as a duplicate: never two lives of one entity
            const claim = yield* Effect.either(context.claimable)
            if (claim._tag === "Left" || claim.right !== existing) {
              yield* Effect.zipRight(ended(launched), closeChannel(staged))
              const restarted = context.adoptRestored("process")
              if (restarted !== undefined) {
                restarted.process = process
                return restarted
              }
              return yield* Effect.fail(
                claim._tag === "Left" ? claim.left : new DuplicateName({ kind: "entity", name: context.name })
              )
            }
            if (existing !== undefined) yield* closeChannel(existing)
            const rec = context.take(existing)
            rec.kind = "process"
            rec.process = process
            rec.channel = staged.channel
            starting(rec, launched)
            return rec
          }))
        )
      }),
    // a child that was up: adopted when it outlived its HAM and still runs, its death when it
    // outlived its HAM and is gone, else (it died with its HAM) started again
    restore: (rec, doc) => {
      if (!takeUp(engine, rec, doc) || !wasUp(doc)) return Effect.void
      const recorded = doc.life
      if (recorded?.startTime !== undefined) {
        resume(rec, { pid: recorded.pid, startTime: recorded.startTime, pollMillis: defaultPollMillis }, true)
        return Effect.void
      }
      return inFlight(
        rec.name,
        Effect.flatMap(Effect.either(spawn(rec)), (launched) => {
          if (launched._tag === "Right") return Effect.sync(() => starting(rec, launched.right))
          history(rec).lastDeath = `could not be started again from the store: ${launched.left}`
          return closeChannel(rec)
        })
      )
    },
    pidOf: (life) => life._tag === "Process" ? life.process.pid : undefined,
    recordOf: (life) =>
      life._tag !== "Process"
        ? undefined
        : life.process.startTime === undefined
        ? { pid: life.process.pid }
        : { pid: life.process.pid, startTime: life.process.startTime },
    isReady: (life) => life._tag === "Process" && life.ready,
    restart: (rec, current, next) =>
      inFlight(
        rec.name,
        Effect.flatMap(
          Effect.tapError(
            Effect.suspend(() => {
              if (current()) return next === undefined ? spawn(rec, restartLineOf(rec)) : takeNext(rec, next)
              next?.discard()
              return Effect.fail(abandoned(rec))
            }),
            () =>
              Effect.sync(() => {
                if (current()) {
                  telemetry.setStatus(engine.state, rec, "dead")
                }
              })
          ),
          (launched) => {
            if (!current()) {
              return Effect.zipRight(ended(launched), Effect.fail(abandoned(rec)))
            }
            // a pid entity restarted by the HAM is from then on its own child
            rec.kind = "process"
            rec.external = undefined
            begin(rec, launched)
            engine.announceRestart(rec, launched.life.pid)
            settle(rec, launched.life)
            return Effect.void
          }
        )
      ),
    arm: (life, authorisation) => {
      if (life._tag === "Process") life.process.arm(authorisation)
    },
    stop: (rec, life) =>
      life._tag === "Process" ? life.process.stop(rec.process!.stopSignal, rec.process!.stopGraceMillis) : Effect.void,
    release: closeChannel,
    signal: (rec, signal, awaitExitMillis) =>
      Effect.suspend(() => {
        const life = rec.life
        if (rec.status !== "running" || life?._tag !== "Process") {
          return Effect.fail(`entity "${rec.name}" is not running`)
        }
        const pid = life.process.pid
        if (!engine.mayAct()) return Effect.fail(notActing)
        if (!life_.signalProcess(pid, signal)) return Effect.fail(`cannot send ${signal} to pid ${pid}`)
        if (awaitExitMillis === undefined) return Effect.void
        return Effect.flatMap(
          Effect.map(Effect.timeoutOption(life.process.exit, awaitExitMillis), Option.isSome),
          (exited) =>
            exited ? Effect.void : Effect.fail(`pid ${pid} is still alive ${awaitExitMillis} ms after ${signal}`)
        )
      })
  }
}
