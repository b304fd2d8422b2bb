/**
 * Scenario 7, a cached 256 MiB file fetched by a whole client process: the ferry client command,
 * timed from spawn to exit, downloading a file the server holds in its cache into a tmpfs (so that
 * the destination's disk is not what is measured), against curl from nginx (`sendfile on`) and curl
 * from Python's `http.server`. Every round runs the three in turn.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as fsp from "node:fs/promises"
import * as path from "node:path"
import * as Baselines from "./Baselines.js"
import { curl, type Downloader, ferryClient, timedDownload } from "./Downloads.js"
import * as Fetch from "./Fetch.js"
import { comparison, fixed, type Goal, median, type Result, runs, type Skipped } from "./Report.js"
import type { Scenario } from "./Scenario.js"
import { ensure, MiB, statsOf, type Workspace } from "./Workspace.js"

const FILE_BYTES = 256 * MiB
/** A tmpfs on every Linux with glibc; the downloads go to a directory of their own in it. */
const TMPFS = "/dev/shm"

/** A fresh directory in the tmpfs, removed with whatever is in it when the scope closes. */
const tmpfsDestination = Effect.acquireRelease(
  Effect.promise(() => fsp.mkdtemp(path.join(TMPFS, "ferry-perf-dest-"))),
  (dir) => Effect.promise(() => fsp.rm(dir, { recursive: true, force: true }))
)

const run = (workspace: Workspace) =>
  Effect.gen(function*() {
    const rounds = workspace.quick ? 2 : 7
    const file = yield* workspace.file("cached-256MiB.bin", FILE_BYTES)
    const server = yield* workspace.startServer(["--cache-size", "512MiB"])
    const noNginx = yield* Baselines.missingTools("nginx", "curl")
    const noPython = yield* Baselines.missingTools("python3", "curl")
    const nginx = Option.isNone(noNginx) ? yield* Baselines.nginx(workspace) : undefined
    const python = Option.isNone(noPython) ? yield* Baselines.pythonHttp(workspace) : undefined
    const dest = yield* tmpfsDestination

    // Prime: the one load from disk; every download measured after it must be a hit.
    yield* Effect.scoped(Effect.flatMap(Fetch.session(server.port), (s) => Fetch.get(s, file, { hash: true })))
    const primed = yield* statsOf(server)

    const ferry: Array<number> = []
    const byNginx: Array<number> = []
    const byPython: Array<number> = []
    const download = (downloader: Downloader, pid: number, into: Array<number>, check: boolean) =>
      Effect.map(timedDownload(downloader, file, pid, check), ({ millis }) => {
        into.push(millis)
      })
    for (let round = 1; round <= rounds; round++) {
      yield* Console.error(`ferry-perf: [7] round ${round}/${rounds}`)
      const first = round === 1
      yield* download(ferryClient(server.port, file, dest), server.pid, ferry, first)
      if (nginx !== undefined) yield* download(curl(nginx.url, file, dest), nginx.pid, byNginx, first)
      if (python !== undefined) yield* download(curl(python.url, file, dest), python.pid, byPython, first)
    }

    const after = yield* statsOf(server)
    const hits = after.hits! - primed.hits!
    yield* ensure(
      after.loads === primed.loads && after.streamed === primed.streamed && hits === rounds,
      `the client's downloads were not all served from the cache: loads ${primed.loads} → ${after.loads}, ` +
        `streamed ${primed.streamed} → ${after.streamed}, hits +${hits} for ${rounds} downloads`
    )

    const row = (scenario: string, baseline: ReadonlyArray<number>, skipped: Option.Option<Skipped>, goal: Goal) =>
      comparison({
        scenario,
        unit: "ms",
        ferry: median(ferry),
        baseline: baseline.length > 0 ? median(baseline) : Option.getOrThrow(skipped),
        baselineName: baseline === byNginx ? "nginx sendfile + curl" : "python3 -m http.server + curl",
        goal
      })
    return {
      rows: [
        row("7. Cached 256 MiB, whole client process (to tmpfs)", byNginx, noNginx, { atMost: 1.2, aim: 1 }),
        row("7. Cached 256 MiB, whole client process, against Python", byPython, noPython, { below: 1 })
      ],
      notes: [
        `7. Wall time (lower is better) from spawning the downloader to its exit, start-up included, downloading ` +
        `a 256 MiB file into a directory on the tmpfs ${TMPFS} (deleted after each run, untimed); median of ` +
        `${rounds} rounds, each running ferry, nginx + curl and Python + curl in turn. ` +
        `\`client HOST PORT ${file.name} DEST -q\`: ${runs(ferry, "ms")}; \`curl -s -f -o DEST/${file.name}\` ` +
        `from nginx (one process, sendfile on, the file in the page cache): ${runs(byNginx, "ms")}; from ` +
        `\`python3 -m http.server\`: ${runs(byPython, "ms")}. Server --cache-size 512MiB, primed by one download; ` +
        `all ${rounds} client downloads were cache hits (stats: loads ${after.loads}, hits +${fixed(hits)}). ` +
        `The first download of each was checked against the source's SHA-256.`
      ]
    } satisfies Result
  })

export const cachedWholeClient: Scenario = { id: 7, title: "Cached 256 MiB, whole client process", run }
