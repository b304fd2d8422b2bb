/**
 * The server: accept connections up to a limit, serve each in its own fiber, turn away the rest
 * with a "busy" reply, and on shutdown let transfers in flight finish within a grace period. With a
 * metrics listener, answer its scrapes and probes until the last transfer is done. With an HTTP door,
 * answer it too, draining both at once. As a worker of `--workers N`, tell the primary where it listens.
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import { formatBytes } from "../../format/ByteSize.js"
import * as Codec from "../../protocol/Codec.js"
import { Cache } from "../../services/Cache.js"
import { HttpDoor } from "../../services/HttpDoor.js"
import { MetricsServer } from "../../services/MetricsServer.js"
import { Primary } from "../../services/Primary.js"
import { RateLimiter } from "../../services/RateLimiter.js"
import { type ServerConnection, SocketServer } from "../../services/SocketServer.js"
import { Tokens } from "../../services/Tokens.js"
import { serveHttp } from "../http/serveHttp.js"
import { clientAddress, makeClientSlots } from "./clientSlots.js"
import { closeWith } from "./closeWith.js"
import { exposition } from "./exposition.js"
import { type ConnectionLimits, handleConnection } from "./handleConnection.js"
import { makeImmediateGet } from "./immediateGet.js"
import * as ServerMetrics from "./ServerMetrics.js"
import { makeSlices, Slices } from "./Slices.js"
import { makeStreamBuffers, StreamBuffers } from "./StreamBuffers.js"

export interface ServeOptions extends ConnectionLimits {
  readonly maxConnections: number
  /** Connections served at once from one client address; no limit of its own when left out. */
  readonly maxConnectionsPerClient?: number | undefined
  readonly gracePeriod: Duration.DurationInput
  /** How long a client may take nothing while a response waits to be sent (the transport watches). */
  readonly stallTimeout: Duration.DurationInput
  /** Bytes of file chunks read for streaming and not yet sent, all streams together. */
  readonly streamBuffers: number
  /** Bytes per slice of a file larger than the cache; 0 (the default here) streams such files. */
  readonly sliceSize?: number | undefined
}

const turnAway = (connection: ServerConnection, why = "too many connections") =>
  Effect.logWarning(`${why}: turned away`).pipe(
    Effect.zipRight(ServerMetrics.count("turnedAway")),
    Effect.zipRight(closeWith(
      connection,
      Codec.encodeFailure(0, Codec.Status.Busy, `server busy: ${why}, try again later`)
    )),
    Effect.annotateLogs("client", connection.peer)
  )

export const serve = (options: ServeOptions) =>
  Effect.gen(function*() {
    const server = yield* SocketServer
    const cache = yield* Cache
    const metrics = yield* ServerMetrics.ServerMetrics
    const tokens = yield* Effect.flatMap(Tokens, (tokens) => tokens.current)
    const limiter = yield* RateLimiter
    const slots = yield* Effect.makeSemaphore(options.maxConnections)
    const perClient = options.maxConnectionsPerClient === undefined
      ? undefined
      : yield* makeClientSlots(options.maxConnectionsPerClient)
    const immediate = yield* makeImmediateGet
    // Paced (when a rate limit is set) over the transport's stall watch: waiting to send is not a stall.
    const handle = (connection: ServerConnection) =>
      Effect.flatMap(limiter.pace(connection), (paced) => handleConnection(paced, options, immediate))
    const served = (connection: ServerConnection) =>
      slots.withPermitsIfAvailable(1)(handle(connection)).pipe(
        Effect.flatMap(Option.match({ onNone: () => turnAway(connection), onSome: () => Effect.void }))
      )
    // Checked first: connections one address has too many of never hold the server's slots, even to be turned away.
    const admitted = perClient === undefined
      ? served
      : (connection: ServerConnection) =>
        perClient(clientAddress(connection.peer))(served(connection)).pipe(
          Effect.flatMap(Option.match({
            onNone: () => turnAway(connection, "too many connections from this address"),
            onSome: () => Effect.void
          }))
        )
    // Counted while its handler runs, whatever becomes of it.
    const active = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
      Effect.acquireUseRelease(
        Metric.increment(metrics.activeConnections),
        () => effect,
        () => Metric.modify(metrics.activeConnections, -1)
      )

    // Optional: a server without a metrics port (and a test) provides none.
    const metricsServer = yield* Effect.serviceOption(MetricsServer)
    if (Option.isSome(metricsServer)) {
      // In this scope, closed once `server.serve` has drained: scrapes go on during the grace period.
      const scrape = Effect.provide(exposition, yield* Effect.context<Effect.Effect.Context<typeof exposition>>())
      yield* Effect.forkScoped(metricsServer.value.serve({ metrics: scrape, ready: server.accepting }))
    }

    // Optional as well: a server without --http has no door.
    const httpDoor = yield* Effect.serviceOption(HttpDoor)

    yield* Effect.logInfo(`listening on ${server.address.host}:${server.address.port}`).pipe(
      Effect.annotateLogs({
        cache: formatBytes(cache.capacity),
        maxConnections: options.maxConnections,
        ...Option.match(metricsServer, {
          onNone: () => ({}),
          onSome: ({ address }) => ({ metrics: `${address.host}:${address.port}` })
        }),
        ...Option.match(httpDoor, {
          onNone: () => ({}),
          onSome: ({ address }) => ({ http: `${address.host}:${address.port}` })
        }),
        access: Option.match(tokens, {
          onNone: () => "open to anyone: no --tokens",
          onSome: ({ grants, source }) => `${grants.length} token${grants.length === 1 ? "" : "s"} from ${source}`
        })
      })
    )
    // A worker of `--workers N`: it says where it listens, and answers for its figures.
    const primary = yield* Effect.serviceOption(Primary)
    if (Option.isSome(primary)) {
      const own = ServerMetrics.snapshot
      yield* primary.value.answer(Effect.provide(own, yield* Effect.context<Effect.Effect.Context<typeof own>>()))
      yield* primary.value.listening({
        port: server.address.port,
        metricsPort: Option.getOrUndefined(Option.map(metricsServer, ({ address }) => address.port)),
        httpPort: Option.getOrUndefined(Option.map(httpDoor, ({ address }) => address.port))
      })
    }
    const native = server.serve(
      (connection) =>
        ServerMetrics.count("connections").pipe(
          Effect.zipRight(admitted(connection)),
          active
        ),
      { gracePeriod: options.gracePeriod, stallTimeout: options.stallTimeout }
    )
    if (Option.isNone(httpDoor)) return yield* native
    // Both interrupted together on shutdown, so their grace periods run side by side.
    const http = Effect.provideService(serveHttp(options), HttpDoor, httpDoor.value)
    return yield* Effect.zipRight(Effect.zip(native, http, { concurrent: true }), Effect.never)
  }).pipe(
    Effect.scoped,
    Effect.provideServiceEffect(ServerMetrics.ServerMetrics, ServerMetrics.make),
    Effect.provideServiceEffect(StreamBuffers, makeStreamBuffers(options.streamBuffers)),
    Effect.provideServiceEffect(Slices, makeSlices(options.sliceSize ?? 0)),
    Effect.onInterrupt(() => Effect.logInfo("stopped"))
  )
