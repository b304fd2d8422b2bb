/**
 * The soak: the built server under a steady mix of clients for a while, every file received checked
 * against its source, its memory sampled each second, and at the end nothing left held, a clean
 * exit on SIGTERM, and no unexpected error anywhere.
 */
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as fsp from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { exitWith } from "../../src/cli/ExitCode.js"
import { formatBytes } from "../../src/format/ByteSize.js"
import * as NodeSocketClient from "../../src/layers/NodeSocketClient.js"
import * as Corpus from "./Corpus.js"
import * as Options from "./Options.js"
import * as Report from "./Report.js"
import { drawScenario, type ScenarioContext, Unexpected } from "./Scenarios.js"
import * as ServerLog from "./ServerLog.js"
import * as ServerProcess from "./ServerProcess.js"
import { makePersistent } from "./Session.js"
import * as Tally from "./Tally.js"

const PROGRAM = "ferry-soak"
// dist/bench/soak.js, next to dist/bin/server.js.
const SERVER_BIN = fileURLToPath(new URL("../bin/server.js", import.meta.url))

const SLICE_SIZE = "4MiB"
const STALL_TIMEOUT = "2 seconds"
const REQUEST_TIMEOUT = "5 seconds"
/** A worker does not reuse a connection idle for this long: the server closes it at REQUEST_TIMEOUT. */
const PERSISTENT_MAX_IDLE = Duration.seconds(3)
const SMALL_FILES = 300
/** No scenario may take longer: a server that stops answering shows as an error, not a hung soak. */
const SCENARIO_BOUND = Duration.minutes(2)

const tempDir = Effect.acquireRelease(
  Effect.promise(() => fsp.mkdtemp(path.join(os.tmpdir(), "ferry-soak-"))),
  (dir) => Effect.promise(() => fsp.rm(dir, { recursive: true, force: true }))
)

const soak = (options: { readonly duration: Duration.Duration; readonly connections: number; readonly port: number }) =>
  Effect.gen(function*() {
    const dir = yield* tempDir
    const filesDir = path.join(dir, "files")
    yield* Console.error(`${PROGRAM}: writing test files under ${dir}`)
    const corpus = yield* Corpus.create(filesDir, SMALL_FILES)
    const files = Corpus.all(corpus)
    const known = new Map(files.map((file) => [file.name, file]))

    const server = yield* ServerProcess.start({
      bin: SERVER_BIN,
      dir: filesDir,
      port: options.port,
      logFile: path.join(dir, "server.log"),
      args: [
        "--cache-size",
        Corpus.CACHE_SIZE,
        "--stall-timeout",
        STALL_TIMEOUT,
        "--request-timeout",
        REQUEST_TIMEOUT,
        // Slices are off by default; the soak's herds on the oversized file are what they are for.
        "--slice-size",
        SLICE_SIZE
      ]
    })
    yield* Console.error(
      `${PROGRAM}: server pid ${server.pid} on ${ServerProcess.HOST}:${server.port}; ` +
        `${options.connections} workers for ${Duration.format(options.duration)}`
    )

    const tally = yield* Tally.make
    const context: ScenarioContext = {
      host: ServerProcess.HOST,
      port: server.port,
      corpus,
      known,
      tally,
      stallTimeout: Duration.decode(STALL_TIMEOUT)
    }
    const started = Date.now()
    const elapsed = () => (Date.now() - started) / 1000
    const samples: Array<Report.RssSample> = []
    const sampler = yield* server.rss.pipe(
      Effect.tap(Option.match({
        onNone: () => Effect.void,
        onSome: (bytes) => Effect.sync(() => samples.push({ at: elapsed(), bytes }))
      })),
      Effect.repeat(Schedule.spaced("1 second")),
      Effect.fork
    )
    const progress = yield* Effect.gen(function*() {
      const now = yield* tally.snapshot
      const rss = samples.at(-1)?.bytes ?? 0
      yield* Console.error(
        `${PROGRAM}: ${Math.round(elapsed())}s: ${now.requests} requests, ${now.filesVerified} files verified ` +
          `(${formatBytes(now.bytesVerified)}), ${now.unexpectedCount} unexpected, server RSS ${formatBytes(rss)}`
      )
    }).pipe(Effect.delay("10 seconds"), Effect.forever, Effect.fork)

    let stopping = false
    const worker = Effect.gen(function*() {
      const persistent = makePersistent(ServerProcess.HOST, server.port, PERSISTENT_MAX_IDLE)
      let previous = "none"
      while (!stopping) {
        const scenario = drawScenario()
        const startedAt = Date.now()
        const result = yield* Effect.scoped(scenario.run(persistent, context)).pipe(
          Effect.timeoutFail({
            duration: SCENARIO_BOUND,
            onTimeout: () =>
              new Unexpected({ cause: "hung", detail: `not done within ${Duration.format(SCENARIO_BOUND)}` })
          }),
          Effect.either
        )
        if (result._tag === "Right") {
          yield* tally.outcome(scenario.kind, result.right)
        } else {
          const error = result.left
          yield* tally.unexpected(
            scenario.kind,
            error._tag === "Unexpected" ? error.cause : error._tag,
            `${error.message} (the worker's previous scenario: ${previous})`
          )
          // Whatever state the connection is in, it is not to be trusted.
          yield* persistent.discard
        }
        previous = `${scenario.kind}, ${Date.now() - startedAt} ms`
      }
      yield* persistent.discard
    })

    const workers = yield* Effect.fork(
      Effect.forEach(Array.from({ length: options.connections }), () => worker, {
        concurrency: "unbounded",
        discard: true
      })
    )
    yield* Effect.sleep(options.duration)
    stopping = true
    yield* Console.error(`${PROGRAM}: time is up; waiting for the workers to finish what they are doing`)
    const finished = yield* Effect.timeoutOption(Fiber.join(workers), Duration.sum(SCENARIO_BOUND, "10 seconds"))
    if (Option.isNone(finished)) {
      yield* Fiber.interrupt(workers)
      yield* tally.unexpected("soak", "hung", "workers still running long after the end")
    }
    const runSeconds = elapsed()
    yield* Fiber.interrupt(sampler)
    yield* Fiber.interrupt(progress)

    // The connections just closed end on the server a moment later: wait (bounded) for the gauges to settle.
    const settled = (stats: Readonly<Record<string, number>>) =>
      stats.pinnedEntries === 0 && stats.locksHeld === 0 && stats.openFiles === 0 && stats.activeConnections === 1
    const finalStats = yield* Effect.gen(function*() {
      const deadline = Date.now() + 15_000
      while (true) {
        const stats = yield* server.stats
        if (settled(stats) || Date.now() > deadline) return stats
        yield* Effect.sleep("250 millis")
      }
    }).pipe(Effect.either)
    const exited = yield* Effect.either(server.stop("30 seconds"))
    const log = yield* ServerLog.scan(server.logFile)
    const result = yield* tally.snapshot

    const stats = finalStats._tag === "Right" ? finalStats.right : undefined
    const dropped = result.outcomes.get("stalled reader")?.get("dropped") ?? 0
    const rss = Report.rssSummary(samples)
    const checksList: Array<Report.Check> = [
      {
        what: "unexpected errors",
        ok: result.unexpectedCount === 0,
        detail: String(result.unexpectedCount)
      },
      {
        what: "files verified against their source",
        ok: result.filesVerified > 0,
        detail: `${result.filesVerified} (${Report.bytes(result.bytesVerified)}), every one identical`
      },
      {
        what: "left held at the end (pinnedEntries / locksHeld / openFiles / activeConnections)",
        ok: stats !== undefined && settled(stats),
        detail: stats === undefined
          ? `no statistics: ${finalStats._tag === "Left" ? finalStats.left.message : ""}`
          : `${stats.pinnedEntries} / ${stats.locksHeld} / ${stats.openFiles} / ${stats.activeConnections} ` +
            "(expected 0 / 0 / 0 / 1)"
      },
      {
        what: "stalled readers dropped by the server (stalls counted / dropped seen)",
        ok: stats !== undefined && stats.stalls === dropped,
        detail: `${stats?.stalls} / ${dropped}`
      },
      {
        what: "server exit after SIGTERM",
        ok: exited._tag === "Right" && exited.right.code === 0,
        detail: exited._tag === "Left"
          ? exited.left.message
          : `code ${exited.right.code}, signal ${exited.right.signal}, after ${exited.right.millis} ms`
      },
      {
        what: "errors in the server's log",
        ok: log.errors.length === 0,
        detail: String((log.byLevel.get("ERROR") ?? 0) + (log.byLevel.get("FATAL") ?? 0))
      }
    ]
    const passed = checksList.every((check) => check.ok)
    const bucketSeconds = Duration.toSeconds(options.duration) <= 180 ? 10 : 60
    const sizes = (list: ReadonlyArray<Corpus.SourceFile>) =>
      `${list.length} (${formatBytes(list.reduce((sum, file) => sum + file.size, 0))})`

    const lines = [
      "",
      `ferry soak: ${options.connections} connections for ${Duration.format(options.duration)} ` +
      `(ran ${runSeconds.toFixed(0)} s), server on ${ServerProcess.HOST}:${server.port}, ` +
      `--cache-size ${Corpus.CACHE_SIZE} --stall-timeout "${STALL_TIMEOUT}" ` +
      `--request-timeout "${REQUEST_TIMEOUT}" --slice-size ${SLICE_SIZE}`,
      `files: small ${sizes(corpus.small)}, medium ${sizes(corpus.medium)}, ` +
      `filling the cache ${sizes([corpus.fillsCache])}, over the cache ${sizes(corpus.oversized)}`,
      "",
      "requests by kind and outcome:",
      ...Report.outcomesTable(result),
      `  ${(result.requests / runSeconds).toFixed(0)} requests/s; ` +
      `${formatBytes(result.bytesVerified / runSeconds)}/s verified`,
      "",
      "time to the first bytes of an answer:",
      ...Report.latencies(result),
      "",
      `bytes verified: ${Report.bytes(result.bytesVerified)}; files verified: ${result.filesVerified}`,
      `unexpected errors: ${result.unexpectedCount}`,
      ...[...result.unexpectedByCause].sort(([, a], [, b]) => b - a).map(([cause, n]) =>
        `  ${String(n).padStart(6)}  ${cause}`
      ),
      ...(result.unexpected.length === 0 ? [] : ["the first ones:"]),
      ...result.unexpected.map((error) => `  - ${error}`),
      "",
      `server RSS: min ${formatBytes(rss.min)}, median ${formatBytes(rss.median)}, peak ${formatBytes(rss.peak)} ` +
      `(${samples.length} samples, one a second)`,
      `server RSS over time (${bucketSeconds} s buckets):`,
      ...Report.rssOverTime(samples, bucketSeconds),
      "",
      "server statistics at the end:",
      stats === undefined
        ? "  (unavailable)"
        : "  " + Object.entries(stats).map(([name, value]) => `${name} ${value}`).join(", "),
      "",
      `server log: ${log.lines} lines (${[...log.byLevel].map(([level, n]) => `${level} ${n}`).join(", ")})`,
      ...[...log.warnings].sort(([, a], [, b]) => b - a).slice(0, 8).map(([message, n]) =>
        `  WARN ${String(n).padStart(6)}  ${message}`
      ),
      ...log.errors.map((line) => `  ${line}`),
      "",
      "checks:",
      ...Report.checks(checksList),
      "",
      passed ? "PASS" : "FAIL"
    ]
    yield* Console.log(lines.join("\n"))
    if (!passed) return yield* exitWith(PROGRAM, 1, "some checks failed (see above)")
  }).pipe(
    Effect.scoped,
    Effect.provide(NodeSocketClient.layer),
    Effect.catchTags({
      ServerFailed: (error) => exitWith(PROGRAM, 1, error.message)
    })
  )

export const command = Command.make(
  PROGRAM,
  { duration: Options.duration, connections: Options.connections, port: Options.port },
  soak
).pipe(
  Command.withDescription(HelpDoc.blocks([
    HelpDoc.p(
      "Runs the built server (dist/bin/server.js) under a mix of clients for a while, and checks that every file " +
        "arrives intact, memory stays flat, nothing is left held, and it stops cleanly."
    ),
    HelpDoc.p("Example: npm run soak -- --duration 10m --connections 200")
  ]))
)
