/** Least recently used first. */
import type { EvictionPolicy } from "./EvictionPolicy.js"

export const lru = (): EvictionPolicy => {
  // A Map iterates in insertion order: deleting and re-setting a key on each hit keeps the least
  // recently used key first, with O(1) updates.
  const order = new Map<string, true>()
  return {
    name: "lru",
    insert: (key) => {
      order.delete(key)
      order.set(key, true)
    },
    hit: (key) => {
      if (order.delete(key)) order.set(key, true)
    },
    remove: (key) => {
      order.delete(key)
    },
    evict: (isPinned) => {
      for (const key of order.keys()) {
        if (!isPinned(key)) {
          order.delete(key)
          return key
        }
      }
      return undefined
    }
  }
}
