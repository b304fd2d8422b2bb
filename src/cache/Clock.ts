/**
 * CLOCK (FIFO with reinsertion): a hit sets an entry's reference bit; eviction takes the oldest
 * entry, unless its bit is set, in which case the bit is cleared and the entry goes to the back.
 */
import type { EvictionPolicy } from "./EvictionPolicy.js"
import { LinkedList, type ListNode } from "./LinkedList.js"

interface Entry {
  readonly key: string
  referenced: boolean
}

export const clock = (): EvictionPolicy => {
  const queue = new LinkedList<Entry>()
  const nodes = new Map<string, ListNode<Entry>>()

  const unlink = (node: ListNode<Entry>) => {
    queue.remove(node)
    nodes.delete(node.value.key)
  }

  return {
    name: "clock",
    insert: (key) => {
      const previous = nodes.get(key)
      if (previous !== undefined) unlink(previous)
      nodes.set(key, queue.push({ key, referenced: false }))
    },
    hit: (key) => {
      const node = nodes.get(key)
      if (node !== undefined) node.value.referenced = true
    },
    remove: (key) => {
      const node = nodes.get(key)
      if (node !== undefined) unlink(node)
    },
    evict: (isPinned) => {
      // Pinned entries go to the back as they are; after one full turn every unpinned entry's bit
      // is clear, so two turns find a victim unless everything is pinned.
      for (let steps = 2 * queue.length; steps > 0; steps--) {
        const node = queue.head!
        const entry = node.value
        if (isPinned(entry.key)) {
          queue.moveToBack(node)
          continue
        }
        if (entry.referenced) {
          entry.referenced = false
          queue.moveToBack(node)
          continue
        }
        unlink(node)
        return entry.key
      }
      return undefined
    }
  }
}
