/**
 * The MetricsServer with Node's http module: GET and HEAD of three paths, anything else refused. It
 * listens as soon as the layer is built, and closing it closes its connections too.
 */
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import type * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { CONTENT_TYPE } from "../format/Prometheus.js"
import { MetricsServer, type Probes } from "../services/MetricsServer.js"
import { type ServerAddress, ServerError } from "../services/SocketServer.js"
import { listen } from "./NodeSocketServer.js"

interface Answer {
  readonly status: number
  readonly body: string
  readonly type: string
  readonly headers?: Readonly<Record<string, string>>
}

const plain = (status: number, body: string): Answer => ({
  status,
  body: `${body}\n`,
  type: "text/plain; charset=utf-8"
})

const NOT_SERVING = plain(503, "not serving")

const answer = (method: string | undefined, url: string | undefined, probes: Probes | undefined) => {
  if (method !== "GET" && method !== "HEAD") {
    return Effect.succeed({ ...plain(405, "only GET and HEAD"), headers: { allow: "GET, HEAD" } })
  }
  switch ((url ?? "/").replace(/\?.*$/s, "")) {
    case "/healthz":
      return Effect.succeed(plain(200, "ok"))
    case "/readyz":
      return probes === undefined
        ? Effect.succeed(NOT_SERVING)
        : Effect.map(probes.ready, (ready) => ready ? plain(200, "ready") : plain(503, "draining"))
    case "/metrics":
      return probes === undefined
        ? Effect.succeed(NOT_SERVING)
        : Effect.map(probes.metrics, (body): Answer => ({ status: 200, body, type: CONTENT_TYPE }))
    default:
      return Effect.succeed(plain(404, "not found: there are /metrics, /healthz and /readyz"))
  }
}

const reply = (response: Http.ServerResponse, { body, headers, status, type }: Answer) =>
  Effect.sync(() => {
    response.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body), ...headers })
    // Node leaves the body out of the answer to a HEAD.
    response.end(body)
  })

export const make = (
  address: ServerAddress
): Effect.Effect<Context.Tag.Service<MetricsServer>, ServerError, Scope.Scope> =>
  Effect.gen(function*() {
    // Loaded only by a server that has a metrics port.
    const { createServer } = yield* Effect.promise(() => import("node:http"))
    let probes: Probes | undefined
    const handle = (request: Http.IncomingMessage, response: Http.ServerResponse) =>
      Effect.suspend(() => answer(request.method, request.url, probes)).pipe(
        Effect.flatMap((found) => reply(response, found)),
        Effect.catchAllCause((cause) =>
          Effect.zipRight(Effect.logError("metrics: failed to answer", cause), Effect.sync(() => response.destroy()))
        )
      )
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    const server = yield* Effect.acquireRelease(
      Effect.sync(() =>
        // A scrape is small and quick: a client that takes longer to send its request is not one.
        createServer({ requestTimeout: 10_000, headersTimeout: 10_000 }, (request, response) => {
          runFork(handle(request, response))
        })
      ),
      (server) =>
        Effect.sync(() => {
          server.close()
          server.closeAllConnections()
        })
    )
    yield* listen(server, address).pipe(
      Effect.mapError((error) => new ServerError({ ...error, listener: "--metrics" }))
    )
    server.on("error", (cause) => runFork(Effect.logError("metrics: failed to accept a connection", cause)))

    const bound = server.address() as AddressInfo
    return MetricsServer.of({
      address: { host: bound.address, port: bound.port },
      serve: (given) =>
        Effect.acquireUseRelease(
          Effect.sync(() => probes = given),
          () => Effect.never,
          () => Effect.sync(() => probes = undefined)
        )
    })
  })

export const layer = (address: ServerAddress): Layer.Layer<MetricsServer, ServerError> =>
  Layer.scoped(MetricsServer, make(address))
