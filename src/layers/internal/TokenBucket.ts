/**
 * A token bucket that may go into debt: a taker takes its tokens at once and is told how long to wait
 * until the bucket has refilled past them. Takers are so served in the order they asked, at the
 * bucket's rate, with no queue of waiters to keep: the debt is the queue.
 */

export interface TokenBucket {
  /** Takes `tokens` at `now` (milliseconds): how long, in milliseconds, until they are covered (0: now). */
  readonly take: (now: number, tokens: number) => number
  /** Gives back `tokens` taken and never used: their taker gave up waiting. */
  readonly giveBack: (tokens: number) => void
}

/**
 * A bucket refilled at `rate` tokens a second, holding `capacity` at most (what may go at once after
 * a pause), full when first taken from.
 */
export const make = (rate: number, capacity: number): TokenBucket => {
  let tokens = capacity
  let updated: number | undefined = undefined
  return {
    take: (now, taken) => {
      // A clock that steps back refills nothing, and does not make the next refill count twice.
      if (updated !== undefined && now > updated) tokens = Math.min(capacity, tokens + ((now - updated) * rate) / 1000)
      if (updated === undefined || now > updated) updated = now
      tokens -= taken
      return tokens >= 0 ? 0 : (-tokens * 1000) / rate
    },
    giveBack: (given) => {
      tokens = Math.min(capacity, tokens + given)
    }
  }
}
