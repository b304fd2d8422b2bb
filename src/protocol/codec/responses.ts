/**
 * Reading the head of any response (docs/PROTOCOL.md, section 5), given the kind of the request it
 * answers; what follows a file head or a tree head is read with `readBody` or `readTree`.
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type { ByteReader } from "../ByteReader.js"
import { digestOfId } from "../Digest.js"
import type { ProtocolError } from "../ProtocolError.js"
import { readU32, readU64 } from "../wire.js"
import {
  checkPrefix,
  type FailureStatus,
  isFailureStatus,
  Kind,
  malformed,
  MAX_LISTING_BYTES,
  MAX_STATS_BYTES,
  readFailureMessage,
  responseHead,
  Status,
  tooLarge
} from "./common.js"
import { FILE_HEAD_BYTES, type FileHead } from "./files.js"
import { decodeListing, decodeStats, type FileFacts, type ListingEntry, readFileFacts } from "./listings.js"
import { FILE_VERSION_BYTES } from "./requests.js"

export type Response = Data.TaggedEnum<{
  /** A file follows: its body (see `readBody`), then its trailer. */
  File: FileHead
  Listing: { readonly entries: ReadonlyArray<ListingEntry>; readonly total: number }
  /** Entries of the served tree follow (see `readTree`). */
  Tree: {}
  Facts: { readonly facts: FileFacts }
  /** The server's counters and gauges, by name. */
  Stats: { readonly stats: Readonly<Record<string, number>> }
  /** The AUTH was accepted: the connection's later requests are made with its token. */
  Authenticated: {}
  Failure: { readonly status: FailureStatus; readonly message: string }
}>
export const Response = Data.taggedEnum<Response>()

/** The answer to an accepted AUTH: the common head alone. */
export const encodeAuthenticated = (): Uint8Array => responseHead(Status.Ok, Kind.Auth, 0)

const readFileHead = <E>(reader: ByteReader<E>) =>
  Effect.gen(function*() {
    const fields = yield* reader.exactly(FILE_HEAD_BYTES - 6)
    const size = readU64(fields, 0)
    if (!Number.isSafeInteger(size)) return yield* malformed(`file size ${size} out of range`)
    const digest = digestOfId(fields[8]!)
    if (digest === undefined) return yield* malformed(`unknown digest ${fields[8]}`)
    const version = fields.slice(9, 9 + FILE_VERSION_BYTES)
    const start = readU64(fields, 9 + FILE_VERSION_BYTES)
    if (start > size) return yield* malformed(`body starting at ${start}, past the file's ${size} bytes`)
    return Response.File({ size, digest, version, start })
  })

const readSized = <E>(reader: ByteReader<E>, limit: number, what: string) =>
  Effect.gen(function*() {
    const length = readU32(yield* reader.exactly(4), 0)
    if (length > limit) return yield* tooLarge(`${what} of ${length} bytes are over the limit`)
    return yield* reader.exactly(length)
  })

/** The response to a request of `kind`; for a `File` or a `Tree`, more follows. */
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
    switch (kind) {
      case Kind.Get:
        return yield* readFileHead(reader)
      case Kind.Ls:
        return Response.Tree()
      case Kind.Stat:
        return Response.Facts({ facts: yield* readFileFacts(reader) })
      case Kind.Stats:
        return Response.Stats({ stats: yield* decodeStats(yield* readSized(reader, MAX_STATS_BYTES, "statistics")) })
      case Kind.List:
        return Response.Listing(yield* decodeListing(yield* readSized(reader, MAX_LISTING_BYTES, "listing")))
      case Kind.Auth:
        return Response.Authenticated()
    }
  })
