/**
 * Opening a file to stream it: chunks sized to the client's pace, one read ahead so that the disk
 * and the network work at the same time, and no larger than the stream's fair share of one budget
 * for all the streams of the server, so that hundreds of slow clients cannot make it hold much more.
 */
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { Allocate, FileInfo, FileStore, FileStoreError } from "../../services/FileStore.js"
import * as Pace from "./Pace.js"

/**
 * The memory meant for file chunks read for streaming and not yet sent, for the whole server. Each
 * stream has at most two buffers of a chunk's size (one being sent, one read ahead into the buffer
 * of the chunk sent before), so it gets chunks of at most `bytes / (2 × streams)`, but never smaller
 * than `Pace.MIN_CHUNK_BYTES`: past `bytes / (2 × 64 KiB)` streams, the bound grows with them.
 * Nobody waits for room: a budget one could exhaust by opening streams and not reading them would be
 * a way to stop everyone else's. The share is taken at each read: a stream that read while there
 * were fewer others keeps its larger chunks only until it reads again.
 *
 * The share must not be smaller than it needs to be: a stream costs the server about the same per
 * chunk whatever its size, so with many streams open their throughput together is about their chunk
 * size times a number of chunks per second that does not grow. Counting a third buffer per stream
 * that it never holds made that a third less than the budget allows.
 */
export class StreamBuffers extends Context.Tag("ferry/StreamBuffers")<StreamBuffers, {
  readonly bytes: number
  /** Counts a stream in for the current scope. */
  readonly enter: Effect.Effect<void, never, Scope.Scope>
  /** The largest chunk a stream should read now. */
  readonly share: () => number
  /** Bytes read and not yet sent, all streams together, counted as they come and go. */
  readonly held: Effect.Effect<number>
  readonly count: (bytes: number) => void
}>() {}

const CHUNKS_HELD = 2

export const makeStreamBuffers = (bytes: number) =>
  Effect.sync(() => {
    let streams = 0
    let held = 0
    return StreamBuffers.of({
      bytes,
      enter: Effect.acquireRelease(Effect.sync(() => void streams++), () => Effect.sync(() => void streams--)),
      share: () => Math.floor(bytes / (CHUNKS_HELD * Math.max(1, streams))),
      held: Effect.sync(() => held),
      count: (delta) => void (held += delta)
    })
  })

export interface OpenStream {
  readonly info: FileInfo
  /** The next chunks of the file, in order, one read ahead; empty once it has all been read. */
  readonly next: Effect.Effect<Chunk.Chunk<Uint8Array>, FileStoreError>
  /**
   * `chunk` of the body was handed to the network in `millis`: it is no longer held, its memory may
   * be read into again, and the pace follows.
   */
  readonly sent: (chunk: Uint8Array, millis: number) => Effect.Effect<void>
}

/** The largest power of two at most `bytes` (and at least 1). */
const powerOfTwoBelow = (bytes: number) => 2 ** Math.floor(Math.log2(Math.max(1, bytes)))

// A cap on the spares kept: in steady state a chunk's buffer waits there only from its being sent
// until the next read takes it, while the other is being sent or read ahead.
const SPARE_BUFFERS = CHUNKS_HELD + 2

/**
 * The memory a stream reads into, reused: a chunk's buffer comes back once the chunk has been sent,
 * so a stream allocates the few buffers it has in flight rather than one per chunk (garbage for the
 * collector, and holes in the heap that keep its resident size up). Chunks are sized in powers of
 * two, so a buffer fits the next chunk unless the size changed; buffers of an old size are dropped.
 */
const makeRecycler = () => {
  const own = new WeakMap<ArrayBufferLike, Uint8Array>()
  let spare: Array<Uint8Array> = []
  const allocate: Allocate = (size) => {
    const index = spare.findIndex((buffer) => buffer.length === size)
    if (index >= 0) return spare.splice(index, 1)[0]!
    // The last chunk of a file is smaller than the others: spare buffers of the usual size stay.
    if (size === powerOfTwoBelow(size)) spare = spare.filter((buffer) => buffer.length === size)
    const buffer = Buffer.allocUnsafeSlow(size)
    own.set(buffer.buffer, buffer)
    return buffer
  }
  const recycle = (chunk: Uint8Array) => {
    const buffer = own.get(chunk.buffer)
    if (buffer !== undefined && spare.length < SPARE_BUFFERS) spare.push(buffer)
  }
  return { allocate, recycle }
}

/** Opens `info` for streaming and reads its first chunk; the file is held open for the scope. */
export const openStream = (files: FileStore["Type"], info: FileInfo) =>
  Effect.gen(function*() {
    const buffers = yield* StreamBuffers
    yield* buffers.enter
    const pace = Pace.make()
    // What this stream has read and not sent: no longer counted once it ends, however it ends.
    let held = 0
    yield* Effect.addFinalizer(() => Effect.sync(() => buffers.count(-held)))
    const chunkSize = () => powerOfTwoBelow(Math.max(Pace.MIN_CHUNK_BYTES, Math.min(pace.next(), buffers.share())))
    const recycler = makeRecycler()

    const pull = yield* Stream.toPull(files.stream(info, chunkSize, recycler.allocate))
    // The file's next chunks, counted as held; empty at the end.
    const read = pull.pipe(
      Effect.catchAll(Option.match({ onNone: () => Effect.succeed(Chunk.empty<Uint8Array>()), onSome: Effect.fail })),
      Effect.tap((chunks) =>
        Effect.sync(() => {
          const bytes = Chunk.reduce(chunks, 0, (sum, chunk) => sum + chunk.length)
          held += bytes
          buffers.count(bytes)
        })
      )
    )
    // One read ahead, so that the disk and the network work at the same time: a plain fiber rather
    // than a buffered stream, which would cost several times the allocations per chunk.
    const scope = yield* Effect.scope
    const readAhead = Effect.forkIn(read, scope)
    let ahead: Effect.Effect<Chunk.Chunk<Uint8Array>, FileStoreError> = Effect.succeed(yield* read)
    const next = Effect.gen(function*() {
      const chunks = yield* ahead
      if (Chunk.isEmpty(chunks)) return chunks
      const fiber = yield* readAhead
      ahead = Fiber.join(fiber)
      return chunks
    })
    const sent = (chunk: Uint8Array, millis: number) =>
      Effect.sync(() => {
        pace.record(chunk.length, millis)
        held -= chunk.length
        buffers.count(-chunk.length)
        recycler.recycle(chunk)
      })
    return { info, next, sent } satisfies OpenStream
  })
