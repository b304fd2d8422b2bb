/**
 * An LS answer: the served tree under a path, sent a segment at a time as the walk goes, so that a
 * directory of any size is never held whole. A missing path is answered NOT_FOUND before anything
 * is sent; a failure part-way ends the entries with an aborted ending.
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Codec from "../../protocol/Codec.js"
import type { Connection } from "../../services/Connection.js"
import { isAcceptableName } from "../../services/FileName.js"
import { FileStore, FileStoreError } from "../../services/FileStore.js"

/** What the answer came to, for the request's log line. */
export interface TreeReport {
  status: Codec.Status
  bytes: number
  detail?: string
}

const refuse = (connection: Connection, report: TreeReport, status: Codec.FailureStatus, detail: string) => {
  report.status = status
  report.detail = detail
  return connection.write(Codec.encodeFailure(Codec.Kind.Ls, status, detail))
}

export const listTree = (
  connection: Connection,
  report: TreeReport,
  { path, recursive }: Codec.Request & { _tag: "Ls" },
  listing: boolean,
  /** Whether an entry may be shown (the connection's token may not see them all). */
  show: (entry: Codec.TreeEntry) => boolean = () => true
) =>
  Effect.scoped(Effect.gen(function*() {
    if (!listing) return yield* refuse(connection, report, Codec.Status.ListingDisabled, "listing is turned off")
    // "docs/" names the directory "docs", as a shell would.
    const under = path.replace(/\/+$/, "")
    const files = yield* FileStore
    const entries = under === "" || isAcceptableName(under)
      ? files.list(under, { recursive })
      : Stream.fail(new FileStoreError({ reason: "NotFound", name: path }))
    const pull = yield* Stream.toPull(entries)
    const first = yield* Effect.either(pull)
    if (first._tag === "Left" && Option.isSome(first.left)) {
      const error = first.left.value
      const status = error.reason === "NotFound" ? Codec.Status.NotFound : Codec.Status.InternalError
      return yield* refuse(connection, report, status, error.message)
    }

    let pending: Array<Codec.TreeEntry> = []
    let pendingBytes = 0
    const flush = Effect.suspend(() => {
      if (pending.length === 0) return Effect.void
      const segment = Codec.encodeEntries(pending)
      pending = []
      pendingBytes = 0
      report.bytes += segment.length
      return connection.write(segment)
    })
    const take = (chunk: Chunk.Chunk<Codec.TreeEntry>) =>
      Effect.forEach(chunk, (entry) => {
        if (!show(entry)) return Effect.void
        pending.push(entry)
        pendingBytes += 19 + Buffer.byteLength(entry.path)
        return pendingBytes >= Codec.ENTRIES_SEGMENT_BYTES ? flush : Effect.void
      }, { discard: true })

    yield* connection.write(Codec.encodeTreeHead())
    if (first._tag === "Right") {
      yield* take(first.right)
      while (true) {
        const next = yield* Effect.either(pull)
        if (next._tag === "Right") {
          yield* take(next.right)
          continue
        }
        yield* flush
        if (Option.isNone(next.left)) break
        const message = next.left.value.message
        report.status = Codec.Status.InternalError
        report.detail = message
        return yield* connection.write(
          Codec.encodeTrailer(Codec.Trailer.Aborted({ status: Codec.Status.InternalError, message }))
        )
      }
    }
    yield* flush
    yield* connection.write(Codec.encodeTreeEnd())
  }))
