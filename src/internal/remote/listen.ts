/**
 * The listeners of a remote HAM: a TCP port (loopback unless told otherwise) and a Unix socket
 * whose file is its owner's only (mode 0600, in a directory of mode 0700 owned by this user),
 * each handing what it accepts to the transport. Closed with their scope: the listener stops, its
 * connections are closed, the socket file is removed.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as net from "node:net"
import * as nodePath from "node:path"
import * as tls from "node:tls"
import { ListenFailed } from "../../HamError.js"
import * as probe from "../probe.js"
import type { Transport } from "./transport.js"

/** a Unix socket path has at most 107 bytes on Linux */
const MaxSocketPathBytes = 107

const errorText = (u: unknown): string => u instanceof Error ? u.message : String(u)
const codeOf = (u: unknown): string | undefined => {
  const code = (u as NodeJS.ErrnoException | undefined)?.code
  return typeof code === "string" ? code : undefined
}

const failed = (address: string, reason: string, cause?: unknown) => {
  const code = codeOf(cause)
  return new ListenFailed(code === undefined ? { address, reason } : { address, reason, code })
}

/** @internal a TCP address as written in errors and logs */
export const tcpAddress = (host: string, port: number): string =>
  `tcp://${host.includes(":") ? `[${host}]` : host}:${port}`

/** @internal a Unix socket address as written in errors and logs */
export const unixAddress = (path: string): string => `unix:${path}`

/** @internal whether a host name or address is this machine's loopback */
export const isLoopback = (host: string): boolean =>
  host === "localhost" || host === "::1" || /^127(\.\d{1,3}){3}$/.test(host) || host === "::ffff:127.0.0.1"

/** listens until the scope closes; closing stops accepting and closes the transport's connections */
const serve = (
  address: string,
  server: net.Server,
  transport: Transport,
  options: net.ListenOptions
): Effect.Effect<void, ListenFailed, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<void, ListenFailed>((resume) => {
      const onError = (error: Error) => resume(Effect.fail(failed(address, errorText(error), error)))
      server.once("error", onError)
      server.listen(options, () => {
        server.off("error", onError)
        // after listening, an error of the server (rare: its descriptor is gone) is ignored
        server.on("error", () => {})
        resume(Effect.void)
      })
    }),
    () =>
      Effect.sync(() => {
        server.close()
        transport.closeAll()
      })
  )

/**
 * Listens on TCP `host`:`port` (port 0: one the system picks) and returns the address bound. With
 * `secure` (TLS options), the transport is given each connection once its handshake is done; the
 * handshakes under way count against `maxConnections` too.
 *
 * @internal
 */
export const listenTcp = (
  transport: Transport,
  host: string,
  port: number,
  secure?: { readonly options: tls.TlsOptions; readonly maxConnections: number } | undefined
): Effect.Effect<{ readonly host: string; readonly port: number }, ListenFailed, Scope.Scope> =>
  Effect.gen(function*() {
    const address = tcpAddress(host, port)
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      return yield* failed(address, "a port is an integer from 0 to 65535")
    }
    const server = secure === undefined
      ? net.createServer({ allowHalfOpen: false, noDelay: true }, transport.accept(false))
      : tls.createServer({ ...secure.options, allowHalfOpen: false, noDelay: true }, transport.accept(false))
    if (secure !== undefined) server.maxConnections = secure.maxConnections
    yield* serve(address, server, transport, { host, port, exclusive: true })
    const bound = server.address() as net.AddressInfo
    return { host, port: bound.port }
  })

/** the socket's directory: made 0700 when missing; otherwise a directory of this user's, closed to others */
const privateDirectory = (address: string, dir: string): Effect.Effect<void, ListenFailed> =>
  Effect.suspend(() => {
    let stat: fs.Stats
    try {
      stat = fs.lstatSync(dir)
    } catch (u) {
      if (codeOf(u) !== "ENOENT") return Effect.fail(failed(address, `${dir}: ${errorText(u)}`, u))
      try {
        fs.mkdirSync(dir, { mode: 0o700 })
        return Effect.void
      } catch (e) {
        return Effect.fail(failed(address, `cannot make the directory ${dir}: ${errorText(e)}`, e))
      }
    }
    if (!stat.isDirectory()) return Effect.fail(failed(address, `${dir} is not a directory`))
    if (typeof process.getuid === "function" && stat.uid !== process.getuid()) {
      return Effect.fail(failed(address, `the directory ${dir} belongs to another user (uid ${stat.uid})`))
    }
    if ((stat.mode & 0o077) !== 0) {
      return Effect.fail(failed(
        address,
        `the directory ${dir} is open to others (mode 0${(stat.mode & 0o777).toString(8)}): ` +
          "a Unix socket's directory must be private (chmod 700)"
      ))
    }
    return Effect.void
  })

/** a socket file left by a dead server is removed; a live one, or anything else at the path, is an error */
const removeStale = (address: string, path: string): Effect.Effect<void, ListenFailed> =>
  Effect.gen(function*() {
    let stat: fs.Stats
    try {
      stat = fs.lstatSync(path)
    } catch {
      return
    }
    if (!stat.isSocket()) return yield* failed(address, "the path exists and is not a socket")
    if (yield* probe.accepts({ path })) {
      return yield* failed(address, "a live server listens on it", { code: "EADDRINUSE" })
    }
    try {
      fs.unlinkSync(path)
    } catch {
      // gone meanwhile
    }
  })

/**
 * Listens on the Unix socket `path`: its directory is made (mode 0700) or checked (this user's,
 * closed to others), a stale socket file is replaced, the socket file is made mode 0600, and
 * removed when the scope closes.
 *
 * @internal
 */
export const listenUnix = (transport: Transport, path: string): Effect.Effect<string, ListenFailed, Scope.Scope> =>
  Effect.gen(function*() {
    const address = unixAddress(path)
    if (path.length === 0 || Buffer.byteLength(path, "utf8") > MaxSocketPathBytes) {
      return yield* failed(address, `a socket path has 1 to ${MaxSocketPathBytes} bytes`)
    }
    const absolute = nodePath.resolve(path)
    yield* privateDirectory(address, nodePath.dirname(absolute))
    yield* removeStale(address, absolute)
    const server = net.createServer({ allowHalfOpen: false }, transport.accept(true))
    yield* serve(address, server, transport, { path: absolute, exclusive: true })
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        try {
          fs.unlinkSync(absolute)
        } catch {
          // not there
        }
      })
    )
    yield* Effect.try({
      try: () => fs.chmodSync(absolute, 0o600),
      catch: (u) => failed(address, `chmod 0600: ${errorText(u)}`, u)
    })
    return absolute
  })
