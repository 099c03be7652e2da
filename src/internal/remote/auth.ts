/**
 * The remote HAM's token: where it is read from (given, a file only its owner may read, or an
 * environment variable), how a new one is made, and the constant-time check of a call's token.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import { InvalidArgument } from "../../HamError.js"
import type { TokenSource } from "../../HamServer.js"

/** @internal the fewest characters a token has */
export const MinTokenLength = 16

/** @internal the most characters a token has */
export const MaxTokenLength = 1024

const invalid = (argument: string, reason: string) => new InvalidArgument({ argument, reason })

const errorText = (u: unknown): string => u instanceof Error ? u.message : String(u)

/** a token as read: trimmed, then checked (printable ASCII, no spaces: it travels in a header) */
const checkToken = (argument: string, text: string): Effect.Effect<Redacted.Redacted<string>, InvalidArgument> => {
  const token = text.trim()
  if (token.length < MinTokenLength || token.length > MaxTokenLength) {
    return Effect.fail(
      invalid(argument, `a token has ${MinTokenLength} to ${MaxTokenLength} characters (got ${token.length})`)
    )
  }
  if (!/^[\x21-\x7e]+$/.test(token)) {
    return Effect.fail(invalid(argument, "a token is printable ASCII without spaces"))
  }
  return Effect.succeed(Redacted.make(token))
}

/**
 * Reads a file that only its owner may read (a token, a TLS key), refusing one that anyone but its
 * owner may read or write, that this user does not own, that is not a regular file, or that is
 * larger than `maxBytes` (the checks are made on the open descriptor).
 *
 * @internal
 */
export const readPrivateFile = (
  path: string,
  argument: string,
  maxBytes: number,
  what = "the file"
): Effect.Effect<string, InvalidArgument> =>
  Effect.flatMap(
    Effect.try({
      try: () => {
        const fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK)
        try {
          const stat = fs.fstatSync(fd)
          if (!stat.isFile()) return Option.none<string>()
          if (typeof process.getuid === "function" && stat.uid !== process.getuid()) {
            throw new Error(`${path} belongs to another user (uid ${stat.uid})`)
          }
          if ((stat.mode & 0o077) !== 0) {
            throw new Error(
              `${path} may be read or written by others (mode 0${(stat.mode & 0o777).toString(8)}): chmod 600 it`
            )
          }
          if (stat.size > maxBytes) throw new Error(`${path} is too large for ${what}`)
          return Option.some(fs.readFileSync(fd, "utf8"))
        } finally {
          fs.closeSync(fd)
        }
      },
      catch: (u) => invalid(argument, errorText(u))
    }),
    Option.match({
      onNone: () => Effect.fail(invalid(argument, `${path} is not a regular file`)),
      onSome: Effect.succeed
    })
  )

/**
 * Reads a token file: a file only its owner may read (`readPrivateFile`), holding a token.
 *
 * @internal
 */
export const readTokenFile = (
  path: string,
  argument = "tokenFile"
): Effect.Effect<Redacted.Redacted<string>, InvalidArgument> =>
  Effect.flatMap(readPrivateFile(path, argument, MaxTokenLength + 2, "a token"), (text) => checkToken(argument, text))

/** @internal a new random token: 32 random bytes, base64url (43 characters) */
export const generateToken = (): Redacted.Redacted<string> =>
  Redacted.make(crypto.randomBytes(32).toString("base64url"))

/**
 * The token of a token file, made first (a new random token, mode 0600, created exclusively) when
 * the file does not exist.
 *
 * @internal
 */
export const ensureTokenFile = (path: string): Effect.Effect<Redacted.Redacted<string>, InvalidArgument> =>
  Effect.suspend(() => {
    const token = generateToken()
    try {
      fs.writeFileSync(path, `${Redacted.value(token)}\n`, { flag: "wx", mode: 0o600 })
      return Effect.succeed(token)
    } catch (u) {
      if ((u as NodeJS.ErrnoException).code === "EEXIST") return readTokenFile(path)
      return Effect.fail(invalid("tokenFile", errorText(u)))
    }
  })

/**
 * The token of a source, or none when the source names none. More than one of `token`,
 * `tokenFile` and `tokenEnv` is an error.
 *
 * @internal
 */
export const resolveToken = (
  source: TokenSource | undefined,
  argument: string
): Effect.Effect<Option.Option<Redacted.Redacted<string>>, InvalidArgument> =>
  Effect.suspend(() => {
    if (source === undefined) return Effect.succeedNone
    const given = [source.token, source.tokenFile, source.tokenEnv].filter((x) => x !== undefined)
    if (given.length > 1) {
      return Effect.fail(invalid(argument, "give one of token, tokenFile and tokenEnv"))
    }
    if (source.token !== undefined) {
      const text = Redacted.isRedacted(source.token) ? Redacted.value(source.token) : source.token
      return Effect.asSome(checkToken(`${argument}.token`, text))
    }
    if (source.tokenFile !== undefined) return Effect.asSome(readTokenFile(source.tokenFile, `${argument}.tokenFile`))
    if (source.tokenEnv !== undefined) {
      const text = process.env[source.tokenEnv]
      return text === undefined
        ? Effect.fail(invalid(`${argument}.tokenEnv`, `the environment variable ${source.tokenEnv} is not set`))
        : Effect.asSome(checkToken(`${argument}.tokenEnv`, text))
    }
    return Effect.succeedNone
  })

const digest = (text: string): Buffer => crypto.createHash("sha256").update(text, "utf8").digest()

/**
 * A check of tokens against `expected` that takes the same time whatever it is given: both are
 * hashed (SHA-256) and the hashes compared with `crypto.timingSafeEqual`, so neither the length
 * nor the first differing character shows in the time.
 *
 * @internal
 */
export const tokenChecker = (expected: Redacted.Redacted<string>): (given: string | undefined) => boolean => {
  const want = digest(Redacted.value(expected))
  return (given) => {
    const ok = crypto.timingSafeEqual(digest(given ?? ""), want)
    return ok && given !== undefined
  }
}
