/**
 * Helpers shared by the notify test files: messages, a server collecting what it receives, a
 * bounded take, and a raw client connection that writes its pieces one by one.
 */
import { Effect, Queue } from "effect"
import * as net from "node:net"
import * as path from "node:path"
import * as protocol from "../src/internal/notify/protocol.js"
import * as server from "../src/internal/notify/server.js"

export const ready = protocol.Ready.make({})
export const watchdog = protocol.Watchdog.make({})
export const state = (n: number) => protocol.State.make({ state: n })
export const raise = (type: number, klass: number, severity: number, detail: string) =>
  protocol.Raise.make({ type, class: klass, severity, detail })
export const status = (text: string) => protocol.Status.make({ text })
export const unknown = (key: string, value: string) => protocol.Unknown.make({ key, value })

/** a socket path in a fresh private directory, removed with the scope */
export const freshSocketPath = Effect.map(server.makeSocketDirectory("ham-test-"), (dir) => path.join(dir, "n.sock"))

/** a server on a fresh private directory, collecting messages and parse errors in queues */
export const collecting = Effect.gen(function*() {
  const socketPath = yield* freshSocketPath
  const messages = yield* Queue.unbounded<protocol.NotifyMessage>()
  const errors = yield* Queue.unbounded<protocol.NotifyParseError>()
  const notifyServer = yield* server.serve(socketPath, (m) => Queue.offer(messages, m), {
    onParseError: (e) => Queue.offer(errors, e)
  })
  return { errors, messages, path: socketPath, server: notifyServer }
})

/** takes n items, failing the test after 10 seconds */
export const takeN = <A>(queue: Queue.Dequeue<A>, n: number) =>
  Effect.gen(function*() {
    const out: Array<A> = []
    while (out.length < n) out.push(yield* Queue.take(queue))
    return out
  }).pipe(
    Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error(`fewer than ${n} items in 10 s`) }),
    Effect.orDie
  )

/** a raw client connection that writes each piece separately, waiting between them */
export const writePieces = (socketPath: string, pieces: ReadonlyArray<string | Buffer>) =>
  Effect.gen(function*() {
    const socket = yield* Effect.async<net.Socket, Error>((resume) => {
      const s = net.createConnection({ path: socketPath })
      s.once("connect", () => resume(Effect.succeed(s)))
      s.once("error", (e) => resume(Effect.fail(e)))
    })
    for (const piece of pieces) {
      yield* Effect.async<void, Error>((resume) => {
        socket.write(piece, (e) => resume(e ? Effect.fail(e) : Effect.void))
      })
      // let the server read this piece on its own
      yield* Effect.sleep("15 millis")
    }
    yield* Effect.async<void>((resume) => {
      socket.end(() => resume(Effect.void))
    })
  }).pipe(Effect.orDie)
