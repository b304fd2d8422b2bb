/** The server's arguments and options, each option with an environment variable and a stated default. */
import * as Args from "@effect/cli/Args"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { availableParallelism } from "node:os"
import { DEFAULT_POLICY, POLICY_NAMES } from "../cache/policies.js"
import { parseBytes } from "../format/ByteSize.js"
import { LOG_FORMATS } from "./logging.js"
import { checkDirectory } from "./origin.js"

export const DEFAULTS = {
  cacheSize: "64MiB",
  streamBuffers: "32MiB",
  // Off until slices stop pushing small files out of the cache (measured in the soak: see the README).
  sliceSize: "0",
  maxConnections: 1024,
  requestTimeout: "10 seconds",
  stallTimeout: "60 seconds",
  gracePeriod: "10 seconds"
} as const

export const host = Args.text({ name: "host" }).pipe(
  Args.withDescription("The address to listen on (e.g. localhost, 0.0.0.0).")
)
export const port = Args.integer({ name: "port" }).pipe(
  Args.withDescription("The TCP port to listen on (0 picks a free one, shown in the log)."),
  Args.mapEffect((port) =>
    port >= 0 && port <= 65535 ? Effect.succeed(port) : Effect.fail(HelpDoc.p("PORT must be between 0 and 65535"))
  )
)
export const directory = Args.text({ name: "dir" }).pipe(
  Args.withDescription("The directory whose files are served, or s3://BUCKET/PREFIX for the objects under PREFIX."),
  Args.mapEffect(checkDirectory)
)

const invalid = (message: string) => Effect.fail(ValidationError.invalidValue(HelpDoc.p(message)))

export const cacheSize = Options.text("cache-size").pipe(
  Options.withFallbackConfig(Config.string("FERRY_CACHE_SIZE")),
  Options.withDefault(DEFAULTS.cacheSize),
  Options.withDescription(
    "Memory for cached file contents: a number of bytes with an optional unit (k, m, g: powers of 1024, " +
      "so 64MiB, 512k, 1g). Env: FERRY_CACHE_SIZE."
  ),
  Options.mapEffect((text) =>
    Either.match(parseBytes(text), {
      onLeft: (message) => invalid(`--cache-size: ${message}`),
      onRight: (bytes) => bytes > 0 ? Effect.succeed(bytes) : invalid("--cache-size must be more than 0 bytes")
    })
  )
)
export const streamBuffers = Options.text("stream-buffers").pipe(
  Options.withFallbackConfig(Config.string("FERRY_STREAM_BUFFERS")),
  Options.withDefault(DEFAULTS.streamBuffers),
  Options.withDescription(
    "Memory meant for chunks of files streamed from disk (not cached), read and not yet sent, all " +
      "clients together: each stream reads chunks no larger than its fair share of it (64 KiB at least). " +
      "At least 1MiB. Env: FERRY_STREAM_BUFFERS."
  ),
  Options.mapEffect((text) =>
    Either.match(parseBytes(text), {
      onLeft: (message) => invalid(`--stream-buffers: ${message}`),
      onRight: (bytes) => bytes >= 2 ** 20 ? Effect.succeed(bytes) : invalid("--stream-buffers must be at least 1MiB")
    })
  )
)
export const sliceSize = Options.text("slice-size").pipe(
  Options.withFallbackConfig(Config.string("FERRY_SLICE_SIZE")),
  Options.withDefault(DEFAULTS.sliceSize),
  Options.withDescription(
    "Slices a file larger than the cache is cached in, each an entry of its own, so that clients reading " +
      "it at about the same time share one read from disk (4MiB measured best); 0, the default, streams " +
      "such files from disk per request. " +
      "0 or at least 64KiB. Env: FERRY_SLICE_SIZE."
  ),
  Options.mapEffect((text) =>
    Either.match(parseBytes(text), {
      onLeft: (message) => invalid(`--slice-size: ${message}`),
      onRight: (bytes) =>
        bytes === 0 || bytes >= 64 * 1024 ? Effect.succeed(bytes) : invalid("--slice-size must be 0 or at least 64KiB")
    })
  )
)

export const maxConnections = Options.integer("max-connections").pipe(
  Options.withFallbackConfig(Config.integer("FERRY_MAX_CONNECTIONS")),
  Options.withDefault(DEFAULTS.maxConnections),
  Options.withDescription(
    "Connections served at once; one more gets a \"busy\" reply and is closed. Env: FERRY_MAX_CONNECTIONS."
  ),
  Options.mapEffect((n) => n >= 1 ? Effect.succeed(n) : invalid("--max-connections must be at least 1"))
)
/** A duration option such as "10 seconds" or "500 millis", with its environment variable and default. */
const durationOption = (name: string, variable: string, fallback: string, description: string) =>
  Options.text(name).pipe(
    Options.withFallbackConfig(Config.string(variable)),
    Options.withDefault(fallback),
    Options.withDescription(`${description} Env: ${variable}.`),
    Options.mapEffect((text) => {
      const decoded = Duration.decodeUnknown(text)
      return Option.isSome(decoded) && Duration.greaterThan(decoded.value, Duration.zero)
        ? Effect.succeed(decoded.value)
        : invalid(`--${name}: "${text}" is not a duration, e.g. "${fallback}"`)
    })
  )

export const requestTimeout = durationOption(
  "request-timeout",
  "FERRY_REQUEST_TIMEOUT",
  DEFAULTS.requestTimeout,
  "How long a client has to send a whole request, after connecting or after the previous response; " +
    "an idle connection is closed when it runs out."
)
export const stallTimeout = durationOption(
  "stall-timeout",
  "FERRY_STALL_TIMEOUT",
  DEFAULTS.stallTimeout,
  "How long a client may read nothing while a response is being sent before it is dropped."
)
export const gracePeriod = durationOption(
  "grace-period",
  "FERRY_GRACE_PERIOD",
  DEFAULTS.gracePeriod,
  "On SIGINT/SIGTERM, how long transfers in flight may take to finish."
)

export const cachePolicy = Options.choice("cache-policy", POLICY_NAMES).pipe(
  Options.withFallbackConfig(Config.literal(...POLICY_NAMES)("FERRY_CACHE_POLICY")),
  Options.withDefault(DEFAULT_POLICY),
  Options.withDescription(
    `Which cached file to evict first when room is needed (see docs/CACHE_POLICY.md). Env: FERRY_CACHE_POLICY.`
  )
)

export const logFormat = Options.choice("log-format", LOG_FORMATS).pipe(
  Options.withFallbackConfig(Config.literal(...LOG_FORMATS)("FERRY_LOG_FORMAT")),
  Options.withDefault("text" as const),
  Options.withDescription("Log lines as readable text or as JSON objects, on stderr. Env: FERRY_LOG_FORMAT.")
)

export const noListing = Options.boolean("no-listing").pipe(
  Options.withFallbackConfig(Config.boolean("FERRY_NO_LISTING")),
  Options.withDescription(
    "Refuse `ls` (and so directory downloads): clients may fetch files only by a name they know. " +
      "Env: FERRY_NO_LISTING."
  )
)

// HOST:PORT, an IPv6 host in brackets.
const ADDRESS = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/

/** An optional HOST:PORT option, with its environment variable. */
const addressOption = (name: string, variable: string, example: string, description: string) =>
  Options.text(name).pipe(
    Options.withFallbackConfig(Config.string(variable)),
    Options.withDescription(`${description} Env: ${variable}.`),
    Options.mapEffect((text) => {
      const match = ADDRESS.exec(text)
      const port = Number(match?.[3])
      return match !== null && port <= 65535
        ? Effect.succeed({ host: match[1] ?? match[2]!, port })
        : invalid(`--${name}: "${text}" is not HOST:PORT, e.g. ${example}`)
    }),
    Options.optional
  )

export const metrics = addressOption(
  "metrics",
  "FERRY_METRICS",
  "localhost:9100",
  "Also listen for HTTP on HOST:PORT ([::1]:9100 for an IPv6 address, port 0 for a free one): " +
    "/metrics for Prometheus, /healthz, and /readyz (503 while draining on shutdown). Off unless given."
)

export const http = addressOption(
  "http",
  "FERRY_HTTP",
  "localhost:8080",
  "Also serve the files over HTTP/1.1 on HOST:PORT, read-only (GET and HEAD, ranges, conditional " +
    "requests, listings unless --no-listing, Authorization: Bearer with --tokens); HTTPS with " +
    "--tls-cert. The native port's limits apply. Off unless given."
)

export const tokens = Options.text("tokens").pipe(
  Options.withFallbackConfig(Config.string("FERRY_TOKENS")),
  Options.optional,
  Options.withDescription(
    "Require an access token (ferry-client --token): FILE lists them, one a line, as `ferry-server token create` " +
      "writes them, and must not be readable or writable by group or others. SIGHUP reloads it. " +
      "Without it the server is open to anyone. Env: FERRY_TOKENS."
  )
)

/** A rate such as "10MiB" (or "10MiB/s"): bytes a second, with its environment variable; no limit when not given. */
const rateOption = (name: string, variable: string, description: string) =>
  Options.text(name).pipe(
    Options.withFallbackConfig(Config.string(variable)),
    Options.withDescription(`${description} Off by default. Env: ${variable}.`),
    Options.mapEffect((text) =>
      Either.match(parseBytes(text.replace(/\/s\s*$/i, "")), {
        onLeft: (message) => invalid(`--${name}: ${message}`),
        onRight: (bytes) => bytes >= 1024 ? Effect.succeed(bytes) : invalid(`--${name} must be at least 1KiB a second`)
      })
    ),
    Options.optional
  )

export const rateLimit = rateOption(
  "rate-limit",
  "FERRY_RATE_LIMIT",
  "Bytes a second each connection may be sent (e.g. 10MiB; k, m, g are powers of 1024). Waiting for it never " +
    "counts as a client's stall."
)
export const totalRateLimit = rateOption(
  "total-rate-limit",
  "FERRY_TOTAL_RATE_LIMIT",
  "Bytes a second the whole server may send, shared fairly between the connections that want more than their share."
)
export const maxConnectionsPerClient = Options.integer("max-connections-per-client").pipe(
  Options.withFallbackConfig(Config.integer("FERRY_MAX_CONNECTIONS_PER_CLIENT")),
  Options.withDescription(
    "Connections served at once from one IP address; one more gets a \"busy\" reply and is closed. Off by " +
      "default. Env: FERRY_MAX_CONNECTIONS_PER_CLIENT."
  ),
  Options.mapEffect((n) => n >= 1 ? Effect.succeed(n) : invalid("--max-connections-per-client must be at least 1")),
  Options.optional
)

/** The most workers one server may run: far more than the cores of any machine it would run on. */
export const MAX_WORKERS = 256

export const workers = Options.text("workers").pipe(
  Options.withFallbackConfig(Config.string("FERRY_WORKERS")),
  Options.withDefault("1"),
  Options.withDescription(
    "Worker processes, each on its own port from PORT up (PORT to PORT+N-1; with PORT 0 each a free one), " +
      "each with its share of --cache-size and --stream-buffers, restarted when one crashes; `auto` for one a " +
      "core. The --metrics and --http ports count up the same way. Default 1: one process. Env: FERRY_WORKERS."
  ),
  Options.mapEffect((text) => {
    const n = text === "auto" ? availableParallelism() : /^\d+$/.test(text) ? Number(text) : Number.NaN
    return n >= 1 && n <= MAX_WORKERS
      ? Effect.succeed(n)
      : invalid(`--workers: "${text}" is not a number of workers from 1 to ${MAX_WORKERS}, nor auto`)
  })
)
