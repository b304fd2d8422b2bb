/** Ferry responses built from the codec's encoders, whole or deliberately broken, for fake servers. */
import * as Codec from "../../src/protocol/Codec.js"
import { type Digest, hasher } from "../../src/protocol/Digest.js"

/** The `digest` of `bytes`, as a trailer carries it. */
export const digestOf = (digest: Digest, bytes: Uint8Array): Uint8Array => {
  const hash = hasher(digest)
  hash.update(bytes)
  return hash.digest()
}

/** `size` bytes that differ from one offset to the next and from one seed to another. */
export const pattern = (size: number, seed = 1): Uint8Array =>
  Uint8Array.from({ length: size }, (_, i) => (i * 31 + (i >>> 8) * 7 + seed) & 0xff)

/** The body of `content` as segments of at most `segmentSize` bytes: a length, then the bytes, for each. */
export const segments = (content: Uint8Array, segmentSize: number): Array<Uint8Array> => {
  const out: Array<Uint8Array> = []
  for (let at = 0; at < content.length; at += segmentSize) {
    const segment = content.subarray(at, Math.min(at + segmentSize, content.length))
    out.push(Codec.encodeSegmentHead(segment.length), segment)
  }
  return out
}

export const completeTrailer = (digest: Uint8Array): Uint8Array =>
  Codec.encodeTrailer(Codec.Trailer.Complete({ digest }))

export const abortedTrailer = (status: Codec.FailureStatus, message: string): Uint8Array =>
  Codec.encodeTrailer(Codec.Trailer.Aborted({ status, message }))

/** A whole, correct file response: head, segments, end marker and the content's `digest` (XXH3-128 unless told). */
export const file = (content: Uint8Array, segmentSize = 64 * 1024, digest: Digest = "xxh3-128"): Array<Uint8Array> => [
  Codec.encodeFileHead(content.length, digest),
  ...segments(content, segmentSize),
  completeTrailer(digestOf(digest, content))
]

/** A listing response announcing `total` files, whatever the number of entries it carries. */
export const listing = (entries: ReadonlyArray<Codec.ListingEntry>, total: number): Uint8Array => {
  const bytes = Codec.encodeListing(entries)
  new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).setUint32(10, total)
  return bytes
}
