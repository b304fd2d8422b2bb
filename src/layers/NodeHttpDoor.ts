/**
 * The HttpDoor with Node's http module (https with a certificate): keep-alive, the native port's
 * limits (header size, request deadline, stall timeout, connections), answers written with
 * backpressure (internal/HttpSend.ts), and each request's scope held open until its response is sent or
 * the client is gone.
 * It listens as soon as the layer is built; closing it closes its connections too.
 */
import type * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import * as Runtime from "effect/Runtime"
import * as Scope from "effect/Scope"
import type * as Http from "node:http"
import * as Net from "node:net"
import {
  type ConnectionEvent,
  type HttpAnswer,
  HttpDoor,
  type HttpRequest,
  type HttpServeOptions,
  type ImmediateAnswer
} from "../services/HttpDoor.js"
import { type ServerAddress, ServerError } from "../services/SocketServer.js"
import { makeSend, sendNow } from "./internal/HttpSend.js"
import { listen } from "./NodeSocketServer.js"

export interface HttpDoorOptions extends ServerAddress {
  /** HTTPS with this certificate (and client certificates signed by `clientCa`, when given). */
  readonly tls?: { readonly cert: string; readonly key: string; readonly clientCa?: string | undefined } | undefined
  /** How long a client has to send a whole request; an idle keep-alive connection is closed after it. */
  readonly requestTimeout: Duration.DurationInput
  /** How long a client may take nothing while a response is being sent before it is dropped. */
  readonly stallTimeout: Duration.DurationInput
  /** Connections open at once; one more is answered 503 and closed. */
  readonly maxConnections: number
  /** Connections open at once from one client address, as `maxConnections` is for all; no limit of its own when left out. */
  readonly maxConnectionsPerClient?: number | undefined
}

/** Request line and headers: room for a 4096-byte name percent-encoded, and the usual headers. */
export const MAX_HEADER_BYTES = 16 * 1024

type Handler = (request: Http.IncomingMessage, response: Http.ServerResponse) => void

const plain = (response: Http.ServerResponse, status: number, text: string) => {
  response.shouldKeepAlive = false
  response.writeHead(status, {
    "content-type": "text/plain; charset=utf-8",
    "content-length": Buffer.byteLength(text) + 1
  })
  response.end(`${text}\n`)
}

const requestOf = (request: Http.IncomingMessage): HttpRequest => ({
  method: request.method ?? "GET",
  target: request.url ?? "/",
  header: (name) => {
    const value = request.headers[name]
    return Array.isArray(value) ? value.join(", ") : value
  },
  peer: `${request.socket.remoteAddress}:${request.socket.remotePort}`
})

/** What a request's parser error is answered with, as Node answers it without a listener. */
const CLIENT_ERRORS: Record<string, string> = {
  HPE_HEADER_OVERFLOW: "431 Request Header Fields Too Large",
  ERR_HTTP_REQUEST_TIMEOUT: "408 Request Timeout"
}

export const make = (
  options: HttpDoorOptions
): Effect.Effect<Context.Tag.Service<HttpDoor>, ServerError, Scope.Scope> =>
  Effect.gen(function*() {
    const address = { host: options.host, port: options.port }
    const requestMillis = Duration.toMillis(options.requestTimeout)
    const stallMillis = Duration.toMillis(options.stallTimeout)
    const { tls } = options
    const serverOptions = {
      maxHeaderSize: MAX_HEADER_BYTES,
      requestTimeout: requestMillis,
      headersTimeout: requestMillis,
      keepAliveTimeout: requestMillis,
      // Node checks the two deadlines above only this often (30 seconds by default).
      connectionsCheckingInterval: Math.max(100, Math.min(1000, requestMillis / 2))
    }
    let handler: Handler | undefined
    const dispatch: Handler = (request, response) => {
      if (handler === undefined) plain(response, 503, "not serving")
      else handler(request, response)
    }
    // Loaded only by a server that has an HTTP door.
    const server: Http.Server = yield* Effect.promise(async () =>
      tls === undefined
        ? (await import("node:http")).createServer(serverOptions, dispatch)
        : (await import("node:https")).createServer({
          ...serverOptions,
          cert: tls.cert,
          key: tls.key,
          minVersion: "TLSv1.2",
          handshakeTimeout: requestMillis,
          ...(tls.clientCa === undefined ? {} : { ca: tls.clientCa, requestCert: true, rejectUnauthorized: true })
        }, dispatch)
    )
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        server.close()
        server.closeAllConnections()
      })
    )

    // Connections past a limit are let in only to be answered 503 on their first request, saying which.
    let events: (event: ConnectionEvent) => void = () => {}
    let open = 0
    const perAddress = new Map<string, number>()
    const turnedAway = new WeakMap<Net.Socket, "all" | "address">()
    const { maxConnectionsPerClient } = options
    server.on(tls === undefined ? "connection" : "secureConnection", (socket: Net.Socket) => {
      if (open >= options.maxConnections) return void turnedAway.set(socket, "all")
      // As the native port counts them: by the address Node reports, without the port.
      const address = socket.remoteAddress ?? ""
      const fromAddress = perAddress.get(address) ?? 0
      if (maxConnectionsPerClient !== undefined && fromAddress >= maxConnectionsPerClient) {
        return void turnedAway.set(socket, "address")
      }
      open++
      perAddress.set(address, fromAddress + 1)
      events("opened")
      socket.once("close", () => {
        open--
        const left = perAddress.get(address)! - 1
        if (left === 0) perAddress.delete(address)
        else perAddress.set(address, left)
        events("closed")
      })
    })
    server.on("clientError", (error: NodeJS.ErrnoException, socket: Net.Socket) => {
      if (error.code === "ERR_HTTP_REQUEST_TIMEOUT") events("timedOut")
      const status = CLIENT_ERRORS[error.code ?? ""] ?? "400 Bad Request"
      const message = (socket as { _httpMessage?: Http.ServerResponse })._httpMessage
      if (socket.writable && message?.headersSent !== true) {
        socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
      }
      socket.destroy()
    })
    yield* listen(server, address).pipe(
      Effect.mapError((error) => new ServerError({ ...error, listener: "--http" }))
    )
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    server.on("error", (cause) => runFork(Effect.logError("http: failed to accept a connection", cause)))

    const send = makeSend(stallMillis)

    const serve = <R>(
      handle: (request: HttpRequest) => Effect.Effect<HttpAnswer, never, R | Scope.Scope>,
      serveOptions: HttpServeOptions<R>
    ): Effect.Effect<never, never, Exclude<R, Scope.Scope>> =>
      Effect.scoped(Effect.gen(function*() {
        if (handler !== undefined) return yield* Effect.dieMessage("an HTTP door serves once at a time")
        const handlers = yield* FiberSet.make<void, never>()
        const run = yield* FiberSet.runtime(handlers)<Exclude<R, Scope.Scope>>()
        let draining = false

        const answerOne = (request: Http.IncomingMessage, response: Http.ServerResponse) =>
          Effect.acquireUseRelease(
            Scope.make(),
            (scope) =>
              Effect.flatMap(Scope.extend(handle(requestOf(request)), scope), (answer) => {
                // While draining, each connection is closed after the response it is sending.
                if (draining) response.shouldKeepAlive = false
                return send(response, answer)
              }),
            (scope, exit) => Scope.close(scope, exit)
          ).pipe(Effect.ignore) as Effect.Effect<void, never, Exclude<R, Scope.Scope>>

        // Its requirements are those of `handle`, Scope left out as `serve` promises.
        const fireEvent = (event: ConnectionEvent) =>
          void run(serveOptions.onConnection(event) as Effect.Effect<void, never, Exclude<R, Scope.Scope>>)
        events = fireEvent
        // Answers sent at once, with no fiber to wait for: counted, so that a drain waits for them too.
        let immediateInFlight = 0
        let onImmediateIdle: (() => void) | undefined
        const immediatelyIdle = Effect.async<void>((resume) => {
          if (immediateInFlight === 0) return resume(Effect.void)
          onImmediateIdle = () => resume(Effect.void)
          return Effect.sync(() => void (onImmediateIdle = undefined))
        })
        const sendImmediately = (response: Http.ServerResponse, immediate: ImmediateAnswer) => {
          immediateInFlight++
          sendNow(response, {
            answer: immediate.answer,
            done: (outcome) => {
              immediateInFlight--
              immediate.done(outcome)
              if (immediateInFlight === 0) onImmediateIdle?.()
            }
          }, stallMillis)
        }

        handler = (request, response) => {
          const refused = turnedAway.get(request.socket)
          if (refused === "all") {
            fireEvent("turnedAway")
            return plain(response, 503, "server busy: too many connections, try again later")
          }
          if (refused === "address") {
            fireEvent("addressTurnedAway")
            return plain(response, 503, "server busy: too many connections from this address, try again later")
          }
          const immediate = draining ? undefined : serveOptions.immediate?.(requestOf(request))
          if (immediate !== undefined) return sendImmediately(response, immediate)
          run(answerOne(request, response))
        }

        yield* Effect.addFinalizer(() =>
          Effect.gen(function*() {
            draining = true
            // Stops listening only: http's own close also closes the connections it deems idle, which
            // takes in those whose request has been read and whose response is still being sent.
            // Idle ones are closed with the rest below, once the responses in flight are done.
            Net.Server.prototype.close.call(server)
            const active = (yield* FiberSet.size(handlers)) + immediateInFlight
            if (active > 0) {
              yield* Effect.logInfo(`http: shutting down: waiting for ${active} response(s) to finish`).pipe(
                Effect.annotateLogs("gracePeriod", Duration.format(serveOptions.gracePeriod))
              )
            }
            yield* Effect.timeoutOption(
              Effect.interruptible(Effect.zip(FiberSet.awaitEmpty(handlers), immediatelyIdle, { concurrent: true })),
              serveOptions.gracePeriod
            )
            yield* FiberSet.clear(handlers)
            handler = undefined
            events = () => {}
            server.closeAllConnections()
          })
        )
        return yield* Effect.never
      }))

    const bound = server.address() as Net.AddressInfo
    return HttpDoor.of({
      address: { host: bound.address, port: bound.port },
      secure: tls !== undefined,
      serve
    })
  })

export const layer = (options: HttpDoorOptions): Layer.Layer<HttpDoor, ServerError> =>
  Layer.scoped(HttpDoor, make(options))
