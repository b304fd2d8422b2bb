/**
 * The default eviction policy: a protected set run by LIRS's rule (an entry earns its place by
 * coming back sooner than the protected set's least recent entry was last used), and a probation
 * area evicted by GreedyDual-Size (the oldest entry of each size class is weighed by its age times
 * its size per unit of miss cost), so that small files, cheap to keep, stay longer. A miss costs
 * one request plus its bytes in units of the mean request size: the policy minimises the object
 * miss ratio plus the byte miss ratio. See docs/CACHE_POLICY.md.
 */
import type { EvictionPolicy } from "./EvictionPolicy.js"
import { LinkedList, type ListNode } from "./LinkedList.js"

/** The least the probation area keeps (S3-FIFO's small queue), also room for entries pinned there. */
const PROBATION_SHARE = 0.1
/**
 * New entries join the protected set directly while it holds less than half of its room: with no
 * history yet, half the cache bets on what came first (LIRS fills it all so), half on recency.
 */
const FOUNDERS_SHARE = 0.5

const enum State {
  Protected,
  Probation,
  /** Evicted, remembered for the LIRS test when it comes back. */
  Ghost
}

interface Block {
  readonly key: string
  readonly size: number
  readonly sizeClass: number
  /** The request count at the last access: recency and reuse distance are measured in requests. */
  lastAccess: number
  /** The request count when the block (re)entered probation: its age there. */
  enteredProbation: number
  state: State
  node: ListNode<Block> | undefined
}

const sizeClassOf = (size: number) => 31 - Math.clz32(Math.max(1, size))

export class LirsGds implements EvictionPolicy {
  readonly name = "lirs-gds"
  private readonly protectedLimit: number
  private readonly foundersLimit: number
  /** Least recently used first. */
  private readonly protectedSet = new LinkedList<Block>()
  /** One FIFO per power-of-two size class, oldest first. */
  private readonly probation: Array<LinkedList<Block>> = []
  /** Oldest eviction first, up to `capacity` bytes of history (the bound LIRS implementations use). */
  private readonly ghosts = new LinkedList<Block>()
  private readonly blocks = new Map<string, Block>()
  private protectedBytes = 0
  private ghostBytes = 0
  private requests = 0
  private requestedBytes = 0

  constructor(private readonly capacity: number) {
    this.protectedLimit = capacity - Math.ceil(capacity * PROBATION_SHARE)
    this.foundersLimit = this.protectedLimit * FOUNDERS_SHARE
  }

  insert(key: string, size: number): void {
    this.count(size)
    const known = this.blocks.get(key)
    if (known !== undefined && known.state === State.Ghost && known.size === size) return this.reuse(known)
    if (known !== undefined) this.forget(known)
    const block: Block = {
      key,
      size,
      sizeClass: sizeClassOf(size),
      lastAccess: this.requests,
      enteredProbation: this.requests,
      state: State.Probation,
      node: undefined
    }
    this.blocks.set(key, block)
    if (this.protectedBytes + size <= this.foundersLimit) this.move(block, State.Protected)
    else this.move(block, State.Probation)
  }

  hit(key: string): void {
    const block = this.blocks.get(key)
    if (block === undefined || block.state === State.Ghost) return
    this.count(block.size)
    if (block.state === State.Protected) {
      block.lastAccess = this.requests
      this.protectedSet.moveToBack(block.node!)
    } else {
      this.reuse(block)
    }
  }

  remove(key: string): void {
    const block = this.blocks.get(key)
    if (block !== undefined) this.forget(block)
  }

  evict(isPinned: (key: string) => boolean): string | undefined {
    const victim = this.probationVictim(isPinned) ?? this.oldestProtected(isPinned)
    if (victim === undefined) return undefined
    this.move(victim, State.Ghost)
    return victim.key
  }

  private count(size: number): void {
    this.requests++
    this.requestedBytes += size
  }

  /** An entry in probation requested again, or a ghost coming back: LIRS's promotion test. */
  private reuse(block: Block): void {
    const reuseDistance = this.requests - block.lastAccess
    block.lastAccess = this.requests
    const oldest = this.protectedSet.head
    const protectedRecency = oldest === undefined ? Infinity : this.requests - oldest.value.lastAccess
    if (reuseDistance < protectedRecency || this.protectedBytes + block.size <= this.protectedLimit) {
      this.move(block, State.Protected)
      while (this.protectedBytes > this.protectedLimit) {
        const demoted = this.protectedSet.head!.value
        demoted.enteredProbation = this.requests
        this.move(demoted, State.Probation)
      }
    } else if (block.state === State.Ghost) {
      block.enteredProbation = this.requests
      this.move(block, State.Probation)
    }
  }

  /**
   * GreedyDual-Size over the probation area: the oldest unpinned entry of each size class is a
   * candidate, weighed by its age times `size / cost`, where a miss costs `1 + size / meanSize`
   * (one request, and its bytes in units of the mean request). Small files weigh their size,
   * large ones about the mean size: among large files this is plain FIFO.
   */
  private probationVictim(isPinned: (key: string) => boolean): Block | undefined {
    const meanSize = this.requestedBytes / Math.max(1, this.requests)
    let victim: Block | undefined = undefined
    let victimScore = -1
    for (const queue of this.probation) {
      if (queue === undefined) continue
      for (let node = queue.head; node !== undefined; node = node.next) {
        const block = node.value
        if (isPinned(block.key)) continue
        const weight = block.size * meanSize / (block.size + meanSize)
        const score = (this.requests - block.enteredProbation + 1) * weight
        if (score > victimScore) {
          victim = block
          victimScore = score
        }
        break
      }
    }
    return victim
  }

  /** When probation is empty or all pinned, the protected set gives up its least recent entry. */
  private oldestProtected(isPinned: (key: string) => boolean): Block | undefined {
    for (let node = this.protectedSet.head; node !== undefined; node = node.next) {
      if (!isPinned(node.value.key)) return node.value
    }
    return undefined
  }

  private move(block: Block, state: State): void {
    this.unlink(block)
    block.state = state
    switch (state) {
      case State.Protected:
        this.protectedBytes += block.size
        block.node = this.protectedSet.push(block)
        break
      case State.Probation:
        block.node = (this.probation[block.sizeClass] ??= new LinkedList()).push(block)
        break
      case State.Ghost:
        this.ghostBytes += block.size
        block.node = this.ghosts.push(block)
        while (this.ghostBytes > this.capacity) this.forget(this.ghosts.head!.value)
        break
    }
  }

  private unlink(block: Block): void {
    if (block.node === undefined) return
    block.node.list!.remove(block.node)
    block.node = undefined
    if (block.state === State.Protected) this.protectedBytes -= block.size
    else if (block.state === State.Ghost) this.ghostBytes -= block.size
  }

  private forget(block: Block): void {
    this.unlink(block)
    this.blocks.delete(block.key)
  }
}

export const lirsGds = (capacity: number): EvictionPolicy => new LirsGds(capacity)
