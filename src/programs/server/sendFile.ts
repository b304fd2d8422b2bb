/**
 * Writing a file response: a cached file from memory in large slices, a streamed one chunk by
 * chunk at the client's pace, hashed on the way so that its trailer can carry the digest.
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { createHash } from "node:crypto"
import * as Codec from "../../protocol/Codec.js"
import type { CachedFile } from "../../services/Cache.js"
import type { Connection, ConnectionError } from "../../services/Connection.js"
import type { FileInfo, FileStoreError } from "../../services/FileStore.js"

/** Slices of a cached file per write: large enough to saturate loopback, small enough to interleave. */
export const SEGMENT_BYTES = 1024 * 1024
/** What was sent: `aborted` says why the body was cut short, if it was. */
export interface Sent {
  readonly bytes: number
  readonly aborted?: string
}

export const sendCached = (connection: Connection, file: CachedFile): Effect.Effect<Sent, ConnectionError> =>
  Effect.gen(function*() {
    const { bytes } = file
    const head = Codec.encodeFileHead(bytes.length)
    const trailer = Codec.encodeTrailer(Codec.Trailer.Complete({ digest: file.digest }))
    if (bytes.length === 0) {
      yield* connection.write(head, trailer)
      return { bytes: 0 }
    }
    for (let at = 0; at < bytes.length; at += SEGMENT_BYTES) {
      const slice = bytes.subarray(at, at + SEGMENT_BYTES)
      const pieces = [Codec.encodeSegmentHead(slice.length), slice]
      if (at === 0) pieces.unshift(head)
      if (at + slice.length === bytes.length) pieces.push(trailer)
      yield* connection.write(...pieces)
    }
    return { bytes: bytes.length }
  })

/**
 * Streams a file's `body` from disk. If reading fails part-way, the body is ended with an aborted
 * trailer, so the client can tell the failure from a complete file and the connection stays usable.
 */
export const sendStreamed = (
  connection: Connection,
  info: FileInfo,
  body: Stream.Stream<Uint8Array, FileStoreError>
): Effect.Effect<Sent, ConnectionError> =>
  Effect.gen(function*() {
    const hash = createHash("sha256")
    let sent = 0
    yield* connection.write(Codec.encodeFileHead(info.size))
    return yield* body.pipe(
      Stream.runForEach((chunk) => {
        hash.update(chunk)
        sent += chunk.length
        return connection.write(Codec.encodeSegmentHead(chunk.length), chunk)
      }),
      Effect.zipRight(
        Effect.suspend(() => connection.write(Codec.encodeTrailer(Codec.Trailer.Complete({ digest: hash.digest() }))))
      ),
      Effect.as<Sent>({ bytes: info.size }),
      Effect.catchTag("FileStoreError", (error) =>
        connection.write(
          Codec.encodeTrailer(Codec.Trailer.Aborted({ status: Codec.Status.InternalError, message: error.message }))
        ).pipe(Effect.as<Sent>({ bytes: sent, aborted: error.message })))
    )
  })
