/**
 * The ring simulation: at N = 1 it is the single-cache replay exactly (hits and byte hits, on the
 * published trace when it is there, and on a synthetic workload's first requests always); at N > 1
 * every request is served by its name's node on the client's ring, and the removal moves exactly
 * the last node's names.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { replay } from "../../bench/replay/Replay.js"
import { movedShare, nodeNames, ringReplay, ringRun } from "../../bench/replay/RingReplay.js"
import { generate } from "../../bench/replay/Synthetic.js"
import { readOracleGeneral } from "../../bench/replay/Trace.js"
import type { Workload } from "../../bench/replay/Workload.js"
import { DEFAULT_POLICY, POLICIES, type PolicyName } from "../../src/cache/policies.js"
import * as Ring from "../../src/ring/Ring.js"

const TRACE = fileURLToPath(new URL("../../../shared/traces/cloudPhysicsIO.oracleGeneral.bin", import.meta.url))
const present = existsSync(TRACE)
const MiB = 2 ** 20

const workload = present ? await Effect.runPromise(readOracleGeneral(TRACE)) : undefined

const head = (workload: Workload, count: number): Workload => ({
  ...workload,
  requests: workload.requests.subarray(0, count),
  sizes: workload.sizes.subarray(0, count)
})
const small = head(generate({ alpha: 1.0, scan: false }), 40_000)

const sameAsReplay = (workload: Workload, capacity: number, policy: PolicyName) =>
  Effect.gen(function*() {
    const single = yield* replay(workload, capacity, POLICIES[policy])
    const ring = yield* ringReplay(workload, { nodes: 1, capacity, policy: POLICIES[policy] })
    expect(ring.misses).toBe(single.misses)
    expect(ring.byteMisses).toBe(single.byteMisses)
    expect(ring.busiest).toEqual({ requests: 1, bytes: 1 })
    expect(ring.removal).toBeUndefined()
  })

describe("a ring of one", () => {
  it.effect.each(["lru", DEFAULT_POLICY] as const)(
    "%s, synthetic: the single-cache replay exactly",
    (policy) => sameAsReplay(small, 256 * MiB, policy)
  )
})

describe("a ring of several", () => {
  it.effect("serves every request at its name's node, and the removal moves only the last node's names", () =>
    Effect.gen(function*() {
      const nodes = 4
      const run = yield* ringRun(small, { nodes, capacity: 64 * MiB, policy: POLICIES.lru, remove: false })
      const ring = Ring.make(nodeNames(nodes))
      const expected = nodeNames(nodes).map(() => 0)
      for (const object of small.requests) expected[Ring.ownerOf(ring, small.objectNames[object]!)]!++
      expect(run.perNode.map((node) => node.requests)).toEqual(expected)
      expect(run.all.requests).toBe(small.requests.length)

      const owned = small.objectNames.filter((name) => Ring.ownerOf(ring, name) === nodes - 1).length
      expect(movedShare(small, nodes)).toBe(owned / small.objectNames.length)
      const result = yield* ringReplay(small, { nodes, capacity: 64 * MiB, policy: POLICIES.lru })
      expect(result.removal?.node).toBe("node-4")
      expect(result.removal!.afterRemoved).toBeLessThanOrEqual(result.removal!.afterKept)
    }))
})

describe.runIf(present)("a ring of one, on cloudPhysicsIO.oracleGeneral.bin", () => {
  it.effect.each(["lru", DEFAULT_POLICY] as const)(
    "%s at 256 MiB: the single-cache replay exactly",
    (policy) => sameAsReplay(workload!, 256 * MiB, policy)
  )
})

if (!present) {
  describe("a ring of one, on cloudPhysicsIO.oracleGeneral.bin", () => {
    it.skip(`skipped: the trace is not at ${TRACE} (see ../shared/traces/README.md)`, () => {})
  })
}
