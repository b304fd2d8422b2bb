/**
 * A ferry server scripted by a test, on the in-memory network: it reads one request per connection,
 * records it, and answers with whatever bytes the script writes, valid or not.
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import type * as Scope from "effect/Scope"
import * as ByteReader from "../../src/protocol/ByteReader.js"
import * as Codec from "../../src/protocol/Codec.js"
import type { ProtocolError } from "../../src/protocol/ProtocolError.js"
import type { ConnectionError } from "../../src/services/Connection.js"
import { SocketClient } from "../../src/services/SocketClient.js"
import { type ServerConnection, SocketServer } from "../../src/services/SocketServer.js"

/** What the server does once it has read a request; returning without `end` is an abrupt disconnect. */
export type Script = (request: Codec.Request, connection: ServerConnection) => Effect.Effect<void, ConnectionError>

export interface FakeServer {
  /** Every request read so far, in order. */
  readonly requests: Effect.Effect<ReadonlyArray<Codec.Request>>
  /** How the first connection's handler ended (reading the request, then the script). */
  readonly outcome: Effect.Effect<Exit.Exit<void, ConnectionError | ProtocolError>>
}

/** Where clients should connect: any address reaches the in-memory server. */
export const address = { host: "memory", port: 0 } as const

/** Serves `script` on the network's SocketServer until the scope closes. */
export const start = (script: Script): Effect.Effect<FakeServer, never, SocketServer | Scope.Scope> =>
  Effect.gen(function*() {
    const server = yield* SocketServer
    const requests = yield* Ref.make<ReadonlyArray<Codec.Request>>([])
    const outcome = yield* Deferred.make<Exit.Exit<void, ConnectionError | ProtocolError>>()
    const handle = (connection: ServerConnection) =>
      Effect.gen(function*() {
        const request = yield* Codec.readRequest(ByteReader.make(connection.read))
        if (Option.isNone(request)) return
        yield* Ref.update(requests, (all) => [...all, request.value])
        yield* script(request.value, connection)
      }).pipe(
        Effect.exit,
        Effect.flatMap((exit) => Deferred.succeed(outcome, exit)),
        Effect.asVoid
      )
    yield* Effect.forkScoped(server.serve(handle, { gracePeriod: 0 }))
    return { requests: Ref.get(requests), outcome: Deferred.await(outcome) }
  })

/** A script that writes `chunks` in one write, then ends the connection cleanly. */
export const reply = (...chunks: ReadonlyArray<Uint8Array>): Script => (_request, connection) =>
  Effect.zipRight(connection.write(...chunks), connection.end)

/**
 * Counts the connections a program opens, at the moment it opens them (the server side only learns of
 * a connection later, in a fiber of its own).
 */
export const countingConnections = Effect.gen(function*() {
  const client = yield* SocketClient
  const count = yield* Ref.make(0)
  const counting = SocketClient.of({
    connect: (host, port) => Effect.zipRight(Ref.update(count, (n) => n + 1), client.connect(host, port))
  })
  return { client: counting, connections: Ref.get(count) }
})
