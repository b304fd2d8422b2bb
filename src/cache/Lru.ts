/** Least recently used first: FIFO's queue, with a hit moving its key to the back. */
import type { EvictionPolicy } from "./EvictionPolicy.js"
import { queuePolicy } from "./Fifo.js"

export const lru = (): EvictionPolicy => queuePolicy("lru", true)
