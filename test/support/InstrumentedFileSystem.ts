/**
 * The Node file system with faults injected where a test asks for them (opening a file, running out
 * of space part-way through writing) and the bytes written to files counted.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import type { PlatformError } from "@effect/platform/Error"
import { SystemError } from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

export interface Options {
  /** Opening any file fails with this errno code (`EACCES`...), as does writing a whole file (which opens it). */
  readonly openFails?: string
  /** Once this many bytes have been written to files, writing fails with `code` (`ENOSPC`...). */
  readonly writesFail?: { readonly after: number; readonly code: string }
  /** Called with the size of every successful write, once it is done. */
  readonly onWritten?: (bytes: number) => void
}

/** A failure as the Node file system reports one: the errno code is on the cause. */
export const systemError = (code: string, method: string): SystemError =>
  new SystemError({
    reason: code === "EACCES" || code === "EPERM" ? "PermissionDenied" : "Unknown",
    module: "FileSystem",
    method,
    description: `${code} (injected by the test)`,
    cause: Object.assign(new Error(`${code}: injected by the test, ${method}`), { code, syscall: method })
  })

export const make = (options: Options): Effect.Effect<FileSystem.FileSystem, never, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    let written = 0
    const limit = options.writesFail?.after ?? Infinity
    const noteWritten = (bytes: number) => {
      written += bytes
      options.onWritten?.(bytes)
    }
    const full = (method: string) => systemError(options.writesFail!.code, method)

    const wrap = (file: FileSystem.File): FileSystem.File => ({
      [FileSystem.FileTypeId]: FileSystem.FileTypeId,
      fd: file.fd,
      get stat() {
        return file.stat
      },
      get sync() {
        return file.sync
      },
      seek: (offset, from) => file.seek(offset, from),
      read: (buffer) => file.read(buffer),
      readAlloc: (size) => file.readAlloc(size),
      truncate: (length) => file.truncate(length),
      write: (buffer) =>
        Effect.suspend(() => {
          const room = limit - written
          if (room <= 0 && buffer.length > 0) return Effect.fail(full("write"))
          return Effect.tap(
            file.write(buffer.subarray(0, Math.min(room, buffer.length))),
            (n) => noteWritten(Number(n))
          )
        }),
      // Like a disk filling up: what fits is written, then the write fails.
      writeAll: (buffer): Effect.Effect<void, PlatformError> =>
        Effect.suspend(() => {
          const room = limit - written
          if (buffer.length <= room) return Effect.tap(file.writeAll(buffer), () => noteWritten(buffer.length))
          const part = buffer.subarray(0, Math.max(0, room))
          return file.writeAll(part).pipe(
            Effect.tap(() => noteWritten(part.length)),
            Effect.zipRight(Effect.fail(full("writeAll")))
          )
        })
    })

    return FileSystem.make({
      ...fs,
      open: (path, openOptions) =>
        options.openFails === undefined
          ? Effect.map(fs.open(path, openOptions), wrap)
          : Effect.fail(systemError(options.openFails, "open")),
      writeFile: (path, data, writeOptions) =>
        options.openFails === undefined
          ? fs.writeFile(path, data, writeOptions)
          : Effect.fail(systemError(options.openFails, "writeFile"))
    })
  })

/** The instrumented file system over the real Node one. */
export const layer = (options: Options): Layer.Layer<FileSystem.FileSystem> =>
  Layer.effect(FileSystem.FileSystem, make(options)).pipe(Layer.provide(NodeFileSystem.layer))
