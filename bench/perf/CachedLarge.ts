/**
 * Scenario 1, a cached large file: a 48 MiB file served from the cache again and again over one
 * persistent connection, received and checked in process with each digest (and without one), against
 * iperf3's single-stream loopback throughput (what the kernel can move between two processes here).
 * Rounds alternate ferry and iperf3 so that both see the same noise.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { Digest } from "../../src/protocol/Digest.js"
import * as Baselines from "./Baselines.js"
import * as Fetch from "./Fetch.js"
import { addCpu, type CpuUse, describeCpu, measuringCpu, NO_CPU } from "./Processes.js"
import { comparison, fixed, median, type Result, runs } from "./Report.js"
import type { Scenario } from "./Scenario.js"
import { ensure, MiB, statsOf, type Workspace } from "./Workspace.js"

const FILE_BYTES = 48 * MiB

// Each digest the client may check with, and the bytes received without one, for the transport alone.
type Mode = Digest | "raw"
const MODES: ReadonlyArray<Mode> = ["xxh3-128", "sha256", "raw"]
const TITLES: Record<Mode, string> = {
  "xxh3-128": "XXH3-128 checked",
  sha256: "SHA-256 checked",
  raw: "digest not recomputed"
}

const run = (workspace: Workspace) =>
  Effect.gen(function*() {
    const rounds = workspace.quick ? 2 : 5
    const seconds = workspace.quick ? 2 : 4
    const file = yield* workspace.file("cached-48MiB.bin", FILE_BYTES)
    const server = yield* workspace.startServer(["--cache-size", "64MiB"])
    const skipped = yield* Baselines.missingTools("iperf3")
    const iperfPort = Option.isNone(skipped) ? yield* Baselines.iperf3Server(workspace) : undefined

    // Prime: the one load from disk; every download measured after it must be a hit.
    yield* Effect.scoped(Effect.flatMap(Fetch.session(server.port), (s) => Fetch.get(s, file, { hash: true })))
    const primed = yield* statsOf(server)

    // Downloads per round, on a connection of their own (the server closes one idle for 10 s).
    const downloads = (mode: Mode) =>
      Effect.scoped(Effect.gen(function*() {
        const session = yield* Fetch.session(server.port, { reusedReads: true })
        const get = Fetch.get(session, file, mode === "raw" ? { hash: false } : { hash: true, digest: mode })
        const [rate, cpu] = yield* measuringCpu(server.pid, Fetch.rateOver(seconds, FILE_BYTES / 1e6, get))
        return { rate, cpu, count: session.answered }
      }))

    const rates: Record<Mode, Array<number>> = { "xxh3-128": [], sha256: [], raw: [] }
    const cpu: Record<Mode, CpuUse> = { "xxh3-128": NO_CPU, sha256: NO_CPU, raw: NO_CPU }
    const iperf: Array<number> = []
    let measured = 0
    for (let round = 1; round <= rounds; round++) {
      yield* Console.error(`ferry-perf: [1] round ${round}/${rounds}`)
      for (const mode of MODES) {
        const done = yield* downloads(mode)
        rates[mode].push(done.rate)
        cpu[mode] = addCpu(cpu[mode], done.cpu)
        measured += done.count
      }
      if (iperfPort !== undefined) iperf.push(yield* Baselines.iperf3Rate(iperfPort, seconds))
    }

    const after = yield* statsOf(server)
    const hits = after.hits! - primed.hits!
    yield* ensure(
      after.loads === primed.loads && hits >= measured,
      `the downloads were not all served from the cache: loads ${primed.loads} → ${after.loads}, ` +
        `hits +${hits} for ${measured} downloads`
    )

    const cacheCheck = `stats: loads ${after.loads}, hits +${fixed(hits)}`
    const baseline = iperf.length > 0 ? median(iperf) : Option.getOrThrow(skipped)
    const row = (mode: Mode) =>
      comparison({
        scenario: `1. Cached large file (48 MiB, ${TITLES[mode]})`,
        unit: "MB/s",
        ferry: median(rates[mode]),
        baseline,
        baselineName: "iperf3, 1 stream",
        ...(mode === "raw" ? {} : { goal: { atLeast: 0.9 } })
      })
    return {
      rows: MODES.map(row),
      notes: [
        `1. MB/s = 10^6 bytes/s of file body received by an in-process client (the project's codec and the client ` +
        `command's transport: reads into reused 1 MiB slabs) over a persistent connection, downloading the file back to back for ${seconds} s per round; ` +
        `median of ${rounds} rounds, each followed by a ${seconds} s iperf3 test (median of its receiver's rates). ` +
        MODES.map((mode) => `${TITLES[mode]}: ${runs(rates[mode], "MB/s")}; `).join("") +
        `iperf3: ${runs(iperf, "MB/s")}. Server --cache-size 64MiB; ${measured} downloads measured, all cache hits ` +
        `(${cacheCheck}). The receiver shares the 2 cores with the server, as iperf3's does; CPU ` +
        MODES.map((mode) => `${TITLES[mode]}: ${describeCpu(cpu[mode])}`).join("; ") + "."
      ]
    } satisfies Result
  })

export const cachedLarge: Scenario = { id: 1, title: "Cached large file", run }
