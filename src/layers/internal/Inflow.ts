/**
 * Where a socket's incoming bytes land before a read takes them, and how far ahead of the reads the
 * socket may go: Node's own buffers (a new one per read: the server's choice, where requests are
 * small), or a few large slabs read into again and again (a receiver of large files: no allocation
 * and no garbage per read, and a read takes whatever the kernel has, up to a slab).
 */
import type * as Net from "node:net"

export interface Inflow {
  /** Starts handing each chunk as it arrives to `onChunk`. */
  readonly start: (onChunk: (chunk: Uint8Array) => void) => void
  /** `chunk` goes to a reader; the chunk that went before it is given up. */
  readonly taken: (chunk: Uint8Array) => void
  /** Whether the socket may read more while `queued` bytes wait for a reader. */
  readonly mayRead: (queued: number) => boolean
}

/** Node's buffers, read up to `readAhead` bytes ahead of the reads (0: only while a read waits). */
export const nodeBuffers = (socket: Net.Socket, readAhead: number): Inflow => ({
  start: (onChunk) =>
    socket.on("data", (buffer: Buffer) =>
      // A plain view of the same bytes, so that both transports hand out the same kind of array.
      onChunk(new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength))),
  taken: () => {},
  mayRead: (queued) => queued < readAhead
})

export interface Slabs {
  /** For `net.connect`'s `onread`, which only a socket being created takes. */
  readonly onread: Net.OnReadOpts
  readonly inflow: Inflow
}

/**
 * What a read into a slab is given at least: what is left of the slab being filled when it holds as
 * much, a slab of its own otherwise. Over TLS a read brings one record (16 KiB at most): with a slab
 * per read, read-ahead would be a few records instead of a few slabs.
 */
const MIN_READ_BYTES = 64 * 1024

/**
 * `count` slabs of `size` bytes (at least 2), each filled by successive reads. A chunk is valid until
 * the next read: once the reader has gone past all of a slab's chunks, it is read into again. The
 * socket pauses while a slab is the only one free, kept for the read Node has already been handed;
 * it reads on once a read gives one back.
 */
export const slabs = (count: number, size: number): Slabs => {
  const free: Array<Uint8Array> = Array.from({ length: Math.max(2, count) }, () => new Uint8Array(size))
  // The slab reads go into, and how much of it they have filled.
  let filling: Uint8Array | undefined
  let filled = 0
  // The slab of the chunk the reader holds.
  let given: ArrayBufferLike | undefined
  let onChunk: (chunk: Uint8Array) => void = () => {}
  return {
    onread: {
      // Called once as the socket is made, then after every callback: the rest of the slab being
      // filled, or a slab free, as the socket pauses before the last is taken (a new one otherwise,
      // rather than a slab still in use).
      buffer: () => {
        if (filling === undefined || filling.length - filled < MIN_READ_BYTES) {
          filling = free.pop() ?? new Uint8Array(size)
          filled = 0
        }
        return filling.subarray(filled)
      },
      callback: (bytes, buffer) => {
        filled += bytes
        onChunk(buffer.subarray(0, bytes))
        return true
      }
    },
    inflow: {
      start: (handler) => void (onChunk = handler),
      // Chunks are taken in order: one from another slab means the reader is done with the last.
      taken: (chunk) => {
        if (given !== undefined && given !== chunk.buffer) free.push(new Uint8Array(given, 0, size))
        given = chunk.buffer
      },
      mayRead: () => free.length > 1
    }
  }
}
