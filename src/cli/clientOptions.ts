/** The client's arguments and options, with their defaults, limits and environment variables. */
import * as Args from "@effect/cli/Args"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { DEFAULT_TIMEOUT } from "../programs/client/exchange.js"
import { DEFAULT_RETRIES } from "../programs/client/retry.js"
import { MAX_TOKEN_BYTES } from "../protocol/Codec.js"
import { DIGEST_NAMES } from "../protocol/Digest.js"
import { clientTls } from "./tlsOptions.js"

export const host = Args.text({ name: "host" }).pipe(Args.withDescription("The server's host name or address."))
export const port = Args.integer({ name: "port" }).pipe(
  Args.withDescription("The server's TCP port."),
  Args.mapEffect((port) =>
    port >= 1 && port <= 65535 ? Effect.succeed(port) : Effect.fail(HelpDoc.p("PORT must be between 1 and 65535"))
  )
)
const words = Args.text({ name: "args" }).pipe(
  Args.withDescription(
    "NAME... DEST_DIR to download (a NAME ending in / is a whole directory), or one of: " +
      "list, stats, ls [PATH], stat NAME."
  ),
  Args.atLeast(1)
)
const quiet = Options.boolean("quiet").pipe(
  Options.withAlias("q"),
  Options.withDescription("Print nothing but errors: no progress bar, no summary.")
)
const json = Options.boolean("json").pipe(
  Options.withDescription("With list, stats, ls or stat: print JSON instead of text.")
)
const recursive = Options.boolean("recursive").pipe(
  Options.withAlias("r"),
  Options.withDescription("With ls: the whole tree under PATH, not one level.")
)
const retries = Options.integer("retries").pipe(
  Options.withFallbackConfig(Config.integer("FERRY_RETRIES")),
  Options.withDefault(DEFAULT_RETRIES),
  Options.withDescription(
    "How many times a download tries again by itself, resuming, after a lost connection, a timeout or a " +
      `busy server (0: never). Env: FERRY_RETRIES.`
  ),
  Options.mapEffect((n) =>
    n >= 0 ? Effect.succeed(n) : Effect.fail(ValidationError.invalidValue(HelpDoc.p("--retries must be 0 or more")))
  )
)
const noResume = Options.boolean("no-resume").pipe(
  Options.withDescription("Start over, discarding what an earlier interrupted download of the file left.")
)
const timeout = Options.text("timeout").pipe(
  Options.withDefault(DEFAULT_TIMEOUT),
  Options.withDescription("How long the server may send nothing before the client gives up (exit code 5)."),
  Options.mapEffect((text) => {
    const decoded = Duration.decodeUnknown(text)
    return Option.isSome(decoded) && Duration.greaterThan(decoded.value, Duration.zero)
      ? Effect.succeed(decoded.value)
      : Effect.fail(
        ValidationError.invalidValue(HelpDoc.p(`--timeout: "${text}" is not a duration, e.g. "30 seconds"`))
      )
  })
)

const digest = Options.choice("digest", DIGEST_NAMES).pipe(
  Options.withFallbackConfig(Config.literal(...DIGEST_NAMES)("FERRY_DIGEST")),
  Options.optional,
  Options.withDescription(
    `Check the download with this digest only (default: ${DIGEST_NAMES.join(", then ")}, as the server supports). ` +
      "Env: FERRY_DIGEST."
  )
)

const tokenBytes = (token: string) => Buffer.byteLength(token)

const token = Options.text("token").pipe(
  Options.withFallbackConfig(Config.string("FERRY_TOKEN")),
  Options.optional,
  Options.withDescription(
    "The access token to present, for a server that requires one (ferry-server --tokens); FERRY_TOKEN keeps " +
      "it out of the process list. Env: FERRY_TOKEN."
  ),
  Options.mapEffect((given) =>
    Option.exists(given, (token) => tokenBytes(token) === 0 || tokenBytes(token) > MAX_TOKEN_BYTES)
      ? Effect.fail(ValidationError.invalidValue(HelpDoc.p(`--token must be 1 to ${MAX_TOKEN_BYTES} bytes`)))
      // Redacted from here on: a secret nothing may print by mistake.
      : Effect.succeed(Option.map(given, Redacted.make))
  )
)

/** The options every form of the command takes, after HOST PORT or `--servers`. */
export const commonOptions = {
  words,
  quiet,
  json,
  recursive,
  timeout,
  digest,
  retries,
  noResume,
  tls: clientTls,
  token
}
