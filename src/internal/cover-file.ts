/**
 * A covered file handle (the reference's `ha_open`, `ha_reopen`, `ha_dup`, `ha_close`): reads
 * and writes at the handle's own offset; when the descriptor goes stale or bad (EBADF, ESTALE,
 * ...), the recovery function gets the old descriptor and the state (path, flags, offset) and
 * returns a new descriptor, and the operation runs again from the same offset.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import { pipeArguments } from "effect/Pipeable"
import type * as Scope from "effect/Scope"
import * as NodeFs from "node:fs"
import type * as Api from "../Cover.js"
import { ControlTypeId, decodeControlOp, recoverOf } from "./cover-control.js"
import * as cover_ from "./cover.js"

/** @internal */
export type FileState = Api.FileState

/** @internal */
export type FileRecoverFn = Api.FileRecoverFn

/** @internal */
export type OpenOptions = Api.OpenOptions

/** @internal */
export type CoverFile = Api.CoverFile

const errnoOf = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)))

const openFd = (path: string, flags: string) =>
  Effect.async<number, Error>((resume) => {
    NodeFs.open(path, flags, 0o666, (error, fd) => resume(error ? Effect.fail(error) : Effect.succeed(fd)))
  })

/** a descriptor; `bad` once an operation said EBADF (closed under us: its number may be reused) */
interface Descriptor {
  readonly fd: number
  bad: boolean
}

/** the descriptor, closed with its scope, unless it went bad (closing it could close another file) */
const scopedFd = (open: Effect.Effect<number, unknown>): Effect.Effect<Descriptor, unknown, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.map(open, (fd): Descriptor => ({ fd, bad: false })),
    (descriptor) =>
      descriptor.bad ? Effect.void : Effect.async<void>((resume) => {
        NodeFs.close(descriptor.fd, () => resume(Effect.void))
      })
  )

/** notes an EBADF on the descriptor, and passes the error on */
const failOn = (descriptor: Descriptor, error: NodeJS.ErrnoException) => {
  if (error.code === "EBADF") descriptor.bad = true
  return Effect.fail(error)
}

/**
 * The flags of a reopen: a file opened to be written ("w", "w+", "wx", ...) is opened again
 * read-write without truncating it (it exists now, and holds what was written).
 *
 * @internal
 */
export const reopenFlags = (flags: string): string => (flags.startsWith("w") ? "r+" : flags)

/** @internal */
export const open = (
  path: string,
  flags = "r",
  recover?: FileRecoverFn,
  options?: OpenOptions
): Effect.Effect<CoverFile, Error, Scope.Scope> =>
  Effect.gen(function*() {
    yield* cover_.validateOptions(options, ["schedule", "isRecoverable", "retries"], "Cover.open options")
    const state = { path, flags, offset: 0, handles: 1 }
    let userRecover: FileRecoverFn = recover ?? ((s) => openFd(s.path, reopenFlags(s.flags)))
    const cover = yield* cover_.make({
      acquire: scopedFd(openFd(path, flags)) as Effect.Effect<Descriptor, Error, Scope.Scope>,
      recover: (old) =>
        scopedFd(
          Effect.suspend(() => userRecover({ fd: old.fd, path: state.path, flags: state.flags, offset: state.offset }))
        ),
      schedule: options?.schedule,
      isRecoverable: options?.isRecoverable,
      retries: options?.retries
    })

    const handle = (): CoverFile => {
      let open = true
      const read = (length: number) =>
        cover.use((descriptor) =>
          Effect.async<Uint8Array, Error | cover_.CoverClosed>((resume) => {
            if (!open) return resume(Effect.fail(new cover_.CoverClosed()))
            const buffer = Buffer.alloc(length)
            NodeFs.read(descriptor.fd, buffer, 0, length, state.offset, (error, n) => {
              if (error) return resume(failOn(descriptor, error))
              state.offset += n
              resume(Effect.succeed(buffer.subarray(0, n)))
            })
          })
        )
      const write = (data: Uint8Array | string) =>
        cover.use((descriptor) =>
          Effect.async<number, Error | cover_.CoverClosed>((resume) => {
            if (!open) return resume(Effect.fail(new cover_.CoverClosed()))
            const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data
            NodeFs.write(descriptor.fd, bytes, 0, bytes.length, state.offset, (error, n) => {
              if (error) return resume(failOn(descriptor, error))
              state.offset += n
              resume(Effect.succeed(n))
            })
          })
        )
      const seek = (offset: number, whence: "start" | "current" | "end" = "start") =>
        whence === "end"
          ? cover.use((descriptor) =>
            Effect.async<number, Error | cover_.CoverClosed>((resume) => {
              if (!open) return resume(Effect.fail(new cover_.CoverClosed()))
              NodeFs.fstat(descriptor.fd, (error, stat) => {
                if (error) return resume(failOn(descriptor, error))
                state.offset = Math.max(0, stat.size + offset)
                resume(Effect.succeed(state.offset))
              })
            })
          )
          : Effect.suspend(() => {
            if (!open) return Effect.fail(new cover_.CoverClosed())
            state.offset = Math.max(0, (whence === "current" ? state.offset : 0) + offset)
            return Effect.succeed(state.offset)
          })

      return {
        pipe() {
          return pipeArguments(this, arguments)
        },
        fd: Effect.map(cover.get, (r) => r.fd),
        offset: Effect.sync(() => state.offset),
        read,
        write,
        seek,
        dup: Effect.suspend(() => {
          if (!open) return Effect.fail(new cover_.CoverClosed())
          state.handles++
          return Effect.succeed(handle())
        }),
        reopen: (next) =>
          Effect.suspend(() => {
            if (next !== undefined) state.path = next
            return cover.recoverNow(new Error(`reopen ${state.path}`))
          }),
        close: Effect.suspend(() => {
          if (!open) return Effect.void
          open = false
          state.handles--
          return state.handles === 0 ? cover.close : Effect.void
        }),
        setRecover: (next) =>
          Effect.sync(() => {
            userRecover = next
          }),
        // the file's recovery function is the handle's own (the cover's wraps it)
        [ControlTypeId]: (op) =>
          Effect.flatMap(decodeControlOp(op), (decoded) => {
            if (!open) return Effect.fail(new cover_.CoverClosed())
            const next = recoverOf(decoded)
            if (next === undefined) return cover[ControlTypeId](decoded as Api.ControlOp<never>)
            return Effect.map(cover[ControlTypeId]("get"), (state) => {
              userRecover = next
              return state
            })
          }),
        stats: cover.stats,
        recoveries: cover.recoveries
      }
    }
    return handle()
  }).pipe(Effect.mapError(errnoOf))
