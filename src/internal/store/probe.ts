/**
 * The store's probe: before the HAM's process maps a store file, a short-lived Node process of
 * its own walks the whole file (`walk.ts`) and says whether it is sound. LMDB trusts its file: a
 * damaged page can crash the process that reads it (SIGSEGV, or SIGABRT from an assertion in
 * mdb.c) or turn into an error deep in a read. Whatever the file does to the probe, the HAM's
 * process gets a `StoreCorrupt` saying what: the damage the probe found, or that it crashed, or
 * that it did not finish in time. The probe never writes the file.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as NodeChildProcess from "node:child_process"
import { createRequire } from "node:module"
import { StoreCorrupt, StoreUnavailable } from "../../HamError.js"
import { scriptEnv } from "../launch/helper.js"
import { source } from "./walk.js"

/** @internal what the probe says of a sound file */
export interface Sound {
  /** the records LMDB read back */
  readonly records: number
  /** the pages walked: branch, leaf and overflow pages in use, and free pages */
  readonly pages: { readonly branch: number; readonly leaf: number; readonly overflow: number; readonly free: number }
}

/** @internal how the probe's process ended */
export interface Outcome {
  readonly code: number | null
  readonly signal: string | null
  readonly stdout: string
  readonly stderr: string
}

/** @internal how to run the probe (tests give their own program) */
export interface ProbeOptions {
  /** how long the probe may take (default: 10 s, plus 1 s for each 10 MB of the file) */
  readonly timeoutMillis?: number | undefined
  /** the program (default: the walk of `walk.ts`) */
  readonly source?: string | undefined
}

const maxOutput = 64 * 1024

let lmdbEntry: string | undefined
/** the lmdb package's CommonJS entry, as this package resolves it */
const entry = (): string => (lmdbEntry ??= createRequire(import.meta.url).resolve("lmdb"))

/** runs the probe's program on `path` and collects what it says (bounded); interrupted, it is killed */
const run = (path: string, program: string): Effect.Effect<Outcome, StoreUnavailable> =>
  Effect.async<Outcome, StoreUnavailable>((resume) => {
    let child: NodeChildProcess.ChildProcess
    try {
      child = NodeChildProcess.spawn(process.execPath, ["-e", program, entry(), path], {
        stdio: ["ignore", "pipe", "pipe"],
        env: scriptEnv()
      })
    } catch (e) {
      resume(Effect.fail(cannotRun(path, e)))
      return
    }
    let stdout = ""
    let stderr = ""
    child.stdout!.setEncoding("utf8")
    child.stderr!.setEncoding("utf8")
    child.stdout!.on("data", (text: string) => {
      if (stdout.length < maxOutput) stdout += text
    })
    // the end of stderr is where an assertion or a fatal error is
    child.stderr!.on("data", (text: string) => {
      stderr = (stderr + text).slice(-maxOutput)
    })
    child.once("error", (e) => resume(Effect.fail(cannotRun(path, e))))
    child.once("close", (code, signal) => resume(Effect.succeed({ code, signal, stdout, stderr })))
    return Effect.sync(() => {
      child.removeAllListeners()
      child.kill("SIGKILL")
    })
  })

const cannotRun = (path: string, e: unknown): StoreUnavailable => {
  const code = (e as NodeJS.ErrnoException).code
  const reason = `its check cannot run: ${e instanceof Error ? e.message : String(e)}`
  return new StoreUnavailable(typeof code === "string" ? { path, reason, code } : { path, reason })
}

/** the line of stderr that says why a process crashed: an mdb.c assertion, or the last line */
const crashLine = (stderr: string): string | undefined => {
  const lines = stderr.split("\n").map((line) => line.trim()).filter((line) => line.length > 0)
  const line = lines.find((l) => l.includes("mdb.c") || l.includes("Assertion")) ?? lines.at(-1)
  return line === undefined ? undefined : line.slice(0, 300)
}

/**
 * What an outcome means: a sound file, a `StoreCorrupt` (the damage found, an LMDB file of
 * another program, a crash of the probe), or a `StoreUnavailable` (the probe could not run).
 *
 * @internal
 */
export const judge = (path: string, outcome: Outcome): Effect.Effect<Sound, StoreCorrupt | StoreUnavailable> => {
  const corrupt = (reason: string) => Effect.fail(new StoreCorrupt({ path, reason }))
  if (outcome.signal !== null) {
    const line = crashLine(outcome.stderr)
    return corrupt(
      `reading it crashed the process that checked it (${outcome.signal}${line === undefined ? "" : `: ${line}`})`
    )
  }
  let verdict: { readonly ok?: unknown; readonly foreign?: unknown; readonly damaged?: unknown } | undefined
  try {
    verdict = JSON.parse(outcome.stdout.trim().split("\n").at(-1) ?? "")
  } catch {
    verdict = undefined
  }
  if (outcome.code === 0 && verdict?.ok === true) return Effect.succeed(verdict as unknown as Sound)
  if (outcome.code === 0 && typeof verdict?.foreign === "string") {
    return corrupt(`an LMDB file of another program (${verdict.foreign})`)
  }
  if (outcome.code === 0 && typeof verdict?.damaged === "string") return corrupt(`damaged: ${verdict.damaged}`)
  const line = crashLine(outcome.stderr)
  return Effect.fail(
    new StoreUnavailable({
      path,
      reason: `its check ended without a verdict (exit code ${outcome.code}${line === undefined ? "" : `: ${line}`})`
    })
  )
}

/**
 * Probes the store file at `path` (of `size` bytes) in a process of its own: succeeds when the
 * whole file reads back, fails with `StoreCorrupt` saying why otherwise (a crash or a timeout of
 * the probe included), with `StoreUnavailable` when no probe could run.
 *
 * @internal
 */
export const probe = (
  path: string,
  size: number,
  options?: ProbeOptions
): Effect.Effect<Sound, StoreCorrupt | StoreUnavailable> => {
  const timeoutMillis = options?.timeoutMillis ?? 10_000 + Math.ceil(size / 10_000_000) * 1000
  return run(path, options?.source ?? source).pipe(
    Effect.timeoutFail({
      duration: timeoutMillis,
      onTimeout: () =>
        new StoreCorrupt({ path, reason: `the process that checked it did not finish within ${timeoutMillis} ms` })
    }),
    Effect.flatMap((outcome) => judge(path, outcome))
  )
}
