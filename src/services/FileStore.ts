/**
 * The files a server serves: names confined to one directory, each read as a whole or as a stream,
 * and never served as a version other than the one that was looked up.
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import type * as Effect from "effect/Effect"
import type * as Stream from "effect/Stream"

/** One version of a file: what a cache entry is checked against before it is served. */
export interface FileInfo {
  readonly name: string
  readonly size: number
  /** Modification time in nanoseconds. */
  readonly mtimeNs: bigint
  /** Device and inode: which file, as opposed to which name. */
  readonly dev: bigint
  readonly ino: bigint
}

/** True when both describe the same version of the same file. */
export const sameVersion = (a: FileInfo, b: FileInfo): boolean =>
  a.size === b.size && a.mtimeNs === b.mtimeNs && a.ino === b.ino && a.dev === b.dev

/** A chunk size in bytes, or how to choose the next one. */
export type ChunkSize = number | (() => number)

/** The size of the next chunk: at least 1 byte, a whole number. */
export const nextChunkSize = (chunkSize: ChunkSize): number =>
  Math.max(1, Math.floor(typeof chunkSize === "number" ? chunkSize : chunkSize()))

/** Memory for a chunk of `size` bytes to be read into: a fresh buffer each time unless the reader recycles. */
export type Allocate = (size: number) => Uint8Array

export const freshBuffer: Allocate = (size) => Buffer.allocUnsafeSlow(size)

export class FileStoreError extends Data.TaggedError("FileStoreError")<{
  /**
   * - `NotFound`: no regular file of that name inside the directory (including every name that
   *   tries to leave it, which must not be told apart from a missing file);
   * - `Changed`: the file is no longer the version that was looked up (it grew, shrank, was
   *   replaced or deleted while being read);
   * - `Unreadable`: the file is there but reading it failed (permissions, I/O error).
   */
  readonly reason: "NotFound" | "Changed" | "Unreadable"
  readonly name: string
  readonly cause?: unknown
}> {
  override get message(): string {
    switch (this.reason) {
      case "NotFound":
        return `no such file: ${this.name}`
      case "Changed":
        return `file changed while being read: ${this.name}`
      case "Unreadable":
        return `cannot read file: ${this.name}`
    }
  }
}

export class FileStore extends Context.Tag("ferry/FileStore")<FileStore, {
  /** Looks a name up. Fails with `NotFound` for anything but a regular file inside the directory. */
  readonly stat: (name: string) => Effect.Effect<FileInfo, FileStoreError>
  /** Reads the whole file, failing with `Changed` unless exactly `info`'s version was read. */
  readonly read: (info: FileInfo) => Effect.Effect<Uint8Array, FileStoreError>
  /**
   * Streams the file in chunks of at most `chunkSize` bytes (asked again before each read when it
   * is a function, so that the reader can follow its consumer's pace), holding one open handle for the
   * stream's lifetime. Fails with `Changed` (possibly after some chunks) unless exactly `info`'s
   * version was read. A store that reads into memory reads each chunk into `allocate(size)` (a view
   * of it is emitted); a store that already holds the bytes may emit views of its own instead.
   */
  readonly stream: (
    info: FileInfo,
    chunkSize: ChunkSize,
    allocate?: Allocate
  ) => Stream.Stream<Uint8Array, FileStoreError>
  /** File handles open right now, for checking that none is left behind. */
  readonly openHandles: Effect.Effect<number>
}>() {}
