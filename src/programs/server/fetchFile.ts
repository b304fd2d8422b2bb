/**
 * How a request for a file is decided: served from the cache, loaded into it once however many
 * ask at the same time, read through it in slices when larger than the whole cache, or streamed
 * from disk when it cannot be cached (no room, or slicing off).
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import { Cache, type CachedFile } from "../../services/Cache.js"
import { type FileInfo, FileStore, type FileStoreError } from "../../services/FileStore.js"
import { LockManager } from "../../services/LockManager.js"
import { digestsOf } from "./digest.js"
import { openSliced, type SlicedFile } from "./sliceFile.js"
import { Slices } from "./Slices.js"
import type { StreamBuffers } from "./StreamBuffers.js"
import { type OpenStream, openStream, type Window } from "./streamFile.js"

export type Content = Data.TaggedEnum<{
  /** In memory and pinned for the request's scope; `loaded` when this request read the disk. */
  Cached: { readonly file: CachedFile; readonly loaded: boolean }
  /**
   * To be streamed from disk: larger than the whole cache, or no room beside pinned entries. The
   * file is already open and its first chunk read, so that a file gone since it was looked up is
   * looked up again rather than half sent.
   */
  Streamed: { readonly stream: OpenStream; readonly reason: "too-large" | "no-room" }
  /** Larger than the whole cache, read through it slice by slice; its first slice had already. */
  Sliced: { readonly file: SlicedFile }
}>
export const Content = Data.taggedEnum<Content>()

/** The version a content is of. */
export const infoOf = (content: Content): FileInfo =>
  content._tag === "Streamed" ? content.stream.info : content.file.info

/** How a content was had, as the request log and the histograms name it. */
export const cacheResultOf = (content: Content): "hit" | "miss" | "bypass" | "slice" => {
  switch (content._tag) {
    case "Cached":
      return content.loaded ? "miss" : "hit"
    case "Streamed":
      return "bypass"
    case "Sliced":
      return "slice"
  }
}

// A file that changes between being looked up and being read is looked up again, a few times.
const CHANGED_RETRIES = 3

/** What of a file that is streamed is to be read: by default, all of it. */
export type WindowOf = (info: FileInfo) => Window

const whole: WindowOf = (info) => ({ start: 0, end: info.size })

const streamed = (files: FileStore["Type"], info: FileInfo, reason: "too-large" | "no-room", windowOf: WindowOf) =>
  Effect.map(openStream(files, info, windowOf(info)), (stream) => Content.Streamed({ stream, reason }))

const attempt = (
  name: string,
  windowOf: WindowOf
): Effect.Effect<Content, FileStoreError, FileStore | Cache | LockManager | StreamBuffers | Scope.Scope> =>
  Effect.gen(function*() {
    const files = yield* FileStore
    const cache = yield* Cache
    const locks = yield* LockManager

    const info = yield* files.stat(name).pipe(
      Effect.tapError((error) => error.reason === "NotFound" ? cache.invalidate(name) : Effect.void)
    )
    if (info.size > cache.capacity) {
      const slices = yield* Effect.serviceOption(Slices)
      if (Option.isNone(slices) || slices.value.sliceSize === 0 || slices.value.sliceSize > cache.capacity) {
        return yield* streamed(files, info, "too-large", windowOf)
      }
      const file = yield* openSliced({ files, cache, locks, slices: slices.value }, info, windowOf(info))
      return Content.Sliced({ file })
    }

    const hit = yield* cache.lookup(info)
    if (Option.isSome(hit)) return Content.Cached({ file: hit.value, loaded: false })

    const loaded = yield* locks.withLock(name)(Effect.gen(function*() {
      // Whoever held the lock before us may have just loaded it.
      const loadedMeanwhile = yield* cache.lookup(info)
      if (Option.isSome(loadedMeanwhile)) {
        return Option.some(Content.Cached({ file: loadedMeanwhile.value, loaded: false }))
      }
      const load = Effect.flatMap(
        files.read(info),
        (bytes) => Effect.map(digestsOf(bytes), (digests) => ({ info, bytes, ...digests }))
      )
      const admitted = yield* cache.admit(info, load)
      return Option.map(admitted, (file) => Content.Cached({ file, loaded: true }))
    }))
    // No room beside pinned entries: stream it, outside the lock.
    return Option.isSome(loaded) ? loaded.value : yield* streamed(files, info, "no-room", windowOf)
  })

/**
 * Finds what to send for `name`. A cached file stays pinned, so never evicted, until the
 * caller's scope closes: the scope should span the sending of the response. A streamed file is
 * read only within `windowOf` its version (an HTTP range, say).
 */
export const fetchFile = (name: string, windowOf: WindowOf = whole, retries = CHANGED_RETRIES): ReturnType<
  typeof attempt
> =>
  // Recursion rather than `Effect.retry`, whose schedule costs more than the rest of a hit.
  Effect.catchIf(
    attempt(name, windowOf),
    (error) => error.reason === "Changed" && retries > 0,
    () => fetchFile(name, windowOf, retries - 1)
  )
