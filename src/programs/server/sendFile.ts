/**
 * Writing a file response: a cached file from memory in large slices, a streamed one chunk by
 * chunk at the client's pace, hashed on the way so that its trailer can carry the digest.
 */
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Codec from "../../protocol/Codec.js"
import { type Digest, hasher } from "../../protocol/Digest.js"
import type { CachedFile } from "../../services/Cache.js"
import type { Connection, ConnectionError } from "../../services/Connection.js"
import type { OpenStream } from "./openStream.js"

/** Slices of a cached file per write: large enough to saturate loopback, small enough to interleave. */
export const SEGMENT_BYTES = 1024 * 1024
/** Told of the file bytes sent, as they are sent. */
export type OnSent<R> = (bytes: number) => Effect.Effect<void, never, R>

export const sendCached = <R>(
  connection: Connection,
  file: CachedFile,
  digest: Digest,
  onSent: OnSent<R>
): Effect.Effect<void, ConnectionError, R> =>
  Effect.gen(function*() {
    const { bytes } = file
    const head = Codec.encodeFileHead(bytes.length, digest)
    const trailer = Codec.encodeTrailer(Codec.Trailer.Complete({ digest: yield* file.digest(digest) }))
    if (bytes.length === 0) return yield* connection.write(head, trailer)
    for (let at = 0; at < bytes.length; at += SEGMENT_BYTES) {
      const slice = bytes.subarray(at, at + SEGMENT_BYTES)
      const pieces = [Codec.encodeSegmentHead(slice.length), slice]
      if (at === 0) pieces.unshift(head)
      if (at + slice.length === bytes.length) pieces.push(trailer)
      yield* connection.write(...pieces)
      yield* onSent(slice.length)
    }
  })

/**
 * Streams a file from disk, chunk by chunk as `file` reads them. If reading fails part-way, the body is ended with an aborted
 * trailer, so the client can tell the failure from a complete file and the connection stays usable;
 * the reason is returned.
 */
export const sendStreamed = <R>(
  connection: Connection,
  file: OpenStream,
  digest: Digest,
  onSent: OnSent<R>
): Effect.Effect<string | undefined, ConnectionError, R> =>
  Effect.gen(function*() {
    const hash = hasher(digest)
    yield* connection.write(Codec.encodeFileHead(file.info.size, digest))
    const send = (chunk: Uint8Array) =>
      Effect.gen(function*() {
        hash.update(chunk)
        const started = yield* Clock.currentTimeMillis
        yield* connection.write(Codec.encodeSegmentHead(chunk.length), chunk)
        yield* file.sent(chunk, (yield* Clock.currentTimeMillis) - started)
        yield* onSent(chunk.length)
      })
    const body = Effect.gen(function*() {
      for (let chunks = yield* file.next; Chunk.isNonEmpty(chunks); chunks = yield* file.next) {
        for (const chunk of chunks) yield* send(chunk)
      }
    })
    return yield* body.pipe(
      Effect.zipRight(
        Effect.suspend(() => connection.write(Codec.encodeTrailer(Codec.Trailer.Complete({ digest: hash.digest() }))))
      ),
      Effect.as(undefined),
      Effect.catchTag("FileStoreError", (error) =>
        connection.write(
          Codec.encodeTrailer(Codec.Trailer.Aborted({ status: Codec.Status.InternalError, message: error.message }))
        ).pipe(Effect.as(error.message)))
    )
  })
