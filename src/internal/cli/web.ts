/**
 * `ham web`: a web page of the HAM (the tree, a live feed of its events, a timeline of each
 * entity's deaths and restarts, the operator's acts), served over HTTP by this command, a client
 * of the HAM like `ham top`: run by the control socket's owner, it is the page's local proxy to
 * the socket. The server is `web/server.ts`, loaded only by this command once the HAM answers: it
 * is not part of the CLI's bundle (`ham ls` stays fast); `ham web` runs the unbundled build, as
 * `ham start` does (`ham.ts`).
 *
 * Tokens: the view token and the operator token come from `--view-token-file` and
 * `--operator-token-file` (files only their owner may read), else from `$HAM_WEB_VIEW_TOKEN` and
 * `$HAM_WEB_OPERATOR_TOKEN`; one given by neither is made at random and printed. Runs until
 * interrupted (Ctrl-C) or until the HAM goes away (exit 3).
 *
 * @internal
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Redacted from "effect/Redacted"
import type { InvalidArgument } from "../../HamError.js"
import * as auth from "../remote/auth.js"
import { validate } from "../web/options.js"
import { CliFailure, ExitCode, fail, target, withHam } from "./target.js"
import * as view from "./view.js"

/** @internal the environment variables of the tokens */
export const tokenEnv = { view: "HAM_WEB_VIEW_TOKEN", operator: "HAM_WEB_OPERATOR_TOKEN" } as const

/** a token: from its file, else its environment variable, else a new one (`made`) */
const token = (
  file: Option.Option<string>,
  env: string,
  argument: string
): Effect.Effect<{ readonly token: Redacted.Redacted<string>; readonly made: boolean }, InvalidArgument> =>
  Effect.map(
    auth.resolveToken(
      Option.isSome(file) ? { tokenFile: file.value } : process.env[env] !== undefined ? { tokenEnv: env } : undefined,
      argument
    ),
    Option.match({
      onNone: () => ({ token: auth.generateToken(), made: true }),
      onSome: (token) => ({ token, made: false })
    })
  )

/** @internal */
export const command = Command.make("web", {
  ...target,
  webHost: Options.text("web-host").pipe(
    Options.withDescription("the address the page is served on (127.0.0.1; another one serves it to the network)"),
    Options.withDefault("127.0.0.1")
  ),
  webPort: Options.integer("web-port").pipe(
    Options.withDescription("the page's port (8740; 0: a free one, printed)"),
    Options.withDefault(8740)
  ),
  viewTokenFile: Options.text("view-token-file").pipe(
    Options.withDescription(
      `the file of the token that lets one see the page (else $${tokenEnv.view}, else a new one)`
    ),
    Options.optional
  ),
  operatorTokenFile: Options.text("operator-token-file").pipe(
    Options.withDescription(
      `the file of the token that lets one act: restart, signal, enable, disable, detach (else $${tokenEnv.operator}, ` +
        "else a new one)"
    ),
    Options.optional
  )
}, ({ operatorTokenFile, viewTokenFile, webHost, webPort, ...t }) =>
  Effect.gen(function*() {
    const usage = (e: { readonly message: string }) => new CliFailure(e.message, ExitCode.usage)
    const viewToken = yield* Effect.mapError(token(viewTokenFile, tokenEnv.view, "viewToken"), usage)
    const operatorToken = yield* Effect.mapError(
      token(operatorTokenFile, tokenEnv.operator, "operatorToken"),
      usage
    )
    const options = {
      host: webHost,
      port: webPort,
      viewToken: viewToken.token,
      operatorToken: operatorToken.token,
      uptimeOf: Option.isSome(t.port) ? undefined : view.localUptime
    }
    // refused before the HAM is asked
    yield* Effect.mapError(validate(options), usage)
    yield* withHam(t, (ham) =>
      Effect.gen(function*() {
        const server = yield* Effect.promise(() => import("../web/server.js"))
        const web = yield* server.serve(ham, options).pipe(
          Effect.mapError((e) => Predicate.isTagged(e, "InvalidArgument") ? usage(e) : new CliFailure(e.message, 1))
        )
        yield* Console.log(
          [
            `ham web: ${web.url}`,
            `  view: ${web.url}?token=${viewToken.made ? Redacted.value(viewToken.token) : "<your view token>"}`,
            `  operator token: ${
              operatorToken.made ? Redacted.value(operatorToken.token) : "yours"
            } (typed in the page's operator field, it lets one restart, signal, enable, disable, detach)`,
            ...(webHost === "127.0.0.1" || webHost === "::1" || webHost === "localhost"
              ? []
              : [`  served beyond this machine (${webHost}), in clear HTTP: the tokens travel unencrypted`]),
            "  Ctrl-C stops it"
          ].join("\n")
        )
        yield* web.done
        return yield* fail("the HAM went away", ExitCode.unreachable)
      }).pipe(Effect.scoped))
  })).pipe(
    Command.withDescription(
      "serves a web page of the HAM: the tree, a live feed of its events, the restart timelines, and the operator's acts"
    )
  )
