/**
 * Scenario 2, a streamed huge file: 1 GiB, larger than the cache, downloaded to disk by the ferry
 * client command, against nginx (`sendfile on`) and Python's `http.server`, each downloaded by curl
 * to the same directory. Each run is timed from spawn to exit, the three taking turns in every round,
 * the destination deleted (and the file system synced, untimed) between runs.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Baselines from "./Baselines.js"
import { curl, type Downloader, ferryClient, timedDownload } from "./Downloads.js"
import { addCpu, type CpuUse, NO_CPU, timedOk, which } from "./Processes.js"
import { comparison, median, type Result, runs, type Skipped } from "./Report.js"
import type { Scenario } from "./Scenario.js"
import { ensure, GiB, type SourceFile, statsOf, type Workspace } from "./Workspace.js"

export const HUGE_FILE = { name: "huge-1GiB.bin", size: GiB } as const

/** The runs of one downloader: their rates, and the CPU its server used during them. */
interface Runs {
  readonly rates: Array<number>
  cpu: CpuUse
}

const run = (workspace: Workspace) =>
  Effect.gen(function*() {
    const count = workspace.quick ? 1 : 5
    const file = yield* workspace.file(HUGE_FILE.name, HUGE_FILE.size)
    const server = yield* workspace.startServer(["--cache-size", "64MiB"])
    const noNginx = yield* Baselines.missingTools("nginx", "curl")
    const noPython = yield* Baselines.missingTools("python3", "curl")
    const nginx = Option.isNone(noNginx) ? yield* Baselines.nginx(workspace) : undefined
    const python = Option.isNone(noPython) ? yield* Baselines.pythonHttp(workspace) : undefined
    // Written-back pages of the previous run should not slow the next (coreutils' sync, if any).
    const sync = which("sync")

    // Times one download and checks it arrived whole (by its digest on the first run).
    const download = (downloader: Downloader, pid: number, into: Runs, check: boolean) =>
      Effect.gen(function*() {
        const { cpu, millis } = yield* timedDownload(downloader, file, pid, check)
        if (Option.isSome(sync)) yield* timedOk(sync.value, [])
        into.rates.push(file.size / 1e6 / (millis / 1000))
        into.cpu = addCpu(into.cpu, cpu)
      })

    const ferry: Runs = { rates: [], cpu: NO_CPU }
    const byNginx: Runs = { rates: [], cpu: NO_CPU }
    const byPython: Runs = { rates: [], cpu: NO_CPU }
    for (let i = 0; i < count; i++) {
      yield* Console.error(`ferry-perf: [2] run ${i + 1}/${count}`)
      yield* download(ferryClient(server.port, file, workspace.dest), server.pid, ferry, i === 0)
      if (nginx !== undefined) yield* download(curl(nginx.url, file, workspace.dest), nginx.pid, byNginx, i === 0)
      if (python !== undefined) {
        yield* download(curl(python.url, file, workspace.dest), python.pid, byPython, i === 0)
      }
    }
    const stats = yield* statsOf(server)
    yield* ensure(
      stats.streamed === count,
      `expected ${count} streamed (uncached) responses, stats say ${stats.streamed}`
    )

    const row = (scenario: string, baseline: Runs, skipped: Option.Option<Skipped>, name: string, goal?: number) =>
      comparison({
        scenario,
        unit: "MB/s",
        ferry: median(ferry.rates),
        baseline: baseline.rates.length > 0 ? median(baseline.rates) : Option.getOrThrow(skipped),
        baselineName: name,
        ...(goal === undefined ? {} : { goal: { atLeast: goal } })
      })
    return {
      rows: [
        row("2. Streamed huge file (1 GiB, to disk)", byNginx, noNginx, "nginx sendfile + curl", 1),
        row("2. Streamed huge file, against Python", byPython, noPython, "python3 -m http.server + curl")
      ],
      notes: [note(file, count, ferry, byNginx, byPython, stats.streamed)]
    } satisfies Result
  })

const note = (file: SourceFile, count: number, ferry: Runs, nginx: Runs, python: Runs, streamed: number | undefined) =>
  `2. 2^30 bytes / wall time from spawning the downloader to its exit (the ferry client's start-up included, ` +
  `as curl's is), to a file in a directory on the server directory's file system; median of ${count} ` +
  `rounds, each running ferry, nginx + curl and Python + curl in turn. ` +
  `\`client HOST PORT ${file.name} DEST -q\`: ${runs(ferry.rates, "MB/s")}; ` +
  `\`curl -s -f -o DEST/${file.name}\` from nginx (one process, sendfile on): ${runs(nginx.rates, "MB/s")}; ` +
  `the same from \`python3 -m http.server\` (the standard library's threading server, copying through user ` +
  `space): ${runs(python.rates, "MB/s")}. The server streamed it uncached (--cache-size 64MiB; stats: streamed ` +
  `${streamed}). The first run of each was checked against the source's SHA-256; the source is in the page ` +
  `cache. CPU while downloading: ferry's server ${share(ferry.cpu)}, nginx ${share(nginx.cpu)}, Python ` +
  `${share(python.cpu)} of a core.`

const share = (use: CpuUse) => use.wall === 0 ? "—" : `${Math.round((use.process / use.wall) * 100)}%`

export const streamedHuge: Scenario = { id: 2, title: "Streamed huge file", run }
