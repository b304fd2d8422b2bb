/**
 * The SocketServer over TCP with Node's net module, or over TLS with its tls module. It listens as
 * soon as the layer is built, and accepted sockets stay paused, so no bytes are read before a handler
 * asks for them (over TLS: none but the handshake's).
 */
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import * as Net from "node:net"
import { type ServerAddress, ServerError, SocketServer } from "../services/SocketServer.js"
import * as Acceptor from "./internal/Acceptor.js"
import { nodeBuffers } from "./internal/Inflow.js"
import * as TlsGate from "./internal/TlsGate.js"
import * as NodeConnection from "./NodeConnection.js"

export type { Refusal as TlsRefusal, TlsOptions } from "./internal/TlsGate.js"

/**
 * How far a connection reads ahead of its handler: a few requests' worth, so that a client that
 * asks again as soon as it has its answer finds its socket still reading. Pausing the socket after
 * every request and resuming it for the next cost about 25 µs a request on these machines (scenario
 * 3: 150 against 125 µs of server CPU a request), and a client still cannot make the server hold
 * more than this and one read (64 KiB) for it.
 */
export const READ_AHEAD_BYTES = 16 * 1024

export interface ServerOptions extends ServerAddress {
  /** Only TLS is spoken: each connection is served once its handshake is done. */
  readonly tls?: TlsGate.TlsOptions
}

export const make = (
  options: ServerOptions
): Effect.Effect<Context.Tag.Service<SocketServer>, ServerError, Scope.Scope> =>
  Effect.gen(function*() {
    const address = { host: options.host, port: options.port }
    const server = yield* Effect.acquireRelease(
      Effect.sync(() => Net.createServer({ pauseOnConnect: true, allowHalfOpen: true })),
      // Stops listening at once; the callback would wait for every connection to end.
      (server) => Effect.sync(() => server.close())
    )
    // Made before the acceptor, so that handshakes under way are cut off after it stops listening.
    const tlsGate = options.tls === undefined ? undefined : yield* TlsGate.make(options.tls).pipe(
      Effect.mapError((cause) => new ServerError({ reason: "Failed", address, cause }))
    )
    const acceptor = yield* Acceptor.make<Net.Socket>({
      open: (socket, options) =>
        NodeConnection.make(socket, {
          inflow: nodeBuffers(socket, READ_AHEAD_BYTES),
          ...(options.stallTimeout === undefined ? {} : { stallTimeout: options.stallTimeout })
        }),
      discard: (socket) => Effect.sync(() => socket.destroy()),
      stopListening: Effect.sync(() => server.close())
    })
    const accept = (socket: Net.Socket) => acceptor.offer(socket)
    server.on("connection", (socket) => {
      NodeConnection.guard(socket)
      if (tlsGate !== undefined) tlsGate(socket, accept)
      else if (!accept(socket)) socket.destroy()
    })
    yield* listen(server, address)

    // After listening, the server only fails to accept (out of file descriptors, say): worth a log,
    // not the end of the server.
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    server.on("error", (cause) => runFork(Effect.logError("failed to accept a connection", cause)))

    const bound = server.address() as Net.AddressInfo
    return { address: { host: bound.address, port: bound.port }, serve: acceptor.serve, accepting: acceptor.accepting }
  })

export const layer = (options: ServerOptions): Layer.Layer<SocketServer, ServerError> =>
  Layer.scoped(SocketServer, make(options))

/** Listens on `address`, failing with why it cannot. */
export const listen = (server: Net.Server, address: ServerAddress) =>
  Effect.async<void, ServerError>((resume) => {
    const onListening = () => {
      server.off("error", onError)
      resume(Effect.void)
    }
    const onError = (cause: NodeJS.ErrnoException) => {
      server.off("listening", onListening)
      resume(Effect.fail(new ServerError({ reason: reasonOf(cause.code), address, cause })))
    }
    server.once("listening", onListening)
    server.once("error", onError)
    server.listen({ host: address.host, port: address.port })
  })

const reasonOf = (code: string | undefined): ServerError["reason"] => {
  switch (code) {
    case "EADDRINUSE":
      return "AddressInUse"
    case "EADDRNOTAVAIL":
    case "ENOTFOUND":
      return "AddressUnavailable"
    case "EACCES":
      return "PermissionDenied"
    default:
      return "Failed"
  }
}
