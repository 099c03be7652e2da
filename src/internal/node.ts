/**
 * The address of another HAM, as data: what a node-qualified action (`Action.publishState`,
 * `Action.raise` with `node`) names, written the same in the store, on the wire and in the
 * daemon's config file. A token is named by its file or its environment variable, never written
 * itself (an action is stored and shown in the tree).
 *
 * @internal
 */
import * as Schema from "effect/Schema"
import type * as PublicAction from "../Action.js"

/** @internal */
export type NodeAddress = PublicAction.NodeAddress

const Path = Schema.String.pipe(Schema.minLength(1))

/** @internal a HAM's Unix socket */
export const UnixNode = Schema.Struct({
  unix: Path.annotations({ description: "the path of the other HAM's Unix socket" })
}).annotations({ identifier: "UnixNode" })

/** @internal a HAM on TCP, its token (a file or a variable) and, optionally, TLS */
export const TcpNode = Schema.Struct({
  tcp: Schema.Struct({
    port: Schema.Int.pipe(Schema.between(1, 65535)),
    host: Schema.optional(Schema.String.pipe(Schema.minLength(1)))
  }).annotations({ description: "the other HAM's TCP port, on host (default 127.0.0.1)" }),
  tokenFile: Schema.optional(Path).annotations({ description: "the file of the other HAM's token (mode 0600)" }),
  tokenEnv: Schema.optional(Path).annotations({ description: "the environment variable holding its token" }),
  tls: Schema.optional(Schema.Struct({
    caFile: Schema.optional(Path).annotations({
      description: "the PEM file of the CA (or the self-signed certificate) the server's certificate is checked against"
    }),
    servername: Schema.optional(Schema.String).annotations({ description: "the name the certificate must carry" })
  })).annotations({ description: "speak TLS to the other HAM (its certificate is always checked)" })
}).annotations({ identifier: "TcpNode" })

/** @internal */
export const NodeAddress: Schema.Schema<NodeAddress> = Schema.Union(UnixNode, TcpNode).annotations({
  identifier: "NodeAddress",
  description: "another HAM: { unix } or { tcp: { host, port }, tokenFile | tokenEnv, tls? }"
})

/** @internal the address as written in errors and the tree */
export const render = (node: NodeAddress): string => {
  if ("unix" in node) return `unix:${node.unix}`
  const host = node.tcp.host ?? "127.0.0.1"
  const scheme = node.tls === undefined ? "tcp" : "tls"
  return `${scheme}://${host.includes(":") ? `[${host}]` : host}:${node.tcp.port}`
}

/** @internal what is wrong with an address given to a constructor, if anything */
export const problem = (node: unknown): string | undefined => {
  if (!Schema.is(NodeAddress)(node)) {
    return "must be { unix: path } or { tcp: { port, host? }, tokenFile? | tokenEnv?, tls? }"
  }
  if ("unix" in node && "tcp" in node) return "give one of unix and tcp"
  const known = "unix" in node ? ["unix"] : ["tcp", "tokenFile", "tokenEnv", "tls"]
  const unknown = Object.keys(node).find((key) => !known.includes(key))
  if (unknown !== undefined) {
    return `unknown field ${JSON.stringify(unknown)} (known: ${
      known.join(", ")
    }; a token is named by its file or variable)`
  }
  if ("tcp" in node && node.tokenFile !== undefined && node.tokenEnv !== undefined) {
    return "give one of tokenFile and tokenEnv"
  }
  return undefined
}

/** @internal one key per address (the connections to other HAMs are kept by it) */
export const key = (node: NodeAddress): string =>
  "unix" in node
    ? JSON.stringify(["unix", node.unix])
    : JSON.stringify([
      "tcp",
      node.tcp.host ?? "127.0.0.1",
      node.tcp.port,
      node.tokenFile ?? null,
      node.tokenEnv ?? null,
      node.tls?.caFile ?? null,
      node.tls?.servername ?? null,
      node.tls === undefined
    ])
