/**
 * The bounded memory cache of file contents. Entries in use are pinned and never evicted; the
 * bytes it holds, including entries still being loaded, never exceed its capacity.
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type { Digest } from "../protocol/Digest.js"
import type { FileInfo } from "./FileStore.js"

/** A file's contents as the cache holds them. */
export interface CachedFile {
  readonly info: FileInfo
  readonly bytes: Uint8Array
  /** A digest of `bytes`, computed once per entry when first asked for. */
  readonly digest: (digest: Digest) => Effect.Effect<Uint8Array>
  /** A digest of `bytes` if it has been computed already (never computing it); none told when left out. */
  readonly known?: (digest: Digest) => Uint8Array | undefined
}

/** One line of `list`: a file the cache holds. */
export interface CacheListing {
  readonly name: string
  readonly size: number
}

export interface CacheStats {
  readonly capacity: number
  /** Bytes held: entries, entries being loaded, and dropped entries still being sent. */
  readonly used: number
  readonly entries: number
  /** Entries currently being sent or loaded. */
  readonly pinned: number
  readonly evictions: number
}

export class Cache extends Context.Tag("ferry/Cache")<Cache, {
  readonly capacity: number
  /**
   * The cached copy of exactly `info`'s version, pinned until the current scope closes. A copy of
   * another version is dropped from the cache (and freed once nobody is sending it).
   */
  readonly lookup: (info: FileInfo) => Effect.Effect<Option.Option<CachedFile>, never, Scope.Scope>
  /**
   * Makes room for `info.size` bytes, evicting unpinned entries as the eviction policy chooses,
   * then runs `load` and keeps its result, pinned until the current scope closes. The room stays
   * reserved while `load` runs and is given back if it fails or is interrupted.
   *
   * `None` when the room cannot be made because what is left is pinned: then nothing is evicted
   * and `load` is not run.
   */
  readonly admit: <E>(
    info: FileInfo,
    load: Effect.Effect<CachedFile, E>
  ) => Effect.Effect<Option.Option<CachedFile>, E, Scope.Scope>
  /** Drops any copy of `name`, e.g. once the file is known to be gone. */
  readonly invalidate: (name: string) => Effect.Effect<void>
  /** The files held, in no particular order. */
  readonly list: Effect.Effect<ReadonlyArray<CacheListing>>
  readonly stats: Effect.Effect<CacheStats>
}>() {}
