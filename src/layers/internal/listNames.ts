/**
 * The `list` of a store whose names are a flat table of `/`-separated names (the in-memory store, an
 * S3 bucket listed without a delimiter): the directories they imply, listed in the live store's
 * order. There are no empty directories, and no symlinks.
 */
import { isAcceptableName } from "../../services/FileName.js"
import type { DirEntry } from "../../services/FileStore.js"

export interface NamedFile {
  readonly size: number
  readonly mtimeNs: bigint
}

/** A directory implied by the names under it, as new as the newest file it holds. */
interface Folder {
  mtimeNs: bigint
  readonly children: Map<string, NamedFile | Folder>
}

const isFolder = (node: NamedFile | Folder): node is Folder => "children" in node

const emptyFolder = (): Folder => ({ mtimeNs: 0n, children: new Map() })

/** The folders down `segments` from `root`, made as needed; `undefined` where a file is in the way. */
const foldersAlong = (root: Folder, segments: ReadonlyArray<string>): Array<Folder> | undefined => {
  const folders = [root]
  for (const segment of segments) {
    const parent = folders[folders.length - 1]!
    const child = parent.children.get(segment) ?? emptyFolder()
    if (!isFolder(child)) return undefined
    parent.children.set(segment, child)
    folders.push(child)
  }
  return folders
}

// A name that is a file and also a directory on the way to another name stays a file; names `stat`
// would not accept are left out, as the live store leaves them out.
const folderOf = (files: ReadonlyMap<string, NamedFile>, directory: string): Folder => {
  const root = emptyFolder()
  const start = directory === "" ? "" : `${directory}/`
  for (const [name, file] of files) {
    if (!name.startsWith(start) || !isAcceptableName(name)) continue
    const segments = name.slice(start.length).split("/")
    const last = segments.pop()!
    const folders = foldersAlong(root, segments)
    if (folders === undefined) continue
    folders[folders.length - 1]!.children.set(last, file)
    for (const folder of folders) if (file.mtimeNs > folder.mtimeNs) folder.mtimeNs = file.mtimeNs
  }
  return root
}

const entryOf = (path: string, node: NamedFile | Folder): DirEntry => ({
  path,
  type: isFolder(node) ? "directory" : "file",
  size: isFolder(node) ? 0 : node.size,
  mtimeMs: Number(node.mtimeNs) / 1e6
})

// Each folder's entries sorted (UTF-16 code units: `sort`'s default), then its subfolders', depth first.
function* entriesOf(directory: string, folder: Folder, recursive: boolean): Generator<DirEntry> {
  const pending: Array<[string, Folder]> = [[directory, folder]]
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [path, { children }] = next
    const subfolders: Array<[string, Folder]> = []
    for (const name of [...children.keys()].sort()) {
      const child = children.get(name)!
      const childPath = path === "" ? name : `${path}/${name}`
      yield entryOf(childPath, child)
      if (isFolder(child)) subfolders.push([childPath, child])
    }
    if (recursive) subfolders.reverse().forEach((subfolder) => pending.push(subfolder))
  }
}

/** The entries under `path` as `FileStore.list` describes them, or `undefined` where it fails NotFound. */
export const listNames = (
  files: ReadonlyMap<string, NamedFile>,
  path: string,
  recursive: boolean
): Iterable<DirEntry> | undefined => {
  if (path !== "" && !isAcceptableName(path)) return undefined
  const file = path === "" ? undefined : files.get(path)
  if (file !== undefined) return [entryOf(path, file)]
  const folder = folderOf(files, path)
  if (path !== "" && folder.children.size === 0) return undefined
  return { [Symbol.iterator]: () => entriesOf(path, folder, recursive) }
}
