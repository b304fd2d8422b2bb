/**
 * The replay harness against libCacheSim's published figures for the CloudPhysics sample trace:
 * FIFO and LRU must match exactly, misses and byte misses, at all eight sizes, or the harness is
 * wrong. CLOCK, SIEVE and S3-FIFO are spot-checked at 128 MiB, which checks those policies too.
 * The trace is read from ../shared/traces/ (never copied into the project).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { replay } from "../../bench/replay/Replay.js"
import { readOracleGeneral } from "../../bench/replay/Trace.js"
import { POLICIES, type PolicyName } from "../../src/cache/policies.js"

const TRACE = fileURLToPath(new URL("../../../shared/traces/cloudPhysicsIO.oracleGeneral.bin", import.meta.url))
const present = existsSync(TRACE)
const MiB = 2 ** 20
const SIZES = [128, 256, 384, 512, 640, 768, 896, 1024]

// libCacheSim test/test_evictionAlgo.c: miss_cnt_true and miss_byte_true.
interface Expected {
  readonly misses: ReadonlyArray<number>
  readonly bytes: ReadonlyArray<number>
}
const EXACT: Partial<Record<PolicyName, Expected>> = {
  fifo: {
    misses: [93403, 89386, 84387, 84025, 72498, 72228, 72182, 72140],
    bytes: [4213112832, 4052646400, 3829170176, 3807412736, 3093146112, 3079525888, 3079210496, 3077547520]
  },
  lru: {
    misses: [93374, 89783, 83572, 81722, 72494, 72104, 71972, 71704],
    bytes: [4214303232, 4061242368, 3778040320, 3660569600, 3100927488, 3078128640, 3075403776, 3061662720]
  }
}
const SPOT_CHECKS: Partial<Record<PolicyName, Record<number, number>>> = {
  clock: { 128: 93313 },
  sieve: { 128: 91699 },
  "s3-fifo": { 128: 89307 }
}

const workload = present ? await Effect.runPromise(readOracleGeneral(TRACE)) : undefined

describe.runIf(present)("replaying cloudPhysicsIO.oracleGeneral.bin", () => {
  it("reads every request", () => {
    expect(workload!.requests.length).toBe(113872)
    expect(workload!.objectNames.length).toBe(48974)
    expect(workload!.sizes.reduce((sum, size) => sum + size, 0)).toBe(4368040448)
  })

  for (const [policy, expected] of Object.entries(EXACT) as Array<[PolicyName, Expected]>) {
    SIZES.forEach((size, i) => {
      it.effect(`${policy} at ${size} MiB: ${expected.misses[i]} misses, ${expected.bytes[i]} bytes`, () =>
        Effect.gen(function*() {
          const result = yield* replay(workload!, size * MiB, POLICIES[policy])
          expect(result.misses).toBe(expected.misses[i])
          expect(result.byteMisses).toBe(expected.bytes[i])
        }))
    })
  }

  for (const [policy, expected] of Object.entries(SPOT_CHECKS) as Array<[PolicyName, Record<number, number>]>) {
    for (const [size, misses] of Object.entries(expected)) {
      it.effect(`${policy} at ${size} MiB: ${misses} misses`, () =>
        Effect.map(
          replay(workload!, Number(size) * MiB, POLICIES[policy]),
          (result) => expect(result.misses).toBe(misses)
        ))
    }
  }
})

if (!present) {
  describe("replaying cloudPhysicsIO.oracleGeneral.bin", () => {
    it.skip(`skipped: the trace is not at ${TRACE} (see ../shared/traces/README.md)`, () => {})
  })
}
