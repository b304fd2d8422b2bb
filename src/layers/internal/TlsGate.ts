/**
 * The TLS side of a listener: a connection is handed on to be served only once it has spoken TLS,
 * finished its handshake within a deadline and, where client certificates are required, shown one
 * the client CA signed. A plain client and a refused certificate get a last message before the
 * connection closes; a handshake that fails or takes too long is logged and closed. None of them
 * ever holds a connection slot: slots are taken by connections handed on. Handshakes under way have
 * their own bound, past which a new connection is closed at once: clients that connect and never
 * finish a handshake cannot make the server hold sockets without end.
 */
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as Net from "node:net"
import * as Tls from "node:tls"
import * as NodeConnection from "../NodeConnection.js"

export interface TlsOptions {
  /** The server's certificate (PEM), with any intermediates after it, and its key. */
  readonly cert: string
  readonly key: string
  /** Clients must show a certificate signed by this CA (PEM); no client certificate is asked for without. */
  readonly clientCa?: string
  /** How long a client has, from connecting, to finish the handshake. */
  readonly handshakeTimeout: Duration.DurationInput
  /** Handshakes under way at most; a connection beyond them is closed without one. */
  readonly maxHandshakes: number
  /** The last message for a client refused (in the server's protocol, which the transport does not speak). */
  readonly refusal: (refused: Refusal) => Uint8Array
}

/** Why a client is refused: it does not speak TLS, or not with a certificate the server accepts. */
export type Refusal =
  | { readonly reason: "NotTls" }
  | { readonly reason: "NoCertificate" }
  | { readonly reason: "CertificateRefused"; readonly detail: string }

class HandshakeError extends Data.TaggedError("HandshakeError")<{
  readonly reason: "TimedOut" | "Failed"
  readonly cause?: unknown
}> {}

/** A TLS record starts with its content type; a client's first is a handshake (its ClientHello). */
const TLS_HANDSHAKE = 0x16
/** How long a refused client may take to read the last message, and what it still sends is dropped. */
const REFUSAL_DRAIN_MILLIS = 2000

/** Where a connection runs between, which tells it from every other on the same listener. */
const addressesOf = (socket: Net.Socket) =>
  `${socket.localAddress}:${socket.localPort} ${socket.remoteAddress}:${socket.remotePort}`

/**
 * A gate that takes each accepted socket and calls `accept` with the TLS socket once the client may
 * be served; `accept` returns false when the server no longer takes connections. Handshakes under way
 * are cut off when the scope closes.
 */
export const make = (
  options: TlsOptions
): Effect.Effect<(raw: Net.Socket, accept: (socket: Net.Socket) => boolean) => void, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const requestCert = options.clientCa !== undefined
    const handshakeMillis = Duration.toMillis(options.handshakeTimeout)
    // Never listens: it is handed each connection (as its documentation allows) to do the handshake.
    const server = yield* Effect.try(() =>
      Tls.createServer({
        cert: options.cert,
        key: options.key,
        minVersion: "TLSv1.2",
        // Node's own handshake timeout restarts with every byte; ours below is from connecting.
        handshakeTimeout: handshakeMillis,
        ...(requestCert
          // A certificate is asked for but checked here, so that a refused client is told why.
          ? { ca: options.clientCa, requestCert: true, rejectUnauthorized: false }
          : {})
      })
    )

    // tls.Server hands back the TLS socket alone: the connection's addresses find who waits for it.
    const handshakes = new Map<string, Deferred.Deferred<Tls.TLSSocket, HandshakeError>>()
    server.on("secureConnection", (socket: Tls.TLSSocket) => {
      NodeConnection.guard(socket)
      const waiting = handshakes.get(addressesOf(socket))
      if (waiting === undefined) socket.destroy()
      else Deferred.unsafeDone(waiting, Effect.succeed(socket))
    })
    server.on("tlsClientError", (cause: Error, socket: Tls.TLSSocket) => {
      const waiting = handshakes.get(addressesOf(socket))
      if (waiting !== undefined) {
        Deferred.unsafeDone(waiting, Effect.fail(new HandshakeError({ reason: "Failed", cause })))
      }
      socket.destroy()
    })

    const handshake = (raw: Net.Socket) =>
      Effect.gen(function*() {
        const first = yield* firstChunk(raw)
        if (Option.isNone(first)) return { _tag: "Gone" } as const
        if (first.value[0] !== TLS_HANDSHAKE) return { _tag: "Plain" } as const
        raw.unshift(first.value)
        const key = addressesOf(raw)
        const done = yield* Deferred.make<Tls.TLSSocket, HandshakeError>()
        const onClose = () =>
          Deferred.unsafeDone(
            done,
            Effect.fail(new HandshakeError({ reason: "Failed", cause: new Error("the client closed the connection") }))
          )
        return yield* Effect.acquireUseRelease(
          Effect.sync(() => {
            handshakes.set(key, done)
            raw.once("close", onClose)
          }),
          () =>
            Effect.suspend(() => {
              server.emit("connection", raw)
              return Effect.map(Deferred.await(done), (socket) => ({ _tag: "Secure", socket }) as const)
            }),
          () =>
            Effect.sync(() => {
              handshakes.delete(key)
              raw.off("close", onClose)
            })
        )
      }).pipe(Effect.timeoutFail({
        duration: options.handshakeTimeout,
        onTimeout: () => new HandshakeError({ reason: "TimedOut" })
      }))

    const refusalOf = (socket: Tls.TLSSocket): Refusal | undefined => {
      if (!requestCert || socket.authorized) return undefined
      const certificate = socket.getPeerCertificate()
      if (certificate === null || Object.keys(certificate).length === 0) return { reason: "NoCertificate" }
      return { reason: "CertificateRefused", detail: String(socket.authorizationError) }
    }

    let underWay = 0
    const admit = (raw: Net.Socket, accept: (socket: Net.Socket) => boolean) => {
      const peer = `${raw.remoteAddress}:${raw.remotePort}`
      if (underWay >= options.maxHandshakes) {
        return Effect.sync(() => raw.destroy()).pipe(
          Effect.zipRight(Effect.logWarning(`${underWay} TLS handshakes under way already: closed`)),
          Effect.annotateLogs("client", peer)
        )
      }
      underWay += 1
      let handedOn = false
      let secure: Tls.TLSSocket | undefined
      return Effect.gen(function*() {
        const outcome = yield* handshake(raw)
        switch (outcome._tag) {
          case "Gone":
            return yield* Effect.logDebug("connection closed before the TLS handshake")
          case "Plain":
            yield* Effect.logWarning("a client not speaking TLS was refused: this port speaks TLS only")
            return yield* refuse(raw, options.refusal({ reason: "NotTls" }))
          case "Secure": {
            secure = outcome.socket
            const refused = refusalOf(secure)
            if (refused !== undefined) {
              yield* Effect.logWarning(
                refused.reason === "CertificateRefused"
                  ? `a client certificate was refused: ${refused.detail}`
                  : "a client without a certificate was refused"
              )
              return yield* refuse(secure, options.refusal(refused))
            }
            yield* Effect.logDebug(`TLS handshake done: ${secure.getProtocol()} ${secure.getCipher().name}`)
            handedOn = accept(secure)
          }
        }
      }).pipe(
        Effect.catchTag("HandshakeError", (error) =>
          Effect.logWarning(
            error.reason === "TimedOut"
              ? `TLS handshake not done within ${Duration.format(options.handshakeTimeout)}: closed`
              : `TLS handshake failed: ${error.cause instanceof Error ? error.cause.message : String(error.cause)}`
          )),
        Effect.ensuring(Effect.sync(() => {
          underWay -= 1
          if (handedOn) return
          secure?.destroy()
          raw.destroy()
        })),
        Effect.annotateLogs("client", peer)
      )
    }

    yield* Effect.logInfo(
      `TLS: 1.2 or 1.3${requestCert ? ", clients must show a certificate signed by the client CA" : ""}`
    )
    const gate = yield* FiberSet.make<void, never>()
    const run = yield* FiberSet.runtime(gate)<never>()
    return (raw, accept) => void run(admit(raw, accept))
  })

/** The first bytes the client sends (the socket paused again after them); none if it goes first. */
const firstChunk = (socket: Net.Socket) =>
  Effect.async<Option.Option<Buffer>>((resume) => {
    const onData = (chunk: Buffer) => {
      stop()
      resume(Effect.succeed(Option.some(chunk)))
    }
    const onGone = () => {
      stop()
      resume(Effect.succeed(Option.none()))
    }
    const stop = () => {
      socket.pause()
      socket.off("data", onData)
      socket.off("end", onGone)
      socket.off("close", onGone)
    }
    if (socket.destroyed || socket.readableEnded) return resume(Effect.succeed(Option.none()))
    socket.on("data", onData)
    socket.once("end", onGone)
    socket.once("close", onGone)
    socket.resume()
    return Effect.sync(stop)
  })

/**
 * Sends a last message and ends, then waits (bounded) until the message is handed over and the client
 * has ended too. What it still sends is read and dropped: closing on unread bytes would reset the
 * connection, and the message with it.
 */
const refuse = (socket: Net.Socket, message: Uint8Array) =>
  Effect.async<void>((resume) => {
    let sent = false
    let ended = false
    const done = () => {
      stop()
      resume(Effect.void)
    }
    const onFinish = () => (sent = true) && ended && done()
    const onEnd = () => (ended = true) && sent && done()
    const timer = setTimeout(done, REFUSAL_DRAIN_MILLIS)
    const stop = () => {
      clearTimeout(timer)
      socket.off("finish", onFinish)
      socket.off("end", onEnd)
      socket.off("close", done)
    }
    socket.once("finish", onFinish)
    socket.once("end", onEnd)
    socket.once("close", done)
    socket.end(message)
    socket.resume()
    return Effect.sync(stop)
  })
