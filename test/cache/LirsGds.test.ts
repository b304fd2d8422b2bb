import { describe, expect, it } from "@effect/vitest"
import type { EvictionPolicy } from "../../src/cache/EvictionPolicy.js"
import { lirsGds } from "../../src/cache/LirsGds.js"

/** Requests against a policy as the cache makes them, with nothing pinned; returns the victims. */
const cacheOf = (capacity: number) => {
  const policy: EvictionPolicy = lirsGds(capacity)
  const sizes = new Map<string, number>()
  let used = 0
  return {
    sizes,
    request(key: string, size: number): Array<string> {
      if (sizes.has(key)) {
        policy.hit(key)
        return []
      }
      const victims: Array<string> = []
      while (capacity - used < size) {
        const victim = policy.evict(() => false)!
        victims.push(victim)
        used -= sizes.get(victim)!
        sizes.delete(victim)
      }
      policy.insert(key, size)
      sizes.set(key, size)
      used += size
      return victims
    },
    remove(key: string) {
      policy.remove(key)
      used -= sizes.get(key) ?? 0
      sizes.delete(key)
    }
  }
}

describe("lirs-gds", () => {
  it("keeps the first entries of a cold cache, up to half its protected room, through a scan", () => {
    const cache = cacheOf(100)
    for (let i = 0; i < 100; i++) cache.request(`first${i}`, 1)
    for (let i = 0; i < 500; i++) cache.request(`scan${i}`, 1)
    // The protected room is 90 (a tenth is kept for probation): the first 45 stay.
    for (let i = 0; i < 45; i++) expect(cache.sizes.has(`first${i}`)).toBe(true)
    for (let i = 45; i < 100; i++) expect(cache.sizes.has(`first${i}`)).toBe(false)
  })

  it("protects an entry requested again while in probation, and one coming back soon after eviction", () => {
    const cache = cacheOf(100)
    for (let i = 0; i < 100; i++) cache.request(`a${i}`, 1)
    cache.request("a80", 1) // in probation, requested again
    for (let i = 0; i < 40; i++) cache.request(`b${i}`, 1)
    expect(cache.sizes.has("a81")).toBe(false)
    cache.request("a81", 1) // a ghost, back within the protected set's recency
    for (let i = 0; i < 300; i++) cache.request(`c${i}`, 1)
    expect(cache.sizes.has("a80")).toBe(true)
    expect(cache.sizes.has("a81")).toBe(true)
  })

  it("keeps a small file in probation longer than large files that arrived after it", () => {
    const cache = cacheOf(1000)
    for (let i = 0; i < 9; i++) cache.request(`founder${i}`, 50)
    cache.request("small", 5)
    const victims: Array<string> = []
    for (let i = 0; i < 12; i++) victims.push(...cache.request(`large${i}`, 100))
    expect(victims).toContain("large0")
    expect(victims).toContain("large2")
    expect(cache.sizes.has("small")).toBe(true)
    // Among files of one size, probation is first in, first out.
    expect(victims.filter((victim) => victim.startsWith("large"))).toEqual(
      victims.filter((victim) => victim.startsWith("large")).sort((a, b) => Number(a.slice(5)) - Number(b.slice(5)))
    )
  })

  it("forgets a removed key: coming back, it is new and is not protected", () => {
    const cache = cacheOf(100)
    for (let i = 0; i < 100; i++) cache.request(`a${i}`, 1)
    for (let i = 0; i < 50; i++) cache.request(`b${i}`, 1)
    expect(cache.sizes.has("a90")).toBe(false)
    cache.remove("a90") // not resident: its history alone goes
    cache.request("a90", 1)
    for (let i = 0; i < 300; i++) cache.request(`c${i}`, 1)
    expect(cache.sizes.has("a90")).toBe(false)
  })
})
