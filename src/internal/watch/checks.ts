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

/** @internal how probes reach their targets */
export interface ProbeTransportService {
  /** runs the probe once: true when it passed (it never fails; the caller bounds its time) */
  readonly check: (target: ProbeTarget) => Effect.Effect<boolean>
}

/** @internal the probes' transport in the HAM's context (default: `real`) */
export class ProbeTransport extends Context.Tag("effect-ham/ProbeTransport")<ProbeTransport, ProbeTransportService>() {}

/** one HTTP GET: a 2xx or 3xx status passes (the body is drained, the connection kept alive) */
const httpGet = (url: string): Effect.Effect<boolean> =>
  Effect.async<boolean>((resume) => {
    const client = url.startsWith("https:") ? Https : Http
    let done = false
    const finish = (pass: boolean) => {
      if (done) return
      done = true
      resume(Effect.succeed(pass))
    }
    const request = client.get(url, (response) => {
      const status = response.statusCode ?? 0
      response.on("error", () => finish(false))
      response.on("end", () => finish(status >= 200 && status < 400))
      response.resume()
    })
    request.on("error", () => finish(false))
    return Effect.sync(() => {
      done = true
      request.destroy()
    })
  })

/** kills the process group of an exec probe's child (it leads a group of its own) */
const killGroup = (child: ChildProcess.ChildProcess) => {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return
  try {
    process.kill(-child.pid, "SIGKILL")
  } catch {
    try {
      child.kill("SIGKILL")
    } catch {
      // gone already
    }
  }
}

/** runs a command to its end: exit code 0 passes; interrupted, its process group is killed */
const exec = (argv: ReadonlyArray<string>): Effect.Effect<boolean> =>
  Effect.async<boolean>((resume) => {
    let child: ChildProcess.ChildProcess
    try {
      child = ChildProcess.spawn(argv[0]!, argv.slice(1), { stdio: "ignore", detached: true })
    } catch {
      resume(Effect.succeed(false))
      return
    }
    child.once("error", () => resume(Effect.succeed(false)))
    child.once("exit", (code) => {
      // what the command left in its group goes with it
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, "SIGKILL")
        } catch {
          // the group is empty
        }
      }
      resume(Effect.succeed(code === 0))
    })
    return Effect.sync(() => killGroup(child))
  })

/** @internal the real checks */
export const real: ProbeTransportService = {
  check: (target) => {
    switch (target._tag) {
      case "Http":
        return httpGet(target.url)
      case "Tcp":
        return probe_.accepts({ host: target.host, port: target.port })
      case "Exec":
        return exec(target.argv)
    }
  }
}

/** @internal the transport of the HAM's context, or the real one */
export const transportOf = (context: Context.Context<never>): ProbeTransportService =>
  Context.getOrElse(context as Context.Context<ProbeTransport>, ProbeTransport, () => real)

/** @internal one probe bounded by its timeout: a probe out of time fails (and is interrupted) */
export const once = (
  transport: ProbeTransportService,
  target: ProbeTarget,
  timeoutMillis: number
): Effect.Effect<boolean> =>
  Effect.timeoutTo(transport.check(target), {
    duration: Duration.millis(timeoutMillis),
    onSuccess: (pass) => pass,
    onTimeout: () => false
  })

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
