/** The SocketClient over TCP with Node's net module. */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Net from "node:net"
import { ConnectionError } from "../services/Connection.js"
import { SocketClient } from "../services/SocketClient.js"
import * as Inflow from "./internal/Inflow.js"
import * as NodeConnection from "./NodeConnection.js"

// A client receives files, so it reads ahead while it hashes and writes what it has: into slabs used
// again and again when the caller allows (all but the slab being worked on and the one Node reads
// into are read-ahead), otherwise into Node's buffers.
const SLABS = 6
const SLAB_BYTES = 1024 * 1024
const READ_AHEAD_BYTES = (SLABS - 2) * SLAB_BYTES

const connect: SocketClient["Type"]["connect"] = (host, port, options = {}) =>
  Effect.gen(function*() {
    const slabs = options.reusedReads === true ? Inflow.slabs(SLABS, SLAB_BYTES) : undefined
    const socket = yield* Effect.acquireRelease(
      Effect.sync(() =>
        NodeConnection.guard(
          Net.createConnection({ host, port, allowHalfOpen: true, ...(slabs && { onread: slabs.onread }) }).pause()
        )
      ),
      (socket) => Effect.sync(() => socket.destroy())
    )
    yield* awaitConnected(socket)
    return yield* NodeConnection.make(socket, {
      inflow: slabs?.inflow ?? Inflow.nodeBuffers(socket, READ_AHEAD_BYTES),
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
