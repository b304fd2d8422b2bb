/**
 * Scenarios 10 and 11, the HTTP door (`--http`) against nginx with the same HTTP clients: 64 KiB
 * cached files under `wrk -t2 -c64` (scenario 3's files and script), and a cached 256 MiB file
 * fetched by a whole `curl` process into a tmpfs (scenario 7's file and destination). Each round
 * runs ferry, then nginx, so that both see the machine as it is then.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as fsp from "node:fs/promises"
import * as path from "node:path"
import * as Baselines from "./Baselines.js"
import { curl, timedDownload } from "./Downloads.js"
import { freePort, measuringCpu } from "./Processes.js"
import { comparison, fixed, median, type Result, runs } from "./Report.js"
import type { Scenario } from "./Scenario.js"
import { smallFileSet } from "./SmallFiles.js"
import { ensure, HOST, MiB, statsOf, type Workspace } from "./Workspace.js"

const CONNECTIONS = 64
const LARGE_BYTES = 256 * MiB
const TMPFS = "/dev/shm"

/** A ferry server with its HTTP door on a free port; the door's URL. */
const ferryWithHttp = (workspace: Workspace, args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const httpPort = yield* freePort
    const server = yield* workspace.startServer([...args, "--http", `${HOST}:${httpPort}`])
    return { server, url: `http://${HOST}:${httpPort}` }
  })

/** Every path fetched once through the door (so that the cache holds them all), each checked for its size. */
const prime = (url: string, files: ReadonlyArray<{ readonly name: string; readonly size: number }>) =>
  Effect.forEach(files, (file) =>
    Effect.gen(function*() {
      const response = yield* Effect.promise(() => fetch(`${url}/${file.name}`))
      const body = yield* Effect.promise(() => response.arrayBuffer())
      yield* ensure(
        response.status === 200 && body.byteLength === file.size,
        `GET /${file.name} over HTTP: ${response.status}, ${body.byteLength} bytes`
      )
    }), { discard: true })

const smallFiles = (workspace: Workspace) =>
  Effect.gen(function*() {
    const rounds = workspace.quick ? 1 : 3
    const warmupSeconds = workspace.quick ? 1 : 2
    const seconds = workspace.quick ? 3 : 10
    const skipped = yield* Baselines.missingTools("nginx", "wrk")
    if (Option.isSome(skipped)) {
      return { rows: [], notes: [`10. Not measured: wrk and nginx are needed (${skipped.value.skipped}).`] }
    }
    const files = yield* smallFileSet(workspace)
    const { server, url } = yield* ferryWithHttp(workspace, ["--cache-size", "64MiB"])
    const nginx = yield* Baselines.nginx(workspace)
    const script = path.join(workspace.root, "http-small-files.lua")
    yield* Baselines.wrkScript(script, files.map((file) => file.name))
    yield* prime(url, files)
    const primed = yield* statsOf(server)

    const measured = { ferry: [] as Array<number>, nginx: [] as Array<number> }
    const cpu = { ferry: 0, ferryRequests: 0, nginx: 0, nginxRequests: 0 }
    for (let round = 1; round <= rounds; round++) {
      yield* Console.error(`ferry-perf: [10] round ${round}/${rounds}`)
      for (const [name, target, pid] of [["ferry", url, server.pid], ["nginx", nginx.url, nginx.pid]] as const) {
        yield* Baselines.wrk(target, script, CONNECTIONS, warmupSeconds)
        const [result, used] = yield* measuringCpu(pid, Baselines.wrk(target, script, CONNECTIONS, seconds))
        measured[name].push(result.requestsPerSecond)
        cpu[name] += used.process
        cpu[`${name}Requests`] += result.requests
      }
    }
    const after = yield* statsOf(server)
    yield* ensure(
      after.loads === primed.loads,
      `files were loaded again during the measurement: loads ${primed.loads} → ${after.loads}`
    )
    const perRequest = (seconds: number, count: number) => (seconds / count) * 1e6
    return {
      rows: [
        comparison({
          scenario: "10. Many small files over HTTP (64 KiB, wrk -c64)",
          unit: "req/s",
          ferry: median(measured.ferry),
          baseline: median(measured.nginx),
          baselineName: "nginx + wrk",
          goal: { atLeast: 0.8 }
        }),
        comparison({
          scenario: "10. Many small files over HTTP, server CPU per request",
          unit: "µs/req",
          digits: 1,
          ferry: perRequest(cpu.ferry, cpu.ferryRequests),
          baseline: perRequest(cpu.nginx, cpu.nginxRequests),
          baselineName: "nginx"
        })
      ],
      notes: [
        `10. \`wrk -t2 -c${CONNECTIONS}\` with scenario 3's Lua script (the same ${files.length} files of 64 KiB, ` +
        `all cached: stats loads ${after.loads} before and after) against ferry's \`--http\` door and against ` +
        `nginx, ${seconds} s after ${warmupSeconds} s of warm-up, ${rounds} alternating rounds, median: ferry ` +
        `${runs(measured.ferry, "req/s")}; nginx ${runs(measured.nginx, "req/s")}. wrk counts a non-2xx answer ` +
        `as a failure, and the harness fails the run on any. Both servers log a line per request.`
      ]
    } satisfies Result
  })

const largeFile = (workspace: Workspace) =>
  Effect.gen(function*() {
    const rounds = workspace.quick ? 2 : 7
    const skipped = yield* Baselines.missingTools("nginx", "curl")
    if (Option.isSome(skipped)) {
      return { rows: [], notes: [`11. Not measured: curl and nginx are needed (${skipped.value.skipped}).`] }
    }
    const file = yield* workspace.file("cached-256MiB.bin", LARGE_BYTES)
    const { server, url } = yield* ferryWithHttp(workspace, ["--cache-size", "512MiB"])
    const nginx = yield* Baselines.nginx(workspace)
    const dest = yield* Effect.acquireRelease(
      Effect.promise(() => fsp.mkdtemp(path.join(TMPFS, "ferry-perf-dest-"))),
      (dir) => Effect.promise(() => fsp.rm(dir, { recursive: true, force: true }))
    )
    yield* prime(url, [file])
    const primed = yield* statsOf(server)
    const byFerry: Array<number> = []
    const byNginx: Array<number> = []
    for (let round = 1; round <= rounds; round++) {
      yield* Console.error(`ferry-perf: [11] round ${round}/${rounds}`)
      const first = round === 1
      byFerry.push((yield* timedDownload(curl(url, file, dest), file, server.pid, first)).millis)
      byNginx.push((yield* timedDownload(curl(nginx.url, file, dest), file, nginx.pid, first)).millis)
    }
    const after = yield* statsOf(server)
    const hits = after.hits! - primed.hits!
    yield* ensure(
      after.loads === primed.loads && hits === rounds,
      `curl's downloads were not all cache hits: loads ${primed.loads} → ${after.loads}, hits +${hits}`
    )
    return {
      rows: [comparison({
        scenario: "11. Cached 256 MiB over HTTP, whole curl process (to tmpfs)",
        unit: "ms",
        ferry: median(byFerry),
        baseline: median(byNginx),
        baselineName: "nginx sendfile + curl",
        goal: { atMost: 1.2 }
      })],
      notes: [
        `11. Wall time of \`curl -s -f -o DEST/${file.name}\` from spawn to exit, into the tmpfs ${TMPFS}, from ` +
        `ferry's \`--http\` door (--cache-size 512MiB, primed; all ${rounds} were hits: stats hits ` +
        `+${fixed(hits)}) and from nginx (sendfile on, the file in the page cache), ${rounds} alternating ` +
        `rounds, median: ferry ${runs(byFerry, "ms")}; nginx ${runs(byNginx, "ms")}. The first download of ` +
        `each was checked against the source's SHA-256.`
      ]
    } satisfies Result
  })

export const smallFilesOverHttp: Scenario = { id: 10, title: "Many small files over HTTP", run: smallFiles }
export const cachedLargeOverHttp: Scenario = { id: 11, title: "Cached 256 MiB over HTTP with curl", run: largeFile }
