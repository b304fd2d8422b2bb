/**
 * The client's command line: what each command does with the servers given, and the translation
 * of every failure into one line on stderr and an exit code of its own. The arguments and options
 * are clientOptions.ts's; the ring form (`--servers`) is clientRing.ts's.
 */
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as nodePath from "node:path"
import { formatBytes } from "../format/ByteSize.js"
import { printable } from "../format/Printable.js"
import { download, localName } from "../programs/client/download.js"
import type { ServerAddress } from "../programs/client/exchange.js"
import { describeSaved, getMany } from "../programs/client/getMany.js"
import { list, ls, stat, stats } from "../programs/client/inquire.js"
import * as Nodes from "../programs/client/Nodes.js"
import { isKept } from "../programs/client/Partial.js"
import { type Digest, DIGEST_NAMES } from "../protocol/Digest.js"
import { isAcceptableName } from "../services/FileName.js"
import type { SocketClient } from "../services/SocketClient.js"
import { type ClientFailure, clientFailure, describeFailure, EXIT_CODES, type Target } from "./clientFailure.js"
import { commonOptions, host, port } from "./clientOptions.js"
import { printFacts, printListing, printStats, printTreeEntries, treeJson } from "./clientOutput.js"
import { ExitCode, exitWith } from "./ExitCode.js"
import { describedTls } from "./tlsOptions.js"

export const PROGRAM = "ferry-client"

const reportCut = (shown: number, total: number, isQuiet: boolean) =>
  total > shown && !isQuiet
    ? Console.error(`${PROGRAM}: listing cut: ${total - shown} more entries not shown`)
    : Effect.void

export const exitCodesHelp = Object.values(EXIT_CODES).map(([code, meaning]) => `  ${code}  ${meaning}`).join("\n")

export const usage = (message: string) => exitWith(PROGRAM, EXIT_CODES.usage[0], `${message}: see ${PROGRAM} --help`)

export interface Parsed {
  readonly server: ServerAddress
  /** The server, or on a ring (`--servers`) all of them. */
  readonly nodes: Nodes.Nodes
  /** Whether the servers were given as a ring (`--servers`): then list and stats ask each. */
  readonly ring: boolean
  /** The server as failures about `name` describe it: on a ring, the node it was asked of last. */
  readonly target: (name: string) => Target
  readonly quiet: boolean
  readonly json: boolean
  readonly recursive: boolean
  readonly digests: ReadonlyArray<Digest>
  readonly resume: boolean
  readonly retries: number
}

const notAName = (name: string) =>
  `not a valid file name: ${printable(name)} (a relative path, without '.' or '..' segments)`

export const notifier = (quiet: boolean) => (line: string) => quiet ? Effect.void : Console.error(line)

const listTree = (parsed: Parsed, path: string) => {
  const request = { path, recursive: parsed.recursive }
  if (!parsed.json) return Nodes.onNode(parsed.nodes, path, (server) => ls(server, request, printTreeEntries))
  const document = treeJson()
  return Effect.zipRight(
    document.start,
    Nodes.onNode(parsed.nodes, path, (server) => ls(server, request, document.entries))
  )
    .pipe(
      Effect.zipRight(document.end)
    )
}

const saveOne = (parsed: Parsed, name: string, directory: string) =>
  download({
    server: parsed.nodes,
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
      server: parsed.nodes,
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
        (kept) => ({ name, ...describeFailure(parsed.target(name), name, error, kept) })
      ))
    for (const { message, name } of described) yield* Console.error(`${PROGRAM}: ${printable(name)}: ${message}`)
    if (!parsed.quiet || described.length > 0) {
      yield* Console.error(`${describeSaved(outcome)} into ${printable(directory)}`)
    }
    if (described.length > 0) return yield* Effect.fail(new ExitCode({ code: described[0]!.code }))
  })

type CommonArgs = Command.Command.ParseConfig<typeof commonOptions>

/** What the handler needs from the parsed options, for `servers` (one, or a ring). */
export const parsedOf = (
  args: CommonArgs,
  servers: ReadonlyArray<{ readonly host: string; readonly port: number }>,
  ring: boolean
): Parsed => {
  const address = (server: { readonly host: string; readonly port: number }): ServerAddress => ({
    host: server.host,
    port: server.port,
    timeout: args.timeout,
    ...Option.match(args.token, { onNone: () => ({}), onSome: (token) => ({ token }) })
  })
  const nodes = Nodes.make(servers.map(address), { notify: notifier(args.quiet) })
  const targetOf = (server: ServerAddress): Target => ({
    host: server.host,
    port: server.port,
    ...describedTls(args.tls)
  })
  return {
    server: nodes.servers[0]!,
    nodes,
    ring,
    target: (name) => targetOf(nodes.lastPicked(name)),
    quiet: args.quiet,
    json: args.json,
    recursive: args.recursive,
    digests: Option.match(args.digest, { onNone: () => DIGEST_NAMES, onSome: (only) => [only] }),
    resume: !args.noResume,
    retries: args.retries
  }
}

/** Every command, once the servers are known. `list` and `stats` on a ring are `inquireAll`'s. */
export const handle = (
  parsed: Parsed,
  args: CommonArgs,
  inquireAll?: (parsed: Parsed, what: "list" | "stats") => Effect.Effect<void, ExitCode, SocketClient>
) => {
  // @effect/cli passes an option it does not know through as an argument: a typo, not a name.
  const unknown = args.words.find((word) => /^--?[A-Za-z]/.test(word))
  if (unknown !== undefined) return usage(`unknown option ${printable(unknown)}`)
  const [first, ...rest] = args.words
  const failed = (name: string) => (error: ClientFailure) => clientFailure(PROGRAM, parsed.target(name), name, error)
  switch (first) {
    case "list":
    case "stats":
      if (rest.length > 0) return usage(`${first} takes no NAME or DEST_DIR`)
      if (inquireAll !== undefined) return inquireAll(parsed, first)
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
      return Effect.flatMap(
        Nodes.onNode(parsed.nodes, name, (server) => stat(server, name, parsed.digests)),
        (facts) => printFacts(name, facts, args.json)
      ).pipe(Effect.catchAll(failed(name)))
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
        (kept) => clientFailure(PROGRAM, parsed.target(name), name, error, kept)
      ))
  }
  return Effect.catchAll(
    saveMany(parsed, names, directory),
    (error) => error instanceof ExitCode ? Effect.fail(error) : failed(names.join(" "))(error)
  )
}

export const command = Command.make(
  PROGRAM,
  { host, port, ...commonOptions },
  (args) => handle(parsedOf(args, [{ host: args.host, port: args.port }], false), args)
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
  HelpDoc.p(
    "A ring of servers instead of one: --servers HOST:PORT,HOST:PORT,... (or FERRY_SERVERS) in place of HOST PORT, " +
      "each name fetched from its own server (ferry-client --help --servers x:1 tells more)."
  ),
  HelpDoc.p(`Exit codes:\n${exitCodesHelp}`)
])))
