/**
 * Answering one request: a file (from the cache, loaded into it, or streamed), the cache's
 * listing, or the server's statistics; counted, and logged in one line.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { printable } from "../../format/Printable.js"
import * as Codec from "../../protocol/Codec.js"
import { Cache } from "../../services/Cache.js"
import type { Connection, ConnectionError } from "../../services/Connection.js"
import type { FileStore, FileStoreError } from "../../services/FileStore.js"
import type { LockManager } from "../../services/LockManager.js"
import { Content, fetchFile } from "./fetchFile.js"
import { sendCached, sendStreamed } from "./sendFile.js"
import { count, type ServerMetrics, snapshot } from "./ServerMetrics.js"

/** How a request went, for its log line and the counters. */
interface Outcome {
  readonly status: Codec.Status
  readonly bytes: number
  /** For a file: sent from the cache, loaded into it, or streamed past it. */
  readonly cache?: "hit" | "miss" | "bypass"
  readonly detail?: string
}

const failure = (connection: Connection, kind: Codec.Kind, status: Codec.FailureStatus, message: string) =>
  Effect.as(connection.write(Codec.encodeFailure(kind, status, message)), { status, bytes: 0, detail: message })

const failedFetch = (connection: Connection, error: FileStoreError): Effect.Effect<Outcome, ConnectionError> =>
  failure(
    connection,
    Codec.Kind.Get,
    error.reason === "NotFound" ? Codec.Status.NotFound : Codec.Status.InternalError,
    error.message
  )

const send = (connection: Connection, content: Content): Effect.Effect<Outcome, ConnectionError> => {
  switch (content._tag) {
    case "Cached":
      return Effect.map(sendCached(connection, content.file), (sent) => ({
        status: Codec.Status.Ok,
        bytes: sent.bytes,
        cache: content.loaded ? "miss" : "hit"
      }))
    case "Streamed":
      return Effect.map(sendStreamed(connection, content.info, content.body), (sent) => ({
        status: sent.aborted === undefined ? Codec.Status.Ok : Codec.Status.InternalError,
        bytes: sent.bytes,
        cache: "bypass",
        ...(sent.aborted === undefined ? {} : { detail: sent.aborted })
      }))
  }
}

const get = (connection: Connection, name: string) =>
  Effect.scoped(Effect.matchEffect(fetchFile(name), {
    onFailure: (error) => failedFetch(connection, error),
    onSuccess: (content) => send(connection, content)
  }))

const list = (connection: Connection) =>
  Effect.flatMap(Cache, (cache) => cache.list).pipe(
    Effect.flatMap((entries) => connection.write(Codec.encodeListing(entries))),
    Effect.as<Outcome>({ status: Codec.Status.Ok, bytes: 0 })
  )

const stats = (connection: Connection) =>
  Effect.flatMap(snapshot, (stats) => connection.write(Codec.encodeStats(stats))).pipe(
    Effect.as<Outcome>({ status: Codec.Status.Ok, bytes: 0 })
  )

const record = (outcome: Outcome) =>
  Effect.all([
    count("requests"),
    outcome.status === Codec.Status.Ok ? Effect.void : count("failures"),
    count("bytesServed", outcome.bytes),
    outcome.cache === "hit" ? count("hits") : Effect.void,
    outcome.cache === "miss" ? Effect.zipRight(count("misses"), count("loads")) : Effect.void,
    outcome.cache === "bypass" ? Effect.zipRight(count("misses"), count("streamed")) : Effect.void
  ], { discard: true })

const describe = (request: Codec.Request): string =>
  request._tag === "Get" ? `GET ${printable(request.name)}` : request._tag.toUpperCase()

export const respond = (
  connection: Connection,
  request: Codec.Request
): Effect.Effect<void, ConnectionError, FileStore | Cache | LockManager | ServerMetrics> =>
  Effect.gen(function*() {
    const answer = request._tag === "Get"
      ? get(connection, request.name)
      : request._tag === "List"
      ? list(connection)
      : stats(connection)
    const [elapsed, outcome] = yield* Effect.timed(answer)
    yield* record(outcome)
    yield* Effect.logInfo(describe(request)).pipe(
      Effect.annotateLogs({
        status: Codec.statusName(outcome.status),
        bytes: outcome.bytes,
        ms: Math.round(Duration.toMillis(elapsed)),
        ...(outcome.cache === undefined ? {} : { cache: outcome.cache }),
        ...(outcome.detail === undefined ? {} : { detail: outcome.detail })
      })
    )
  })
