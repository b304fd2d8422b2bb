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
 * `count` slabs of `size` bytes (at least 2). A chunk is valid until the next read: then its slab
 * is read into again. The socket pauses while a slab is the only one free, kept for the read Node
 * has already been handed; it reads on once a read gives one back.
 */
export const slabs = (count: number, size: number): Slabs => {
  const free: Array<Uint8Array> = Array.from({ length: Math.max(2, count) }, () => new Uint8Array(size))
  let given: Uint8Array | undefined
  let onChunk: (chunk: Uint8Array) => void = () => {}
  return {
    onread: {
      // Called once as the socket is made, then after every callback: with a slab free, as the socket
      // pauses before the last is taken (a new one otherwise, rather than a slab still in use).
      buffer: () => free.pop() ?? new Uint8Array(size),
      callback: (bytes, slab) => {
        onChunk(slab.subarray(0, bytes))
        return true
      }
    },
    inflow: {
      start: (handler) => void (onChunk = handler),
      taken: (chunk) => {
        if (given !== undefined) free.push(given)
        given = new Uint8Array(chunk.buffer, 0, size)
      },
      mayRead: () => free.length > 1
    }
  }
}
