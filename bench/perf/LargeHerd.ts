/**
 * Scenario 12, a herd on a file larger than the cache: (a) 200 clients at once on a 1 GiB file with
 * the default 64 MiB cache, (b) 50 clients arriving spread over 10 s; each with slices (the default)
 * and with `--slice-size 0` (streamed per request), and nginx with 200 curls as the baseline. For
 * each: the bytes the server read (its `/proc/PID/io` rchar, and the slices loaded by its stats),
 * its CPU seconds, the time until the last client has a verified copy, and its peak RSS.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import { spawn } from "node:child_process"
import * as fsp from "node:fs/promises"
import { nginx } from "./Baselines.js"
import * as Fetch from "./Fetch.js"
import { cpuTimes, which } from "./Processes.js"
import { absolute, fixed, mib, type Result, type Row } from "./Report.js"
import type { Scenario } from "./Scenario.js"
import { GiB, MiB, type SourceFile, statsOf, type Workspace } from "./Workspace.js"

const CACHE = "64MiB"
// The server's default; another to compare slice sizes (`FERRY_PERF_SLICE_SIZE=8MiB npm run bench -- --only 12`).
const SLICE_SIZE = process.env.FERRY_PERF_SLICE_SIZE ?? "4MiB"
const STREAM_BUFFERS = 32 * MiB

/** Bytes the process has read through read(2) and the like, page cache included. */
const rchar = (pid: number) =>
  Effect.promise(() => fsp.readFile(`/proc/${pid}/io`, "utf8").catch(() => "")).pipe(
    Effect.map((io) => Number(/^rchar: (\d+)/m.exec(io)?.[1] ?? Number.NaN))
  )

const vmRss = (pid: number) =>
  Effect.promise(() => fsp.readFile(`/proc/${pid}/status`, "utf8").catch(() => "")).pipe(
    Effect.map((status) => Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024)
  )

interface Measured {
  readonly read: number
  readonly sliceLoads: number | undefined
  readonly cpu: number
  readonly wall: number
  readonly idleRss: number
  readonly peakRss: number
  readonly identical: string
  readonly failures: ReadonlyArray<string>
}

/** Runs `clients` against process `pid`, sampling its RSS, and measures what it read and used meanwhile. */
const measure = <E, R>(pid: number, clients: Effect.Effect<ReadonlyArray<Either.Either<void, string>>, E, R>) =>
  Effect.gen(function*() {
    const idleRss = yield* vmRss(pid)
    let peakRss = idleRss
    const sampler = yield* Effect.fork(Effect.forever(Effect.zipRight(
      Effect.tap(vmRss(pid), (bytes) => Effect.sync(() => void (peakRss = Math.max(peakRss, bytes)))),
      Effect.sleep("100 millis")
    )))
    const [readBefore, cpuBefore] = [yield* rchar(pid), yield* cpuTimes(pid)]
    const started = performance.now()
    const copies = yield* clients
    const wall = (performance.now() - started) / 1000
    const [readAfter, cpuAfter] = [yield* rchar(pid), yield* cpuTimes(pid)]
    yield* Effect.sleep("200 millis")
    yield* Fiber.interrupt(sampler)
    const failures = copies.flatMap((copy) => Either.isLeft(copy) ? [copy.left] : []).slice(0, 3)
    return {
      read: readAfter - readBefore,
      cpu: cpuAfter.process - cpuBefore.process,
      wall,
      idleRss,
      peakRss,
      identical: `${copies.filter(Either.isRight).length}/${copies.length}`,
      failures
    }
  })

/** When client `i` of `count` starts: all at once, or evenly over `spread` seconds. */
const arrivals = (count: number, spread: number) => (i: number) => spread === 0 ? 0 : (i * spread * 1000) / count

const ferryRun = (workspace: Workspace, file: SourceFile, sliceSize: string, count: number, spread: number) =>
  Effect.scoped(Effect.gen(function*() {
    const server = yield* workspace.startServer(["--cache-size", CACHE, "--slice-size", sliceSize])
    const sessions = yield* Effect.forEach(Array.from({ length: count }), () => Fetch.session(server.port), {
      concurrency: 50
    })
    const at = arrivals(count, spread)
    const measured = yield* measure(
      server.pid,
      Effect.forEach(sessions, (session, i) =>
        Effect.zipRight(
          Effect.sleep(`${at(i)} millis`),
          Effect.either(Effect.mapError(
            Fetch.get(session, file, { hash: true, digest: "xxh3-128" }),
            (error) => error.detail
          ))
        ), { concurrency: "unbounded" })
    )
    const stats = yield* statsOf(server)
    return { ...measured, sliceLoads: stats.sliceLoads } satisfies Measured
  }))

/** nginx and `count` curls, each writing the file to /dev/null, exiting 0 with all its bytes. */
const nginxRun = (workspace: Workspace, file: SourceFile, count: number) =>
  Effect.scoped(Effect.gen(function*() {
    const server = yield* nginx(workspace)
    const curl = Option.getOrElse(which("curl"), () => "curl")
    const one = Effect.async<Either.Either<void, string>>((resume) => {
      const child = spawn(curl, ["-q", "-s", "-o", "/dev/null", "-w", "%{size_download}", `${server.url}/${file.name}`])
      let out = ""
      child.stdout.on("data", (chunk: Buffer) => void (out += chunk.toString()))
      child.on("close", (code) =>
        resume(Effect.succeed(
          code === 0 && Number(out) === file.size ? Either.right(undefined) : Either.left(`curl: ${code} ${out}`)
        )))
    })
    const measured = yield* measure(
      server.pid,
      Effect.all(Array.from({ length: count }, () => one), { concurrency: "unbounded" })
    )
    return { ...measured, sliceLoads: undefined } satisfies Measured
  }))

const row = (label: string, m: Measured, goal: string, met: boolean | undefined): Row =>
  absolute(
    label,
    `read ${fixed(m.read / GiB, 2)} GiB${m.sliceLoads === undefined ? "" : ` (${m.sliceLoads} slices)`}, ` +
      `CPU ${fixed(m.cpu, 1)} s, last copy ${fixed(m.wall, 1)} s, peak RSS ${mib(m.peakRss)} (idle ${
        mib(m.idleRss)
      }), copies ${m.identical}`,
    goal,
    met
  )

const run = (workspace: Workspace) =>
  Effect.gen(function*() {
    const size = workspace.quick ? 256 * MiB : GiB
    const [herd, spread, spreadSeconds] = workspace.quick ? [50, 20, 5] : [200, 50, 10]
    const file = yield* workspace.file(`large-herd-${size / MiB}MiB.bin`, size)
    const cacheBytes = 64 * MiB
    const step = (what: string) => Console.error(`ferry-perf: [12] ${what}`)

    yield* step(`(a) ${herd} at once, slices`)
    const a = yield* ferryRun(workspace, file, SLICE_SIZE, herd, 0)
    yield* step(`(b) ${spread} over ${spreadSeconds} s, slices`)
    const b = yield* ferryRun(workspace, file, SLICE_SIZE, spread, spreadSeconds)
    yield* step(`(c) ${herd} at once, --slice-size 0`)
    const a0 = yield* ferryRun(workspace, file, "0", herd, 0)
    yield* step(`(c) ${spread} over ${spreadSeconds} s, --slice-size 0`)
    const b0 = yield* ferryRun(workspace, file, "0", spread, spreadSeconds)
    const baseline = Option.isSome(which("nginx")) && Option.isSome(which("curl"))
      ? Option.some(yield* Effect.zipRight(step(`nginx + ${herd} curls`), nginxRun(workspace, file, herd)))
      : Option.none()

    const bounded = (m: Measured) => m.peakRss <= m.idleRss + cacheBytes + STREAM_BUFFERS
    const all = (m: Measured) => m.failures.length === 0
    const rows = [
      row(
        `12a. ${herd} at once, slices`,
        a,
        "read ≤ 1.25× file, RSS bounded, all identical",
        a.read <= 1.25 * size && bounded(a) && all(a)
      ),
      row(
        `12b. ${spread} over ${spreadSeconds} s, slices`,
        b,
        "read ≤ 2× file, RSS bounded, all identical",
        b.read <= 2 * size && bounded(b) && all(b)
      ),
      row(`12c. ${herd} at once, --slice-size 0`, a0, "—", undefined),
      row(`12c. ${spread} over ${spreadSeconds} s, --slice-size 0`, b0, "—", undefined),
      absolute(
        `12a. server CPU, slices / slicing off`,
        `${fixed(a.cpu / a0.cpu, 2)}x`,
        "≤ 0.2x",
        a.cpu <= 0.2 * a0.cpu
      ),
      ...Option.toArray(Option.map(baseline, (m) => row(`12. nginx + ${herd} curls (baseline)`, m, "—", undefined)))
    ]
    const failures = [a, b, a0, b0].flatMap((m) => m.failures)
    return {
      rows,
      notes: [
        `12. A ${mib(size)} file, --cache-size ${CACHE}, --slice-size ${SLICE_SIZE}, --stream-buffers 32MiB (the ` +
        `default), in-process clients ` +
        `(each on its own connection, opened beforehand) checking XXH3-128 over every byte; a fresh server per run. ` +
        `Read: rchar from /proc/PID/io over the run (the page cache included; the file stays in it); slices: ` +
        `sliceLoads from stats. CPU: the server's user + system seconds over the run. Peak RSS: VmRSS sampled every ` +
        `100 ms; bounded means ≤ idle + cache + stream buffers. nginx: one process, sendfile on, curls to /dev/null ` +
        `(their sizes checked, not their bytes).` +
        (failures.length > 0 ? ` First failures: ${failures.join("; ")}.` : "")
      ]
    } satisfies Result
  })

export const largeHerd: Scenario = { id: 12, title: "Herd on a file larger than the cache", run }
