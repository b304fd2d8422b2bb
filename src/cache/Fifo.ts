/** First in, first out: hits change nothing. The baseline every other policy is measured against. */
import type { EvictionPolicy } from "./EvictionPolicy.js"
import { LinkedList, type ListNode } from "./LinkedList.js"

/**
 * Keys in one queue, oldest first, evicted from the front (skipping pinned ones). With `promote`,
 * a hit moves its key to the back: LRU; without, FIFO.
 */
export const queuePolicy = (name: string, promote: boolean): EvictionPolicy => {
  const order = new LinkedList<string>()
  const nodes = new Map<string, ListNode<string>>()
  const forget = (key: string) => {
    const node = nodes.get(key)
    if (node === undefined) return
    order.remove(node)
    nodes.delete(key)
  }
  return {
    name,
    insert: (key) => {
      forget(key)
      nodes.set(key, order.push(key))
    },
    hit: (key) => {
      if (!promote) return
      const node = nodes.get(key)
      if (node !== undefined) order.moveToBack(node)
    },
    remove: forget,
    evict: (isPinned) => {
      for (let node = order.head; node !== undefined; node = node.next) {
        if (!isPinned(node.value)) {
          forget(node.value)
          return node.value
        }
      }
      return undefined
    }
  }
}

export const fifo = (): EvictionPolicy => queuePolicy("fifo", false)
