/**
 * The rate limiter's bookkeeping, without a clock: a token bucket that goes into debt, and the cutting
 * of writes into pieces.
 */
import { describe, expect, it } from "@effect/vitest"
import * as FastCheck from "effect/FastCheck"
import * as TokenBucket from "../../src/layers/internal/TokenBucket.js"
import { cut } from "../../src/layers/TokenBucketRateLimiter.js"

describe("TokenBucket", () => {
  it("starts full, then makes a taker wait for what it takes beyond what it holds", () => {
    const bucket = TokenBucket.make(1000, 100)
    expect(bucket.take(0, 100)).toBe(0)
    expect(bucket.take(0, 50)).toBe(50)
  })

  it("refills at its rate, never beyond its capacity", () => {
    const bucket = TokenBucket.make(1000, 100)
    bucket.take(0, 100)
    expect(bucket.take(40, 40)).toBe(0)
    expect(bucket.take(40, 1)).toBe(1)
    // A long pause refills it to its capacity, not to a second's worth.
    expect(bucket.take(10_000, 100)).toBe(0)
    expect(bucket.take(10_000, 1)).toBe(1)
  })

  it("serves takers in the order they asked: each waits for the debt of those before it", () => {
    const bucket = TokenBucket.make(1000, 0)
    expect([bucket.take(0, 100), bucket.take(0, 100), bucket.take(0, 100)]).toEqual([100, 200, 300])
    // The first has been served: the next waits for the two still ahead of it.
    expect(bucket.take(100, 100)).toBe(300)
  })

  it("takes back what a taker gave up, for the next one", () => {
    const bucket = TokenBucket.make(1000, 100)
    bucket.take(0, 100)
    expect(bucket.take(0, 500)).toBe(500)
    bucket.giveBack(500)
    expect(bucket.take(0, 10)).toBe(10)
  })

  it("refills nothing when the clock steps back, nor twice when it comes forward again", () => {
    const bucket = TokenBucket.make(1000, 1000)
    bucket.take(1000, 1000)
    expect(bucket.take(500, 10)).toBe(10)
    expect(bucket.take(1010, 10)).toBe(10)
  })

  // Takers coming at any times, in order: by any instant, no more has been let through than the
  // capacity and the rate allow; and those who asked earlier are never let through later.
  it.prop("never lets through more than its capacity plus its rate, and serves in order", [
    FastCheck.integer({ min: 1, max: 100_000 }),
    FastCheck.integer({ min: 0, max: 100_000 }),
    FastCheck.array(FastCheck.tuple(FastCheck.nat(2_000), FastCheck.integer({ min: 1, max: 70_000 })), {
      minLength: 1,
      maxLength: 200
    })
  ], ([rate, capacity, arrivals]) => {
    const bucket = TokenBucket.make(rate, capacity)
    let now = 0
    const served = arrivals.map(([gap, tokens]) => {
      now += gap
      return { at: now + bucket.take(now, tokens), tokens }
    })
    served.forEach((taker, index) => {
      if (index > 0) expect(taker.at).toBeGreaterThanOrEqual(served[index - 1]!.at - 1e-6)
      const through = served.filter((other) => other.at <= taker.at).reduce((sum, other) => sum + other.tokens, 0)
      expect(through).toBeLessThanOrEqual(capacity + (rate * taker.at) / 1000 + 1e-6)
    })
  })

  // A taker that comes back as soon as it is let through, as a connection sending piece after piece
  // does, gets the whole rate: no time is lost between pieces.
  it.prop("gives a taker that never pauses the whole rate", [
    FastCheck.integer({ min: 1, max: 100_000 }),
    FastCheck.integer({ min: 0, max: 100_000 }),
    FastCheck.array(FastCheck.integer({ min: 1, max: 70_000 }), { minLength: 1, maxLength: 200 })
  ], ([rate, capacity, pieces]) => {
    const bucket = TokenBucket.make(rate, capacity)
    let now = 0
    for (const tokens of pieces) now += bucket.take(now, tokens)
    const total = pieces.reduce((sum, tokens) => sum + tokens, 0)
    expect(now).toBeCloseTo((Math.max(0, total - capacity) * 1000) / rate, 3)
  })
})

describe("cut", () => {
  const sizesOf = (groups: ReadonlyArray<ReadonlyArray<Uint8Array>>) =>
    groups.map((group) => group.reduce((sum, chunk) => sum + chunk.length, 0))

  it("cuts chunks across groups of at most the limit, keeping small ones together", () => {
    const chunk = (length: number, value: number) => new Uint8Array(length).fill(value)
    const groups = cut([chunk(3, 1), chunk(10, 2), chunk(2, 3)], 4)
    expect(sizesOf(groups)).toEqual([4, 4, 4, 3])
    expect(groups.map((group) => group.map((part) => Array.from(part)))).toEqual([
      [[1, 1, 1], [2]],
      [[2, 2, 2, 2]],
      [[2, 2, 2, 2]],
      [[2], [3, 3]]
    ])
  })

  it.prop("keeps every byte in order, in groups of at most the limit, all full but the last", [
    FastCheck.array(FastCheck.uint8Array({ maxLength: 300 }), { maxLength: 20 }),
    FastCheck.integer({ min: 1, max: 500 })
  ], ([chunks, limit]) => {
    const groups = cut(chunks, limit)
    expect(Buffer.concat(groups.flat())).toEqual(Buffer.concat(chunks))
    const sizes = sizesOf(groups)
    sizes.forEach((size, index) => {
      expect(size).toBeGreaterThan(0)
      if (index < sizes.length - 1) expect(size).toBe(limit)
      else expect(size).toBeLessThanOrEqual(limit)
    })
  })
})
