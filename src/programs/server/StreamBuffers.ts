/**
 * The memory meant for file chunks read for streaming and not yet sent, for the whole server. Each
 * stream holds at most two buffers of a chunk's size (one being sent, one read ahead into the buffer
 * of the chunk sent before), so it gets chunks of at most `bytes / (2 × streams)`, but never smaller
 * than the smallest chunk: past `bytes / (2 × 64 KiB)` streams, the bound grows with them. Nobody
 * waits for room: a budget one could exhaust by opening streams and not reading them would be a way
 * to stop everyone else's. The share is taken at each read: a stream that read while there were
 * fewer others keeps its larger chunks only until it reads again.
 *
 * The share must not be smaller than it needs to be: a stream costs the server about the same per
 * chunk whatever its size, so with many streams open their throughput together is about their chunk
 * size times a number of chunks per second that does not grow.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"

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

export const CHUNKS_HELD = 2

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
