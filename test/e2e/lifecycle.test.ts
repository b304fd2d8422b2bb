/**
 * The server's life as a process: how it refuses to start, how it stops on SIGTERM with a transfer in
 * flight, and what both binaries say about themselves.
 */
import { describe, expect, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { createHash } from "node:crypto"
import * as path from "node:path"
import packageJson from "../../package.json" with { type: "json" }
import * as Codec from "../../src/protocol/Codec.js"
import {
  BigFile,
  bigFile,
  bounded,
  CLIENT_BIN,
  expectOneLine,
  isRefused,
  lines,
  listDir,
  MiB,
  occupiedPort,
  runBinary,
  runClient,
  runServer,
  type Server,
  SERVER_BIN,
  startServer,
  tempDir,
  writeRandomFile
} from "./harness.js"
import { getRequest, listRequest, rawConnect, readFailureFrame, readFetched, readListing } from "./rawProtocol.js"

describe("server start-up failures", () => {
  it.scopedLive("a port already in use exits 4", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const port = yield* occupiedPort
      const ran = yield* runServer(["127.0.0.1", port, dir])
      expect(ran.code, ran.stderr).toBe(4)
      expectOneLine(ran.stderr)
      expect(ran.stderr).toContain(String(port))
    }))

  it.scopedLive("a --metrics port already in use exits 4, and the line names --metrics", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const port = yield* occupiedPort
      const ran = yield* runServer(["127.0.0.1", 0, dir, "--metrics", `127.0.0.1:${port}`])
      expect(ran.code, ran.stderr).toBe(4)
      expectOneLine(ran.stderr)
      expect(ran.stderr).toContain(`--metrics 127.0.0.1:${port} is already in use`)
    }))

  it.scopedLive("a missing DIR exits 3", () =>
    Effect.gen(function*() {
      const dir = path.join(yield* tempDir(), "missing")
      const ran = yield* runServer(["127.0.0.1", 0, dir])
      expect(ran.code, ran.stderr).toBe(3)
      expectOneLine(ran.stderr)
    }))

  it.scopedLive("a DIR that is a regular file exits 3", () =>
    Effect.gen(function*() {
      const file = path.join(yield* tempDir(), "a-file")
      yield* writeRandomFile(file, 10)
      const ran = yield* runServer(["127.0.0.1", 0, file])
      expect(ran.code, ran.stderr).toBe(3)
      expectOneLine(ran.stderr)
    }))

  it.scopedLive.each([
    ["--cache-size", "banana"],
    ["--cache-size", "0"],
    ["--max-connections", "0"],
    ["--grace-period", "soon"],
    ["--log-format", "xml"]
  ])("%s %s exits 2", (option) =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const ran = yield* runServer(["127.0.0.1", 0, dir, ...option])
      expect(ran.code, ran.stderr).toBe(2)
      expectOneLine(ran.stderr)
    }))

  it.scopedLive("port 70000 exits 2", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const ran = yield* runServer(["127.0.0.1", 70000, dir])
      expect(ran.code, ran.stderr).toBe(2)
      expectOneLine(ran.stderr)
    }))
})

// Well beyond what loopback socket buffers can hold (up to 32 MiB + 4 MiB here), so that a client
// that stops reading holds the server in the middle of the transfer.
const BIG = 96 * MiB

// Built without the test services: these tests run on real time, like `it.live`.
layer(bigFile(BIG), { excludeTestServices: true })("SIGTERM", (it) => {
  it.scoped.each([
    { from: "streamed from disk", cache: "bypass", args: [] },
    { from: "cached in memory", cache: "miss", args: ["--cache-size", "128MiB"] }
  ])(
    "a transfer in flight, $from, completes, new connections are refused, the server exits 0",
    ({ args, cache }) =>
      Effect.gen(function*() {
        const { dir, sha256 } = yield* BigFile
        const server = yield* startServer(dir, [...args, "--grace-period", "60 seconds"])
        const connection = yield* rawConnect(server.port)
        // SHA-256 only, so that the trailer can be checked against the file's own SHA-256.
        yield* connection.write(getRequest("big.bin", ["sha256"]))
        const response = yield* Codec.readResponse(connection.reader, Codec.Kind.Get)
        expect(response).toMatchObject({ _tag: "File", size: BIG, digest: "sha256", start: 0 })
        // The client now reads nothing: the server is stuck in the middle of the body.

        server.process.kill("SIGTERM")
        // Logged once the server has stopped listening, when it starts waiting for the transfers in flight.
        yield* server.waitForStderr((log) => log.match(/shutting down: waiting for 1 connection/)?.[0]).pipe(
          bounded("10 seconds", "waiting for the server to start shutting down")
        )
        expect(yield* isRefused(server.port), "new connections are refused").toBe(true)
        expect(server.hasExited(), "the server waits for the transfer in flight").toBe(false)

        const hash = createHash("sha256")
        let received = 0
        const trailer = yield* Codec.readBody(connection.reader, { size: BIG, digest: "sha256", start: 0 }, (bytes) =>
          Effect.sync(() => {
            hash.update(bytes)
            received += bytes.length
          })).pipe(bounded("30 seconds", "reading the rest of the file"))
        expect(received).toBe(BIG)
        expect(trailer._tag).toBe("Complete")
        const digest = hash.digest("hex")
        expect(digest).toBe(sha256)
        if (trailer._tag === "Complete") {
          expect(Buffer.from(trailer.digest).toString("hex")).toBe(digest)
        }

        // Its response complete, the connection is closed rather than kept for another request.
        expect(yield* connection.reader.atEnd.pipe(bounded("10 seconds", "waiting for the connection to close"))).toBe(
          true
        )
        const exited = yield* server.exited.pipe(bounded("10 seconds", "waiting for the server to exit"))
        expect(exited, server.stderr()).toEqual({ code: 0, signal: null })
        expect(server.stderr(), "the file went the way the test meant").toMatch(
          new RegExp(`GET big\\.bin .*cache=${cache}`)
        )
      })
  )

  it.scoped("an idle connection does not hold the shutdown back: it is closed and the server exits 0", () =>
    Effect.gen(function*() {
      const { dir } = yield* BigFile
      // A grace period far longer than the wait below: only closing the idle connection at once passes.
      const server = yield* startServer(dir, ["--grace-period", "60 seconds"])
      const idle = yield* rawConnect(server.port)
      yield* idle.write(listRequest)
      expect((yield* readListing(idle.reader))._tag).toBe("Listing")

      server.process.kill("SIGTERM")
      const exited = yield* server.exited.pipe(bounded("10 seconds", "waiting for the server to exit"))
      expect(exited, server.stderr()).toEqual({ code: 0, signal: null })
      expect(yield* idle.reader.atEnd).toBe(true)
    }))

  it.scoped("with a 200 ms grace period, a client that stops reading is cut off and the server exits 0", () =>
    Effect.gen(function*() {
      const { dir } = yield* BigFile
      const server = yield* startServer(dir, ["--grace-period", "200 millis"])
      const connection = yield* rawConnect(server.port)
      yield* connection.write(getRequest("big.bin"))
      const response = yield* Codec.readResponse(connection.reader, Codec.Kind.Get)
      expect(response).toMatchObject({ _tag: "File", size: BIG, digest: "xxh3-128", start: 0 })

      server.process.kill("SIGTERM")
      const exited = yield* server.exited.pipe(bounded("10 seconds", "waiting for the server to exit"))
      expect(exited, server.stderr()).toEqual({ code: 0, signal: null })

      // What the kernel had buffered can still be read, but the file never completes.
      const rest = yield* Effect.either(
        Codec.readBody(connection.reader, { size: BIG, digest: "xxh3-128", start: 0 }, () => Effect.void)
      ).pipe(
        bounded("10 seconds", "reading what was sent before the cut")
      )
      expect(Either.isLeft(rest), "the transfer was cut off").toBe(true)
    }))
})

describe("server options", () => {
  it.scopedLive("--max-connections 1: one more connection is answered BUSY and closed, the client exits 8", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const sha256 = yield* writeRandomFile(path.join(dir, "ok.txt"), 100)
      const server = yield* startServer(dir, ["--max-connections", "1"])
      const first = yield* rawConnect(server.port)
      yield* first.write(getRequest("ok.txt"))
      // Answered: the first connection now holds the only slot.
      expect(yield* readFetched(first.reader)).toMatchObject({ _tag: "File" })

      const second = yield* rawConnect(server.port)
      const busy = yield* readFailureFrame(second.reader).pipe(bounded("5 seconds", "waiting for BUSY"))
      expect(busy).toMatchObject({ status: Codec.Status.Busy, kind: 0 })
      expect(yield* second.reader.atEnd.pipe(bounded("5 seconds", "waiting for the close"))).toBe(true)

      const dest = yield* tempDir()
      // Without retries: a busy server is otherwise tried again, and this one is busy for as long as `first` stays.
      const ran = yield* runClient(["127.0.0.1", server.port, "ok.txt", dest, "--retries", "0"])
      expect(ran.code, ran.stderr).toBe(8)
      expectOneLine(ran.stderr)
      expect(yield* listDir(dest)).toEqual([])

      // The first connection is still served.
      yield* first.write(getRequest("ok.txt"))
      const again = yield* readFetched(first.reader)
      expect(again._tag === "File" && createHash("sha256").update(again.bytes).digest("hex")).toBe(sha256)
    }))

  it.scopedLive("--log-format json: every log line is a JSON object, the listening line included", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      yield* writeRandomFile(path.join(dir, "ok.txt"), 100)
      const server = yield* startServer(dir, ["--log-format", "json"])
      const dest = yield* tempDir()
      const ran = yield* runClient(["127.0.0.1", server.port, "ok.txt", dest, "-q"])
      expect(ran.code, ran.stderr).toBe(0)
      const log = yield* server.waitForStderr((log) => log.includes("GET ok.txt") ? log : undefined).pipe(
        bounded("10 seconds", "waiting for the request's log line")
      )
      const entries = lines(log).map((line) => JSON.parse(line) as { message: unknown; logLevel: unknown })
      expect(entries).toContainEqual(
        expect.objectContaining({ message: `listening on 127.0.0.1:${server.port}`, logLevel: "INFO" })
      )
      expect(entries).toContainEqual(expect.objectContaining({ message: "GET ok.txt", logLevel: "INFO" }))
    }))
})

describe("server settings from the environment", () => {
  it.scopedLive("FERRY_* variables set the options, and the command line wins over them", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const listening = (server: Server) => lines(server.stderr()).find((line) => line.includes("listening on"))
      const fromEnvironment = yield* startServer(dir, [], {
        env: { FERRY_CACHE_SIZE: "1MiB", FERRY_MAX_CONNECTIONS: "7", FERRY_LOG_FORMAT: "json" }
      })
      expect(JSON.parse(listening(fromEnvironment)!)).toMatchObject({
        annotations: { cache: "1 MiB", maxConnections: 7 }
      })
      const overridden = yield* startServer(dir, ["--cache-size", "2MiB", "--log-format", "text"], {
        env: { FERRY_CACHE_SIZE: "1MiB", FERRY_LOG_FORMAT: "json" }
      })
      expect(listening(overridden)).toMatch(/cache="2 MiB"/)
    }))

  it.scopedLive("FERRY_LOG_LEVEL sets the level, and --log-level wins over it", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      // At debug level, a client that goes away is logged; at the default level it is not.
      const hangUp = (server: Server) =>
        Effect.scoped(Effect.flatMap(rawConnect(server.port), (c) => c.write(getRequest(""))))
      const debug = yield* startServer(dir, [], { env: { FERRY_LOG_LEVEL: "debug" } })
      yield* hangUp(debug)
      yield* debug.waitForStderr((log) => log.includes("DEBUG") ? true : undefined).pipe(
        bounded("10 seconds", "waiting for a debug line")
      )
      const info = yield* startServer(dir, ["--log-level", "info"], { env: { FERRY_LOG_LEVEL: "debug" } })
      yield* hangUp(info)
      yield* info.waitForStderr((log) => log.includes("bad request") ? true : undefined).pipe(
        bounded("10 seconds", "waiting for the bad request's line")
      )
      expect(info.stderr()).not.toContain("DEBUG")
    }))
})

/** Help text without the terminal styling @effect/cli adds. */
const plain = (text: string) => text.replace(/\x1b\[[0-9;]*m/g, "")

describe("--help and --version", () => {
  it.live("the client's --help exits 0 and lists its exit codes", () =>
    Effect.gen(function*() {
      const ran = yield* runBinary(CLIENT_BIN, ["--help"])
      expect(ran.code, ran.stderr).toBe(0)
      const help = plain(ran.stdout)
      expect(help).toContain("Exit codes")
      for (
        const line of [
          /^\s*0\s+success/m,
          /^\s*2\s+invalid arguments/m,
          /^\s*3\s+the server has no such file/m,
          /^\s*4\s+cannot connect/m,
          /^\s*7\s+cannot write into the destination/m
        ]
      ) expect(help).toMatch(line)
      for (let code = 0; code <= 9; code++) expect(help).toMatch(new RegExp(`^\\s*${code}\\s+\\S`, "m"))
    }))

  it.live("the server's --help exits 0 and lists its exit codes", () =>
    Effect.gen(function*() {
      const ran = yield* runBinary(SERVER_BIN, ["--help"])
      expect(ran.code, ran.stderr).toBe(0)
      const help = plain(ran.stdout)
      expect(help).toContain("Exit codes")
      for (
        const line of [
          /^\s*0\s+stopped by SIGINT or SIGTERM/m,
          /^\s*2\s+invalid arguments/m,
          /^\s*3\s+DIR is missing/m,
          /^\s*4\s+cannot listen/m
        ]
      ) expect(help).toMatch(line)
    }))

  it.live.each([["client", CLIENT_BIN], ["server", SERVER_BIN]])(
    "the %s's --version prints the package version",
    ([, bin]) =>
      Effect.gen(function*() {
        const ran = yield* runBinary(bin!, ["--version"])
        expect(ran.code, ran.stderr).toBe(0)
        expect(ran.stdout.trim()).toBe(packageJson.version)
      })
  )
})
