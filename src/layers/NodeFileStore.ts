/**
 * The live FileStore: regular files under one real directory, confined by their resolved paths and
 * read through handles that are checked to be exactly the version that was looked up; listings are
 * walked in `internal/listTree.ts`, confined the same way.
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { BigIntStats } from "node:fs"
import * as fs from "node:fs"
import { constants } from "node:fs"
import * as fsp from "node:fs/promises"
import { isAcceptableName } from "../services/FileName.js"
import type { DirEntry, FileInfo, OpenFile } from "../services/FileStore.js"
import { FileStore, FileStoreError, readWhole, sameVersion } from "../services/FileStore.js"
import { entryOf, isInside, listTree } from "./internal/listTree.js"

export class DirectoryError extends Data.TaggedError("DirectoryError")<{
  readonly reason: "Missing" | "NotADirectory" | "Unreadable"
  /** The directory as the user gave it. */
  readonly path: string
  readonly cause?: unknown
}> {
  override get message(): string {
    switch (this.reason) {
      case "Missing":
        return `directory not found: ${this.path}`
      case "NotADirectory":
        return `not a directory: ${this.path}`
      case "Unreadable":
        return `directory not readable: ${this.path}`
    }
  }
}

// O_NONBLOCK: a FIFO swapped in after the lookup must not block the open.
// O_NOFOLLOW: a symlink swapped in as the last component after the lookup is refused.
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK

const errorCode = (cause: unknown): string | undefined =>
  typeof cause === "object" && cause !== null && "code" in cause && typeof cause.code === "string"
    ? cause.code
    : undefined

// Node's messages name the real path; errors here may only name what the client asked for.
const withoutPath = (cause: unknown): unknown => {
  if (!(cause instanceof Error)) return cause
  const code = errorCode(cause)
  const syscall = "syscall" in cause && typeof cause.syscall === "string" ? cause.syscall : undefined
  if (code === undefined) return new Error(cause.name)
  return Object.assign(new Error(syscall === undefined ? code : `${code}: ${syscall}`), { code })
}

const fail = (reason: FileStoreError["reason"], name: string, cause?: unknown) =>
  new FileStoreError(cause === undefined ? { reason, name } : { reason, name, cause: withoutPath(cause) })

const openDirectory = (root: string): Effect.Effect<string, DirectoryError> =>
  Effect.gen(function*() {
    const directoryError = (cause: unknown) => {
      const code = errorCode(cause)
      const reason = code === "ENOENT" ? "Missing" : code === "ENOTDIR" ? "NotADirectory" : "Unreadable"
      return new DirectoryError({ reason, path: root, cause })
    }
    const realRoot = yield* Effect.tryPromise({ try: () => fsp.realpath(root), catch: directoryError })
    const stats = yield* Effect.tryPromise({ try: () => fsp.stat(realRoot), catch: directoryError })
    if (!stats.isDirectory()) return yield* new DirectoryError({ reason: "NotADirectory", path: root })
    yield* Effect.tryPromise({
      try: () => fsp.access(realRoot, constants.R_OK | constants.X_OK),
      catch: (cause) => new DirectoryError({ reason: "Unreadable", path: root, cause })
    })
    return realRoot
  })

const RESOLVED_NAMES = 65_536

const infoOf = (name: string, stats: BigIntStats): FileInfo => ({
  name,
  size: Number(stats.size),
  mtimeNs: stats.mtimeNs,
  dev: stats.dev,
  ino: stats.ino
})

export const make = (root: string): Effect.Effect<FileStore["Type"], DirectoryError> =>
  Effect.gen(function*() {
    const realRoot = yield* openDirectory(root)
    // A root of "/" already ends in the separator.
    const prefix = realRoot.endsWith("/") ? realRoot : `${realRoot}/`
    const handles = yield* Ref.make(0)

    // Every failure is NotFound: a name that leaves the directory must look like a missing file. The
    // directory itself is inside: a listing of "" (or of a symlink to it) starts there.
    const locate = (name: string): Effect.Effect<{ real: string; stats: BigIntStats }, FileStoreError> =>
      Effect.gen(function*() {
        const real = yield* Effect.tryPromise({
          try: () => fsp.realpath(`${prefix}${name}`),
          catch: () => fail("NotFound", name)
        })
        if (!isInside(prefix, real)) return yield* fail("NotFound", name)
        const stats = yield* Effect.tryPromise({
          try: () => fsp.stat(real, { bigint: true }),
          catch: () => fail("NotFound", name)
        })
        return { real, stats }
      })

    const resolve = (name: string): Effect.Effect<{ real: string; stats: BigIntStats }, FileStoreError> =>
      Effect.gen(function*() {
        if (!isAcceptableName(name)) return yield* fail("NotFound", name)
        const found = yield* locate(name)
        if (!found.stats.isFile()) return yield* fail("NotFound", name)
        return found
      })

    // The file (device and inode) each name was last resolved to inside the directory. A `stat` of the
    // name that finds that same file needs no `realpath`: whatever path led there, it is a file inside
    // the directory. The table only holds names that were served; past its bound it starts over.
    const resolved = new Map<string, { readonly dev: bigint; readonly ino: bigint }>()
    const remember = (name: string, stats: BigIntStats) => {
      if (resolved.size >= RESOLVED_NAMES) resolved.clear()
      resolved.set(name, { dev: stats.dev, ino: stats.ino })
    }

    // Synchronous, as nginx stats files: on a name already resolved, whose directories the kernel has
    // cached, it costs 5-7 µs here, where handing it to libuv's thread pool costs about 24 µs of CPU,
    // mostly in waking a thread.
    const statKnown = (name: string): FileInfo | undefined => {
      const known = resolved.get(name)
      if (known === undefined) return undefined
      let stats: BigIntStats | undefined
      try {
        stats = fs.statSync(`${prefix}${name}`, { bigint: true, throwIfNoEntry: false })
      } catch {
        return undefined
      }
      return stats !== undefined && stats.isFile() && stats.dev === known.dev && stats.ino === known.ino
        ? infoOf(name, stats)
        : undefined
    }

    const stat = (name: string): Effect.Effect<FileInfo, FileStoreError> =>
      Effect.suspend(() => {
        const known = statKnown(name)
        if (known !== undefined) return Effect.succeed(known)
        // Not resolved yet, or no longer the file it was resolved to: resolved again.
        resolved.delete(name)
        return resolve(name).pipe(Effect.map(({ stats }) => {
          remember(name, stats)
          return infoOf(name, stats)
        }))
      })

    const fstat = (info: FileInfo, handle: fsp.FileHandle) =>
      Effect.tryPromise({
        try: () => handle.stat({ bigint: true }),
        catch: (cause) => fail("Unreadable", info.name, cause)
      })

    const checkVersion = (info: FileInfo, handle: fsp.FileHandle) =>
      fstat(info, handle).pipe(
        Effect.filterOrFail(
          (stats) => stats.isFile() && sameVersion(info, infoOf(info.name, stats)),
          () => fail("Changed", info.name)
        ),
        Effect.asVoid
      )

    // The callback form: a read per streamed chunk, where a promise's machinery costs more than the rest.
    const readAt = (info: FileInfo, handle: fsp.FileHandle, buffer: Uint8Array, length: number, position: number) =>
      Effect.async<number, FileStoreError>((resume) =>
        fs.read(handle.fd, buffer, 0, length, position, (error, bytesRead) =>
          resume(error ? Effect.fail(fail("Unreadable", info.name, error)) : Effect.succeed(bytesRead)))
      )

    // After the last byte: the file must not have grown, and must still be `info`'s version.
    const checkEnd = (info: FileInfo, handle: fsp.FileHandle) =>
      readAt(info, handle, new Uint8Array(1), 1, info.size).pipe(
        Effect.filterOrFail((bytesRead) =>
          bytesRead === 0, () =>
          fail("Changed", info.name)),
        Effect.zipRight(checkVersion(info, handle))
      )

    const readerOf = (info: FileInfo, handle: fsp.FileHandle): OpenFile => ({
      info,
      readInto: (buffer, position) => {
        const length = Math.min(buffer.length, info.size - position)
        if (length <= 0) {
          return Effect.as(checkEnd(info, handle), 0)
        }
        return readAt(info, handle, buffer, length, position).pipe(
          Effect.filterOrFail((bytesRead) =>
            bytesRead > 0, () =>
            fail("Changed", info.name)),
          Effect.tap((bytesRead) =>
            position + bytesRead === info.size ? checkEnd(info, handle) : Effect.void
          )
        )
      }
    })

    // Opens the file found under `info.name` now, provided it is still exactly `info`'s version.
    const open = (info: FileInfo): Effect.Effect<OpenFile, FileStoreError, Scope.Scope> =>
      Effect.gen(function*() {
        const { real } = yield* resolve(info.name).pipe(
          // It was there when `info` was taken: anything else now means it changed.
          Effect.mapError((error) => isAcceptableName(info.name) ? fail("Changed", info.name) : error)
        )
        const handle = yield* Effect.acquireRelease(
          Effect.tryPromise({
            try: () => fsp.open(real, OPEN_FLAGS),
            catch: (cause) => {
              const code = errorCode(cause)
              if (code === "EACCES" || code === "EPERM") return fail("Unreadable", info.name)
              if (code === "ENOENT" || code === "ELOOP" || code === "ENOTDIR" || code === "ENXIO") {
                return fail("Changed", info.name)
              }
              return fail("Unreadable", info.name, cause)
            }
          }).pipe(Effect.tap(() => Ref.update(handles, (n) => n + 1))),
          (handle) =>
            Effect.ignore(Effect.tryPromise(() => handle.close())).pipe(
              Effect.zipRight(Ref.update(handles, (n) => n - 1))
            )
        )
        yield* checkVersion(info, handle)
        return readerOf(info, handle)
      })

    const read = (info: FileInfo): Effect.Effect<Uint8Array, FileStoreError> =>
      Effect.scoped(Effect.flatMap(open(info), (file) =>
        // Not from Buffer's shared pool: a small cached file would otherwise pin a whole pool slab.
        readWhole(file, Buffer.allocUnsafeSlow(info.size))))

    const list = (path: string, options: { readonly recursive: boolean }): Stream.Stream<DirEntry, FileStoreError> =>
      Stream.unwrap(Effect.gen(function*() {
        if (path !== "" && !isAcceptableName(path)) return yield* fail("NotFound", path)
        const { real, stats } = yield* locate(path)
        if (stats.isFile()) return Stream.make(entryOf(path, stats))
        if (!stats.isDirectory()) return yield* fail("NotFound", path)
        return listTree({ path, real, stats }, {
          prefix,
          recursive: options.recursive,
          failure: (cause) => {
            const code = errorCode(cause)
            return code === "ENOENT" || code === "ENOTDIR" ? fail("NotFound", path) : fail("Unreadable", path, cause)
          }
        })
      }))

    return FileStore.of({ stat, statKnown, read, open, list, openHandles: Ref.get(handles) })
  })

export const layer = (root: string): Layer.Layer<FileStore, DirectoryError> => Layer.effect(FileStore, make(root))
