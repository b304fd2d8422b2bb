/**
 * Files larger than the cache, read through it in slices, on in-memory layers: a herd reads each
 * slice once and hashes the file once; a file changed mid-herd is never sent as a mix of versions; a
 * slow reader keeps the memory it is sent; no room streams from disk within the cache's capacity;
 * resumed GETs and HTTP ranges read through slices; pins and locks go with the clients.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { MemoryFiles } from "../../src/layers/MemoryFileStore.js"
import { makeSlices, Slices } from "../../src/programs/server/Slices.js"
import * as Codec from "../../src/protocol/Codec.js"
import { Cache } from "../../src/services/Cache.js"
import { ask, httpWorld } from "../support/httpWorld.js"
import { digestOf } from "../support/responses.js"
import {
  type Body,
  bytes,
  type Client,
  connect,
  expectComplete,
  get,
  getRequest,
  list,
  settled,
  startServer,
  statsNow,
  withinRounds,
  world
} from "../support/serverWorld.js"

const SLICE = 16 * 1024
const BIG = 16 * SLICE
const NAME = "big.bin"

/** A server whose cache holds `slices` slices, the big file (16 slices) in its directory. */
const sliced = <A, E, R>(test: Effect.Effect<A, E, R>, slices = 8) =>
  Effect.scoped(Effect.gen(function*() {
    const files = yield* MemoryFiles
    yield* files.put(NAME, bytes(BIG))
    yield* startServer({ sliceSize: SLICE })
    return yield* test
  })).pipe(Effect.provide(world(slices * SLICE)))

/** GETs `name`, telling `arrived` once its first body bytes are in and going on only once `go` is done. */
const getPausing = (
  client: Client,
  name: string,
  arrived: Deferred.Deferred<void>,
  go: Deferred.Deferred<void>,
  after = 1
) =>
  Effect.gen(function*() {
    yield* client.connection.write(getRequest(name))
    const response = yield* Codec.readResponse(client.reader, Codec.Kind.Get)
    if (response._tag !== "File") return response
    const chunks: Array<Uint8Array> = []
    let received = 0
    const trailer = yield* Codec.readBody(client.reader, response, (chunk) =>
      Effect.gen(function*() {
        chunks.push(chunk.slice())
        const before = received
        received += chunk.length
        if (before < after && received >= after) {
          yield* Deferred.succeed(arrived, undefined)
          yield* Deferred.await(go)
        }
      }))
    return { _tag: "Body" as const, digest: response.digest, bytes: Buffer.concat(chunks), trailer } satisfies Body
  })

const herdOf = (count: number) => Effect.forEach(Array.from({ length: count }), () => connect)

describe("slices", () => {
  it.scoped("a herd of 8 reads each slice from disk once", () =>
    sliced(Effect.gen(function*() {
      const files = yield* MemoryFiles
      const clients = yield* herdOf(8)
      const gate = yield* files.hold(NAME)
      const answers = yield* Effect.fork(Effect.forEach(clients, (client) => get(client, NAME), { concurrency: 8 }))
      yield* gate.awaitWaiting(1)
      yield* gate.open
      for (const answer of yield* withinRounds(answers.await.pipe(Effect.flatten), "the herd")) {
        expectComplete(answer, bytes(BIG))
      }
      expect(yield* files.reads(NAME)).toBe(16)
      const stats = yield* settled
      expect(stats).toMatchObject({ sliceLoads: 16, sliceHits: 7 * 16, misses: 8, loads: 0, streamed: 0 })
      expect(stats.usedBytes).toBeLessThanOrEqual(8 * SLICE)
      // `list` shows files cached whole; the slices are counted apart.
      const listed = yield* list(yield* connect)
      expect(listed).toMatchObject({ _tag: "Listing", entries: [] })
      expect(stats.sliceEntries).toBe(stats.entries)
    })))

  it.scoped("a file changed mid-herd is sent whole in one version or cut off, and the next GET has the new one", () =>
    sliced(Effect.gen(function*() {
      const files = yield* MemoryFiles
      const clients = yield* herdOf(4)
      const go = yield* Deferred.make<void>()
      const arrivals = yield* Effect.forEach(clients, () => Deferred.make<void>())
      const answers = yield* Effect.fork(
        Effect.forEach(clients, (client, i) => getPausing(client, NAME, arrivals[i]!, go), { concurrency: 4 })
      )
      yield* Effect.forEach(arrivals, Deferred.await)
      const changed = bytes(BIG, 7)
      yield* files.put(NAME, changed)
      yield* Deferred.succeed(go, undefined)
      const old = Buffer.from(bytes(BIG))
      let cut = 0
      for (const answer of yield* answers.await.pipe(Effect.flatten)) {
        const body = answer as Body
        expect(body._tag).toBe("Body")
        if (body.trailer._tag === "Aborted") {
          cut++
          // What was sent before the cut is the old version's, never the new one's.
          expect(Buffer.compare(body.bytes, old.subarray(0, body.bytes.length))).toBe(0)
        } else {
          expectComplete(body, old)
        }
      }
      expect(cut).toBeGreaterThan(0)
      expectComplete(yield* get(yield* connect, NAME), changed)
      yield* settled
    })))

  it.scoped("a slow reader gets the bytes of its slice while others go through the file and evict it", () =>
    sliced(
      Effect.gen(function*() {
        const files = yield* MemoryFiles
        yield* files.put("other.bin", bytes(BIG, 3))
        const [slow, fast] = yield* herdOf(2)
        const arrived = yield* Deferred.make<void>()
        const go = yield* Deferred.make<void>()
        const slowly = yield* Effect.fork(getPausing(slow!, NAME, arrived, go))
        yield* Deferred.await(arrived)
        // Two other files' worth of slices through a cache of 4: everything unpinned is evicted.
        expectComplete(yield* get(fast!, NAME), bytes(BIG))
        expectComplete(yield* get(fast!, "other.bin"), bytes(BIG, 3))
        const during = yield* statsNow
        expect(during.usedBytes).toBeLessThanOrEqual(4 * SLICE)
        expect(during.evictions).toBeGreaterThan(0)
        yield* Deferred.succeed(go, undefined)
        expectComplete(yield* slowly.await.pipe(Effect.flatten), bytes(BIG))
        yield* settled
      }),
      4
    ))

  it.scoped("readers spread over the file that leave no room stream from disk, within the capacity", () =>
    sliced(
      Effect.gen(function*() {
        const clients = yield* herdOf(5)
        const go = yield* Deferred.make<void>()
        const arrivals = yield* Effect.forEach(clients, () => Deferred.make<void>())
        // Each stops at a slice of its own, pinning it (and the one read ahead).
        const answers = yield* Effect.fork(Effect.forEach(
          clients,
          (client, i) => getPausing(client, NAME, arrivals[i]!, go, 1 + i * 3 * SLICE),
          { concurrency: 5 }
        ))
        yield* Effect.forEach(arrivals, Deferred.await)
        expect((yield* statsNow).usedBytes).toBeLessThanOrEqual(3 * SLICE)
        yield* Deferred.succeed(go, undefined)
        for (const answer of yield* answers.await.pipe(Effect.flatten)) expectComplete(answer, bytes(BIG))
        const stats = yield* settled
        expect(stats.usedBytes).toBeLessThanOrEqual(3 * SLICE)
        expect(stats.streamBuffersHeld).toBe(0)
        // Some slices were not had from the cache at all, but streamed.
        expect(stats.sliceLoads! + stats.sliceHits!).toBeLessThan(5 * 16)
      }),
      3
    ))

  it.scoped("a resumed GET gets the whole file's digest: by reading the start while it is not known, not after", () =>
    sliced(Effect.gen(function*() {
      const files = yield* MemoryFiles
      const content = bytes(BIG)
      // The version, as a client holding part of the file would say it: from a STAT (which hashes XXH3 only).
      const client = yield* connect
      yield* client.connection.write(Codec.encodeRequest(Codec.Request.Stat({ name: NAME, digests: ["xxh3-128"] })))
      const facts = yield* Codec.readResponse(client.reader, Codec.Kind.Stat)
      if (facts._tag !== "Facts") return yield* Effect.dieMessage(`STAT answered ${facts._tag}`)
      expect(Buffer.from(facts.facts.value)).toEqual(Buffer.from(digestOf("xxh3-128", content)))
      const offset = 12 * SLICE + 5
      const resume = Effect.gen(function*() {
        yield* client.connection.write(Codec.encodeRequest(Codec.Request.Get({
          name: NAME,
          digests: ["sha256"],
          resume: { version: facts.facts.version, offset }
        })))
        const response = yield* Codec.readResponse(client.reader, Codec.Kind.Get)
        if (response._tag !== "File") return yield* Effect.dieMessage(`GET answered ${response._tag}`)
        const chunks: Array<Uint8Array> = []
        const trailer = yield* Codec.readBody(
          client.reader,
          response,
          (chunk) => Effect.sync(() => chunks.push(chunk.slice()))
        )
        expect(Buffer.compare(Buffer.concat(chunks), Buffer.from(content.subarray(offset)))).toBe(0)
        expect(trailer._tag === "Complete" && Buffer.from(trailer.digest)).toEqual(
          Buffer.from(digestOf("sha256", content))
        )
      })
      // SHA-256 not known yet: the slices before the offset are read to compute it.
      const before = yield* files.reads(NAME)
      yield* resume
      expect((yield* files.reads(NAME)) - before).toBeGreaterThan(4)
      // Remembered now: at most the slices from the offset on are read.
      const after = yield* files.reads(NAME)
      yield* resume
      expect((yield* files.reads(NAME)) - after).toBeLessThanOrEqual(4)
      yield* settled
    })))

  it.scoped("pins and locks are all released after a disconnect storm", () =>
    sliced(Effect.gen(function*() {
      const clients = yield* Effect.forEach(Array.from({ length: 12 }), () =>
        Effect.scoped(Effect.gen(function*() {
          const client = yield* connect
          const arrived = yield* Deferred.make<void>()
          const never = yield* Deferred.make<void>()
          const fiber = yield* Effect.fork(
            getPausing(client, NAME, arrived, never, 1 + Math.floor(Math.random() * BIG))
          )
          yield* Deferred.await(arrived)
          return fiber
        })))
      expect(clients).toHaveLength(12)
      const stats = yield* settled
      expect(stats).toMatchObject({ pinnedEntries: 0, locksHeld: 0, openFiles: 0, streamBuffersHeld: 0 })
    })))
})

describe("slices over HTTP", () => {
  const httpSliced = <A, E, R>(test: Effect.Effect<A, E, R>) =>
    Effect.flatMap(MemoryFiles, (files) => files.put(NAME, bytes(BIG))).pipe(
      Effect.zipRight(test),
      Effect.provide(Layer.merge(httpWorld(8 * SLICE), Layer.effect(Slices, makeSlices(SLICE))))
    )

  it.effect("ranges, as aria2's segments, read through the slices: each slice from disk once", () =>
    httpSliced(Effect.gen(function*() {
      const files = yield* MemoryFiles
      const content = Buffer.from(bytes(BIG))
      const segments = [0, 1, 2, 3].map((i) => ({ start: i * 4 * SLICE + 100, end: (i + 1) * 4 * SLICE - 1 }))
      for (const round of [1, 2]) {
        const answers = yield* Effect.forEach(
          segments,
          ({ end, start }) => ask(`/${NAME}`, { range: `bytes=${start}-${end}` }),
          { concurrency: 4 }
        )
        answers.forEach((answer, i) => {
          expect(answer.status).toBe(206)
          expect(Buffer.compare(answer.body, content.subarray(segments[i]!.start, segments[i]!.end + 1))).toBe(0)
        })
        // The cache holds half the file: the second round reloads what was evicted, the first read each once.
        if (round === 1) expect(yield* files.reads(NAME)).toBe(16)
      }
      const whole = yield* ask(`/${NAME}`)
      expect(Buffer.compare(whole.body, content)).toBe(0)
      const cache = yield* Cache
      expect((yield* cache.stats).pinned).toBe(0)
      expect((yield* cache.stats).used).toBeLessThanOrEqual(8 * SLICE)
    })))
})
