/**
 * `ham top`: the HAM's view in a terminal, refreshed in place (as `pm2 monit`). The frame is
 * `top.ts`'s; here the terminal: the alternate screen buffer, each frame drawn from the cursor's
 * home with every line cleared to its end, the keys (`q` or Ctrl-C quits when stdin is a
 * terminal, in raw mode), and the terminal given back as it was on every way out (a key, SIGINT,
 * the HAM going away: exit 3). The view is refreshed at each of the HAM's events (at most every
 * 50 ms) and every `--interval` milliseconds (a snapshot of the tree); `--once` prints one frame,
 * without control codes, after listening for one interval.
 *
 * @internal
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import { HamUnreachable } from "../../HamError.js"
import type { HamService } from "../../HamService.js"
import type * as cond from "../condition.js"
import * as config_ from "../daemon/config.js"
import * as daemonFiles from "../daemon/files.js"
import type * as tree_ from "../tree.js"
import { ExitCode, fail, type Target, target, withHam } from "./target.js"
import * as top from "./top.js"
import * as view from "./view.js"

/** @internal the control sequences `ham top` writes */
export const ansi = {
  /** the alternate screen buffer on, the cursor hidden */
  enter: "\x1b[?1049h\x1b[?25l",
  /** the cursor shown, the normal screen buffer back (with what it held) */
  leave: "\x1b[?25h\x1b[?1049l",
  home: "\x1b[H",
  clearLine: "\x1b[K",
  clearBelow: "\x1b[J"
} as const

/** @internal a frame as written to the terminal: from the home, each line cleared to its end */
export const draw = (lines: ReadonlyArray<string>): string =>
  ansi.home + lines.map((line) => line + ansi.clearLine).join("\r\n") + ansi.clearBelow

const size = () => ({
  columns: process.stdout.columns || top.defaultSize.columns,
  rows: process.stdout.rows || top.defaultSize.rows
})

/** the HAM's uptime, for a daemon of this machine (its pid file beside its socket) */
const hamUptime = (t: Target): number | undefined => {
  if (Option.isSome(t.port)) return undefined
  try {
    const pid = Number(fs.readFileSync(daemonFiles.pidFile(Option.getOrElse(t.socket, config_.defaultSocket)), "utf8"))
    return Number.isInteger(pid) ? view.localUptime(pid) : undefined
  } catch {
    return undefined
  }
}

/** what `ham top` has seen */
interface Seen {
  readonly events: ReadonlyArray<cond.ConditionEvent>
  /** how many events, since `ham top` started */
  readonly count: number
  readonly samples: ReadonlyArray<top.Sample>
  readonly rate: number | undefined
}

/** which HAM, for its header and messages */
const addressOf = (t: Target): string =>
  Option.isSome(t.port)
    ? `${Option.getOrElse(t.host, () => "127.0.0.1")}:${t.port.value}`
    : Option.getOrElse(t.socket, config_.defaultSocket)

/**
 * The view of one HAM: its events kept and counted, a snapshot at each `refresh` (the events'
 * rate measured then), the frame of the moment.
 */
const watch = (ham: HamService, t: Target, onEvent: Effect.Effect<void>) =>
  Effect.gen(function*() {
    const seen = yield* Ref.make<Seen>({ events: [], count: 0, samples: [], rate: undefined })
    const events = Stream.runForEach(
      Stream.groupedWithin(ham.events(), top.keptEvents, Duration.millis(20)),
      (chunk) =>
        Ref.update(seen, (s) => ({
          ...s,
          events: top.keep(s.events, Array.from(chunk)),
          count: s.count + chunk.length
        })).pipe(Effect.zipRight(onEvent))
    )
    const refresh = Effect.gen(function*() {
      const tree = yield* ham.snapshot
      const at = yield* Clock.currentTimeMillis
      yield* Ref.update(seen, (s) => ({ ...s, ...top.sample(s.samples, { at, seen: s.count }) }))
      return tree
    })
    const frame = (tree: tree_.Tree) =>
      Effect.map(Ref.get(seen), (s) =>
        top.frame({
          tree,
          events: s.events,
          rate: s.rate,
          uptime: hamUptime(t),
          address: addressOf(t),
          uptimeOf: Option.isSome(t.port) ? undefined : view.localUptime,
          ...size()
        }))
    return { events, refresh, frame }
  })

/** q, Q, Ctrl-C (in raw mode a byte, not a SIGINT), Ctrl-D */
const quitKeys = [0x71, 0x51, 0x03, 0x04]

/** the terminal in `ham top`'s hands for the scope: the alternate screen, raw keys; `quit` is done at `q` or Ctrl-C */
const terminal = (quit: Deferred.Deferred<void>, redraw: Effect.Effect<void>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const stdin = process.stdin
      const raw = stdin.isTTY === true
      const onKey = (data: Buffer) => {
        if (quitKeys.some((key) => data.includes(key))) Deferred.unsafeDone(quit, Effect.void)
      }
      const onResize = () => Effect.runFork(redraw)
      if (raw) {
        stdin.setRawMode(true)
        stdin.on("data", onKey)
        stdin.resume()
      }
      process.stdout.on("resize", onResize)
      process.stdout.write(ansi.enter)
      return { raw, onKey, onResize }
    }),
    ({ onKey, onResize, raw }) =>
      Effect.sync(() => {
        process.stdout.off("resize", onResize)
        if (raw) {
          process.stdin.off("data", onKey)
          process.stdin.setRawMode(false)
          process.stdin.pause()
        }
        process.stdout.write(ansi.leave)
      })
  )

/** a HAM gone (its connection closed, a snapshot unanswered) ends `ham top` with exit 3 */
const goneIsUnreachable = <A, E, R>(t: Target, effect: Effect.Effect<A, E, R>) =>
  Effect.catchAllDefect(effect, (defect) =>
    defect instanceof HamUnreachable
      ? fail(`the HAM at ${addressOf(t)} went away (${defect.reason})`, ExitCode.unreachable)
      : Effect.die(defect))

const live = (ham: HamService, t: Target, interval: Duration.Duration) =>
  Effect.gen(function*() {
    const quit = yield* Deferred.make<void>()
    // a redraw asked for: by an event, a resize; at most one waits
    const asked = yield* Queue.sliding<void>(1)
    const ask = Effect.asVoid(Queue.offer(asked, undefined))
    const view_ = yield* watch(ham, t, ask)
    yield* terminal(quit, ask)
    const loop = Effect.gen(function*() {
      const tree = yield* view_.refresh
      const lines = yield* view_.frame(tree)
      yield* Effect.sync(() => process.stdout.write(draw(lines)))
      // no more than 20 frames a second, however many events come
      yield* Effect.sleep(Duration.millis(50))
      yield* Effect.race(Queue.take(asked), Effect.sleep(interval))
    }).pipe(Effect.forever)
    // the first to end ends `ham top`: a key, or a failure (the events end only when the HAM goes away)
    yield* Effect.raceFirst(
      Deferred.await(quit),
      Effect.raceFirst(
        loop,
        Effect.zipRight(view_.events, fail(`the HAM at ${addressOf(t)} went away`, ExitCode.unreachable))
      )
    )
  }).pipe(Effect.scoped)

const once = (ham: HamService, t: Target, interval: Duration.Duration) =>
  Effect.gen(function*() {
    const view_ = yield* watch(ham, t, Effect.void)
    yield* view_.refresh
    yield* Effect.forkScoped(view_.events)
    yield* Effect.sleep(interval)
    const lines = yield* view_.frame(yield* view_.refresh)
    yield* Effect.sync(() => process.stdout.write(lines.join("\n") + "\n"))
  }).pipe(Effect.scoped)

/** @internal */
export const command = Command.make("top", {
  ...target,
  once: Options.boolean("once").pipe(
    Options.withDescription("print one frame without control codes (after listening for one interval), then exit")
  ),
  interval: Options.integer("interval").pipe(
    Options.withDescription("milliseconds between two snapshots of the tree (1000); events redraw at once"),
    Options.withDefault(1000)
  )
}, ({ interval, once: justOnce, ...t }) =>
  interval < 50 || interval > 3_600_000
    ? fail(`--interval must be between 50 and 3600000 milliseconds (got ${interval})`, ExitCode.usage)
    : goneIsUnreachable(
      t,
      withHam(t, (ham) => (justOnce ? once : live)(ham, t, Duration.millis(interval)))
    )).pipe(
    Command.withDescription("the HAM's view in a terminal, refreshed in place: the entities, the last events")
  )
