/**
 * `--workers 2`, with the built binary: both workers' ports serve the files, a worker killed with
 * SIGKILL is restarted while a download on the other goes on, `stats` of one worker speaks for both,
 * SIGTERM drains both and the primary exits 0, and what stops it from starting at all.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { createHash } from "node:crypto"
import * as path from "node:path"
import * as Codec from "../../src/protocol/Codec.js"
import {
  bounded,
  expectOneLine,
  HOST,
  MiB,
  occupiedPort,
  runClient,
  runServer,
  type Server,
  sha256File,
  startServer,
  tempDir,
  workersOf,
  writeRandomFile
} from "./harness.js"
import { getRequest, rawConnect } from "./rawProtocol.js"

const waitForLine = (server: Server, pattern: RegExp, what: string) =>
  server.waitForStderr((log) => pattern.exec(log)?.[0]).pipe(Effect.orDie, bounded("15 seconds", what))

/** Downloads `name` from `port` into a new directory and returns the SHA-256 of what arrived. */
const download = (port: number, name: string) =>
  Effect.gen(function*() {
    const dest = yield* tempDir()
    const ran = yield* runClient([HOST, port, name, dest, "-q"])
    expect(ran.code, ran.stderr).toBe(0)
    return yield* sha256File(path.join(dest, name))
  })

const statsOf = (port: number) =>
  Effect.gen(function*() {
    const ran = yield* runClient([HOST, port, "stats", "--json"])
    expect(ran.code, ran.stderr).toBe(0)
    return JSON.parse(ran.stdout) as Record<string, number>
  })

describe("--workers 2", () => {
  it.scopedLive("each worker's port serves the files, and stats of either one counts both", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const sha256 = yield* writeRandomFile(path.join(dir, "a.bin"), 300_000)
      const server = yield* startServer(dir, ["--workers", "2", "--cache-size", "8MiB"])
      const { ports } = yield* workersOf(server)
      expect(ports).toHaveLength(2)
      expect(ports[0]).toBe(server.port)
      expect(ports[0]).not.toBe(ports[1])
      for (const port of ports) expect(yield* download(port, "a.bin")).toBe(sha256)

      // Each worker has its own cache, of half the size: the file is loaded into each.
      expect(server.stderr()).toMatch(/listening on 127\.0\.0\.1:\d+ .*cache="4 MiB".*worker=1/)
      for (const port of ports) {
        const stats = yield* statsOf(port)
        expect(stats).toMatchObject({ workers: 2, loads: 2, entries: 2, capacityBytes: 8 * MiB })
        expect(stats.requests).toBeGreaterThanOrEqual(2)
      }
    }))

  it.scopedLive(
    "a worker killed with SIGKILL is restarted on its port while a download on the other finishes; SIGTERM drains both and the primary exits 0",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir()
        const size = 20 * MiB
        const sha256 = yield* writeRandomFile(path.join(dir, "big.bin"), size)
        yield* writeRandomFile(path.join(dir, "small.bin"), 1000)
        // At 5 MiB a second the big file takes about 4 seconds: it is in flight across the kill and the restart.
        const server = yield* startServer(dir, [
          "--workers",
          "2",
          "--rate-limit",
          "5MiB",
          "--grace-period",
          "60 seconds"
        ])
        const { pids, ports } = yield* workersOf(server)

        const connection = yield* rawConnect(ports[0]!)
        yield* connection.write(getRequest("big.bin", ["sha256"]))
        const head = yield* Codec.readResponse(connection.reader, Codec.Kind.Get)
        expect(head).toMatchObject({ _tag: "File", size, digest: "sha256", start: 0 })
        const hash = createHash("sha256")
        const reading = yield* Effect.fork(
          Codec.readBody(
            connection.reader,
            { size, digest: "sha256", start: 0 },
            (bytes) => Effect.sync(() => void hash.update(bytes))
          )
        )

        process.kill(pids[1]!, "SIGKILL")
        yield* waitForLine(server, /worker 1 exited: signal SIGKILL/, "waiting for the primary to see the kill")
        yield* waitForLine(
          server,
          new RegExp(`worker 1 restarted on 127\\.0\\.0\\.1:${ports[1]}`),
          "waiting for the restart"
        )
        yield* download(ports[1]!, "small.bin")

        const trailer = yield* Fiber.join(reading).pipe(bounded("30 seconds", "reading the big file"))
        expect(trailer._tag).toBe("Complete")
        expect(hash.digest("hex")).toBe(sha256)

        server.process.kill("SIGTERM")
        const exited = yield* server.exited.pipe(bounded("20 seconds", "waiting for the primary to exit"))
        expect(exited, server.stderr()).toEqual({ code: 0, signal: null })
        for (const worker of [0, 1]) expect(server.stderr()).toMatch(new RegExp(`stopped .*worker=${worker}`))
        expect(server.stderr()).toContain("all workers stopped")
      })
  )

  it.scopedLive("SIGTERM while a transfer is in flight: the worker finishes it before the primary exits 0", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const size = 4 * MiB
      const sha256 = yield* writeRandomFile(path.join(dir, "big.bin"), size)
      const server = yield* startServer(dir, ["--workers", "2", "--rate-limit", "1MiB", "--grace-period", "60 seconds"])
      const { ports } = yield* workersOf(server)
      const connection = yield* rawConnect(ports[1]!)
      yield* connection.write(getRequest("big.bin", ["sha256"]))
      expect(yield* Codec.readResponse(connection.reader, Codec.Kind.Get)).toMatchObject({ _tag: "File", size })

      server.process.kill("SIGTERM")
      yield* waitForLine(server, /shutting down: waiting for 1 connection.*worker=1/, "waiting for worker 1 to drain")
      const hash = createHash("sha256")
      const trailer = yield* Codec.readBody(
        connection.reader,
        { size, digest: "sha256", start: 0 },
        (bytes) => Effect.sync(() => void hash.update(bytes))
      ).pipe(bounded("30 seconds", "reading the rest of the file"))
      expect(trailer._tag).toBe("Complete")
      expect(hash.digest("hex")).toBe(sha256)
      const exited = yield* server.exited.pipe(bounded("20 seconds", "waiting for the primary to exit"))
      expect(exited, server.stderr()).toEqual({ code: 0, signal: null })
    }))
})

describe("--workers: refusing to start", () => {
  it.scopedLive("a worker's port already in use exits 4, with the worker's one line", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const taken = yield* occupiedPort
      const ran = yield* runServer([HOST, taken - 1, dir, "--workers", "2"])
      expect(ran.code, ran.stderr).toBe(4)
      expect(ran.stderr).toContain(String(taken))
      expect(ran.stderr.split("\n").filter((line) => line.startsWith("ferry-server:"))).toHaveLength(1)
    }))

  it.scopedLive("a missing DIR exits 3, said once", () =>
    Effect.gen(function*() {
      const dir = path.join(yield* tempDir(), "missing")
      const ran = yield* runServer([HOST, 0, dir, "--workers", "3"])
      expect(ran.code, ran.stderr).toBe(3)
      expectOneLine(ran.stderr)
    }))

  it.scopedLive.each([
    { port: 0, args: ["--workers", "0"] },
    { port: 0, args: ["--workers", "many"] },
    { port: 65535, args: ["--workers", "2"] }
  ])("PORT $port $args exits 2", ({ args, port }) =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const ran = yield* runServer([HOST, port, dir, ...args])
      expect(ran.code, ran.stderr).toBe(2)
      expectOneLine(ran.stderr)
    }))
})
