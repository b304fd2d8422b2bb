/**
 * Drives the real Cache service (BoundedCache, in memory) with a workload, request by request, as
 * the server's decision flow does: a lookup, and on a miss an admission, each in its own scope. The
 * loaded "file" is a view of one shared zero-filled buffer: the cache only needs its length.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { PolicyFactory } from "../../src/cache/EvictionPolicy.js"
import * as BoundedCache from "../../src/layers/BoundedCache.js"
import type { CachedFile } from "../../src/services/Cache.js"
import type { FileInfo } from "../../src/services/FileStore.js"
import { largestSize, type Workload } from "./Workload.js"

export interface ReplayResult {
  readonly capacity: number
  readonly requests: number
  /** Requests not served from the cache: loads, and files larger than the whole cache. */
  readonly misses: number
  /** The bytes of those requests: what the disk would have read. */
  readonly byteMisses: number
}

// Replays never send a file: no digest is ever asked for.
const DIGEST = () => Effect.succeed(new Uint8Array(16))

/** One cache, as a node of a ring or the only one: `serve` answers a request, true on a hit. */
export interface ReplayNode {
  readonly serve: (object: number, size: number) => Effect.Effect<boolean>
}

export const makeNode = (workload: Workload, capacity: number, policy: PolicyFactory): Effect.Effect<ReplayNode> =>
  Effect.gen(function*() {
    const cache = yield* BoundedCache.make({ capacity, policy })
    const content = new Uint8Array(largestSize(workload))
    // One FileInfo per object and size: a request whose size differs is another version.
    const versions: Array<FileInfo | undefined> = []
    const versionOf = (object: number, size: number): FileInfo => {
      const known = versions[object]
      if (known !== undefined && known.size === size) return known
      const info: FileInfo = { name: workload.objectNames[object]!, size, mtimeNs: 0n, dev: 0n, ino: 0n }
      versions[object] = info
      return info
    }
    const load = (info: FileInfo): Effect.Effect<CachedFile> =>
      Effect.sync(() => ({ info, bytes: content.subarray(0, info.size), digest: DIGEST }))
    /** True on a hit. A file larger than the cache is not offered to it: the server streams those. */
    const serve = (info: FileInfo) =>
      Effect.scoped(Effect.flatMap(cache.lookup(info), (hit) => {
        if (Option.isSome(hit)) return Effect.succeed(true)
        if (info.size > capacity) return Effect.succeed(false)
        return Effect.as(cache.admit(info, load(info)), false)
      }))
    return { serve: (object, size) => serve(versionOf(object, size)) }
  })

export const replay = (workload: Workload, capacity: number, policy: PolicyFactory): Effect.Effect<ReplayResult> =>
  Effect.gen(function*() {
    const node = yield* makeNode(workload, capacity, policy)
    let misses = 0
    let byteMisses = 0
    const { requests, sizes } = workload
    for (let i = 0; i < requests.length; i++) {
      const hit = yield* node.serve(requests[i]!, sizes[i]!)
      if (!hit) {
        misses++
        byteMisses += sizes[i]!
      }
    }
    return { capacity, requests: requests.length, misses, byteMisses }
  })
