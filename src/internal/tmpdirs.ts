/**
 * The HAM's private directories under the OS temp directory (its notify sockets, its spawner's
 * script and output socket). Each is named after the process that made it,
 * `<prefix><pid>-XXXXXX`, and removed by its scope. A process killed by SIGKILL closes no
 * scope: the next HAM of the same user that makes a directory of the same kind removes those
 * whose process is gone, so crashes do not pile up directories in the temp directory.
 *
 * A directory is removed only when all of these hold: its name has the form above, its process
 * does not exist (`kill(pid, 0)` fails with ESRCH), and it is a real directory (not a link) of
 * this user, closed to everyone else (mode 0700, as `mkdtemp` makes it). Processes in another PID
 * namespace are not visible from here: HAMs of the same user in different containers should not
 * share one temp directory (give each its own `TMPDIR`).
 *
 * @internal
 */
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"

/** the process exists (a zombie does; a process of another user does: EPERM) */
const exists = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== "ESRCH"
  }
}

/**
 * Removes, under `parent`, the directories `<prefix><pid>-XXXXXX` whose process is gone (see
 * above); returns their names. Nothing here throws: what cannot be read or removed is left.
 *
 * @internal
 */
export const sweep = (parent: string, prefix: string): Array<string> => {
  let names: Array<string>
  try {
    names = NodeFs.readdirSync(parent)
  } catch {
    return []
  }
  const uid = process.getuid?.()
  const removed: Array<string> = []
  for (const name of names) {
    if (!name.startsWith(prefix)) continue
    const match = /^(\d{1,10})-[A-Za-z0-9]{6}$/.exec(name.slice(prefix.length))
    if (match === null) continue
    const pid = Number(match[1])
    if (pid <= 0 || pid === process.pid || exists(pid)) continue
    const path = NodePath.join(parent, name)
    try {
      const stat = NodeFs.lstatSync(path)
      if (!stat.isDirectory() || (uid !== undefined && stat.uid !== uid) || (stat.mode & 0o077) !== 0) continue
      NodeFs.rmSync(path, { recursive: true, force: true })
      removed.push(name)
    } catch {
      // left as it is
    }
  }
  return removed
}

/**
 * Makes a private directory (0700) `<prefix><pid>-XXXXXX` under the OS temp directory, after
 * removing those of the same kind left by processes that are gone. The caller removes it. Throws
 * when it cannot be made.
 *
 * @internal
 */
export const makePrivate = (prefix: string): string => {
  const parent = NodeFs.realpathSync(NodeOs.tmpdir())
  sweep(parent, prefix)
  return NodeFs.mkdtempSync(NodePath.join(parent, `${prefix}${process.pid}-`))
}
