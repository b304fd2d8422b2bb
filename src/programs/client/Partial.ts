/**
 * Where a download lands while it is under way: a partial file beside the destination, under a
 * hidden name derived from the file's, with the version of the file it holds recorded beside it.
 * It is renamed into place only once verified; kept on an interruption, so that running the same
 * command again resumes it; removed once known to be corrupt. A lock file keeps a second client off
 * the same partial while the first runs.
 */
import type { PlatformError } from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import { createHash } from "node:crypto"
import { readFileSync } from "node:fs"
import * as Codec from "../../protocol/Codec.js"
import type { Hasher } from "../../protocol/Digest.js"
import { DestinationError } from "./errors.js"

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

// The hidden names start with the final one, for whoever finds them, cut so that the whole stays
// within the usual 255-byte limit on a file name (a hash of the whole name then keeps them apart).
const STEM_BYTES = 200
const WRITE_BATCH_BYTES = 2 * 1024 * 1024
const HASH_SLICE_BYTES = 1024 * 1024

const stemOf = (fileName: string): string => {
  if (Buffer.byteLength(fileName) <= STEM_BYTES) return fileName
  let stem = ""
  for (const char of fileName) {
    if (Buffer.byteLength(stem + char) > STEM_BYTES - 9) break
    stem += char
  }
  return `${stem}~${createHash("sha256").update(fileName).digest("hex").slice(0, 8)}`
}

/** The hidden names beside a destination: what tests and users may look for. */
export const partialNames = (fileName: string) => {
  const stem = stemOf(fileName)
  return { data: `.${stem}.ferry-partial`, state: `.${stem}.ferry-partial.json`, lock: `.${stem}.ferry-lock` }
}

/** What is recorded beside the partial bytes: which version of the file they are the start of. */
const State = Schema.parseJson(Schema.Struct({ version: Schema.String, size: Schema.Number }))

/** A partial being written from a given position: one attempt's worth. */
export interface Writer {
  /** Appends bytes (batched: they reach the disk a few MiB at a time). */
  readonly write: (bytes: Uint8Array) => Effect.Effect<void, DestinationError>
  /** Writes what is batched and closes the file. */
  readonly finish: Effect.Effect<void, DestinationError>
}

export interface Partial {
  /** The bytes an earlier attempt left here, and their version, if they can be resumed. */
  readonly held: Effect.Effect<Option.Option<Codec.Resume>>
  /**
   * Opens the partial for the body the server announced: kept up to `head.start` (fed into `hash`,
   * since the trailer's digest is of the whole file), the rest cut off; its version recorded. The
   * file stays open for the scope, and whatever was received is written out when it closes, however
   * the attempt ends (removed instead if the server named no version: it could not be resumed).
   */
  readonly begin: (head: Codec.FileHead, hash: Hasher) => Effect.Effect<Writer, DestinationError, Scope.Scope>
  /** Renames the verified partial into place; returns the final path. */
  readonly commit: Effect.Effect<string, DestinationError>
  /** Removes the partial: it is corrupt, or not wanted. */
  readonly discard: Effect.Effect<void>
  /** The partial's path, for messages. */
  readonly path: string
}

/** Whether `pid` runs: a zombie (killed, not yet reaped by its parent) does not. */
const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z"
  } catch {
    return true
  }
}

/**
 * Opens the place of `fileName` in `directory` for a download, locked for the scope: a second
 * client downloading the same name into the same directory fails with `Locked` rather than
 * writing into the same partial.
 */
export const open = (directory: string, fileName: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const failed = toDestinationError(directory)

    const info = yield* Effect.mapError(fs.stat(directory), failed)
    if (info.type !== "Directory") return yield* new DestinationError({ reason: "NotADirectory", path: directory })

    const names = partialNames(fileName)
    const finalPath = path.join(directory, fileName)
    const dataPath = path.join(directory, names.data)
    const statePath = path.join(directory, names.state)
    const lockPath = path.join(directory, names.lock)

    // The lock: created exclusively with our pid in it. One left by a client that no longer runs
    // (killed) is taken over. Two clients that find the same dead lock at the same moment could both
    // take it over; even then no wrong file is renamed into place unless both wrote different
    // versions at the same positions, since each verifies the whole file before renaming.
    const takeLock = Effect.flatMap(
      fs.writeFileString(lockPath, `${process.pid}\n`, { flag: "wx" }),
      () => Effect.void
    )
    yield* Effect.acquireRelease(
      takeLock.pipe(
        Effect.catchIf((error) => errorCode(error) === "EEXIST", () =>
          Effect.gen(function*() {
            const holder = Number.parseInt(yield* Effect.orElseSucceed(fs.readFileString(lockPath), () => ""), 10)
            if (Number.isSafeInteger(holder) && holder !== process.pid && isAlive(holder)) {
              return yield* new DestinationError({ reason: "Locked", path: finalPath, holder })
            }
            yield* Effect.ignore(fs.remove(lockPath))
            yield* takeLock
          })),
        Effect.mapError((error) => error._tag === "DestinationError" ? error : failed(error))
      ),
      () => Effect.ignore(fs.remove(lockPath))
    )

    // What the state file holds, as last read or written here: `undefined` when there is none.
    let recorded: string | undefined
    const held = Effect.gen(function*() {
      const text = yield* fs.readFileString(statePath)
      recorded = text
      const state = yield* Schema.decode(State)(text)
      const data = yield* fs.stat(dataPath)
      const offset = Number(data.size)
      const version = Uint8Array.from(Buffer.from(state.version, "hex"))
      if (version.length !== Codec.FILE_VERSION_BYTES || offset > state.size) return Option.none()
      return Option.some({ offset, version })
    }).pipe(Effect.orElseSucceed(() => Option.none<Codec.Resume>()))

    let committed = false
    const begin = (head: Codec.FileHead, hash: Hasher) =>
      Effect.gen(function*() {
        const writing = toDestinationError(dataPath)
        // The version is recorded only once bytes of the body are about to be kept on disk: a file
        // received whole before then (any small one) never needs it.
        const state = Codec.isNoVersion(head.version)
          ? undefined
          : `${JSON.stringify({ version: Buffer.from(head.version).toString("hex"), size: head.size })}\n`
        if (recorded !== undefined && recorded !== state) {
          yield* Effect.ignore(fs.remove(statePath))
          recorded = undefined
        }
        const record = Effect.suspend(() =>
          state === undefined || recorded === state
            ? Effect.void
            : Effect.mapError(fs.writeFileString(statePath, state), writing).pipe(
              Effect.tap(() => recorded = state)
            )
        )
        // The file gets a scope of its own so that `finish` can close it.
        const fileScope = yield* Effect.flatMap(
          Effect.scope,
          (scope) => Scope.fork(scope, ExecutionStrategy.sequential)
        )
        const file = yield* fs.open(dataPath, { flag: head.start > 0 ? "r+" : "w", mode: 0o644 }).pipe(
          Scope.extend(fileScope),
          Effect.mapError(writing)
        )
        if (head.start > 0) {
          yield* Effect.mapError(file.truncate(head.start), writing)
          const slice = Buffer.allocUnsafe(HASH_SLICE_BYTES)
          for (let at = 0; at < head.start;) {
            const read = Number(
              yield* Effect.mapError(file.read(slice.subarray(0, Math.min(slice.length, head.start - at))), writing)
            )
            if (read === 0) return yield* new DestinationError({ reason: "Failed", path: dataPath })
            hash.update(slice.subarray(0, read))
            at += read
          }
        }

        // Pieces are gathered into large writes, a trip to the file system's thread pool per batch
        // rather than per piece; one batch is written while the next fills, so that the disk and the
        // network work at the same time.
        // No larger than the body, and the second only once the first is full: a small file costs
        // one small buffer.
        const batchBytes = Math.max(1, Math.min(WRITE_BATCH_BYTES, head.size - head.start))
        const batches: Array<Buffer> = [Buffer.allocUnsafe(batchBytes)]
        let batch = batches[0]!
        let batched = 0
        let writingBatch: Fiber.Fiber<void, DestinationError> | undefined
        const written = Effect.suspend(() => writingBatch === undefined ? Effect.void : Fiber.join(writingBatch))
        const flush = Effect.gen(function*() {
          yield* written
          if (batched === 0) return
          if (!done) yield* record
          const full = batch.subarray(0, batched)
          writingBatch = yield* Effect.forkIn(Effect.mapError(file.writeAll(full), writing), fileScope)
          batch = batch === batches[0] ? (batches[1] ??= Buffer.allocUnsafe(batchBytes)) : batches[0]!
          batched = 0
        })
        const write = (bytes: Uint8Array): Effect.Effect<void, DestinationError> =>
          Effect.suspend(() => {
            const taken = Math.min(bytes.length, batchBytes - batched)
            batch.set(bytes.subarray(0, taken), batched)
            batched += taken
            if (batched < batchBytes) return Effect.void
            return taken === bytes.length ? flush : Effect.zipRight(flush, write(bytes.subarray(taken)))
          })
        // Once the body is verified, or about to be discarded: the version need not be recorded.
        let done = false
        const finish = Effect.gen(function*() {
          done = true
          yield* flush
          yield* written
          yield* Scope.close(fileScope, Exit.void)
        })
        // Whatever arrived is kept for the next attempt, however this one ends; unless the server
        // named no version, when nothing could be resumed from it.
        const resumable = !Codec.isNoVersion(head.version)
        yield* Effect.addFinalizer(() =>
          Effect.ignore(Effect.zipRight(done ? Effect.void : record, finish)).pipe(
            Effect.zipRight(resumable || committed ? Effect.void : Effect.ignore(fs.remove(dataPath)))
          )
        )
        return { write, finish } satisfies Writer
      })

    return {
      held,
      begin,
      commit: Effect.gen(function*() {
        yield* Effect.mapError(fs.rename(dataPath, finalPath), failed)
        committed = true
        if (recorded !== undefined) yield* Effect.ignore(fs.remove(statePath))
        recorded = undefined
        return finalPath
      }),
      discard: Effect.all([fs.remove(dataPath), fs.remove(statePath)], { mode: "either", discard: true }).pipe(
        Effect.ensuring(Effect.sync(() => recorded = undefined))
      ),
      path: dataPath
    } satisfies Partial
  })

/** Whether `directory` holds a partial of `fileName` that a download can resume. */
export const isKept = (directory: string, fileName: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const names = partialNames(fileName)
    const both = yield* Effect.all([
      fs.exists(path.join(directory, names.data)),
      fs.exists(path.join(directory, names.state))
    ])
    return both.every(Boolean)
  }).pipe(Effect.orElseSucceed(() => false))
