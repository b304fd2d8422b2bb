/**
 * Keys recently evicted, without their bytes, up to a budget of the bytes they stood for; the
 * oldest are forgotten first. A policy's memory of what it let go.
 */
import { LinkedList, type ListNode } from "./LinkedList.js"

interface Ghost {
  readonly key: string
  readonly size: number
}

export class GhostFifo {
  private readonly order = new LinkedList<Ghost>()
  private readonly nodes = new Map<string, ListNode<Ghost>>()
  private bytes = 0

  constructor(private readonly budget: number) {}

  /**
   * Remembers `key` (a key already remembered keeps its place). The budget is enforced by `trim`,
   * so that a policy can first look up the key it is admitting, as if it had asked before making
   * room for it.
   */
  add(key: string, size: number): void {
    // A key larger than the whole budget would only push every other key out.
    if (this.nodes.has(key) || size > this.budget) return
    this.nodes.set(key, this.order.push({ key, size }))
    this.bytes += size
  }

  /** Forgets the oldest keys until the rest fit the budget. */
  trim(): void {
    while (this.bytes > this.budget) {
      const oldest = this.order.shift()!
      this.nodes.delete(oldest.key)
      this.bytes -= oldest.size
    }
  }

  /** Forgets `key`; true if it was remembered. */
  delete(key: string): boolean {
    const node = this.nodes.get(key)
    if (node === undefined) return false
    this.order.remove(node)
    this.nodes.delete(key)
    this.bytes -= node.value.size
    return true
  }
}
