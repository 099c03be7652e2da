/**
 * What a probe does once: an HTTP GET, a TCP connect, or a command run to its end. Each is an
 * interruptible `Effect<boolean>` (true: it passed) whose interruption frees what it holds: the
 * request is destroyed, the socket closed, the command's process group killed. The probe loop
 * (`watch/probes.ts`) bounds each with its timeout, and finds the checks through the
 * `ProbeTransport` service of the HAM's context (a test provides a fake one), else the real ones.
 *
 * @internal
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as ChildProcess from "node:child_process"
import * as Http from "node:http"
import * as Https from "node:https"
import * as probe_ from "../probe.js"
import type { ProbeTarget } from "./config.js"

/**
 * How probes reach their targets. `start` begins one probe and tells `done` whether it passed
 * (at most once; never after the returned function was called, which gives the probe up and
 * frees what it holds). The probes' clock (`watch.ts`) gives up a probe at its timeout.
 *
 * @internal
 */
export interface ProbeTransportService {
  readonly start: (target: ProbeTarget, done: (pass: boolean) => void) => () => void
}

/** @internal the probes' transport in the HAM's context (default: `real`) */
export class ProbeTransport extends Context.Tag("effect-ham/ProbeTransport")<ProbeTransport, ProbeTransportService>() {}

/** one HTTP GET: a 2xx or 3xx status passes (the body is drained, the connection kept alive) */
const httpGet = (url: string, done: (pass: boolean) => void): () => void => {
  const client = url.startsWith("https:") ? Https : Http
  let over = false
  const finish = (pass: boolean) => {
    if (over) return
    over = true
    done(pass)
  }
  const request = client.get(url, (response) => {
    const status = response.statusCode ?? 0
    response.on("error", () => finish(false))
    response.on("end", () => finish(status >= 200 && status < 400))
    response.resume()
  })
  request.on("error", () => finish(false))
  return () => {
    over = true
    request.destroy()
  }
}

/** kills a process group, if anything is left of it */
const killGroup = (pid: number | undefined) => {
  if (pid === undefined) return
  try {
    process.kill(-pid, "SIGKILL")
  } catch {
    // the group is empty
  }
}

/** runs a command (leading a process group of its own) to its end: exit code 0 passes */
const exec = (argv: ReadonlyArray<string>, done: (pass: boolean) => void): () => void => {
  let over = false
  const finish = (pass: boolean) => {
    if (over) return
    over = true
    done(pass)
  }
  let child: ChildProcess.ChildProcess
  try {
    child = ChildProcess.spawn(argv[0]!, argv.slice(1), { stdio: "ignore", detached: true })
  } catch {
    finish(false)
    return () => {}
  }
  child.once("error", () => finish(false))
  child.once("exit", (code) => {
    // what the command left in its group goes with it
    killGroup(child.pid)
    finish(code === 0)
  })
  return () => {
    over = true
    killGroup(child.pid)
  }
}

/** @internal the real checks */
export const real: ProbeTransportService = {
  start: (target, done) => {
    switch (target._tag) {
      case "Http":
        return httpGet(target.url, done)
      case "Tcp":
        return probe_.tryConnect({ host: target.host, port: target.port }, done)
      case "Exec":
        return exec(target.argv, done)
    }
  }
}

/** @internal the transport of the HAM's context, or the real one */
export const transportOf = (context: Context.Context<never>): ProbeTransportService =>
  Context.getOrElse(context as Context.Context<ProbeTransport>, ProbeTransport, () => real)

/** @internal one probe as an Effect, bounded by its timeout (a probe out of time fails, given up) */
export const once = (
  transport: ProbeTransportService,
  target: ProbeTarget,
  timeoutMillis: number
): Effect.Effect<boolean> =>
  Effect.timeoutTo(
    Effect.async<boolean>((resume) => Effect.sync(transport.start(target, (pass) => resume(Effect.succeed(pass))))),
    { duration: Duration.millis(timeoutMillis), onSuccess: (pass) => pass, onTimeout: () => false }
  )

/**
 * Waits until the probe passes: it runs every `intervalMillis` (the first at once), each within
 * `timeoutMillis`. A readiness source (`dependsOn` may wait on it); bound it with a timeout.
 *
 * @internal
 */
export const untilPasses = (
  target: ProbeTarget,
  options: { readonly intervalMillis: number; readonly timeoutMillis: number }
): Effect.Effect<void> =>
  Effect.flatMap(Effect.context<never>(), (context) =>
    Effect.asVoid(
      Effect.repeat(once(transportOf(context), target, options.timeoutMillis), {
        until: (pass) => pass,
        schedule: Schedule.spaced(Duration.millis(options.intervalMillis))
      })
    ))
