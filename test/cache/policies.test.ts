/**
 * Every policy in POLICIES honours the contract: never a pinned key, `undefined` only when every
 * key is pinned, keys forgotten on `remove`, and working on when nearly everything is pinned. And
 * through the Cache service, the bytes held never exceed the capacity, whatever the policy.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Option from "effect/Option"
import type { EvictionPolicy } from "../../src/cache/EvictionPolicy.js"
import { DEFAULT_POLICY, POLICIES, POLICY_NAMES } from "../../src/cache/policies.js"
import * as BoundedCache from "../../src/layers/BoundedCache.js"
import type { FileInfo } from "../../src/services/FileStore.js"

/** A cache reduced to what a policy sees: resident keys and sizes, pins, and the eviction loop. */
class Model {
  readonly sizes = new Map<string, number>()
  readonly pinned = new Set<string>()
  used = 0
  constructor(readonly capacity: number, readonly policy: EvictionPolicy) {}

  isPinned = (key: string): boolean => {
    // The cache only ever asks about keys it holds.
    expect(this.sizes.has(key)).toBe(true)
    return this.pinned.has(key)
  }

  /** Evicts once, checking the contract; the victim, or undefined. */
  evictOne(): string | undefined {
    const victim = this.policy.evict(this.isPinned)
    if (victim === undefined) {
      expect([...this.sizes.keys()].every((key) => this.pinned.has(key))).toBe(true)
      return undefined
    }
    expect(this.sizes.has(victim)).toBe(true)
    expect(this.pinned.has(victim)).toBe(false)
    this.used -= this.sizes.get(victim)!
    this.sizes.delete(victim)
    return victim
  }

  /** A request as the cache serves it: a hit, or room made and the key inserted (if it can be). */
  request(key: string, size: number): void {
    if (this.sizes.has(key)) return this.policy.hit(key)
    while (this.capacity - this.used < size) {
      if (this.evictOne() === undefined) return
    }
    this.policy.insert(key, size)
    this.sizes.set(key, size)
    this.used += size
  }

  remove(key: string): void {
    if (!this.sizes.has(key)) return
    this.policy.remove(key)
    this.used -= this.sizes.get(key)!
    this.sizes.delete(key)
    this.pinned.delete(key)
  }
}

const operation = FastCheck.oneof(
  {
    arbitrary: FastCheck.record({
      op: FastCheck.constant("request" as const),
      key: FastCheck.integer({ min: 0, max: 24 }),
      size: FastCheck.integer({ min: 1, max: 40 })
    }),
    weight: 6
  },
  {
    arbitrary: FastCheck.record({
      op: FastCheck.constant("pin" as const),
      key: FastCheck.integer({ min: 0, max: 24 })
    }),
    weight: 3
  },
  {
    arbitrary: FastCheck.record({
      op: FastCheck.constant("unpin" as const),
      key: FastCheck.integer({ min: 0, max: 24 })
    }),
    weight: 2
  },
  {
    arbitrary: FastCheck.record({
      op: FastCheck.constant("remove" as const),
      key: FastCheck.integer({ min: 0, max: 24 })
    }),
    weight: 1
  },
  { arbitrary: FastCheck.constant({ op: "evict" as const }), weight: 1 }
)

describe("eviction policies", () => {
  it("offers the default among the policies", () => {
    expect(POLICY_NAMES).toContain(DEFAULT_POLICY)
    for (const name of POLICY_NAMES) expect(POLICIES[name]!(100).name).toBe(name)
  })

  describe.each(POLICY_NAMES)("%s", (name) => {
    const make = POLICIES[name]!

    it.prop("never evicts a pinned key, and finds a victim whenever one is unpinned", [
      FastCheck.array(operation, { maxLength: 300 })
    ], ([operations]) => {
      const model = new Model(100, make(100))
      for (const step of operations) {
        const key = "key" in step ? `k${step.key}` : ""
        switch (step.op) {
          case "request":
            // A key keeps its size, as a file does until it changes.
            model.request(key, model.sizes.get(key) ?? step.size)
            break
          case "pin":
            if (model.sizes.has(key)) model.pinned.add(key)
            break
          case "unpin":
            model.pinned.delete(key)
            break
          case "remove":
            model.remove(key)
            break
          case "evict":
            model.evictOne()
            break
        }
      }
      // Unpinned, everything can be evicted, each key once.
      model.pinned.clear()
      const evicted = new Set<string>()
      while (model.sizes.size > 0) {
        const victim = model.evictOne()!
        expect(evicted.has(victim)).toBe(false)
        evicted.add(victim)
      }
      expect(model.evictOne()).toBeUndefined()
    })

    it("forgets removed keys, even those it remembers as evicted", () => {
      const model = new Model(10, make(10))
      for (let i = 0; i < 30; i++) model.request(`k${i % 15}`, 1 + (i % 3))
      for (const key of [...model.sizes.keys()]) model.remove(key)
      // Requested again, removed keys are new keys: nothing stale comes back from eviction.
      for (let i = 0; i < 5; i++) model.request(`n${i}`, 2)
      const victims = new Set<string>()
      for (let victim = model.evictOne(); victim !== undefined; victim = model.evictOne()) victims.add(victim)
      expect([...victims].sort()).toEqual(["n0", "n1", "n2", "n3", "n4"])
    })

    it("keeps evicting when all the newest entries, then all but one, are pinned", () => {
      const capacity = 100
      const model = new Model(capacity, make(capacity))
      // Half the entries are hit twice (they leave any probationary queue), then new ones push
      // the rest out: the newest entries are where each policy judges newcomers.
      for (let i = 0; i < 100; i++) model.request(`old${i}`, 1)
      for (let round = 0; round < 2; round++) for (let i = 0; i < 100; i += 2) model.request(`old${i}`, 1)
      for (let i = 0; i < 100; i++) model.request(`new${i}`, 1)
      for (let i = 50; i < 100; i++) if (model.sizes.has(`new${i}`)) model.pinned.add(`new${i}`)
      expect(model.pinned.size).toBeGreaterThan(20)
      // Everything unpinned can still be evicted, one at a time, and then nothing.
      const unpinned = model.sizes.size - model.pinned.size
      for (let i = 0; i < unpinned; i++) expect(model.evictOne()).toBeDefined()
      expect(model.evictOne()).toBeUndefined()
      // All but one pinned: that one is found.
      model.pinned.delete("new77")
      expect(model.evictOne()).toBe("new77")
      expect(model.evictOne()).toBeUndefined()
      // Unpinned again, it carries on, and an entry as large as the cache can be admitted.
      model.pinned.clear()
      model.request("large", capacity)
      expect([...model.sizes.keys()]).toEqual(["large"])
    })
  })
})

const info = (name: string, size: number): FileInfo => ({ name, size, mtimeNs: 0n, dev: 0n, ino: 0n })

const batch = FastCheck.array(
  FastCheck.record({ name: FastCheck.integer({ min: 0, max: 11 }), size: FastCheck.integer({ min: 0, max: 60 }) }),
  { minLength: 1, maxLength: 8 }
)

describe("the Cache service, on every policy", () => {
  it.effect.prop(
    "holds at most its capacity, and exactly what it lists once pins are released",
    [FastCheck.constantFrom(...POLICY_NAMES), FastCheck.array(batch, { maxLength: 40 })],
    ([name, batches]) =>
      Effect.gen(function*() {
        const capacity = 100
        const cache = yield* BoundedCache.make({ capacity, policy: POLICIES[name]! })
        const sizes = new Map<number, number>()
        for (const requests of batches) {
          // A batch's pins are all held until the batch ends, as concurrent requests would hold them.
          yield* Effect.scoped(Effect.forEach(requests, ({ name, size }) =>
            Effect.gen(function*() {
              const file = info(`f${name}`, sizes.get(name) ?? size)
              sizes.set(name, file.size)
              const hit = yield* cache.lookup(file)
              if (Option.isNone(hit)) {
                yield* cache.admit(
                  file,
                  Effect.succeed({
                    info: file,
                    bytes: new Uint8Array(file.size),
                    digest: () => Effect.succeed(new Uint8Array(16))
                  })
                )
              }
              const stats = yield* cache.stats
              expect(stats.used).toBeLessThanOrEqual(capacity)
            }), { discard: true }))
          const stats = yield* cache.stats
          const listed = yield* cache.list
          expect(stats.pinned).toBe(0)
          expect(stats.used).toBe(listed.reduce((sum, entry) => sum + entry.size, 0))
        }
      })
  )
})
