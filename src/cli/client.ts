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
import * as Redacted from "effect/Redacted"
import * as nodePath from "node:path"
import { formatBytes } from "../format/ByteSize.js"
import { printable } from "../format/Printable.js"
import { download, localName } from "../programs/client/download.js"
import { DEFAULT_TIMEOUT, type ServerAddress } from "../programs/client/exchange.js"
import { describeSaved, getMany } from "../programs/client/getMany.js"
import { list, ls, stat, stats } from "../programs/client/inquire.js"
import { isKept } from "../programs/client/Partial.js"
import { DEFAULT_RETRIES } from "../programs/client/retry.js"
import { MAX_TOKEN_BYTES } from "../protocol/Codec.js"
import { type Digest, DIGEST_NAMES } from "../protocol/Digest.js"
import { isAcceptableName } from "../services/FileName.js"
import { type ClientFailure, clientFailure, describeFailure, EXIT_CODES, type Target } from "./clientFailure.js"
import { printFacts, printListing, printStats, printTreeEntries, treeJson } from "./clientOutput.js"
import { ExitCode, exitWith } from "./ExitCode.js"
import { clientTls, describedTls } from "./tlsOptions.js"

const PROGRAM = "ferry-client"

const host = Args.text({ name: "host" }).pipe(Args.withDescription("The server's host name or address."))
const port = Args.integer({ name: "port" }).pipe(
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

const reportCut = (shown: number, total: number, isQuiet: boolean) =>
  total > shown && !isQuiet
    ? Console.error(`${PROGRAM}: listing cut: ${total - shown} more entries not shown`)
    : Effect.void

const exitCodesHelp = Object.values(EXIT_CODES).map(([code, meaning]) => `  ${code}  ${meaning}`).join("\n")

const usage = (message: string) => exitWith(PROGRAM, EXIT_CODES.usage[0], `${message}: see ${PROGRAM} --help`)

interface Parsed {
  readonly server: ServerAddress
  /** The server as failures describe it. */
  readonly target: Target
  readonly quiet: boolean
  readonly json: boolean
  readonly recursive: boolean
  readonly digests: ReadonlyArray<Digest>
  readonly resume: boolean
  readonly retries: number
}

const notAName = (name: string) =>
  `not a valid file name: ${printable(name)} (a relative path, without '.' or '..' segments)`

const notifier = (quiet: boolean) => (line: string) => quiet ? Effect.void : Console.error(line)

const listTree = (parsed: Parsed, path: string) => {
  if (!parsed.json) return ls(parsed.server, { path, recursive: parsed.recursive }, printTreeEntries)
  const document = treeJson()
  return Effect.zipRight(document.start, ls(parsed.server, { path, recursive: parsed.recursive }, document.entries))
    .pipe(
      Effect.zipRight(document.end)
    )
}

const saveOne = (parsed: Parsed, name: string, directory: string) =>
  download({
    server: parsed.server,
    name,
    directory,
    progress: !parsed.quiet,
    digests: parsed.digests,
    resume: parsed.resume,
    retries: parsed.retries,
    notify: notifier(parsed.quiet)
  }).pipe(
    Effect.tap((saved) =>
      parsed.quiet ? Effect.void : Console.error(`saved ${printable(saved.path)} (${formatBytes(saved.size)})`)
    )
  )

/** Several names, or a directory: every failure on its own line, then the summary; exit as the first failure. */
const saveMany = (parsed: Parsed, names: ReadonlyArray<string>, directory: string) =>
  Effect.gen(function*() {
    const outcome = yield* getMany({
      server: parsed.server,
      names,
      directory,
      progress: !parsed.quiet,
      digests: parsed.digests,
      resume: parsed.resume,
      retries: parsed.retries,
      notify: notifier(parsed.quiet)
    })
    const described = yield* Effect.forEach(outcome.failed, ({ error, name, saveAs }) =>
      Effect.map(
        saveAs === undefined
          ? Effect.succeed(false)
          : isKept(nodePath.dirname(nodePath.join(directory, saveAs)), nodePath.basename(saveAs)),
        (kept) => ({ name, ...describeFailure(parsed.target, name, error, kept) })
      ))
    for (const { message, name } of described) yield* Console.error(`${PROGRAM}: ${printable(name)}: ${message}`)
    if (!parsed.quiet || described.length > 0) {
      yield* Console.error(`${describeSaved(outcome)} into ${printable(directory)}`)
    }
    if (described.length > 0) return yield* Effect.fail(new ExitCode({ code: described[0]!.code }))
  })

export const command = Command.make(
  PROGRAM,
  { host, port, words, quiet, json, recursive, timeout, digest, retries, noResume, tls: clientTls, token },
  (args) => {
    const parsed: Parsed = {
      server: {
        host: args.host,
        port: args.port,
        timeout: args.timeout,
        ...Option.match(args.token, { onNone: () => ({}), onSome: (token) => ({ token }) })
      },
      target: { host: args.host, port: args.port, ...describedTls(args.tls) },
      quiet: args.quiet,
      json: args.json,
      recursive: args.recursive,
      digests: Option.match(args.digest, { onNone: () => DIGEST_NAMES, onSome: (only) => [only] }),
      resume: !args.noResume,
      retries: args.retries
    }
    // @effect/cli passes an option it does not know through as an argument: a typo, not a name.
    const unknown = args.words.find((word) => /^--?[A-Za-z]/.test(word))
    if (unknown !== undefined) return usage(`unknown option ${printable(unknown)}`)
    const [first, ...rest] = args.words
    const failed = (name: string) => (error: ClientFailure) => clientFailure(PROGRAM, parsed.target, name, error)
    switch (first) {
      case "list":
      case "stats":
        if (rest.length > 0) return usage(`${first} takes no NAME or DEST_DIR`)
        return first === "list"
          ? Effect.flatMap(
            list(parsed.server),
            ({ entries, total }) =>
              Effect.zipRight(printListing(entries, args.json), reportCut(entries.length, total, args.quiet))
          ).pipe(
            Effect.catchAll(failed(first))
          )
          : Effect.flatMap(stats(parsed.server), (values) => printStats(values, args.json)).pipe(
            Effect.catchAll(failed(first))
          )
      case "ls": {
        if (rest.length > 1) return usage("ls takes one PATH at most")
        const path = (rest[0] ?? "").replace(/^\/+/, "")
        if (path !== "" && !isAcceptableName(path.replace(/\/+$/, ""))) return usage(notAName(path))
        return Effect.catchAll(listTree(parsed, path), failed(path === "" ? "/" : path))
      }
      case "stat": {
        if (rest.length !== 1) return usage("stat takes exactly one NAME")
        const name = rest[0]!
        if (!isAcceptableName(name)) return usage(notAName(name))
        return Effect.flatMap(stat(parsed.server, name, parsed.digests), (facts) => printFacts(name, facts, args.json))
          .pipe(Effect.catchAll(failed(name)))
      }
    }
    if (rest.length === 0) return usage("missing DEST_DIR: the directory to save into")
    const names = args.words.slice(0, -1)
    const directory = args.words[args.words.length - 1]!
    const invalid = names.find((name) => name !== "/" && !isAcceptableName(name.replace(/\/+$/, "")))
    if (invalid !== undefined) return usage(notAName(invalid))
    if (names.length === 1 && !names[0]!.endsWith("/")) {
      const name = names[0]!
      return Effect.catchAll(saveOne(parsed, name, directory), (error) =>
        Effect.flatMap(
          isKept(directory, localName(name)),
          (kept) => clientFailure(PROGRAM, parsed.target, name, error, kept)
        ))
    }
    return Effect.catchAll(
      saveMany(parsed, names, directory),
      (error) => error instanceof ExitCode ? Effect.fail(error) : failed(names.join(" "))(error)
    )
  }
).pipe(Command.withDescription(HelpDoc.blocks([
  HelpDoc.p(
    "Downloads files or whole directories from a ferry server (verified, resumed after an interruption), " +
      "lists what it serves or holds in its cache, or shows a file's digest or the server's statistics."
  ),
  HelpDoc.p("Examples:"),
  HelpDoc.p("  ferry-client localhost 9098 image.jpg .             save image.jpg into the current directory"),
  HelpDoc.p("  ferry-client localhost 9098 docs/a.txt /tmp -q      save docs/a.txt as /tmp/a.txt, quietly"),
  HelpDoc.p("  ferry-client localhost 9098 a.iso . --digest sha256  check the download with SHA-256"),
  HelpDoc.p("  ferry-client localhost 9098 docs/ ~/dl              save every file under docs/ as ~/dl/docs/..."),
  HelpDoc.p("  ferry-client localhost 9098 a.txt b/ c.bin /tmp     several names at once"),
  HelpDoc.p("  ferry-client localhost 9098 ls docs -r              the files and folders under docs/"),
  HelpDoc.p("  ferry-client localhost 9098 stat a.iso --json       size, time and digest of a.iso"),
  HelpDoc.p("  ferry-client localhost 9098 list                    list the server's cached files"),
  HelpDoc.p(
    "An interrupted download keeps what arrived in a hidden .NAME.ferry-partial file beside the destination; " +
      "running the same command again resumes it (--no-resume starts over)."
  ),
  HelpDoc.p("  ferry-client localhost 9098 list --json             the same, as JSON"),
  HelpDoc.p("  ferry-client localhost 9098 stats                   the server's counters: hits, misses, bytes..."),
  HelpDoc.p("  ferry-client example.org 9098 a.iso . --tls         over TLS, the server's certificate checked"),
  HelpDoc.p("  FERRY_TOKEN=fy_... ferry-client localhost 9098 a.txt .  with an access token (server --tokens)"),
  HelpDoc.p(`Exit codes:\n${exitCodesHelp}`)
])))
