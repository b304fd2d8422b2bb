/**
 * The server's rate limits and per-client connection limit with the built binaries: a download held
 * to `--rate-limit` and never dropped as stalled for it, `--total-rate-limit` shared evenly between
 * concurrent clients, and one connection too many from an address turned away.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Net from "node:net"
import * as path from "node:path"
import { performance } from "node:perf_hooks"
import * as ByteReader from "../../src/protocol/ByteReader.js"
import {
  bounded,
  HOST,
  MiB,
  runClient,
  type Server,
  sha256 as sha256Of,
  sha256File,
  startServer,
  tempDir,
  writeRandomFile
} from "./harness.js"
import { askStats, getRequest, rawConnect, readFetched, readStats, statsRequest } from "./rawProtocol.js"

/** `stat NAME` with the client: the server loads the file into its cache and hashes it, sending little. */
const prime = (server: Server, name: string) =>
  Effect.map(runClient([HOST, server.port, "stat", name]), (ran) => expect(ran.code, ran.stderr).toBe(0))

/** Downloads `name` with the client binary: its exit, and its wall time from spawn to exit, in seconds. */
const timedDownload = (server: Server, name: string, dest: string, extra: ReadonlyArray<string> = []) =>
  Effect.gen(function*() {
    const started = performance.now()
    const ran = yield* runClient([HOST, server.port, name, dest, "-q", ...extra])
    return { ran, seconds: (performance.now() - started) / 1000 }
  })

describe("--rate-limit", () => {
  it.scopedLive(
    "holds a 50 MiB download to 10MiB a second, and a 1 second stall timeout never drops it",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir()
        const sha256 = yield* writeRandomFile(path.join(dir, "big.bin"), 50 * MiB)
        const server = yield* startServer(dir, ["--rate-limit", "10MiB", "--stall-timeout", "1 second"])
        // Cached beforehand, so that the time is the limit's, not the disk's.
        yield* prime(server, "big.bin")
        const dest = yield* tempDir("ferry-e2e-dest-")
        const { ran, seconds } = yield* timedDownload(server, "big.bin", dest)
        expect(ran.code, ran.stderr).toBe(0)
        expect(yield* sha256File(path.join(dest, "big.bin"))).toBe(sha256)
        // 5 s at the limit, the client's start-up included.
        expect(seconds, `${seconds.toFixed(2)} s`).toBeGreaterThanOrEqual(4.5)
        expect(seconds, `${seconds.toFixed(2)} s`).toBeLessThanOrEqual(6.5)
        expect(yield* askStats(server.port)).toMatchObject({ stalls: 0, hits: 1, bytesServed: 50 * MiB })
      }),
    30_000
  )

  it.scopedLive(
    "paces a file streamed from disk too, and a 1 second stall timeout never drops it",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir()
        const sha256 = yield* writeRandomFile(path.join(dir, "streamed.bin"), 20 * MiB)
        const server = yield* startServer(dir, [
          "--rate-limit",
          "10MiB",
          "--stall-timeout",
          "1 second",
          "--cache-size",
          "1MiB"
        ])
        const dest = yield* tempDir("ferry-e2e-dest-")
        const { ran } = yield* timedDownload(server, "streamed.bin", dest)
        expect(ran.code, ran.stderr).toBe(0)
        expect(yield* sha256File(path.join(dest, "streamed.bin"))).toBe(sha256)
        expect(yield* askStats(server.port)).toMatchObject({ stalls: 0, streamed: 1, bytesServed: 20 * MiB })
      }),
    30_000
  )
})

/**
 * A client that reads as fast as bytes arrive, on a connection opened beforehand: `download` sends a
 * GET for `name`, ends its side, and gives the bytes that came back.
 */
const fastClient = (port: number) =>
  Effect.map(
    Effect.acquireRelease(
      Effect.async<Net.Socket>((resume) => {
        const socket = Net.createConnection({ host: HOST, port }, () => resume(Effect.succeed(socket)))
      }),
      (socket) => Effect.sync(() => socket.destroy())
    ),
    (socket) => ({
      download: (name: string) =>
        Effect.async<Array<Uint8Array>, Error>((resume) => {
          const received: Array<Uint8Array> = []
          socket.on("data", (chunk: Buffer) => received.push(chunk))
          socket.once("end", () => resume(Effect.succeed(received)))
          socket.once("error", (error) => resume(Effect.fail(error)))
          socket.end(getRequest(name))
        })
    })
  )

/** The body of a file response, checked complete. */
const bodyOf = (received: ReadonlyArray<Uint8Array>) =>
  Effect.map(readFetched(ByteReader.fromChunks(received)), (fetched) => {
    expect(fetched).toMatchObject({ _tag: "File", trailer: { _tag: "Complete" } })
    return fetched._tag === "File" ? fetched.bytes : Buffer.alloc(0)
  })

/** The duration and bytes of each logged GET of shared.bin, whatever the order of its fields. */
const servedGets = (stderr: string) =>
  stderr.split("\n").filter((line) => /\bGET shared\.bin /.test(line)).map((line) => ({
    ms: Number(/\bms=(\d+)/.exec(line)?.[1]),
    bytes: Number(/\bbytes=(\d+)/.exec(line)?.[1])
  }))

describe("--total-rate-limit", () => {
  // Clients in this process, their GETs sent together (client processes' start-up on a shared machine
  // varies by seconds), each one's throughput as the server gave it: its bytes over the time from its
  // request to its last byte handed to the kernel, from the server's log. Timed here instead, it
  // would be how promptly this process, on the same busy cores, reads each connection.
  it.scopedLive(
    "shares 20MiB a second between four clients downloading 20 MiB each, within 25% of each other",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir()
        const sha256 = yield* writeRandomFile(path.join(dir, "shared.bin"), 20 * MiB)
        const server = yield* startServer(dir, ["--total-rate-limit", "20MiB"])
        yield* prime(server, "shared.bin")
        const clients = yield* Effect.all(Array.from({ length: 4 }, () => fastClient(server.port)))
        const downloads = yield* Effect.forEach(clients, (client) => client.download("shared.bin"), {
          concurrency: "unbounded"
        })
        for (const received of downloads) expect(sha256Of(yield* bodyOf(received))).toBe(sha256)
        const served = yield* server.waitForStderr((stderr) => {
          const lines = servedGets(stderr)
          return lines.length === 4 ? lines : undefined
        }).pipe(Effect.orDie, bounded("5 seconds", "waiting for the four GETs' log lines"))
        // MiB a second.
        const throughputs = served.map(({ bytes, ms }) => bytes / MiB / (ms / 1000))
        const shown = throughputs.map((mibPerSecond) => `${mibPerSecond.toFixed(2)} MiB/s`).join(", ")
        expect(Math.max(...throughputs) / Math.min(...throughputs), shown).toBeLessThanOrEqual(1.25)
      }),
    40_000
  )
})

describe("--max-connections-per-client", () => {
  it.scopedLive("turns away a second connection from 127.0.0.1 with BUSY: the client exits 8", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      yield* writeRandomFile(path.join(dir, "ok.txt"), 100)
      const server = yield* startServer(dir, ["--max-connections-per-client", "1"])
      const first = yield* rawConnect(server.port)
      yield* first.write(getRequest("ok.txt"))
      // Answered: the first connection now holds the address's only slot.
      expect(yield* readFetched(first.reader)).toMatchObject({ _tag: "File" })

      const dest = yield* tempDir("ferry-e2e-dest-")
      const { ran } = yield* timedDownload(server, "ok.txt", dest, ["--retries", "0"])
      expect(ran.code, ran.stderr).toBe(8)
      expect(ran.stderr).toMatch(/busy/i)

      // Asked on the connection that holds the slot: a new one would be turned away too.
      yield* first.write(statsRequest)
      expect(yield* readStats(first.reader)).toMatchObject({ turnedAway: 1, connections: 2, activeConnections: 1 })
    }))
})
