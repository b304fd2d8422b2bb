/**
 * Scenario 6, the client's start-up: wall time of `client --help` and of a 1 KiB download from a
 * running server, against `node -e 0` (Node's own start-up) on the same machine. Timed by hyperfine
 * when it is installed, in rounds; otherwise by spawning the three in turn.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as fsp from "node:fs/promises"
import * as path from "node:path"
import { installHint, timedOk, which } from "./Processes.js"
import { comparison, fixed, median, type Result } from "./Report.js"
import type { Scenario } from "./Scenario.js"
import { CLIENT_BIN, HOST, KiB, type Workspace } from "./Workspace.js"

interface Command {
  readonly label: string
  readonly args: ReadonlyArray<string>
}

/** Median milliseconds of each command in one hyperfine round. */
const hyperfineRound = (hyperfine: string, commands: ReadonlyArray<Command>, runs: number, json: string) =>
  Effect.gen(function*() {
    yield* timedOk(hyperfine, [
      "--shell=none",
      "--warmup",
      "3",
      "--runs",
      String(runs),
      "--export-json",
      json,
      ...commands.flatMap((command) => ["-n", command.label, [process.execPath, ...command.args].join(" ")])
    ])
    const report = JSON.parse(yield* Effect.promise(() => fsp.readFile(json, "utf8"))) as {
      results: ReadonlyArray<{ median: number }>
    }
    return report.results.map((result) => result.median * 1000)
  })

/** Median milliseconds of each command, spawned in turn `runs` times (after a warm-up of each). */
const ownRound = (commands: ReadonlyArray<Command>, runs: number) =>
  Effect.gen(function*() {
    const times: Array<Array<number>> = commands.map(() => [])
    for (let i = -1; i < runs; i++) {
      for (const [index, command] of commands.entries()) {
        const { millis } = yield* timedOk(process.execPath, command.args)
        if (i >= 0) times[index]!.push(millis)
      }
    }
    return times.map(median)
  })

const run = (workspace: Workspace) =>
  Effect.gen(function*() {
    const rounds = workspace.quick ? 1 : 3
    const runs = workspace.quick ? 10 : 20
    const file = yield* workspace.file("tiny-1KiB.bin", KiB)
    const server = yield* workspace.startServer(["--cache-size", "64MiB"])
    const commands: ReadonlyArray<Command> = [
      { label: "node -e 0", args: ["-e", "0"] },
      { label: "client --help", args: [CLIENT_BIN, "--help"] },
      { label: "client 1 KiB download", args: [CLIENT_BIN, HOST, String(server.port), file.name, workspace.dest, "-q"] }
    ]
    const hyperfine = which("hyperfine")
    if (Option.isNone(hyperfine)) {
      yield* Console.error(
        `ferry-perf: hyperfine not installed, timing with spawn; install: ${installHint("hyperfine")}`
      )
    }
    const results: Array<ReadonlyArray<number>> = []
    for (let round = 1; round <= rounds; round++) {
      yield* Console.error(`ferry-perf: [6] round ${round}/${rounds}`)
      results.push(
        Option.isSome(hyperfine)
          ? yield* hyperfineRound(hyperfine.value, commands, runs, path.join(workspace.root, `hyperfine-${round}.json`))
          : yield* ownRound(commands, runs)
      )
    }
    const [node, help, download] = commands.map((_, i) => median(results.map((round) => round[i]!))) as [
      number,
      number,
      number
    ]
    const perRound = (i: number) => results.map((round) => fixed(round[i]!, 1)).join(", ")
    const row = (scenario: string, ferry: number) =>
      comparison({
        scenario,
        unit: "ms",
        digits: 1,
        ferry,
        baseline: node,
        baselineName: "node -e 0",
        goal: { atMost: 2 }
      })

    return {
      rows: [row("6. Client start-up: `client --help`", help), row("6. Client start-up: 1 KiB download", download)],
      notes: [
        `6. Wall time from spawn to exit, ${
          Option.isSome(hyperfine)
            ? `by \`hyperfine --shell=none --warmup 3 --runs ${runs}\` (the median of each)`
            : `spawned in turn ${runs} times after a warm-up (the median of each; hyperfine is not installed)`
        }, median of ${rounds} round${rounds === 1 ? "" : "s"}. ms per round: node -e 0: ${perRound(0)}; ` +
        `--help: ${perRound(1)}; download: ${perRound(2)}. The download is \`client ${HOST} PORT ${file.name} ` +
        `DEST -q\` from a running server (cached after the first run).`
      ]
    } satisfies Result
  })

export const startup: Scenario = { id: 6, title: "Client start-up", run }
