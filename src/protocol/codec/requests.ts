/**
 * Requests (docs/PROTOCOL.md, section 4): their encoding, and their decoding from a ByteReader with
 * every field checked against the specification's limits, in the order section 4.4 gives.
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { ByteReader } from "../ByteReader.js"
import { type Digest, digestOfId, DIGESTS } from "../Digest.js"
import { ProtocolError } from "../ProtocolError.js"
import { decodeUtf8Now, encodeUtf8, readU32, readU64, writeU32, writeU64 } from "../wire.js"
import { Kind, malformed, MAX_NAME_BYTES, PREFIX, prefixProblem, tooLarge } from "./common.js"

export const REQUEST_HEADER_BYTES = 9
/** Digests a GET or STAT may offer. */
export const MAX_OFFERED_DIGESTS = 16
/** A file's version as the server names it: opaque to the client, compared byte for byte. */
export const FILE_VERSION_BYTES = 16
/** The version a client sends when it holds none: never one a server announces. */
export const NO_FILE_VERSION = new Uint8Array(FILE_VERSION_BYTES)
/** The offset and the version of a resumed GET. */
const RESUME_BYTES = 8 + FILE_VERSION_BYTES
/** The largest request payload: a GET's, with the most digests, a resume and the longest name. */
export const MAX_PAYLOAD_BYTES = 1 + MAX_OFFERED_DIGESTS + RESUME_BYTES + MAX_NAME_BYTES
/** The longest token an AUTH may carry, in UTF-8 bytes. */
export const MAX_TOKEN_BYTES = 256

/** What a client holds of a file already: the first `offset` bytes of the version `version`. */
export interface Resume {
  readonly offset: number
  readonly version: Uint8Array
}

export type Request = Data.TaggedEnum<{
  /**
   * `digests`: those the client accepts, in its order of preference, leaving out any this side does
   * not know; the server checks the file with the first. With `resume`, the server sends from its
   * offset if the file is still that version.
   */
  Get: { readonly name: string; readonly digests: ReadonlyArray<Digest>; readonly resume?: Resume }
  List: {}
  Stats: {}
  /** The files and directories under `path` ("" for the whole directory). */
  Ls: { readonly path: string; readonly recursive: boolean }
  /** A file's size, modification time, version and digest, without its contents. */
  Stat: { readonly name: string; readonly digests: ReadonlyArray<Digest> }
  /**
   * The token the connection's later requests are made with. A secret: the server hashes it at
   * once, and nothing may log it.
   */
  Auth: { readonly token: string }
}>
export const Request = Data.taggedEnum<Request>()

/** The kind byte of a request. */
export const kindOf = (request: Request): Kind => Kind[request._tag]

export const isNoVersion = (version: Uint8Array): boolean => version.every((byte) => byte === 0)

const encodeOffer = (digests: ReadonlyArray<Digest>, rest: number): [Uint8Array, number] => {
  const payload = new Uint8Array(1 + digests.length + rest)
  payload[0] = digests.length
  digests.forEach((digest, i) => payload[1 + i] = DIGESTS[digest].id)
  return [payload, 1 + digests.length]
}

const encodePayload = (request: Request): Uint8Array => {
  switch (request._tag) {
    case "Get": {
      const name = encodeUtf8(request.name)
      const [payload, at] = encodeOffer(request.digests, RESUME_BYTES + name.length)
      if (request.resume !== undefined) {
        writeU64(payload, at, request.resume.offset)
        payload.set(request.resume.version, at + 8)
      }
      payload.set(name, at + RESUME_BYTES)
      return payload
    }
    case "Stat": {
      const name = encodeUtf8(request.name)
      const [payload, at] = encodeOffer(request.digests, name.length)
      payload.set(name, at)
      return payload
    }
    case "Ls": {
      const path = encodeUtf8(request.path)
      const payload = new Uint8Array(1 + path.length)
      payload[0] = request.recursive ? 1 : 0
      payload.set(path, 1)
      return payload
    }
    case "Auth":
      return encodeUtf8(request.token)
    case "List":
    case "Stats":
      return new Uint8Array(0)
  }
}

export const encodeRequest = (request: Request): Uint8Array => {
  const payload = encodePayload(request)
  const bytes = new Uint8Array(REQUEST_HEADER_BYTES + payload.length)
  bytes.set(PREFIX)
  bytes[4] = kindOf(request)
  writeU32(bytes, 5, payload.length)
  bytes.set(payload, REQUEST_HEADER_BYTES)
  return bytes
}

/** A request's decoding: the request, or what is wrong with it. */
type Decoded<A> = A | ProtocolError

const isProblem = (decoded: unknown): decoded is ProtocolError => decoded instanceof ProtocolError

/**
 * The next request, or `None` when the peer has finished sending. The payload of an oversized
 * request is not read. The checks and the decoding are plain functions: a request that has arrived
 * whole is decoded in a few Effect steps, the reads, however many fields it has.
 */
export const readRequest = <E>(reader: ByteReader<E>): Effect.Effect<Option.Option<Request>, E | ProtocolError> =>
  Effect.flatMap(reader.atEnd, (atEnd) => {
    if (atEnd) return Effect.succeedNone
    // The prefix first: a peer speaking another protocol (TLS, HTTP) is told so on its first bytes.
    return Effect.flatMap(reader.exactly(PREFIX.length), (prefix) => {
      const wrong = prefixProblem(prefix)
      if (wrong !== undefined) return Effect.fail(wrong)
      return Effect.flatMap(reader.exactly(REQUEST_HEADER_BYTES - PREFIX.length), (head) => {
        const problem = headProblem(head)
        if (problem !== undefined) return Effect.fail(problem)
        return Effect.flatMap(reader.exactly(readU32(head, 1)), (payload) => {
          const request = decodePayload(head[0]!, payload)
          return isProblem(request) ? Effect.fail(request) : Effect.succeed(Option.some(request))
        })
      })
    })
  })

/** What is wrong with a request's kind and length (`head`), if anything, checked before its payload is read. */
const headProblem = (head: Uint8Array): ProtocolError | undefined => {
  const kind = head[0]!
  const length = readU32(head, 1)
  if (length > MAX_PAYLOAD_BYTES) {
    return tooLarge(`request of ${length} bytes is over the limit of ${MAX_PAYLOAD_BYTES}`)
  }
  switch (kind) {
    case Kind.List:
      return length === 0 ? undefined : malformed("list request with a payload")
    case Kind.Stats:
      return length === 0 ? undefined : malformed("stats request with a payload")
    case Kind.Auth:
      // A token over the limit is not read.
      if (length === 0) return malformed("AUTH without a token")
      return length > MAX_TOKEN_BYTES
        ? tooLarge(`token of ${length} bytes is over the limit of ${MAX_TOKEN_BYTES}`)
        : undefined
    case Kind.Get:
    case Kind.Stat:
    case Kind.Ls:
      return undefined
    default:
      return malformed(`unknown request kind ${kind}`)
  }
}

/** The request of `kind` (one `headProblem` let through) that `payload` carries. */
const decodePayload = (kind: number, payload: Uint8Array): Decoded<Request> => {
  switch (kind) {
    case Kind.Get:
      return decodeGet(payload)
    case Kind.Stat:
      return decodeStat(payload)
    case Kind.Ls:
      return decodeLs(payload)
    case Kind.List:
      return Request.List()
    case Kind.Stats:
      return Request.Stats()
    default: {
      const token = decodeUtf8Now(payload, "token")
      return isProblem(token) ? token : Request.Auth({ token })
    }
  }
}

/** The digests offered at the start of `payload`, known ones only, and where what follows starts. */
const decodeOffer = (payload: Uint8Array): Decoded<[Array<Digest>, number]> => {
  const offered = payload[0] ?? 0
  if (offered === 0) return malformed("no digest offered")
  if (offered > MAX_OFFERED_DIGESTS) return malformed(`${offered} digests offered, over ${MAX_OFFERED_DIGESTS}`)
  // Digests this side does not know are passed over: a newer client may offer some.
  const digests: Array<Digest> = []
  for (const id of payload.subarray(1, 1 + offered)) {
    const digest = digestOfId(id)
    if (digest !== undefined && !digests.includes(digest)) digests.push(digest)
  }
  return [digests, 1 + offered]
}

const decodeName = (bytes: Uint8Array): Decoded<string> => {
  if (bytes.length === 0) return malformed("empty file name")
  if (bytes.length > MAX_NAME_BYTES) {
    return tooLarge(`file name of ${bytes.length} bytes is over the limit of ${MAX_NAME_BYTES}`)
  }
  return decodeUtf8Now(bytes, "file name")
}

const decodeGet = (payload: Uint8Array): Decoded<Request> => {
  const offer = decodeOffer(payload)
  if (isProblem(offer)) return offer
  const [digests, at] = offer
  if (payload.length < at + RESUME_BYTES) return malformed("GET cut short before its offset")
  const offset = readU64(payload, at)
  const version = payload.slice(at + 8, at + RESUME_BYTES)
  const name = decodeName(payload.subarray(at + RESUME_BYTES))
  if (isProblem(name)) return name
  if (!Number.isSafeInteger(offset)) return malformed(`offset ${offset} out of range`)
  if (isNoVersion(version)) {
    if (offset !== 0) return malformed("an offset without a version")
    return Request.Get({ name, digests })
  }
  return Request.Get({ name, digests, resume: { offset, version } })
}

const decodeStat = (payload: Uint8Array): Decoded<Request> => {
  const offer = decodeOffer(payload)
  if (isProblem(offer)) return offer
  const [digests, at] = offer
  const name = decodeName(payload.subarray(at))
  return isProblem(name) ? name : Request.Stat({ name, digests })
}

const decodeLs = (payload: Uint8Array): Decoded<Request> => {
  if (payload.length === 0) return malformed("LS without its flags")
  const flags = payload[0]!
  if ((flags & ~1) !== 0) return malformed(`unknown LS flags ${flags}`)
  const path = payload.subarray(1)
  if (path.length > MAX_NAME_BYTES) {
    return tooLarge(`path of ${path.length} bytes is over the limit of ${MAX_NAME_BYTES}`)
  }
  const text = decodeUtf8Now(path, "path")
  return isProblem(text) ? text : Request.Ls({ path: text, recursive: (flags & 1) === 1 })
}
