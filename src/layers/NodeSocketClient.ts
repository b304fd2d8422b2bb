/** The SocketClient over TCP with Node's net module. */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Net from "node:net"
import { ConnectionError } from "../services/Connection.js"
import { SocketClient } from "../services/SocketClient.js"
import * as NodeConnection from "./NodeConnection.js"

// A client receives files: reading ahead keeps the socket flowing while it hashes and writes.
const READ_AHEAD_BYTES = 4 * 1024 * 1024

const connect = (host: string, port: number, options: { readonly readTimeout?: Duration.DurationInput } = {}) =>
  Effect.gen(function*() {
    const socket = yield* Effect.acquireRelease(
      Effect.sync(() => NodeConnection.guard(Net.createConnection({ host, port, allowHalfOpen: true }).pause())),
      (socket) => Effect.sync(() => socket.destroy())
    )
    yield* awaitConnected(socket)
    return yield* NodeConnection.make(socket, {
      readAhead: READ_AHEAD_BYTES,
      ...(options.readTimeout === undefined ? {} : { readTimeout: options.readTimeout })
    })
  })

const awaitConnected = (socket: Net.Socket) =>
  Effect.async<void, ConnectionError>((resume) => {
    const onConnect = () => {
      socket.off("error", onError)
      resume(Effect.void)
    }
    const onError = (cause: Error) => {
      socket.off("connect", onConnect)
      resume(Effect.fail(new ConnectionError({ reason: "Refused", cause })))
    }
    if (socket.destroyed) return onError(socket.errored ?? new Error("socket destroyed before connecting"))
    socket.once("connect", onConnect)
    socket.once("error", onError)
    return Effect.sync(() => {
      socket.off("connect", onConnect)
      socket.off("error", onError)
      socket.destroy()
    })
  })

export const layer: Layer.Layer<SocketClient> = Layer.succeed(SocketClient, SocketClient.of({ connect }))
