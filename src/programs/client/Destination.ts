/**
 * Where a download lands: a temporary file beside the destination, renamed into place only once
 * the transfer is verified, and removed on every other path, so a failure never leaves a file.
 */
import type { PlatformError } from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import { randomBytes } from "node:crypto"
import { DestinationError } from "./errors.js"

export interface Destination {
  /** Appends bytes to the temporary file. */
  readonly write: (bytes: Uint8Array) => Effect.Effect<void, DestinationError>
  /** Closes the temporary file and renames it into place; returns the final path. */
  readonly commit: Effect.Effect<string, DestinationError>
}

const errorCode = (error: PlatformError): string | undefined => {
  const cause = error._tag === "SystemError" ? error.cause : undefined
  return typeof cause === "object" && cause !== null && "code" in cause ? String(cause.code) : undefined
}

const toDestinationError = (path: string) => (error: PlatformError): DestinationError => {
  const code = errorCode(error)
  if (code === "ENOSPC" || code === "EDQUOT") return new DestinationError({ reason: "NoSpace", path, cause: error })
  if (code === "EACCES" || code === "EPERM" || code === "EROFS") {
    return new DestinationError({ reason: "NotWritable", path, cause: error })
  }
  if (code === "ENOENT") return new DestinationError({ reason: "Missing", path, cause: error })
  if (code === "ENOTDIR") return new DestinationError({ reason: "NotADirectory", path, cause: error })
  return new DestinationError({ reason: "Failed", path, cause: error })
}

// The temporary file's name starts with the final one, for whoever finds it after a crash, cut so
// that the whole stays within the usual 255-byte limit on a file name.
const PREFIX_BYTES = 200
const WRITE_BATCH_BYTES = 2 * 1024 * 1024

const prefixOf = (fileName: string): string => {
  let prefix = ""
  for (const char of fileName) {
    if (Buffer.byteLength(prefix + char) > PREFIX_BYTES) break
    prefix += char
  }
  return prefix
}

/** Opens a temporary file in `directory` for a file to be called `fileName` there. */
export const open = (directory: string, fileName: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const failed = toDestinationError(directory)

    const info = yield* Effect.mapError(fs.stat(directory), failed)
    if (info.type !== "Directory") return yield* new DestinationError({ reason: "NotADirectory", path: directory })

    const finalPath = path.join(directory, fileName)
    const tempPath = path.join(directory, `.${prefixOf(fileName)}.${randomBytes(6).toString("hex")}.ferry-part`)
    let committed = false
    yield* Effect.addFinalizer(() => committed ? Effect.void : Effect.ignore(fs.remove(tempPath)))

    // The file gets a scope of its own so that `commit` can close it before renaming.
    const fileScope = yield* Effect.flatMap(Effect.scope, (scope) => Scope.fork(scope, ExecutionStrategy.sequential))
    const file = yield* fs.open(tempPath, { flag: "wx", mode: 0o644 }).pipe(
      Scope.extend(fileScope),
      Effect.mapError(failed)
    )

    // Pieces are gathered into large writes, a trip to the file system's thread pool per batch
    // rather than per piece; one batch is written while the next fills, so that the disk and the
    // network work at the same time.
    const batches = [Buffer.allocUnsafe(WRITE_BATCH_BYTES), Buffer.allocUnsafe(WRITE_BATCH_BYTES)]
    let batch = batches[0]!
    let batched = 0
    let writing: Fiber.Fiber<void, DestinationError> | undefined
    const written = Effect.suspend(() => writing === undefined ? Effect.void : Fiber.join(writing))
    const flush = Effect.gen(function*() {
      yield* written
      if (batched === 0) return
      const full = batch.subarray(0, batched)
      writing = yield* Effect.forkIn(Effect.mapError(file.writeAll(full), failed), fileScope)
      batch = batch === batches[0] ? batches[1]! : batches[0]!
      batched = 0
    })
    const write = (bytes: Uint8Array): Effect.Effect<void, DestinationError> =>
      Effect.suspend(() => {
        const taken = Math.min(bytes.length, WRITE_BATCH_BYTES - batched)
        batch.set(bytes.subarray(0, taken), batched)
        batched += taken
        if (batched < WRITE_BATCH_BYTES) return Effect.void
        return taken === bytes.length ? flush : Effect.zipRight(flush, write(bytes.subarray(taken)))
      })

    return {
      write,
      commit: Effect.gen(function*() {
        yield* flush
        yield* written
        yield* Scope.close(fileScope, Exit.void)
        yield* Effect.mapError(fs.rename(tempPath, finalPath), failed)
        committed = true
        return finalPath
      })
    } satisfies Destination
  })
