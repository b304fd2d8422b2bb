/**
 * The v2 wire codec against docs/PROTOCOL.md: every message round-trips through any chunking of the
 * input, every malformed input ends in a ProtocolError with the right reason, never a defect, and
 * the document's worked examples are the codec's bytes.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Option from "effect/Option"
import { readFileSync } from "node:fs"
import { REFUSALS } from "../../src/programs/server/authorize.js"
import { fileVersion } from "../../src/programs/server/fileVersion.js"
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
  Status.UnsupportedDigest,
  Status.ListingDisabled,
  Status.TlsRequired,
  Status.Unauthorized
]
const kinds: ReadonlyArray<Codec.Kind> = [Kind.Get, Kind.List, Kind.Stats, Kind.Ls, Kind.Stat, Kind.Auth]

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
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex")
const unhex = (text: string) => new Uint8Array(Buffer.from(text, "hex"))
const PREFIX = ascii("FRY\x02")
/** The offset and version of a GET that does not resume. */
const NO_RESUME = new Uint8Array(8 + Codec.FILE_VERSION_BYTES)

const utf8Length = (text: string): number => Buffer.byteLength(text, "utf8")
const digestOf = (algorithm: Digest, ...parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const hash = hasher(algorithm)
  for (const part of parts) hash.update(part)
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

interface FileOptions {
  /** Default: `start` plus the bytes of the segments. */
  readonly size?: number
  readonly digest?: Digest
  readonly version?: Uint8Array
  readonly start?: number
}

/** A whole file response: its head, `segments` (the bytes from `start` on), and `trailer`. */
const encodeFile = (
  segments: ReadonlyArray<Uint8Array>,
  trailer: Codec.Trailer,
  { digest = "xxh3-128", size, start = 0, version = Codec.NO_FILE_VERSION }: FileOptions = {}
): Uint8Array =>
  concat([
    Codec.encodeFileHead(size ?? start + segments.reduce((sum, segment) => sum + segment.length, 0), digest, {
      version,
      start
    }),
    ...segments.flatMap((segment) => [Codec.encodeSegmentHead(segment.length), segment]),
    Codec.encodeTrailer(trailer)
  ])

/** A whole tree response: its head, a segment per batch of entries, and `ending`. */
const encodeTree = (batches: ReadonlyArray<ReadonlyArray<Codec.TreeEntry>>, ending?: Codec.Trailer): Uint8Array =>
  concat([
    Codec.encodeTreeHead(),
    ...batches.map(Codec.encodeEntries),
    ending === undefined ? Codec.encodeTreeEnd() : Codec.encodeTrailer(ending)
  ])

/**
 * One response to a request of `kind`, with what follows its head: the body and trailer of a file,
 * the batches of entries and the ending of a tree.
 */
const readWhole = <E>(reader: ByteReader.ByteReader<E>, kind: Codec.Kind) =>
  Effect.gen(function*() {
    const response = yield* Codec.readResponse(reader, kind)
    if (response._tag === "Tree") {
      const batches: Array<ReadonlyArray<Codec.TreeEntry>> = []
      const ending = yield* Codec.readTree(reader, (entries) => Effect.sync(() => batches.push(entries)))
      return { response, body: undefined, trailer: ending, batches }
    }
    if (response._tag !== "File") return { response, body: undefined, trailer: undefined, batches: undefined }
    const pieces: Array<Uint8Array> = []
    const trailer = yield* Codec.readBody(reader, response, (bytes) =>
      Effect.sync(() => {
        expect(bytes.length).toBeGreaterThan(0)
        pieces.push(bytes.slice())
      }))
    return { response, body: concat(pieces), trailer, batches: undefined }
  })

const expectReason = (error: unknown, reason: ProtocolError["reason"]) => {
  expect(error).toBeInstanceOf(ProtocolError)
  expect((error as ProtocolError).reason).toBe(reason)
}

const rejectsRequest = (bytes: Uint8Array, reason: ProtocolError["reason"]) =>
  Effect.map(Effect.flip(Codec.readRequest(ByteReader.fromChunks([bytes]))), (error) => expectReason(error, reason))

const rejectsResponse = (bytes: Uint8Array, kind: Codec.Kind, reason: ProtocolError["reason"]) =>
  Effect.map(Effect.flip(readWhole(ByteReader.fromChunks([bytes]), kind)), (error) => expectReason(error, reason))

const reads = (bytes: Uint8Array) => Codec.readRequest(ByteReader.fromChunks([bytes]))

/** A request of `kind` with `payload`, framed as is, whatever the payload holds. */
const framed = (kind: number, payload: Uint8Array) =>
  concat([PREFIX, Uint8Array.of(kind), u32(payload.length), payload])

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
/** Sizes, offsets and times: anything up to 2^53 - 1, the ends made likely. */
const wireNumber = FastCheck.oneof(
  FastCheck.nat({ max: 1000 }),
  FastCheck.maxSafeNat(),
  FastCheck.constant(Number.MAX_SAFE_INTEGER)
)
/** A version a server may announce: 16 bytes, never all zero. */
const version = FastCheck.uint8Array({ minLength: Codec.FILE_VERSION_BYTES, maxLength: Codec.FILE_VERSION_BYTES })
  .filter((bytes) => !Codec.isNoVersion(bytes))
const resume = FastCheck.record({ offset: wireNumber, version })
const get = FastCheck.tuple(name, offer, FastCheck.option(resume, { nil: undefined })).map(([name, digests, resume]) =>
  resume === undefined ? Codec.Request.Get({ name, digests }) : Codec.Request.Get({ name, digests, resume })
)
const lsPath = FastCheck.oneof(FastCheck.constant(""), text(1024))
/** A token: any text of 1 to 256 UTF-8 bytes, the limit made likely. */
const token = FastCheck.oneof(
  text(64).filter((token) => token.length > 0),
  text(64).map((token) => token + "t".repeat(Codec.MAX_TOKEN_BYTES - utf8Length(token))).filter((token) =>
    utf8Length(token) === Codec.MAX_TOKEN_BYTES
  )
)
const request = FastCheck.oneof(
  get,
  FastCheck.constant(Codec.Request.List()),
  FastCheck.constant(Codec.Request.Stats()),
  FastCheck.record({ path: lsPath, recursive: FastCheck.boolean() }).map(Codec.Request.Ls),
  FastCheck.tuple(name, offer).map(([name, digests]) => Codec.Request.Stat({ name, digests })),
  token.map((token) => Codec.Request.Auth({ token }))
)
const chunkSizes = FastCheck.oneof(
  FastCheck.constant([1]),
  FastCheck.array(FastCheck.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 8 })
)
const failureStatus = FastCheck.constantFrom(...failureStatuses)
const segments = FastCheck.array(FastCheck.uint8Array({ minLength: 1, maxLength: 300 }), { maxLength: 12 })
const treeEntry: FastCheck.Arbitrary<Codec.TreeEntry> = FastCheck.record({
  path: text(40),
  type: FastCheck.constantFrom("file" as const, "directory" as const),
  size: wireNumber,
  mtimeMs: wireNumber
})
/** Entries in segments, none empty: an empty segment would be the end marker. */
const treeBatches = FastCheck.array(FastCheck.array(treeEntry, { minLength: 1, maxLength: 8 }), { maxLength: 6 })

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

  const offerOf = (ids: ReadonlyArray<number>) => Uint8Array.of(ids.length, ...ids)
  const knownIds = DIGEST_NAMES.map((digest) => DIGESTS[digest].id)

  it.effect.prop("a GET or a STAT offering any ids reads back with the known ones, in order, each once", {
    ids: FastCheck.array(
      FastCheck.oneof(FastCheck.constantFrom(...knownIds), FastCheck.integer({ min: 0, max: 255 })),
      { minLength: 1, maxLength: Codec.MAX_OFFERED_DIGESTS }
    ),
    name,
    sizes: chunkSizes
  }, ({ ids, name, sizes }) =>
    Effect.gen(function*() {
      const text = new TextEncoder().encode(name)
      const bytes = concat([
        framed(Kind.Get, concat([offerOf(ids), NO_RESUME, text])),
        framed(Kind.Stat, concat([offerOf(ids), text]))
      ])
      const known = ids.flatMap((id) => DIGEST_NAMES.filter((digest) => DIGESTS[digest].id === id))
      const digests = [...new Set(known)]
      const reader = ByteReader.fromChunks(chunked(bytes, sizes))
      expect(yield* Codec.readRequest(reader)).toEqual(Option.some(Codec.Request.Get({ name, digests })))
      expect(yield* Codec.readRequest(reader)).toEqual(Option.some(Codec.Request.Stat({ name, digests })))
      expect(yield* Codec.readRequest(reader)).toEqual(Option.none())
    }))

  it.effect.prop("a GET's offset and version sit between the ids and the name", {
    resume,
    ids: FastCheck.array(FastCheck.constantFrom(...knownIds), { minLength: 1, maxLength: Codec.MAX_OFFERED_DIGESTS })
  }, ({ ids, resume }) =>
    Effect.gen(function*() {
      const digests = [...new Set(ids.map((id) => DIGEST_NAMES.find((digest) => DIGESTS[digest].id === id)!))]
      const bytes = Codec.encodeRequest(Codec.Request.Get({ name: "a.txt", digests, resume }))
      const payload = bytes.subarray(Codec.REQUEST_HEADER_BYTES)
      const at = 1 + digests.length
      expect(hex(payload.subarray(at, at + 8))).toBe(hex(u64(resume.offset)))
      expect(hex(payload.subarray(at + 8, at + 24))).toBe(hex(resume.version))
      expect(hex(payload.subarray(at + 24))).toBe(hex(ascii("a.txt")))
      expect(yield* reads(bytes)).toEqual(Option.some(Codec.Request.Get({ name: "a.txt", digests, resume })))
    }))

  it.effect("a GET without a resume sends offset 0 and no version; with a version, offset 0 is a resume", () =>
    Effect.gen(function*() {
      const whole = Codec.encodeRequest(Codec.Request.Get({ name: "a", digests: ["sha256"] }))
      expect(hex(whole.subarray(Codec.REQUEST_HEADER_BYTES))).toBe("0102" + hex(NO_RESUME) + "61")
      const version = new Uint8Array(16).fill(7)
      const fromZero = Codec.Request.Get({ name: "a", digests: ["sha256"], resume: { offset: 0, version } })
      expect(yield* reads(Codec.encodeRequest(fromZero))).toEqual(Option.some(fromZero))
    }))

  it.effect("a GET offering 16 digests, resuming, with a name of 4096 bytes is at the payload limit, and reads", () =>
    Effect.gen(function*() {
      const longest = "n".repeat(Codec.MAX_NAME_BYTES)
      const resume = { offset: Number.MAX_SAFE_INTEGER, version: new Uint8Array(16).fill(0xff) }
      const payload = concat([
        offerOf([...new Array(15).fill(0x63), 2]),
        u64(resume.offset),
        resume.version,
        ascii(longest)
      ])
      expect(payload.length).toBe(Codec.MAX_PAYLOAD_BYTES)
      expect(Codec.MAX_PAYLOAD_BYTES).toBe(4137)
      expect(yield* reads(framed(Kind.Get, payload))).toEqual(
        Option.some(Codec.Request.Get({ name: longest, digests: ["sha256"], resume }))
      )
    }))

  it.effect("a GET or STAT offering only unknown digests reads, offering none: the server answers it", () =>
    Effect.gen(function*() {
      expect(yield* reads(framed(Kind.Get, concat([offerOf([0, 3, 255, 0]), NO_RESUME, ascii("a.txt")])))).toEqual(
        Option.some(Codec.Request.Get({ name: "a.txt", digests: [] }))
      )
      expect(yield* reads(framed(Kind.Stat, concat([offerOf([9]), ascii("a.txt")])))).toEqual(
        Option.some(Codec.Request.Stat({ name: "a.txt", digests: [] }))
      )
    }))

  it.effect("LS: flag bit 0 is recursive, the path may be empty or 4096 bytes, a trailing / is kept for the server", () =>
    Effect.gen(function*() {
      for (const [flags, recursive] of [[0, false], [1, true]] as const) {
        for (const path of ["", "docs", "docs/", "é/😀", "p".repeat(Codec.MAX_NAME_BYTES)]) {
          const bytes = framed(Kind.Ls, concat([Uint8Array.of(flags), ascii(path)]))
          expect(hex(Codec.encodeRequest(Codec.Request.Ls({ path, recursive })))).toBe(hex(bytes))
          expect(yield* reads(bytes)).toEqual(Option.some(Codec.Request.Ls({ path, recursive })))
        }
      }
    }))

  it.effect("AUTH: the payload is the token, 1 to 256 bytes of UTF-8, kept as sent", () =>
    Effect.gen(function*() {
      for (const token of ["t", "fy_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", "\uFEFFé😀", "t".repeat(256)]) {
        const bytes = framed(Kind.Auth, ascii(token))
        expect(hex(Codec.encodeRequest(Codec.Request.Auth({ token })))).toBe(hex(bytes))
        expect(yield* reads(bytes)).toEqual(Option.some(Codec.Request.Auth({ token })))
      }
    }))

  it.effect("a name starting with a byte order mark keeps it", () =>
    Effect.gen(function*() {
      for (
        const request of [
          Codec.Request.Get({ name: "\uFEFFsecret.txt", digests: DIGEST_NAMES }),
          Codec.Request.Stat({ name: "\uFEFFsecret.txt", digests: DIGEST_NAMES }),
          Codec.Request.Ls({ path: "\uFEFFdir", recursive: false })
        ]
      ) {
        expect(yield* reads(Codec.encodeRequest(request))).toEqual(Option.some(request))
      }
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
    kind: FastCheck.constantFrom(...kinds),
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
    version: FastCheck.oneof(FastCheck.constant(Codec.NO_FILE_VERSION), version),
    sizes: chunkSizes
  }, ({ algorithm, segments, sizes, version }) =>
    Effect.gen(function*() {
      const content = concat(segments)
      const digest = digestOf(algorithm, content)
      // A second response follows on the same connection: the body must be read exactly to its end.
      const bytes = concat([
        encodeFile(segments, Codec.Trailer.Complete({ digest }), { digest: algorithm, version }),
        Codec.encodeFailure(Kind.Get, Status.NotFound, "gone")
      ])
      const reader = ByteReader.fromChunks(chunked(bytes, sizes))
      const { body, response, trailer } = yield* readWhole(reader, Kind.Get)
      expect(response).toEqual(Codec.Response.File({ size: content.length, digest: algorithm, version, start: 0 }))
      expect(body).toEqual(content)
      expect(trailer).toEqual(Codec.Trailer.Complete({ digest }))
      expect((yield* readWhole(reader, Kind.Get)).response).toEqual(
        Codec.Response.Failure({ status: Status.NotFound, message: "gone" })
      )
      expect(yield* reader.atEnd).toBe(true)
    }))

  it.effect.prop("a resumed body carries the bytes from its start; the digest is of the whole file", {
    content: FastCheck.uint8Array({ maxLength: 2000 }),
    cut: FastCheck.nat(),
    pieces: FastCheck.array(FastCheck.integer({ min: 1, max: 500 }), { minLength: 1, maxLength: 4 }),
    algorithm: digest,
    version,
    sizes: chunkSizes
  }, ({ algorithm, content, cut, pieces, sizes, version }) =>
    Effect.gen(function*() {
      const start = cut % (content.length + 1)
      const held = content.subarray(0, start)
      const rest = chunked(content.subarray(start), pieces)
      const digest = digestOf(algorithm, content)
      const bytes = encodeFile(rest, Codec.Trailer.Complete({ digest }), { digest: algorithm, version, start })
      expect(bytes.length).toBe(Codec.FILE_HEAD_BYTES + 4 * rest.length + content.length - start + 5 + digest.length)
      const reader = ByteReader.fromChunks(chunked(bytes, sizes))
      const { body, response, trailer } = yield* readWhole(reader, Kind.Get)
      expect(response).toEqual(Codec.Response.File({ size: content.length, digest: algorithm, version, start }))
      expect(body).toEqual(content.subarray(start))
      // What the client does: the bytes it held first, then those received.
      expect(trailer).toEqual(Codec.Trailer.Complete({ digest: digestOf(algorithm, held, body!) }))
      expect(yield* reader.atEnd).toBe(true)
    }))

  it.effect("the file head is 39 bytes: size, digest id, version, start", () =>
    Effect.sync(() => {
      expect(Codec.FILE_HEAD_BYTES).toBe(39)
      const version = Uint8Array.from({ length: 16 }, (_, i) => i + 1)
      const head = Codec.encodeFileHead(2 ** 40 + 5, "sha256", { version, start: 2 ** 33 + 1 })
      expect(hex(head)).toBe("465259020001" + hex(u64(2 ** 40 + 5)) + "02" + hex(version) + hex(u64(2 ** 33 + 1)))
      expect(hex(Codec.encodeFileHead(0, "xxh3-128"))).toBe("465259020001" + hex(u64(0)) + "01" + "00".repeat(24))
    }))

  it.effect.prop("an aborted body hands back what was sent and returns the failure", {
    segments,
    missing: FastCheck.nat({ max: 1000 }),
    start: FastCheck.nat({ max: 1000 }),
    status: failureStatus,
    message: text(700),
    algorithm: digest,
    sizes: chunkSizes
  }, ({ algorithm, message, missing, segments, sizes, start, status }) =>
    Effect.gen(function*() {
      const content = concat(segments)
      const aborted = Codec.Trailer.Aborted({ status, message })
      const size = start + content.length + missing
      const bytes = encodeFile(segments, aborted, { size, digest: algorithm, start })
      const reader = ByteReader.fromChunks(chunked(bytes, sizes))
      const { body, trailer } = yield* readWhole(reader, Kind.Get)
      expect(body).toEqual(content)
      expect(trailer).toEqual(
        Codec.Trailer.Aborted({ status, message: cutToBytes(message, Codec.MAX_MESSAGE_BYTES) })
      )
      expect(yield* reader.atEnd).toBe(true)
    }))

  it.effect("an empty file, and a resume at the very end, are a head and a trailer, with the whole digest", () =>
    Effect.gen(function*() {
      for (const algorithm of DIGEST_NAMES) {
        const digest = digestOf(algorithm, new Uint8Array(0))
        const bytes = encodeFile([], Codec.Trailer.Complete({ digest }), { digest: algorithm })
        expect(bytes.length).toBe(Codec.FILE_HEAD_BYTES + 5 + DIGESTS[algorithm].bytes)
        const { body, response, trailer } = yield* readWhole(ByteReader.fromChunks([bytes]), Kind.Get)
        expect(response).toEqual(
          Codec.Response.File({ size: 0, digest: algorithm, version: Codec.NO_FILE_VERSION, start: 0 })
        )
        expect(body).toEqual(new Uint8Array(0))
        expect(trailer).toEqual(Codec.Trailer.Complete({ digest }))

        const whole = digestOf(algorithm, ascii("hello"))
        const version = new Uint8Array(16).fill(1)
        const atEnd = encodeFile([], Codec.Trailer.Complete({ digest: whole }), {
          digest: algorithm,
          version,
          start: 5
        })
        const resumed = yield* readWhole(ByteReader.fromChunks([atEnd]), Kind.Get)
        expect(resumed.response).toEqual(Codec.Response.File({ size: 5, digest: algorithm, version, start: 5 }))
        expect(resumed.body).toEqual(new Uint8Array(0))
        expect(resumed.trailer).toEqual(Codec.Trailer.Complete({ digest: whole }))
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

describe("trees (LS)", () => {
  it.effect.prop("entries split across segments come back a segment at a time, in order, then the ending", {
    batches: treeBatches,
    ending: FastCheck.option(FastCheck.tuple(failureStatus, text(700)), { nil: undefined }),
    sizes: chunkSizes
  }, ({ batches, ending, sizes }) =>
    Effect.gen(function*() {
      const aborted = ending === undefined
        ? undefined
        : Codec.Trailer.Aborted({ status: ending[0], message: ending[1] })
      // A second response follows on the same connection: the tree must be read exactly to its end.
      const bytes = concat([encodeTree(batches, aborted), Codec.encodeFailure(Kind.Ls, Status.NotFound, "gone")])
      const reader = ByteReader.fromChunks(chunked(bytes, sizes))
      const tree = yield* readWhole(reader, Kind.Ls)
      expect(tree.response).toEqual(Codec.Response.Tree())
      expect(tree.batches).toEqual(batches)
      expect(tree.trailer).toEqual(
        ending === undefined
          ? { _tag: "Complete" }
          : Codec.Trailer.Aborted({ status: ending[0], message: cutToBytes(ending[1], Codec.MAX_MESSAGE_BYTES) })
      )
      expect((yield* readWhole(reader, Kind.Ls)).response).toEqual(
        Codec.Response.Failure({ status: Status.NotFound, message: "gone" })
      )
      expect(yield* reader.atEnd).toBe(true)
    }))

  it.effect("a segment and its entries, byte by byte; an empty tree is the head and the end", () =>
    Effect.sync(() => {
      const entries: ReadonlyArray<Codec.TreeEntry> = [
        { path: "d", type: "directory", size: 0, mtimeMs: 2 ** 41 },
        { path: "d/é", type: "file", size: Number.MAX_SAFE_INTEGER, mtimeMs: 0 }
      ]
      expect(hex(Codec.encodeEntries(entries))).toBe(
        hex(u32(19 + 1 + 19 + 4)) +
          "02" + hex(u64(0)) + hex(u64(2 ** 41)) + "0001" + "64" +
          "01" + "001fffffffffffff" + hex(u64(0)) + "0004" + "642fc3a9"
      )
      expect(hex(encodeTree([]))).toBe("465259020004" + "00000000" + "00")
      expect(hex(Codec.encodeTrailer(Codec.Trailer.Aborted({ status: Status.InternalError, message: "x" })))).toBe(
        "00000000" + "06" + "0001" + "78"
      )
    }))

  it.effect("an aborted ending after entries: the entries sent are handed over, then the failure", () =>
    Effect.gen(function*() {
      const sent: Array<Codec.TreeEntry> = [{ path: "a", type: "file", size: 1, mtimeMs: 1 }]
      const aborted = Codec.Trailer.Aborted({ status: Status.InternalError, message: "cannot read directory: d" })
      const { batches, trailer } = yield* readWhole(ByteReader.fromChunks([encodeTree([sent], aborted)]), Kind.Ls)
      expect(batches).toEqual([sent])
      expect(trailer).toEqual(aborted)
    }))

  it.effect("a segment of exactly 1 MiB reads; one byte more is TooLarge, without its bytes being read", () =>
    Effect.gen(function*() {
      expect(Codec.MAX_ENTRIES_SEGMENT_BYTES).toBe(1024 * 1024)
      const filling = Array.from({ length: 256 }, (_, i): Codec.TreeEntry => ({
        path: String(i).padEnd(4096 - 19, "x"),
        type: "file",
        size: i,
        mtimeMs: i
      }))
      const segment = Codec.encodeEntries(filling)
      expect(segment.length).toBe(4 + Codec.MAX_ENTRIES_SEGMENT_BYTES)
      expect((yield* readWhole(ByteReader.fromChunks([encodeTree([filling])]), Kind.Ls)).batches).toEqual([filling])

      const { pulled, reader } = countingReader([
        concat([Codec.encodeTreeHead(), u32(Codec.MAX_ENTRIES_SEGMENT_BYTES + 1)]),
        new Uint8Array(Codec.MAX_ENTRIES_SEGMENT_BYTES + 1)
      ])
      expect(yield* Codec.readResponse(reader, Kind.Ls)).toEqual(Codec.Response.Tree())
      expectReason(yield* Effect.flip(Codec.readTree(reader, () => Effect.void)), "TooLarge")
      expect(pulled()).toBe(1)
    }))

  it.effect("malformed entries and endings", () =>
    Effect.gen(function*() {
      const u8 = (value: number) => Uint8Array.of(value)
      const tree = (...segments: ReadonlyArray<Uint8Array>) =>
        concat([
          Codec.encodeTreeHead(),
          ...segments.flatMap((segment) => [u32(segment.length), segment]),
          u32(0),
          u8(0)
        ])
      const entry = (type: number, path: Uint8Array, size = 1, mtimeMs = 1) =>
        concat([u8(type), u64(size), u64(mtimeMs), u16(path.length), path])
      const good = entry(1, ascii("a"))
      expect((yield* readWhole(ByteReader.fromChunks([tree(good)]), Kind.Ls)).batches).toHaveLength(1)
      // Types other than file and directory.
      for (const type of [0, 3, 255]) yield* rejectsResponse(tree(entry(type, ascii("a"))), Kind.Ls, "Malformed")
      // An entry cut short by its segment's end, before or inside its path; entries never span segments.
      yield* rejectsResponse(tree(good.subarray(0, 18)), Kind.Ls, "Malformed")
      yield* rejectsResponse(tree(concat([good, good.subarray(0, 10)])), Kind.Ls, "Malformed")
      yield* rejectsResponse(tree(entry(1, ascii("abc")).subarray(0, 21)), Kind.Ls, "Malformed")
      yield* rejectsResponse(tree(good.subarray(0, 10), good.subarray(10)), Kind.Ls, "Malformed")
      // Numbers beyond 2^53 - 1, and a path that is not UTF-8.
      yield* rejectsResponse(tree(entry(1, ascii("a"), 2 ** 53)), Kind.Ls, "Malformed")
      yield* rejectsResponse(tree(entry(2, ascii("a"), 0, 2 ** 53)), Kind.Ls, "Malformed")
      yield* rejectsResponse(tree(entry(1, Uint8Array.of(0xc3, 0x28))), Kind.Ls, "Malformed")
      // Endings: an unknown status, and a message over the limit.
      for (const status of [12, 128, 255]) {
        const ending = concat([Codec.encodeTreeHead(), u32(0), u8(status), u16(0)])
        yield* rejectsResponse(ending, Kind.Ls, "Malformed")
      }
      const long = concat([Codec.encodeTreeHead(), u32(0), u8(Status.InternalError), u16(1025), new Uint8Array(1025)])
      yield* rejectsResponse(long, Kind.Ls, "TooLarge")
    }))
})

describe("file facts (STAT)", () => {
  const facts = digest.chain((algorithm) =>
    FastCheck.record({
      size: wireNumber,
      mtimeMs: wireNumber,
      version,
      digest: FastCheck.constant(algorithm),
      value: FastCheck.uint8Array({ minLength: DIGESTS[algorithm].bytes, maxLength: DIGESTS[algorithm].bytes })
    })
  )

  it.effect.prop(
    "any facts read back whole",
    { facts, sizes: chunkSizes },
    ({ facts, sizes }) =>
      Effect.gen(function*() {
        const bytes = Codec.encodeFileFacts(facts)
        expect(bytes.length).toBe(39 + DIGESTS[facts.digest].bytes)
        expect(hex(bytes)).toBe(
          "465259020005" + hex(u64(facts.size)) + hex(u64(facts.mtimeMs)) + hex(facts.version) +
            hex(Uint8Array.of(DIGESTS[facts.digest].id)) + hex(facts.value)
        )
        const reader = ByteReader.fromChunks(chunked(bytes, sizes))
        expect((yield* readWhole(reader, Kind.Stat)).response).toEqual(Codec.Response.Facts({ facts }))
        expect(yield* reader.atEnd).toBe(true)
      })
  )

  it.effect("malformed facts", () =>
    Effect.gen(function*() {
      const factsOf = (size: number, mtimeMs: number, id: number) =>
        concat([
          PREFIX,
          Uint8Array.of(Status.Ok, Kind.Stat),
          u64(size),
          u64(mtimeMs),
          new Uint8Array(16),
          Uint8Array.of(id),
          new Uint8Array(32)
        ])
      yield* rejectsResponse(factsOf(2 ** 53, 0, 1), Kind.Stat, "Malformed")
      yield* rejectsResponse(factsOf(0, 2 ** 53, 1), Kind.Stat, "Malformed")
      for (const id of [0, 3, 255]) yield* rejectsResponse(factsOf(0, 0, id), Kind.Stat, "Malformed")
    }))
})

describe("rejections", () => {
  const getPayload = (rest: Uint8Array) => framed(Kind.Get, concat([Uint8Array.of(1, 1), rest]))

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
      expect(over).toBe(4138)
      for (const [kind, length] of [...kinds.map((kind) => [kind, over] as const), [Kind.Get, 0xffffffff] as const]) {
        const { pulled, reader } = countingReader([
          concat([PREFIX, Uint8Array.of(kind), u32(length)]),
          new Uint8Array(over)
        ])
        expectReason(yield* Effect.flip(Codec.readRequest(reader)), "TooLarge")
        expect(pulled()).toBe(1)
      }
      const name = (length: number) => new Uint8Array(length).fill(0x61)
      expect(yield* reads(getPayload(concat([NO_RESUME, name(4096)])))).toEqual(
        Option.some(Codec.Request.Get({ name: "a".repeat(4096), digests: ["xxh3-128"] }))
      )
      // Within the payload's limit, over the name's (or the path's): read, then refused.
      yield* rejectsRequest(getPayload(concat([NO_RESUME, name(4097)])), "TooLarge")
      yield* rejectsRequest(getPayload(concat([NO_RESUME, name(Codec.MAX_PAYLOAD_BYTES - 26)])), "TooLarge")
      yield* rejectsRequest(framed(Kind.Stat, concat([Uint8Array.of(1, 1), name(4097)])), "TooLarge")
      yield* rejectsRequest(framed(Kind.Ls, concat([Uint8Array.of(0), name(4097)])), "TooLarge")
    }))

  it.effect("malformed requests", () =>
    Effect.gen(function*() {
      for (const kind of [Kind.Get, Kind.Stat]) {
        const rest = kind === Kind.Get ? NO_RESUME : new Uint8Array(0)
        const request = (ids: Uint8Array, name: Uint8Array) => framed(kind, concat([ids, rest, name]))
        yield* rejectsRequest(framed(kind, new Uint8Array(0)), "Malformed")
        // No digest offered, more than 16, and offers that leave no name.
        yield* rejectsRequest(request(Uint8Array.of(0), ascii("a.txt")), "Malformed")
        yield* rejectsRequest(request(Uint8Array.of(17, ...new Array(17).fill(1)), ascii("a")), "Malformed")
        yield* rejectsRequest(request(Uint8Array.of(1, 1), new Uint8Array(0)), "Malformed")
        yield* rejectsRequest(framed(kind, Uint8Array.of(3, 1, 2)), "Malformed")
        // A stray continuation byte, a cut sequence, an overlong "/", an encoded surrogate, past U+10FFFF.
        for (const bad of [[0x80], [0x61, 0xc3], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xff]]) {
          yield* rejectsRequest(request(Uint8Array.of(1, 1), Uint8Array.from(bad)), "Malformed")
        }
      }
      yield* rejectsRequest(framed(Kind.List, ascii("x")), "Malformed")
      yield* rejectsRequest(framed(Kind.Stats, ascii("x")), "Malformed")
      for (const kind of [0, 7, 255]) yield* rejectsRequest(framed(kind, new Uint8Array(0)), "Malformed")
    }))

  it.effect("a GET's offset and version: cut short, an offset without a version, an offset over 2^53 - 1", () =>
    Effect.gen(function*() {
      const version = new Uint8Array(16).fill(9)
      // The offset and version missing, or cut short: nothing of the name can be found.
      yield* rejectsRequest(getPayload(new Uint8Array(0)), "Malformed")
      yield* rejectsRequest(getPayload(new Uint8Array(23)), "Malformed")
      yield* rejectsRequest(getPayload(concat([u64(0), version.subarray(0, 8), ascii("a")])), "Malformed")
      // Both there, and no name.
      yield* rejectsRequest(getPayload(concat([u64(5), version])), "Malformed")
      // An offset without a version: the client holds bytes of nothing it can name.
      for (const offset of [1, 2 ** 40, Number.MAX_SAFE_INTEGER]) {
        yield* rejectsRequest(getPayload(concat([u64(offset), Codec.NO_FILE_VERSION, ascii("a")])), "Malformed")
      }
      // 2^53 and beyond, whatever the version.
      for (const high of [0x0020_0000, 0xffff_ffff]) {
        const offset = concat([u32(high), u32(0)])
        yield* rejectsRequest(getPayload(concat([offset, version, ascii("a")])), "Malformed")
        yield* rejectsRequest(getPayload(concat([offset, Codec.NO_FILE_VERSION, ascii("a")])), "Malformed")
      }
      expect(yield* reads(getPayload(concat([u64(Number.MAX_SAFE_INTEGER), version, ascii("a")])))).toEqual(
        Option.some(Codec.Request.Get({
          name: "a",
          digests: ["xxh3-128"],
          resume: { offset: Number.MAX_SAFE_INTEGER, version }
        }))
      )
    }))

  it.effect("AUTH: no token, a token over 256 bytes (its payload unread), a token that is not UTF-8", () =>
    Effect.gen(function*() {
      yield* rejectsRequest(framed(Kind.Auth, new Uint8Array(0)), "Malformed")
      for (const length of [257, Codec.MAX_PAYLOAD_BYTES]) {
        const { pulled, reader } = countingReader([
          concat([PREFIX, Uint8Array.of(Kind.Auth), u32(length)]),
          new Uint8Array(length).fill(0x74)
        ])
        expectReason(yield* Effect.flip(Codec.readRequest(reader)), "TooLarge")
        expect(pulled()).toBe(1)
      }
      for (const bad of [[0x80], [0x61, 0xc3], [0xed, 0xa0, 0x80]]) {
        yield* rejectsRequest(framed(Kind.Auth, Uint8Array.from(bad)), "Malformed")
      }
    }))

  it.effect("LS: no flags, unknown flags, a path that is not UTF-8", () =>
    Effect.gen(function*() {
      yield* rejectsRequest(framed(Kind.Ls, new Uint8Array(0)), "Malformed")
      for (const flags of [2, 3, 4, 8, 16, 32, 64, 128, 255]) {
        yield* rejectsRequest(framed(Kind.Ls, Uint8Array.of(flags)), "Malformed")
        yield* rejectsRequest(framed(Kind.Ls, concat([Uint8Array.of(flags), ascii("docs")])), "Malformed")
      }
      yield* rejectsRequest(framed(Kind.Ls, Uint8Array.of(1, 0x64, 0xc3)), "Malformed")
      yield* rejectsRequest(framed(Kind.Ls, Uint8Array.of(0, 0xed, 0xa0, 0x80)), "Malformed")
    }))

  it.effect("a request cut at any byte is Truncated", () =>
    Effect.gen(function*() {
      const version = new Uint8Array(16).fill(3)
      for (
        const request of [
          Codec.Request.Get({ name: "dir/é.txt", digests: DIGEST_NAMES }),
          Codec.Request.Get({ name: "dir/é.txt", digests: DIGEST_NAMES, resume: { offset: 2 ** 40, version } }),
          Codec.Request.List(),
          Codec.Request.Ls({ path: "dir/é", recursive: true }),
          Codec.Request.Ls({ path: "", recursive: false }),
          Codec.Request.Stat({ name: "dir/é.txt", digests: ["sha256"] }),
          Codec.Request.Auth({ token: "fy_é" })
        ]
      ) {
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
          { digest: algorithm }
        )
      const version = new Uint8Array(16).fill(0xab)
      const responses: ReadonlyArray<readonly [Codec.Kind, Uint8Array]> = [
        [Kind.Get, Codec.encodeFailure(Kind.Get, Status.NotFound, "no such file: é")],
        [Kind.Get, complete("xxh3-128")],
        [Kind.Get, complete("sha256")],
        [
          Kind.Get,
          encodeFile([ascii("world")], Codec.Trailer.Complete({ digest: digestOf("sha256", ascii("hello world")) }), {
            digest: "sha256",
            version,
            start: 6
          })
        ],
        [
          Kind.Get,
          encodeFile([ascii("hel")], Codec.Trailer.Aborted({ status: Status.InternalError, message: "é" }), {
            size: 11
          })
        ],
        [Kind.List, Codec.encodeListing([{ name: "a", size: 1 }, { name: "bé", size: 2 ** 40 }])],
        [Kind.List, Codec.encodeFailure(0, Status.Busy, "busy")],
        [Kind.Auth, Codec.encodeAuthenticated()],
        [Kind.Auth, Codec.encodeFailure(Kind.Auth, Status.Unauthorized, "unknown token")],
        [
          Kind.Ls,
          encodeTree([[{ path: "a", type: "file", size: 1, mtimeMs: 2 }], [
            { path: "d", type: "directory", size: 0, mtimeMs: 3 }
          ]])
        ],
        [
          Kind.Ls,
          encodeTree(
            [[{ path: "é", type: "file", size: 1, mtimeMs: 2 }]],
            Codec.Trailer.Aborted({ status: Status.InternalError, message: "é" })
          )
        ],
        [Kind.Ls, Codec.encodeFailure(Kind.Ls, Status.ListingDisabled, "listing is turned off")],
        [
          Kind.Stat,
          Codec.encodeFileFacts({
            size: 2,
            mtimeMs: 3,
            version,
            digest: "sha256",
            value: digestOf("sha256", ascii("hi"))
          })
        ]
      ]
      for (const [kind, bytes] of responses) {
        for (let cut = 0; cut < bytes.length; cut++) {
          yield* rejectsResponse(bytes.subarray(0, cut), kind, "Truncated")
        }
      }
    }))

  it.effect("a body that does not match its announced size and start", () =>
    Effect.gen(function*() {
      const complete = Codec.Trailer.Complete({ digest: digestOf("xxh3-128", ascii("abcd")) })
      let delivered = 0
      const longer = encodeFile([ascii("ab"), ascii("cd")], complete, { size: 3 })
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
      yield* rejectsResponse(encodeFile([ascii("abcd")], complete, { size: 3 }), Kind.Get, "Malformed")
      yield* rejectsResponse(encodeFile([ascii("ab")], complete, { size: 4 }), Kind.Get, "Malformed")
      yield* rejectsResponse(encodeFile([], complete, { size: 4 }), Kind.Get, "Malformed")
      // Resumed at 2 of 4: exactly 2 bytes may follow.
      yield* rejectsResponse(encodeFile([ascii("cde")], complete, { size: 4, start: 2 }), Kind.Get, "Malformed")
      yield* rejectsResponse(encodeFile([ascii("c")], complete, { size: 4, start: 2 }), Kind.Get, "Malformed")
      yield* rejectsResponse(encodeFile([ascii("abcd")], complete, { size: 4, start: 2 }), Kind.Get, "Malformed")
    }))

  it.effect("a segment over the limit is TooLarge, without its bytes being read", () =>
    Effect.gen(function*() {
      const { pulled, reader } = countingReader([
        concat([Codec.encodeFileHead(2 ** 30, "sha256"), u32(Codec.MAX_SEGMENT_BYTES + 1)]),
        new Uint8Array(1)
      ])
      const response = yield* Codec.readResponse(reader, Kind.Get)
      expect(response).toEqual(
        Codec.Response.File({ size: 2 ** 30, digest: "sha256", version: Codec.NO_FILE_VERSION, start: 0 })
      )
      expectReason(
        yield* Effect.flip(Codec.readBody(reader, { size: 2 ** 30, digest: "sha256", start: 0 }, () => Effect.void)),
        "TooLarge"
      )
      expect(pulled()).toBe(1)
    }))

  it.effect("unknown statuses, in a response or a trailer", () =>
    Effect.gen(function*() {
      for (const status of [12, 128, 255]) {
        for (const kind of kinds) {
          yield* rejectsResponse(concat([PREFIX, Uint8Array.of(status, kind), u16(0)]), kind, "Malformed")
        }
        const file = encodeFile([ascii("x")], Codec.Trailer.Complete({ digest: digestOf("xxh3-128", ascii("x")) }))
        file[Codec.FILE_HEAD_BYTES + 4 + 1 + 4] = status
        yield* rejectsResponse(file, Kind.Get, "Malformed")
      }
    }))

  it.effect("responses for another kind of request", () =>
    Effect.gen(function*() {
      yield* rejectsResponse(Codec.encodeFailure(Kind.List, Status.NotFound, ""), Kind.Get, "Malformed")
      yield* rejectsResponse(Codec.encodeFailure(3, Status.Busy, ""), Kind.List, "Malformed")
      yield* rejectsResponse(Codec.encodeFailure(Kind.Ls, Status.ListingDisabled, ""), Kind.Stat, "Malformed")
      yield* rejectsResponse(Codec.encodeListing([]), Kind.Get, "Malformed")
      yield* rejectsResponse(Codec.encodeFileHead(0, "xxh3-128"), Kind.List, "Malformed")
      yield* rejectsResponse(Codec.encodeFileHead(0, "xxh3-128"), Kind.Stat, "Malformed")
      yield* rejectsResponse(encodeTree([]), Kind.Get, "Malformed")
      const facts: Codec.FileFacts = {
        size: 0,
        mtimeMs: 0,
        version: new Uint8Array(16).fill(1),
        digest: "xxh3-128",
        value: new Uint8Array(16)
      }
      yield* rejectsResponse(Codec.encodeFileFacts(facts), Kind.Ls, "Malformed")
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
      const fileHead = (size: number, id: number, start = 0) =>
        concat([
          PREFIX,
          Uint8Array.of(Status.Ok, Kind.Get),
          u64(size),
          Uint8Array.of(id),
          new Uint8Array(16),
          u64(start)
        ])
      const emptyBody = concat([u32(0), Uint8Array.of(0), new Uint8Array(32)])
      yield* rejectsResponse(fileHead(2 ** 53, 1), Kind.Get, "Malformed")
      // A digest this side does not know, and so could not have offered.
      for (const id of [0, 3, 255]) {
        yield* rejectsResponse(concat([fileHead(0, id), emptyBody]), Kind.Get, "Malformed")
      }
      // A body that would start past the end of the file.
      yield* rejectsResponse(concat([fileHead(4, 2, 5), emptyBody]), Kind.Get, "Malformed")
      yield* rejectsResponse(concat([fileHead(0, 2, 2 ** 53), emptyBody]), Kind.Get, "Malformed")
      const failure = (length: number, message: Uint8Array) =>
        concat([PREFIX, Uint8Array.of(Status.NotFound, Kind.Get), u16(length), message])
      yield* rejectsResponse(failure(1025, new Uint8Array(1025).fill(0x61)), Kind.Get, "TooLarge")
      yield* rejectsResponse(failure(2, Uint8Array.of(0xc3, 0x28)), Kind.Get, "Malformed")
    }))
})

describe("the worked examples of docs/PROTOCOL.md, section 12", () => {
  /** Each example's code blocks, by its number ("12.1"): the bytes of each line, up to its comment. */
  const documented = (): Map<string, Array<Uint8Array>> => {
    const document = readFileSync(new URL("../../docs/PROTOCOL.md", import.meta.url), "utf8")
    const examples = new Map<string, Array<Uint8Array>>()
    for (const section of document.slice(document.indexOf("## 12. Worked examples")).split(/^### /m).slice(1)) {
      const number = section.slice(0, section.indexOf(" "))
      const blocks = Array.from(section.matchAll(/^```\n([\s\S]*?)^```$/gm), ([, block]) => {
        const lines = block!.split("\n").map((line) => line.split("  ")[0]!.trim()).filter((line) => line !== "")
        for (const line of lines) expect(line, `a line of bytes in ${number}`).toMatch(/^[0-9a-f]{2}( [0-9a-f]{2})*$/)
        return unhex(lines.join("").replaceAll(" ", ""))
      })
      examples.set(number, blocks)
    }
    return examples
  }

  // The files of the examples, as the reference server sees them.
  const modified = 1_767_225_600_000 // 2026-01-01T00:00:00Z
  const info = (name: string, ino: bigint, size: number, mtimeMs = modified) => ({
    name,
    size,
    mtimeNs: BigInt(mtimeMs) * 1_000_000n,
    dev: 2049n,
    ino
  })
  // Copied out of the Buffer the server holds, to compare with what the codec reads.
  const versionOf = (...args: Parameters<typeof info>) => Uint8Array.from(fileVersion(info(...args)))
  const versionA = versionOf("a.txt", 131074n, 2)
  const versionB = versionOf("b.txt", 131075n, 11)
  const versionChanged = versionOf("b.txt", 131075n, 12, modified + 3_600_000)
  const hi = ascii("hi")
  const notKnown = framed(Kind.Get, concat([Uint8Array.of(2, 7, 9), NO_RESUME, ascii("a.txt")]))
  const version1 = concat([ascii("FRY\x01"), Uint8Array.of(Kind.Get), u32(5), ascii("a.txt")])
  const version1Refused = Effect.runSync(Effect.flip(reads(version1)))
  const resumeB = Codec.Request.Get({ name: "b.txt", digests: ["xxh3-128"], resume: { offset: 6, version: versionB } })
  const tree: ReadonlyArray<Codec.TreeEntry> = [
    { path: "a.txt", type: "file", size: 2, mtimeMs: modified },
    { path: "docs", type: "directory", size: 0, mtimeMs: modified },
    { path: "docs/b.txt", type: "file", size: 11, mtimeMs: modified }
  ]
  const exampleToken = "fy_" + Buffer.from(Array.from({ length: 32 }, (_, i) => i)).toString("base64url")
  const factsA: Codec.FileFacts = {
    size: 2,
    mtimeMs: modified,
    version: versionA,
    digest: "xxh3-128",
    value: digestOf("xxh3-128", hi)
  }

  const expected: Record<string, ReadonlyArray<Uint8Array>> = {
    "12.1": [
      Codec.encodeRequest(Codec.Request.Get({ name: "a.txt", digests: ["xxh3-128", "sha256"] })),
      encodeFile([hi], Codec.Trailer.Complete({ digest: digestOf("xxh3-128", hi) }), { version: versionA })
    ],
    "12.2": [
      Codec.encodeRequest(Codec.Request.Get({ name: "a.txt", digests: ["sha256"] })),
      encodeFile([hi], Codec.Trailer.Complete({ digest: digestOf("sha256", hi) }), {
        digest: "sha256",
        version: versionA
      })
    ],
    "12.3": [Codec.encodeFailure(Kind.Get, Status.NotFound, "no such file: a.txt")],
    "12.4": [notKnown, Codec.encodeFailure(Kind.Get, Status.UnsupportedDigest, "digests supported: xxh3-128, sha256")],
    "12.5": [Codec.encodeRequest(Codec.Request.List()), Codec.encodeListing([{ name: "a.txt", size: 2 }])],
    "12.6": [version1, Codec.encodeFailure(0, Status.UnsupportedVersion, version1Refused.message)],
    "12.7": [
      Codec.encodeRequest(resumeB),
      encodeFile([ascii("world")], Codec.Trailer.Complete({ digest: digestOf("xxh3-128", ascii("hello world")) }), {
        version: versionB,
        start: 6
      })
    ],
    "12.8": [
      encodeFile(
        [ascii("hello, world")],
        Codec.Trailer.Complete({ digest: digestOf("xxh3-128", ascii("hello, world")) }),
        {
          version: versionChanged
        }
      )
    ],
    "12.9": [
      Codec.encodeRequest(Codec.Request.Ls({ path: "", recursive: true })),
      encodeTree([tree]),
      Codec.encodeFailure(Kind.Ls, Status.ListingDisabled, "listing is turned off")
    ],
    "12.10": [
      Codec.encodeRequest(Codec.Request.Stat({ name: "a.txt", digests: ["xxh3-128"] })),
      Codec.encodeFileFacts(factsA)
    ],
    "12.11": [
      Codec.encodeRequest(Codec.Request.Auth({ token: exampleToken })),
      Codec.encodeAuthenticated(),
      Codec.encodeFailure(Kind.Get, Status.Unauthorized, REFUSALS.outside),
      Codec.encodeFailure(Kind.Auth, Status.Unauthorized, REFUSALS.unknown)
    ]
  }

  it.effect("each example's bytes are the codec's, byte for byte", () =>
    Effect.sync(() => {
      const examples = documented()
      expect([...examples.keys()]).toEqual(Object.keys(expected))
      for (const [number, blocks] of examples) {
        expect(blocks.map(hex), `example ${number}`).toEqual(expected[number]!.map(hex))
      }
    }))

  it.effect("the examples' digests and sizes are those the text states", () =>
    Effect.sync(() => {
      expect(hex(digestOf("xxh3-128", hi))).toBe("7d596ce5fcabaf622a2300bbd7ea6e9a")
      expect(hex(digestOf("sha256", hi))).toBe("8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4")
      expect(hex(digestOf("xxh3-128", ascii("hello "), ascii("world")))).toBe("df8d09e93f874900a99b8775cc15b6c7")
      const lengths = Object.fromEntries(
        Object.entries(expected).map(([number, blocks]) => [number, blocks.map((b) => b.length)])
      )
      expect(lengths).toEqual({
        "12.1": [41, 66],
        "12.2": [40, 82],
        "12.3": [27],
        "12.4": [41, 43],
        "12.5": [9, 33],
        "12.6": [14, 72],
        "12.7": [40, 69],
        "12.8": [76],
        "12.9": [10, 91, 29],
        "12.10": [16, 55],
        "12.11": [55, 6, 33, 21]
      })
    }))

  it.effect("the examples read back as the text says", () =>
    Effect.gen(function*() {
      const examples = documented()
      const block = (number: string, i: number) => examples.get(number)![i]!
      const response = (number: string, i: number, kind: Codec.Kind) =>
        readWhole(ByteReader.fromChunks([block(number, i)]), kind)

      expect(yield* reads(block("12.1", 0))).toEqual(
        Option.some(Codec.Request.Get({ name: "a.txt", digests: ["xxh3-128", "sha256"] }))
      )
      expect(yield* reads(block("12.4", 0))).toEqual(Option.some(Codec.Request.Get({ name: "a.txt", digests: [] })))
      expect(version1Refused).toMatchObject({ reason: "UnsupportedVersion", version: 1 })

      // 12.7: the rest of the file, and the digest over what was held and what came.
      expect(yield* reads(block("12.7", 0))).toEqual(Option.some(resumeB))
      const resumed = yield* response("12.7", 1, Kind.Get)
      expect(resumed.response).toEqual(
        Codec.Response.File({ size: 11, digest: "xxh3-128", version: versionB, start: 6 })
      )
      expect(resumed.body).toEqual(ascii("world"))
      expect(resumed.trailer).toEqual(
        Codec.Trailer.Complete({ digest: digestOf("xxh3-128", ascii("hello "), resumed.body!) })
      )
      // 12.8: the whole file, under another version.
      const restarted = yield* response("12.8", 0, Kind.Get)
      expect(restarted.response).toEqual(
        Codec.Response.File({ size: 12, digest: "xxh3-128", version: versionChanged, start: 0 })
      )
      expect(versionChanged).not.toEqual(versionB)
      expect(restarted.trailer).toEqual(Codec.Trailer.Complete({ digest: digestOf("xxh3-128", restarted.body!) }))

      expect(yield* reads(block("12.9", 0))).toEqual(Option.some(Codec.Request.Ls({ path: "", recursive: true })))
      const listed = yield* response("12.9", 1, Kind.Ls)
      expect(listed.batches).toEqual([tree])
      expect(listed.trailer).toEqual({ _tag: "Complete" })
      expect((yield* response("12.9", 2, Kind.Ls)).response).toEqual(
        Codec.Response.Failure({ status: Status.ListingDisabled, message: "listing is turned off" })
      )

      expect(yield* reads(block("12.10", 0))).toEqual(
        Option.some(Codec.Request.Stat({ name: "a.txt", digests: ["xxh3-128"] }))
      )
      expect((yield* response("12.10", 1, Kind.Stat)).response).toEqual(Codec.Response.Facts({ facts: factsA }))

      expect(exampleToken).toBe("fy_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8")
      expect(yield* reads(block("12.11", 0))).toEqual(Option.some(Codec.Request.Auth({ token: exampleToken })))
      expect((yield* response("12.11", 1, Kind.Auth)).response).toEqual(Codec.Response.Authenticated())
      expect((yield* response("12.11", 2, Kind.Get)).response).toEqual(
        Codec.Response.Failure({ status: Status.Unauthorized, message: "outside the token's paths" })
      )
      expect((yield* response("12.11", 3, Kind.Auth)).response).toEqual(
        Codec.Response.Failure({ status: Status.Unauthorized, message: "unknown token" })
      )
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
    FastCheck.tuple(segments, failureStatus, shortText, digest, FastCheck.nat({ max: 5 })).chain((
      [segments, status, message, algorithm, start]
    ) =>
      FastCheck.constantFrom(
        encodeFile(
          segments,
          Codec.Trailer.Complete({ digest: digestOf(algorithm, concat(segments)) }),
          { digest: algorithm, start }
        ),
        encodeFile(segments, Codec.Trailer.Aborted({ status, message }), { digest: algorithm })
      )
    ),
    FastCheck.array(FastCheck.record({ name: text(5), size: FastCheck.nat() }), { maxLength: 3 }).map(
      Codec.encodeListing
    ),
    FastCheck.tuple(treeBatches, failureStatus, shortText).chain(([batches, status, message]) =>
      FastCheck.constantFrom(encodeTree(batches), encodeTree(batches, Codec.Trailer.Aborted({ status, message })))
    ),
    FastCheck.tuple(wireNumber, wireNumber, version, digest).map(([size, mtimeMs, version, algorithm]) =>
      Codec.encodeFileFacts({ size, mtimeMs, version, digest: algorithm, value: digestOf(algorithm, version) })
    ),
    FastCheck.constant(Codec.encodeAuthenticated())
  )
  const responseLike = FastCheck.oneof(
    FastCheck.tuple(
      FastCheck.constantFrom(0, 1, 2, 6, 7, 8, 9, 10),
      FastCheck.constantFrom(0, ...kinds),
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

  it.effect.prop("readResponse, readBody and readTree end every input in a value or a ProtocolError", {
    kind: FastCheck.constantFrom(...kinds),
    bytes: responseLike,
    sizes: chunkSizes
  }, ({ bytes, kind, sizes }) =>
    Effect.gen(function*() {
      const result = yield* Effect.either(readWhole(ByteReader.fromChunks(chunked(bytes, sizes)), kind))
      if (result._tag === "Left") expect(result.left).toBeInstanceOf(ProtocolError)
    }), { fastCheck: { numRuns: 300 } })
})
