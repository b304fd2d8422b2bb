/**
 * The replay over a ring of N caches of one size each, every request routed to its name's node by
 * the client's own ring (src/ring/Ring.ts); and the same run with one node removed halfway, to see
 * what losing a node costs: the names that move, and the dip in hit ratio while the survivors load
 * them. At N = 1 it is the single-cache replay, request for request.
 */
import * as Effect from "effect/Effect"
import type { PolicyFactory } from "../../src/cache/EvictionPolicy.js"
import * as Ring from "../../src/ring/Ring.js"
import { makeNode } from "./Replay.js"
import type { Workload } from "./Workload.js"

/** The node names of a ring of `n`: node-1 ... node-n. */
export const nodeNames = (n: number): ReadonlyArray<string> => Array.from({ length: n }, (_, i) => `node-${i + 1}`)

interface Tally {
  requests: number
  hits: number
  bytes: number
  byteHits: number
}

const tally = (): Tally => ({ requests: 0, hits: 0, bytes: 0, byteHits: 0 })

export const hitRatio = (counts: Tally): number => counts.requests === 0 ? 0 : counts.hits / counts.requests

export const byteHitRatio = (counts: Tally): number => counts.bytes === 0 ? 0 : counts.byteHits / counts.bytes

export interface RingRun {
  readonly all: Tally
  /** What each node was asked for, in ring order. */
  readonly perNode: ReadonlyArray<Tally>
  /** The window of requests just before the middle, and the one from it. */
  readonly before: Tally
  readonly after: Tally
}

export interface RingOptions {
  readonly nodes: number
  /** Each node's cache size. */
  readonly capacity: number
  readonly policy: PolicyFactory
  /** Remove the last node at the middle of the workload. */
  readonly remove: boolean
}

/** Requests in each window around the middle: a tenth of the workload. */
export const windowOf = (workload: Workload): number => Math.floor(workload.requests.length / 10)

/** The owner of each object on `ring`. */
const owners = (ring: Ring.Ring, hashes: Uint32Array): Int32Array =>
  Int32Array.from(hashes, (hash) => Ring.ownerOfHash(ring, hash))

const hashCache = new WeakMap<Workload, Uint32Array>()

/** Each object's name hash, computed once per workload. */
const hashesOf = (workload: Workload): Uint32Array => {
  let hashes = hashCache.get(workload)
  if (hashes === undefined) {
    hashes = Uint32Array.from(workload.objectNames, Ring.hashName)
    hashCache.set(workload, hashes)
  }
  return hashes
}

export const ringRun = (workload: Workload, options: RingOptions): Effect.Effect<RingRun> =>
  Effect.gen(function*() {
    const names = nodeNames(options.nodes)
    const ring = Ring.make(names)
    const hashes = hashesOf(workload)
    const nodes = yield* Effect.forEach(names, () => makeNode(workload, options.capacity, options.policy))
    let owner = owners(ring, hashes)
    const removed = names.length - 1
    const middle = Math.floor(workload.requests.length / 2)
    const window = windowOf(workload)
    const all = tally()
    const perNode = names.map(tally)
    const before = tally()
    const after = tally()
    const { requests, sizes } = workload
    for (let i = 0; i < requests.length; i++) {
      if (i === middle && options.remove && names.length > 1) {
        // The survivors' indices do not change: only the removed node's objects get a new owner.
        owner = owners(Ring.make(names.slice(0, removed)), hashes)
      }
      const object = requests[i]!
      const size = sizes[i]!
      const node = owner[object]!
      const hit = yield* nodes[node]!.serve(object, size)
      const counted = [all, perNode[node]!]
      if (i >= middle - window && i < middle) counted.push(before)
      else if (i >= middle && i < middle + window) counted.push(after)
      for (const counts of counted) {
        counts.requests++
        counts.bytes += size
        if (hit) {
          counts.hits++
          counts.byteHits += size
        }
      }
    }
    return { all, perNode, before, after }
  })

/** The share of the workload's objects whose owner changes when the last of `n` nodes is removed. */
export const movedShare = (workload: Workload, n: number): number => {
  if (n < 2) return 0
  const hashes = hashesOf(workload)
  const names = nodeNames(n)
  const before = owners(Ring.make(names), hashes)
  const after = owners(Ring.make(names.slice(0, -1)), hashes)
  let moved = 0
  for (let i = 0; i < before.length; i++) if (before[i] !== after[i]) moved++
  return moved / before.length
}

export interface RingResult {
  readonly nodes: number
  readonly capacity: number
  readonly requests: number
  readonly misses: number
  readonly byteMisses: number
  readonly hitRatio: number
  readonly byteHitRatio: number
  /** The busiest node's requests, and bytes, over the mean node's. */
  readonly busiest: { readonly requests: number; readonly bytes: number }
  /** With more than one node: the last one removed at the middle. */
  readonly removal?: {
    readonly node: string
    /** The share of the objects that changed node. */
    readonly moved: number
    /** Hit ratio in the window before the middle, and in the one after without and with the removal. */
    readonly before: number
    readonly afterKept: number
    readonly afterRemoved: number
    /** Hit ratio over the whole run with the removal. */
    readonly overall: number
  }
}

const busiest = (perNode: ReadonlyArray<Tally>, field: "requests" | "bytes") => {
  const values = perNode.map((counts) => counts[field])
  const mean = values.reduce((sum, value) => sum + value, 0) / values.length
  return mean === 0 ? 0 : Math.max(...values) / mean
}

/** A ring of `nodes` caches over the workload, and (with more than one) the same with a node removed. */
export const ringReplay = (
  workload: Workload,
  options: Omit<RingOptions, "remove">
): Effect.Effect<RingResult> =>
  Effect.gen(function*() {
    const kept = yield* ringRun(workload, { ...options, remove: false })
    const result = {
      nodes: options.nodes,
      capacity: options.capacity,
      requests: kept.all.requests,
      misses: kept.all.requests - kept.all.hits,
      byteMisses: kept.all.bytes - kept.all.byteHits,
      hitRatio: hitRatio(kept.all),
      byteHitRatio: byteHitRatio(kept.all),
      busiest: { requests: busiest(kept.perNode, "requests"), bytes: busiest(kept.perNode, "bytes") }
    }
    if (options.nodes < 2) return result
    const removed = yield* ringRun(workload, { ...options, remove: true })
    return {
      ...result,
      removal: {
        node: nodeNames(options.nodes).at(-1)!,
        moved: movedShare(workload, options.nodes),
        before: hitRatio(kept.before),
        afterKept: hitRatio(kept.after),
        afterRemoved: hitRatio(removed.after),
        overall: hitRatio(removed.all)
      }
    } satisfies RingResult
  })
