/**
 * The server's limits with real sockets: many idle connections, a request that arrives too slowly,
 * a client that stops reading, one connection too many. Each ends with the server still serving and
 * nothing left held.
 */
import { describe, expect, it, layer } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import { createHash } from "node:crypto"
import * as path from "node:path"
import * as Codec from "../../src/protocol/Codec.js"
import {
  BigFile,
  bigFile,
  bounded,
  MiB,
  runClient,
  type Server,
  sha256File,
  startServer,
  tempDir,
  writeRandomFile
} from "./harness.js"
import {
  askStats,
  getRequest,
  rawConnect,
  type RawConnection,
  readFailureFrame,
  readFetched,
  readStats,
  statsRequest
} from "./rawProtocol.js"

/** Downloads `name` with the client binary and checks that the saved file has the right bytes. */
const downloads = (server: Server, name: string, sha256: string) =>
  Effect.gen(function*() {
    const dest = yield* tempDir("ferry-e2e-dest-")
    const ran = yield* runClient(["127.0.0.1", server.port, name, dest, "-q"])
    expect(ran.code, ran.stderr).toBe(0)
    expect(yield* sha256File(path.join(dest, path.basename(name)))).toBe(sha256)
  })

describe("idle connections", () => {
  const IDLE = 1000
  const BATCH = 200

  it.scopedLive(`${IDLE} idle connections do not stop the server serving, and are all closed at the deadline`, () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const sha256 = yield* writeRandomFile(path.join(dir, "ok.bin"), 100_000)
      // The default --max-connections (1024) leaves room for the idle ones, a download and a STATS.
      const server = yield* startServer(dir, ["--request-timeout", "3 seconds"])

      // In batches well under the listen backlog (511): Node accepts one connection per turn of its event loop, so
      // a burst of 1000 overflows the backlog, and the kernel drops connections to be retried a second later. A
      // STATS answered after a batch means that the server has accepted the whole batch, ahead of it in the queue.
      const idle = yield* Effect.forEach(Array.from({ length: IDLE / BATCH }), () =>
        Effect.zipLeft(
          Effect.forEach(Array.from({ length: BATCH }), () => rawConnect(server.port), { concurrency: "unbounded" }),
          askStats(server.port)
        )).pipe(Effect.map((batches) => batches.flat()), bounded("20 seconds", `opening ${IDLE} connections`))

      yield* downloads(server, "ok.bin", sha256)
      const during = yield* askStats(server.port)
      // Every idle connection is still open (none has timed out yet), plus the STATS connection itself.
      expect(during.timeouts, "the idle connections were all open during the download").toBe(0)
      expect(during.activeConnections).toBeGreaterThanOrEqual(IDLE + 1)

      // Each one is closed by the server: it reads the end of the stream, not a byte before it.
      const closed = yield* Effect.forEach(idle, (connection) => connection.reader.atEnd, {
        concurrency: "unbounded"
      }).pipe(bounded("30 seconds", `waiting for the server to close the ${IDLE} idle connections`))
      expect(closed.filter((atEnd) => !atEnd)).toEqual([])

      const after = yield* askStats(server.port)
      expect(after.timeouts).toBeGreaterThanOrEqual(IDLE)
      expect(after.activeConnections, "only the STATS connection is left").toBe(1)
      yield* downloads(server, "ok.bin", sha256)
    }))
})

describe("request deadline", () => {
  it.scopedLive("a request trickled a byte at a time past the deadline gets TIMEOUT and is closed", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const sha256 = yield* writeRandomFile(path.join(dir, "ok.txt"), 1000)
      const server = yield* startServer(dir, ["--request-timeout", "1 second"])

      // A byte every 200 ms: each well within the deadline, the whole request (68 bytes) far beyond it.
      const request = getRequest("a-name-long-enough-for-its-request-to-take-many-seconds.txt")
      const connection = yield* rawConnect(server.port)
      const trickle = yield* Effect.forEach(
        request,
        (byte) => Effect.zipRight(connection.write(Uint8Array.of(byte)), Effect.sleep("200 millis")),
        { discard: true }
      ).pipe(Effect.fork)

      const frame = yield* readFailureFrame(connection.reader).pipe(bounded("10 seconds", "waiting for TIMEOUT"))
      expect(frame).toMatchObject({ version: Codec.VERSION, status: Codec.Status.Timeout, kind: 0 })
      expect(Option.isNone(yield* Fiber.poll(trickle)), "the answer came while the request was still trickling").toBe(
        true
      )
      expect(yield* connection.reader.atEnd.pipe(bounded("10 seconds", "waiting for the close"))).toBe(true)
      yield* Fiber.interrupt(trickle)

      yield* downloads(server, "ok.txt", sha256)
      expect((yield* askStats(server.port)).timeouts).toBe(1)
    }))
})

// Well beyond what loopback socket buffers can hold (up to 32 MiB + 4 MiB here), so that a client that
// stops reading holds the server in the middle of the transfer; and over the default cache of 64 MiB.
const BIG = 65 * MiB

// Built without the test services: these tests run on real time, like `it.live`.
layer(bigFile(BIG), { excludeTestServices: true })("stall timeout", (it) => {
  it.scoped.each([
    { from: "cached in memory", entries: 1, args: ["--cache-size", "128MiB"] },
    { from: "streamed from disk", entries: 0, args: [] }
  ])(
    "a client that reads nothing of a file $from is dropped, and releases everything",
    ({ args, entries }) =>
      Effect.gen(function*() {
        const { dir, sha256 } = yield* BigFile
        const server = yield* startServer(dir, [...args, "--stall-timeout", "1 second"])

        const stalled = yield* rawConnect(server.port)
        yield* stalled.write(getRequest("big.bin"))
        // It reads nothing: once the socket buffers are full, the server can send no more.
        yield* server.waitForStderr((log) => log.includes("client stopped reading: dropped") ? true : undefined).pipe(
          bounded("30 seconds", "waiting for the server to drop the stalled client")
        )

        const stats = yield* askStats(server.port)
        expect(stats).toMatchObject({ stalls: 1, pinnedEntries: 0, locksHeld: 0, openFiles: 0 })
        expect(stats.entries, "the file went the way the test meant").toBe(entries)

        // What the kernel had buffered can still be read, then the end or a reset: never the whole file.
        const rest = yield* Effect.either(readFetched(stalled.reader)).pipe(
          bounded("30 seconds", "reading what was sent before the drop")
        )
        expect(Either.isLeft(rest), "the dropped transfer does not complete").toBe(true)

        yield* downloads(server, "big.bin", sha256)
      })
  )
})

/** Reads a whole file response at about `rate` bytes a second, checking its bytes; returns their SHA-256. */
const readSlowly = (connection: RawConnection, rate: number) =>
  Effect.gen(function*() {
    const response = yield* Codec.readResponse(connection.reader, Codec.Kind.Get)
    if (response._tag !== "File") return yield* Effect.dieMessage(`expected a file, got ${response._tag}`)
    const hash = createHash("sha256")
    const trailer = yield* Codec.readBody(connection.reader, response, (bytes) => {
      hash.update(bytes)
      return Effect.sleep(Duration.millis((bytes.length / rate) * 1000))
    })
    expect(trailer._tag).toBe("Complete")
    return hash.digest("hex")
  })

describe("slow clients", () => {
  // The server sees a client's progress only as the kernel reports it: each time about a third of
  // the socket's send buffer (up to 4 MiB on Linux) has been taken, so about 1.5 MiB at a time.
  it.scopedLive("a client reading steadily at 1 MiB/s is never dropped by a 4 second stall timeout", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      // Served from the cache, in slices of 1 MiB; the client takes about 12 s to read it all.
      const sha256 = yield* writeRandomFile(path.join(dir, "twelve.bin"), 12 * MiB)
      const server = yield* startServer(dir, ["--stall-timeout", "4 seconds"])
      const connection = yield* rawConnect(server.port)
      yield* connection.write(getRequest("twelve.bin"))
      const received = yield* Effect.either(readSlowly(connection, MiB))
      expect(received, `the slow reader was cut off; the server's log:\n${server.stderr()}`).toEqual(
        Either.right(sha256)
      )
      expect((yield* askStats(server.port)).stalls).toBe(0)
    }))

  it.scopedLive("a slow reader gets its whole response, even once the request deadline closes the connection", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const sha256 = yield* writeRandomFile(path.join(dir, "four.bin"), 4 * MiB)
      const okSha256 = yield* writeRandomFile(path.join(dir, "ok.txt"), 1000)
      const server = yield* startServer(dir, ["--request-timeout", "1 second"])
      const connection = yield* rawConnect(server.port)
      yield* connection.write(getRequest("four.bin"))
      // 1 MiB/s: the server hands its last bytes to the kernel seconds before the client reads them,
      // and its deadline for the next request runs out meanwhile.
      expect(yield* readSlowly(connection, MiB)).toBe(sha256)
      const receivedBefore = connection.reader.received()
      // The next request on that connection is answered, or finds it closed without a byte of an
      // answer (PROTOCOL.md, 10.1): never a partial or wrong one.
      yield* Effect.ignore(connection.write(getRequest("ok.txt")))
      const next = yield* Effect.either(readFetched(connection.reader))
      if (next._tag === "Right") {
        expect(next.right._tag === "File" && createHash("sha256").update(next.right.bytes).digest("hex")).toBe(okSha256)
      } else {
        expect(connection.reader.received(), "no byte of an answer before the close").toBe(receivedBefore)
      }
      // Asked again on a new connection, as a client should, it is served.
      const again = yield* rawConnect(server.port)
      yield* again.write(getRequest("ok.txt"))
      const fetched = yield* readFetched(again.reader)
      expect(fetched._tag === "File" && createHash("sha256").update(fetched.bytes).digest("hex")).toBe(okSha256)
    }))
})

describe("busy", () => {
  it.scopedLive("--max-connections 1: the connection turned away is counted in the statistics", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      yield* writeRandomFile(path.join(dir, "ok.txt"), 100)
      const server = yield* startServer(dir, ["--max-connections", "1"])
      const first = yield* rawConnect(server.port)
      yield* first.write(getRequest("ok.txt"))
      // Answered: the first connection now holds the only slot.
      expect(yield* readFetched(first.reader)).toMatchObject({ _tag: "File" })

      const second = yield* rawConnect(server.port)
      const busy = yield* readFailureFrame(second.reader).pipe(bounded("5 seconds", "waiting for BUSY"))
      expect(busy).toMatchObject({ status: Codec.Status.Busy, kind: 0 })
      expect(yield* second.reader.atEnd.pipe(bounded("5 seconds", "waiting for the close"))).toBe(true)

      // Asked on the connection that holds the slot: a new one would be turned away too.
      yield* first.write(statsRequest)
      expect(yield* readStats(first.reader)).toMatchObject({ turnedAway: 1, connections: 2 })
    }))
})
