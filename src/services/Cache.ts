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
  /**
   * Whether `bytes` are only ever read while the entry is pinned (a slice's are), so that once it is
   * evicted and unpinned the cache may hand its memory to a load of the same size (`spare`) rather
   * than leave it to the garbage collector, which would let the process hold more than the capacity.
   */
  readonly recyclable?: boolean
}

/**
 * The entry that holds slice `index` of `info`'s version, for a file cached in slices (one larger
 * than the cache): named apart from every file (a NUL is in no file's name) and by the file's size,
 * so that a slice of another version is never taken for it; checked as a file's entry is, by its
 * version.
 */
export const sliceOf = (info: FileInfo, index: number, sliceSize: number): FileInfo => ({
  ...info,
  name: `${info.name}\u0000${info.size}:${index}`,
  size: Math.min(sliceSize, info.size - index * sliceSize)
})

/** Whether an entry's name is a slice's rather than a file's. */
export const isSlice = (name: string): boolean => name.includes("\u0000")

/** One line of `list`: a file the cache holds whole (slices are only counted, in `CacheStats`). */
export interface CacheListing {
  readonly name: string
  readonly size: number
}

export interface CacheStats {
  readonly capacity: number
  /** Bytes held: entries, entries being loaded, and dropped entries still being sent. */
  readonly used: number
  readonly entries: number
  /** The part of `entries` that are slices of files larger than the cache. */
  readonly slices: number
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
  /** Memory of exactly `size` bytes freed from a recyclable entry, to load into; none at hand if undefined. */
  readonly spare: (size: number) => Effect.Effect<Uint8Array | undefined>
  /**
   * `lookup` without an Effect, for a hot path where the Effect costs more than the lookup: the cached
   * copy of exactly `info`'s version, pinned until `release` is called (once, on every path), or
   * undefined. Left out by a cache that cannot answer synchronously.
   */
  readonly pinNow?: (info: FileInfo) => { readonly file: CachedFile; readonly release: () => void } | undefined
  /** Drops any copy of `name`, e.g. once the file is known to be gone. */
  readonly invalidate: (name: string) => Effect.Effect<void>
  /** The files held, in no particular order. */
  readonly list: Effect.Effect<ReadonlyArray<CacheListing>>
  readonly stats: Effect.Effect<CacheStats>
}>() {}
