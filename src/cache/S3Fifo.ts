/**
 * S3-FIFO (Yang et al., SOSP 2023): a small FIFO (10% of the bytes) where new entries are judged,
 * a main FIFO with a 2-bit CLOCK counter for the entries that proved themselves, and a ghost FIFO
 * remembering the keys recently dropped from the small queue (90% of the bytes), so that a key
 * coming back soon goes straight to the main queue.
 *
 * As in libCacheSim's reference version (`S3FIFOv0`, the published figures), an entry moves from
 * the small queue to the main one when it was hit at least twice there. Unlike it, an entry too
 * large for the small queue is still admitted (into the small queue, which then runs over its
 * share until the entry leaves): a file server must cache every file that fits.
 */
import type { EvictionPolicy } from "./EvictionPolicy.js"
import { GhostFifo } from "./GhostFifo.js"
import { LinkedList, type ListNode } from "./LinkedList.js"

const SMALL_RATIO = 0.1
const GHOST_RATIO = 0.9
const MOVE_TO_MAIN_HITS = 2
const MAX_FREQUENCY = 3

interface Entry {
  readonly key: string
  readonly size: number
  frequency: number
  inMain: boolean
}

export const s3fifo = (capacity: number): EvictionPolicy => {
  const smallTarget = Math.floor(capacity * SMALL_RATIO)
  const mainTarget = capacity - smallTarget
  const small = new LinkedList<Entry>()
  const main = new LinkedList<Entry>()
  const ghost = new GhostFifo(Math.floor(capacity * GHOST_RATIO))
  const nodes = new Map<string, ListNode<Entry>>()
  let smallBytes = 0
  let mainBytes = 0

  const unlink = (node: ListNode<Entry>) => {
    const entry = node.value
    if (entry.inMain) {
      main.remove(node)
      mainBytes -= entry.size
    } else {
      small.remove(node)
      smallBytes -= entry.size
    }
    nodes.delete(entry.key)
  }

  const pushMain = (entry: Entry) => {
    entry.inMain = true
    entry.frequency = 0
    mainBytes += entry.size
    nodes.set(entry.key, main.push(entry))
  }

  /** The oldest unpinned small entry leaves: to the main queue if it was hit enough, else out. */
  const evictSmall = (isPinned: (key: string) => boolean): string | undefined => {
    let node = small.head
    while (node !== undefined) {
      const next = node.next
      const entry = node.value
      if (!isPinned(entry.key)) {
        unlink(node)
        if (entry.frequency >= MOVE_TO_MAIN_HITS) {
          pushMain(entry)
        } else {
          ghost.add(entry.key, entry.size)
          return entry.key
        }
      }
      node = next
    }
    return undefined
  }

  /** CLOCK over the main queue: a hit entry goes round again with one hit less. */
  const evictMain = (isPinned: (key: string) => boolean): string | undefined => {
    for (let steps = (MAX_FREQUENCY + 1) * main.length; steps > 0; steps--) {
      const node = main.head!
      const entry = node.value
      if (isPinned(entry.key)) {
        main.moveToBack(node)
      } else if (entry.frequency > 0) {
        entry.frequency = Math.min(entry.frequency, MAX_FREQUENCY) - 1
        main.moveToBack(node)
      } else {
        unlink(node)
        return entry.key
      }
    }
    return undefined
  }

  return {
    name: "s3-fifo",
    insert: (key, size) => {
      const previous = nodes.get(key)
      if (previous !== undefined) unlink(previous)
      const entry: Entry = { key, size, frequency: 0, inMain: false }
      const returning = ghost.delete(key)
      ghost.trim()
      if (returning) {
        pushMain(entry)
      } else {
        smallBytes += size
        nodes.set(key, small.push(entry))
      }
    },
    hit: (key) => {
      const node = nodes.get(key)
      if (node !== undefined) node.value.frequency++
    },
    remove: (key) => {
      const node = nodes.get(key)
      if (node !== undefined) unlink(node)
      ghost.delete(key)
    },
    evict: (isPinned) => {
      if (mainBytes > mainTarget || small.length === 0) return evictMain(isPinned) ?? evictSmall(isPinned)
      return evictSmall(isPinned) ?? evictMain(isPinned)
    }
  }
}
