import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { MemoryFiles } from "../../src/layers/MemoryFileStore.js"
import * as Codec from "../../src/protocol/Codec.js"
import { DIGEST_NAMES } from "../../src/protocol/Digest.js"
import { Cache } from "../../src/services/Cache.js"
import { digestOf } from "../support/responses.js"
import { bytes, connect, get, settled, startServer, world } from "../support/serverWorld.js"

describe("serve", () => {
  it.scoped("answers several requests on one connection, in order, from disk then from memory", () =>
    Effect.gen(function*() {
      const files = yield* MemoryFiles
      yield* files.put("a.txt", bytes(3000, 1))
      yield* files.put("docs/b.txt", bytes(10, 2))
      yield* startServer()
      const client = yield* connect
      for (const name of ["a.txt", "docs/b.txt", "a.txt"]) {
        const answer = yield* get(client, name)
        const expected = name === "a.txt" ? bytes(3000, 1) : bytes(10, 2)
        expect(answer).toEqual({
          _tag: "Body",
          digest: "xxh3-128",
          bytes: Buffer.from(expected),
          trailer: Codec.Trailer.Complete({ digest: digestOf("xxh3-128", expected) })
        })
      }
      expect(yield* files.reads("a.txt")).toBe(1)
      yield* client.connection.write(Codec.encodeRequest(Codec.Request.List()))
      const listing = yield* Codec.readResponse(client.reader, Codec.Kind.List)
      expect(listing._tag === "Listing" && [...listing.entries].sort((x, y) => x.name.localeCompare(y.name))).toEqual([
        { name: "a.txt", size: 3000 },
        { name: "docs/b.txt", size: 10 }
      ])
    }).pipe(Effect.provide(world(1_000_000))))

  it.scoped("answers a missing or hostile name with NOT_FOUND and keeps the connection", () =>
    Effect.gen(function*() {
      const files = yield* MemoryFiles
      yield* files.put("a.txt", bytes(5))
      yield* startServer()
      const client = yield* connect
      for (const name of ["missing", "../a.txt", "/a.txt", "a.txt/..", "a\u0000.txt"]) {
        const answer = yield* get(client, name)
        expect(answer._tag === "Failure" && answer.status).toBe(Codec.Status.NotFound)
      }
      expect((yield* get(client, "a.txt"))._tag).toBe("Body")
    }).pipe(Effect.provide(world(1_000))))

  it.scoped.each(DIGEST_NAMES)(
    "streams a file larger than the cache with a correct %s digest, caching nothing",
    (digest) =>
      Effect.gen(function*() {
        const files = yield* MemoryFiles
        const content = bytes(700_000)
        yield* files.put("big", content)
        yield* startServer()
        const answer = yield* get(yield* connect, "big", [digest])
        expect(answer).toEqual({
          _tag: "Body",
          digest,
          bytes: Buffer.from(content),
          trailer: Codec.Trailer.Complete({ digest: digestOf(digest, content) })
        })
        const cache = yield* Cache
        expect((yield* cache.stats).entries).toBe(0)
      }).pipe(Effect.provide(world(100_000)))
  )

  it.scoped("ends a streamed body that fails part-way with an aborted trailer, and keeps serving", () =>
    Effect.gen(function*() {
      const files = yield* MemoryFiles
      yield* files.put("big", bytes(700_000))
      yield* files.put("small", bytes(10))
      yield* files.fail("big", { at: 300_000 })
      yield* startServer()
      const client = yield* connect
      const answer = yield* get(client, "big")
      expect(answer._tag === "Body" && answer.trailer._tag).toBe("Aborted")
      expect(answer._tag === "Body" && answer.bytes.length).toBeLessThan(700_000)
      expect((yield* get(client, "small"))._tag).toBe("Body")
      yield* settled
    }).pipe(Effect.provide(world(100_000))))

  it.scoped("answers a failed load with INTERNAL_ERROR, caching nothing", () =>
    Effect.gen(function*() {
      const files = yield* MemoryFiles
      yield* files.put("a", bytes(1000))
      yield* files.fail("a", { at: "open" })
      yield* startServer()
      const client = yield* connect
      const answer = yield* get(client, "a")
      expect(answer._tag === "Failure" && answer.status).toBe(Codec.Status.InternalError)
      expect((yield* get(client, "a"))._tag).toBe("Body")
    }).pipe(Effect.provide(world(100_000))))

  it.scoped("replies BAD_REQUEST to garbage and closes that connection, serving others", () =>
    Effect.gen(function*() {
      const files = yield* MemoryFiles
      yield* files.put("a", bytes(10))
      yield* startServer()
      const bad = yield* connect
      yield* bad.connection.write(new TextEncoder().encode("GET /a HTTP/1.1\r\n\r\n"))
      const reply = yield* Codec.readResponse(bad.reader, Codec.Kind.Get)
      expect(reply._tag === "Failure" && reply.status).toBe(Codec.Status.BadRequest)
      yield* bad.connection.end
      expect(yield* bad.reader.atEnd).toBe(true)
      expect((yield* get(yield* connect, "a"))._tag).toBe("Body")
    }).pipe(Effect.provide(world(1_000))))

  it.scoped("turns away a connection over the limit with BUSY, leaving the others undisturbed", () =>
    Effect.gen(function*() {
      const files = yield* MemoryFiles
      yield* files.put("a", bytes(10))
      yield* startServer({ maxConnections: 1 })
      const first = yield* connect
      expect((yield* get(first, "a"))._tag).toBe("Body")
      const second = yield* connect
      const reply = yield* get(second, "a")
      expect(reply._tag === "Failure" && reply.status).toBe(Codec.Status.Busy)
      expect((yield* get(first, "a"))._tag).toBe("Body")
    }).pipe(Effect.provide(world(1_000))))

  it.scoped("releases pins, locks and files when a client vanishes mid-transfer", () =>
    Effect.gen(function*() {
      const files = yield* MemoryFiles
      yield* files.put("cached", bytes(500_000))
      yield* files.put("streamed", bytes(3_000_000))
      yield* startServer()
      // Once loading it, once sending it from memory, once streaming.
      for (const name of ["cached", "cached", "streamed"]) {
        yield* Effect.scoped(Effect.gen(function*() {
          const client = yield* connect
          yield* client.connection.write(Codec.encodeRequest(Codec.Request.Get({ name, digests: DIGEST_NAMES })))
          // Read the head and one piece of the body, then disappear without a word.
          yield* Codec.readResponse(client.reader, Codec.Kind.Get)
          yield* client.reader.upTo(1024)
        }))
        yield* settled
      }
      const cache = yield* Cache
      expect(yield* cache.stats).toMatchObject({ pinned: 0, entries: 1, used: 500_000 })
      expect((yield* get(yield* connect, "cached"))._tag).toBe("Body")
    }).pipe(Effect.provide(world(1_000_000))))

  it.scoped("on shutdown, finishes the transfer in flight and closes idle connections", () =>
    Effect.gen(function*() {
      const files = yield* MemoryFiles
      yield* files.put("a", bytes(1000))
      const server = yield* startServer()
      const idle = yield* connect
      const busy = yield* connect
      const gate = yield* files.hold("a")
      const download = yield* Effect.fork(get(busy, "a"))
      yield* gate.awaitWaiting(1)
      const stopping = yield* Effect.fork(Fiber.interrupt(server))
      // The idle connection is closed at once; the one waiting on the disk is not.
      expect(yield* idle.reader.atEnd).toBe(true)
      yield* gate.open
      expect((yield* Fiber.join(download))._tag).toBe("Body")
      yield* Fiber.join(stopping)
    }).pipe(Effect.provide(world(1_000_000))))
})
