/**
 * A file response (docs/PROTOCOL.md, section 6.2): its head, its body in segments, and the trailer
 * that ends it with the whole file's digest or with the server giving up.
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type { ByteReader } from "../ByteReader.js"
import { type Digest, DIGESTS } from "../Digest.js"
import type { ProtocolError } from "../ProtocolError.js"
import { readU32, utf8Within, writeU16, writeU32, writeU64 } from "../wire.js"
import {
  type FailureStatus,
  isFailureStatus,
  Kind,
  malformed,
  MAX_MESSAGE_BYTES,
  MAX_SEGMENT_BYTES,
  readFailureMessage,
  responseHead,
  Status,
  tooLarge
} from "./common.js"
import { FILE_VERSION_BYTES, NO_FILE_VERSION } from "./requests.js"

/** What a file response announces before its body. */
export interface FileHead {
  readonly size: number
  /** The digest the trailer carries, always of the whole file. */
  readonly digest: Digest
  /** The file's version, for resuming; `NO_FILE_VERSION` when the server offers none. */
  readonly version: Uint8Array
  /** Where the body starts in the file: the offset asked for, or 0 when the whole file follows. */
  readonly start: number
}

export const FILE_HEAD_BYTES = 6 + 8 + 1 + FILE_VERSION_BYTES + 8

export const encodeFileHead = (
  size: number,
  digest: Digest,
  { start = 0, version = NO_FILE_VERSION }: { readonly version?: Uint8Array; readonly start?: number } = {}
): Uint8Array => {
  const bytes = responseHead(Status.Ok, Kind.Get, FILE_HEAD_BYTES - 6)
  writeU64(bytes, 6, size)
  bytes[14] = DIGESTS[digest].id
  bytes.set(version, 15)
  writeU64(bytes, 15 + FILE_VERSION_BYTES, start)
  return bytes
}

/** The length that precedes each segment of a body. */
export const encodeSegmentHead = (length: number): Uint8Array => {
  const bytes = new Uint8Array(4)
  writeU32(bytes, 0, length)
  return bytes
}

/** How a body ended: with the digest of a complete file, or with the server giving up. */
export type Trailer = Data.TaggedEnum<{
  Complete: { readonly digest: Uint8Array }
  Aborted: { readonly status: FailureStatus; readonly message: string }
}>
export const Trailer = Data.taggedEnum<Trailer>()
export type Aborted = Extract<Trailer, { readonly _tag: "Aborted" }>

/** The end marker and what follows it: a digest, or a failure status and its message. */
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

/**
 * Reads segments until the end marker, handing each piece to `onData` as it arrives (a piece may
 * be valid only until `onData`'s effect completes: see ByteReader); `limit` is how many bytes the
 * segments may carry in all. Returns how many they carried.
 */
export const readSegments = <E, E2>(
  reader: ByteReader<E>,
  limit: number,
  onData: (bytes: Uint8Array) => Effect.Effect<void, E2>
): Effect.Effect<number, E | E2 | ProtocolError> =>
  Effect.gen(function*() {
    let received = 0
    while (true) {
      const length = readU32(yield* reader.exactly(4), 0)
      if (length === 0) return received
      if (length > MAX_SEGMENT_BYTES) return yield* tooLarge(`body segment of ${length} bytes is over the limit`)
      if (received + length > limit) return yield* malformed(`body longer than the announced ${limit} bytes`)
      let left = length
      while (left > 0) {
        const bytes = yield* reader.upTo(left)
        left -= bytes.length
        yield* onData(bytes)
      }
      received += length
    }
  })

/** After the end marker: `Ok` and what `complete` reads, or a failure status and its message. */
export const readEnding = <E, A>(
  reader: ByteReader<E>,
  complete: Effect.Effect<A, E | ProtocolError>
): Effect.Effect<A | Aborted, E | ProtocolError> =>
  Effect.gen(function*() {
    const status = (yield* reader.exactly(1))[0]!
    if (status === Status.Ok) return yield* complete
    if (!isFailureStatus(status)) return yield* malformed(`unknown trailer status ${status}`)
    return Trailer.Aborted({ status, message: yield* readFailureMessage(reader) })
  })

/**
 * Reads the body of a file response and returns its trailer. A `Complete` trailer is only returned
 * after exactly the bytes from `start` to `size`.
 */
export const readBody = <E, E2>(
  reader: ByteReader<E>,
  { digest, size, start }: Pick<FileHead, "size" | "digest" | "start">,
  onData: (bytes: Uint8Array) => Effect.Effect<void, E2>
): Effect.Effect<Trailer, E | E2 | ProtocolError> =>
  Effect.gen(function*() {
    const expected = size - start
    const received = yield* readSegments(reader, expected, onData)
    return yield* readEnding(
      reader,
      received === expected
        ? Effect.map(reader.exactly(DIGESTS[digest].bytes), (digest) => Trailer.Complete({ digest }))
        : malformed(`body ended after ${start + received} of ${size} bytes`)
    )
  })
