import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as MemoryFileStore from "../../src/layers/MemoryFileStore.js"
import { MemoryFiles } from "../../src/layers/MemoryFileStore.js"
import { makeStreamBuffers, StreamBuffers } from "../../src/programs/server/StreamBuffers.js"
import { openStream } from "../../src/programs/server/streamFile.js"
import { FileStore } from "../../src/services/FileStore.js"
import { bytes, eventually } from "../support/serverWorld.js"

const KiB = 1024
const STREAMS = 4
const CHUNK = 256 * KiB
// Exactly what STREAMS streams reading CHUNK-sized chunks can hold: one chunk being sent, one read ahead.
const BUDGET = STREAMS * 2 * CHUNK

const openAll = Effect.gen(function*() {
  const files = yield* MemoryFiles
  yield* files.put("big", bytes(4 * 1024 * KiB))
  const store = yield* FileStore
  const info = yield* store.stat("big")
  return yield* Effect.forEach(Array.from({ length: STREAMS }), () => openStream(store, info))
})

describe("a stream's chunks", () => {
  // With many streams open, their throughput together is about chunk size times a number of chunks
  // per second: a share smaller than what the budget holds is throughput lost (the soak's streamed
  // downloads slowed down the more of them there were, until they took minutes).
  it.scoped("are as large as the stream's share of the budget, for a client that takes them at once", () =>
    Effect.gen(function*() {
      const [stream] = yield* openAll
      const sizes: Array<number> = []
      // Pace starts at 64 KiB and doubles with each chunk taken at once: a few chunks reach the share.
      for (let round = 0; round < 8; round++) {
        const chunk = yield* stream!.next
        sizes.push(chunk.length)
        yield* stream!.sent(chunk, 0)
      }
      expect(Math.max(...sizes)).toBe(CHUNK)
      expect(sizes.slice(-3)).toEqual([CHUNK, CHUNK, CHUNK])
    }).pipe(
      Effect.provide(MemoryFileStore.layer),
      Effect.provideServiceEffect(StreamBuffers, makeStreamBuffers(BUDGET))
    ))

  it.scoped("held by streams whose clients take nothing stay within the budget", () =>
    Effect.gen(function*() {
      const buffers = yield* StreamBuffers
      const streams = yield* openAll
      // Each stream takes chunks until they are at their share, then its client stops: the chunk it
      // was given is never sent, and it has read the next one ahead.
      for (const stream of streams) {
        for (let chunk = yield* stream.next; chunk.length > 0; chunk = yield* stream.next) {
          if (chunk.length === CHUNK) break
          yield* stream.sent(chunk, 0)
        }
      }
      // The reads ahead complete in fibers of their own: until all of them are counted.
      expect(yield* eventually(buffers.held, (held) => held >= BUDGET)).toBe(BUDGET)
    }).pipe(
      Effect.provide(MemoryFileStore.layer),
      Effect.provideServiceEffect(StreamBuffers, makeStreamBuffers(BUDGET))
    ))
})
