/** A request stream to replay against the cache: which object each request asks for, at what size. */

export interface Workload {
  readonly name: string
  /** Object `i`'s file name. */
  readonly objectNames: ReadonlyArray<string>
  /** The object index of each request, in order. */
  readonly requests: Uint32Array
  /** The size of each request (an object whose size changes is a new version of its file). */
  readonly sizes: Uint32Array
}

/** Bytes of the distinct objects requested (each at the size it was last requested with). */
export const distinctBytes = (workload: Workload): number => {
  const sizes = new Map<number, number>()
  workload.requests.forEach((object, i) => sizes.set(object, workload.sizes[i]!))
  let total = 0
  for (const size of sizes.values()) total += size
  return total
}

export const requestedBytes = (workload: Workload): number => workload.sizes.reduce((sum, size) => sum + size, 0)

export const largestSize = (workload: Workload): number => workload.sizes.reduce((max, size) => Math.max(max, size), 0)
