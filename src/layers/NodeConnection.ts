/**
 * A Connection over a Node socket, shared by the server and the client: the socket stays paused until
 * `read` asks for bytes (or its inflow allows reading ahead), and `write` waits until Node has handed
 * the bytes to the kernel.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Net from "node:net"
import type { Connection } from "../services/Connection.js"
import { type Inflow, nodeBuffers } from "./internal/Inflow.js"
import * as SocketReader from "./internal/SocketReader.js"
import * as SocketWriter from "./internal/SocketWriter.js"

export interface ConnectionOptions {
  /**
   * Where incoming bytes land and how far ahead of the reads the socket goes; by default Node's
   * buffers, read only when asked (a server reads a little ahead: see NodeSocketServer).
   */
  readonly inflow?: Inflow
  /** How long a `read` may wait for the peer before failing `Stalled`; no limit when left out. */
  readonly readTimeout?: Duration.DurationInput
  /**
   * How long a `write` or `end` may wait while the peer takes nothing before failing `Stalled`; no
   * limit when left out. Progress is seen as Node reports it: when a write is handed to the kernel.
   */
  readonly stallTimeout?: Duration.DurationInput
}

/** The socket is destroyed when the scope closes, whether or not the connection was ended. */
export const make = (
  socket: Net.Socket,
  options: ConnectionOptions = {}
): Effect.Effect<Connection, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      socket.setNoDelay(true)
      const reader = SocketReader.make(socket, options.inflow ?? nodeBuffers(socket, 0), millis(options.readTimeout))
      const writer = SocketWriter.make(socket, millis(options.stallTimeout), reader.failure)
      return {
        peer: `${socket.remoteAddress}:${socket.remotePort}`,
        read: reader.read,
        readDeadline: reader.readDeadline,
        write: writer.write,
        end: writer.end
      } satisfies Connection
    }),
    () =>
      Effect.sync(() => {
        if (!socket.destroyed) socket.destroy()
      })
  )

/**
 * Keeps a socket's errors from crashing the process before `make` takes it over (it reads them back
 * from `socket.errored`).
 */
export const guard = (socket: Net.Socket): Net.Socket => socket.on("error", ignoreError)

const ignoreError = () => {}

const millis = (duration: Duration.DurationInput | undefined) =>
  duration === undefined ? undefined : Duration.toMillis(duration)
