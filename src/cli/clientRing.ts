/**
 * `ferry-client --servers HOST:PORT,HOST:PORT,... ...`: the same commands over a ring of servers
 * (src/programs/client/Nodes.ts), each name fetched from its own node; `list` and `stats` ask every
 * node and print each node's answer, then the total.
 */
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { formatBytes } from "../format/ByteSize.js"
import { printableJson } from "../format/Printable.js"
import type { ServerAddress } from "../programs/client/exchange.js"
import { list, stats } from "../programs/client/inquire.js"
import * as Nodes from "../programs/client/Nodes.js"
import { sumFigures } from "../programs/server/allWorkers.js"
import type * as Codec from "../protocol/Codec.js"
import { exitCodesHelp, handle, type Parsed, parsedOf, PROGRAM } from "./client.js"
import { type ClientFailure, describeFailure } from "./clientFailure.js"
import { commonOptions } from "./clientOptions.js"
import { printListing, printStats } from "./clientOutput.js"
import { ExitCode } from "./ExitCode.js"

export interface Endpoint {
  readonly host: string
  readonly port: number
}

/** `HOST:PORT,HOST:PORT,...` (an IPv6 address in brackets, `[::1]:9098`), each once. */
export const parseServers = (text: string): Either.Either<ReadonlyArray<Endpoint>, string> => {
  const servers: Array<Endpoint> = []
  for (const item of text.split(",").map((part) => part.trim()).filter((part) => part !== "")) {
    const colon = item.lastIndexOf(":")
    const host = item.slice(0, Math.max(colon, 0)).replace(/^\[(.*)\]$/, "$1")
    const port = Number(item.slice(colon + 1))
    if (colon <= 0 || host === "" || !/^\d+$/.test(item.slice(colon + 1)) || port < 1 || port > 65535) {
      return Either.left(`--servers: "${item}" is not HOST:PORT with a port from 1 to 65535`)
    }
    if (!servers.some((known) => known.host === host && known.port === port)) servers.push({ host, port })
  }
  return servers.length === 0 ? Either.left("--servers needs at least one HOST:PORT") : Either.right(servers)
}

const servers = Options.text("servers").pipe(
  Options.withFallbackConfig(Config.string("FERRY_SERVERS")),
  Options.withDescription(
    "The ring of servers, HOST:PORT,HOST:PORT,..., in place of HOST PORT: each name is fetched from the one " +
      "rendezvous hashing gives it, a server that refuses or drops the connection is left out for " +
      `${Duration.format(Nodes.DOWN_FOR)} while its names go to their next server. Env: FERRY_SERVERS.`
  ),
  Options.mapEffect((text) =>
    Either.match(parseServers(text), {
      onLeft: (message) => Effect.fail(ValidationError.invalidValue(HelpDoc.p(message))),
      onRight: Effect.succeed
    })
  )
)

/** Whether this command line is the ring form: `--servers` given, or FERRY_SERVERS set. */
export const wantsRing = (argv: ReadonlyArray<string>, env: NodeJS.ProcessEnv): boolean =>
  argv.some((arg) => arg === "--servers" || arg.startsWith("--servers=")) || (env.FERRY_SERVERS ?? "") !== ""

const sum = (values: ReadonlyArray<number>) => values.reduce((total, value) => total + value, 0)

/** `ask` of every node at once: the answers of those that answered, and a failure line for each other. */
const askAll = <A, R>(
  parsed: Parsed,
  what: string,
  ask: (server: ServerAddress) => Effect.Effect<A, ClientFailure, R>
) =>
  Effect.map(
    Effect.forEach(parsed.nodes.servers, (server) => Effect.either(ask(server)), { concurrency: "unbounded" }),
    (answers) => ({
      up: answers.flatMap((answer, i) =>
        Either.isRight(answer) ? [{ node: Nodes.key(parsed.nodes.servers[i]!), answer: answer.right }] : []
      ),
      failures: answers.flatMap((answer, i) => {
        const server = parsed.nodes.servers[i]!
        return Either.isLeft(answer)
          ? [{
            node: Nodes.key(server),
            ...describeFailure({ host: server.host, port: server.port }, what, answer.left)
          }]
          : []
      }),
      of: `${answers.filter(Either.isRight).length} of ${answers.length} nodes`
    })
  )

/** Each node that failed, on stderr; then the exit code of the first. */
const reportFailures = (
  failures: ReadonlyArray<{ readonly node: string; readonly message: string; readonly code: number }>
) =>
  Effect.gen(function*() {
    for (const { message, node } of failures) yield* Console.error(`${PROGRAM}: ${node}: ${message}`)
    if (failures.length > 0) return yield* Effect.fail(new ExitCode({ code: failures[0]!.code }))
  })

const listAll = (parsed: Parsed) =>
  Effect.gen(function*() {
    const { failures, of, up } = yield* askAll(parsed, "list", list)
    const bytesOf = (entries: ReadonlyArray<Codec.ListingEntry>) => sum(entries.map((entry) => entry.size))
    const files = sum(up.map(({ answer }) => answer.total))
    const bytes = sum(up.map(({ answer }) => bytesOf(answer.entries)))
    if (parsed.json) {
      yield* Console.log(printableJson({
        nodes: up.map(({ answer, node }) => ({ server: node, entries: answer.entries, total: answer.total })),
        total: { files, bytes, nodes: up.length, of: parsed.nodes.servers.length }
      }))
    } else {
      for (const { answer, node } of up) {
        const shown = answer.entries.length < answer.total ? ` (${answer.entries.length} shown)` : ""
        yield* Console.log(`== ${node}: ${answer.total} files${shown}, ${formatBytes(bytesOf(answer.entries))}`)
        yield* printListing(answer.entries, false)
      }
      yield* Console.log(`== total: ${files} files, ${formatBytes(bytes)} on ${of}`)
    }
    yield* reportFailures(failures)
  })

const statsAll = (parsed: Parsed) =>
  Effect.gen(function*() {
    const { failures, of, up } = yield* askAll(parsed, "stats", stats)
    const total = sumFigures(up.map(({ answer }) => answer))
    if (parsed.json) {
      yield* Console.log(
        printableJson({ nodes: Object.fromEntries(up.map(({ answer, node }) => [node, answer])), total })
      )
    } else {
      for (const { answer, node } of up) {
        yield* Console.log(`== ${node}`)
        yield* printStats(answer, false)
      }
      yield* Console.log(`== total, ${of}`)
      yield* printStats(total, false)
    }
    yield* reportFailures(failures)
  })

export const ringCommand = Command.make(
  PROGRAM,
  { servers, ...commonOptions },
  (args) =>
    handle(
      parsedOf(args, args.servers, true),
      args,
      (parsed, what) => what === "list" ? listAll(parsed) : statsAll(parsed)
    )
).pipe(Command.withDescription(HelpDoc.blocks([
  HelpDoc.p(
    "Downloads files or whole directories from a ring of ferry servers, each name from its own server " +
      "(rendezvous hashing: the same server for the same name in every client), and asks every server for " +
      "what it holds and its statistics."
  ),
  HelpDoc.p("Examples:"),
  HelpDoc.p("  ferry-client --servers a:9098,b:9098,c:9098 img/ ~/dl    every file under img/, each from its server"),
  HelpDoc.p("  FERRY_SERVERS=a:9098,b:9098 ferry-client x.iso y.iso .   the servers from the environment"),
  HelpDoc.p("  ferry-client --servers a:9098,b:9098 stats               each server's counters, then the total"),
  HelpDoc.p("  ferry-client --servers a:9098,b:9098 list --json         each server's cached files, as JSON"),
  HelpDoc.p(
    "A server that refuses or drops a connection is left out for 30 seconds: its names go to their next server " +
      "on the ring (resuming what arrived), and return to it afterwards. Retries, resume, tokens and TLS are " +
      "as with one server."
  ),
  HelpDoc.p(`Exit codes:\n${exitCodesHelp}`)
])))
