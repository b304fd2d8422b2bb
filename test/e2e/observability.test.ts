/**
 * What the server tells about itself: its statistics, through the client binary's `stats`, and its
 * request log as JSON lines, checked against a known sequence of requests.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as path from "node:path"
import * as Codec from "../../src/protocol/Codec.js"
import { bounded, MiB, runClient, sha256File, startServer, tempDir, writeRandomFile } from "./harness.js"
import { getRequest, listRequest, rawConnect, readFetched, readListing } from "./rawProtocol.js"

/** The names `stats` must show, for what the server was asked to report. */
const REQUIRED_STATS = [
  "hits",
  "misses",
  "bytesServed",
  "loads",
  "evictions",
  "entries",
  "usedBytes",
  "capacityBytes",
  "pinnedEntries",
  "locksHeld",
  "activeConnections",
  "uptimeSeconds"
]

describe("client stats", () => {
  it.scopedLive("after a miss and two hits, `stats` shows every statistic and `stats --json` the exact counts", () =>
    Effect.gen(function*() {
      const SIZE = 10_000
      const dir = yield* tempDir()
      const sha256 = yield* writeRandomFile(path.join(dir, "known.bin"), SIZE)
      const server = yield* startServer(dir, ["--cache-size", "1MiB"])
      for (let i = 0; i < 3; i++) {
        const dest = yield* tempDir("ferry-e2e-dest-")
        const ran = yield* runClient(["127.0.0.1", server.port, "known.bin", dest, "-q"])
        expect(ran.code, ran.stderr).toBe(0)
        expect(yield* sha256File(path.join(dest, "known.bin"))).toBe(sha256)
      }

      const text = yield* runClient(["127.0.0.1", server.port, "stats"])
      expect(text.code, text.stderr).toBe(0)
      expect(text.stderr).toBe("")
      const shown = text.stdout.trimEnd().split("\n").map((line) => {
        const match = /^(\S+) {2,}(\S.*)$/.exec(line)
        expect(match, `"name  value" line: ${JSON.stringify(line)}`).not.toBeNull()
        return [match![1]!, match![2]!] as const
      })
      const names = shown.map(([name]) => name)
      expect(new Set(names).size, "each statistic once").toBe(names.length)
      expect(names).toEqual(expect.arrayContaining(REQUIRED_STATS))
      const values = Object.fromEntries(shown)
      expect(values).toMatchObject({ hits: "2", misses: "1", loads: "1", evictions: "0", entries: "1" })
      // Byte counts readable, with the exact number beside them.
      expect(values.bytesServed).toMatch(new RegExp(`\\(${3 * SIZE}\\)$`))
      expect(values.capacityBytes).toBe(`1 MiB (${MiB})`)
      expect(values.uptimeSeconds).toMatch(/^(\d+[dhm] )*\d+s$/)

      const json = yield* runClient(["127.0.0.1", server.port, "stats", "--json"])
      expect(json.code, json.stderr).toBe(0)
      const stats = JSON.parse(json.stdout) as Record<string, unknown>
      expect(Object.keys(stats)).toEqual(expect.arrayContaining(REQUIRED_STATS))
      for (const [name, value] of Object.entries(stats)) expect(typeof value, name).toBe("number")
      expect(stats).toMatchObject({
        hits: 2,
        misses: 1,
        loads: 1,
        streamed: 0,
        bytesServed: 3 * SIZE,
        evictions: 0,
        entries: 1,
        usedBytes: SIZE,
        capacityBytes: MiB,
        pinnedEntries: 0,
        locksHeld: 0,
        openFiles: 0,
        failures: 0,
        // The three downloads and the text `stats`; this one is counted once answered.
        requests: 4,
        activeConnections: 1
      })
      expect(stats.uptimeSeconds).toBeGreaterThanOrEqual(0)
    }))
})

interface LogLine {
  readonly message: string
  readonly logLevel: string
  readonly annotations: Readonly<Record<string, unknown>>
}

/** Every complete line of a JSON log, parsed: a line that is not JSON fails the test. */
const logLines = (stderr: string): Array<LogLine> =>
  stderr.split("\n").slice(0, -1).map((line) => JSON.parse(line) as LogLine)

describe("request log", () => {
  it.scopedLive("--log-format json: one line per request with its client, name, status, bytes, duration, cache", () =>
    Effect.gen(function*() {
      const SMALL = 1000
      const LARGE = 2 * MiB
      const dir = yield* tempDir()
      yield* writeRandomFile(path.join(dir, "small.txt"), SMALL)
      yield* writeRandomFile(path.join(dir, "large.bin"), LARGE)
      // The large file does not fit in the cache: it is streamed past it.
      const server = yield* startServer(dir, ["--log-format", "json", "--cache-size", "1MiB"])

      const connection = yield* rawConnect(server.port)
      const client = `${connection.socket.localAddress}:${connection.socket.localPort}`
      const requests = ["small.txt", "small.txt", "large.bin", "missing.txt"]
      for (const name of requests) {
        yield* connection.write(getRequest(name))
        yield* readFetched(connection.reader)
      }
      // Requests on one connection are answered, and logged, in order: once the LIST is logged, all are.
      yield* connection.write(listRequest)
      yield* readListing(connection.reader)
      const log = yield* server.waitForStderr((log) =>
        logLines(log).some((line) => line.message === "LIST") ? log : undefined
      ).pipe(bounded("10 seconds", "waiting for the LIST's log line"))

      const lines = logLines(log)
      const requestLines = lines.filter((line) => line.message.startsWith("GET ") || line.message === "LIST")
      expect(requestLines.map((line) => line.message)).toEqual([...requests.map((name) => `GET ${name}`), "LIST"])
      for (const line of requestLines) {
        expect(line.logLevel).toBe("INFO")
        expect(line.annotations, line.message).toMatchObject({ client, ms: expect.any(Number) })
        expect(line.annotations.ms as number).toBeGreaterThanOrEqual(0)
      }
      const [miss, hit, bypass, missing, list] = requestLines.map((line) => line.annotations)
      expect(miss).toMatchObject({ status: "Ok", bytes: SMALL, cache: "miss" })
      expect(hit).toMatchObject({ status: "Ok", bytes: SMALL, cache: "hit" })
      expect(bypass).toMatchObject({ status: "Ok", bytes: LARGE, cache: "bypass" })
      expect(missing).toMatchObject({ status: Codec.statusName(Codec.Status.NotFound), bytes: 0 })
      expect(missing).not.toHaveProperty("cache")
      expect(list).toMatchObject({ status: "Ok", bytes: 0 })
      expect(list).not.toHaveProperty("cache")
    }))

  it.scopedLive("a GET whose client goes away mid-transfer still gets its one line, with the bytes it was sent", () =>
    Effect.gen(function*() {
      // Far more than the loopback socket buffers hold: the server is still sending when the client goes.
      const BIG = 48 * MiB
      const dir = yield* tempDir()
      yield* writeRandomFile(path.join(dir, "big.bin"), BIG)
      const server = yield* startServer(dir, ["--log-format", "json", "--cache-size", "1MiB"])

      const connection = yield* rawConnect(server.port)
      const client = `${connection.socket.localAddress}:${connection.socket.localPort}`
      yield* connection.write(getRequest("big.bin"))
      expect(yield* Codec.readResponse(connection.reader, Codec.Kind.Get)).toMatchObject({
        _tag: "File",
        size: BIG,
        digest: "xxh3-128",
        start: 0
      })
      yield* connection.reader.exactly(MiB)
      connection.socket.resetAndDestroy()

      const found = yield* server.waitForStderr((log) => logLines(log).find((line) => line.message === "GET big.bin"))
        .pipe(Effect.orDie, Effect.timeoutOption("10 seconds"))
      expect(Option.isSome(found), `no line for the GET cut short within 10 s; the log:\n${server.stderr()}`).toBe(true)
      const line = Option.getOrThrow(found)
      expect(logLines(server.stderr()).filter((line) => line.message === "GET big.bin")).toHaveLength(1)
      expect(line.annotations).toMatchObject({ client, cache: "bypass", ms: expect.any(Number) })
      expect(line.annotations).toHaveProperty("status")
      expect(line.annotations.bytes as number).toBeLessThan(BIG)
    }))
})
