/**
 * The wire's primitives: big-endian integers and UTF-8 text, as docs/PROTOCOL.md lays them out.
 * Codec builds every message from these.
 */
import * as Effect from "effect/Effect"
import { ProtocolError } from "./ProtocolError.js"

const utf8 = new TextEncoder()
// `ignoreBOM` keeps a leading U+FEFF: by default the decoder drops it, so "\uFEFFa" would read as "a".
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })

export const readU16 = (bytes: Uint8Array, at: number): number => (bytes[at]! << 8) | bytes[at + 1]!
export const readU32 = (bytes: Uint8Array, at: number): number =>
  ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0
export const readU64 = (bytes: Uint8Array, at: number): number => readU32(bytes, at) * 2 ** 32 + readU32(bytes, at + 4)

export const writeU16 = (bytes: Uint8Array, at: number, value: number) => {
  bytes[at] = value >>> 8
  bytes[at + 1] = value & 0xff
}
export const writeU32 = (bytes: Uint8Array, at: number, value: number) => {
  bytes[at] = value >>> 24
  bytes[at + 1] = (value >>> 16) & 0xff
  bytes[at + 2] = (value >>> 8) & 0xff
  bytes[at + 3] = value & 0xff
}
export const writeU64 = (bytes: Uint8Array, at: number, value: number) => {
  writeU32(bytes, at, Math.floor(value / 2 ** 32))
  writeU32(bytes, at + 4, value >>> 0)
}

/** UTF-8 of `text`, whole. */
export const encodeUtf8 = (text: string): Uint8Array => utf8.encode(text)

/** UTF-8 of `text`, cut at a character boundary to at most `max` bytes. */
export const utf8Within = (text: string, max: number): Uint8Array => {
  const bytes = utf8.encode(text)
  if (bytes.length <= max) return bytes
  let end = max
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--
  return bytes.subarray(0, end)
}

/** Strict UTF-8 (no replacement characters), or the error naming `what`, without an Effect. */
export const decodeUtf8Now = (bytes: Uint8Array, what: string): string | ProtocolError => {
  try {
    return strictUtf8.decode(bytes)
  } catch {
    return new ProtocolError({ reason: "Malformed", detail: `${what} is not valid UTF-8` })
  }
}

/** Strict UTF-8 (no replacement characters): `what` names the field in the error. */
export const decodeUtf8 = (bytes: Uint8Array, what: string): Effect.Effect<string, ProtocolError> =>
  Effect.suspend(() => {
    const text = decodeUtf8Now(bytes, what)
    return typeof text === "string" ? Effect.succeed(text) : Effect.fail(text)
  })
