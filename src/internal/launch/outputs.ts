/**
 * The HAM's output socket for the children of a spawner's helper (helper.ts). Each child's
 * stdout and stderr is a connection to it, which the helper makes ahead of time and hands to the
 * child: the HAM reads a child's output itself, with no hop through the helper, and sees its end
 * as soon as the child's files are closed (the first sign of its death).
 *
 * A connection's first line names it (`c<n>`, numbered by the helper); the helper's `spawned`
 * report says which child has which (`claim`). What comes before that report (a child can write,
 * and even die, before it is read) is kept until it does.
 *
 * @internal
 */
import * as NodeFs from "node:fs"
import * as NodeNet from "node:net"

/** @internal the child a connection belongs to */
export interface Owner {
  readonly data: (fd: 1 | 2, chunk: Buffer) => void
  /** one of its connections has ended (once each) */
  readonly connEnded: () => void
  /** its connections, as they are given to it */
  readonly conns: Array<Conn>
}

/** what a drain reads into */
const drainBuffer = Buffer.alloc(65536)

/**
 * What waits in the descriptor under a Node stream (a socket, a pipe), read now, behind the
 * stream's back (its own reads come only at the event loop's turn): each chunk is given to
 * `onChunk`, a view of `buffer` to be used before it returns. Reads until the end (true), or
 * until a read would wait (false); with `untilShort`, no further than a read that did not fill
 * the buffer (false: the read that would fail, and cost an exception, is spared). Undefined when
 * the stream has no descriptor.
 *
 * @internal
 */
export const readNow = (
  stream: object,
  buffer: Buffer,
  onChunk: (chunk: Buffer) => void,
  untilShort: boolean
): boolean | undefined => {
  const fd = (stream as { _handle?: { fd?: number } | null })._handle?.fd
  if (typeof fd !== "number" || fd < 0) return undefined
  for (;;) {
    let n: number
    try {
      n = NodeFs.readSync(fd, buffer, 0, buffer.length, null)
    } catch {
      return false
    }
    if (n === 0) return true
    onChunk(buffer.subarray(0, n))
    if (untilShort && n < buffer.length) return false
  }
}

/** @internal the HAM's end of one of a child's output connections (its stdout or its stderr) */
export class Conn {
  owner: Owner | undefined = undefined
  fd: 1 | 2 = 2
  early: Array<Buffer> | undefined = []
  ended = false
  constructor(readonly socket: NodeNet.Socket) {}

  data(chunk: Buffer) {
    if (this.owner !== undefined) this.owner.data(this.fd, chunk)
    else this.early?.push(chunk)
  }

  /**
   * What is left in the connection, read now (its child has died, so all it wrote is there).
   * True when the connection has ended; false when a grandchild holds it open (what it writes
   * later still comes).
   */
  drain(): boolean {
    if (this.ended) return true
    // what the stream has read and not handed out yet comes first (`read` hands it out as data)
    while (this.socket.readableLength > 0 && this.socket.read() !== null);
    if (readNow(this.socket, drainBuffer, (chunk) => this.data(Buffer.from(chunk)), false) !== true) return false
    this.ended = true
    return true
  }

  end() {
    if (this.ended) return
    this.ended = true
    this.owner?.connEnded()
  }

  /** its child is known (`owner` undefined: it has none, and goes) */
  claim(owner: Owner | undefined, fd: 1 | 2) {
    const early = this.early ?? []
    this.early = undefined
    if (owner === undefined) return this.socket.destroy()
    this.owner = owner
    this.fd = fd
    owner.conns.push(this)
    for (const chunk of early) owner.data(fd, chunk)
    if (this.ended) owner.connEnded()
  }
}

/** @internal one helper's output socket */
export interface Outputs {
  readonly path: string
  /** a report names a connection: it goes to its child (`owner` undefined: none, it is closed) */
  readonly claim: (n: number | undefined, owner: Owner | undefined, fd: 1 | 2) => void
  /** no more connections; those not given to a child are closed (the others end with their child) */
  readonly close: () => void
}

/** the longest path a Unix socket can have (sun_path holds 108 bytes, with its NUL) */
const maxSocketPath = 107

/**
 * Listens on `path` (in a private directory): bound and listening when this returns (a path
 * needs no lookup), so the helper may connect at once. Throws when it cannot. `onError`: the
 * socket failed later. Nothing here holds the event loop (the helper does, while it has children).
 *
 * @internal
 */
export const listen = (path: string, onError: (e: Error) => void): Outputs => {
  if (Buffer.byteLength(path) > maxSocketPath) throw new Error(`the socket path ${path} is too long`)
  /** connections accepted, not yet given to their child */
  const conns = new Map<number, Conn>()
  /** connections named before they were accepted, and their child */
  const claims = new Map<number, { readonly owner: Owner | undefined; readonly fd: 1 | 2 }>()
  const server = NodeNet.createServer((socket) => {
    socket.unref()
    socket.on("error", () => {})
    let head: Buffer | undefined = Buffer.alloc(0)
    let conn: Conn | undefined
    socket.on("data", (chunk: Buffer) => {
      if (conn !== undefined) return conn.data(chunk)
      head = Buffer.concat([head!, chunk])
      const at = head.indexOf(10)
      if (at < 0) {
        if (head.length > 24) socket.destroy()
        return
      }
      const n = Number(head.subarray(1, at).toString("latin1"))
      if (head[0] !== 0x63 || !Number.isSafeInteger(n) || n <= 0 || conns.has(n)) return socket.destroy()
      const rest = head.subarray(at + 1)
      head = undefined
      conn = new Conn(socket)
      if (rest.length > 0) conn.data(rest)
      const claim = claims.get(n)
      if (claim === undefined) return void conns.set(n, conn)
      claims.delete(n)
      conn.claim(claim.owner, claim.fd)
    })
    const ended = () => conn?.end()
    socket.once("end", ended)
    socket.once("close", ended)
  })
  server.on("error", onError)
  server.listen(path)
  server.unref()
  return {
    path,
    claim: (n, owner, fd) => {
      if (n === undefined || n <= 0) return
      const conn = conns.get(n)
      if (conn === undefined) return void claims.set(n, { owner, fd })
      conns.delete(n)
      conn.claim(owner, fd)
    },
    close: () => {
      server.close()
      for (const conn of conns.values()) conn.socket.destroy()
      conns.clear()
      claims.clear()
    }
  }
}
