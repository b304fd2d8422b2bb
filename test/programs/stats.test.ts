/**
 * The STATS request on in-memory layers: after a known sequence of requests every counter is exact,
 * the uptime follows the clock, and two servers in one process keep their own counters.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/TestClock"
import { MemoryFiles } from "../../src/layers/MemoryFileStore.js"
import * as Codec from "../../src/protocol/Codec.js"
import { pattern } from "../support/responses.js"
import {
  connect,
  expectComplete,
  expectFailure,
  get,
  list,
  settled,
  startServer,
  stats,
  statsNow,
  world
} from "../support/serverWorld.js"

// Long enough that moving the clock never closes a connection for idleness.
const patient = { requestTimeout: "1 hour" } as const

describe("stats", () => {
  it.scoped("counts exactly what a known sequence of requests did", () =>
    Effect.gen(function*() {
      const files = yield* MemoryFiles
      const a = pattern(1_000, 1)
      const big = pattern(20_000, 2)
      const c = pattern(9_500, 3)
      yield* files.put("a", a)
      yield* files.put("big", big)
      yield* files.put("c", c)
      yield* startServer(patient)

      const client = yield* connect
      expect(yield* stats(client)).toEqual({
        uptimeSeconds: 0,
        activeConnections: 1,
        requests: 0,
        hits: 0,
        misses: 0,
        loads: 0,
        streamed: 0,
        failures: 0,
        bytesServed: 0,
        connections: 1,
        turnedAway: 0,
        timeouts: 0,
        stalls: 0,
        evictions: 0,
        entries: 0,
        sliceEntries: 0,
        sliceLoads: 0,
        sliceHits: 0,
        usedBytes: 0,
        capacityBytes: 10_000,
        pinnedEntries: 0,
        locksHeld: 0,
        openFiles: 0,
        streamBuffersHeld: 0
      })

      expectComplete(yield* get(client, "a"), a) // a miss: loaded
      expectComplete(yield* get(client, "a"), a) // hits
      expectComplete(yield* get(client, "a"), a)
      expectComplete(yield* get(client, "big"), big) // larger than the cache: streamed
      expectFailure(yield* get(client, "missing"), Codec.Status.NotFound)
      expect(yield* list(client)).toMatchObject({ _tag: "Listing", total: 1 })
      // Asked on the same connection, so every request before it has been counted (the first STATS too).
      expect(yield* stats(client)).toMatchObject({
        requests: 7,
        hits: 2,
        misses: 2,
        loads: 1,
        streamed: 1,
        failures: 1,
        bytesServed: 3 * 1_000 + 20_000,
        entries: 1,
        usedBytes: 1_000,
        capacityBytes: 10_000,
        evictions: 0,
        connections: 1,
        activeConnections: 1,
        turnedAway: 0,
        timeouts: 0,
        stalls: 0,
        pinnedEntries: 0,
        locksHeld: 0,
        openFiles: 0,
        streamBuffersHeld: 0
      })

      // 9 500 bytes fit only once "a" is evicted.
      expectComplete(yield* get(client, "c"), c)
      expect(yield* stats(client)).toMatchObject({
        requests: 9,
        misses: 3,
        loads: 2,
        bytesServed: 3 * 1_000 + 20_000 + 9_500,
        evictions: 1,
        entries: 1,
        usedBytes: 9_500
      })

      // An operator's view, on a connection of its own: it counts itself among the active ones.
      expect(yield* statsNow).toMatchObject({ connections: 2, activeConnections: 2, evictions: 1, entries: 1 })
    }).pipe(Effect.provide(world(10_000))))

  it.scoped("reports the uptime as the clock moves", () =>
    Effect.gen(function*() {
      yield* startServer(patient)
      expect((yield* statsNow).uptimeSeconds).toBe(0)
      yield* TestClock.adjust("90 seconds")
      expect((yield* statsNow).uptimeSeconds).toBe(90)
      yield* TestClock.adjust("2500 millis")
      expect((yield* statsNow).uptimeSeconds).toBe(92.5)
      yield* TestClock.adjust("3 hours")
      expect((yield* statsNow).uptimeSeconds).toBe(3 * 3600 + 92.5)
    }).pipe(Effect.provide(world(10_000))))

  it.scoped("keeps separate counters for two servers in one process", () =>
    Effect.gen(function*() {
      const first = yield* Layer.build(world(10_000))
      const second = yield* Layer.build(world(20_000))
      const content = pattern(100)
      for (const context of [first, second]) {
        yield* Effect.provide(Effect.flatMap(MemoryFiles, (files) => files.put("a", content)), context)
        yield* Effect.provide(startServer(patient), context)
      }

      const client = yield* Effect.provide(connect, first)
      for (let i = 0; i < 3; i++) expectComplete(yield* get(client, "a"), content)
      yield* Effect.provide(Effect.scoped(Effect.flatMap(connect, (c) => get(c, "missing"))), second)

      expect(yield* stats(client)).toMatchObject({
        requests: 3,
        failures: 0,
        hits: 2,
        loads: 1,
        connections: 1,
        bytesServed: 300,
        capacityBytes: 10_000
      })
      expect(yield* Effect.provide(settled, second)).toMatchObject({
        requests: 1,
        failures: 1,
        hits: 0,
        loads: 0,
        bytesServed: 0,
        connections: 2,
        activeConnections: 1,
        capacityBytes: 20_000
      })
    }))
})
