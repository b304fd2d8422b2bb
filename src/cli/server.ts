/**
 * The server's command line: where to listen, what to serve, and the tunables, each with an
 * environment-variable fallback and a stated default.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import { lru } from "../cache/Lru.js"
import { formatBytes, parseBytes } from "../format/ByteSize.js"
import * as BoundedCache from "../layers/BoundedCache.js"
import * as NodeFileStore from "../layers/NodeFileStore.js"
import * as NodeSocketServer from "../layers/NodeSocketServer.js"
import * as SemaphoreLockManager from "../layers/SemaphoreLockManager.js"
import { serve } from "../programs/server/serve.js"
import { exitWith } from "./ExitCode.js"
import * as Logging from "./logging.js"
import { LOG_FORMATS } from "./logging.js"

const PROGRAM = "ferry-server"

/** The server's exit codes, shown in `--help` and the README. */
export const EXIT_CODES = {
  ok: [0, "stopped by SIGINT or SIGTERM after finishing or cutting off transfers in flight"],
  internal: [1, "unexpected internal error (a bug: please report it)"],
  usage: [2, "invalid arguments"],
  directory: [3, "DIR is missing, not a directory, or unreadable"],
  listen: [4, "cannot listen on HOST:PORT (in use, no such address, not allowed)"]
} as const satisfies Record<string, readonly [number, string]>

export const DEFAULTS = {
  cacheSize: "64MiB",
  maxConnections: 1024,
  gracePeriod: "10 seconds"
} as const

const host = Args.text({ name: "host" }).pipe(
  Args.withDescription("The address to listen on (e.g. localhost, 0.0.0.0).")
)
const port = Args.integer({ name: "port" }).pipe(
  Args.withDescription("The TCP port to listen on (0 picks a free one, shown in the log)."),
  Args.mapEffect((port) =>
    port >= 0 && port <= 65535 ? Effect.succeed(port) : Effect.fail(HelpDoc.p("PORT must be between 0 and 65535"))
  )
)
const directory = Args.text({ name: "dir" }).pipe(Args.withDescription("The directory whose files are served."))

const invalid = (message: string) => Effect.fail(ValidationError.invalidValue(HelpDoc.p(message)))

const cacheSize = Options.text("cache-size").pipe(
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
const maxConnections = Options.integer("max-connections").pipe(
  Options.withFallbackConfig(Config.integer("FERRY_MAX_CONNECTIONS")),
  Options.withDefault(DEFAULTS.maxConnections),
  Options.withDescription(
    "Connections served at once; one more gets a \"busy\" reply and is closed. Env: FERRY_MAX_CONNECTIONS."
  ),
  Options.mapEffect((n) => n >= 1 ? Effect.succeed(n) : invalid("--max-connections must be at least 1"))
)
const gracePeriod = Options.text("grace-period").pipe(
  Options.withFallbackConfig(Config.string("FERRY_GRACE_PERIOD")),
  Options.withDefault(DEFAULTS.gracePeriod),
  Options.withDescription(
    "On SIGINT/SIGTERM, how long transfers in flight may take to finish (e.g. \"10 seconds\", \"500 millis\"). " +
      "Env: FERRY_GRACE_PERIOD."
  ),
  Options.mapEffect((text) => {
    const decoded = Duration.decodeUnknown(text)
    return decoded._tag === "Some"
      ? Effect.succeed(decoded.value)
      : invalid(`--grace-period: "${text}" is not a duration, e.g. "10 seconds"`)
  })
)

const logFormat = Options.choice("log-format", LOG_FORMATS).pipe(
  Options.withFallbackConfig(Config.literal(...LOG_FORMATS)("FERRY_LOG_FORMAT")),
  Options.withDefault("text" as const),
  Options.withDescription("Log lines as readable text or as JSON objects, on stderr. Env: FERRY_LOG_FORMAT.")
)

const exitCodesHelp = Object.values(EXIT_CODES).map(([code, meaning]) => `  ${code}  ${meaning}`).join("\n")

export const command = Command.make(
  PROGRAM,
  { host, port, directory, cacheSize, maxConnections, gracePeriod, logFormat },
  (args) => {
    const layer = Layer.mergeAll(
      NodeFileStore.layer(args.directory),
      NodeSocketServer.layer({ host: args.host, port: args.port }),
      BoundedCache.layer({ capacity: args.cacheSize, policy: lru }),
      SemaphoreLockManager.layer
    )
    return serve({ maxConnections: args.maxConnections, gracePeriod: args.gracePeriod }).pipe(
      Effect.provide(layer),
      Effect.provide(Logging.layer(args.logFormat)),
      Effect.catchTags({
        DirectoryError: (error) => exitWith(PROGRAM, EXIT_CODES.directory[0], error.message),
        ServerError: (error) => exitWith(PROGRAM, EXIT_CODES.listen[0], error.message)
      })
    )
  }
).pipe(Command.withDescription(HelpDoc.blocks([
  HelpDoc.p(`Serves the files under DIR to ferry clients, keeping recently served files in memory.`),
  HelpDoc.p("Examples:"),
  HelpDoc.p("  ferry-server localhost 9098 ./files"),
  HelpDoc.p("  ferry-server 0.0.0.0 9098 /srv/files --cache-size 512MiB --max-connections 200"),
  HelpDoc.p("  FERRY_CACHE_SIZE=1g ferry-server localhost 9098 ./files --log-level debug"),
  HelpDoc.p(
    `Defaults: --cache-size ${DEFAULTS.cacheSize} (${
      formatBytes(64 * 2 ** 20)
    }), --max-connections ${DEFAULTS.maxConnections}, ` +
      `--grace-period "${DEFAULTS.gracePeriod}", --log-level info (env FERRY_LOG_LEVEL).`
  ),
  HelpDoc.p(`Exit codes:\n${exitCodesHelp}`)
])))
