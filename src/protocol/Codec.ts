/**
 * The ferry wire format, version 2, as specified in docs/PROTOCOL.md: the encoding of every message,
 * and its decoding from a ByteReader with every field checked against the specification's limits.
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { MAX_NAME_BYTES } from "../services/FileName.js"
import type { ByteReader } from "./ByteReader.js"
import { type Digest, digestOfId, DIGESTS } from "./Digest.js"
import { ProtocolError } from "./ProtocolError.js"
import { decodeUtf8, encodeUtf8, readU16, readU32, readU64, utf8Within, writeU16, writeU32, writeU64 } from "./wire.js"

export const VERSION = 2
/** "FRY" and the version: the first four bytes of every message, both ways. */
const PREFIX = Uint8Array.of(0x46, 0x52, 0x59, VERSION)

export const REQUEST_HEADER_BYTES = 9
export { MAX_NAME_BYTES }
/** Digests a GET may offer. */
export const MAX_OFFERED_DIGESTS = 16
/** The largest request payload: the longest acceptable name, and the digests offered before it. */
export const MAX_PAYLOAD_BYTES = MAX_NAME_BYTES + 1 + MAX_OFFERED_DIGESTS
/** Error messages are cut to this many bytes. */
export const MAX_MESSAGE_BYTES = 1024
export const MAX_SEGMENT_BYTES = 16 * 1024 * 1024
export const MAX_LISTING_BYTES = 16 * 1024 * 1024
export const MAX_STATS_BYTES = 64 * 1024

export const Kind = { Get: 1, List: 2, Stats: 3 } as const
export type Kind = typeof Kind[keyof typeof Kind]

export const Status = {
  Ok: 0,
  NotFound: 1,
  BadRequest: 2,
  TooLarge: 3,
  UnsupportedVersion: 4,
  Busy: 5,
  InternalError: 6,
  Timeout: 7,
  UnsupportedDigest: 8
} as const
export type Status = typeof Status[keyof typeof Status]
export type FailureStatus = Exclude<Status, typeof Status.Ok>

export const statusName = (status: Status): string => Object.entries(Status).find(([, code]) => code === status)![0]

const isFailureStatus = (code: number): code is FailureStatus => code > Status.Ok && code <= Status.UnsupportedDigest

export type Request = Data.TaggedEnum<{
  /**
   * `digests`: those the client accepts, in its order of preference, leaving out any this side does
   * not know; the server checks the file with the first.
   */
  Get: { readonly name: string; readonly digests: ReadonlyArray<Digest> }
  List: {}
  Stats: {}
}>
export const Request = Data.taggedEnum<Request>()

export interface ListingEntry {
  readonly name: string
  readonly size: number
}

export type Response = Data.TaggedEnum<{
  /** A file follows: its body (see `readBody`), then its trailer, whose digest is `digest`. */
  File: { readonly size: number; readonly digest: Digest }
  Listing: { readonly entries: ReadonlyArray<ListingEntry>; readonly total: number }
  /** The server's counters and gauges, by name. */
  Stats: { readonly stats: Readonly<Record<string, number>> }
  Failure: { readonly status: FailureStatus; readonly message: string }
}>
export const Response = Data.taggedEnum<Response>()

/** How a file body ended: with the digest of a complete body, or with the server giving up. */
export type Trailer = Data.TaggedEnum<{
  Complete: { readonly digest: Uint8Array }
  Aborted: { readonly status: FailureStatus; readonly message: string }
}>
export const Trailer = Data.taggedEnum<Trailer>()

const malformed = (detail: string) => new ProtocolError({ reason: "Malformed", detail })
const tooLarge = (detail: string) => new ProtocolError({ reason: "TooLarge", detail })

const checkPrefix = (prefix: Uint8Array): Effect.Effect<void, ProtocolError> => {
  if (prefix[0] !== PREFIX[0] || prefix[1] !== PREFIX[1] || prefix[2] !== PREFIX[2]) {
    return Effect.fail(new ProtocolError({ reason: "BadMagic", detail: "not a ferry message" }))
  }
  if (prefix[3] !== VERSION) {
    return Effect.fail(
      new ProtocolError({
        reason: "UnsupportedVersion",
        detail: `protocol version ${prefix[3]} is not supported (this side speaks version ${VERSION})`,
        version: prefix[3]!
      })
    )
  }
  return Effect.void
}

// Requests

/** The kind byte of a request. */
export const kindOf = (request: Request): Kind => Kind[request._tag]

const encodeGet = (name: string, digests: ReadonlyArray<Digest>): Uint8Array => {
  const text = encodeUtf8(name)
  const payload = new Uint8Array(1 + digests.length + text.length)
  payload[0] = digests.length
  digests.forEach((digest, i) => payload[1 + i] = DIGESTS[digest].id)
  payload.set(text, 1 + digests.length)
  return payload
}

export const encodeRequest = (request: Request): Uint8Array => {
  const payload = request._tag === "Get" ? encodeGet(request.name, request.digests) : new Uint8Array(0)
  const bytes = new Uint8Array(REQUEST_HEADER_BYTES + payload.length)
  bytes.set(PREFIX)
  bytes[4] = kindOf(request)
  writeU32(bytes, 5, payload.length)
  bytes.set(payload, REQUEST_HEADER_BYTES)
  return bytes
}

/**
 * The next request, or `None` when the peer has finished sending. The payload of an oversized
 * request is not read.
 */
export const readRequest = <E>(reader: ByteReader<E>): Effect.Effect<Option.Option<Request>, E | ProtocolError> =>
  Effect.gen(function*() {
    if (yield* reader.atEnd) return Option.none()
    yield* checkPrefix(yield* reader.exactly(4))
    const head = yield* reader.exactly(REQUEST_HEADER_BYTES - 4)
    const kind = head[0]!
    const length = readU32(head, 1)
    if (length > MAX_PAYLOAD_BYTES) {
      return yield* tooLarge(`request of ${length} bytes is over the limit of ${MAX_PAYLOAD_BYTES}`)
    }
    switch (kind) {
      case Kind.Get:
        return Option.some(yield* decodeGet(yield* reader.exactly(length)))
      case Kind.List: {
        if (length !== 0) return yield* malformed("list request with a payload")
        return Option.some(Request.List())
      }
      case Kind.Stats: {
        if (length !== 0) return yield* malformed("stats request with a payload")
        return Option.some(Request.Stats())
      }
      default:
        return yield* malformed(`unknown request kind ${kind}`)
    }
  })

const decodeGet = (payload: Uint8Array): Effect.Effect<Request, ProtocolError> =>
  Effect.gen(function*() {
    const offered = payload[0] ?? 0
    if (offered === 0) return yield* malformed("no digest offered")
    if (offered > MAX_OFFERED_DIGESTS) {
      return yield* malformed(`${offered} digests offered, over ${MAX_OFFERED_DIGESTS}`)
    }
    const nameLength = payload.length - 1 - offered
    if (nameLength <= 0) return yield* malformed("empty file name")
    if (nameLength > MAX_NAME_BYTES) {
      return yield* tooLarge(`file name of ${nameLength} bytes is over the limit of ${MAX_NAME_BYTES}`)
    }
    // Digests this side does not know are passed over: a newer client may offer some.
    const digests: Array<Digest> = []
    for (const id of payload.subarray(1, 1 + offered)) {
      const digest = digestOfId(id)
      if (digest !== undefined && !digests.includes(digest)) digests.push(digest)
    }
    const name = yield* decodeUtf8(payload.subarray(1 + offered), "file name")
    return Request.Get({ name, digests })
  })

// Responses

const responseHead = (status: Status, kind: number, extra: number): Uint8Array => {
  const bytes = new Uint8Array(6 + extra)
  bytes.set(PREFIX)
  bytes[4] = status
  bytes[5] = kind
  return bytes
}

/** A failure answering a request of `kind` (0 when the request could not be read). */
export const encodeFailure = (kind: number, status: FailureStatus, message: string): Uint8Array => {
  const text = utf8Within(message, MAX_MESSAGE_BYTES)
  const bytes = responseHead(status, kind, 2 + text.length)
  writeU16(bytes, 6, text.length)
  bytes.set(text, 8)
  return bytes
}

export const FILE_HEAD_BYTES = 15

export const encodeFileHead = (size: number, digest: Digest): Uint8Array => {
  const bytes = responseHead(Status.Ok, Kind.Get, 9)
  writeU64(bytes, 6, size)
  bytes[14] = DIGESTS[digest].id
  return bytes
}

/** The length that precedes each segment of a file body. */
export const encodeSegmentHead = (length: number): Uint8Array => {
  const bytes = new Uint8Array(4)
  writeU32(bytes, 0, length)
  return bytes
}

export const encodeTrailer = (trailer: Trailer): Uint8Array => {
  if (trailer._tag === "Complete") {
    const bytes = new Uint8Array(5 + trailer.digest.length)
    bytes.set(trailer.digest, 5)
    return bytes
  }
  const text = utf8Within(trailer.message, MAX_MESSAGE_BYTES)
  const bytes = new Uint8Array(7 + text.length)
  bytes[4] = trailer.status
  writeU16(bytes, 5, text.length)
  bytes.set(text, 7)
  return bytes
}

/** A listing, cut to the entries that fit in `MAX_LISTING_BYTES`; `total` counts them all. */
export const encodeListing = (entries: ReadonlyArray<ListingEntry>): Uint8Array => {
  const names: Array<Uint8Array> = []
  let length = 8
  for (const entry of entries) {
    const name = encodeUtf8(entry.name)
    if (length + 10 + name.length > MAX_LISTING_BYTES) break
    names.push(name)
    length += 10 + name.length
  }
  const bytes = responseHead(Status.Ok, Kind.List, 4 + length)
  writeU32(bytes, 6, length)
  writeU32(bytes, 10, entries.length)
  writeU32(bytes, 14, names.length)
  let at = 18
  names.forEach((name, i) => {
    writeU16(bytes, at, name.length)
    bytes.set(name, at + 2)
    writeU64(bytes, at + 2 + name.length, entries[i]!.size)
    at += 10 + name.length
  })
  return bytes
}

/** Statistics as a JSON object of numbers: names can be added without a new protocol version. */
export const encodeStats = (stats: Readonly<Record<string, number>>): Uint8Array => {
  const payload = encodeUtf8(JSON.stringify(stats))
  const bytes = responseHead(Status.Ok, Kind.Stats, 4 + payload.length)
  writeU32(bytes, 6, payload.length)
  bytes.set(payload, 10)
  return bytes
}

const StatsPayload = Schema.parseJson(Schema.Record({ key: Schema.String, value: Schema.Number }))

const decodeStats = (payload: Uint8Array): Effect.Effect<Response, ProtocolError> =>
  decodeUtf8(payload, "statistics").pipe(
    Effect.flatMap(Schema.decode(StatsPayload)),
    Effect.mapError((error) =>
      error._tag === "ProtocolError" ? error : malformed("statistics are not a JSON object of numbers")
    ),
    Effect.map((stats) => Response.Stats({ stats }))
  )

const decodeListing = (payload: Uint8Array): Effect.Effect<Response, ProtocolError> =>
  Effect.gen(function*() {
    if (payload.length < 8) return yield* malformed("listing too short")
    const total = readU32(payload, 0)
    const count = readU32(payload, 4)
    const entries: Array<ListingEntry> = []
    let at = 8
    for (let i = 0; i < count; i++) {
      if (at + 2 > payload.length) return yield* malformed("listing entry cut short")
      const nameLength = readU16(payload, at)
      if (at + 10 + nameLength > payload.length) return yield* malformed("listing entry cut short")
      const name = yield* decodeUtf8(payload.subarray(at + 2, at + 2 + nameLength), "listed name")
      const size = readU64(payload, at + 2 + nameLength)
      if (!Number.isSafeInteger(size)) return yield* malformed(`listed size ${size} out of range`)
      entries.push({ name, size })
      at += 10 + nameLength
    }
    if (at !== payload.length) return yield* malformed("bytes after the last listing entry")
    if (total < count) return yield* malformed("listing counts more entries than its total")
    return Response.Listing({ entries, total })
  })

const readFailureMessage = <E>(reader: ByteReader<E>): Effect.Effect<string, E | ProtocolError> =>
  Effect.gen(function*() {
    const length = readU16(yield* reader.exactly(2), 0)
    if (length > MAX_MESSAGE_BYTES) return yield* tooLarge(`error message of ${length} bytes is over the limit`)
    return yield* decodeUtf8(yield* reader.exactly(length), "error message")
  })

/** The response to a request of `kind`; for a `File`, its body follows (see `readBody`). */
export const readResponse = <E>(reader: ByteReader<E>, kind: Kind): Effect.Effect<Response, E | ProtocolError> =>
  Effect.gen(function*() {
    yield* checkPrefix(yield* reader.exactly(4))
    const head = yield* reader.exactly(2)
    const status = head[0]!
    const answered = head[1]!
    if (isFailureStatus(status)) {
      if (answered !== kind && answered !== 0) return yield* malformed(`failure for request kind ${answered}`)
      return Response.Failure({ status, message: yield* readFailureMessage(reader) })
    }
    if (status !== Status.Ok) return yield* malformed(`unknown status ${status}`)
    if (answered !== kind) return yield* malformed(`response of kind ${answered} to a request of kind ${kind}`)
    if (kind === Kind.Get) {
      const fields = yield* reader.exactly(9)
      const size = readU64(fields, 0)
      if (!Number.isSafeInteger(size)) return yield* malformed(`file size ${size} out of range`)
      const digest = digestOfId(fields[8]!)
      if (digest === undefined) return yield* malformed(`unknown digest ${fields[8]}`)
      return Response.File({ size, digest })
    }
    const length = readU32(yield* reader.exactly(4), 0)
    if (kind === Kind.Stats) {
      if (length > MAX_STATS_BYTES) return yield* tooLarge(`statistics of ${length} bytes are over the limit`)
      return yield* decodeStats(yield* reader.exactly(length))
    }
    if (length > MAX_LISTING_BYTES) {
      return yield* tooLarge(`listing of ${length} bytes is over the limit`)
    }
    return yield* decodeListing(yield* reader.exactly(length))
  })

/**
 * Reads a file body of the announced `size`, handing each piece to `onData` as it arrives (a piece
 * may be valid only until `onData`'s effect completes: see ByteReader), and returns its trailer. A
 * `Complete` trailer is only returned after exactly `size` bytes.
 */
export const readBody = <E, E2>(
  reader: ByteReader<E>,
  { digest, size }: { readonly size: number; readonly digest: Digest },
  onData: (bytes: Uint8Array) => Effect.Effect<void, E2>
): Effect.Effect<Trailer, E | E2 | ProtocolError> =>
  Effect.gen(function*() {
    let received = 0
    while (true) {
      const length = readU32(yield* reader.exactly(4), 0)
      if (length === 0) break
      if (length > MAX_SEGMENT_BYTES) return yield* tooLarge(`body segment of ${length} bytes is over the limit`)
      if (received + length > size) return yield* malformed(`body longer than the announced ${size} bytes`)
      let left = length
      while (left > 0) {
        const bytes = yield* reader.upTo(left)
        left -= bytes.length
        yield* onData(bytes)
      }
      received += length
    }
    const status = (yield* reader.exactly(1))[0]!
    if (status === Status.Ok) {
      if (received !== size) return yield* malformed(`body ended after ${received} of ${size} bytes`)
      return Trailer.Complete({ digest: yield* reader.exactly(DIGESTS[digest].bytes) })
    }
    if (!isFailureStatus(status)) return yield* malformed(`unknown trailer status ${status}`)
    return Trailer.Aborted({ status, message: yield* readFailureMessage(reader) })
  })
