/**
 * `ferry-server token create`: the server's subcommand that makes an access token. The server's own
 * command takes HOST PORT DIR, which @effect/cli would read `token` into, so the entry point picks
 * this command when the first word is `token`.
 */
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { createToken } from "../programs/tokens/createToken.js"
import { formatInstant, labelProblem, parseExpiry, parsePrefix } from "../tokens/tokensFile.js"
import { exitWith } from "./ExitCode.js"
import { EXIT_CODES } from "./server.js"

const PROGRAM = "ferry-server"

const label = Options.text("label").pipe(
  Options.withDescription("The token's name in the request log (token=LABEL): 1 to 64 letters, digits, . _ -.")
)
const prefix = Options.text("prefix").pipe(
  Options.repeated,
  Options.withDescription(
    "A name the token may read: a file, or a directory and everything under it (docs, docs/public, a.txt); " +
      "'*' for everything. Repeat for several. At least one."
  )
)
const expires = Options.text("expires").pipe(
  Options.optional,
  Options.withDescription(
    "When the token stops working: a time from now (90m, 12h, 30d, 2w) or an ISO date or date-time with its " +
      "zone (2027-01-01, 2027-01-01T12:00:00Z). Default: never."
  )
)
const admin = Options.boolean("admin").pipe(
  Options.withDescription("The token may also ask for the server's statistics (stats) and cache listing (list).")
)
const file = Options.text("file").pipe(
  Options.withFallbackConfig(Config.string("FERRY_TOKENS")),
  Options.withDescription(
    "The tokens file to append to (the server's --tokens FILE), created with mode 0600. Env: FERRY_TOKENS."
  )
)

const usage = (message: string) =>
  exitWith(PROGRAM, EXIT_CODES.usage[0], `${message}: see ${PROGRAM} token create --help`)

const create = Command.make(
  "create",
  { label, prefix, expires, admin, file },
  (args) =>
    Effect.gen(function*() {
      const badLabel = labelProblem(args.label)
      if (badLabel !== undefined) return yield* usage(`--label: ${badLabel}`)
      if (args.prefix.length === 0) return yield* usage("--prefix is needed: a name it may read, or '*' for all")
      const all = args.prefix.includes("*")
      if (all && args.prefix.length > 1) return yield* usage("--prefix '*' (everything) goes alone")
      const prefixes = all ? [] : args.prefix.map(parsePrefix)
      const wrong = prefixes.find(Either.isLeft)
      if (wrong !== undefined) return yield* usage(`--prefix: ${wrong.left}`)
      const now = yield* Clock.currentTimeMillis
      const expiresAt = Option.map(args.expires, (text) => parseExpiry(text, now))
      if (Option.exists(expiresAt, Option.isNone)) {
        return yield* usage(`--expires: "${Option.getOrThrow(args.expires)}" is not 30d, 12h, 90m, 2w or an ISO date`)
      }
      const at = Option.flatten(expiresAt)
      if (Option.exists(at, (at) => at <= now)) return yield* usage("--expires: that is not in the future")

      const { created, token } = yield* createToken(args.file, {
        label: args.label,
        prefixes: all ? "all" : prefixes.map((prefix) => Either.getOrThrow(prefix)),
        expiresAt: at,
        admin: args.admin
      }).pipe(Effect.catchTags({
        LabelTaken: (error) => usage(error.message),
        TokensError: (error) => exitWith(PROGRAM, EXIT_CODES.tokens[0], error.message)
      }))
      // The token on stdout, alone, for a script to take; what became of it on stderr.
      yield* Console.log(token)
      const reads = all ? "everything" : args.prefix.join(", ")
      const until = Option.match(at, { onNone: () => "", onSome: (at) => `, until ${formatInstant(at)}` })
      yield* Console.error(
        `${PROGRAM}: token ${args.label} (reads ${reads}${args.admin ? ", admin" : ""}${until}) ` +
          `${created ? "written to new file" : "added to"} ${args.file}; it is shown only this once. ` +
          "A running server takes it on SIGHUP."
      )
    })
).pipe(Command.withDescription(HelpDoc.blocks([
  HelpDoc.p(
    "Makes a new access token, prints it once on stdout, and appends its SHA-256 (never the token) to the " +
      "tokens file with what it may do."
  ),
  HelpDoc.p("Examples:"),
  HelpDoc.p("  ferry-server token create --label ci --prefix releases --expires 30d --file /etc/ferry/tokens"),
  HelpDoc.p("  ferry-server token create --label ops --prefix '*' --admin --file /etc/ferry/tokens"),
  HelpDoc.p(
    `Exit codes: 0 made; ${EXIT_CODES.usage[0]} invalid arguments (the label is taken, say); ` +
      `${EXIT_CODES.tokens[0]} the tokens file is unreadable, unsafe (group or others may read or write it), ` +
      "or malformed."
  )
])))

/** `ferry-server token create ...`: the server's program name, then the subcommands. */
export const command = Command.make(PROGRAM).pipe(
  Command.withSubcommands([
    Command.make("token").pipe(
      Command.withDescription("Manages the access tokens of a tokens file (--tokens)."),
      Command.withSubcommands([create])
    )
  ])
)
