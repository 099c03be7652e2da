/**
 * An entity's output file, written by the HAM: lines appended (with a timestamp each, when asked),
 * and the file rotated by size with no external logrotate. At `maxSize` bytes the file becomes
 * `<file>.1`, the older ones move up (`.1` → `.2` …), the one past `keep` is removed, and writing
 * goes on in a new `<file>`. A file already over its size when a life starts is rotated first (a
 * child that writes its own output, as under the Guardian's process mode, is rotated this way).
 *
 * @internal
 */
import * as NodeFs from "node:fs"

/** @internal how an output file is rotated, and whether its lines are timestamped */
export interface FileOutput {
  readonly file: string
  /** rotated when it reaches this many bytes (never, when absent) */
  readonly maxSize?: number | undefined
  /** how many rotated files are kept (`<file>.1` … `<file>.<keep>`) */
  readonly keep?: number | undefined
  /** each line starts with the time it was read (ISO 8601, UTC) */
  readonly timestamps?: boolean | undefined
}

/** @internal the rotated files kept when `keep` is not given */
export const defaultKeep = 5

const sizeOf = (file: string): number => {
  try {
    return NodeFs.statSync(file).size
  } catch {
    return 0
  }
}

/**
 * Moves `<file>` to `<file>.1`, each `<file>.k` to `<file>.<k+1>`, and drops what goes past `keep`.
 * Errors (a file missing in the chain, a full disk) are ignored: the output goes on in `<file>`.
 *
 * @internal
 */
export const rotate = (file: string, keep: number): void => {
  try {
    NodeFs.rmSync(`${file}.${keep}`, { force: true })
  } catch {
    // the oldest stays; the renames below replace it
  }
  for (let k = keep - 1; k >= 1; k--) {
    try {
      NodeFs.renameSync(`${file}.${k}`, `${file}.${k + 1}`)
    } catch {
      // a gap in the chain
    }
  }
  try {
    NodeFs.renameSync(file, `${file}.1`)
  } catch {
    // nothing to move
  }
}

/** @internal rotates the file before a life starts when it is already at its size */
export const rotateIfFull = (output: FileOutput): void => {
  if (output.maxSize !== undefined && sizeOf(output.file) >= output.maxSize) {
    rotate(output.file, output.keep ?? defaultKeep)
  }
}

/**
 * The writer of one life's output file. `fd` is the file opened (appending) for the life; a
 * rotation ends its stream and opens the new file.
 *
 * @internal
 */
export class OutputWriter {
  private stream: NodeFs.WriteStream
  private size: number
  /** streams ended by a rotation, still flushing */
  private draining: Array<NodeFs.WriteStream> = []

  constructor(readonly output: FileOutput, fd: number) {
    this.stream = OutputWriter.open(fd)
    this.size = output.maxSize === undefined ? 0 : NodeFs.fstatSync(fd).size
  }

  private static open(fd: number): NodeFs.WriteStream {
    const stream = NodeFs.createWriteStream("", { fd })
    // a write error (disk full...) must not crash the host: the output is lost, the child runs on
    stream.on("error", () => {})
    return stream
  }

  /** lines, each with its prefix; `now`: the time to stamp them with, when they are stamped */
  write(lines: ReadonlyArray<string>, prefix: string, now: number | undefined): void {
    const stamp = now === undefined ? "" : `${new Date(now).toISOString()} `
    const text = lines.map((line) => `${stamp}${prefix}${line}\n`).join("")
    this.stream.write(text)
    const maxSize = this.output.maxSize
    if (maxSize === undefined) return
    this.size += Buffer.byteLength(text)
    if (this.size >= maxSize) this.rotate()
  }

  private rotate(): void {
    let fd: number
    try {
      rotate(this.output.file, this.output.keep ?? defaultKeep)
      fd = NodeFs.openSync(this.output.file, "a", 0o640)
    } catch {
      // the new file cannot be opened: writing goes on where it was, and a later write tries again
      this.size = 0
      return
    }
    const old = this.stream
    this.draining.push(old)
    old.end(() => {
      this.draining = this.draining.filter((stream) => stream !== old)
    })
    this.stream = OutputWriter.open(fd)
    this.size = 0
  }

  /** ends the stream (its file descriptor closed once what is written is flushed) */
  close(done: () => void): void {
    const streams = [...this.draining, this.stream]
    let left = streams.length
    for (const stream of streams) {
      stream.end(() => {
        if (--left === 0) done()
      })
    }
  }
}
