/** The server's command: its options composed into layers, the server run, start-up failures as exit codes. */
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { DEFAULT_POLICY, POLICIES } from "../cache/policies.js"
import * as BoundedCache from "../layers/BoundedCache.js"
import * as NodeHttpDoor from "../layers/NodeHttpDoor.js"
import * as NodeMetricsServer from "../layers/NodeMetricsServer.js"
import * as NodePrimary from "../layers/NodePrimary.js"
import * as NodeSocketServer from "../layers/NodeSocketServer.js"
import * as NodeTokens from "../layers/NodeTokens.js"
import * as NodeWorkers from "../layers/NodeWorkers.js"
import * as SemaphoreLockManager from "../layers/SemaphoreLockManager.js"
import * as TokenBucketRateLimiter from "../layers/TokenBucketRateLimiter.js"
import { serve } from "../programs/server/serve.js"
import { supervise } from "../programs/server/supervise.js"
import { unavailableDigest } from "../protocol/Digest.js"
import { Primary } from "../services/Primary.js"
import { ExitCode, exitWith } from "./ExitCode.js"
import * as Logging from "./logging.js"
import { fileStoreLayer, s3Endpoint } from "./origin.js"
import {
  cachePolicy,
  cacheSize,
  DEFAULTS,
  directory,
  gracePeriod,
  host,
  http,
  logFormat,
  maxConnections,
  maxConnectionsPerClient,
  metrics,
  noListing,
  port,
  rateLimit,
  requestTimeout,
  sliceSize,
  stallTimeout,
  streamBuffers,
  tokens,
  totalRateLimit,
  workers
} from "./serverOptions.js"
import { asWorker, planWorkers, workerFromEnvironment } from "./serverWorkers.js"
import { serverLayerOptions, serverTls } from "./tlsOptions.js"

const PROGRAM = "ferry-server"

/** The server's exit codes, shown in `--help` and the README. */
export const EXIT_CODES = {
  ok: [0, "stopped by SIGINT or SIGTERM after finishing or cutting off transfers in flight"],
  internal: [1, "unexpected internal error (a bug: please report it)"],
  usage: [2, "invalid arguments"],
  directory: [
    3,
    "DIR is missing, not a directory, or unreadable; for s3://, no such bucket, access denied, or the endpoint " +
    "unreachable"
  ],
  listen: [4, "cannot listen on HOST:PORT, the --metrics or the --http address (in use, no such address, not allowed)"],
  tokens: [5, "the --tokens file is unreadable, readable or writable by group or others, or malformed"]
} as const satisfies Record<string, readonly [number, string]>

const exitCodesHelp = Object.values(EXIT_CODES).map(([code, meaning]) => `  ${code}  ${meaning}`).join("\n")

interface ServerArgs extends Command.Command.ParseConfig<typeof options> {}

/**
 * A worker whose primary is gone stops as SIGTERM stops it. Interrupting the server from a fiber
 * racing it instead interrupts its drain too, cutting the transfers off.
 */
const drainAsIfSignalled = Effect.sync(() => void process.kill(process.pid, "SIGTERM"))

/** One process serving: the server of `--workers 1`, and each worker of more. */
const serveOne = (args: ServerArgs) => {
  const layer = Layer.mergeAll(
    fileStoreLayer(args.directory, args.s3Endpoint),
    NodeSocketServer.layer({
      host: args.host,
      port: args.port,
      ...serverLayerOptions(args.tls, args)
    }),
    BoundedCache.layer({ capacity: args.cacheSize, policy: POLICIES[args.cachePolicy] }),
    SemaphoreLockManager.layer,
    Option.match(args.metrics, { onNone: () => Layer.empty, onSome: NodeMetricsServer.layer }),
    Option.match(args.http, {
      onNone: () => Layer.empty,
      onSome: (address) =>
        NodeHttpDoor.layer({
          ...address,
          tls: Option.getOrUndefined(args.tls),
          requestTimeout: args.requestTimeout,
          stallTimeout: args.stallTimeout,
          maxConnections: args.maxConnections,
          maxConnectionsPerClient: Option.getOrUndefined(args.maxConnectionsPerClient)
        })
    }),
    NodeTokens.layer(args.tokens),
    TokenBucketRateLimiter.layer({
      perConnection: Option.getOrUndefined(args.rateLimit),
      total: Option.getOrUndefined(args.totalRateLimit)
    })
  )
  return serve({
    ...args,
    listing: !args.noListing,
    maxConnectionsPerClient: Option.getOrUndefined(args.maxConnectionsPerClient)
  }).pipe(
    Effect.provide(layer),
    Effect.provide(Logging.layer(args.logFormat)),
    Effect.catchTags({
      DirectoryError: (error) => exitWith(PROGRAM, EXIT_CODES.directory[0], error.message),
      BucketError: (error) => exitWith(PROGRAM, EXIT_CODES.directory[0], error.message),
      ServerError: (error) => exitWith(PROGRAM, EXIT_CODES.listen[0], error.message),
      TokensError: (error) => exitWith(PROGRAM, EXIT_CODES.tokens[0], error.message)
    })
  )
}

/**
 * The primary of `--workers N`: its workers run this same entry point and command line, told apart
 * by their settings in the environment. A worker that cannot start has said why on stderr.
 */
const superviseWorkers = (args: ServerArgs) =>
  Either.match(planWorkers(args, args.workers), {
    onLeft: (message) => exitWith(PROGRAM, EXIT_CODES.usage[0], message),
    onRight: (workers) =>
      supervise({ host: args.host, workers, gracePeriod: args.gracePeriod }).pipe(
        Effect.provide(NodeWorkers.layer({ entry: process.argv[1]!, args: process.argv.slice(2) })),
        Effect.provide(Logging.layer(args.logFormat)),
        Effect.catchTag("WorkerCannotStart", ({ code }) => Effect.fail(new ExitCode({ code })))
      )
  })

const options = {
  host,
  port,
  directory,
  cacheSize,
  cachePolicy,
  streamBuffers,
  sliceSize,
  maxConnections,
  requestTimeout,
  stallTimeout,
  gracePeriod,
  noListing,
  logFormat,
  tls: serverTls,
  metrics,
  http,
  tokens,
  rateLimit,
  totalRateLimit,
  maxConnectionsPerClient,
  workers,
  s3Endpoint
}

export const command = Command.make(
  PROGRAM,
  options,
  (args) => {
    // Checked before listening: a server that can answer no GET must not start.
    const unavailable = unavailableDigest()
    if (unavailable !== undefined) return exitWith(PROGRAM, EXIT_CODES.internal[0], unavailable)
    return Either.match(workerFromEnvironment(), {
      onLeft: (message) => exitWith(PROGRAM, EXIT_CODES.usage[0], message),
      onRight: Option.match({
        onSome: (settings) =>
          Effect.flatMap(Primary, (primary) => Effect.forkDaemon(Effect.zipRight(primary.gone, drainAsIfSignalled)))
            .pipe(
              Effect.zipRight(serveOne(asWorker(args, settings))),
              Effect.provide(NodePrimary.layer(settings.index)),
              Effect.annotateLogs("worker", settings.index)
            ),
        onNone: () => args.workers === 1 ? serveOne(args) : superviseWorkers(args)
      })
    })
  }
).pipe(Command.withDescription(HelpDoc.blocks([
  HelpDoc.p(
    `Serves the files under DIR (a directory, or s3://BUCKET/PREFIX) to ferry clients, keeping recently ` +
      `served files in memory.`
  ),
  HelpDoc.p("Examples:"),
  HelpDoc.p("  ferry-server localhost 9098 ./files"),
  HelpDoc.p("  ferry-server 0.0.0.0 9098 /srv/files --cache-size 512MiB --max-connections 200"),
  HelpDoc.p("  FERRY_CACHE_SIZE=1g ferry-server localhost 9098 ./files --log-level debug"),
  HelpDoc.p("  ferry-server 0.0.0.0 9098 /srv/files --tls-cert cert.pem --tls-key key.pem"),
  HelpDoc.p("  ferry-server 0.0.0.0 9098 /srv/files --http 0.0.0.0:8080   (then: curl http://host:8080/name)"),
  HelpDoc.p("  ferry-server 0.0.0.0 9098 /srv/files --workers auto   (one process a core, on ports 9098 and up)"),
  HelpDoc.p("  AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... ferry-server 0.0.0.0 9098 s3://bucket/files"),
  HelpDoc.p(
    `Defaults: --cache-size ${DEFAULTS.cacheSize}, --cache-policy ${DEFAULT_POLICY}, ` +
      `--stream-buffers ${DEFAULTS.streamBuffers}, --slice-size ${DEFAULTS.sliceSize}, --max-connections ${DEFAULTS.maxConnections}, ` +
      `--request-timeout "${DEFAULTS.requestTimeout}", --stall-timeout "${DEFAULTS.stallTimeout}", ` +
      `--grace-period "${DEFAULTS.gracePeriod}", --log-format text, --log-level info (env FERRY_LOG_LEVEL).`
  ),
  HelpDoc.p(
    "Access tokens: ferry-server token create --label L --prefix P --file FILE makes one, and " +
      "--tokens FILE requires one (see ferry-server token create --help)."
  ),
  HelpDoc.p(`Exit codes:\n${exitCodesHelp}`)
])))
