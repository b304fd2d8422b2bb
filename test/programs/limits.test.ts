/**
 * The server's limits on in-memory layers, with the test clock: the request deadline, the stall
 * timeout and the connection limit, observed through the protocol as a client and an operator would.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import { MemoryFiles } from "../../src/layers/MemoryFileStore.js"
import * as ByteReader from "../../src/protocol/ByteReader.js"
import * as Codec from "../../src/protocol/Codec.js"
import { DIGEST_NAMES } from "../../src/protocol/Digest.js"
import { pattern } from "../support/responses.js"
import {
  awaitTimer,
  connect,
  endsCleanly,
  eventually,
  expectComplete,
  get,
  nextEvent,
  PREFIX,
  readGetAnswer,
  readRawFailure,
  settled,
  startServer,
  stats,
  statsNow,
  world
} from "../support/serverWorld.js"

const REQUEST_TIMEOUT = 10_000
const STALL_TIMEOUT = 30_000
const limits = { requestTimeout: `${REQUEST_TIMEOUT} millis`, stallTimeout: `${STALL_TIMEOUT} millis` } as const

const now = TestClock.currentTimeMillis

describe("request deadline", () => {
  it.scoped("closes a connection that sends nothing once the deadline passes, and not before", () =>
    Effect.gen(function*() {
      yield* startServer(limits)
      const silent = yield* connect
      yield* awaitTimer(REQUEST_TIMEOUT)
      const next = yield* Effect.fork(nextEvent(silent.connection))

      yield* TestClock.adjust(REQUEST_TIMEOUT - 1)
      expect(Option.isNone(yield* Fiber.poll(next)), "closed before the deadline").toBe(true)
      expect(yield* statsNow).toMatchObject({ timeouts: 0, activeConnections: 2 })

      yield* TestClock.adjust(1)
      // No reply: the connection just ends (in memory, closing without `end` reads as a reset).
      expect((yield* Fiber.join(next))._tag).not.toBe("Bytes")
      const after = yield* eventually(statsNow, (s) => s.activeConnections === 1)
      expect(after).toMatchObject({ timeouts: 1, activeConnections: 1, requests: 1 })
    }).pipe(Effect.provide(world(100_000))))

  it.scoped("answers TIMEOUT to a client trickling a request, counting from the start, then closes", () =>
    Effect.gen(function*() {
      yield* startServer(limits)
      const client = yield* connect
      yield* awaitTimer(REQUEST_TIMEOUT)
      const request = Codec.encodeRequest(Codec.Request.Get({ name: "a-name-long-enough", digests: DIGEST_NAMES }))
      const reply = yield* Effect.fork(readRawFailure(client.reader))
      // One byte a second: the tenth second passes with the request still incomplete.
      for (let i = 0; i < 10; i++) {
        yield* client.connection.write(request.subarray(i, i + 1))
        yield* TestClock.adjust(i === 9 ? 999 : 1000)
      }
      expect(Option.isNone(yield* Fiber.poll(reply)), "answered before the deadline").toBe(true)
      yield* TestClock.adjust(1)
      expect(yield* Fiber.join(reply)).toMatchObject({ prefix: PREFIX, status: Codec.Status.Timeout, kind: 0 })
      expect(yield* endsCleanly(client.reader)).toBe(true)
      yield* client.connection.end
      const after = yield* eventually(statsNow, (s) => s.activeConnections === 1)
      expect(after).toMatchObject({ timeouts: 1, failures: 0, activeConnections: 1 })
    }).pipe(Effect.provide(world(100_000))))

  it.scoped("starts the deadline again after each response", () =>
    Effect.gen(function*() {
      const files = yield* MemoryFiles
      const content = pattern(5_000)
      yield* files.put("a", content)
      yield* startServer(limits)
      const client = yield* connect
      for (let i = 0; i < 5; i++) {
        // Wait until the server waits for this request, then let 0.9 of the deadline pass.
        yield* awaitTimer((yield* now) + REQUEST_TIMEOUT)
        yield* TestClock.adjust(REQUEST_TIMEOUT * 0.9)
        expectComplete(yield* get(client, "a"), content)
      }
      expect(yield* stats(client)).toMatchObject({ timeouts: 0, requests: 5, hits: 4, loads: 1 })
    }).pipe(Effect.provide(world(100_000))))

  it.scoped("closes an idle connection without destroying the unread end of its last response", () =>
    Effect.gen(function*() {
      const files = yield* MemoryFiles
      // Small enough to be written whole at once: the server is done with it and waits for a request.
      const content = pattern(50_000)
      yield* files.put("f", content)
      yield* startServer(limits)
      const client = yield* connect
      yield* client.connection.write(Codec.encodeRequest(Codec.Request.Get({ name: "f", digests: DIGEST_NAMES })))
      yield* awaitTimer((yield* now) + REQUEST_TIMEOUT, 2)
      // The client reads nothing for longer than the request deadline (but well within the stall timeout).
      yield* TestClock.adjust(REQUEST_TIMEOUT + 5_000)
      expect(yield* statsNow).toMatchObject({ timeouts: 1, stalls: 0 })
      const answer = yield* Effect.either(readGetAnswer(client.reader))
      expectComplete(Either.isRight(answer) ? answer.right : answer.left, content)
      expect(yield* endsCleanly(client.reader)).toBe(true)
    }).pipe(Effect.provide(world(1_000_000))))
})

describe("stall timeout", () => {
  for (
    const [kind, size, capacity] of [
      ["cached", 500_000, 1_000_000],
      ["streamed", 1_000_000, 100_000]
    ] as const
  ) {
    it.scoped(`drops a client that stops reading a ${kind} file, and releases everything`, () =>
      Effect.gen(function*() {
        const files = yield* MemoryFiles
        const content = pattern(size)
        yield* files.put("f", content)
        yield* startServer(limits)
        const stalled = yield* connect
        yield* stalled.connection.write(Codec.encodeRequest(Codec.Request.Get({ name: "f", digests: DIGEST_NAMES })))
        yield* awaitTimer((yield* now) + STALL_TIMEOUT)

        yield* TestClock.adjust(STALL_TIMEOUT - 1)
        expect(yield* statsNow, "dropped before the stall timeout").toMatchObject({ stalls: 0, activeConnections: 2 })

        yield* TestClock.adjust(1)
        const after = yield* eventually(statsNow, (s) => s.stalls === 1 && s.activeConnections === 1)
        expect(after).toMatchObject({ stalls: 1, activeConnections: 1 })
        // What was unread is gone with the connection: the client can never take it for a whole file.
        const rest = yield* Effect.either(readGetAnswer(stalled.reader))
        expect(rest._tag).toBe("Left")

        expect(yield* settled).toMatchObject({ pinnedEntries: 0, locksHeld: 0, openFiles: 0 })
        expectComplete(yield* get(yield* connect, "f"), content)
      }).pipe(Effect.provide(world(capacity))))

    it.scoped(`never drops a client reading a ${kind} file slowly but steadily`, () =>
      Effect.gen(function*() {
        const files = yield* MemoryFiles
        const content = pattern(size * 3)
        yield* files.put("f", content)
        // A request deadline longer than the whole transfer: this is about the stall timeout alone.
        yield* startServer({ ...limits, requestTimeout: "1 hour" })
        const client = yield* connect
        yield* client.connection.write(Codec.encodeRequest(Codec.Request.Get({ name: "f", digests: DIGEST_NAMES })))
        const { chunks, how } = yield* readSlowly(client.connection, STALL_TIMEOUT / 2)
        const after = yield* eventually(statsNow, (s) => s.bytesServed === content.length || s.stalls > 0)
        expect(after).toMatchObject({ stalls: 0, bytesServed: content.length })
        expect(how).toBe("whole")
        expectComplete(yield* readAnswer(chunks), content)
      }).pipe(Effect.provide(world(capacity * 3))))
  }
})

/**
 * Reads one network chunk every `pause` milliseconds of the test clock until the whole file answer
 * has arrived, or the connection ends or breaks first: how it went, and the chunks.
 */
const readSlowly = (connection: Effect.Effect.Success<typeof connect>["connection"], pause: number) =>
  Effect.gen(function*() {
    const chunks: Array<Uint8Array> = []
    while (true) {
      yield* TestClock.adjust(pause)
      const chunk = yield* Effect.either(connection.read)
      if (chunk._tag === "Left") return { how: `broken after ${chunks.length} chunks`, chunks }
      if (Option.isNone(chunk.right)) return { how: `ended after ${chunks.length} chunks`, chunks }
      chunks.push(chunk.right.value)
      if (isWholeAnswer(chunks)) return { how: "whole", chunks }
    }
  })

// Decoding what has arrived is the only sure way to know the answer is all there.
const isWholeAnswer = (chunks: ReadonlyArray<Uint8Array>) =>
  Effect.runSync(Effect.either(readAnswer(chunks)))._tag === "Right"

const readAnswer = (chunks: ReadonlyArray<Uint8Array>) =>
  Effect.gen(function*() {
    const reader = ByteReader.fromChunks(chunks)
    const response = yield* Codec.readResponse(reader, Codec.Kind.Get)
    if (response._tag !== "File") return response
    const body: Array<Uint8Array> = []
    const trailer = yield* Codec.readBody(reader, response, (bytes) => Effect.sync(() => body.push(bytes)))
    return { _tag: "Body" as const, digest: response.digest, bytes: Buffer.concat(body), trailer }
  })

describe("connection limit", () => {
  it.scoped("turns away the connection over the limit with BUSY, leaving the others undisturbed", () =>
    Effect.gen(function*() {
      const files = yield* MemoryFiles
      const content = pattern(3_000)
      yield* files.put("a", content)
      yield* startServer({ ...limits, maxConnections: 2 })
      const first = yield* connect
      const second = yield* connect
      expectComplete(yield* get(first, "a"), content)
      expectComplete(yield* get(second, "a"), content)

      yield* Effect.scoped(Effect.gen(function*() {
        const third = yield* connect
        expect(yield* readRawFailure(third.reader)).toMatchObject({
          prefix: PREFIX,
          status: Codec.Status.Busy,
          kind: 0
        })
        expect(yield* endsCleanly(third.reader)).toBe(true)
        yield* third.connection.end
      }))
      const afterBusy = yield* eventually(stats(first), (s) => s.activeConnections === 2)
      expect(afterBusy).toMatchObject({ turnedAway: 1, connections: 3, activeConnections: 2 })

      expectComplete(yield* get(first, "a"), content)
      expectComplete(yield* get(second, "a"), content)

      yield* second.connection.end
      expect(yield* endsCleanly(second.reader)).toBe(true)
      const afterClose = yield* eventually(stats(first), (s) => s.activeConnections === 1)
      expect(afterClose).toMatchObject({ activeConnections: 1, turnedAway: 1 })

      // The slot is free again.
      const fourth = yield* connect
      expectComplete(yield* get(fourth, "a"), content)
      expect(yield* stats(fourth)).toMatchObject({ activeConnections: 2, connections: 4, turnedAway: 1 })
    }).pipe(Effect.provide(world(100_000))))

  it.scoped("a client that vanishes without a word frees its slot", () =>
    Effect.gen(function*() {
      const files = yield* MemoryFiles
      const content = pattern(100)
      yield* files.put("a", content)
      yield* startServer({ ...limits, maxConnections: 1 })
      yield* Effect.scoped(Effect.flatMap(connect, (client) => get(client, "a")))
      const next = yield* eventually(
        Effect.scoped(Effect.flatMap(connect, (client) => get(client, "a"))),
        (answer) => answer._tag === "Body"
      )
      expectComplete(next, content)
    }).pipe(Effect.provide(world(100_000))))
})
