/**
 * The files a server serves: names confined to one directory, each read as a whole or opened and
 * read at any position, and never served as a version other than the one that was looked up; and
 * the directory's listing, confined the same way.
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
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

/** One entry of a listing: a path relative to the served directory, `/`-separated, no trailing slash. */
export interface DirEntry {
  readonly path: string
  readonly type: "file" | "directory"
  /** Bytes, for a file; 0 for a directory. */
  readonly size: number
  readonly mtimeMs: number
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
   * - `NotFound`: no regular file of that name inside the directory, or for a listing no file or
   *   directory (including every name that tries to leave it, which must not be told apart from a
   *   missing file);
   * - `Changed`: the file is no longer the version that was looked up (it grew, shrank, was
   *   replaced or deleted while being read);
   * - `Unreadable`: the file (or the directory to list) is there but reading it failed (permissions,
   *   I/O error).
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
  /**
   * `stat` without an Effect, for a hot path: the name's current version when an earlier `stat` has
   * already found it to be a regular file inside the directory and it is still that file; undefined
   * whenever that cannot be said at once (then `stat` decides, NotFound included). Left out by a store
   * that cannot answer synchronously.
   */
  readonly statKnown?: (name: string) => FileInfo | undefined
  /** Reads the whole file, failing with `Changed` unless exactly `info`'s version was read. */
  readonly read: (info: FileInfo) => Effect.Effect<Uint8Array, FileStoreError>
  /**
   * Opens the file, held open until the current scope closes; fails with `Changed` unless what is
   * found under `info.name` now is exactly `info`'s version.
   */
  readonly open: (info: FileInfo) => Effect.Effect<OpenFile, FileStoreError, Scope.Scope>
  /**
   * The entries under `path` ("" for the directory itself), one directory level or, when `recursive`,
   * the whole tree. Each directory's entries are sorted by name in UTF-16 code unit order (JavaScript's
   * `<`, not a locale's) and all come before the entries of its subdirectories, which follow one
   * subdirectory after another, depth first, as `ls -R` lists them: a directory's entry always comes
   * before what it holds. `path` naming a file lists that one file. Entries are read as the stream is
   * pulled, so a listing is not a snapshot.
   *
   * Fails with `NotFound` for a path that is missing or leaves the directory, exactly as `stat` does,
   * and with `Unreadable` when the directory `path` names cannot be read. Confined as `stat` is: a
   * symlink is listed as what it points to when that is inside the directory, and left out when it
   * points outside (or nowhere); anything that is neither a regular file nor a directory is left out,
   * and so is an entry whose path `stat` would not accept (control characters, a backslash, too long).
   * A directory reached twice (symlink loops, two links to one directory) is listed each time but
   * walked once, the first time it is reached. Past `path` itself the walk does not fail: a
   * subdirectory that cannot be read is listed with nothing under it, and an entry that vanishes
   * while it is listed is left out.
   */
  readonly list: (path: string, options: { readonly recursive: boolean }) => Stream.Stream<DirEntry, FileStoreError>
  /** File handles open right now, for checking that none is left behind. */
  readonly openHandles: Effect.Effect<number>
}>() {}
