/**
 * Scenario 1, a cached large file: a 48 MiB file served from the cache again and again over one
 * persistent connection, received and SHA-256-checked in process, against iperf3's single-stream
 * loopback throughput (what the kernel can move between two processes here). Rounds alternate
 * ferry and iperf3 so that both see the same noise.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Baselines from "./Baselines.js"
import * as Fetch from "./Fetch.js"
import { addCpu, describeCpu, measuringCpu, NO_CPU } from "./Processes.js"
import { comparison, fixed, median, type Result, runs } from "./Report.js"
import type { Scenario } from "./Scenario.js"
import { ensure, MiB, statsOf, type Workspace } from "./Workspace.js"

const FILE_BYTES = 48 * MiB

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
    const downloads = (hash: boolean) =>
      Effect.scoped(Effect.gen(function*() {
        const session = yield* Fetch.session(server.port)
        const [rate, cpu] = yield* measuringCpu(
          server.pid,
          Fetch.rateOver(seconds, FILE_BYTES / 1e6, Fetch.get(session, file, { hash }))
        )
        return { rate, cpu, count: session.answered }
      }))

    const hashed: Array<number> = []
    const raw: Array<number> = []
    const iperf: Array<number> = []
    let measured = 0
    let cpuHashed = NO_CPU
    let cpuRaw = NO_CPU
    for (let round = 1; round <= rounds; round++) {
      yield* Console.error(`ferry-perf: [1] round ${round}/${rounds}`)
      const withDigest = yield* downloads(true)
      const withoutDigest = yield* downloads(false)
      hashed.push(withDigest.rate)
      raw.push(withoutDigest.rate)
      measured += withDigest.count + withoutDigest.count
      cpuHashed = addCpu(cpuHashed, withDigest.cpu)
      cpuRaw = addCpu(cpuRaw, withoutDigest.cpu)
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
    return {
      rows: [
        comparison({
          scenario: "1. Cached large file (48 MiB, SHA-256 checked)",
          unit: "MB/s",
          ferry: median(hashed),
          baseline,
          baselineName: "iperf3, 1 stream",
          goal: { atLeast: 0.9 }
        }),
        comparison({
          scenario: "1. Cached large file, digest not recomputed",
          unit: "MB/s",
          ferry: median(raw),
          baseline,
          baselineName: "iperf3, 1 stream"
        })
      ],
      notes: [
        `1. MB/s = 10^6 bytes/s of file body received by an in-process client (the project's codec) over a ` +
        `persistent connection, downloading the file back to back for ${seconds} s per round; median of ` +
        `${rounds} rounds, each followed by a ${seconds} s iperf3 test (median of its receiver's rates). ` +
        `With SHA-256: ${runs(hashed, "MB/s")}; without: ${runs(raw, "MB/s")}; iperf3: ${runs(iperf, "MB/s")}. ` +
        `Server --cache-size 64MiB; ${measured} downloads measured, all cache hits (${cacheCheck}). The receiver ` +
        `shares the 2 cores with the server, as iperf3's does; CPU with SHA-256: ${describeCpu(cpuHashed)}; ` +
        `without: ${describeCpu(cpuRaw)}.`
      ]
    } satisfies Result
  })

export const cachedLarge: Scenario = { id: 1, title: "Cached large file", run }
