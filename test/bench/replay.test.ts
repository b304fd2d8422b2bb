import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { parseArgs } from "../../bench/replay/Args.js"
import { replay } from "../../bench/replay/Replay.js"
import { parseOracleGeneral } from "../../bench/replay/Trace.js"
import { distinctBytes, type Workload } from "../../bench/replay/Workload.js"
import { fifo } from "../../src/cache/Fifo.js"
import { lru } from "../../src/cache/Lru.js"
import { DEFAULT_POLICY } from "../../src/cache/policies.js"

const workload = (requests: ReadonlyArray<[string, number]>): Workload => {
  const names = [...new Set(requests.map(([name]) => name))]
  return {
    name: "test",
    objectNames: names,
    requests: Uint32Array.from(requests, ([name]) => names.indexOf(name)),
    sizes: Uint32Array.from(requests, ([, size]) => size)
  }
}

describe("replay", () => {
  it.effect("counts hits and misses as the cache serves them, and bytes of the misses", () =>
    Effect.gen(function*() {
      // LRU, 10 bytes: a b a c (evicts b) b (evicts a) a (evicts c).
      const requests = workload([["a", 4], ["b", 4], ["a", 4], ["c", 4], ["b", 4], ["a", 4]])
      expect(yield* replay(requests, 10, lru)).toEqual({ capacity: 10, requests: 6, misses: 5, byteMisses: 20 })
      // FIFO ignores the hit on a: c evicts a, then b is still there, a evicts b.
      expect(yield* replay(requests, 10, fifo)).toMatchObject({ misses: 4, byteMisses: 16 })
    }))

  it.effect("counts a file larger than the cache as a miss, and evicts nothing for it", () =>
    Effect.gen(function*() {
      const requests = workload([["a", 6], ["huge", 11], ["a", 6], ["huge", 11]])
      expect(yield* replay(requests, 10, lru)).toMatchObject({ misses: 3, byteMisses: 28 })
    }))

  it.effect("treats a request at another size as a new version of the file", () =>
    Effect.gen(function*() {
      const requests = workload([["a", 4], ["a", 4], ["a", 5], ["a", 5]])
      expect(yield* replay(requests, 10, lru)).toMatchObject({ misses: 2, byteMisses: 9 })
    }))
})

describe("oracleGeneral traces", () => {
  const record = (id: bigint, size: number) => {
    const bytes = new Uint8Array(24)
    const view = new DataView(bytes.buffer)
    view.setUint32(0, 7, true)
    view.setBigUint64(4, id, true)
    view.setUint32(12, size, true)
    view.setBigInt64(16, -1n, true)
    return bytes
  }

  it("decodes ids and sizes, one object per distinct id", () => {
    const bytes = new Uint8Array([...record(2n ** 63n + 5n, 512), ...record(42n, 4096), ...record(2n ** 63n + 5n, 512)])
    const trace = parseOracleGeneral("t", bytes)
    expect(typeof trace).not.toBe("string")
    const parsed = trace as Workload
    expect(parsed.objectNames).toEqual([(2n ** 63n + 5n).toString(), "42"])
    expect([...parsed.requests]).toEqual([0, 1, 0])
    expect([...parsed.sizes]).toEqual([512, 4096, 512])
    expect(distinctBytes(parsed)).toBe(4608)
  })

  it("refuses a file that is not whole records", () => {
    expect(parseOracleGeneral("t", new Uint8Array(25))).toMatch(/24-byte records/)
  })
})

describe("arguments", () => {
  it("takes a trace, sizes and policies, with the default policy when none is given", () => {
    expect(parseArgs(["t.bin", "--sizes", "128MiB,1g"])).toEqual(Either.right({
      _tag: "Trace",
      path: "t.bin",
      sizes: [{ text: "128MiB", bytes: 128 * 2 ** 20 }, { text: "1g", bytes: 2 ** 30 }],
      policies: [DEFAULT_POLICY]
    }))
    expect(parseArgs(["--policy", "lru,sieve", "t.bin", "--sizes", "1k"])).toMatchObject(
      Either.right({ policies: ["lru", "sieve"] })
    )
    expect(parseArgs(["--synthetic"])).toEqual(
      Either.right({ _tag: "Synthetic", percents: [1, 5, 10], policies: [DEFAULT_POLICY] })
    )
  })

  it("takes ring sizes and a plot file for the ring simulation", () => {
    expect(parseArgs(["t.bin", "--sizes", "1m", "--nodes", "1,2,16", "--plot", "p.svg"])).toMatchObject(
      Either.right({ _tag: "Trace", ring: { nodes: [1, 2, 16], plot: "p.svg" } })
    )
    expect(parseArgs(["--synthetic", "--nodes", "4"])).toMatchObject(Either.right({ ring: { nodes: [4] } }))
    expect(parseArgs(["--synthetic", "--nodes", "0"])).toMatchObject(Either.left(expect.stringContaining("1 to 256")))
    expect(parseArgs(["--synthetic", "--plot", "p.svg"])).toEqual(Either.left("--plot goes with --nodes"))
  })

  it("explains what is wrong", () => {
    expect(parseArgs(["t.bin"])).toEqual(Either.left("--sizes is required with a trace"))
    expect(parseArgs(["t.bin", "--sizes", "lots"])).toMatchObject(Either.left(expect.stringContaining("not a size")))
    expect(parseArgs(["t.bin", "--sizes", "1m", "--policy", "mru"])).toMatchObject(
      Either.left(expect.stringContaining("unknown policy \"mru\""))
    )
    expect(parseArgs(["--synthetic", "--percents", "0"])).toMatchObject(Either.left(expect.stringContaining("above 0")))
    expect(parseArgs(["--sizes"])).toEqual(Either.left("--sizes needs a value"))
  })
})
