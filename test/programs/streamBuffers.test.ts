import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { MemoryFiles } from "../../src/layers/MemoryFileStore.js"
import * as Codec from "../../src/protocol/Codec.js"
import { DIGEST_NAMES } from "../../src/protocol/Digest.js"
import {
  bytes,
  connect,
  eventually,
  expectComplete,
  get,
  startServer,
  statsNow,
  world
} from "../support/serverWorld.js"

const KiB = 1024
const STREAMS = 8
// Three chunks of 64 KiB for each of the streams: their fair share is the smallest chunk.
const BUDGET = STREAMS * 3 * 64 * KiB

describe("the stream buffers", () => {
  it.scoped("bound what streams that are not read hold together, and starve nobody", () =>
    Effect.gen(function*() {
      const files = yield* MemoryFiles
      const content = bytes(3 * 1024 * KiB)
      yield* files.put("big", content)
      yield* startServer({ streamBuffers: BUDGET })
      // Clients ask for a file larger than the cache; once all of their streams are open, each reads
      // a mebibyte quickly, so that its stream would take to larger chunks, then stops reading.
      // Each client in a scope of its own, to hang up later (or when the test ends, whatever happens).
      const stalled = yield* Effect.forEach(Array.from({ length: STREAMS }), () =>
        Effect.gen(function*() {
          const scope = yield* Scope.make()
          yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
          const client = yield* Scope.extend(connect, scope)
          yield* client.connection.write(Codec.encodeRequest(Codec.Request.Get({ name: "big", digests: DIGEST_NAMES })))
          yield* Codec.readResponse(client.reader, Codec.Kind.Get)
          return { scope, client }
        }))
      yield* Effect.forEach(stalled, ({ client }) => client.reader.exactly(1024 * KiB), { discard: true })
      // Each stream fills what the network buffers and what it may hold, then waits for its client.
      const full = yield* eventually(statsNow, (stats) => stats.streamed === STREAMS && stats.streamBuffersHeld > 0)
      expect(full.streamBuffersHeld).toBeGreaterThan(0)
      expect(full.streamBuffersHeld).toBeLessThanOrEqual(BUDGET)

      // Meanwhile a client that reads gets the whole file: nobody waits for room in the budget.
      expectComplete(yield* Effect.flatMap(connect, (client) => get(client, "big")), content)

      // Clients that go away give back what their streams held.
      yield* Effect.forEach(stalled, ({ scope }) => Scope.close(scope, Exit.void), { discard: true })
      const after = yield* eventually(statsNow, (stats) => stats.streamBuffersHeld === 0)
      expect(after.streamBuffersHeld).toBe(0)
    }).pipe(Effect.provide(world(1024 * KiB))))
})
