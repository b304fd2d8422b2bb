/**
 * Scenario 3, many small files: 256 cached files of 64 KiB, 64 connections with requests back to back,
 * requests per second and each server's CPU per request. ferry with the in-process load generator,
 * against nginx with wrk (64 connections, 2 threads) cycling through the same files; the rounds
 * alternate the two, and what each load generator costs per request is noted.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as path from "node:path"
import * as Baselines from "./Baselines.js"
import * as Fetch from "./Fetch.js"
import * as LoadGenerator from "./LoadGenerator.js"
import { addCpu, describeCpu, exitedChildrenCpu, measuringCpu, NO_CPU } from "./Processes.js"
import { comparison, fixed, median, type Result, runs } from "./Report.js"
import type { Scenario } from "./Scenario.js"
import { ensure, KiB, statsOf, type Workspace } from "./Workspace.js"

export const FILE_COUNT = 256
const FILE_BYTES = 64 * KiB

/** The small files scenarios 3 and 9 fetch: FILE_COUNT files of 64 KiB under `small/`. */
export const smallFileSet = (workspace: Workspace) =>
  Effect.forEach(
    Array.from({ length: FILE_COUNT }, (_, i) => `small/${String(i).padStart(4, "0")}.bin`),
    (name) => workspace.file(name, FILE_BYTES),
    { concurrency: 8 }
  )
const CONNECTIONS = 64
const REHASH_EVERY = 64

const run = (workspace: Workspace) =>
  Effect.gen(function*() {
    const rounds = workspace.quick ? 1 : 3
    const warmupSeconds = workspace.quick ? 1 : 2
    const seconds = workspace.quick ? 3 : 10
    const files = yield* smallFileSet(workspace)
    const server = yield* workspace.startServer(["--cache-size", "64MiB"])
    const skipped = yield* Baselines.missingTools("nginx", "wrk")
    const nginx = Option.isNone(skipped) ? yield* Baselines.nginx(workspace) : undefined
    const script = path.join(workspace.root, "small-files.lua")
    yield* Baselines.wrkScript(script, files.map((file) => file.name))

    // Every file loaded once, so that what is measured is the cache.
    yield* Effect.scoped(Effect.flatMap(
      Fetch.session(server.port),
      (session) => Effect.forEach(files, (file) => Fetch.get(session, file, { hash: true }), { discard: true })
    ))
    const primed = yield* statsOf(server)

    const ferry: Array<number> = []
    const wrk: Array<number> = []
    const problems = new Set<string>()
    let requests = 0
    let rehashed = 0
    let cpu = NO_CPU
    // nginx's CPU (from /proc) and wrk's (its rusage, once reaped) over the measured wrk runs.
    const byWrk = { requests: 0, nginxCpu: 0, wrkCpu: 0 }
    for (let round = 1; round <= rounds; round++) {
      yield* Console.error(`ferry-perf: [3] round ${round}/${rounds}`)
      const measured = yield* LoadGenerator.generate({
        port: server.port,
        serverPid: server.pid,
        files,
        connections: CONNECTIONS,
        warmupSeconds,
        seconds,
        rehashEvery: REHASH_EVERY
      })
      cpu = addCpu(cpu, measured.cpu)
      ferry.push(measured.requests / measured.seconds)
      requests += measured.requests
      rehashed += measured.rehashed
      if (nginx !== undefined) {
        yield* Baselines.wrk(nginx.url, script, CONNECTIONS, warmupSeconds)
        const childrenBefore = yield* exitedChildrenCpu
        const [result, used] = yield* measuringCpu(nginx.pid, Baselines.wrk(nginx.url, script, CONNECTIONS, seconds))
        byWrk.wrkCpu += (yield* exitedChildrenCpu) - childrenBefore
        byWrk.nginxCpu += used.process
        byWrk.requests += result.requests
        wrk.push(result.requestsPerSecond)
        result.problems.forEach((problem) => problems.add(problem))
      }
    }
    const after = yield* statsOf(server)
    yield* ensure(
      after.loads === primed.loads,
      `files were loaded again during the measurement: loads ${primed.loads} → ${after.loads}`
    )

    // Microseconds of CPU per request.
    const perRequest = (seconds: number, count: number) => (seconds / count) * 1e6
    const generatorCost = perRequest(cpu.harness, requests)
    const wrkCost = perRequest(byWrk.wrkCpu, byWrk.requests)
    const generators = byWrk.requests === 0
      ? "not measured"
      : `${fixed(wrkCost, 1)} µs/req (${generatorCost <= wrkCost ? "ferry's costs no more" : "**ferry's costs more**"})`
    return {
      rows: [
        comparison({
          scenario: "3. Many small files (64 KiB, 64 connections)",
          unit: "req/s",
          ferry: median(ferry),
          baseline: wrk.length > 0 ? median(wrk) : Option.getOrThrow(skipped),
          baselineName: "nginx + wrk",
          goal: { atLeast: 1 }
        }),
        comparison({
          scenario: "3. Many small files, server CPU per request",
          unit: "µs/req",
          digits: 1,
          ferry: perRequest(cpu.process, requests),
          baseline: byWrk.requests > 0 ? perRequest(byWrk.nginxCpu, byWrk.requests) : Option.getOrThrow(skipped),
          baselineName: "nginx"
        })
      ],
      notes: [
        `3. Requests/s over ${seconds} s after a ${warmupSeconds} s warm-up, median of ${rounds} alternating ` +
        `rounds, ${FILE_COUNT} files of 64 KiB all cached (stats: loads ${after.loads} before and after), ` +
        `${CONNECTIONS} persistent connections each cycling through them. ferry: ${runs(ferry, "req/s")}, ` +
        `by an in-process load generator (Node, one thread, raw sockets, requests back to back, responses ` +
        `scanned without copying their bodies) checking every response's size and trailer digest against the ` +
        `source, and re-hashing one body in ${REHASH_EVERY} ` +
        `(${fixed(rehashed)} of ${fixed(requests)}, all identical). nginx (one process): \`wrk -t2 -c64\` with a ` +
        `Lua script cycling through the same paths: ${runs(wrk, "req/s")}` +
        `${problems.size > 0 ? ` (wrk: ${[...problems].join("; ")})` : ""}. Each load generator shares the 2 ` +
        `cores with its server; CPU during ferry's measured spans: ${describeCpu(cpu)}. Both servers ` +
        `log a line per request, as they do by default (ferry's request log at info, nginx's access log). ` +
        `CPU per request (lower is better), over the measured spans only: the server's from /proc/PID/stat; ` +
        `ferry's load generator's is this harness's own (process.cpuUsage), wrk's its rusage once it exited ` +
        `(the harness's children's times in /proc/self/stat). Load generators: ferry's ` +
        `${fixed(generatorCost, 1)} µs/req, wrk ${generators}; a load generator's cost per request grows as its ` +
        `server's rate falls (fewer responses per wake-up), so they compare best at like rates.`
      ]
    } satisfies Result
  })

export const smallFiles: Scenario = { id: 3, title: "Many small files", run }
