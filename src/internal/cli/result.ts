/**
 * What a `ham` command that changes a HAM prints: a line of text, or with `--json` one JSON object
 * (`{ "ok": true, "command": ..., ... }`) for scripts. A failed command with `--json` prints
 * `{ "ok": false, "code": <exit code>, "error": { "_tag", "message", ... } }` (`main.ts`).
 *
 * @internal
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"

/** @internal prints the result of `command`: `text` (nothing when empty), or the JSON object */
export const report = (
  json: boolean,
  command: string,
  fields: Readonly<Record<string, unknown>>,
  text: string
): Effect.Effect<void> =>
  json
    ? Console.log(JSON.stringify({ ok: true, command, ...fields }))
    : text === ""
    ? Effect.void
    : Console.log(text)

/** @internal the JSON a failed command prints with `--json` */
export const failureJson = (code: number, error: unknown, message: string): string => {
  const fields = typeof error === "object" && error !== null && "_tag" in error
    ? {
      _tag: error._tag,
      ...Object.fromEntries(Object.entries(error).filter(([, v]) => typeof v !== "function" && typeof v !== "object"))
    }
    : {}
  return JSON.stringify({ ok: false, code, error: { ...fields, message } })
}
