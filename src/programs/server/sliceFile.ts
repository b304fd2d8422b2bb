/**
 * A file larger than the cache, read through the cache in slices: each slice an entry of its own,
 * loaded once under its own lock however many read it, pinned only while it is being sent (and
 * the next one, read ahead meanwhile). A slice there is no room for beside pinned entries is
 * streamed from disk instead, within the stream buffers. Every slice load opens the file anew, so
 * a file that has changed fails the read rather than mixing versions.
 */
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import type { Digest } from "../../protocol/Digest.js"
import { type Cache, type CachedFile, sliceOf } from "../../services/Cache.js"
import { type FileInfo, type FileStore, FileStoreError } from "../../services/FileStore.js"
import type { LockManager } from "../../services/LockManager.js"
import { digestsOf } from "./digest.js"
import { SEGMENT_BYTES } from "./sendCached.js"
import type { Slices } from "./Slices.js"
import { StreamBuffers } from "./StreamBuffers.js"
import { type OpenStream, openStream, type Window } from "./streamFile.js"

/** A file read in slices; its first slice already had, so that a file changed since its lookup is looked up again. */
export interface SlicedFile {
  readonly info: FileInfo
  /**
   * Reads `window` slice by slice, in pieces of the slices' memory (or chunks streamed from disk);
   * with `digest`, feeds the version's digest as the bytes pass. Slices are released as the read
   * moves on, and all of them with the current scope.
   */
  readonly read: (window: Window, digest?: Digest) => Effect.Effect<OpenStream, FileStoreError, Scope.Scope>
  /** The version's digest, if known: remembered from an earlier read, or fed to the end by this one. */
  readonly digest: (digest: Digest) => Uint8Array | undefined
}

export interface SliceServices {
  readonly files: FileStore["Type"]
  readonly cache: Cache["Type"]
  readonly locks: LockManager["Type"]
  readonly slices: Slices["Type"]
}

/** One slice being sent: its pinned memory, or (no room for it) its part of the window streamed. */
interface Held {
  readonly index: number
  readonly scope: Scope.CloseableScope
  readonly bytes: Uint8Array | undefined
  readonly stream: OpenStream | undefined
}

const EMPTY = new Uint8Array(0)

const changed = (name: string) => new FileStoreError({ reason: "Changed", name })

/** Reads the slice `entry` at `offset` of exactly `info`'s version, into memory an evicted slice left if any. */
const load = (files: FileStore["Type"], cache: Cache["Type"], info: FileInfo, entry: FileInfo, offset: number) =>
  Effect.scoped(Effect.gen(function*() {
    const file = yield* files.open(info)
    const bytes = (yield* cache.spare(entry.size)) ?? Buffer.allocUnsafeSlow(entry.size)
    for (let filled = 0; filled < bytes.length;) {
      const read = yield* file.readInto(bytes.subarray(filled), offset + filled)
      if (read === 0) return yield* changed(info.name)
      filled += read
    }
    // Only ever read while pinned (a read holds a slice in a scope of its own, and lets go once it is sent).
    return { info: entry, bytes, recyclable: true, ...(yield* digestsOf(bytes)) } satisfies CachedFile
  }))

/**
 * Opens `info` for reading in slices, the first slice of `window` had (loaded or found) and pinned
 * for the current scope, or until a read takes it over.
 */
export const openSliced = (services: SliceServices, info: FileInfo, window: Window) =>
  Effect.gen(function*() {
    const { cache, files, locks, slices } = services
    const { sliceSize } = slices
    const requestScope = yield* Effect.scope
    const buffers = yield* StreamBuffers

    /** Slice `index`, pinned for the current scope; undefined when there is no room for it. */
    const slice = (index: number) =>
      Effect.gen(function*() {
        const entry = sliceOf(info, index, sliceSize)
        const hit = yield* cache.lookup(entry)
        if (Option.isSome(hit)) return found(hit.value)
        return yield* locks.withLock(entry.name)(Effect.gen(function*() {
          // Whoever held the lock before us may have just loaded it.
          const meanwhile = yield* cache.lookup(entry)
          if (Option.isSome(meanwhile)) return found(meanwhile.value)
          const admitted = yield* cache.admit(entry, load(files, cache, info, entry, index * sliceSize))
          if (Option.isNone(admitted)) return undefined
          slices.count("loads")
          return admitted.value.bytes
        }))
      })
    const found = (file: CachedFile) => {
      slices.count("hits")
      return file.bytes
    }

    /** Slice `index` had for `window`, in a scope of its own that the read closes once it moves on. */
    const obtain = (index: number, window: Window): Effect.Effect<Held, FileStoreError> =>
      Effect.flatMap(Scope.fork(requestScope, ExecutionStrategy.sequential), (scope) =>
        Effect.gen(function*() {
          const bytes = yield* Scope.extend(slice(index), scope)
          if (bytes !== undefined) return { index, scope, bytes, stream: undefined }
          const start = index * sliceSize
          const part = { start: Math.max(start, window.start), end: Math.min(start + sliceSize, window.end) }
          const stream = yield* Scope.extend(
            Effect.provideService(openStream(files, info, part), StreamBuffers, buffers),
            scope
          )
          return { index, scope, bytes: undefined, stream }
        }).pipe(Effect.tapErrorCause(() => Scope.close(scope, Exit.void))))

    let first: Held | undefined = window.end > window.start
      ? yield* obtain(Math.floor(window.start / sliceSize), window)
      : undefined

    const read = (window: Window, digest?: Digest) =>
      Effect.gen(function*() {
        const scope = yield* Effect.scope
        const job = digest === undefined ? undefined : slices.digestJob(info, digest)
        let position = window.start
        let held: Held | undefined
        let ahead: { readonly index: number; readonly fiber: Fiber.Fiber<Held, FileStoreError> } | undefined
        const firstIndex = Math.floor(window.start / sliceSize)
        if (first !== undefined && first.index === firstIndex && first.stream === undefined) held = first
        else if (first !== undefined) yield* Scope.close(first.scope, Exit.void)
        first = undefined

        const release = Effect.suspend(() => {
          const releasing = held
          held = undefined
          return releasing === undefined ? Effect.void : Scope.close(releasing.scope, Exit.void)
        })
        /** The slice `index`: the one read ahead, or had now; the next one read ahead meanwhile. */
        const moveTo = (index: number) =>
          Effect.gen(function*() {
            yield* release
            const next = ahead?.index === index ? yield* Fiber.join(ahead.fiber) : yield* obtain(index, window)
            ahead = undefined
            if ((index + 1) * sliceSize < window.end) {
              ahead = { index: index + 1, fiber: yield* Effect.forkIn(obtain(index + 1, window), scope) }
            }
            return next
          })

        const next: Effect.Effect<Uint8Array, FileStoreError> = Effect.gen(function*() {
          while (position < window.end) {
            const index = Math.floor(position / sliceSize)
            if (held === undefined || held.index !== index) held = yield* moveTo(index)
            const start = index * sliceSize
            const chunk = held.stream === undefined
              ? held.bytes!.subarray(position - start, Math.min(window.end, position + SEGMENT_BYTES) - start)
              : yield* held.stream.next
            if (chunk.length === 0) {
              // A streamed part ends where its slice (or the window) does, or the file has changed.
              if ((index + 1) * sliceSize > position && window.end > position) return yield* changed(info.name)
              continue
            }
            job?.feed(position, chunk)
            position += chunk.length
            return chunk
          }
          yield* release
          return EMPTY
        })
        const sent = (chunk: Uint8Array, millis: number) =>
          held?.stream === undefined ? Effect.void : held.stream.sent(chunk, millis)
        return { info, next, sent } satisfies OpenStream
      })

    return {
      info,
      read,
      digest: (digest) => slices.known(info, digest)
    } satisfies SlicedFile
  })
