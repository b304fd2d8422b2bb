/**
 * A file response streamed from disk, for a file that is not cached: read a chunk ahead of the one
 * being sent, so that the disk and the network work at the same time; hashed on the way, so that the
 * trailer can carry the digest. Chunks follow the client's pace and stay within the stream's share of
 * the server's StreamBuffers, so hundreds of slow clients cannot make it hold much; their buffers are
 * read into again once sent.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Codec from "../../protocol/Codec.js"
import { type Digest, type Hasher, hasher } from "../../protocol/Digest.js"
import type { Connection, ConnectionError } from "../../services/Connection.js"
import type { FileInfo, FileStore, FileStoreError } from "../../services/FileStore.js"
import { fileVersion } from "./fileVersion.js"
import type { OnSent } from "./sendCached.js"
import { CHUNKS_HELD, StreamBuffers } from "./StreamBuffers.js"

export const MIN_CHUNK_BYTES = 64 * 1024
export const MAX_CHUNK_BYTES = 1024 * 1024
// A chunk should take about this long to hand over: enough for the next read to happen meanwhile.
const TARGET_MILLIS = 20

/** A file opened for streaming, its first chunk read. */
export interface OpenStream {
  readonly info: FileInfo
  /** The next chunk of the file, one read ahead; empty once it has all been read. */
  readonly next: Effect.Effect<Uint8Array, FileStoreError>
  /**
   * `chunk` was handed to the network in `millis`: it is no longer held, its memory may be read
   * into again, and the pace follows.
   */
  readonly sent: (chunk: Uint8Array, millis: number) => Effect.Effect<void>
}

/** The largest power of two at most `bytes` (and at least 1). */
const powerOfTwoBelow = (bytes: number) => 2 ** Math.floor(Math.log2(Math.max(1, bytes)))

const EMPTY = new Uint8Array(0)

/** The bytes of a file to stream: from `start`, up to and not including `end`. */
export interface Window {
  readonly start: number
  readonly end: number
}

/**
 * Opens `info` for streaming and reads its first chunk; the file is held open for the scope. Only
 * `window` is read, from its start: a range costs no read of what comes before it.
 */
export const openStream = (files: FileStore["Type"], info: FileInfo, window: Window = { start: 0, end: info.size }) =>
  Effect.gen(function*() {
    const buffers = yield* StreamBuffers
    yield* buffers.enter
    const file = yield* files.open(info)
    // What this stream has read and not sent: no longer counted once it ends, however it ends.
    let held = 0
    yield* Effect.addFinalizer(() => Effect.sync(() => buffers.count(-held)))

    // The pace: chunks start small and at most double each time, as TCP's slow start does, towards
    // what the client takes in TARGET_MILLIS; never above the stream's share of the budget.
    let paced = MIN_CHUNK_BYTES
    const chunkSize = () => powerOfTwoBelow(Math.max(MIN_CHUNK_BYTES, Math.min(paced, buffers.share())))
    // Buffers come back once their chunk is sent, so a stream allocates the few it has in flight rather
    // than one per chunk (garbage for the collector, and holes in the heap that keep its resident size
    // up); kept only while the chunk size stays the same.
    let spare: Array<Uint8Array> = []
    const bufferOf = (size: number) => {
      const index = spare.findIndex((buffer) => buffer.length === size)
      if (index >= 0) return spare.splice(index, 1)[0]!
      spare = spare.filter((buffer) => buffer.length === size)
      return Buffer.allocUnsafeSlow(size)
    }

    let position = window.start
    let started = false
    const read = Effect.suspend(() => {
      // The read that reaches the end has checked it: there is nothing more to read.
      // So does nothing else: a window that ends before it is done once it is read.
      if (position >= window.end && (started || window.end < info.size)) return Effect.succeed(EMPTY)
      started = true
      const buffer = bufferOf(chunkSize())
      const wanted = window.end - position >= buffer.length ? buffer : buffer.subarray(0, window.end - position)
      return Effect.map(file.readInto(wanted, position), (bytesRead) => {
        position += bytesRead
        held += bytesRead
        buffers.count(bytesRead)
        return buffer.subarray(0, bytesRead)
      })
    })

    // One read ahead: a plain fiber rather than a buffered stream, which would cost several times the
    // allocations per chunk.
    const scope = yield* Effect.scope
    let ahead: Effect.Effect<Uint8Array, FileStoreError> = Effect.succeed(yield* read)
    const next = Effect.gen(function*() {
      const chunk = yield* ahead
      if (chunk.length > 0) ahead = Fiber.join(yield* Effect.forkIn(read, scope))
      return chunk
    })
    const sent = (chunk: Uint8Array, millis: number) =>
      Effect.sync(() => {
        const fitting = millis > 0 ? (chunk.length / millis) * TARGET_MILLIS : Infinity
        paced = Math.max(MIN_CHUNK_BYTES, Math.min(MAX_CHUNK_BYTES, 2 * paced, fitting))
        held -= chunk.length
        buffers.count(-chunk.length)
        if (spare.length <= CHUNKS_HELD) spare.push(new Uint8Array(chunk.buffer, 0, chunk.buffer.byteLength))
      })
    return { info, next, sent } satisfies OpenStream
  })

/**
 * Sends `file` chunk by chunk from byte `start` on; the bytes before it are read and hashed, not
 * sent, since the trailer's digest is of the whole file. If reading fails part-way, the body is
 * ended with an aborted trailer, so the client can tell the failure from a complete file and the
 * connection stays usable; the reason is returned.
 *
 * `file`'s chunks start at byte `from` (0 unless told), and `hash` is what the trailer's digest comes
 * from: by default, a hasher fed every chunk; a file read in slices brings its own.
 */
export const sendStreamed = <R>(
  connection: Connection,
  file: OpenStream,
  digest: Digest,
  start: number,
  onSent: OnSent<R>,
  hash: Hasher = hasher(digest),
  from = 0
): Effect.Effect<string | undefined, ConnectionError, R> => {
  // Sent with the first bytes that go out: before the trailer, however the body ends.
  let head: Uint8Array | undefined = Codec.encodeFileHead(file.info.size, digest, {
    version: fileVersion(file.info),
    start
  })
  const withHead = (...pieces: Array<Uint8Array>) =>
    Effect.suspend(() => {
      const written = head === undefined ? connection.write(...pieces) : connection.write(head, ...pieces)
      head = undefined
      return written
    })
  return Effect.gen(function*() {
    let position = from
    for (let chunk = yield* file.next; chunk.length > 0; chunk = yield* file.next) {
      hash.update(chunk)
      const skipped = Math.min(chunk.length, Math.max(0, start - position))
      position += chunk.length
      if (skipped === chunk.length) {
        yield* file.sent(chunk, 0)
        continue
      }
      const sending = chunk.subarray(skipped)
      const started = yield* Clock.currentTimeMillis
      const segment = Codec.encodeSegmentHead(sending.length)
      yield* withHead(segment, sending)
      yield* file.sent(chunk, (yield* Clock.currentTimeMillis) - started)
      yield* onSent(sending.length)
    }
    const trailer = Codec.encodeTrailer(Codec.Trailer.Complete({ digest: hash.digest() }))
    yield* withHead(trailer)
    return undefined
  }).pipe(
    Effect.catchTag("FileStoreError", (error) =>
      withHead(
        Codec.encodeTrailer(Codec.Trailer.Aborted({ status: Codec.Status.InternalError, message: error.message }))
      ).pipe(Effect.as(error.message)))
  )
}

/** The digest of the whole of `file`, read through without sending it. */
export const digestOfStream = (file: OpenStream, digest: Digest): Effect.Effect<Uint8Array, FileStoreError> =>
  Effect.gen(function*() {
    const hash = hasher(digest)
    for (let chunk = yield* file.next; chunk.length > 0; chunk = yield* file.next) {
      hash.update(chunk)
      yield* file.sent(chunk, 0)
    }
    return hash.digest()
  })
