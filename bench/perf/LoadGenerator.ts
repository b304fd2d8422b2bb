/**
 * The ferry load generator of scenario 3, in process: connections that each send GET after GET on one
 * persistent connection, cycling through a set of files, every response read whole with the project's
 * codec and its trailer checked against the source's digest; one response in `rehashEvery` (counted
 * over all connections) has its body hashed too. Requests are counted for `seconds` after a warm-up.
 */
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Fetch from "./Fetch.js"
import { cpuTimes, type CpuUse } from "./Processes.js"
import type { SourceFile } from "./Workspace.js"

export interface Load {
  readonly port: number
  /** The server's process, whose CPU is measured over the counted span. */
  readonly serverPid: number
  readonly files: ReadonlyArray<SourceFile>
  readonly connections: number
  readonly warmupSeconds: number
  readonly seconds: number
  readonly rehashEvery: number
}

export interface Measured {
  readonly requests: number
  readonly seconds: number
  readonly rehashed: number
  /** The CPU the server and this harness (the load generator) used over the counted span. */
  readonly cpu: CpuUse
}

export const generate = (load: Load) =>
  Effect.gen(function*() {
    let phase: "warm-up" | "measure" | "stop" = "warm-up"
    let requests = 0
    let rehashed = 0
    let sent = 0
    // Connections start at different places in the list, so that they do not ask in lockstep.
    const step = Math.max(1, Math.floor(load.files.length / load.connections))

    const connection = (index: number) =>
      Effect.scoped(Effect.gen(function*() {
        const session = yield* Fetch.session(load.port)
        let next = index * step
        while (phase !== "stop") {
          const hash = ++sent % load.rehashEvery === 0
          yield* Fetch.get(session, load.files[next++ % load.files.length]!, { hash })
          if (phase === "measure") {
            requests++
            if (hash) rehashed++
          }
        }
      }))

    const running = yield* Effect.fork(
      Effect.forEach(Array.from({ length: load.connections }, (_, i) => i), connection, {
        concurrency: "unbounded",
        discard: true
      })
    )
    yield* Effect.sleep(`${load.warmupSeconds} seconds`)
    phase = "measure"
    const before = yield* cpuTimes(load.serverPid)
    const started = performance.now()
    yield* Effect.sleep(`${load.seconds} seconds`)
    phase = "stop"
    const seconds = (performance.now() - started) / 1000
    const after = yield* cpuTimes(load.serverPid)
    yield* Fiber.join(running)
    const cpu = { process: after.process - before.process, harness: after.harness - before.harness, wall: seconds }
    return { requests, seconds, rehashed, cpu } satisfies Measured
  })
