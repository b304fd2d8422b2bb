/**
 * Synthetic workloads, the same on every run: Zipf popularity over 50,000 files whose sizes are
 * log-uniform from 4 KiB to 8 MiB, 500,000 requests, optionally with a one-pass scan of 20,000 new
 * files (each requested once) after the first 250,000. Popularity is independent of size.
 *
 * Randomness comes from mulberry32 seeded with `SYNTHETIC_SEED`: file sizes first (the 50,000
 * files, then the 20,000 scan files, drawn with or without the scan), then the shuffle assigning
 * popularity ranks to files, then the requests. So a workload and its scan variant request the same
 * files in the same order, apart from the scan: the comparison isolates the scan's effect.
 */
import type { Workload } from "./Workload.js"

export const SYNTHETIC_SEED = 1
export const FILES = 50_000
export const REQUESTS = 500_000
export const SCAN_FILES = 20_000
export const MIN_SIZE = 4 * 1024
export const MAX_SIZE = 8 * 1024 * 1024

export interface SyntheticSpec {
  readonly alpha: number
  readonly scan: boolean
}

/** The four workloads of the comparison: alpha 0.8 and 1.0, without and with the scan. */
export const SYNTHETIC_SPECS: ReadonlyArray<SyntheticSpec> = [
  { alpha: 0.8, scan: false },
  { alpha: 0.8, scan: true },
  { alpha: 1.0, scan: false },
  { alpha: 1.0, scan: true }
]

export const specName = (spec: SyntheticSpec): string => `zipf-${spec.alpha.toFixed(1)}${spec.scan ? "-scan" : ""}`

/** mulberry32: a small, fast 32-bit generator; uniform in [0, 1). */
export const mulberry32 = (seed: number) => {
  let state = seed >>> 0
  return (): number => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** The bytes of the popular files requested (not the scan's): what the cache sizes are percentages of. */
export const popularBytes = (workload: Workload): number => {
  const sizes = new Map<number, number>()
  workload.requests.forEach((object, i) => {
    if (object < FILES) sizes.set(object, workload.sizes[i]!)
  })
  let total = 0
  for (const size of sizes.values()) total += size
  return total
}

export const generate = (spec: SyntheticSpec, seed: number = SYNTHETIC_SEED): Workload => {
  const random = mulberry32(seed)
  const logMin = Math.log(MIN_SIZE)
  const logMax = Math.log(MAX_SIZE)
  const objects = FILES + (spec.scan ? SCAN_FILES : 0)
  const objectSizes = new Uint32Array(FILES + SCAN_FILES)
  for (let i = 0; i < objectSizes.length; i++) {
    objectSizes[i] = Math.round(Math.exp(logMin + random() * (logMax - logMin)))
  }

  // cumulative[r]: the total weight of ranks 0..r, rank r having weight 1 / (r + 1)^alpha.
  const cumulative = new Float64Array(FILES)
  let total = 0
  for (let rank = 0; rank < FILES; rank++) {
    total += 1 / Math.pow(rank + 1, spec.alpha)
    cumulative[rank] = total
  }
  const fileOfRank = Uint32Array.from({ length: FILES }, (_, i) => i)
  for (let i = FILES - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    const swap = fileOfRank[i]!
    fileOfRank[i] = fileOfRank[j]!
    fileOfRank[j] = swap
  }
  const draw = () => {
    const target = random() * total
    let low = 0
    let high = FILES - 1
    while (low < high) {
      const middle = (low + high) >>> 1
      if (cumulative[middle]! < target) low = middle + 1
      else high = middle
    }
    return fileOfRank[low]!
  }

  const requests = new Uint32Array(REQUESTS + (spec.scan ? SCAN_FILES : 0))
  let next = 0
  for (let i = 0; i < REQUESTS; i++) {
    if (spec.scan && i === REQUESTS / 2) {
      for (let file = FILES; file < objects; file++) requests[next++] = file
    }
    requests[next++] = draw()
  }
  const objectNames = Array.from({ length: objects }, (_, i) => i < FILES ? `file-${i}` : `scan-${i - FILES}`)
  return { name: specName(spec), objectNames, requests, sizes: requests.map((object) => objectSizes[object]!) }
}
