import { describe, expect, it } from "@effect/vitest"
import {
  FILES,
  generate,
  MAX_SIZE,
  MIN_SIZE,
  mulberry32,
  popularBytes,
  REQUESTS,
  SCAN_FILES,
  specName,
  SYNTHETIC_SPECS
} from "../../bench/replay/Synthetic.js"

describe("synthetic workloads", () => {
  it("are the same on every run, and differ with the seed", () => {
    const spec = { alpha: 0.8, scan: false }
    expect(generate(spec).requests).toEqual(generate(spec).requests)
    expect(generate(spec, 2).requests).not.toEqual(generate(spec).requests)
    expect(Array.from({ length: 3 }, mulberry32(1))).toEqual(Array.from({ length: 3 }, mulberry32(1)))
  })

  it("draw sizes from 4 KiB to 8 MiB, spread evenly over the octaves", () => {
    const workload = generate({ alpha: 1, scan: false })
    const sizes = new Map<number, number>()
    workload.requests.forEach((object, i) => sizes.set(object, workload.sizes[i]!))
    const octaves = new Array(11).fill(0)
    for (const size of sizes.values()) {
      expect(size).toBeGreaterThanOrEqual(MIN_SIZE)
      expect(size).toBeLessThanOrEqual(MAX_SIZE)
      octaves[Math.min(10, Math.floor(Math.log2(size / MIN_SIZE)))]++
    }
    // Log-uniform: each of the 11 octaves holds about a eleventh of the files.
    for (const count of octaves) expect(count / sizes.size).toBeCloseTo(1 / 11, 1)
  })

  it("follow Zipf's law: the most popular file gets its share of the requests", () => {
    for (const alpha of [0.8, 1.0]) {
      const workload = generate({ alpha, scan: false })
      expect(workload.requests.length).toBe(REQUESTS)
      const counts = new Map<number, number>()
      for (const object of workload.requests) counts.set(object, (counts.get(object) ?? 0) + 1)
      const top = Math.max(...counts.values())
      let harmonic = 0
      for (let rank = 1; rank <= FILES; rank++) harmonic += 1 / Math.pow(rank, alpha)
      expect(top / REQUESTS).toBeCloseTo(1 / harmonic, 2)
    }
  })

  it("put the scan in the middle: 20,000 files never requested before or after, once each", () => {
    const workload = generate({ alpha: 0.8, scan: true })
    expect(workload.requests.length).toBe(REQUESTS + SCAN_FILES)
    const scan = workload.requests.slice(REQUESTS / 2, REQUESTS / 2 + SCAN_FILES)
    expect(new Set(scan).size).toBe(SCAN_FILES)
    expect(scan.every((object) => object >= FILES)).toBe(true)
    const before = workload.requests.slice(0, REQUESTS / 2)
    const after = workload.requests.slice(REQUESTS / 2 + SCAN_FILES)
    expect(before.every((object) => object < FILES) && after.every((object) => object < FILES)).toBe(true)
  })

  it("name the four workloads of the comparison", () => {
    expect(SYNTHETIC_SPECS.map(specName)).toEqual([
      "zipf-0.8",
      "zipf-0.8-scan",
      "zipf-1.0",
      "zipf-1.0-scan"
    ])
  })
})

describe("a workload and its scan variant", () => {
  it("request the same popular files in the same order, and have the same cache basis", () => {
    const plain = generate({ alpha: 1, scan: false })
    const scanned = generate({ alpha: 1, scan: true })
    const withoutScan = new Uint32Array([
      ...scanned.requests.slice(0, REQUESTS / 2),
      ...scanned.requests.slice(REQUESTS / 2 + SCAN_FILES)
    ])
    expect(withoutScan).toEqual(plain.requests)
    expect(popularBytes(scanned)).toBe(popularBytes(plain))
  })
})
