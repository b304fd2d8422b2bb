/**
 * One connection's life: read a request, answer it, repeat until the client is done, falls silent,
 * or the server drains. A client that misbehaves gets an error reply and loses its connection,
 * nothing more; one that stops reading is dropped.
 */
import * as Data from "effect/Data"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as ByteReader from "../../protocol/ByteReader.js"
import * as Codec from "../../protocol/Codec.js"
import type { ProtocolError } from "../../protocol/ProtocolError.js"
import type { ServerConnection } from "../../services/SocketServer.js"
import { anonymous } from "./authorize.js"
import { closeWith } from "./closeWith.js"
import type { ImmediateGet } from "./immediateGet.js"
import { respond, type RespondOptions } from "./respond.js"
import { count } from "./ServerMetrics.js"

export interface ConnectionLimits extends RespondOptions {
  /** How long a client has to send a whole request, from connecting or from the previous response. */
  readonly requestTimeout: Duration.DurationInput
}

/** The request deadline passed: `idle` when not a byte of a request had arrived. */
class RequestTimeout extends Data.TaggedError("RequestTimeout")<{ readonly idle: boolean }> {}

/** The status a request that could not be read is answered with. */
export const statusFor = (error: ProtocolError): Codec.FailureStatus => {
  switch (error.reason) {
    case "TooLarge":
      return Codec.Status.TooLarge
    case "UnsupportedVersion":
      return Codec.Status.UnsupportedVersion
    default:
      return Codec.Status.BadRequest
  }
}

/** `immediate`, when the server has one, answers the requests it can before `respond` is asked to. */
export const handleConnection = (
  connection: ServerConnection,
  limits: ConnectionLimits,
  immediate?: ImmediateGet | undefined
) => {
  const reader = ByteReader.make(connection.read)

  // One deadline for the whole request, kept by the transport (no timer fiber per request): a
  // client trickling bytes does not push it back. Draining makes it now.
  const nextRequest = Effect.gen(function*() {
    if (yield* connection.isDraining) return Option.none()
    yield* connection.readDeadline(limits.requestTimeout)
    const receivedBefore = reader.received()
    return yield* Codec.readRequest(reader).pipe(
      Effect.catchIf(
        (error) => error._tag === "ConnectionError" && error.reason === "TimedOut",
        () =>
          Effect.flatMap(connection.isDraining, (draining) =>
            draining
              ? Effect.succeed(Option.none())
              : Effect.fail(new RequestTimeout({ idle: reader.received() === receivedBefore })))
      )
    )
  })

  return Effect.gen(function*() {
    yield* Effect.logDebug("connection opened")
    let caller = anonymous
    while (true) {
      const request = yield* nextRequest
      if (Option.isNone(request)) break
      const answered = immediate?.(connection, request.value)
      if (answered !== undefined) yield* answered
      else caller = yield* respond(connection, request.value, limits, caller)
    }
    yield* connection.end
  }).pipe(
    Effect.catchTags({
      ProtocolError: (error) =>
        Effect.logWarning(`bad request: ${error.message}`).pipe(
          // The stream cannot be trusted after a bad request: answer, then close.
          Effect.zipRight(closeWith(connection, Codec.encodeFailure(0, statusFor(error), error.message)))
        ),
      RequestTimeout: ({ idle }) =>
        count("timeouts").pipe(Effect.zipRight(
          idle
            // Ended, not dropped: the client may not have read all of the previous response yet.
            ? Effect.logDebug("idle connection closed").pipe(Effect.zipRight(Effect.ignore(connection.end)))
            : Effect.logWarning("request not received in time").pipe(Effect.zipRight(closeWith(
              connection,
              Codec.encodeFailure(0, Codec.Status.Timeout, "the request did not arrive in time")
            )))
        )),
      ConnectionError: (error) =>
        error.reason === "Stalled"
          ? count("stalls").pipe(Effect.zipRight(Effect.logWarning("client stopped reading: dropped")))
          : Effect.logDebug(`connection lost: ${error.message}`)
    }),
    Effect.ensuring(Effect.logDebug("connection closed")),
    Effect.annotateLogs("client", connection.peer)
  )
}
