import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { lru } from "../../src/cache/Lru.js"
import * as BoundedCache from "../../src/layers/BoundedCache.js"
import * as MemoryFileStore from "../../src/layers/MemoryFileStore.js"
import { MemoryFiles } from "../../src/layers/MemoryFileStore.js"
import * as SemaphoreLockManager from "../../src/layers/SemaphoreLockManager.js"
import { fetchFile } from "../../src/programs/server/fetchFile.js"
import { makeStreamBuffers, StreamBuffers } from "../../src/programs/server/StreamBuffers.js"
import { Cache } from "../../src/services/Cache.js"
import { FileStore } from "../../src/services/FileStore.js"
import { LockManager } from "../../src/services/LockManager.js"

const world = (capacity: number) =>
  Layer.mergeAll(
    MemoryFileStore.layer,
    BoundedCache.layer({ capacity, policy: lru }),
    SemaphoreLockManager.layer,
    Layer.effect(StreamBuffers, makeStreamBuffers(1024 * 1024))
  )

const bytes = (size: number, seed = 1) => Uint8Array.from({ length: size }, (_, i) => (i * 31 + seed) & 0xff)

/** Fetches `name` and returns how it was served, releasing any pin at once. */
const served = (name: string) =>
  Effect.scoped(Effect.map(fetchFile(name), (content) =>
    content._tag === "Cached"
      ? { how: content.loaded ? "load" : "hit", bytes: content.file.bytes }
      : { how: content._tag === "Streamed" ? content.reason : "sliced", bytes: undefined }))

const cached = Effect.flatMap(Cache, (cache) => cache.list).pipe(
  Effect.map((entries) => entries.map((entry) => entry.name).sort())
)

/** Waits until every fiber is blocked (on a lock, a gate...) or done. */
const allSettled = (fibers: ReadonlyArray<Fiber.RuntimeFiber<unknown, unknown>>) =>
  Effect.gen(function*() {
    while (true) {
      const statuses = yield* Effect.forEach(fibers, (fiber) => fiber.status)
      if (statuses.every((status) => status._tag !== "Running")) return
      yield* Effect.yieldNow()
    }
  })

describe("fetchFile", () => {
  it.effect("loads a file once for 50 concurrent requests, and all of them get its bytes", () =>
    Effect.gen(function*() {
      const files = yield* MemoryFiles
      const content = bytes(1000)
      yield* files.put("shared.bin", content)
      const gate = yield* files.hold("shared.bin")
      const fibers = yield* Effect.forEach(
        Array.from({ length: 50 }),
        () => Effect.fork(served("shared.bin")),
        { concurrency: "unbounded" }
      )
      yield* gate.awaitWaiting(1)
      yield* allSettled(fibers)
      // Everyone else waits for the one load instead of reading the file too.
      expect(yield* gate.waiting).toBe(1)
      yield* gate.open
      const results = yield* Fiber.joinAll(fibers)
      expect(yield* files.reads("shared.bin")).toBe(1)
      expect(results.filter((result) => result.how === "load")).toHaveLength(1)
      for (const result of results) expect(result.bytes).toEqual(content)
      const locks = yield* LockManager
      expect(yield* locks.held).toBe(0)
    }).pipe(Effect.provide(world(10_000))))

  it.effect("serves a hit from memory without reading the file again", () =>
    Effect.gen(function*() {
      const files = yield* MemoryFiles
      yield* files.put("a", bytes(10))
      expect((yield* served("a")).how).toBe("load")
      expect((yield* served("a")).how).toBe("hit")
      expect(yield* files.reads("a")).toBe(1)
    }).pipe(Effect.provide(world(100))))

  it.effect("never serves a cached copy of a file that changed or vanished", () =>
    Effect.gen(function*() {
      const files = yield* MemoryFiles
      yield* files.put("a", bytes(10, 1))
      yield* served("a")
      yield* files.put("a", bytes(10, 2))
      expect(yield* served("a")).toEqual({ how: "load", bytes: bytes(10, 2) })
      yield* files.replace("a", bytes(10, 3))
      expect(yield* served("a")).toEqual({ how: "load", bytes: bytes(10, 3) })
      yield* files.remove("a")
      const error = yield* Effect.flip(served("a"))
      expect(error.reason).toBe("NotFound")
      expect(yield* cached).toEqual([])
    }).pipe(Effect.provide(world(100))))

  it.effect("streams a file larger than the whole cache without evicting anything", () =>
    Effect.gen(function*() {
      const files = yield* MemoryFiles
      yield* files.put("small", bytes(60))
      yield* files.put("huge", bytes(101))
      yield* served("small")
      expect((yield* served("huge")).how).toBe("too-large")
      expect(yield* cached).toEqual(["small"])
      const cache = yield* Cache
      expect(yield* cache.stats).toMatchObject({ used: 60, evictions: 0 })
    }).pipe(Effect.provide(world(100))))

  it.effect("streams a file when only pinned entries could make room, evicting nothing", () =>
    Effect.gen(function*() {
      const files = yield* MemoryFiles
      yield* files.put("sending", bytes(60))
      yield* files.put("other", bytes(60))
      yield* Effect.scoped(Effect.gen(function*() {
        yield* fetchFile("sending")
        expect((yield* served("other")).how).toBe("no-room")
        expect(yield* cached).toEqual(["sending"])
      }))
      // Once unpinned, it can be evicted.
      expect((yield* served("other")).how).toBe("load")
      expect(yield* cached).toEqual(["other"])
    }).pipe(Effect.provide(world(100))))

  it.effect("retries a file that changes while it is loaded, and serves the new version", () =>
    Effect.gen(function*() {
      const files = yield* MemoryFiles
      yield* files.put("a", bytes(10, 1))
      yield* files.changeDuring("a", bytes(10, 2))
      expect(yield* served("a")).toEqual({ how: "load", bytes: bytes(10, 2) })
    }).pipe(Effect.provide(world(100))))

  it.effect("gives the room back and caches nothing when a load fails", () =>
    Effect.gen(function*() {
      const files = yield* MemoryFiles
      const cache = yield* Cache
      yield* files.put("a", bytes(10))
      yield* files.fail("a", { at: 5 })
      expect((yield* Effect.flip(served("a"))).reason).toBe("Unreadable")
      expect(yield* cache.stats).toMatchObject({ used: 0, entries: 0, pinned: 0 })
      expect((yield* served("a")).how).toBe("load")
    }).pipe(Effect.provide(world(100))))

  it.effect("releases the room, the lock and the file when a load is interrupted", () =>
    Effect.gen(function*() {
      const files = yield* MemoryFiles
      const cache = yield* Cache
      const locks = yield* LockManager
      const store = yield* FileStore
      yield* files.put("a", bytes(10))
      const gate = yield* files.hold("a")
      const fiber = yield* Effect.fork(served("a"))
      yield* gate.awaitWaiting(1)
      expect(yield* cache.stats).toMatchObject({ used: 10 })
      expect(yield* locks.held).toBe(1)
      yield* Fiber.interrupt(fiber)
      expect(yield* cache.stats).toMatchObject({ used: 0, pinned: 0 })
      expect(yield* locks.held).toBe(0)
      expect(yield* store.openHandles).toBe(0)
    }).pipe(Effect.provide(world(100))))

  const request = FastCheck.record({
    name: FastCheck.integer({ min: 0, max: 9 }),
    change: FastCheck.constantFrom("none", "put", "replace", "remove"),
    size: FastCheck.integer({ min: 0, max: 130 })
  })

  it.effect.prop(
    "under random requests, used bytes stay within capacity and equal the entries held",
    [FastCheck.array(FastCheck.array(request, { minLength: 1, maxLength: 6 }), { maxLength: 30 })],
    ([batches]) =>
      Effect.gen(function*() {
        const files = yield* MemoryFiles
        const cache = yield* Cache
        for (const batch of batches) {
          for (const { change, name, size } of batch) {
            if (change === "put") yield* files.put(`f${name}`, bytes(size))
            if (change === "replace") yield* files.replace(`f${name}`, bytes(size))
            if (change === "remove") yield* files.remove(`f${name}`)
          }
          // A batch runs concurrently; its pins are held until all of it is served.
          yield* Effect.scoped(
            Effect.forEach(
              batch,
              ({ name }) => Effect.option(fetchFile(`f${name}`)),
              { concurrency: "unbounded" }
            ).pipe(
              Effect.tap(() =>
                Effect.map(cache.stats, (stats) => expect(stats.used).toBeLessThanOrEqual(stats.capacity))
              )
            )
          )
          const stats = yield* cache.stats
          const entries = yield* cache.list
          expect(stats.used).toBeLessThanOrEqual(100)
          expect(stats.used).toBe(entries.reduce((sum, entry) => sum + entry.size, 0))
          expect(stats.pinned).toBe(0)
        }
        // Whatever happened, a fresh request for each file gets exactly its current bytes.
        const store = yield* FileStore
        for (let name = 0; name < 10; name++) {
          const current = yield* Effect.option(Effect.flatMap(store.stat(`f${name}`), store.read))
          const result = yield* Effect.option(served(`f${name}`))
          expect(Option.isSome(result)).toBe(Option.isSome(current))
          if (Option.isSome(result) && result.value.bytes !== undefined) {
            expect(result.value.bytes).toEqual(Option.getOrThrow(current))
          }
        }
      }).pipe(Effect.provide(world(100)))
  )
})
