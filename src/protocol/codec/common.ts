/**
 * What every ferry message shares (docs/PROTOCOL.md, sections 3, 5, 7 and 11): the prefix, the
 * kinds, the statuses, the limits, and the failure that any request may get.
 */
import * as Effect from "effect/Effect"
import { MAX_NAME_BYTES } from "../../services/FileName.js"
import type { ByteReader } from "../ByteReader.js"
import { ProtocolError } from "../ProtocolError.js"
import { decodeUtf8, readU16, utf8Within, writeU16 } from "../wire.js"

export const VERSION = 2
/** "FRY" and the version: the first four bytes of every message, both ways. */
export const PREFIX = Uint8Array.of(0x46, 0x52, 0x59, VERSION)

export { MAX_NAME_BYTES }
/** Error messages are cut to this many bytes. */
export const MAX_MESSAGE_BYTES = 1024
export const MAX_SEGMENT_BYTES = 16 * 1024 * 1024
export const MAX_LISTING_BYTES = 16 * 1024 * 1024
export const MAX_STATS_BYTES = 64 * 1024

export const Kind = { Get: 1, List: 2, Stats: 3, Ls: 4, Stat: 5, Auth: 6 } as const
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
  UnsupportedDigest: 8,
  ListingDisabled: 9,
  TlsRequired: 10,
  Unauthorized: 11
} as const
export type Status = typeof Status[keyof typeof Status]
export type FailureStatus = Exclude<Status, typeof Status.Ok>

export const statusName = (status: Status): string => Object.entries(Status).find(([, code]) => code === status)![0]

export const isFailureStatus = (code: number): code is FailureStatus => code > Status.Ok && code <= Status.Unauthorized

export const malformed = (detail: string) => new ProtocolError({ reason: "Malformed", detail })
export const tooLarge = (detail: string) => new ProtocolError({ reason: "TooLarge", detail })

/** What is wrong with a message's first four bytes (`prefix`, at least that long), if anything. */
export const prefixProblem = (prefix: Uint8Array): ProtocolError | undefined => {
  if (prefix[0] !== PREFIX[0] || prefix[1] !== PREFIX[1] || prefix[2] !== PREFIX[2]) {
    // A TLS record of the handshake: the peer speaks TLS, this side does not (docs/PROTOCOL.md, 10.4).
    const detail = prefix[0] === 0x16 ? "not a ferry message but a TLS handshake" : "not a ferry message"
    return new ProtocolError({ reason: "BadMagic", detail })
  }
  if (prefix[3] !== VERSION) {
    return new ProtocolError({
      reason: "UnsupportedVersion",
      detail: `protocol version ${prefix[3]} is not supported (this side speaks version ${VERSION})`,
      version: prefix[3]!
    })
  }
  return undefined
}

export const checkPrefix = (prefix: Uint8Array): Effect.Effect<void, ProtocolError> =>
  Effect.suspend(() => {
    const problem = prefixProblem(prefix)
    return problem === undefined ? Effect.void : Effect.fail(problem)
  })

/** The common head of a response, with room for `extra` bytes after it. */
export const responseHead = (status: Status, kind: number, extra: number): Uint8Array => {
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

/** A failure's message: its u16 length, then the text. */
export const readFailureMessage = <E>(reader: ByteReader<E>): Effect.Effect<string, E | ProtocolError> =>
  Effect.gen(function*() {
    const length = readU16(yield* reader.exactly(2), 0)
    if (length > MAX_MESSAGE_BYTES) return yield* tooLarge(`error message of ${length} bytes is over the limit`)
    return yield* decodeUtf8(yield* reader.exactly(length), "error message")
  })
