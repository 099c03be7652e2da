/**
 * A covered `FileSystem` (@effect/platform): the files it opens recover when what is behind them
 * fails. The drop-in form of the reference's `ha_open`: code written against `FileSystem` becomes
 * HA-aware when this layer is put over the platform's.
 *
 * A file is a cover whose resource is the underlying `File`: a recoverable failure (a bad or stale
 * descriptor, or the file found replaced or removed under its handle) reopens it by path, seeks
 * to the offset the handle had, and runs the operation again.
 *
 * @internal
 */
import * as Error from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import type * as Api from "../CoverLayers.js"
import { InvalidArgument } from "../HamError.js"
import { AnyFunction, AnySchedule, ControlTypeId, decodeControlOp, decodeOptions, recoverOf } from "./cover-control.js"
import { reopenFlags } from "./cover-file.js"
import * as cover_ from "./cover.js"

/** @internal */
export type FileSystemOptions = Api.FileSystemOptions

/** @internal */
export type FileSystemRecoverFn = Api.FileSystemRecoverFn

const OptionsSchema = Schema.Struct({
  schedule: Schema.optional(AnySchedule),
  isRecoverable: Schema.optional(AnyFunction),
  retries: Schema.optional(Schema.NonNegativeInt),
  checkPath: Schema.optional(Schema.Literal("atEnd", "always", "never"))
})

/** an open underlying file; `bad` once it failed with EBADF (closed under us: never closed again) */
interface Resource {
  readonly file: FileSystem.File
  bad: boolean
}

/**
 * The underlying file in a scope of its own, closed with the cover's scope unless it went bad: its
 * descriptor number may already belong to another file (often the one that replaced it).
 */
const openResource = (
  fs: FileSystem.FileSystem,
  path: string,
  options: FileSystem.OpenFileOptions | undefined
): Effect.Effect<Resource, Error.PlatformError, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const file = yield* fs.open(path, options).pipe(
      Scope.extend(scope),
      Effect.onError(() => Scope.close(scope, Exit.void))
    )
    const resource: Resource = { file, bad: false }
    yield* Effect.addFinalizer(() => resource.bad ? Effect.void : Scope.close(scope, Exit.void))
    return resource
  })

/** the failure of a file found replaced or removed under its handle: a stale handle (ESTALE) */
const staleError = (method: string, path: string) =>
  new Error.SystemError({
    reason: "BadResource",
    module: "FileSystem",
    method,
    pathOrDescriptor: path,
    syscall: "fstat",
    description: "the file was replaced or removed under its open handle",
    cause: cover_.errnoError("ESTALE", `stale handle: ${path} was replaced or removed`)
  })

const reasonOf = (u: unknown): Error.SystemErrorReason => u instanceof Error.SystemError ? u.reason : "Unknown"

/** @internal a covered `FileSystem` over `fs` */
export const make = (
  fs: FileSystem.FileSystem,
  options: { readonly [K in keyof FileSystemOptions]-?: Exclude<FileSystemOptions[K], undefined> | undefined }
): FileSystem.FileSystem => {
  const checkPath = options.checkPath ?? "atEnd"
  const open = (path: string, openOptions?: FileSystem.OpenFileOptions) =>
    Effect.gen(function*() {
      const flag = openOptions?.flag ?? "r"
      const append = flag.startsWith("a")
      let offset = BigInt(0)
      let userRecover: FileSystemRecoverFn | undefined
      let latest: Resource
      const reopen = (state: Api.FileSystemFileState) =>
        userRecover === undefined
          ? openResource(fs, state.path, { ...openOptions, flag: reopenFlags(state.flag) as FileSystem.OpenFlag })
          : Effect.map(userRecover(state), (file): Resource => ({ file, bad: false }))
      const cover = yield* cover_.make({
        acquire: Effect.tap(openResource(fs, path, openOptions), (r) => {
          latest = r
        }),
        recover: () =>
          Effect.suspend(() => {
            const at = offset
            return Effect.tap(reopen({ path, flag, offset: at }), (r) =>
              Effect.map(r.file.seek(at, "start"), () => {
                latest = r
              }))
          }),
        schedule: options.schedule,
        isRecoverable: options.isRecoverable,
        retries: options.retries
      })

      /** whether the path still names the open file (same device and inode, not unlinked) */
      const replaced = (r: Resource): Effect.Effect<boolean> =>
        Effect.zipWith(Effect.either(r.file.stat), Effect.either(fs.stat(path)), (fd, named) => {
          if (Either.isLeft(fd)) return false
          if (Option.getOrElse(fd.right.nlink, () => 1) === 0) return true
          if (Either.isLeft(named)) return named.left._tag === "SystemError" && named.left.reason === "NotFound"
          return named.right.dev !== fd.right.dev ||
            Option.getOrUndefined(named.right.ino) !== Option.getOrUndefined(fd.right.ino)
        })

      /** an operation on the current file: EBADF marks it bad; a replaced file fails as stale (checkPath) */
      const isRecoverable = (options.isRecoverable ?? cover_.isRecoverableDefault) as (error: unknown) => boolean
      let closed = false
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          closed = true
        })
      )

      const toPlatform =
        (method: string) => (error: Error.PlatformError | cover_.RecoveryFailed | cover_.CoverClosed) =>
          error instanceof cover_.RecoveryFailed || error instanceof cover_.CoverClosed
            ? new Error.SystemError({
              reason: error instanceof cover_.RecoveryFailed ? reasonOf(error.cause) : "BadResource",
              module: "FileSystem",
              method,
              pathOrDescriptor: path,
              description: error.message,
              cause: error
            })
            : error

      /**
       * An operation on the current file. The way of a success is short: the operation, then its
       * result (at the end of the file, the path checked). A failure that may be recovered, or a
       * file found replaced, takes the cover's way: the operation runs again there on the file it
       * has (failing again), which recovers it and runs it on the new one.
       */
      const run = <X>(
        method: string,
        f: (file: FileSystem.File) => Effect.Effect<X, Error.PlatformError>,
        options?: {
          /** whether a result is the end of the file (where `atEnd` checks the path) */
          readonly atEnd?: (x: X) => boolean
          /** what a result does to the offset */
          readonly after?: (x: X) => void
        }
      ): Effect.Effect<X, Error.PlatformError> => {
        const atEnd = checkPath === "atEnd" ? options?.atEnd : undefined
        const after = options?.after
        const attempt = (
          r: Resource,
          onStale: () => Effect.Effect<X, Error.PlatformError>,
          onRecoverable?: () => Effect.Effect<X, Error.PlatformError>
        ) =>
          Effect.matchEffect(f(r.file), {
            onFailure: (error) => {
              if (Option.getOrUndefined(cover_.failureCode(error)) === "EBADF") r.bad = true
              return onRecoverable !== undefined && isRecoverable(error) ? onRecoverable() : Effect.fail(error)
            },
            onSuccess: (x) => {
              if (atEnd !== undefined && atEnd(x)) {
                return Effect.flatMap(replaced(r), (gone) => {
                  if (gone) return onStale()
                  after?.(x)
                  return Effect.succeed(x)
                })
              }
              after?.(x)
              return Effect.succeed(x)
            }
          })
        // made when needed: a success makes neither
        const stale = () => Effect.fail(staleError(method, path))
        const covered = () =>
          Effect.mapError(
            cover.use((r) =>
              checkPath === "always"
                ? Effect.flatMap(replaced(r), (gone) => gone ? stale() : attempt(r, stale))
                : attempt(r, stale)
            ),
            toPlatform(method)
          )
        if (checkPath === "always") return Effect.suspend(covered)
        return Effect.suspend(() => closed ? covered() : attempt(latest, covered, covered))
      }

      const moved = (n: bigint) => {
        offset += n
      }
      const file: FileSystem.File & Api.Controllable<FileSystemRecoverFn> = {
        [FileSystem.FileTypeId]: FileSystem.FileTypeId,
        get fd() {
          return latest.file.fd
        },
        stat: run("stat", (f) => f.stat),
        sync: run("sync", (f) => f.sync),
        seek: (to, from) =>
          Effect.suspend(() => {
            const size = FileSystem.Size(to)
            offset = from === "start" ? size : offset + size
            return latest.file.seek(offset, "start")
          }),
        read: (buffer) =>
          run("read", (f) => f.read(buffer), { atEnd: (n) => n === BigInt(0) && buffer.length > 0, after: moved }),
        readAlloc: (size) =>
          run("readAlloc", (f) => f.readAlloc(size), {
            atEnd: (chunk) => Option.isNone(chunk) && Number(size) > 0,
            after: (chunk) => {
              if (Option.isSome(chunk)) moved(BigInt(chunk.value.length))
            }
          }),
        truncate: (length) =>
          run("truncate", (f) => f.truncate(length), {
            after: () => {
              const at = BigInt(length ?? 0)
              if (!append && offset > at) offset = at
            }
          }),
        write: (buffer) =>
          run("write", (f) => f.write(buffer), {
            after: (n) => {
              if (!append) moved(n)
            }
          }),
        writeAll: (buffer) =>
          run("writeAll", (f) => f.writeAll(buffer), {
            after: () => {
              if (!append) moved(BigInt(buffer.length))
            }
          }),
        // the recovery function replaced here is the file's own (the cover's wraps it)
        [ControlTypeId]: (op) =>
          Effect.flatMap(decodeControlOp(op), (decoded) => {
            const next = recoverOf(decoded)
            if (next === undefined) return cover[ControlTypeId](decoded as Api.ControlOp<never>)
            return Effect.map(cover[ControlTypeId]("get"), (state) => {
              userRecover = next
              return state
            })
          })
      }
      return file
    }).pipe(
      // the cover's own InvalidArgument cannot happen: the options were checked when the layer was built
      Effect.catchTag("InvalidArgument", Effect.die)
    )
  return FileSystem.make({ ...fs, open })
}

/** @internal `Cover.layerFileSystem` */
export const layerFileSystem = (
  options?: FileSystemOptions
): Layer.Layer<FileSystem.FileSystem, InvalidArgument, FileSystem.FileSystem> =>
  Layer.effect(
    FileSystem.FileSystem,
    Effect.gen(function*() {
      const checked = yield* decodeOptions(OptionsSchema, options, "Cover.layerFileSystem options")
      const fs = yield* FileSystem.FileSystem
      return make(fs, {
        schedule: checked.schedule,
        isRecoverable: checked.isRecoverable,
        retries: checked.retries,
        checkPath: checked.checkPath
      })
    })
  )
