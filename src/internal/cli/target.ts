/**
 * What every `ham` command that talks to a HAM shares: the options that pick it (the control
 * socket, another socket, or TCP with a token), the client, the exit codes.
 *
 * @internal
 */
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { HamService } from "../../HamService.js"
import * as config_ from "../daemon/config.js"
import { Ham } from "../ham/tag.js"
import * as client from "../remote/client.js"

/** @internal the exit codes */
export const ExitCode = { ok: 0, refused: 1, usage: 2, unreachable: 3, unauthorized: 4 } as const

/** @internal a failure the CLI reports and exits with */
export class CliFailure {
  readonly _tag = "CliFailure"
  constructor(readonly message: string, readonly code: number) {}
}

/** @internal */
export const fail = (message: string, code: number = ExitCode.refused) => Effect.fail(new CliFailure(message, code))

// ---------------------------------------------------------------------------------------------
// which HAM
// ---------------------------------------------------------------------------------------------

/** @internal the options that pick a HAM */
export const target = {
  socket: Options.text("socket").pipe(
    Options.withDescription("the HAM's Unix socket (default: $HAM_SOCKET, or the local daemon's)"),
    Options.optional
  ),
  host: Options.text("host").pipe(Options.withDescription("a HAM on TCP: its host (127.0.0.1)"), Options.optional),
  port: Options.integer("port").pipe(Options.withDescription("a HAM on TCP: its port"), Options.optional),
  tokenFile: Options.text("token-file").pipe(
    Options.withDescription("a HAM on TCP: the file of its token (else $HAM_TOKEN)"),
    Options.optional
  ),
  caFile: Options.text("ca-file").pipe(
    Options.withDescription("a HAM on TCP with TLS: the PEM file its certificate is checked against"),
    Options.optional
  )
}

/** @internal */
export type Target = {
  readonly socket: Option.Option<string>
  readonly host: Option.Option<string>
  readonly port: Option.Option<number>
  readonly tokenFile: Option.Option<string>
  readonly caFile: Option.Option<string>
}

/** @internal */
export const json = Options.boolean("json").pipe(Options.withDescription("print JSON, for scripts"))

/** @internal `-f`: a command that follows what comes (events, an output file) until interrupted */
export const follow = Options.boolean("follow").pipe(
  Options.withAlias("f"),
  Options.withDescription("follow until interrupted")
)

/** @internal runs `f` with the `Ham` of the HAM the options name */
export const withHam = <A>(t: Target, f: (ham: HamService) => Effect.Effect<A, unknown>) => {
  const options = Option.isSome(t.port)
    ? {
      tcp: { port: t.port.value, host: Option.getOrUndefined(t.host) },
      auth: Option.isSome(t.tokenFile) ? { tokenFile: t.tokenFile.value } : { tokenEnv: "HAM_TOKEN" },
      tls: Option.isSome(t.caFile) ? { caFile: t.caFile.value } : undefined
    }
    : { unix: Option.getOrElse(t.socket, () => config_.defaultSocket()) }
  return Effect.flatMap(Ham, f).pipe(Effect.provide(client.layer({ ...options, connectTimeout: "2 seconds" })))
}
