/**
 * The files the daemon keeps beside its control socket (its pid, how its last reload went): what
 * the CLI reads without loading the daemon.
 *
 * @internal
 */

/** @internal the file beside the socket where the daemon says how its last reload went */
export const reloadFile = (socket: string) => `${socket}.reload`

/** @internal the daemon's pid file, beside its socket */
export const pidFile = (socket: string) => `${socket}.pid`

/** @internal what a reload reports */
export interface ReloadReport {
  readonly seq: number
  readonly ok: boolean
  readonly message: string
}
