/**
 * Answering one request: a file (from the cache, loaded into it, or streamed), the cache's
 * listing, or the server's statistics; counted as it goes, and logged in one line however it ends.
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { printable } from "../../format/Printable.js"
import * as Codec from "../../protocol/Codec.js"
import { DIGEST_NAMES } from "../../protocol/Digest.js"
import { Cache } from "../../services/Cache.js"
import type { Connection, ConnectionError } from "../../services/Connection.js"
import type { FileStore } from "../../services/FileStore.js"
import type { LockManager } from "../../services/LockManager.js"
import { Content, fetchFile } from "./fetchFile.js"
import { sendCached } from "./sendCached.js"
import { count, type ServerMetrics, snapshot } from "./ServerMetrics.js"
import type { StreamBuffers } from "./StreamBuffers.js"
import { sendStreamed } from "./streamFile.js"

/** What is known of a request as it is answered: filled in on the way, logged at the end. */
interface Report {
  status: Codec.Status
  bytes: number
  /** For a file: sent from the cache, loaded into it, or streamed past it. */
  cache?: "hit" | "miss" | "bypass"
  detail?: string
}

const fail = (
  connection: Connection,
  report: Report,
  kind: Codec.Kind,
  status: Codec.FailureStatus,
  detail: string
) => {
  report.status = status
  report.detail = detail
  return connection.write(Codec.encodeFailure(kind, status, detail))
}

const countDecision = (content: Content) =>
  content._tag === "Cached"
    ? content.loaded ? Effect.zipRight(count("misses"), count("loads")) : count("hits")
    : Effect.zipRight(count("misses"), count("streamed"))

const get = (connection: Connection, report: Report, { digests, name }: Codec.Request & { _tag: "Get" }) =>
  Effect.scoped(Effect.gen(function*() {
    // The server knows every digest the codec decodes: the client's first choice is taken.
    const digest = digests[0]
    if (digest === undefined) {
      const supported = DIGEST_NAMES.join(", ")
      return yield* fail(
        connection,
        report,
        Codec.Kind.Get,
        Codec.Status.UnsupportedDigest,
        `digests supported: ${supported}`
      )
    }
    const fetched = yield* Effect.either(fetchFile(name))
    if (fetched._tag === "Left") {
      const error = fetched.left
      const status = error.reason === "NotFound" ? Codec.Status.NotFound : Codec.Status.InternalError
      return yield* fail(connection, report, Codec.Kind.Get, status, error.message)
    }
    const content = fetched.right
    report.cache = content._tag === "Streamed" ? "bypass" : content.loaded ? "miss" : "hit"
    yield* countDecision(content)
    const sent = (bytes: number) => {
      report.bytes += bytes
      return count("bytesServed", bytes)
    }
    if (content._tag === "Cached") return yield* sendCached(connection, content.file, digest, sent)
    const aborted = yield* sendStreamed(connection, content.stream, digest, sent)
    if (aborted !== undefined) {
      report.status = Codec.Status.InternalError
      report.detail = aborted
    }
  }))

const list = (connection: Connection) =>
  Effect.flatMap(Cache, (cache) => cache.list).pipe(
    Effect.flatMap((entries) => connection.write(Codec.encodeListing(entries)))
  )

const stats = (connection: Connection) =>
  Effect.flatMap(snapshot, (stats) => connection.write(Codec.encodeStats(stats)))

const describe = (request: Codec.Request): string =>
  request._tag === "Get" ? `GET ${printable(request.name)}` : request._tag.toUpperCase()

/** Why an answer did not get to its end, if it did not. */
const unfinished = (exit: Exit.Exit<unknown, ConnectionError>): string | undefined => {
  if (Exit.isSuccess(exit)) return undefined
  if (Cause.isInterruptedOnly(exit.cause)) return "interrupted"
  const failure = Cause.failureOption(exit.cause)
  return failure._tag === "Some" ? failure.value.message : "failed"
}

export const respond = (
  connection: Connection,
  request: Codec.Request
): Effect.Effect<void, ConnectionError, FileStore | Cache | LockManager | StreamBuffers | ServerMetrics> =>
  Effect.gen(function*() {
    const report: Report = { status: Codec.Status.Ok, bytes: 0 }
    const started = yield* Clock.currentTimeMillis
    const answer = request._tag === "Get"
      ? get(connection, report, request)
      : request._tag === "List"
      ? list(connection)
      : stats(connection)
    yield* answer.pipe(Effect.onExit((exit) =>
      Effect.gen(function*() {
        const cut = unfinished(exit)
        yield* count("requests")
        if (report.status !== Codec.Status.Ok) yield* count("failures")
        yield* Effect.logInfo(describe(request)).pipe(Effect.annotateLogs({
          status: Codec.statusName(report.status),
          bytes: report.bytes,
          ms: (yield* Clock.currentTimeMillis) - started,
          ...(report.cache === undefined ? {} : { cache: report.cache }),
          ...(report.detail === undefined ? {} : { detail: printable(report.detail) }),
          ...(cut === undefined ? {} : { unfinished: cut })
        }))
      })
    ))
  })
