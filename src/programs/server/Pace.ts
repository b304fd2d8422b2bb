/**
 * The size of the next chunk of a streamed file, following how fast its client takes them: a fast
 * client gets large chunks (fewer reads, writes and hash calls per byte), a slow one small chunks,
 * so that what the server holds for it, a chunk being sent and one read ahead, stays small.
 */

export const MIN_CHUNK_BYTES = 64 * 1024
export const MAX_CHUNK_BYTES = 1024 * 1024
// A chunk should take about this long to hand over: enough for the next read to happen meanwhile.
const TARGET_MILLIS = 20

export interface Pace {
  readonly next: () => number
  /** A chunk of `bytes` took `millis` to be taken by the client. */
  readonly record: (bytes: number, millis: number) => void
}

export const make = (): Pace => {
  // Starts small and at most doubles each chunk: slow start, as TCP does.
  let size = MIN_CHUNK_BYTES
  return {
    next: () => size,
    record: (bytes, millis) => {
      const fitting = millis > 0 ? (bytes / millis) * TARGET_MILLIS : Infinity
      size = Math.max(MIN_CHUNK_BYTES, Math.min(MAX_CHUNK_BYTES, 2 * size, fitting))
    }
  }
}
