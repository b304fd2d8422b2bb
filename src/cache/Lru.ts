/** Least recently used first. */
import type { EvictionPolicy } from "./EvictionPolicy.js"
import { LinkedList, type ListNode } from "./LinkedList.js"

export const lru = (): EvictionPolicy => {
  // Oldest first: a hit moves its key to the back.
  const order = new LinkedList<string>()
  const nodes = new Map<string, ListNode<string>>()
  const forget = (key: string) => {
    const node = nodes.get(key)
    if (node === undefined) return
    order.remove(node)
    nodes.delete(key)
  }
  return {
    name: "lru",
    insert: (key) => {
      forget(key)
      nodes.set(key, order.push(key))
    },
    hit: (key) => {
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
