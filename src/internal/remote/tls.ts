/**
 * TLS for the remote HAM's TCP connections (`node:tls`): the server's certificate and key, the
 * client's trust (a CA, or the system's) and the client's socket. The certificate of the server is
 * always checked (no option turns that off); the token is still required over TLS.
 *
 * @internal
 */
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as Socket from "@effect/platform/Socket"
import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as net from "node:net"
import * as tls from "node:tls"
import type * as ClientApi from "../../HamClient.js"
import { InvalidArgument } from "../../HamError.js"
import type * as ServerApi from "../../HamServer.js"
import * as auth from "./auth.js"

const invalid = (argument: string, reason: string) => new InvalidArgument({ argument, reason })

type Pem = string | Buffer

/** a PEM given, or read from its file (`private`: a file only its owner may read, as a key must be) */
const pemOf = (
  argument: string,
  given: string | Uint8Array | undefined,
  file: string | undefined,
  owner: "private" | "public"
): Effect.Effect<Pem | undefined, InvalidArgument> =>
  Effect.suspend(() => {
    if (given !== undefined && file !== undefined) {
      return Effect.fail(invalid(argument, `give one of ${argument} and ${argument}File`))
    }
    if (given !== undefined) return Effect.succeed(typeof given === "string" ? given : Buffer.from(given))
    if (file === undefined) return Effect.succeed(undefined)
    if (owner === "private") return auth.readPrivateFile(file, `${argument}File`, 1 << 20)
    return Effect.try({
      try: () => fs.readFileSync(file),
      catch: (u) => invalid(`${argument}File`, u instanceof Error ? u.message : String(u))
    })
  })

/**
 * The options of a TLS server from `listen.tcp.tls`: a certificate and its key, each given or read
 * from its file (the key's file must be its owner's only, mode 0600).
 *
 * @internal
 */
export const serverOptions = (
  options: ServerApi.ServerTls,
  handshakeTimeout: number
): Effect.Effect<tls.TlsOptions, InvalidArgument> =>
  Effect.gen(function*() {
    const cert = yield* pemOf("cert", options.cert, options.certFile, "public")
    const key = yield* pemOf("key", options.key, options.keyFile, "private")
    if (cert === undefined || key === undefined) {
      return yield* invalid("listen.tcp.tls", "give the certificate (cert or certFile) and its key (key or keyFile)")
    }
    // the certificate and key are checked now: a bad pair is an error of the options, not of a peer
    yield* Effect.try({
      try: () => tls.createSecureContext({ cert, key }),
      catch: (u) => invalid("listen.tcp.tls", u instanceof Error ? u.message : String(u))
    })
    return { cert, key, handshakeTimeout, minVersion: "TLSv1.2" }
  })

/**
 * The options a client connects with: the server's certificate is checked against `ca` (else the
 * system's CAs) and `servername` (else the host, when it is a name; an address is checked against
 * the certificate's IP addresses).
 *
 * @internal
 */
export const clientOptions = (
  options: NonNullable<ClientApi.ClientOptions["tls"]>,
  host: string,
  port: number
): Effect.Effect<tls.ConnectionOptions, InvalidArgument> =>
  Effect.map(pemOf("tls.ca", options.ca, options.caFile, "public"), (ca) => {
    const servername = options.servername ?? (net.isIP(host) === 0 ? host : undefined)
    return {
      host,
      port,
      rejectUnauthorized: true,
      minVersion: "TLSv1.2",
      noDelay: true,
      ...(ca === undefined ? {} : { ca }),
      ...(servername === undefined ? {} : { servername })
    }
  })

/**
 * A socket to a TLS server: open once the handshake is done and the server's certificate checked
 * (a certificate that fails the check is an error of the open, with Node's reason).
 *
 * @internal
 */
export const socket = (options: tls.ConnectionOptions): Effect.Effect<Socket.Socket, Socket.SocketError> =>
  NodeSocket.fromDuplex(Effect.scopeWith((scope) => {
    let conn: tls.TLSSocket | undefined
    return Effect.zipRight(
      Scope.addFinalizer(
        scope,
        Effect.sync(() => {
          if (conn !== undefined && !conn.destroyed) conn.destroySoon()
        })
      ),
      Effect.async<tls.TLSSocket, Socket.SocketError>((resume) => {
        const opened = tls.connect(options)
        conn = opened
        opened.once("secureConnect", () => resume(Effect.succeed(opened)))
        opened.on("error", (cause) => resume(Effect.fail(new Socket.SocketGenericError({ reason: "Open", cause }))))
      })
    )
  }))
