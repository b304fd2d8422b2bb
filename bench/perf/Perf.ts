/**
 * `npm run bench`: ferry against baselines from Debian's packages, each scenario in turn on loopback
 * (see the scenario files), one markdown table on stdout, progress on stderr. Exits 0 whether or not
 * the goals are met; 1 if a scenario could not be measured.
 */
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as fsp from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { exitWith } from "../../src/cli/ExitCode.js"
import * as NodeSocketClient from "../../src/layers/NodeSocketClient.js"
import { cachedLarge } from "./CachedLarge.js"
import { cachedWholeClient } from "./CachedWholeClient.js"
import { herd } from "./Herd.js"
import { largeHerd } from "./LargeHerd.js"
import { memory } from "./Memory.js"
import { cachedLargeOverHttp, smallFilesOverHttp } from "./OverHttp.js"
import { cachedLargeOverTls, smallFilesOverTls } from "./OverTls.js"
import { failed, machine, type Result, table } from "./Report.js"
import type { Scenario } from "./Scenario.js"
import { smallFiles } from "./SmallFiles.js"
import { startup } from "./Startup.js"
import { streamedHuge } from "./StreamedHuge.js"
import * as Workspace from "./Workspace.js"

const PROGRAM = "ferry-perf"
const SCENARIOS: ReadonlyArray<Scenario> = [
  cachedLarge,
  streamedHuge,
  smallFiles,
  herd,
  memory,
  startup,
  cachedWholeClient,
  cachedLargeOverTls,
  smallFilesOverTls,
  smallFilesOverHttp,
  cachedLargeOverHttp,
  largeHerd
]

const only = Options.text("only").pipe(
  Options.withDefault(SCENARIOS.map((scenario) => scenario.id).join(",")),
  Options.withDescription("The scenarios to run, by number: 1,3."),
  Options.mapEffect((text) => {
    const ids = text.split(",").map((part) => Number(part.trim()))
    return ids.every((id) => SCENARIOS.some((scenario) => scenario.id === id))
      ? Effect.succeed(ids)
      : Effect.fail(
        ValidationError.invalidValue(HelpDoc.p(`--only: "${text}" is not a list of scenarios 1 to ${SCENARIOS.length}`))
      )
  })
)
const quick = Options.boolean("quick").pipe(
  Options.withDescription("Shorter runs and fewer repetitions: to try the harness, not for figures.")
)
const cpuProf = Options.text("cpu-prof").pipe(
  Options.optional,
  Options.withDescription("Profile each server started (V8 CPU profile), writing server-PID.cpuprofile files here.")
)

const runScenario = (scenario: Scenario, workspace: Workspace.Workspace) =>
  Effect.gen(function*() {
    yield* Console.error(`${PROGRAM}: [${scenario.id}] ${scenario.title}`)
    const started = Date.now()
    const result = yield* Effect.scoped(scenario.run(workspace)).pipe(
      Effect.map((result) => ({ ...result, failed: false })),
      // A scenario that cannot be measured is reported in its row; Ctrl-C still stops everything.
      Effect.catchAllCause((cause) => {
        if (Cause.isInterruptedOnly(cause)) return Effect.interrupt
        const error = Cause.squash(cause)
        const detail = error instanceof Error ? error.message : String(error)
        return Effect.as(
          Console.error(`${PROGRAM}: [${scenario.id}] failed: ${Cause.pretty(cause)}`),
          { rows: [failed(`${scenario.id}. ${scenario.title}`, detail)], notes: [], failed: true }
        )
      })
    )
    yield* Console.error(`${PROGRAM}: [${scenario.id}] done in ${((Date.now() - started) / 1000).toFixed(0)} s`)
    return result
  })

const perf = (options: {
  readonly only: ReadonlyArray<number>
  readonly quick: boolean
  readonly cpuProf: Option.Option<string>
}) =>
  Effect.gen(function*() {
    const profileDir = Option.getOrUndefined(Option.map(options.cpuProf, (dir) => path.resolve(dir)))
    if (profileDir !== undefined) yield* Effect.promise(() => fsp.mkdir(profileDir, { recursive: true }))
    const workspace = yield* Workspace.make({ quick: options.quick, profileDir })
    const load = os.loadavg()[0]!.toFixed(2)
    const results: Array<Result & { readonly failed: boolean }> = []
    for (const scenario of SCENARIOS.filter((scenario) => options.only.includes(scenario.id))) {
      results.push(yield* runScenario(scenario, workspace))
    }
    const notes = [
      "Ratio = ferry / baseline, measured in the same run (interleaved rounds where a scenario has rounds). " +
      "MB/s = 10^6 bytes/s; MiB = 2^20 bytes. Every process runs on loopback on the same cores." +
      (options.quick ? " **--quick: shortened runs, not figures to quote.**" : ""),
      ...results.flatMap((result) => result.notes),
      `${machine()} Load average when the run began: ${load}.`,
      ...(profileDir === undefined ? [] : [`Server CPU profiles: ${profileDir}.`])
    ]
    yield* Console.log(
      [table(results.flatMap((result) => result.rows)), "", ...notes.map((note) => `- ${note}`)].join("\n")
    )
    if (results.some((result) => result.failed)) {
      return yield* exitWith(PROGRAM, 1, "some scenarios could not be measured (see the table and above)")
    }
  }).pipe(Effect.scoped, Effect.provide(NodeSocketClient.layer))

export const command = Command.make(PROGRAM, { only, quick, cpuProf }, perf).pipe(
  Command.withDescription(HelpDoc.blocks([
    HelpDoc.p(
      "Measures the built server and client (`npm run bench` builds them first) against iperf3, nginx + curl, " +
        "python3 -m http.server + curl, nginx + wrk and `node -e 0`, and prints one markdown table."
    ),
    HelpDoc.p("Example: npm run bench -- --only 1,3 --quick")
  ]))
)
