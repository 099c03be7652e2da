/**
 * The options of `ham web`'s server and their checks: apart from the server (`server.ts`), so that
 * the CLI checks them without loading it.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { InvalidArgument } from "../../HamError.js"

/** @internal what `ham web` serves, and to whom */
export interface WebOptions {
  /** the address it listens on (default 127.0.0.1) */
  readonly host?: string | undefined
  /** its port (default 0: a free one) */
  readonly port?: number | undefined
  /** the token that lets one see the page */
  readonly viewToken: Redacted.Redacted<string>
  /** the token that lets one see the page and act */
  readonly operatorToken: Redacted.Redacted<string>
  /** the uptime of a local process, for a tree without `startedAt` (as `ham ls`) */
  readonly uptimeOf?: ((pid: number) => number | undefined) | undefined
}

/** @internal */
export const invalid = (argument: string, reason: string) => new InvalidArgument({ argument, reason })

/** @internal checks the options: a port, a host, two different tokens */
export const validate = (options: WebOptions): Effect.Effect<void, InvalidArgument> => {
  const port = options.port ?? 0
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    return Effect.fail(invalid("port", `a port is an integer from 0 to 65535 (got ${port})`))
  }
  if (options.host !== undefined && (options.host.trim() === "" || /\s/.test(options.host))) {
    return Effect.fail(invalid("host", `not a host: "${options.host}"`))
  }
  if (Redacted.value(options.viewToken) === Redacted.value(options.operatorToken)) {
    return Effect.fail(invalid("operatorToken", "the operator token must differ from the view token"))
  }
  return Effect.void
}
