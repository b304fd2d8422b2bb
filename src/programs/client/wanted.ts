/**
 * What a download of several names asks for: each file named, and every file under each directory
 * named (a name ending in `/`, listed with LS by its own node), each with the path it is saved
 * under; two names that would land on one local file are one fetch and one failure.
 */
import * as Effect from "effect/Effect"
import type * as Codec from "../../protocol/Codec.js"
import { isAcceptableName } from "../../services/FileName.js"
import { localName } from "./download.js"
import { DestinationError } from "./errors.js"
import type { Failure } from "./getMany.js"
import { ls } from "./inquire.js"
import * as Nodes from "./Nodes.js"

/** A file to fetch: its name on the server, and its path under the destination directory. */
export interface Wanted {
  readonly name: string
  readonly saveAs: string
}

/** The files under a directory name, each saved under the directory's last segment. */
const filesUnder = (nodes: Nodes.Nodes, name: string, into: Array<Wanted>) => {
  const path = name.replace(/\/+$/, "")
  const base = path === "" ? "" : localName(path)
  const start = into.length
  // Every node serves the same tree: the directory's own node lists it.
  return Nodes.onNode(
    nodes,
    name,
    (server) =>
      ls(server, { path, recursive: true }, (entries: ReadonlyArray<Codec.TreeEntry>) =>
        Effect.sync(() => {
          for (const entry of entries) {
            // A server's listing is not trusted with the local file system: only paths under the one asked for.
            const inside = path === "" || entry.path.startsWith(`${path}/`)
            if (entry.type !== "file" || !inside || !isAcceptableName(entry.path)) continue
            const relative = path === "" ? entry.path : entry.path.slice(path.length + 1)
            into.push({ name: entry.path, saveAs: base === "" ? relative : `${base}/${relative}` })
          }
        })).pipe(
          // A listing cut part-way is asked for again whole from the next node.
          Effect.tapError(() => Effect.sync(() => into.splice(start)))
        )
  )
}

/** The files `names` stand for; what cannot be had (a directory not listed, a clash) goes into `failed`. */
export const expand = (
  nodes: Nodes.Nodes,
  names: ReadonlyArray<string>,
  failed: Array<{ readonly name: string; readonly error: Failure; readonly saveAs?: string }>
) =>
  Effect.gen(function*() {
    const listed: Array<Wanted> = []
    for (const name of names) {
      if (!name.endsWith("/")) listed.push({ name, saveAs: localName(name) })
      else {
        const listing = yield* Effect.either(filesUnder(nodes, name, listed))
        if (listing._tag === "Left") failed.push({ name, error: listing.left })
      }
    }
    // Two names landing on one local file: the first is fetched, the second named as failed.
    const taken = new Set<string>()
    return listed.filter((item) => {
      if (!taken.has(item.saveAs)) return taken.add(item.saveAs)
      failed.push({
        name: item.name,
        error: new DestinationError({
          reason: "Failed",
          path: item.saveAs,
          cause: new Error("saved by another name too")
        })
      })
      return false
    })
  })
