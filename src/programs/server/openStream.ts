/**
 * Opening a file to stream it: chunks sized to the client's pace, one read ahead so that the disk
 * and the network work at the same time, and no larger than the stream's fair share of one budget
 * for all the streams of the server, so that hundreds of slow clients cannot make it hold much more.
 */
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { FileInfo, FileStore, FileStoreError } from "../../services/FileStore.js"
import * as Pace from "./Pace.js"

/**
 * The memory meant for file chunks read for streaming and not yet sent, for the whole server. Each
 * stream holds at most three chunks (one being sent, one read ahead, one just read), so it gets
 * chunks of at most `bytes / (3 × streams)`, but never smaller than `Pace.MIN_CHUNK_BYTES`: past
 * `bytes / (3 × 64 KiB)` streams, the bound grows with them. Nobody waits for room: a budget one
 * could exhaust by opening streams and not reading them would be a way to stop everyone else's.
 * The share is taken at each read: a stream that read while there were fewer others keeps its larger
 * chunks only until it reads again.
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

const CHUNKS_HELD = 3

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
  readonly body: Stream.Stream<Uint8Array, FileStoreError>
  /** `bytes` of the body were taken by the client in `millis`: they are no longer held, the pace follows. */
  readonly sent: (bytes: number, millis: number) => Effect.Effect<void>
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
    const chunkSize = () => Math.max(Pace.MIN_CHUNK_BYTES, Math.min(pace.next(), buffers.share()))

    const pull = yield* Stream.toPull(files.stream(info, chunkSize))
    const next = Effect.tap(pull, (chunk) =>
      Effect.sync(() => {
        const read = Chunk.reduce(chunk, 0, (sum, bytes) => sum + bytes.length)
        held += read
        buffers.count(read)
      }))
    const first = yield* next.pipe(
      Effect.catchAll(Option.match({ onNone: () => Effect.succeed(Chunk.empty<Uint8Array>()), onSome: Effect.fail }))
    )
    const body = Stream.concat(Stream.fromChunk(first), Stream.repeatEffectChunkOption(next)).pipe(
      Stream.buffer({ capacity: 1 })
    )
    const sent = (bytes: number, millis: number) =>
      Effect.sync(() => {
        pace.record(bytes, millis)
        held -= bytes
        buffers.count(-bytes)
      })
    return { info, body, sent } satisfies OpenStream
  })
