/**
 * Scenario 5, memory: the server's resident memory, sampled every 100 ms, while 300 slow clients
 * stream a 1 GiB file (larger than the cache) and a few others download cached files back to back;
 * the figure is its peak above the RSS of the same server idle with a full cache.
 */
import * as Console from "effect/Console"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Fetch from "./Fetch.js"
import { describeCpu, measuringCpu } from "./Processes.js"
import { absolute, fixed, median, mib, type Result } from "./Report.js"
import type { Scenario } from "./Scenario.js"
import { HUGE_FILE } from "./StreamedHuge.js"
import { ensure, MiB, statsOf, type Workspace } from "./Workspace.js"

const SLOW_CLIENTS = 300
/** Bytes per second each slow client takes: well above what the 60 s stall timeout asks for. */
const PACE = MiB
const HITTERS = 4
const FILL_FILES = 15
const FILL_BYTES = 4 * MiB
const GOAL = 128 * MiB

/** A slow client has read for as long as it meant to. */
class Enough extends Data.TaggedError("Enough")<{}> {}

const run = (workspace: Workspace) =>
  Effect.gen(function*() {
    const seconds = workspace.quick ? 10 : 20
    const huge = yield* workspace.file(HUGE_FILE.name, HUGE_FILE.size)
    const fill = yield* Effect.forEach(
      Array.from({ length: FILL_FILES }, (_, i) => `fill/${String(i).padStart(2, "0")}.bin`),
      (name) => workspace.file(name, FILL_BYTES)
    )
    const server = yield* workspace.startServer(["--cache-size", "64MiB"])
    const rss = Effect.map(server.rss, Option.getOrElse(() => 0))

    yield* Effect.scoped(Effect.flatMap(
      Fetch.session(server.port),
      (session) => Effect.forEach(fill, (file) => Fetch.get(session, file, { hash: true }), { discard: true })
    ))
    const filled = yield* statsOf(server)
    yield* Console.error(`ferry-perf: [5] cache filled (${mib(filled.usedBytes!)}); settling`)
    yield* Effect.sleep("3 seconds")
    const idleSamples = yield* Effect.forEach(
      Array.from({ length: 20 }),
      () => Effect.zipLeft(rss, Effect.sleep("100 millis"))
    )
    const idle = median(idleSamples)

    const samples: Array<{ readonly at: number; readonly bytes: number }> = []
    const sampling = performance.now()
    const sampler = yield* Effect.fork(Effect.forever(Effect.zipRight(
      Effect.tap(rss, (bytes) => Effect.sync(() => samples.push({ at: (performance.now() - sampling) / 1000, bytes }))),
      Effect.sleep("100 millis")
    )))

    let stopping = false
    const hitTimes: Array<number> = []
    const hitter = (index: number) =>
      Effect.scoped(Effect.gen(function*() {
        const session = yield* Fetch.session(server.port)
        for (let next = index; !stopping; next++) {
          const started = performance.now()
          yield* Fetch.get(session, fill[next % fill.length]!, { hash: true })
          hitTimes.push(performance.now() - started)
        }
      }))

    const cutOff: Array<string> = []
    const slowClient = Effect.scoped(Effect.gen(function*() {
      const session = yield* Fetch.session(server.port)
      const started = performance.now()
      let received = 0
      const pace = (bytes: Uint8Array) =>
        Effect.suspend(() => {
          received += bytes.length
          const now = performance.now()
          if (now - started >= seconds * 1000) return Effect.fail(new Enough())
          const due = started + (received / PACE) * 1000
          return due > now ? Effect.sleep(`${due - now} millis`) : Effect.void
        })
      yield* Fetch.get(session, huge, { hash: false, onData: pace }).pipe(
        Effect.catchTags({
          Enough: () => Effect.void,
          // Cut off (dropped as stalled, say): it loaded the server all the same; counted in the notes.
          BenchError: (error) => Effect.sync(() => cutOff.push(error.detail))
        })
      )
      return received / ((performance.now() - started) / 1000)
    }))

    yield* Console.error(`ferry-perf: [5] idle RSS ${mib(idle)}; ${SLOW_CLIENTS} slow clients for ${seconds} s`)
    const hitters = yield* Effect.fork(
      Effect.forEach(Array.from({ length: HITTERS }, (_, i) => i), hitter, { concurrency: "unbounded" })
    )
    const [rates, cpu] = yield* measuringCpu(
      server.pid,
      Effect.forEach(Array.from({ length: SLOW_CLIENTS }), () => slowClient, { concurrency: "unbounded" })
    )
    stopping = true
    yield* Fiber.join(hitters)
    // The last closes take effect on the server a moment later.
    yield* Effect.sleep("1 second")
    yield* Fiber.interrupt(sampler)
    const after = yield* statsOf(server)
    // A slow client dropped as stalled still loaded the server: the figure stands, the note says so.
    const stalled = after.stalls! - filled.stalls!
    yield* ensure(
      after.streamed! - filled.streamed! === SLOW_CLIENTS,
      `expected ${SLOW_CLIENTS} streamed responses, stats say ${after.streamed! - filled.streamed!}`
    )

    const peak = samples.reduce((max, sample) => sample.bytes > max.bytes ? sample : max, { at: 0, bytes: idle })
    const growth = peak.bytes - idle
    return {
      rows: [absolute(
        `5. Memory: peak RSS above idle, ${SLOW_CLIENTS} slow streams + cached hits`,
        `${mib(growth)} (idle ${mib(idle)}, peak ${mib(peak.bytes)})`,
        "≤ 128 MiB",
        growth <= GOAL
      )],
      notes: [
        `5. Server --cache-size 64MiB, filled with ${FILL_FILES} files of 4 MiB (stats: usedBytes ` +
        `${mib(filled.usedBytes!)} of ${mib(filled.capacityBytes!)}); idle RSS: median of 20 samples (VmRSS from ` +
        `/proc) 3 s after filling. Then ${SLOW_CLIENTS} in-process clients, each on its own connection, GET the ` +
        `1 GiB file (streamed, uncached) and read it at ${mib(PACE)}/s for ${seconds} s, then close; ` +
        `they took ${fixed(median(rates) / MiB, 2)} MiB/s each (median); ` +
        `${stalled === 0 ? "none" : `**${stalled}**`} dropped by the server as stalled` +
        `${cutOff.length === 0 ? "" : `, **${cutOff.length} cut off** (the first: ${cutOff[0]})`}. Meanwhile ` +
        `${HITTERS} clients downloaded the cached files back to back, SHA-256-checked: ${hitTimes.length} ` +
        `downloads, ${hitTimes.length > 0 ? fixed(median(hitTimes)) : "—"} ms each (median). Peak: the highest ` +
        `of the samples taken every 100 ms until 1 s after the last close, ${fixed(peak.at, 1)} s after the ` +
        `clients started; median while streaming ${mib(median(samples.map((sample) => sample.bytes)))}. ` +
        `CPU while streaming: ${describeCpu(cpu)}.`
      ]
    } satisfies Result
  })

export const memory: Scenario = { id: 5, title: "Memory", run }
