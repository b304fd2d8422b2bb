/**
 * A doubly linked list whose nodes the caller keeps (in a Map, say), so that unlinking a known
 * node, moving it to the back and popping the front are all O(1). The policies' queues.
 */

export interface ListNode<A> {
  readonly value: A
  prev: ListNode<A> | undefined
  next: ListNode<A> | undefined
  /** The list holding the node, `undefined` once unlinked: guards against unlinking twice. */
  list: LinkedList<A> | undefined
}

export class LinkedList<A> {
  /** The oldest node: where a FIFO or LRU queue evicts. */
  head: ListNode<A> | undefined = undefined
  /** The newest node. */
  tail: ListNode<A> | undefined = undefined
  length = 0

  /** Appends `value` at the back and returns its node. */
  push(value: A): ListNode<A> {
    const node: ListNode<A> = { value, prev: this.tail, next: undefined, list: this }
    if (this.tail === undefined) this.head = node
    else this.tail.next = node
    this.tail = node
    this.length++
    return node
  }

  /** Unlinks `node` if it is in this list. */
  remove(node: ListNode<A>): void {
    if (node.list !== this) return
    if (node.prev === undefined) this.head = node.next
    else node.prev.next = node.next
    if (node.next === undefined) this.tail = node.prev
    else node.next.prev = node.prev
    node.prev = undefined
    node.next = undefined
    node.list = undefined
    this.length--
  }

  /** Moves a node of this list to the back. */
  moveToBack(node: ListNode<A>): void {
    if (node.list !== this || node === this.tail) return
    this.remove(node)
    node.prev = this.tail
    node.list = this
    if (this.tail === undefined) this.head = node
    else this.tail.next = node
    this.tail = node
    this.length++
  }

  /** Unlinks and returns the oldest value. */
  shift(): A | undefined {
    const node = this.head
    if (node === undefined) return undefined
    this.remove(node)
    return node.value
  }
}
