/**
 * The files a server serves: names confined to one directory, each read as a whole or opened and
 * read at any position, and never served as a version other than the one that was looked up.
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"

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

/** One version of a file, open: a reader with a position, as Go's `io.ReaderAt`. */
export interface OpenFile {
  readonly info: FileInfo
  /**
   * Reads the bytes at `position` into `buffer`, as many as fit and at most up to `info.size`, and
   * returns how many: 0 only at `info.size`. Fails with `Changed` when the file is not `info`'s
   * version any more: it ended early, or (checked by the read that reaches the end) it grew or was
   * modified.
   */
  readonly readInto: (buffer: Uint8Array, position: number) => Effect.Effect<number, FileStoreError>
}

/** Reads all of `file` into `buffer` (of its size), checking its end as the last read does. */
export const readWhole = (file: OpenFile, buffer: Uint8Array): Effect.Effect<Uint8Array, FileStoreError> =>
  Effect.gen(function*() {
    let filled = 0
    // One read at least: for an empty file, the read at its end is the check that it still is.
    do filled += yield* file.readInto(buffer.subarray(filled), filled)
    while (filled < buffer.length)
    return buffer
  })

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
   * Opens the file, held open until the current scope closes; fails with `Changed` unless what is
   * found under `info.name` now is exactly `info`'s version.
   */
  readonly open: (info: FileInfo) => Effect.Effect<OpenFile, FileStoreError, Scope.Scope>
  /** File handles open right now, for checking that none is left behind. */
  readonly openHandles: Effect.Effect<number>
}>() {}
