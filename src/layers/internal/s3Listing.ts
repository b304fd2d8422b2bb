/**
 * An S3 listing as `FileStore.list` orders it. One level is a ListObjectsV2 with `delimiter=/`, its
 * CommonPrefixes the directories; a recursive listing is one without a delimiter, the directories
 * being those its keys imply (`listNames`). S3 lists keys in UTF-8 byte order, which is not the
 * contract's UTF-16 order, so every page is read before the first entry is given.
 */
import { isAcceptableName } from "../../services/FileName.js"
import type { DirEntry } from "../../services/FileStore.js"
import { listNames } from "./listNames.js"
import type { ListedObject } from "./s3Requests.js"

/** What ListObjectsV2 found under a directory, every key and prefix relative to the served prefix. */
export interface Listed {
  readonly objects: ReadonlyArray<ListedObject>
  readonly prefixes: ReadonlyArray<string>
}

const byPath = (a: DirEntry, b: DirEntry) => a.path < b.path ? -1 : a.path > b.path ? 1 : 0

/**
 * The entries of directory `path` ("" for the root) from a listing with a delimiter. A directory
 * has no time of its own in S3: 0. A name that is both a file and a directory is the file, as in
 * a recursive listing; names `stat` would not accept are left out.
 */
const oneLevel = (path: string, { objects, prefixes }: Listed): Array<DirEntry> => {
  const base = path === "" ? "" : `${path}/`
  const entries = new Map<string, DirEntry>()
  for (const prefix of prefixes) {
    const name = prefix.replace(/\/$/, "")
    if (name.length > base.length && isAcceptableName(name)) {
      entries.set(name, { path: name, type: "directory", size: 0, mtimeMs: 0 })
    }
  }
  for (const object of objects) {
    // The directory's own marker object ("path/") is not an entry; `isAcceptableName` leaves it out.
    if (isAcceptableName(object.key) && !object.key.slice(base.length).includes("/")) {
      entries.set(object.key, { path: object.key, type: "file", size: object.size, mtimeMs: object.lastModifiedMs })
    }
  }
  return [...entries.values()].sort(byPath)
}

/** The entries under `path`, or `undefined` where the listing finds no directory there (NotFound). */
export const entriesOf = (path: string, listed: Listed, recursive: boolean): Iterable<DirEntry> | undefined => {
  // A directory holding nothing `stat` accepts (only its marker, say) is not there, as in `listNames`.
  if (!recursive) {
    const entries = oneLevel(path, listed)
    return path === "" || entries.length > 0 ? entries : undefined
  }
  const files = new Map(listed.objects.map((object) => [object.key, {
    size: object.size,
    mtimeNs: BigInt(object.lastModifiedMs) * 1_000_000n
  }]))
  return listNames(files, path, true)
}
