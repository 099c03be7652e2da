/**
 * The tree as a directory, as data: which directories and files a mirror of the tree holds, and
 * what each file says. A pure function of the tree (`files`); `sync.ts` puts it on disk.
 *
 * The layout follows QNX's `/proc/ham`: one directory per entity, one per condition inside it,
 * one per action inside that, and in each a `stats` file (QNX's `.info`) with the node's fields,
 * one `key: value` per line. The root's `stats` holds the HAM's counts; the global entity's
 * conditions are under `*`. Every field of a node is printed, whatever it is, so that a field
 * the tree gains shows up without a change here.
 *
 * @internal
 */
import type * as tree_ from "../tree.js"

/** @internal the file in every directory that holds the node's fields */
export const statsFile = "stats"

/** @internal the file at the root that says the directory is a mirror (and which process keeps it) */
export const markerFile = ".ham-mirror"

/** @internal the directory of the global entity's conditions */
export const globalDir = "*"

/** @internal what a mirror holds: directories (parents first) and files, by path relative to its root */
export interface Files {
  readonly dirs: ReadonlyArray<string>
  readonly files: ReadonlyMap<string, string>
}

/**
 * A name as a file name: `%` is written `%25`, a leading `.` `%2E` (so that no node is hidden,
 * nor named `.`, `..` or like the marker), and a node named `stats` `%73tats`. `decodeURIComponent`
 * gives the name back. (Names never hold `/` or control characters: the HAM refuses them.)
 *
 * @internal
 */
export const fileName = (name: string): string => {
  const escaped = name.replaceAll("%", "%25")
  return escaped.startsWith(".")
    ? `%2E${escaped.slice(1)}`
    : escaped === statsFile
    ? `%73${escaped.slice(1)}`
    : escaped
}

/** the arrays that are directories below a node: counted in its stats, not printed */
const childLists = new Set(["entities", "conditions", "actions"])

/** fields holding a time (milliseconds since the epoch), printed as ISO 8601 */
const isTimeKey = (key: string) => key === "time" || key === "created" || key === "lastEvent" || /[a-z]At$/.test(key)

const scalar = (key: string, value: unknown): string =>
  typeof value === "number" && isTimeKey(key) && Number.isFinite(value)
    ? new Date(value).toISOString()
    : String(value).replaceAll("\n", "\\n")

/**
 * an entity's CPU and RSS, which change at every sample, are not mirrored: the mirror would be
 * written again all the time (`ham ls` and `ham top` show them)
 */
const sampled = new Set(["cpu", "rss"])

const fieldLines = (prefix: string, value: Record<string, unknown>, out: Array<string>) => {
  for (const [key, v] of Object.entries(value)) {
    if (v === undefined || (prefix === "" && sampled.has(key))) continue
    // the entity's statistics are its stats file's own lines: `deaths: 1`, not `stats.deaths: 1`
    const name = prefix === "" && key === "stats" ? "" : `${prefix}${key}`
    if (Array.isArray(v)) {
      out.push(`${name}: ${v.length}`)
      if (childLists.has(key)) continue
      v.forEach((item, i) => {
        if (item !== null && typeof item === "object") fieldLines(`${name}.${i}.`, item as Record<string, unknown>, out)
        else out.push(`${name}.${i}: ${scalar(key, item)}`)
      })
    } else if (v !== null && typeof v === "object") {
      fieldLines(name === "" ? "" : `${name}.`, v as Record<string, unknown>, out)
    } else {
      out.push(`${name}: ${scalar(key, v)}`)
    }
  }
}

/**
 * A node's stats file: every field, one `key: value` per line (nested fields as `a.b`, the items
 * of a list as `a.0.b`; a list of child nodes as its length; times in ISO 8601; a new line in a
 * value as `\n`).
 *
 * @internal
 */
export const statsText = (node: object): string => {
  const out: Array<string> = []
  fieldLines("", node as Record<string, unknown>, out)
  return out.join("\n") + "\n"
}

const join = (dir: string, name: string) => (dir === "" ? name : `${dir}/${name}`)

/** @internal the directories and files of a mirror of `tree` */
export const files = (tree: tree_.Tree): Files => {
  const dirs: Array<string> = []
  const out = new Map<string, string>()
  out.set(statsFile, statsText(tree))
  const conditions = (base: string, list: ReadonlyArray<tree_.ConditionNode>) => {
    for (const cond of list) {
      const cdir = join(base, fileName(cond.name))
      dirs.push(cdir)
      out.set(join(cdir, statsFile), statsText(cond))
      for (const action of cond.actions) {
        const adir = join(cdir, fileName(action.name))
        dirs.push(adir)
        out.set(join(adir, statsFile), statsText(action))
      }
    }
  }
  if (tree.global.conditions.length > 0) {
    dirs.push(globalDir)
    out.set(join(globalDir, statsFile), statsText({ name: globalDir, conditions: tree.global.conditions }))
    conditions(globalDir, tree.global.conditions)
  }
  for (const entity of tree.entities) {
    const edir = fileName(entity.name)
    dirs.push(edir)
    out.set(join(edir, statsFile), statsText(entity))
    conditions(edir, entity.conditions)
  }
  return { dirs, files: out }
}
