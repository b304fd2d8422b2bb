/**
 * The v2 wire codec against docs/PROTOCOL.md: every message round-trips through any chunking of the
 * input, and every malformed input ends in a ProtocolError with the right reason, never a defect.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Option from "effect/Option"
import * as ByteReader from "../../src/protocol/ByteReader.js"
import * as Codec from "../../src/protocol/Codec.js"
import { type Digest, DIGEST_NAMES, DIGESTS, hasher } from "../../src/protocol/Digest.js"
import { ProtocolError } from "../../src/protocol/ProtocolError.js"

// Helpers

const { Kind, Status } = Codec

const failureStatuses: ReadonlyArray<Codec.FailureStatus> = [
  Status.NotFound,
  Status.BadRequest,
  Status.TooLarge,
  Status.UnsupportedVersion,
  Status.Busy,
  Status.InternalError,
  Status.Timeout,
  Status.UnsupportedDigest
]

const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0))
  let at = 0
  for (const part of parts) {
    out.set(part, at)
    at += part.length
  }
  return out
}

const u32 = (value: number) => Uint8Array.of(value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff)
const u16 = (value: number) => Uint8Array.of(value >>> 8, value & 0xff)
const u64 = (value: number) => concat([u32(Math.floor(value / 2 ** 32)), u32(value >>> 0)])
const ascii = (text: string) => new TextEncoder().encode(text)
const PREFIX = ascii("FRY\x02")

const utf8Length = (text: string): number => Buffer.byteLength(text, "utf8")
const digestOf = (algorithm: Digest, bytes: Uint8Array): Uint8Array => {
  const hash = hasher(algorithm)
  hash.update(bytes)
  return hash.digest()
}

/** The longest run of whole characters from the start of `text` that fits in `max` UTF-8 bytes. */
const cutToBytes = (text: string, max: number): string => {
  let out = ""
  for (const char of text) {
    if (utf8Length(out) + utf8Length(char) > max) break
    out += char
  }
  return out
}

/** `bytes` split into chunks of the given sizes, used in turn. */
const chunked = (bytes: Uint8Array, sizes: ReadonlyArray<number>): Array<Uint8Array> => {
  const chunks: Array<Uint8Array> = []
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const size = sizes[i % sizes.length]!
    chunks.push(bytes.slice(at, at + size))
    at += size
  }
  return chunks
}

/** A reader that counts the chunks it has pulled, to check that a payload was not asked for. */
const countingReader = (chunks: ReadonlyArray<Uint8Array>) => {
  let pulled = 0
  const reader = ByteReader.make(
    Effect.sync(() => pulled < chunks.length ? Option.some(chunks[pulled++]!) : Option.none())
  )
  return { reader, pulled: () => pulled }
}

const encodeFile = (
  segments: ReadonlyArray<Uint8Array>,
  trailer: Codec.Trailer,
  size?: number,
  digest: Digest = "xxh3-128"
): Uint8Array =>
  concat([
    Codec.encodeFileHead(size ?? segments.reduce((sum, segment) => sum + segment.length, 0), digest),
    ...segments.flatMap((segment) => [Codec.encodeSegmentHead(segment.length), segment]),
    Codec.encodeTrailer(trailer)
  ])

/** One response to a request of `kind`, with the body and trailer when it is a file. */
const readWhole = <E>(reader: ByteReader.ByteReader<E>, kind: Codec.Kind) =>
  Effect.gen(function*() {
    const response = yield* Codec.readResponse(reader, kind)
    if (response._tag !== "File") return { response, body: undefined, trailer: undefined }
    const pieces: Array<Uint8Array> = []
    const trailer = yield* Codec.readBody(reader, response, (bytes) =>
      Effect.sync(() => {
        expect(bytes.length).toBeGreaterThan(0)
        pieces.push(bytes.slice())
      }))
    return { response, body: concat(pieces), trailer }
  })

const expectReason = (error: unknown, reason: ProtocolError["reason"]) => {
  expect(error).toBeInstanceOf(ProtocolError)
  expect((error as ProtocolError).reason).toBe(reason)
}

const rejectsRequest = (bytes: Uint8Array, reason: ProtocolError["reason"]) =>
  Effect.map(Effect.flip(Codec.readRequest(ByteReader.fromChunks([bytes]))), (error) => expectReason(error, reason))

const rejectsResponse = (bytes: Uint8Array, kind: Codec.Kind, reason: ProtocolError["reason"]) =>
  Effect.map(Effect.flip(readWhole(ByteReader.fromChunks([bytes]), kind)), (error) => expectReason(error, reason))

// Arbitraries

/** One character of any UTF-8 width, with the awkward ones (BOM, NUL, separators) made likely. */
const character = FastCheck.oneof(
  FastCheck.constantFrom("a", "/", ".", "\\", "\u0000", "é", "€", "\uFEFF", "😀"),
  FastCheck.integer({ min: 0, max: 0x10ffff })
    .filter((code) => code < 0xd800 || code > 0xdfff)
    .map((code) => String.fromCodePoint(code))
)
/** Any text of whole characters; 1024 characters are at most 4096 UTF-8 bytes. */
const text = (maxLength: number) => FastCheck.string({ unit: character, maxLength })
const name = FastCheck.oneof(
  text(1024).filter((name) => name.length > 0),
  text(1024).map((name) => name + "n".repeat(Codec.MAX_NAME_BYTES - utf8Length(name))) // exactly at the limit
)
/** Digests a client may offer: any known ones, in any order, none twice. */
const offer = FastCheck.uniqueArray(FastCheck.constantFrom(...DIGEST_NAMES), { minLength: 1 })
const digest = FastCheck.constantFrom(...DIGEST_NAMES)
const request = FastCheck.oneof(
  FastCheck.tuple(name, offer).map(([name, digests]) => Codec.Request.Get({ name, digests })),
  FastCheck.constant(Codec.Request.List()),
  FastCheck.constant(Codec.Request.Stats())
)
const chunkSizes = FastCheck.oneof(
  FastCheck.constant([1]),
  FastCheck.array(FastCheck.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 8 })
)
const failureStatus = FastCheck.constantFrom(...failureStatuses)
const segments = FastCheck.array(FastCheck.uint8Array({ minLength: 1, maxLength: 300 }), { maxLength: 12 })

describe("requests", () => {
  it.effect.prop("any sequence of requests reads back in order, then a clean end", {
    requests: FastCheck.array(request, { maxLength: 4 }),
    sizes: chunkSizes
  }, ({ requests, sizes }) =>
    Effect.gen(function*() {
      const reader = ByteReader.fromChunks(chunked(concat(requests.map(Codec.encodeRequest)), sizes))
      for (const expected of requests) {
        expect(yield* Codec.readRequest(reader)).toEqual(Option.some(expected))
      }
      expect(yield* Codec.readRequest(reader)).toEqual(Option.none())
    }))

  const getPayload = (ids: ReadonlyArray<number>, name: string) =>
    concat([Uint8Array.of(ids.length, ...ids), ascii(name)])
  const knownIds = DIGEST_NAMES.map((digest) => DIGESTS[digest].id)

  it.effect.prop("a GET offering any ids reads back with the known ones, in order, each once", {
    ids: FastCheck.array(
      FastCheck.oneof(FastCheck.constantFrom(...knownIds), FastCheck.integer({ min: 0, max: 255 })),
      { minLength: 1, maxLength: Codec.MAX_OFFERED_DIGESTS }
    ),
    name,
    sizes: chunkSizes
  }, ({ ids, name, sizes }) =>
    Effect.gen(function*() {
      const text = new TextEncoder().encode(name)
      const payload = concat([Uint8Array.of(ids.length, ...ids), text])
      const bytes = concat([PREFIX, Uint8Array.of(Kind.Get), u32(payload.length), payload])
      const known = ids.flatMap((id) => DIGEST_NAMES.filter((digest) => DIGESTS[digest].id === id))
      const expected = Codec.Request.Get({ name, digests: [...new Set(known)] })
      const reader = ByteReader.fromChunks(chunked(bytes, sizes))
      expect(yield* Codec.readRequest(reader)).toEqual(Option.some(expected))
      expect(yield* Codec.readRequest(reader)).toEqual(Option.none())
    }))

  it.effect("a GET offering 16 digests and a name of 4096 bytes is at the payload limit, and reads", () =>
    Effect.gen(function*() {
      const payload = getPayload([...new Array(15).fill(0x63), 2], "n".repeat(Codec.MAX_NAME_BYTES))
      expect(payload.length).toBe(Codec.MAX_PAYLOAD_BYTES)
      const bytes = concat([PREFIX, Uint8Array.of(Kind.Get), u32(payload.length), payload])
      expect(yield* Codec.readRequest(ByteReader.fromChunks([bytes]))).toEqual(
        Option.some(Codec.Request.Get({ name: "n".repeat(Codec.MAX_NAME_BYTES), digests: ["sha256"] }))
      )
    }))

  it.effect("a GET offering only unknown digests reads, offering none: the server answers it", () =>
    Effect.gen(function*() {
      const payload = getPayload([0, 3, 255, 0], "a.txt")
      const bytes = concat([PREFIX, Uint8Array.of(Kind.Get), u32(payload.length), payload])
      expect(yield* Codec.readRequest(ByteReader.fromChunks([bytes]))).toEqual(
        Option.some(Codec.Request.Get({ name: "a.txt", digests: [] }))
      )
    }))

  it.effect("a name starting with a byte order mark keeps it", () =>
    Effect.gen(function*() {
      const request = Codec.Request.Get({ name: "\uFEFFsecret.txt", digests: DIGEST_NAMES })
      expect(yield* Codec.readRequest(ByteReader.fromChunks([Codec.encodeRequest(request)]))).toEqual(
        Option.some(request)
      )
    }))

  it.effect("an empty input is a clean end, and so is the end right after a request", () =>
    Effect.gen(function*() {
      expect(yield* Codec.readRequest(ByteReader.fromChunks([]))).toEqual(Option.none())
      expect(yield* Codec.readRequest(ByteReader.fromChunks([new Uint8Array(0)]))).toEqual(Option.none())
      const reader = ByteReader.fromChunks([Codec.encodeRequest(Codec.Request.List())])
      expect(yield* Codec.readRequest(reader)).toEqual(Option.some(Codec.Request.List()))
      expect(yield* Codec.readRequest(reader)).toEqual(Option.none())
    }))
})

describe("failure responses", () => {
  it.effect.prop("every failure status, for its kind or for none, with its message cut to the limit", {
    status: failureStatus,
    kind: FastCheck.constantFrom(Kind.Get, Kind.List),
    unknownKind: FastCheck.boolean(),
    message: text(700),
    sizes: chunkSizes
  }, ({ kind, message, sizes, status, unknownKind }) =>
    Effect.gen(function*() {
      const bytes = Codec.encodeFailure(unknownKind ? 0 : kind, status, message)
      const reader = ByteReader.fromChunks(chunked(bytes, sizes))
      const { response } = yield* readWhole(reader, kind)
      const expected = cutToBytes(message, Codec.MAX_MESSAGE_BYTES)
      expect(response).toEqual(Codec.Response.Failure({ status, message: expected }))
      expect(bytes.length).toBe(8 + utf8Length(expected))
      expect(yield* reader.atEnd).toBe(true)
    }))

  it.effect("a message is cut before a character that would cross the limit", () =>
    Effect.gen(function*() {
      const message = "a" + "😀".repeat(300)
      const bytes = Codec.encodeFailure(Kind.Get, Status.InternalError, message)
      expect(bytes.length).toBe(8 + 1 + 4 * 255)
      const { response } = yield* readWhole(ByteReader.fromChunks([bytes]), Kind.Get)
      expect(response).toEqual(Codec.Response.Failure({ status: Status.InternalError, message: message.slice(0, 511) }))
    }))
})

describe("files", () => {
  it.effect.prop("head, segments and a complete trailer: readBody hands back the bytes in order", {
    segments,
    algorithm: digest,
    sizes: chunkSizes
  }, ({ algorithm, segments, sizes }) =>
    Effect.gen(function*() {
      const content = concat(segments)
      const digest = digestOf(algorithm, content)
      // A second response follows on the same connection: the body must be read exactly to its end.
      const bytes = concat([
        encodeFile(segments, Codec.Trailer.Complete({ digest }), undefined, algorithm),
        Codec.encodeFailure(Kind.Get, Status.NotFound, "gone")
      ])
      const reader = ByteReader.fromChunks(chunked(bytes, sizes))
      const { body, response, trailer } = yield* readWhole(reader, Kind.Get)
      expect(response).toEqual(Codec.Response.File({ size: content.length, digest: algorithm, version: Codec.NO_FILE_VERSION, start: 0 }))
      expect(body).toEqual(content)
      expect(trailer).toEqual(Codec.Trailer.Complete({ digest }))
      expect((yield* readWhole(reader, Kind.Get)).response).toEqual(
        Codec.Response.Failure({ status: Status.NotFound, message: "gone" })
      )
      expect(yield* reader.atEnd).toBe(true)
    }))

  it.effect.prop("an aborted body hands back what was sent and returns the failure", {
    segments,
    missing: FastCheck.nat({ max: 1000 }),
    status: failureStatus,
    message: text(700),
    algorithm: digest,
    sizes: chunkSizes
  }, ({ algorithm, message, missing, segments, sizes, status }) =>
    Effect.gen(function*() {
      const content = concat(segments)
      const aborted = Codec.Trailer.Aborted({ status, message })
      const bytes = encodeFile(segments, aborted, content.length + missing, algorithm)
      const reader = ByteReader.fromChunks(chunked(bytes, sizes))
      const { body, trailer } = yield* readWhole(reader, Kind.Get)
      expect(body).toEqual(content)
      expect(trailer).toEqual(
        Codec.Trailer.Aborted({ status, message: cutToBytes(message, Codec.MAX_MESSAGE_BYTES) })
      )
      expect(yield* reader.atEnd).toBe(true)
    }))

  it.effect("the worked examples of docs/PROTOCOL.md, byte for byte", () =>
    Effect.sync(() => {
      const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex")
      const unhex = (text: string) => new Uint8Array(Buffer.from(text, "hex"))
      const hi = ascii("hi")
      expect(hex(Codec.encodeRequest(Codec.Request.Get({ name: "a.txt", digests: ["xxh3-128", "sha256"] })))).toBe(
        "465259020100000008" + "02" + "0102" + "612e747874"
      )
      expect(hex(digestOf("xxh3-128", hi))).toBe("7d596ce5fcabaf622a2300bbd7ea6e9a")
      expect(hex(encodeFile([hi], Codec.Trailer.Complete({ digest: digestOf("xxh3-128", hi) })))).toBe(
        "465259020001" + "0000000000000002" + "01" + "00000002" + "6869" + "00000000" + "00" +
          "7d596ce5fcabaf622a2300bbd7ea6e9a"
      )
      expect(hex(Codec.encodeRequest(Codec.Request.Get({ name: "a.txt", digests: ["sha256"] })))).toBe(
        "465259020100000007" + "01" + "02" + "612e747874"
      )
      const sha256 = Codec.Trailer.Complete({ digest: digestOf("sha256", hi) })
      expect(hex(encodeFile([hi], sha256, undefined, "sha256"))).toBe(
        "465259020001" + "0000000000000002" + "02" + "00000002" + "6869" + "00000000" + "00" +
          "8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4"
      )
      expect(hex(Codec.encodeFailure(Kind.Get, Status.NotFound, "no such file: a.txt"))).toBe(
        "465259020101" + "0013" + "6e6f2073756368206669" + "6c653a20612e747874"
      )
      expect(hex(Codec.encodeFailure(Kind.Get, Status.UnsupportedDigest, "digests supported: xxh3-128, sha256")))
        .toBe("465259020801" + "0023" + hex(ascii("digests supported: xxh3-128, sha256")))
      expect(
        Effect.runSync(Codec.readRequest(ByteReader.fromChunks([unhex("465259020100000008" + "020709612e747874")])))
      )
        .toEqual(Option.some(Codec.Request.Get({ name: "a.txt", digests: [] })))
      const v1 = Effect.runSync(Effect.flip(Codec.readRequest(ByteReader.fromChunks([unhex("46525901010000000561")]))))
      expect(v1).toMatchObject({ reason: "UnsupportedVersion", version: 1 })
      expect(hex(Codec.encodeFailure(0, Status.UnsupportedVersion, v1.message))).toBe(
        "465259020400" + "0040" + hex(ascii("protocol version 1 is not supported (this side speaks version 2)"))
      )
      expect(hex(Codec.encodeRequest(Codec.Request.List()))).toBe("465259020200000000")
      expect(hex(Codec.encodeListing([{ name: "a.txt", size: 2 }]))).toBe(
        "465259020002" + "00000017" + "00000001" + "00000001" + "0005" + "612e747874" + "0000000000000002"
      )
    }))

  it.effect("an empty file is a head and a trailer, with the digest of nothing", () =>
    Effect.gen(function*() {
      for (const algorithm of DIGEST_NAMES) {
        const digest = digestOf(algorithm, new Uint8Array(0))
        const bytes = encodeFile([], Codec.Trailer.Complete({ digest }), undefined, algorithm)
        expect(bytes.length).toBe(Codec.FILE_HEAD_BYTES + 5 + DIGESTS[algorithm].bytes)
        const { body, response, trailer } = yield* readWhole(ByteReader.fromChunks([bytes]), Kind.Get)
        expect(response).toEqual(Codec.Response.File({ size: 0, digest: algorithm, version: Codec.NO_FILE_VERSION, start: 0 }))
        expect(body).toEqual(new Uint8Array(0))
        expect(trailer).toEqual(Codec.Trailer.Complete({ digest }))
      }
    }))
})

describe("listings", () => {
  const entry = FastCheck.record({
    name: text(40).filter((name) => name.length > 0),
    size: FastCheck.oneof(FastCheck.nat(), FastCheck.constant(Number.MAX_SAFE_INTEGER))
  })

  it.effect.prop("any entries read back whole, with their total", {
    entries: FastCheck.array(entry, { maxLength: 30 }),
    sizes: chunkSizes
  }, ({ entries, sizes }) =>
    Effect.gen(function*() {
      const reader = ByteReader.fromChunks(chunked(Codec.encodeListing(entries), sizes))
      const { response } = yield* readWhole(reader, Kind.List)
      expect(response).toEqual(Codec.Response.Listing({ entries, total: entries.length }))
      expect(yield* reader.atEnd).toBe(true)
    }))

  // 4095 entries of 4096 bytes and one of 4088, after the 8 bytes of counts: exactly 16 MiB.
  const fillingTheLimit = Array.from({ length: 4096 }, (_, i) => ({
    name: String(i).padStart(4, "0").padEnd(i === 4095 ? 4078 : 4086, "x"),
    size: i
  }))

  it.effect("a listing of exactly MAX_LISTING_BYTES is whole", () =>
    Effect.gen(function*() {
      const bytes = Codec.encodeListing(fillingTheLimit)
      expect(bytes.length).toBe(10 + Codec.MAX_LISTING_BYTES)
      const { response } = yield* readWhole(ByteReader.fromChunks([bytes]), Kind.List)
      expect(response).toEqual(Codec.Response.Listing({ entries: fillingTheLimit, total: 4096 }))
    }))

  it.effect("a bigger listing is cut to the entries that fit, its total counting them all", () =>
    Effect.gen(function*() {
      const entries = [...fillingTheLimit, { name: "z", size: 1 }, ...fillingTheLimit]
      const bytes = Codec.encodeListing(entries)
      expect(bytes.length).toBe(10 + Codec.MAX_LISTING_BYTES)
      const { response } = yield* readWhole(ByteReader.fromChunks([bytes]), Kind.List)
      expect(response).toEqual(Codec.Response.Listing({ entries: fillingTheLimit, total: entries.length }))
    }))
})

describe("rejections", () => {
  const get = (payload: Uint8Array) => concat([PREFIX, Uint8Array.of(Kind.Get), u32(payload.length), payload])

  it.effect("a wrong magic is BadMagic, a wrong version UnsupportedVersion, both ways", () =>
    Effect.gen(function*() {
      yield* rejectsRequest(ascii("GET /a.txt HTTP/1.1\r\n\r\n"), "BadMagic")
      yield* rejectsRequest(concat([ascii("FRX\x01"), Uint8Array.of(Kind.List), u32(0)]), "BadMagic")
      for (const version of [0, 1, 3, 255]) {
        const wrong = concat([ascii("FRY"), Uint8Array.of(version)])
        yield* rejectsRequest(concat([wrong, Uint8Array.of(Kind.List), u32(0)]), "UnsupportedVersion")
        yield* rejectsResponse(concat([wrong, Codec.encodeListing([]).subarray(4)]), Kind.List, "UnsupportedVersion")
      }
      yield* rejectsResponse(concat([ascii("HTTP"), Codec.encodeListing([]).subarray(4)]), Kind.List, "BadMagic")
    }))

  it.effect("a declared payload over the limit is TooLarge, without its payload being read", () =>
    Effect.gen(function*() {
      const over = Codec.MAX_PAYLOAD_BYTES + 1
      expect(over).toBe(4114)
      for (const [kind, length] of [[Kind.Get, over], [Kind.Get, 0xffffffff], [Kind.List, over]] as const) {
        const { pulled, reader } = countingReader([
          concat([PREFIX, Uint8Array.of(kind), u32(length)]),
          new Uint8Array(over)
        ])
        expectReason(yield* Effect.flip(Codec.readRequest(reader)), "TooLarge")
        expect(pulled()).toBe(1)
      }
      const name = (length: number) => concat([Uint8Array.of(1, 1), new Uint8Array(length).fill(0x61)])
      expect(yield* Codec.readRequest(ByteReader.fromChunks([get(name(4096))]))).toEqual(
        Option.some(Codec.Request.Get({ name: "a".repeat(4096), digests: ["xxh3-128"] }))
      )
      // Within the payload's limit, over the name's: read, then refused.
      yield* rejectsRequest(get(name(4097)), "TooLarge")
      yield* rejectsRequest(get(name(Codec.MAX_PAYLOAD_BYTES - 2)), "TooLarge")
    }))

  it.effect("malformed requests", () =>
    Effect.gen(function*() {
      yield* rejectsRequest(get(new Uint8Array(0)), "Malformed")
      // No digest offered, more than 16, and offers that leave no name.
      yield* rejectsRequest(get(concat([Uint8Array.of(0), ascii("a.txt")])), "Malformed")
      yield* rejectsRequest(get(concat([Uint8Array.of(17), new Uint8Array(17).fill(1), ascii("a")])), "Malformed")
      yield* rejectsRequest(get(Uint8Array.of(1, 1)), "Malformed")
      yield* rejectsRequest(get(Uint8Array.of(3, 1, 2)), "Malformed")
      yield* rejectsRequest(concat([PREFIX, Uint8Array.of(Kind.List), u32(1), ascii("x")]), "Malformed")
      for (const kind of [0, 4, 255]) {
        yield* rejectsRequest(concat([PREFIX, Uint8Array.of(kind), u32(0)]), "Malformed")
      }
      // A stray continuation byte, a cut sequence, an overlong "/", an encoded surrogate, past U+10FFFF.
      for (const bad of [[0x80], [0x61, 0xc3], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xff]]) {
        yield* rejectsRequest(get(Uint8Array.of(1, 1, ...bad)), "Malformed")
      }
    }))

  it.effect("a request cut at any byte is Truncated", () =>
    Effect.gen(function*() {
      for (const request of [Codec.Request.Get({ name: "dir/é.txt", digests: DIGEST_NAMES }), Codec.Request.List()]) {
        const bytes = Codec.encodeRequest(request)
        for (let cut = 1; cut < bytes.length; cut++) {
          yield* rejectsRequest(bytes.subarray(0, cut), "Truncated")
        }
      }
    }))

  it.effect("a response cut at any byte is Truncated", () =>
    Effect.gen(function*() {
      const complete = (algorithm: Digest) =>
        encodeFile(
          [ascii("hello "), ascii("world")],
          Codec.Trailer.Complete({ digest: digestOf(algorithm, ascii("hello world")) }),
          undefined,
          algorithm
        )
      const responses: ReadonlyArray<readonly [Codec.Kind, Uint8Array]> = [
        [Kind.Get, Codec.encodeFailure(Kind.Get, Status.NotFound, "no such file: é")],
        [Kind.Get, complete("xxh3-128")],
        [Kind.Get, complete("sha256")],
        [
          Kind.Get,
          encodeFile([ascii("hel")], Codec.Trailer.Aborted({ status: Status.InternalError, message: "é" }), 11)
        ],
        [Kind.List, Codec.encodeListing([{ name: "a", size: 1 }, { name: "bé", size: 2 ** 40 }])],
        [Kind.List, Codec.encodeFailure(0, Status.Busy, "busy")]
      ]
      for (const [kind, bytes] of responses) {
        for (let cut = 0; cut < bytes.length; cut++) {
          yield* rejectsResponse(bytes.subarray(0, cut), kind, "Truncated")
        }
      }
    }))

  it.effect("a body that does not match its announced size", () =>
    Effect.gen(function*() {
      const complete = Codec.Trailer.Complete({ digest: digestOf("xxh3-128", ascii("abcd")) })
      let delivered = 0
      const longer = encodeFile([ascii("ab"), ascii("cd")], complete, 3)
      const error = yield* Effect.flip(
        Effect.gen(function*() {
          const reader = ByteReader.fromChunks([longer])
          const response = yield* Codec.readResponse(reader, Kind.Get)
          if (response._tag !== "File") return yield* Effect.dieMessage("not a file")
          return yield* Codec.readBody(reader, response, (bytes) => Effect.sync(() => delivered += bytes.length))
        })
      )
      expectReason(error, "Malformed")
      expect(delivered).toBeLessThanOrEqual(3)
      yield* rejectsResponse(encodeFile([ascii("abcd")], complete, 3), Kind.Get, "Malformed")
      yield* rejectsResponse(encodeFile([ascii("ab")], complete, 4), Kind.Get, "Malformed")
      yield* rejectsResponse(encodeFile([], complete, 4), Kind.Get, "Malformed")
    }))

  it.effect("a segment over the limit is TooLarge, without its bytes being read", () =>
    Effect.gen(function*() {
      const { pulled, reader } = countingReader([
        concat([Codec.encodeFileHead(2 ** 30, "sha256"), u32(Codec.MAX_SEGMENT_BYTES + 1)]),
        new Uint8Array(1)
      ])
      const response = yield* Codec.readResponse(reader, Kind.Get)
      expect(response).toEqual(Codec.Response.File({ size: 2 ** 30, digest: "sha256", version: Codec.NO_FILE_VERSION, start: 0 }))
      expectReason(
        yield* Effect.flip(Codec.readBody(reader, { size: 2 ** 30, digest: "sha256", start: 0 }, () => Effect.void)),
        "TooLarge"
      )
      expect(pulled()).toBe(1)
    }))

  it.effect("unknown statuses, in a response or a trailer", () =>
    Effect.gen(function*() {
      for (const status of [9, 128, 255]) {
        yield* rejectsResponse(concat([PREFIX, Uint8Array.of(status, Kind.Get), u16(0)]), Kind.Get, "Malformed")
        const file = encodeFile([ascii("x")], Codec.Trailer.Complete({ digest: digestOf("xxh3-128", ascii("x")) }))
        file[Codec.FILE_HEAD_BYTES + 4 + 1 + 4] = status
        yield* rejectsResponse(file, Kind.Get, "Malformed")
      }
    }))

  it.effect("responses for another kind of request", () =>
    Effect.gen(function*() {
      yield* rejectsResponse(Codec.encodeFailure(Kind.List, Status.NotFound, ""), Kind.Get, "Malformed")
      yield* rejectsResponse(Codec.encodeFailure(3, Status.Busy, ""), Kind.List, "Malformed")
      yield* rejectsResponse(Codec.encodeListing([]), Kind.Get, "Malformed")
      yield* rejectsResponse(Codec.encodeFileHead(0, "xxh3-128"), Kind.List, "Malformed")
    }))

  it.effect("malformed fields in responses", () =>
    Effect.gen(function*() {
      const listing = (payload: Uint8Array) =>
        concat([PREFIX, Uint8Array.of(Status.Ok, Kind.List), u32(payload.length), payload])
      const entry = concat([u16(1), ascii("a"), u64(1)])
      yield* rejectsResponse(listing(concat([u32(1), u32(1), entry, Uint8Array.of(0)])), Kind.List, "Malformed")
      yield* rejectsResponse(listing(concat([u32(0), u32(1), entry])), Kind.List, "Malformed")
      yield* rejectsResponse(listing(concat([u32(2), u32(2), entry])), Kind.List, "Malformed")
      yield* rejectsResponse(
        listing(concat([u32(1), u32(1), u16(1), Uint8Array.of(0xff), u64(1)])),
        Kind.List,
        "Malformed"
      )
      yield* rejectsResponse(
        listing(concat([u32(1), u32(1), u16(1), ascii("a"), u64(2 ** 53)])),
        Kind.List,
        "Malformed"
      )
      yield* rejectsResponse(listing(u32(0)), Kind.List, "Malformed")
      yield* rejectsResponse(listing(new Uint8Array(0)), Kind.List, "Malformed")
      yield* rejectsResponse(
        concat([PREFIX, Uint8Array.of(Status.Ok, Kind.List), u32(Codec.MAX_LISTING_BYTES + 1)]),
        Kind.List,
        "TooLarge"
      )
      const fileHead = (size: number, id: number) =>
        concat([PREFIX, Uint8Array.of(Status.Ok, Kind.Get), u64(size), Uint8Array.of(id)])
      yield* rejectsResponse(fileHead(2 ** 53, 1), Kind.Get, "Malformed")
      // A digest this side does not know, and so could not have offered.
      for (const id of [0, 3, 255]) {
        yield* rejectsResponse(
          concat([fileHead(0, id), u32(0), Uint8Array.of(0), new Uint8Array(32)]),
          Kind.Get,
          "Malformed"
        )
      }
      const failure = (length: number, message: Uint8Array) =>
        concat([PREFIX, Uint8Array.of(Status.NotFound, Kind.Get), u16(length), message])
      yield* rejectsResponse(failure(1025, new Uint8Array(1025).fill(0x61)), Kind.Get, "TooLarge")
      yield* rejectsResponse(failure(2, Uint8Array.of(0xc3, 0x28)), Kind.Get, "Malformed")
    }))
})

describe("arbitrary input", () => {
  const u8 = FastCheck.integer({ min: 0, max: 255 })
  /** Raw noise, headers with random fields, and valid requests with one byte changed. */
  const requestLike = FastCheck.oneof(
    FastCheck.uint8Array({ maxLength: 40 }),
    FastCheck.tuple(
      u8,
      FastCheck.oneof(FastCheck.nat({ max: 40 }), FastCheck.nat()),
      FastCheck.uint8Array({ maxLength: 40 })
    )
      .map(([kind, length, payload]) => concat([PREFIX, Uint8Array.of(kind), u32(length), payload])),
    FastCheck.tuple(request, FastCheck.nat(), u8).map(([request, at, value]) => {
      const bytes = Codec.encodeRequest(request)
      bytes[at % bytes.length] = value
      return bytes
    })
  )

  it.effect.prop("readRequest ends every input in requests, then a clean end or a ProtocolError", {
    parts: FastCheck.array(requestLike, { maxLength: 4 }),
    sizes: chunkSizes
  }, ({ parts, sizes }) =>
    Effect.gen(function*() {
      const reader = ByteReader.fromChunks(chunked(concat(parts), sizes))
      let next = yield* Effect.either(Codec.readRequest(reader))
      while (next._tag === "Right" && Option.isSome(next.right)) {
        next = yield* Effect.either(Codec.readRequest(reader))
      }
      if (next._tag === "Left") expect(next.left).toBeInstanceOf(ProtocolError)
    }))

  // Empty messages often: an empty field at the very end of the input once made the reader die.
  const shortText = FastCheck.oneof(FastCheck.constant(""), text(3))
  const validResponse = FastCheck.oneof(
    FastCheck.tuple(failureStatus, shortText).map(([status, message]) => Codec.encodeFailure(0, status, message)),
    FastCheck.tuple(segments, failureStatus, shortText, digest).chain(([segments, status, message, algorithm]) =>
      FastCheck.constantFrom(
        encodeFile(
          segments,
          Codec.Trailer.Complete({ digest: digestOf(algorithm, concat(segments)) }),
          undefined,
          algorithm
        ),
        encodeFile(segments, Codec.Trailer.Aborted({ status, message }), undefined, algorithm)
      )
    ),
    FastCheck.array(FastCheck.record({ name: text(5), size: FastCheck.nat() }), { maxLength: 3 }).map(
      Codec.encodeListing
    )
  )
  const responseLike = FastCheck.oneof(
    FastCheck.tuple(
      FastCheck.constantFrom(0, 1, 2, 6, 7, 8),
      FastCheck.constantFrom(0, 1, 2, 3),
      FastCheck.uint8Array()
    )
      .map(([status, kind, rest]) => concat([PREFIX, Uint8Array.of(status, kind), rest])),
    validResponse,
    FastCheck.tuple(validResponse, FastCheck.nat()).map(([bytes, cut]) => bytes.subarray(0, cut % bytes.length)),
    FastCheck.tuple(validResponse, FastCheck.nat(), u8).map(([bytes, at, value]) => {
      const changed = bytes.slice()
      changed[at % changed.length] = value
      return changed
    })
  )

  it.effect.prop("readResponse and readBody end every input in a value or a ProtocolError", {
    kind: FastCheck.constantFrom(Kind.Get, Kind.List),
    bytes: responseLike,
    sizes: chunkSizes
  }, ({ bytes, kind, sizes }) =>
    Effect.gen(function*() {
      const result = yield* Effect.either(readWhole(ByteReader.fromChunks(chunked(bytes, sizes)), kind))
      if (result._tag === "Left") expect(result.left).toBeInstanceOf(ProtocolError)
    }), { fastCheck: { numRuns: 300 } })
})
