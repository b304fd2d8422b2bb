/**
 * One connection's life: read a request, answer it, repeat until the client is done or the server
 * drains. A client that misbehaves gets an error reply and loses its connection, nothing more.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { printable } from "../../format/Printable.js"
import * as ByteReader from "../../protocol/ByteReader.js"
import * as Codec from "../../protocol/Codec.js"
import type { ProtocolError } from "../../protocol/ProtocolError.js"
import { Cache } from "../../services/Cache.js"
import type { Connection, ConnectionError } from "../../services/Connection.js"
import type { FileStore, FileStoreError } from "../../services/FileStore.js"
import type { LockManager } from "../../services/LockManager.js"
import type { ServerConnection } from "../../services/SocketServer.js"
import { closeWith } from "./closeWith.js"
import { Content, fetchFile } from "./fetchFile.js"
import { sendCached, sendStreamed } from "./sendFile.js"

/** How a request went, for its log line. */
interface Outcome {
  readonly status: Codec.Status
  readonly bytes: number
  readonly source?: "hit" | "load" | "stream"
  readonly detail?: string
}

const failure = (connection: Connection, kind: number, status: Codec.FailureStatus, message: string) =>
  Effect.as(connection.write(Codec.encodeFailure(kind, status, message)), { status, bytes: 0, detail: message })

const failedFetch = (connection: Connection, error: FileStoreError): Effect.Effect<Outcome, ConnectionError> =>
  error.reason === "NotFound"
    ? failure(connection, Codec.Kind.Get, Codec.Status.NotFound, error.message)
    : failure(connection, Codec.Kind.Get, Codec.Status.InternalError, error.message)

const serveGet = (connection: Connection, name: string) =>
  Effect.scoped(
    Effect.matchEffect(fetchFile(name), {
      onFailure: (error) => failedFetch(connection, error),
      onSuccess: (content) => send(connection, content)
    })
  )

const send = (connection: Connection, content: Content): Effect.Effect<Outcome, ConnectionError, FileStore> => {
  switch (content._tag) {
    case "Cached":
      return Effect.map(sendCached(connection, content.file), (sent) => ({
        status: Codec.Status.Ok,
        bytes: sent.bytes,
        source: content.loaded ? "load" : "hit"
      }))
    case "Streamed":
      return Effect.map(sendStreamed(connection, content.info), (sent) => ({
        status: sent.aborted === undefined ? Codec.Status.Ok : Codec.Status.InternalError,
        bytes: sent.bytes,
        source: "stream",
        ...(sent.aborted === undefined ? {} : { detail: sent.aborted })
      }))
  }
}

const serveList = (connection: Connection) =>
  Effect.flatMap(Cache, (cache) => cache.list).pipe(
    Effect.flatMap((entries) => connection.write(Codec.encodeListing(entries))),
    Effect.as<Outcome>({ status: Codec.Status.Ok, bytes: 0 })
  )

const respond = (
  connection: Connection,
  request: Codec.Request
): Effect.Effect<void, ConnectionError, FileStore | Cache | LockManager> =>
  Effect.gen(function*() {
    const [elapsed, outcome] = yield* Effect.timed(
      request._tag === "Get" ? serveGet(connection, request.name) : serveList(connection)
    )
    yield* Effect.logInfo(request._tag === "Get" ? `GET ${printable(request.name)}` : "LIST").pipe(
      Effect.annotateLogs({
        status: Codec.statusName(outcome.status),
        bytes: outcome.bytes,
        ms: Math.round(Duration.toMillis(elapsed)),
        ...(outcome.source === undefined ? {} : { source: outcome.source }),
        ...(outcome.detail === undefined ? {} : { detail: outcome.detail })
      })
    )
  })

const statusFor = (error: ProtocolError): Codec.FailureStatus => {
  switch (error.reason) {
    case "TooLarge":
      return Codec.Status.TooLarge
    case "UnsupportedVersion":
      return Codec.Status.UnsupportedVersion
    default:
      return Codec.Status.BadRequest
  }
}

/** Replies to a request that could not be read, then closes: the stream cannot be trusted after it. */
const refuse = (connection: Connection, error: ProtocolError) =>
  Effect.logWarning(`bad request: ${error.message}`).pipe(
    Effect.zipRight(closeWith(connection, Codec.encodeFailure(0, statusFor(error), error.message)))
  )

export const handleConnection = (connection: ServerConnection) => {
  const reader = ByteReader.make(connection.read)
  const nextRequest = Effect.raceFirst(Codec.readRequest(reader), Effect.as(connection.draining, Option.none()))
  return Effect.gen(function*() {
    yield* Effect.logDebug("connection opened")
    while (true) {
      const request = yield* nextRequest
      if (Option.isNone(request)) break
      yield* respond(connection, request.value)
    }
    yield* connection.end
  }).pipe(
    Effect.catchTags({
      ProtocolError: (error) => refuse(connection, error),
      ConnectionError: (error) => Effect.logDebug(`connection lost: ${error.message}`)
    }),
    Effect.ensuring(Effect.logDebug("connection closed")),
    Effect.annotateLogs("peer", connection.peer)
  )
}
