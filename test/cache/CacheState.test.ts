import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import { CacheState, type Reservation } from "../../src/cache/CacheState.js"
import { lru } from "../../src/cache/Lru.js"
import type { CachedFile } from "../../src/services/Cache.js"
import type { FileInfo } from "../../src/services/FileStore.js"

const info = (name: string, size: number, version = 1): FileInfo => ({
  name,
  size,
  mtimeNs: BigInt(version),
  dev: 1n,
  ino: 1n
})
const file = (i: FileInfo): CachedFile => ({
  info: i,
  bytes: new Uint8Array(i.size),
  digest: () => Effect.succeed(new Uint8Array(16))
})

/** Loads `i` as a request would: reserve, commit, and release when the request ends. */
const load = (state: CacheState, i: FileInfo): Reservation | undefined => {
  const reservation = state.reserve(i.size)
  if (reservation !== undefined) state.commit(reservation, file(i))
  return reservation
}
const loadAndRelease = (state: CacheState, i: FileInfo) => {
  const reservation = load(state, i)
  if (reservation !== undefined) state.release(reservation)
  return reservation !== undefined
}
const names = (state: CacheState) => state.list().map((entry) => entry.name).sort()

describe("CacheState", () => {
  it("keeps the memory of an evicted recyclable entry as a spare, never one that is still pinned", () => {
    const state = new CacheState(20, lru())
    const slice = (name: string) => {
      const reservation = state.reserve(10)!
      const entry = state.commit(reservation, { ...file(info(name, 10)), recyclable: true })
      return { reservation, entry }
    }
    const a = slice("a")
    const b = slice("b")
    state.release(b.reservation)
    // "b" is evicted for "c" (a is pinned): its memory is spare, and a's is not.
    const c = slice("c")
    expect(state.spare(10)).toBe(b.entry.file.bytes)
    expect(state.spare(10)).toBeUndefined()
    // "a" dropped while pinned: spare only once its last pin goes.
    state.invalidate("a")
    expect(state.spare(10)).toBeUndefined()
    state.release(a.reservation)
    expect(state.spare(10)).toBe(a.entry.file.bytes)
    state.release(c.reservation)
    expect(state.stats()).toMatchObject({ used: 10, entries: 1, pinned: 0 })
  })

  it("evicts the least recently used entries first, only as many as needed", () => {
    const state = new CacheState(30, lru())
    for (const name of ["a", "b", "c"]) loadAndRelease(state, info(name, 10))
    state.unpin(state.lookup(info("a", 10))!)
    loadAndRelease(state, info("d", 10))
    expect(names(state)).toEqual(["a", "c", "d"])
    loadAndRelease(state, info("e", 20))
    expect(names(state)).toEqual(["d", "e"])
    expect(state.stats()).toMatchObject({ used: 30, entries: 2, evictions: 3, pinned: 0 })
  })

  it("never evicts a pinned entry, and evicts nothing when pins leave too little room", () => {
    const state = new CacheState(30, lru())
    loadAndRelease(state, info("a", 10))
    loadAndRelease(state, info("b", 10))
    const pinned = state.lookup(info("a", 10))!
    expect(state.reserve(25)).toBeUndefined()
    expect(names(state)).toEqual(["a", "b"])
    expect(state.stats().evictions).toBe(0)
    // 20 fits beside the pinned 10 only by evicting b, although a is older.
    expect(loadAndRelease(state, info("c", 20))).toBe(true)
    expect(names(state)).toEqual(["a", "c"])
    state.unpin(pinned)
    expect(state.stats().pinned).toBe(0)
  })

  it("counts a reservation as held, and gives it back on release", () => {
    const state = new CacheState(30, lru())
    const reservation = state.reserve(20)!
    expect(state.stats()).toMatchObject({ used: 20, entries: 0 })
    expect(state.reserve(11)).toBeUndefined()
    state.release(reservation)
    state.release(reservation)
    expect(state.stats().used).toBe(0)
    expect(state.reserve(30)).toBeDefined()
  })

  it("drops a stale entry on lookup, but keeps its bytes counted until its last pin goes", () => {
    const state = new CacheState(30, lru())
    loadAndRelease(state, info("a", 10, 1))
    const sending = state.lookup(info("a", 10, 1))!
    expect(state.lookup(info("a", 10, 2))).toBeUndefined()
    expect(names(state)).toEqual([])
    expect(state.stats()).toMatchObject({ used: 10, pinned: 1 })
    state.unpin(sending)
    expect(state.stats()).toMatchObject({ used: 0, pinned: 0 })
  })

  it("replaces an entry committed again under the same name", () => {
    const state = new CacheState(30, lru())
    loadAndRelease(state, info("a", 10, 1))
    loadAndRelease(state, info("a", 12, 2))
    expect(state.list()).toEqual([{ name: "a", size: 12 }])
    expect(state.stats().used).toBe(12)
  })

  it("refuses to commit bytes of another size than reserved", () => {
    const state = new CacheState(30, lru())
    const reservation = state.reserve(10)!
    expect(() => state.commit(reservation, file(info("a", 11)))).toThrow(/reservation of 10/)
  })

  // Random interleavings of loads, hits, pins, stale lookups and invalidations.
  const operation = FastCheck.oneof(
    FastCheck.record({
      op: FastCheck.constant("load" as const),
      name: FastCheck.integer({ min: 0, max: 7 }),
      size: FastCheck.integer({ min: 0, max: 120 }),
      version: FastCheck.integer({ min: 1, max: 3 })
    }),
    FastCheck.record({
      op: FastCheck.constant("pin" as const),
      name: FastCheck.integer({ min: 0, max: 7 }),
      version: FastCheck.integer({ min: 1, max: 3 })
    }),
    FastCheck.record({ op: FastCheck.constant("unpin" as const), index: FastCheck.nat() }),
    FastCheck.record({ op: FastCheck.constant("reserve" as const), size: FastCheck.integer({ min: 0, max: 120 }) }),
    FastCheck.record({ op: FastCheck.constant("release" as const), index: FastCheck.nat() }),
    FastCheck.record({ op: FastCheck.constant("invalidate" as const), name: FastCheck.integer({ min: 0, max: 7 }) })
  )

  it.prop("keeps used bytes within capacity and equal to what it holds", [
    FastCheck.array(operation, { maxLength: 200 })
  ], ([operations]) => {
    const capacity = 100
    const state = new CacheState(capacity, lru())
    const sizes = new Map<string, number>()
    const pins: Array<ReturnType<CacheState["lookup"]> & {}> = []
    const reservations: Array<Reservation> = []
    for (const step of operations) {
      switch (step.op) {
        case "load": {
          const name = `f${step.name}`
          const size = sizes.get(name) ?? step.size
          sizes.set(name, size)
          const reservation = load(state, info(name, size, step.version))
          if (reservation !== undefined) reservations.push(reservation)
          break
        }
        case "pin": {
          const name = `f${step.name}`
          const entry = state.lookup(info(name, sizes.get(name) ?? 0, step.version))
          if (entry !== undefined) pins.push(entry)
          break
        }
        case "unpin":
          if (pins.length > 0) state.unpin(pins.splice(step.index % pins.length, 1)[0]!)
          break
        case "reserve": {
          const reservation = state.reserve(step.size)
          if (reservation !== undefined) reservations.push(reservation)
          break
        }
        case "release":
          if (reservations.length > 0) state.release(reservations.splice(step.index % reservations.length, 1)[0]!)
          break
        case "invalidate":
          state.invalidate(`f${step.name}`)
          break
      }
      const stats = state.stats()
      expect(stats.used).toBeLessThanOrEqual(capacity)
      expect(stats.used).toBeGreaterThanOrEqual(state.list().reduce((sum, entry) => sum + entry.size, 0))
    }
    for (const entry of pins) state.unpin(entry)
    for (const reservation of reservations) state.release(reservation)
    const stats = state.stats()
    expect(stats.pinned).toBe(0)
    expect(stats.used).toBe(state.list().reduce((sum, entry) => sum + entry.size, 0))
  })
})
