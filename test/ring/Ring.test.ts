/**
 * The ring's promises: every node gets its share of names (within 10% of the mean over 50,000 names,
 * at 3 to 16 nodes), a node removed moves only its own names (about 1/N of all), a node added takes
 * names only for itself, and a node skipped as down sends its names where the ring without it would.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Ring from "../../src/ring/Ring.js"

const NAMES = Array.from({ length: 50_000 }, (_, i) => `docs/${i % 97}/file-${i}.bin`)
const SIZES = Array.from({ length: 14 }, (_, i) => i + 3)
const nodes = (n: number) => Array.from({ length: n }, (_, i) => `10.0.0.${i + 1}:9098`)
const owners = (ring: Ring.Ring) => NAMES.map((name) => ring.nodes[Ring.ownerOf(ring, name)]!)

describe("MurmurHash3", () => {
  it("matches the reference implementation's outputs", () => {
    const bytes = (text: string) => new TextEncoder().encode(text)
    expect(Ring.murmur3(bytes(""))).toBe(0)
    expect(Ring.murmur3(bytes(""), 1)).toBe(0x514e28b7)
    expect(Ring.murmur3(bytes("hello"))).toBe(0x248bfa47)
    expect(Ring.murmur3(bytes("The quick brown fox jumps over the lazy dog"))).toBe(0x2e4ff723)
  })
})

describe("rendezvous ring", () => {
  it.each(SIZES)("%i nodes: each owns within 10%% of the mean share", (n) => {
    const counts = new Map<string, number>()
    for (const owner of owners(Ring.make(nodes(n)))) counts.set(owner, (counts.get(owner) ?? 0) + 1)
    const mean = NAMES.length / n
    expect(counts.size).toBe(n)
    for (const count of counts.values()) expect(Math.abs(count - mean) / mean).toBeLessThan(0.1)
  })

  it.each(SIZES)("%i nodes: removing one moves only its names, about 1/N of all", (n) => {
    const ring = Ring.make(nodes(n))
    const before = owners(ring)
    const removed = ring.nodes[n >> 1]!
    const after = owners(Ring.without(ring, removed))
    let moved = 0
    let wrong = 0
    before.forEach((owner, i) => {
      if (owner === removed) moved++
      if (owner === removed ? after[i] === removed : after[i] !== owner) wrong++
    })
    expect(wrong).toBe(0)
    expect(Math.abs(moved / NAMES.length - 1 / n) * n).toBeLessThan(0.1)
  })

  it.each(SIZES)("%i nodes: adding one moves names only to it, about 1/(N+1) of all", (n) => {
    const ring = Ring.make(nodes(n))
    const before = owners(ring)
    const added = "10.0.1.1:9098"
    const after = owners(Ring.including(ring, added))
    let moved = 0
    let wrong = 0
    before.forEach((owner, i) => {
      if (after[i] !== owner) moved++
      if (after[i] !== owner && after[i] !== added) wrong++
    })
    expect(wrong).toBe(0)
    expect(Math.abs(moved / NAMES.length - 1 / (n + 1)) * (n + 1)).toBeLessThan(0.1)
  })

  it("sends a down node's names to the next node, where the ring without it would", () => {
    const ring = Ring.make(nodes(5))
    const down = 2
    const smaller = Ring.without(ring, ring.nodes[down]!)
    for (const name of NAMES.slice(0, 5_000)) {
      const order = Ring.preference(ring, name)
      expect(order[0]).toBe(Ring.ownerOf(ring, name))
      const next = Ring.ownerOf(ring, name, (i) => i !== down)
      expect(next).toBe(order.find((i) => i !== down))
      expect(ring.nodes[next]).toBe(smaller.nodes[Ring.ownerOf(smaller, name)])
    }
  })

  it("does not depend on the order the nodes are given in, nor on a node given twice", () => {
    const ring = Ring.make(nodes(7))
    const shuffled = Ring.make([...nodes(7)].reverse().concat(nodes(2)))
    expect(shuffled.nodes).toHaveLength(7)
    expect(owners(shuffled)).toEqual(owners(ring))
  })

  it("has no owner on an empty ring, or when no node is usable", () => {
    expect(Ring.ownerOf(Ring.make([]), "a")).toBe(-1)
    expect(Ring.ownerOf(Ring.make(nodes(3)), "a", () => false)).toBe(-1)
  })
})
