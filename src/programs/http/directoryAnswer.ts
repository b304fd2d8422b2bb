/**
 * A directory over HTTP, when listing is on: its entries (those the request's token may see) as an
 * HTML page or JSON, and the redirect from `/dir` to `/dir/` so that relative links work. Listed as
 * the native LS lists (FileStore.list, confined the same way); a missing directory is not found.
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type * as Codec from "../../protocol/Codec.js"
import { type DirEntry, FileStore, FileStoreError } from "../../services/FileStore.js"
import { type HttpAnswer, HttpBody, type HttpRequest } from "../../services/HttpDoor.js"
import { HTML_TYPE, JSON_TYPE, listingHtml, listingJson, prefersJson } from "./listingPage.js"
import { hrefOf } from "./names.js"
import type { Report } from "./report.js"

/** The entries directly under `path`, or why there are none: a listing is held whole, for its length. */
const entriesOf = (path: string) =>
  Effect.flatMap(FileStore, (files) => Stream.runCollect(files.list(path, { recursive: false })))

/** Whether `name` is a directory (it failed as a file): its listing, not the one file, is found. */
export const isDirectory = (name: string): Effect.Effect<boolean, never, FileStore> =>
  Effect.flatMap(FileStore, (files) =>
    files.list(name, { recursive: false }).pipe(
      Stream.take(1),
      Stream.runHead,
      Effect.map(Option.match({ onNone: () => true, onSome: (entry) => entry.path !== name })),
      Effect.orElseSucceed(() => false)
    ))

/** `/dir` → `/dir/`: a listing's relative links need the slash. */
export const redirectToDirectory = (name: string): HttpAnswer => {
  const location = hrefOf(name, true)
  const text = `see ${location}\n`
  return {
    status: 301,
    headers: {
      location,
      "content-type": "text/plain; charset=utf-8",
      "content-length": String(Buffer.byteLength(text))
    },
    body: HttpBody.Bytes({ bytes: Buffer.from(text) })
  }
}

export const directoryAnswer = (
  request: HttpRequest,
  report: Report,
  path: string,
  show: (entry: Codec.TreeEntry) => boolean
): Effect.Effect<HttpAnswer, FileStoreError, FileStore> =>
  Effect.gen(function*() {
    const entries: ReadonlyArray<DirEntry> = Chunk.toReadonlyArray(yield* entriesOf(path)).filter(show)
    // A path naming a file lists that file: not a directory.
    if (entries.length === 1 && entries[0]!.path === path && entries[0]!.type === "file") {
      return yield* new FileStoreError({ reason: "NotFound", name: path })
    }
    const json = prefersJson(request.header("accept"))
    const bytes = Buffer.from(json ? listingJson(entries) : listingHtml(path, entries))
    report.pending = bytes.length
    return {
      status: 200,
      headers: {
        "content-type": json ? JSON_TYPE : HTML_TYPE,
        "content-length": String(bytes.length),
        "cache-control": "no-cache",
        vary: "accept"
      },
      body: request.method === "HEAD" ? HttpBody.Empty() : HttpBody.Bytes({ bytes })
    }
  })
