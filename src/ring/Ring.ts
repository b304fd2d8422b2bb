/**
 * Which node of a ring owns a name: rendezvous hashing (highest random weight, Thaler and Ravishankar
 * 1996). Every node scores every name, and the name goes to the node with the highest score; the
 * next node on the ring for a name is the one with the next score. Pure: the same nodes and the same
 * name give the same answer in every client and in the simulation (bench/replay/RingReplay.ts).
 *
 * Why rendezvous rather than ketama (the `hashring` package's points on a circle):
 * - a node removed moves exactly its own names, each to its own next node, so they spread over the
 *   survivors instead of all falling on the neighbour that follows on a circle; a node added takes
 *   only names from the others, about 1/N of each;
 * - balance without virtual nodes: each node's share is a binomial draw around 1/N (within a few
 *   percent over thousands of names), where ketama's 160 points a server leave shares several
 *   percent apart;
 * - "the next node" is simply the second score, the same rule that decides ownership, so a client
 *   that marks a node down sends its names where a ring without that node would;
 * - a few lines with no dependency. Its cost, one score per node per name, is nothing at the ring
 *   sizes a client is given (tens of nodes), and the simulation scores each distinct name once.
 *
 * The score of a name on a node is MurmurHash3 (x86, 32 bits) of the name's own MurmurHash3 (of its
 * UTF-8 bytes, seed 0), seeded with the node's MurmurHash3: one hash of the name, then one small
 * mix per node, as go-rendezvous (the go-redis ring) does with xxhash. Ties, one chance in 2^32 per
 * pair, go to the node given first.
 */

/** A ring: its nodes, as given (for ferry, `HOST:PORT`), and the hash of each. */
export interface Ring {
  readonly nodes: ReadonlyArray<string>
  readonly seeds: Uint32Array
}

const C1 = 0xcc9e2d51
const C2 = 0x1b873593

const mixBlock = (hash: number, block: number): number => {
  let k = Math.imul(block, C1)
  k = (k << 15) | (k >>> 17)
  k = Math.imul(k, C2)
  const h = hash ^ k
  return (Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64) | 0
}

const finish = (hash: number, length: number): number => {
  let h = hash ^ length
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

const encoder = new TextEncoder()

/** MurmurHash3_x86_32 of `bytes`. */
export const murmur3 = (bytes: Uint8Array, seed = 0): number => {
  let h = seed | 0
  const whole = bytes.length & ~3
  for (let i = 0; i < whole; i += 4) {
    h = mixBlock(h, bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24))
  }
  const left = bytes.length & 3
  if (left > 0) {
    let tail = bytes[whole]!
    if (left > 1) tail ^= bytes[whole + 1]! << 8
    if (left > 2) tail ^= bytes[whole + 2]! << 16
    let k = Math.imul(tail, C1)
    k = (k << 15) | (k >>> 17)
    h ^= Math.imul(k, C2)
  }
  return finish(h, bytes.length)
}

/** A name's hash: what is scored against each node. */
export const hashName = (name: string): number => murmur3(encoder.encode(name))

/** The score of a name (by its hash) on a node (by its seed): MurmurHash3 of the 4 bytes, seeded. */
const score = (nameHash: number, seed: number): number => finish(mixBlock(seed, nameHash), 4)

/** A ring of `nodes`, in the order given (which only breaks ties). A node given twice counts once. */
export const make = (nodes: ReadonlyArray<string>): Ring => {
  const distinct = [...new Set(nodes)]
  return { nodes: distinct, seeds: Uint32Array.from(distinct, (node) => murmur3(encoder.encode(node))) }
}

/**
 * The index of the node that owns the name whose hash is `nameHash`, among the nodes `usable`
 * accepts (all by default); -1 when it accepts none.
 */
export const ownerOfHash = (ring: Ring, nameHash: number, usable?: (index: number) => boolean): number => {
  let best = -1
  let bestScore = -1
  for (let i = 0; i < ring.seeds.length; i++) {
    if (usable !== undefined && !usable(i)) continue
    const s = score(nameHash, ring.seeds[i]!)
    if (s > bestScore) {
      best = i
      bestScore = s
    }
  }
  return best
}

/** The index of the node that owns `name` (among those `usable` accepts); -1 for an empty ring. */
export const ownerOf = (ring: Ring, name: string, usable?: (index: number) => boolean): number =>
  ownerOfHash(ring, hashName(name), usable)

/** Every node's index, in the order `name` prefers them: its owner, then the next node on the ring... */
export const preference = (ring: Ring, name: string): ReadonlyArray<number> => {
  const nameHash = hashName(name)
  const scores = Array.from(ring.seeds, (seed) => score(nameHash, seed))
  return scores.map((_, i) => i).sort((a, b) => scores[b]! - scores[a]! || a - b)
}

/** The ring without `node` (unchanged if it has none). */
export const without = (ring: Ring, node: string): Ring => make(ring.nodes.filter((other) => other !== node))

/** The ring with `node` added last. */
export const including = (ring: Ring, node: string): Ring => make([...ring.nodes, node])
