/**
 * Opening a connection to a server and sending it requests, shared by every client command: with a
 * token, every connection opens with an AUTH.
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as ByteReader from "../../protocol/ByteReader.js"
import * as Codec from "../../protocol/Codec.js"
import type { ProtocolError } from "../../protocol/ProtocolError.js"
import { ConnectionError } from "../../services/Connection.js"
import { SocketClient } from "../../services/SocketClient.js"
import { TransferError } from "./errors.js"

export interface ServerAddress {
  readonly host: string
  readonly port: number
  /** How long the server may send nothing while an answer is due (default `DEFAULT_TIMEOUT`). */
  readonly timeout?: Duration.DurationInput
  /** The access token (`--token`) that each connection presents first. */
  readonly token?: Redacted.Redacted<string>
}

export const DEFAULT_TIMEOUT = "30 seconds"
const CONNECT_TIMEOUT = "10 seconds"

/** A connection to a server: requests go out in order, responses come back in the same order. */
export interface Session {
  readonly send: (request: Codec.Request) => Effect.Effect<void, ConnectionError>
  /** The head of the next response, answering a request of `kind`; a failure status fails `Refused`. */
  readonly response: (
    kind: Codec.Kind
  ) => Effect.Effect<Codec.Response, ConnectionError | TransferError | ProtocolError>
  readonly reader: ByteReader.ByteReader<ConnectionError>
  /** Whether the server has answered anything on this connection yet. */
  readonly answered: () => boolean
}

/** Connects; the connection lives in the scope. */
export const connect = (server: ServerAddress) =>
  Effect.gen(function*() {
    const client = yield* SocketClient
    // A server that stops sending must not leave the client waiting forever.
    const connection = yield* client.connect(server.host, server.port, {
      readTimeout: server.timeout ?? DEFAULT_TIMEOUT,
      reusedReads: true
    }).pipe(
      Effect.timeoutFail({
        duration: CONNECT_TIMEOUT,
        onTimeout: () => new ConnectionError({ reason: "Refused", cause: new Error("timed out") })
      })
    )
    const reader = ByteReader.make(connection.read, { reused: true })
    let answered = false
    const refused = (failure: Codec.Response & { _tag: "Failure" }) =>
      new TransferError({ reason: "Refused", status: failure.status, detail: failure.message })
    // Sent at once, and its answer read before the first request's: no round trip is waited for.
    let authenticating = server.token !== undefined
    let unauthenticated: TransferError | undefined
    if (server.token !== undefined) {
      yield* connection.write(Codec.encodeRequest(Codec.Request.Auth({ token: Redacted.value(server.token) })))
    }
    // Once the AUTH is refused, every answer on the connection is: none of them is read.
    const authenticated = Effect.suspend(() => {
      if (unauthenticated !== undefined) return Effect.fail(unauthenticated)
      if (!authenticating) return Effect.void
      authenticating = false
      return Effect.flatMap(Codec.readResponse(reader, Codec.Kind.Auth), (response) => {
        answered = true
        if (response._tag !== "Failure") return Effect.void
        unauthenticated = refused(response)
        return Effect.fail(unauthenticated)
      })
    })
    return {
      reader,
      answered: () => answered,
      send: (request) => connection.write(Codec.encodeRequest(request)),
      response: (kind) =>
        Effect.zipRight(
          authenticated,
          Effect.flatMap(Codec.readResponse(reader, kind), (response) => {
            answered = true
            return response._tag === "Failure" ? Effect.fail(refused(response)) : Effect.succeed(response)
          })
        )
    } satisfies Session
  })

/** Connects, sends `request` and reads the head of the response; the connection lives in the scope. */
export const exchange = (server: ServerAddress, request: Codec.Request) =>
  Effect.gen(function*() {
    const session = yield* connect(server)
    yield* session.send(request)
    const response = yield* session.response(Codec.kindOf(request))
    return { response, reader: session.reader }
  })
