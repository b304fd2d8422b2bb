/**
 * Scenario 2, a streamed huge file: 1 GiB, larger than the cache, downloaded to disk by the ferry
 * client command, against nginx (`sendfile on`) downloaded by curl to the same directory. Each run
 * is timed from spawn to exit, ferry and curl alternating, the destination deleted (and the
 * file system synced, untimed) between runs.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as fsp from "node:fs/promises"
import * as path from "node:path"
import * as Baselines from "./Baselines.js"
import { addCpu, type CpuUse, measuringCpu, NO_CPU, timedOk, which } from "./Processes.js"
import { comparison, median, type Result, runs } from "./Report.js"
import type { Scenario } from "./Scenario.js"
import { CLIENT_BIN, digestOf, ensure, GiB, HOST, statsOf, type Workspace } from "./Workspace.js"

export const HUGE_FILE = { name: "huge-1GiB.bin", size: GiB } as const

const run = (workspace: Workspace) =>
  Effect.gen(function*() {
    const count = workspace.quick ? 1 : 5
    const file = yield* workspace.file(HUGE_FILE.name, HUGE_FILE.size)
    const server = yield* workspace.startServer(["--cache-size", "64MiB"])
    const skipped = yield* Baselines.missingTools("nginx", "curl")
    const nginx = Option.isNone(skipped) ? yield* Baselines.nginx(workspace) : undefined
    // Written-back pages of the previous run should not slow the next (coreutils' sync, if any).
    const sync = which("sync")
    const saved = path.join(workspace.dest, path.basename(file.name))

    // Times one download to `saved` and checks it arrived whole (by its digest on the first run).
    const download = (command: string, args: ReadonlyArray<string>, check: boolean, pid: number) =>
      Effect.gen(function*() {
        const [{ millis }, cpu] = yield* measuringCpu(pid, timedOk(command, args))
        const { size } = yield* Effect.promise(() => fsp.stat(saved))
        yield* ensure(size === file.size, `${path.basename(command)} saved ${size} bytes, not ${file.size}`)
        if (check) {
          const digest = yield* digestOf(saved)
          yield* ensure(digest.equals(file.digest), `${path.basename(command)} saved other bytes than the source's`)
        }
        yield* Effect.promise(() => fsp.rm(saved))
        if (Option.isSome(sync)) yield* timedOk(sync.value, [])
        return { rate: file.size / 1e6 / (millis / 1000), cpu }
      })

    const ferry: Array<number> = []
    const curl: Array<number> = []
    let serverCpu = NO_CPU
    let nginxCpu = NO_CPU
    for (let i = 0; i < count; i++) {
      yield* Console.error(`ferry-perf: [2] run ${i + 1}/${count}`)
      const args = [CLIENT_BIN, HOST, String(server.port), file.name, workspace.dest, "-q"]
      const byFerry = yield* download(process.execPath, args, i === 0, server.pid)
      ferry.push(byFerry.rate)
      serverCpu = addCpu(serverCpu, byFerry.cpu)
      if (nginx !== undefined) {
        const byCurl = yield* download(
          "curl",
          ["-s", "-f", "-o", saved, `${nginx.url}/${file.name}`],
          i === 0,
          nginx.pid
        )
        curl.push(byCurl.rate)
        nginxCpu = addCpu(nginxCpu, byCurl.cpu)
      }
    }
    const stats = yield* statsOf(server)
    yield* ensure(
      stats.streamed === count,
      `expected ${count} streamed (uncached) responses, stats say ${stats.streamed}`
    )

    return {
      rows: [comparison({
        scenario: "2. Streamed huge file (1 GiB, to disk)",
        unit: "MB/s",
        ferry: median(ferry),
        baseline: curl.length > 0 ? median(curl) : Option.getOrThrow(skipped),
        baselineName: "nginx sendfile + curl",
        goal: { atLeast: 1 }
      })],
      notes: [
        `2. 2^30 bytes / wall time from spawning the downloader to its exit (the ferry client's start-up included, ` +
        `as curl's is), to a file in a directory on the server directory's file system; median of ${count} ` +
        `alternating runs. \`client HOST PORT ${file.name} DEST -q\`: ${runs(ferry, "MB/s")}; ` +
        `\`curl -s -o DEST/${file.name}\` from nginx (one process, sendfile on): ${runs(curl, "MB/s")}. ` +
        `The server streamed it uncached (--cache-size 64MiB; stats: streamed ${stats.streamed}). ` +
        `The first run of each was checked against the source's SHA-256; the source is in the page cache. ` +
        `CPU while downloading: ferry's server ${share(serverCpu)}, nginx ${share(nginxCpu)} of a core.`
      ]
    } satisfies Result
  })

const share = (use: CpuUse) => use.wall === 0 ? "—" : `${Math.round((use.process / use.wall) * 100)}%`

export const streamedHuge: Scenario = { id: 2, title: "Streamed huge file", run }
