/**
 * A mirror of the tree on disk (`ham mirror <dir>`, the daemon's `mirror` option): a read-only
 * directory (directories 0555, files 0444) kept in sync with a HAM's tree. It is written again
 * after the HAM's events (debounced) and at a steady refresh (for what changes without an event:
 * heartbeats counted, conditions added), and only the files whose text changed are written: each
 * into a temporary file renamed over the old one, in a directory made writable by its owner for
 * the moment (0755) and read-only again after.
 *
 * A directory that holds other files and no `.ham-mirror` marker is refused (`MirrorRefused`),
 * nothing touched; one with the marker is a mirror left by an earlier run, and is taken over,
 * unless the process the marker names still keeps it. When the mirror stops, it writes the tree
 * one last time (when the HAM still answers), says in the marker that it stopped, and leaves the
 * directory as it is: read-only, for the next mirror to take over.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as path from "node:path"
import { MirrorRefused } from "../../HamError.js"
import type { HamService } from "../../HamService.js"
import { startTimeOf } from "../procStart.js"
import type * as tree_ from "../tree.js"
import { type Files, files, markerFile } from "./files.js"

/** @internal what a mirror reads: the tree, and the events that say it changed */
export type Source = Pick<HamService, "snapshot" | "events">

/** @internal */
export interface MirrorOptions {
  /** how long the events must pause before the tree is written again (default 100 ms) */
  readonly debounce?: Duration.DurationInput | undefined
  /** how often the tree is written again without an event (default 1 s) */
  readonly refresh?: Duration.DurationInput | undefined
}

const dirMode = 0o555
const fileMode = 0o444
const openMode = 0o755

/** a write that failed (the disk is full, someone removed the directory, ...) */
class MirrorWriteFailed extends Data.TaggedError("MirrorWriteFailed")<{ readonly reason: string }> {}

const reasonOf = (e: unknown) => (e instanceof Error ? e.message : String(e))

// ---------------------------------------------------------------------------------------------
// the marker
// ---------------------------------------------------------------------------------------------

const markerHead = "effect-ham mirror"

const runningMarker = (pid: number) => `${markerHead}\npid: ${pid}\nstart: ${startTimeOf(pid) ?? 0}\n`

const stoppedMarker = (millis: number) => `${markerHead}\nstopped: ${new Date(millis).toISOString()}\n`

/** the live process a marker names (not this one), if any */
const keeperOf = (text: string): number | undefined => {
  const field = (key: string) => Number(new RegExp(`^${key}: (\\d+)$`, "m").exec(text)?.[1])
  const pid = field("pid")
  if (!Number.isInteger(pid) || pid === process.pid) return undefined
  const start = startTimeOf(pid)
  return start !== undefined && start === field("start") ? pid : undefined
}

// ---------------------------------------------------------------------------------------------
// what is on disk
// ---------------------------------------------------------------------------------------------

/** what the mirror holds on disk, as it last wrote it: a file's text, or null for what it did not write */
interface OnDisk {
  dirs: Set<string>
  files: Map<string, string | null>
}

const empty = (): OnDisk => ({ dirs: new Set(), files: new Map() })

/** a mirror left on disk, read back: its directories, its files and their text (links and others: null) */
const scan = (root: string): OnDisk => {
  const disk = empty()
  const walk = (rel: string) => {
    for (const entry of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const child = rel === "" ? entry.name : `${rel}/${entry.name}`
      if (entry.isDirectory()) {
        disk.dirs.add(child)
        walk(child)
      } else {
        disk.files.set(child, entry.isFile() ? fs.readFileSync(path.join(root, child), "utf8") : null)
      }
    }
  }
  if (fs.existsSync(root)) walk("")
  return disk
}

/** @internal the state of a directory for a mirror: absent, empty, a mirror (taken over), or refused */
export const check = (dir: string): Effect.Effect<"absent" | "empty" | "mirror", MirrorRefused> =>
  Effect.suspend(() => {
    const refuse = (reason: string) => Effect.fail(new MirrorRefused({ dir, reason }))
    let stat: fs.Stats
    try {
      stat = fs.statSync(dir)
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === "ENOENT" ? Effect.succeed("absent" as const) : refuse(reasonOf(e))
    }
    if (!stat.isDirectory()) return refuse("it is not a directory")
    let names: Array<string>
    try {
      names = fs.readdirSync(dir)
    } catch (e) {
      return refuse(reasonOf(e))
    }
    if (names.length === 0) return Effect.succeed("empty" as const)
    const marker = path.join(dir, markerFile)
    if (!names.includes(markerFile) || !fs.lstatSync(marker).isFile()) {
      return refuse(`it holds other files and is not a mirror (no ${markerFile})`)
    }
    const keeper = keeperOf(fs.readFileSync(marker, "utf8"))
    return keeper === undefined ? Effect.succeed("mirror" as const) : refuse(`process ${keeper} keeps a mirror there`)
  })

// ---------------------------------------------------------------------------------------------
// writing
// ---------------------------------------------------------------------------------------------

const parentOf = (rel: string) => path.posix.dirname(rel) === "." ? "" : path.posix.dirname(rel)

/** makes every directory of a tree writable by its owner, so that it can be removed */
const unlockTree = (dir: string) => {
  fs.chmodSync(dir, openMode)
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) unlockTree(path.join(dir, entry.name))
  }
}

/**
 * Removes a directory tree whose directories are read-only (a mirror, or a part of one): each is
 * made writable by its owner first. Nothing is done when `dir` does not exist.
 *
 * @internal
 */
export const removeTree = (dir: string): void => {
  if (!fs.existsSync(dir)) return
  unlockTree(dir)
  fs.rmSync(dir, { recursive: true, force: true })
}

/**
 * Brings the directory from what `disk` says it holds to `next`: directories gone are removed,
 * new ones made, files whose text changed written (temporary file, then rename). Each directory
 * changed is writable by its owner while it is changed, read-only again after, even when a
 * write fails. `disk` is updated as the changes are made.
 */
const write = (root: string, disk: OnDisk, next: Files) =>
  Effect.try({
    try: () => {
      const opened = new Set<string>()
      const open = (rel: string) => {
        if (opened.has(rel)) return
        opened.add(rel)
        if (rel === "" && !fs.existsSync(root)) fs.mkdirSync(root, { recursive: true, mode: openMode })
        fs.chmodSync(path.join(root, rel), openMode)
      }
      const abs = (rel: string) => path.join(root, rel)
      try {
        const dirs = new Set(next.dirs)
        const gone = new Set([...disk.dirs].filter((d) => !dirs.has(d)))
        for (const d of [...gone].filter((d) => !gone.has(parentOf(d)))) {
          open(parentOf(d))
          removeTree(abs(d))
        }
        for (const d of gone) disk.dirs.delete(d)
        for (const f of [...disk.files.keys()]) {
          if (next.files.has(f) && disk.files.get(f) !== null) continue
          disk.files.delete(f)
          if (!dirs.has(parentOf(f)) && parentOf(f) !== "") continue
          open(parentOf(f))
          fs.rmSync(abs(f), { force: true, recursive: true })
        }
        for (const d of next.dirs) {
          if (disk.dirs.has(d)) continue
          open(parentOf(d))
          fs.mkdirSync(abs(d), { mode: openMode })
          opened.add(d)
          disk.dirs.add(d)
        }
        for (const [f, text] of next.files) {
          if (disk.files.get(f) === text) continue
          open(parentOf(f))
          const tmp = abs(`${parentOf(f) === "" ? "" : parentOf(f) + "/"}.${path.posix.basename(f)}.tmp`)
          // one left by a write cut short is read-only: it is removed, not opened
          fs.rmSync(tmp, { force: true })
          fs.writeFileSync(tmp, text, { mode: fileMode })
          fs.chmodSync(tmp, fileMode)
          fs.renameSync(tmp, abs(f))
          disk.files.set(f, text)
        }
      } finally {
        for (const d of opened) {
          try {
            fs.chmodSync(abs(d), dirMode)
          } catch {
            // a directory removed meanwhile has no mode to set
          }
        }
      }
    },
    catch: (e) => new MirrorWriteFailed({ reason: reasonOf(e) })
  })

const withMarker = (next: Files, marker: string): Files => ({
  dirs: next.dirs,
  files: new Map([...next.files, [markerFile, marker]])
})

// ---------------------------------------------------------------------------------------------
// the mirror
// ---------------------------------------------------------------------------------------------

/** @internal a running mirror */
export interface Mirror {
  /** the fiber that keeps it in sync: it ends only when the source's events fail (a remote HAM gone) */
  readonly fiber: Fiber.RuntimeFiber<void>
  /** writes the tree now, without waiting for an event or the refresh */
  readonly refresh: Effect.Effect<void>
}

/**
 * Mirrors the tree of `source` in `dir` until the scope closes: the directory is checked (a
 * refusal touches nothing), written once, then kept in sync by a fiber of the scope. A write that
 * fails (after the first) is reported on stderr and made again from what is on disk at the next
 * change.
 *
 * @internal
 */
export const make = (
  source: Source,
  dir: string,
  options: MirrorOptions = {}
): Effect.Effect<Mirror, MirrorRefused, Scope.Scope> =>
  Effect.gen(function*() {
    const root = path.resolve(dir)
    const found = yield* check(root)
    let disk = found === "mirror" ? scan(root) : empty()
    const marker = runningMarker(process.pid)
    const sync = (tree: tree_.Tree, text: string = marker) => write(root, disk, withMarker(files(tree), text))
    const first = yield* Effect.either(Effect.flatMap(source.snapshot, (tree) => sync(tree)))
    if (first._tag === "Left") return yield* new MirrorRefused({ dir, reason: first.left.reason })
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        // the HAM may be gone (a remote one), or slow to answer: the tree as last written then
        const tree = yield* source.snapshot.pipe(Effect.timeout("2 seconds"), Effect.interruptible, Effect.exit)
        const stopped = stoppedMarker(yield* Clock.currentTimeMillis)
        const last = tree._tag === "Success"
          ? withMarker(files(tree.value), stopped)
          : { dirs: [...disk.dirs], files: new Map([...disk.files, [markerFile, stopped]]) } as Files
        yield* write(root, disk, last)
      }).pipe(Effect.catchAllCause(() => Effect.void))
    )
    const again = Effect.flatMap(source.snapshot, (tree) => sync(tree)).pipe(
      Effect.catchTag("MirrorWriteFailed", (e) =>
        Effect.zipRight(
          Console.error(`ham: mirror ${dir}: ${e.reason} (written again at the next change)`),
          Effect.sync(() => {
            disk = scan(root)
          })
        ))
    )
    const triggers = Stream.merge(
      Stream.debounce(source.events(), options.debounce ?? Duration.millis(100)),
      Stream.fromSchedule(Schedule.spaced(options.refresh ?? Duration.seconds(1)))
    )
    const fiber = yield* Effect.forkScoped(Stream.runForEach(triggers, () => again))
    return { fiber, refresh: again }
  })
