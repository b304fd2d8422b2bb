/** The SocketClient over TCP with Node's net module, or over TLS with its tls module. */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Net from "node:net"
import * as Tls from "node:tls"
import { ConnectionError } from "../services/Connection.js"
import { SocketClient } from "../services/SocketClient.js"
import * as Inflow from "./internal/Inflow.js"
import { tlsProblem } from "./internal/tlsProblem.js"
import * as NodeConnection from "./NodeConnection.js"

// A client receives files, so it reads ahead while it hashes and writes what it has: into slabs used
// again and again when the caller allows (all but the slab being worked on and the one Node reads
// into are read-ahead), otherwise into Node's buffers.
const SLABS = 6
const SLAB_BYTES = 1024 * 1024
const READ_AHEAD_BYTES = (SLABS - 2) * SLAB_BYTES

export interface TlsOptions {
  /** The CAs that may sign the server's certificate (PEM); Node's own list when left out. */
  readonly ca?: string
  /** A certificate (PEM) and its key, for a server that requires one of its clients. */
  readonly cert?: string
  readonly key?: string
  /** Neither the server's certificate nor its name is checked. */
  readonly insecure?: boolean
}

export interface ClientOptions {
  /** Every connection over TLS, TLS 1.2 at least. */
  readonly tls?: TlsOptions
}

/** Throws if the certificates or the key cannot be read (a command line checks them first). */
export const make = (options: ClientOptions = {}): SocketClient["Type"] => {
  const tls = options.tls
  // One context for every connection: reading the CAs and the key is done once.
  const secureContext = tls === undefined ? undefined : Tls.createSecureContext({
    minVersion: "TLSv1.2",
    ...(tls.ca === undefined ? {} : { ca: tls.ca }),
    ...(tls.cert === undefined ? {} : { cert: tls.cert }),
    ...(tls.key === undefined ? {} : { key: tls.key })
  })
  const open = (host: string, port: number, onread: Net.OnReadOpts | undefined): Net.Socket => {
    if (secureContext === undefined) {
      return Net.createConnection({ host, port, allowHalfOpen: true, ...(onread && { onread }) })
    }
    // tls.connect takes allowHalfOpen as net's does, though its types leave it out.
    const secureOptions: Tls.ConnectionOptions & { readonly allowHalfOpen: boolean } = {
      host,
      port,
      // The name the server is asked for (SNI): a host name, never an address.
      ...(Net.isIP(host) === 0 ? { servername: host } : {}),
      secureContext,
      rejectUnauthorized: tls?.insecure !== true,
      allowHalfOpen: true,
      ...(onread && { onread })
    }
    return Tls.connect(secureOptions)
  }

  const connect: SocketClient["Type"]["connect"] = (host, port, connectOptions = {}) =>
    Effect.gen(function*() {
      const slabs = connectOptions.reusedReads === true ? Inflow.slabs(SLABS, SLAB_BYTES) : undefined
      const socket = yield* Effect.acquireRelease(
        Effect.sync(() => NodeConnection.guard(open(host, port, slabs?.onread).pause())),
        (socket) => Effect.sync(() => socket.destroy())
      )
      yield* awaitConnected(socket, secureContext !== undefined)
      return yield* NodeConnection.make(socket, {
        inflow: slabs?.inflow ?? Inflow.nodeBuffers(socket, READ_AHEAD_BYTES),
        ...(connectOptions.readTimeout === undefined ? {} : { readTimeout: connectOptions.readTimeout })
      })
    })
  return SocketClient.of({ connect })
}

/**
 * Waits for the connection, and over TLS for the handshake (which proceeds while the socket is
 * paused): a failure before the TCP connection is `Refused`, one after it `Tls`.
 */
const awaitConnected = (socket: Net.Socket, secure: boolean) =>
  Effect.async<void, ConnectionError>((resume) => {
    let connected = false
    const onConnect = () => connected = true
    const onReady = () => {
      stop()
      resume(Effect.void)
    }
    const onError = (cause: Error) => {
      stop()
      resume(Effect.fail(
        connected
          ? new ConnectionError({ reason: "Tls", tls: tlsProblem(cause) ?? "Failed", cause })
          : new ConnectionError({ reason: "Refused", cause })
      ))
    }
    const stop = () => {
      socket.off("connect", onConnect)
      socket.off(secure ? "secureConnect" : "connect", onReady)
      socket.off("error", onError)
    }
    if (socket.destroyed) return onError(socket.errored ?? new Error("socket destroyed before connecting"))
    if (secure) socket.once("connect", onConnect)
    socket.once(secure ? "secureConnect" : "connect", onReady)
    socket.once("error", onError)
    return Effect.sync(() => {
      stop()
      socket.destroy()
    })
  })

export const layer: Layer.Layer<SocketClient> = Layer.succeed(SocketClient, make())

/** The SocketClient with `options`, over TLS for one. */
export const layerWith = (options: ClientOptions): Layer.Layer<SocketClient> =>
  Layer.sync(SocketClient, () => make(options))
