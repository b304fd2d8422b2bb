/**
 * The client's command line: arguments and options, and the translation of every failure into
 * one line on stderr and an exit code of its own.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { formatBytes } from "../format/ByteSize.js"
import { printable } from "../format/Printable.js"
import { download } from "../programs/client/download.js"
import { DEFAULT_TIMEOUT, type ServerAddress } from "../programs/client/exchange.js"
import { list, stats } from "../programs/client/inquire.js"
import { type Digest, DIGEST_NAMES } from "../protocol/Digest.js"
import { isAcceptableName } from "../services/FileName.js"
import { type ClientFailure, clientFailure, EXIT_CODES } from "./clientFailure.js"
import { printListing, printStats } from "./clientOutput.js"
import { exitWith } from "./ExitCode.js"

const PROGRAM = "ferry-client"

const host = Args.text({ name: "host" }).pipe(Args.withDescription("The server's host name or address."))
const port = Args.integer({ name: "port" }).pipe(
  Args.withDescription("The server's TCP port."),
  Args.mapEffect((port) =>
    port >= 1 && port <= 65535 ? Effect.succeed(port) : Effect.fail(HelpDoc.p("PORT must be between 1 and 65535"))
  )
)
const name = Args.text({ name: "name" }).pipe(
  Args.withDescription(
    "The file to download (a path relative to the server's directory); or, without DEST_DIR, `list` or `stats`."
  )
)
const directory = Args.text({ name: "dest_dir" }).pipe(
  Args.withDescription("The directory to save the file into."),
  Args.optional
)
const quiet = Options.boolean("quiet").pipe(
  Options.withAlias("q"),
  Options.withDescription("Print nothing but errors: no progress bar, no summary.")
)
const json = Options.boolean("json").pipe(
  Options.withDescription("With `list` or `stats`: print JSON instead of text.")
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

const reportCut = (shown: number, total: number, isQuiet: boolean) =>
  total > shown && !isQuiet
    ? Console.error(`${PROGRAM}: listing cut: ${total - shown} more entries not shown`)
    : Effect.void

const inquire = (server: ServerAddress, what: "list" | "stats", asJson: boolean, isQuiet: boolean) =>
  what === "list"
    ? Effect.flatMap(list(server), ({ entries, total }) =>
      Effect.zipRight(printListing(entries, asJson), reportCut(entries.length, total, isQuiet)))
    : Effect.flatMap(stats(server), (values) =>
      printStats(values, asJson))

const exitCodesHelp = Object.values(EXIT_CODES).map(([code, meaning]) => `  ${code}  ${meaning}`).join("\n")

const saveFile = (
  server: ServerAddress,
  name: string,
  directory: string,
  isQuiet: boolean,
  digest: Option.Option<Digest>
) =>
  download({
    server,
    name,
    directory,
    progress: !isQuiet,
    digests: Option.match(digest, { onNone: () => DIGEST_NAMES, onSome: (only) => [only] })
  }).pipe(
    Effect.tap((saved) =>
      isQuiet ? Effect.void : Console.error(`saved ${printable(saved.path)} (${formatBytes(saved.size)})`)
    )
  )

const usage = (message: string) => exitWith(PROGRAM, EXIT_CODES.usage[0], message)

export const command = Command.make(
  PROGRAM,
  { host, port, name, directory, quiet, json, timeout, digest },
  (args) => {
    const server = { host: args.host, port: args.port, timeout: args.timeout }
    const failed = (error: ClientFailure) => clientFailure(PROGRAM, server, args.name, error)
    if (Option.isNone(args.directory)) {
      return args.name === "list" || args.name === "stats"
        ? Effect.catchAll(inquire(server, args.name, args.json, args.quiet), failed)
        : usage("missing DEST_DIR: the directory to save the file into")
    }
    if (!isAcceptableName(args.name)) {
      return usage(`not a valid file name: ${printable(args.name)} (a relative path, without '.' or '..' segments)`)
    }
    return Effect.catchAll(saveFile(server, args.name, args.directory.value, args.quiet, args.digest), failed)
  }
).pipe(Command.withDescription(HelpDoc.blocks([
  HelpDoc.p("Downloads a file from a ferry server, lists the files in its cache, or shows its statistics."),
  HelpDoc.p("Examples:"),
  HelpDoc.p("  ferry-client localhost 9098 image.jpg .          save image.jpg into the current directory"),
  HelpDoc.p("  ferry-client localhost 9098 docs/a.txt /tmp -q   save docs/a.txt as /tmp/a.txt, quietly"),
  HelpDoc.p("  ferry-client localhost 9098 a.iso . --digest sha256   check the download with SHA-256"),
  HelpDoc.p("  ferry-client localhost 9098 list                 list the server's cached files"),
  HelpDoc.p("  ferry-client localhost 9098 list --json          the same, as JSON"),
  HelpDoc.p("  ferry-client localhost 9098 stats                the server's counters: hits, misses, bytes..."),
  HelpDoc.p(`Exit codes:\n${exitCodesHelp}`)
])))
