/**
 * SIEVE (Zhang et al., NSDI 2024): a FIFO queue with one "visited" bit per entry and a hand that
 * walks from the oldest entry towards the newest, clearing bits, and evicts the first entry it
 * finds unvisited. Survivors stay where they are, so new entries are judged quickly.
 */
import type { EvictionPolicy } from "./EvictionPolicy.js"
import { LinkedList, type ListNode } from "./LinkedList.js"

interface Entry {
  readonly key: string
  visited: boolean
}

export const sieve = (): EvictionPolicy => {
  const queue = new LinkedList<Entry>()
  const nodes = new Map<string, ListNode<Entry>>()
  // The next entry the hand looks at; `undefined` means start again from the oldest.
  let hand: ListNode<Entry> | undefined = undefined

  const unlink = (node: ListNode<Entry>) => {
    if (hand === node) hand = node.next
    queue.remove(node)
    nodes.delete(node.value.key)
  }

  return {
    name: "sieve",
    insert: (key) => {
      const previous = nodes.get(key)
      if (previous !== undefined) unlink(previous)
      nodes.set(key, queue.push({ key, visited: false }))
    },
    hit: (key) => {
      const node = nodes.get(key)
      if (node !== undefined) node.value.visited = true
    },
    remove: (key) => {
      const node = nodes.get(key)
      if (node !== undefined) unlink(node)
    },
    evict: (isPinned) => {
      // One full turn clears every unpinned entry's bit, so a second turn finds a victim unless
      // everything is pinned.
      for (let steps = 2 * queue.length; steps > 0; steps--) {
        const node = hand ?? queue.head!
        hand = node.next
        const entry = node.value
        if (isPinned(entry.key)) continue
        if (entry.visited) {
          entry.visited = false
          continue
        }
        unlink(node)
        return entry.key
      }
      return undefined
    }
  }
}
