/**
 * The swappable part of the cache: which entry to evict next. A policy only orders keys; the
 * cache owns the bytes, the accounting and the pins, and tells the policy what happened.
 */

export interface EvictionPolicy {
  readonly name: string
  /** `key` was added, the cache having made room for its `size` bytes. */
  readonly insert: (key: string, size: number) => void
  /** `key` was requested and found in the cache. */
  readonly hit: (key: string) => void
  /** `key` left the cache for another reason than eviction (its file changed or vanished). */
  readonly remove: (key: string) => void
  /**
   * Chooses the next key to evict among those `isPinned` does not hold back, forgets it and
   * returns it; `undefined` when every key is pinned.
   */
  readonly evict: (isPinned: (key: string) => boolean) => string | undefined
}

/** Makes a policy for a cache of `capacity` bytes. */
export type PolicyFactory = (capacity: number) => EvictionPolicy
