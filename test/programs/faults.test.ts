/**
 * Faults on in-memory layers: disks that fail, files that change or vanish under a read, clients that
 * disappear at every stage. Whatever happens, no client takes a wrong or short file for a whole one,
 * and afterwards STATS shows nothing held and the next request is served.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { MemoryFiles } from "../../src/layers/MemoryFileStore.js"
import * as Codec from "../../src/protocol/Codec.js"
import { DIGEST_NAMES } from "../../src/protocol/Digest.js"
import { pattern } from "../support/responses.js"
import {
  type Body,
  connect,
  expectComplete,
  expectFailure,
  get,
  list,
  LockWaiters,
  settled,
  startServer,
  withinRounds,
  world
} from "../support/serverWorld.js"

const CAPACITY = 100_000
/** Fits in the cache. */
const small = pattern(10_000, 1)
/** Larger than the cache: streamed, in two chunks. */
const big = pattern(300_000, 2)

const withFiles = Effect.gen(function*() {
  const files = yield* MemoryFiles
  yield* files.put("small", small)
  yield* files.put("big", big)
  yield* startServer()
  return files
})

/** The server holds nothing any more, and serves `name` normally to a new client. */
const allWell = (name: string, content: Uint8Array) =>
  Effect.gen(function*() {
    const snapshot = yield* settled
    expectComplete(yield* Effect.scoped(Effect.flatMap(connect, (client) => get(client, name))), content)
    return snapshot
  })

/** An INTERNAL_ERROR, as a failure reply or, once a file's head went out, as an aborted trailer after no bytes. */
const expectInternalError = (answer: unknown) => {
  const reply = answer as Codec.Response | Body
  if (reply._tag === "Failure") return expect(reply.status).toBe(Codec.Status.InternalError)
  expect(reply).toMatchObject({ _tag: "Body", trailer: { _tag: "Aborted", status: Codec.Status.InternalError } })
  expect((reply as Body).bytes.length).toBe(0)
}

/** A body cut short: an aborted trailer after a true prefix of `content`, never a complete one. */
const expectAbortedPrefix = (answer: unknown, content: Uint8Array) => {
  const body = answer as Body
  expect(body).toMatchObject({ _tag: "Body", trailer: { _tag: "Aborted", status: Codec.Status.InternalError } })
  expect(body.bytes.length).toBeLessThan(content.length)
  expect(Buffer.compare(body.bytes, content.subarray(0, body.bytes.length)), "bytes of another file").toBe(0)
  return body.bytes.length
}

const GET = (name: string) => Codec.encodeRequest(Codec.Request.Get({ name, digests: DIGEST_NAMES }))

describe("read errors", () => {
  it.scoped("at open, for a file that fits the cache: INTERNAL_ERROR, nothing cached, the next load works", () =>
    Effect.gen(function*() {
      const files = yield* withFiles
      yield* files.fail("small", { at: "open" })
      const client = yield* connect
      expectFailure(yield* get(client, "small"), Codec.Status.InternalError)
      expect(yield* list(client)).toMatchObject({ _tag: "Listing", total: 0 })
      // The same connection goes on.
      expectComplete(yield* get(client, "small"), small)
      expect(yield* files.reads("small")).toBe(2)
      expect(yield* allWell("small", small)).toMatchObject({ failures: 1, loads: 1, entries: 1 })
    }).pipe(Effect.provide(world(CAPACITY))))

  it.scoped("in the middle, for a file that fits the cache: INTERNAL_ERROR, nothing cached", () =>
    Effect.gen(function*() {
      const files = yield* withFiles
      yield* files.fail("small", { at: 5_000 })
      const client = yield* connect
      expectFailure(yield* get(client, "small"), Codec.Status.InternalError)
      expect(yield* list(client)).toMatchObject({ _tag: "Listing", total: 0 })
      expectComplete(yield* get(client, "small"), small)
      expect(yield* allWell("small", small)).toMatchObject({ failures: 1, loads: 1 })
    }).pipe(Effect.provide(world(CAPACITY))))

  it.scoped("at open, for a streamed file: INTERNAL_ERROR, and the connection goes on", () =>
    Effect.gen(function*() {
      const files = yield* withFiles
      yield* files.fail("big", { at: "open" })
      const client = yield* connect
      expectInternalError(yield* get(client, "big"))
      expectComplete(yield* get(client, "small"), small)
      expect(yield* allWell("big", big)).toMatchObject({ failures: 1, entries: 1 })
    }).pipe(Effect.provide(world(CAPACITY))))

  it.scoped("in the middle of a streamed file: an aborted trailer after a true prefix, never complete", () =>
    Effect.gen(function*() {
      const files = yield* withFiles
      yield* files.fail("big", { at: 100_000 })
      const client = yield* connect
      expect(expectAbortedPrefix(yield* get(client, "big"), big)).toBe(100_000)
      expectComplete(yield* get(client, "small"), small)
      expect(yield* allWell("big", big)).toMatchObject({
        failures: 1,
        streamed: 1,
        bytesServed: 100_000 + small.length
      })
    }).pipe(Effect.provide(world(CAPACITY))))

  it.scoped("permission denied, again and again: INTERNAL_ERROR each time on a connection that stays usable", () =>
    Effect.gen(function*() {
      const files = yield* withFiles
      yield* files.fail("small", { at: "open" }, 3)
      const client = yield* connect
      for (let i = 0; i < 3; i++) expectFailure(yield* get(client, "small"), Codec.Status.InternalError)
      expectComplete(yield* get(client, "small"), small)
      expect(yield* allWell("small", small)).toMatchObject({ failures: 3, loads: 1 })
    }).pipe(Effect.provide(world(CAPACITY))))
})

describe("files that change while being read", () => {
  const versions = {
    shrinks: pattern(4_000, 7),
    grows: pattern(30_000, 8),
    "is rewritten, same size": pattern(small.length, 9)
  }
  for (const [change, next] of Object.entries(versions)) {
    it.scoped(`a file that ${change} during a load is read again: the client gets the new version whole`, () =>
      Effect.gen(function*() {
        const files = yield* withFiles
        yield* files.changeDuring("small", next)
        const client = yield* connect
        expectComplete(yield* get(client, "small"), next)
        expect(yield* files.reads("small")).toBe(2)
        yield* allWell("small", next)
      }).pipe(Effect.provide(world(CAPACITY))))
  }

  const streamVersions = {
    shrinks: pattern(50_000, 7),
    grows: pattern(400_000, 8),
    "is rewritten, same size": pattern(big.length, 9)
  }
  for (const [change, next] of Object.entries(streamVersions)) {
    it.scoped(`a file that ${change} while streamed ends with an aborted trailer; then the new version is served`, () =>
      Effect.gen(function*() {
        const files = yield* withFiles
        yield* files.changeDuring("big", next)
        const client = yield* connect
        expectAbortedPrefix(yield* get(client, "big"), big)
        expectComplete(yield* get(client, "big"), next)
        yield* allWell("big", next)
      }).pipe(Effect.provide(world(CAPACITY))))
  }

  it.scoped("a file replaced by another between stat and open is read again: the new version, whole", () =>
    Effect.gen(function*() {
      const files = yield* withFiles
      const gate = yield* files.hold("small")
      const client = yield* connect
      const answer = yield* Effect.fork(get(client, "small"))
      yield* withinRounds(gate.awaitWaiting(1), "a read held at the gate")
      const next = pattern(small.length, 5)
      yield* files.replace("small", next)
      yield* gate.open
      expectComplete(yield* Fiber.join(answer), next)
      yield* allWell("small", next)
    }).pipe(Effect.provide(world(CAPACITY))))

  it.scoped("a file deleted between stat and open is NOT_FOUND, and nothing is cached", () =>
    Effect.gen(function*() {
      const files = yield* withFiles
      const gate = yield* files.hold("small")
      const client = yield* connect
      const answer = yield* Effect.fork(get(client, "small"))
      yield* withinRounds(gate.awaitWaiting(1), "a read held at the gate")
      yield* files.remove("small")
      yield* gate.open
      expectFailure(yield* Fiber.join(answer), Codec.Status.NotFound)
      expect(yield* list(client)).toMatchObject({ _tag: "Listing", total: 0 })
      expect(yield* allWell("big", big)).toMatchObject({ entries: 0 })
    }).pipe(Effect.provide(world(CAPACITY))))

  it.scoped("a streamed file deleted between stat and open is never served as a success", () =>
    Effect.gen(function*() {
      const files = yield* withFiles
      const gate = yield* files.hold("big")
      const client = yield* connect
      const answer = yield* Effect.fork(get(client, "big"))
      yield* withinRounds(gate.awaitWaiting(1), "a read held at the gate")
      yield* files.remove("big")
      yield* gate.open
      const reply = yield* Fiber.join(answer)
      if (reply._tag === "Failure") expect(reply.status).toBe(Codec.Status.NotFound)
      else expectAbortedPrefix(reply, big)
      expectFailure(yield* get(client, "big"), Codec.Status.NotFound)
      yield* allWell("small", small)
    }).pipe(Effect.provide(world(CAPACITY))))

  it.scoped("a cached file deleted afterwards is NOT_FOUND and its copy is dropped", () =>
    Effect.gen(function*() {
      const files = yield* withFiles
      const client = yield* connect
      expectComplete(yield* get(client, "small"), small)
      yield* files.remove("small")
      expectFailure(yield* get(client, "small"), Codec.Status.NotFound)
      expect(yield* allWell("big", big)).toMatchObject({ entries: 0, usedBytes: 0 })
    }).pipe(Effect.provide(world(CAPACITY))))
})

describe("clients that disconnect", () => {
  // Large enough that the server is still sending when the client goes: a cached file of three
  // 1 MiB slices, a streamed one of twelve chunks, both far beyond the network's buffer.
  const cached = pattern(2_500_000, 3)
  const streamed = pattern(3_000_000, 4)
  const bigWorld = world(2_600_000)

  const withLargeFiles = Effect.gen(function*() {
    const files = yield* MemoryFiles
    yield* files.put("cached", cached)
    yield* files.put("streamed", streamed)
    yield* files.put("small", small)
    yield* startServer()
    return files
  })

  /** Connects, does `f`, then vanishes without a word. */
  const vanishing = <A, E, R>(f: (client: Effect.Effect.Success<typeof connect>) => Effect.Effect<A, E, R>) =>
    Effect.scoped(Effect.flatMap(connect, f))

  it.scoped("before its request is complete (half a header)", () =>
    Effect.gen(function*() {
      yield* withLargeFiles
      yield* vanishing((client) => client.connection.write(GET("small").subarray(0, 6)))
      yield* allWell("small", small)
    }).pipe(Effect.provide(bigWorld)))

  it.scoped("after ending its side in the middle of a request: BAD_REQUEST, then the end", () =>
    Effect.gen(function*() {
      yield* withLargeFiles
      const client = yield* connect
      yield* client.connection.write(GET("small").subarray(0, 11))
      yield* client.connection.end
      expectFailure(yield* Codec.readResponse(client.reader, Codec.Kind.Get), Codec.Status.BadRequest)
      expect(yield* client.reader.atEnd).toBe(true)
      yield* allWell("small", small)
    }).pipe(Effect.provide(bigWorld)))

  it.scoped("right after sending its request, before reading anything", () =>
    Effect.gen(function*() {
      yield* withLargeFiles
      for (const name of ["cached", "cached", "streamed"]) {
        yield* vanishing((client) => client.connection.write(GET(name)))
        yield* settled
      }
      yield* allWell("cached", cached)
    }).pipe(Effect.provide(bigWorld)))

  it.scoped("while the server reads the file for it", () =>
    Effect.gen(function*() {
      const files = yield* withLargeFiles
      const gate = yield* files.hold("cached")
      yield* vanishing((client) =>
        Effect.zipRight(
          client.connection.write(GET("cached")),
          withinRounds(gate.awaitWaiting(1), "a read held at the gate")
        )
      )
      yield* gate.open
      const after = yield* allWell("cached", cached)
      expect(yield* files.reads("cached")).toBe(1)
      expect(after).toMatchObject({ entries: 1 })
    }).pipe(Effect.provide(bigWorld)))

  for (const name of ["cached", "streamed"] as const) {
    it.scoped(`in the middle of the body of a ${name} file`, () =>
      Effect.gen(function*() {
        yield* withLargeFiles
        const content = name === "cached" ? cached : streamed
        for (let round = 0; round < 2; round++) {
          yield* vanishing((client) =>
            Effect.gen(function*() {
              yield* client.connection.write(GET(name))
              const head = yield* Codec.readResponse(client.reader, Codec.Kind.Get)
              expect(head).toMatchObject({ _tag: "File", size: content.length })
              // A segment's length and its first bytes, far from the end.
              yield* client.reader.exactly(4 + 200_000)
            })
          )
          yield* settled
        }
        yield* allWell(name, content)
      }).pipe(Effect.provide(bigWorld)))
  }

  it.scoped("while waiting on another client's load of the same file", () =>
    Effect.gen(function*() {
      const files = yield* withLargeFiles
      const waiters = yield* LockWaiters
      const gate = yield* files.hold("small")
      const first = yield* connect
      const firstAnswer = yield* Effect.fork(get(first, "small"))
      yield* withinRounds(gate.awaitWaiting(1), "a read held at the gate")
      yield* vanishing((second) =>
        Effect.zipRight(
          second.connection.write(GET("small")),
          withinRounds(waiters.awaitWaiting(1), "a request waiting for the lock")
        )
      )
      yield* gate.open
      expectComplete(yield* Fiber.join(firstAnswer), small)
      yield* allWell("small", small)
      expect(yield* files.reads("small")).toBe(1)
    }).pipe(Effect.provide(bigWorld)))
})
