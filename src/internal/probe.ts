/**
 * Whether something listens: a connection is opened and closed at once. The HAM's `waitfor`
 * action polls a TCP port with it; the notify server checks a Unix socket path with it before it
 * takes the path over.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as NodeNet from "node:net"

/** @internal where to connect: a TCP host and port, or a Unix socket path */
export type Endpoint = { readonly host: string; readonly port: number } | { readonly path: string }

/**
 * Opens a connection to the endpoint and closes it at once; `done` is told whether it was
 * accepted (once). The returned function gives up: the socket is destroyed and `done` is not told.
 *
 * @internal
 */
export const tryConnect = (endpoint: Endpoint, done: (accepted: boolean) => void): () => void => {
  const socket = NodeNet.connect(endpoint)
  const close = () => {
    socket.removeAllListeners()
    socket.destroy()
  }
  socket.once("connect", () => {
    close()
    done(true)
  })
  socket.once("error", () => {
    close()
    done(false)
  })
  return close
}

/** @internal true when a connection to the endpoint is accepted (and closed at once) */
export const accepts = (endpoint: Endpoint): Effect.Effect<boolean> =>
  Effect.async<boolean>((resume) => Effect.sync(tryConnect(endpoint, (accepted) => resume(Effect.succeed(accepted)))))
