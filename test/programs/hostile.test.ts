/**
 * Hostile input on in-memory layers: noise, broken and oversized frames, frames split into single
 * bytes, hostile names, and 10 000 random frames. The server answers or closes, never crashes or
 * blocks, and serves well-behaved clients throughout.
 */
import { describe, expect, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { MemoryFiles } from "../../src/layers/MemoryFileStore.js"
import { statusFor } from "../../src/programs/server/handleConnection.js"
import * as ByteReader from "../../src/protocol/ByteReader.js"
import * as Codec from "../../src/protocol/Codec.js"
import { type Digest, DIGEST_NAMES } from "../../src/protocol/Digest.js"
import { pattern } from "../support/responses.js"
import {
  connect,
  expectComplete,
  expectFailure,
  get,
  PREFIX,
  readGetAnswer,
  readRawFailure,
  settled,
  startServer,
  stats,
  withinRounds,
  world
} from "../support/serverWorld.js"

const CAPACITY = 1_000_000
const served = { a: pattern(3_000, 1), "docs/b.txt": pattern(20, 2) } as const
type ServedName = keyof typeof served
const isServed = (name: string): name is ServedName => Object.hasOwn(served, name)

const putFiles = Effect.flatMap(
  MemoryFiles,
  (files) => Effect.forEach(Object.entries(served), ([name, content]) => files.put(name, content), { discard: true })
)

const utf8 = new TextEncoder()
const concat = (...parts: ReadonlyArray<Uint8Array | ReadonlyArray<number>>) =>
  Buffer.concat(parts.map((p) => Buffer.from(p)))
const u32 = (value: number) => {
  const bytes = Buffer.alloc(4)
  bytes.writeUInt32BE(value >>> 0)
  return bytes
}
const GET = (name: string) => Codec.encodeRequest(Codec.Request.Get({ name, digests: DIGEST_NAMES }))

/** A well-behaved client, on a connection of its own: served as usual. */
const wellBehaved = Effect.scoped(Effect.gen(function*() {
  const client = yield* connect
  expectComplete(yield* get(client, "a"), served.a)
  yield* client.connection.end
  expect(yield* client.reader.atEnd).toBe(true)
}))

/** Sends `bytes` on a connection of its own and expects the server's last word: a failure of kind 0, then the end. */
const expectRefused = (bytes: Uint8Array, status: Codec.FailureStatus) =>
  Effect.scoped(Effect.gen(function*() {
    const client = yield* connect
    yield* client.connection.write(bytes)
    // Answered without the client ending its side: the server does not wait for more.
    expect(yield* withinRounds(readRawFailure(client.reader), "reply")).toMatchObject({
      prefix: PREFIX,
      status,
      kind: 0
    })
    expect(yield* withinRounds(client.reader.atEnd, "end")).toBe(true)
    yield* client.connection.end
  }))

describe("hostile input", () => {
  const around = <A, E, R>(test: Effect.Effect<A, E, R>) =>
    Effect.gen(function*() {
      yield* putFiles
      yield* startServer()
      // One client connected throughout, others before and after.
      const steady = yield* connect
      expectComplete(yield* get(steady, "a"), served.a)
      yield* wellBehaved
      yield* test
      yield* wellBehaved
      expectComplete(yield* get(steady, "a"), served.a)
      yield* settled
    }).pipe(Effect.provide(world(CAPACITY)))

  it.scoped("random bytes instead of a request: BAD_REQUEST, closed", () => {
    const noise = Uint8Array.from(pattern(2_000, 77))
    noise[0] = 0x00 // whatever the pattern, not "F"
    return around(expectRefused(noise, Codec.Status.BadRequest))
  })

  it.scoped("an HTTP request: BAD_REQUEST, closed", () =>
    around(expectRefused(utf8.encode("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"), Codec.Status.BadRequest)))

  it.scoped("a valid magic and version with a garbage rest: BAD_REQUEST, closed", () =>
    around(expectRefused(concat(PREFIX, [0xee], u32(16), pattern(16, 5)), Codec.Status.BadRequest)))

  it.scoped("a version 1 GET: UNSUPPORTED_VERSION, in version 2, closed", () =>
    around(expectRefused(concat([0x46, 0x52, 0x59, 0x01], [1], u32(1), [0x61]), Codec.Status.UnsupportedVersion)))

  it.scoped("a valid magic with a later version: UNSUPPORTED_VERSION, in version 2, closed", () =>
    around(expectRefused(concat([0x46, 0x52, 0x59, 0x03], [1], u32(2), [1, 0x61]), Codec.Status.UnsupportedVersion)))

  it.scoped("a GET declaring 4 GiB of name: TOO_LARGE at once, the payload never awaited", () =>
    around(expectRefused(concat(PREFIX, [1], u32(0xffffffff)), Codec.Status.TooLarge)))

  it.scoped("a name of 5 KB: TOO_LARGE, closed", () =>
    around(expectRefused(GET("n".repeat(5_000)), Codec.Status.TooLarge)))

  // With one digest offered, the payload's limit leaves room for a name longer than a name may be.
  it.scoped("a name of 4097 bytes in a payload within the limit: TOO_LARGE, closed", () => {
    const request = Codec.encodeRequest(Codec.Request.Get({ name: "n".repeat(4097), digests: ["xxh3-128"] }))
    expect(request.length - Codec.REQUEST_HEADER_BYTES).toBeLessThanOrEqual(Codec.MAX_PAYLOAD_BYTES)
    return around(expectRefused(request, Codec.Status.TooLarge))
  })

  it.scoped("a GET offering no digest (D = 0): BAD_REQUEST, closed", () =>
    around(expectRefused(Codec.encodeRequest(Codec.Request.Get({ name: "a", digests: [] })), Codec.Status.BadRequest)))

  it.scoped("a GET offering 17 digests: BAD_REQUEST, closed", () =>
    around(expectRefused(
      Codec.encodeRequest(Codec.Request.Get({ name: "a", digests: new Array<Digest>(17).fill("xxh3-128") })),
      Codec.Status.BadRequest
    )))

  it.scoped("a GET whose digests leave no offset, version or name: BAD_REQUEST, closed", () =>
    around(expectRefused(concat(PREFIX, [1], u32(3), [2, 1, 2]), Codec.Status.BadRequest)))

  it.scoped("a valid request split into 1-byte writes is served", () =>
    around(Effect.scoped(Effect.gen(function*() {
      const client = yield* connect
      for (const byte of GET("docs/b.txt")) yield* client.connection.write(Uint8Array.of(byte))
      expectComplete(yield* withinRounds(readGetAnswer(client.reader), "answer"), served["docs/b.txt"])
      expectComplete(yield* get(client, "a"), served.a)
    }))))

  it.scoped("a name of 300 bytes: NOT_FOUND as one segment, served as short ones; the connection stays", () =>
    around(Effect.gen(function*() {
      const files = yield* MemoryFiles
      const deep = Array.from({ length: 7 }, (_, i) => String(i).repeat(42)).join("/")
      expect(Buffer.byteLength(deep)).toBe(300)
      yield* files.put(deep, served.a)
      yield* Effect.scoped(Effect.gen(function*() {
        const client = yield* connect
        expectFailure(yield* get(client, "x".repeat(300)), Codec.Status.NotFound)
        expectFailure(yield* get(client, "é".repeat(150)), Codec.Status.NotFound)
        expectComplete(yield* get(client, deep), served.a)
        expectComplete(yield* get(client, "a"), served.a)
      }))
    })))

  it.scoped("control characters and escape sequences in names are NOT_FOUND, and the connection stays", () =>
    around(Effect.gen(function*() {
      const files = yield* MemoryFiles
      const hostile = [
        "\u001b[31mred\u001b[0m",
        "\u001b]0;title\u0007",
        "\u001b[2J\u001b[H",
        "a\r\nINFO forged log line",
        "a\u0000.txt",
        "a\u007f",
        "a\u0008\u0008\u0008b",
        "a\\..\\..\\etc"
      ]
      // Even if a file of that very name existed.
      for (const name of [...hostile, "\u009b31m"]) yield* files.put(name, served.a)
      yield* Effect.scoped(Effect.gen(function*() {
        const client = yield* connect
        for (const name of hostile) expectFailure(yield* get(client, name), Codec.Status.NotFound)
        expectComplete(yield* get(client, "a"), served.a)
        // U+009B is a C1 control, not forbidden by the protocol's name rules: served like any name.
        expectComplete(yield* get(client, "\u009b31m"), served.a)
      }))
    })))
})

// Random frames

/** What the server must answer to `frame` followed by the end: one answer per request, then maybe a refusal. */
const predict = (frame: Uint8Array) => {
  const reader = ByteReader.fromChunks([frame])
  const requests: Array<Codec.Request> = []
  while (true) {
    const next = Effect.runSync(Effect.either(Codec.readRequest(reader)))
    if (Either.isLeft(next)) return { requests, refusal: statusFor(next.left) }
    if (Option.isNone(next.right)) return { requests, refusal: undefined }
    requests.push(next.right.value)
  }
}

/** Sends `frame`, ends, and checks every answer against the prediction, then a clean end. */
const exchange = (frame: Uint8Array) =>
  Effect.scoped(Effect.gen(function*() {
    const { refusal, requests } = predict(frame)
    const { connection, reader } = yield* connect
    yield* connection.write(frame)
    yield* connection.end
    for (const request of requests) {
      if (request._tag === "Get") {
        const answer = yield* readGetAnswer(reader)
        const digest = request.digests[0]
        // The digests are checked before the name: a GET offering none the server knows is refused whatever it names.
        if (digest === undefined) expectFailure(answer, Codec.Status.UnsupportedDigest)
        else if (isServed(request.name)) expectComplete(answer, served[request.name], digest)
        else expectFailure(answer, Codec.Status.NotFound)
      } else {
        // A changed byte can make a request of any kind: each is answered as its kind is.
        const answer = yield* Codec.readResponse(reader, Codec.kindOf(request))
        const expected = Codec.Request.$match(request, {
          Get: () => "Body",
          List: () => "Listing",
          Stats: () => "Stats",
          Auth: () => "Authenticated",
          Ls: () => answer._tag === "Tree" ? "Tree" : "Failure",
          Stat: ({ digests, name }) => digests.length > 0 && isServed(name) ? "Facts" : "Failure"
        })
        expect(answer._tag).toBe(expected)
        if (answer._tag === "Tree") {
          const ending = yield* Codec.readTree(reader, () => Effect.void)
          expect(ending._tag).toBe("Complete")
        }
        if (answer._tag === "Failure") {
          expect(answer.status).toBe(
            request._tag === "Stat" && request.digests.length === 0
              ? Codec.Status.UnsupportedDigest
              : Codec.Status.NotFound
          )
        }
      }
    }
    if (refusal !== undefined) {
      expect(yield* readRawFailure(reader)).toMatchObject({ prefix: PREFIX, status: refusal, kind: 0 })
    }
    expect(yield* reader.atEnd).toBe(true)
  }))

const byte = FastCheck.integer({ min: 0, max: 255 })
const bytesUpTo = (maxLength: number) => FastCheck.uint8Array({ maxLength })
const name = FastCheck.oneof(
  FastCheck.constantFrom(...Object.keys(served), "missing", "../a", "a/", "/a", "a//b", "\u001b[2J", "\u0000"),
  FastCheck.string({ minLength: 1, maxLength: 20 })
)
const offer = FastCheck.constantFrom<ReadonlyArray<Digest>>(DIGEST_NAMES, ["sha256", "xxh3-128"], ["sha256"], [
  "xxh3-128"
])
const validRequest = FastCheck.oneof(
  FastCheck.tuple(name, offer).map(([name, digests]) => Codec.Request.Get({ name, digests })),
  FastCheck.constant(Codec.Request.List()),
  FastCheck.constant(Codec.Request.Stats())
).map(Codec.encodeRequest)

const noise = FastCheck.uint8Array({ minLength: 1, maxLength: 64 })
const prefixPlusNoise = FastCheck.tuple(
  FastCheck.constantFrom(
    PREFIX,
    [0x46, 0x52, 0x59, 0x00],
    [0x46, 0x52, 0x59, 0x01],
    [0x46, 0x52, 0x59, 0x03],
    [0x46, 0x52, 0x59]
  ),
  bytesUpTo(40)
).map(([prefix, rest]) => concat(prefix, rest))
const headerPlusNoise = FastCheck.tuple(
  FastCheck.integer({ min: 0, max: 5 }),
  FastCheck.oneof(
    FastCheck.integer({ min: 0, max: 64 }),
    FastCheck.integer({ min: 4_090, max: 4_100 }),
    FastCheck.integer({ min: Codec.MAX_PAYLOAD_BYTES - 5, max: Codec.MAX_PAYLOAD_BYTES + 5 }),
    FastCheck.constant(0xffffffff),
    FastCheck.nat()
  ),
  bytesUpTo(80)
).map(([kind, length, payload]) => concat(PREFIX, [kind], u32(length), payload))
const mutated = FastCheck.tuple(
  validRequest,
  FastCheck.array(FastCheck.tuple(FastCheck.nat(), byte), { minLength: 1, maxLength: 3 })
)
  .map(([request, changes]) => {
    const bytes = Uint8Array.from(request)
    for (const [at, value] of changes) bytes[at % bytes.length] = value
    return bytes
  })
const truncated = FastCheck.tuple(validRequest, FastCheck.nat()).map(([request, cut]) =>
  request.subarray(0, cut % request.length)
)
const frame = FastCheck.oneof(
  noise,
  prefixPlusNoise,
  headerPlusNoise,
  mutated,
  truncated,
  validRequest,
  FastCheck.tuple(validRequest, FastCheck.oneof(validRequest, truncated, noise, mutated)).map(([a, b]) => concat(a, b))
)

// 10 000 frames in all, in batches: each run of a property costs more than a frame.
const FRAMES = 10_000
const BATCH = 10

// One server for all the frames, as one server meets all its clients.
const hostileServer = Layer.scopedDiscard(Effect.zipRight(putFiles, startServer())).pipe(
  Layer.provideMerge(world(CAPACITY))
)

layer(hostileServer)("random frames", (it) => {
  it.effect.prop(
    "each answered with valid responses, then a clean end, never a hang",
    [FastCheck.array(frame, { minLength: BATCH, maxLength: BATCH })],
    ([frames]) =>
      Effect.forEach(
        frames,
        (bytes) => withinRounds(exchange(bytes), `frame ${Buffer.from(bytes).toString("hex")}`),
        { discard: true }
      ),
    // 10,000 frames take about 30 s alone here; beside the rest of the suite on two cores, longer.
    { fastCheck: { numRuns: FRAMES / BATCH }, timeout: 240_000 }
  )

  it.effect("afterwards the server serves, and holds nothing", () =>
    Effect.gen(function*() {
      yield* wellBehaved
      const after = yield* settled
      expect(after.connections).toBeGreaterThan(FRAMES)
      expect(after).toMatchObject({ activeConnections: 1, stalls: 0, timeouts: 0 })
      yield* Effect.scoped(Effect.flatMap(connect, stats))
    }))
})
