/** A file response from the cache: the file in large slices of the one buffer, its digest known. */
import * as Effect from "effect/Effect"
import * as Codec from "../../protocol/Codec.js"
import type { Digest } from "../../protocol/Digest.js"
import type { CachedFile } from "../../services/Cache.js"
import type { Connection, ConnectionError } from "../../services/Connection.js"
import { fileVersion } from "./fileVersion.js"

/** Slices of a cached file per write: large enough to saturate loopback, small enough to interleave. */
export const SEGMENT_BYTES = 1024 * 1024
/** Told of the file bytes sent, as they are sent. */
export type OnSent<R> = (bytes: number) => Effect.Effect<void, never, R>

/** Sends `file` from byte `start` on (0 for all of it); the trailer's digest is of the whole file. */
export const sendCached = <R>(
  connection: Connection,
  file: CachedFile,
  digest: Digest,
  start: number,
  onSent: OnSent<R>
): Effect.Effect<void, ConnectionError, R> =>
  Effect.gen(function*() {
    const { bytes } = file
    const head = Codec.encodeFileHead(bytes.length, digest, { version: fileVersion(file.info), start })
    const trailer = Codec.encodeTrailer(Codec.Trailer.Complete({ digest: yield* file.digest(digest) }))
    if (start === bytes.length) return yield* connection.write(head, trailer)
    for (let at = start; at < bytes.length; at += SEGMENT_BYTES) {
      const slice = bytes.subarray(at, at + SEGMENT_BYTES)
      const pieces = [Codec.encodeSegmentHead(slice.length), slice]
      if (at === start) pieces.unshift(head)
      if (at + slice.length === bytes.length) pieces.push(trailer)
      yield* connection.write(...pieces)
      yield* onSent(slice.length)
    }
  })
