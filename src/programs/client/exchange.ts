/** Opening a connection to a server and sending it one request, shared by every client command. */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ByteReader from "../../protocol/ByteReader.js"
import * as Codec from "../../protocol/Codec.js"
import { ConnectionError } from "../../services/Connection.js"
import { SocketClient } from "../../services/SocketClient.js"
import { TransferError } from "./errors.js"

export interface ServerAddress {
  readonly host: string
  readonly port: number
  /** How long the server may send nothing while an answer is due (default `DEFAULT_TIMEOUT`). */
  readonly timeout?: Duration.DurationInput
}

export const DEFAULT_TIMEOUT = "30 seconds"
const CONNECT_TIMEOUT = "10 seconds"

/** Connects, sends `request` and reads the head of the response; the connection lives in the scope. */
export const exchange = (server: ServerAddress, request: Codec.Request) =>
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
    yield* connection.write(Codec.encodeRequest(request))
    const reader = ByteReader.make(connection.read, { reused: true })
    const response = yield* Codec.readResponse(reader, Codec.kindOf(request))
    if (response._tag === "Failure") {
      return yield* new TransferError({ reason: "Refused", status: response.status, detail: response.message })
    }
    return { response, reader }
  })
