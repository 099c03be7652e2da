/**
 * `ham mirror <dir>`: keeps a read-only directory in sync with a running HAM's tree, as QNX's
 * `/proc/ham` (see `mirror/sync.ts`), until interrupted or until the HAM goes away.
 *
 * @internal
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { HamUnreachable } from "../../HamError.js"
import * as sync from "../mirror/sync.js"
import { CliFailure, ExitCode, target, withHam } from "./target.js"

/** @internal */
export const mirror = Command.make("mirror", {
  ...target,
  dir: Args.text({ name: "dir" })
}, ({ dir, ...t }) =>
  Effect.gen(function*() {
    const refused = (e: { readonly message: string }) => new CliFailure(e.message, ExitCode.usage)
    // a directory that cannot be a mirror is refused before the HAM is asked anything
    yield* Effect.mapError(sync.check(dir), refused)
    yield* withHam(t, (ham) =>
      Effect.gen(function*() {
        const { fiber } = yield* Effect.mapError(sync.make(ham, dir), refused)
        yield* Console.log(`ham: mirroring the tree in ${dir} (Ctrl-C stops it; the directory stays as last written)`)
        yield* Fiber.join(fiber)
      }).pipe(Effect.scoped)).pipe(
        Effect.catchAllDefect((defect) =>
          defect instanceof HamUnreachable
            ? Effect.fail(new CliFailure(`${defect.message}; ${dir} stays as last written`, ExitCode.unreachable))
            : Effect.die(defect)
        )
      )
  })).pipe(
    Command.withDescription(
      "keeps a read-only directory in sync with the tree (/proc/ham): entity/condition/action, a stats file in each"
    )
  )
