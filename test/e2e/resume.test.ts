/**
 * Downloads that survive interruptions, with the built binaries: a client killed and run again
 * resumes, a file changed meanwhile is fetched anew, a server killed and restarted is waited for,
 * a partial altered on disk is caught, and two clients on one destination never make a wrong file.
 * Transfers are cut at a known point by a proxy that lets only so many bytes through.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as fsp from "node:fs/promises"
import * as path from "node:path"
import { gateProxy } from "../support/GateProxy.js"
import {
  bounded,
  expectOneLine,
  HOST,
  listDir,
  MiB,
  runClient,
  type Server,
  sha256File,
  spawnClient,
  startServer,
  tempDir,
  writeRandomFile
} from "./harness.js"

const SIZE = 200 * MiB
/** What the proxy lets through before holding the rest back. */
const BUDGET = 64 * MiB
/** What must be on disk before the client is cut off: the partial is written 2 MiB at a time. */
const KEPT = 48 * MiB
const PARTIAL = ".big.bin.ferry-partial"

const bytesServed = (server: Server) =>
  Effect.map(runClient([HOST, server.port, "stats", "--json"]), (ran) => JSON.parse(ran.stdout).bytesServed as number)

const sizeOf = (file: string) => Effect.promise(() => fsp.stat(file).then((stats) => stats.size, () => 0))

/** Waits until the partial in `dest` holds at least KEPT bytes. */
const partialReached = (dest: string) =>
  sizeOf(path.join(dest, PARTIAL)).pipe(
    Effect.repeat({ until: (size) => size >= KEPT, schedule: Schedule.spaced("10 millis") }),
    bounded("60 seconds", "the partial file to grow")
  )

/** A client started through a proxy that holds back all but BUDGET bytes, killed once KEPT are on disk. */
const cutDownload = (server: Server, dest: string, signal: NodeJS.Signals = "SIGKILL") =>
  Effect.scoped(Effect.gen(function*() {
    const proxy = yield* gateProxy(server.port, BUDGET)
    const client = yield* spawnClient([HOST, proxy.port, "big.bin", dest, "-q"])
    yield* partialReached(dest)
    client.process.kill(signal)
    return { ...(yield* client.exited), stderr: client.stderr() }
  }))

const withServer = <A, E, R>(
  use: (served: { dir: string; dest: string; server: Server; sha256: string }) => Effect.Effect<A, E, R>
) =>
  Effect.gen(function*() {
    const dir = yield* tempDir("ferry-e2e-resume-src-")
    const dest = yield* tempDir("ferry-e2e-resume-dst-")
    const sha256 = yield* writeRandomFile(path.join(dir, "big.bin"), SIZE)
    const server = yield* startServer(dir)
    return yield* use({ dir, dest, server, sha256 })
  })

describe("resume", () => {
  it.scopedLive(
    "a client killed mid-download resumes when run again, and the server sends only the rest",
    () =>
      withServer(({ dest, server, sha256 }) =>
        Effect.gen(function*() {
          const killed = yield* cutDownload(server, dest)
          expect(killed.signal).toBe("SIGKILL")
          expect(yield* listDir(dest)).not.toContain("big.bin")
          expect(yield* sizeOf(path.join(dest, PARTIAL))).toBeGreaterThanOrEqual(KEPT)

          const before = yield* bytesServed(server)
          const ran = yield* runClient([HOST, server.port, "big.bin", dest])
          expect(ran.code, ran.stderr).toBe(0)
          expect(ran.stderr).toMatch(/resuming big\.bin at \d/)
          const served = (yield* bytesServed(server)) - before
          expect(served).toBeLessThanOrEqual(SIZE - KEPT)
          expect(yield* sha256File(path.join(dest, "big.bin"))).toBe(sha256)
          expect(yield* listDir(dest)).toEqual(["big.bin"])
        })
      ),
    { timeout: 120_000 }
  )

  it.scopedLive(
    "a file changed on the server between the runs is fetched whole: the new file, never a splice",
    () =>
      withServer(({ dest, dir, server }) =>
        Effect.gen(function*() {
          yield* cutDownload(server, dest)
          // Same size, other bytes: only the version tells them apart.
          yield* Effect.promise(() => fsp.rm(path.join(dir, "big.bin")))
          const changed = yield* writeRandomFile(path.join(dir, "big.bin"), SIZE)
          const ran = yield* runClient([HOST, server.port, "big.bin", dest])
          expect(ran.code, ran.stderr).toBe(0)
          expect(ran.stderr).toContain("changed on the server")
          expect(yield* sha256File(path.join(dest, "big.bin"))).toBe(changed)
          expect(yield* listDir(dest)).toEqual(["big.bin"])
        })
      ),
    { timeout: 120_000 }
  )

  it.scopedLive(
    "a partial altered on disk is caught by the digest, discarded, and the file fetched again",
    () =>
      withServer(({ dest, server, sha256 }) =>
        Effect.gen(function*() {
          yield* cutDownload(server, dest)
          const handle = yield* Effect.promise(() => fsp.open(path.join(dest, PARTIAL), "r+"))
          yield* Effect.promise(() => handle.write(Buffer.from("not what was sent"), 0, 17, MiB))
          yield* Effect.promise(() => handle.close())
          const ran = yield* runClient([HOST, server.port, "big.bin", dest])
          expect(ran.code, ran.stderr).toBe(0)
          expect(ran.stderr).toContain("do not match the file")
          expect(yield* sha256File(path.join(dest, "big.bin"))).toBe(sha256)
          expect(yield* listDir(dest)).toEqual(["big.bin"])
        })
      ),
    { timeout: 120_000 }
  )

  it.scopedLive(
    "SIGINT keeps what arrived, releases the lock, exits 130; --no-resume then starts over",
    () =>
      withServer(({ dest, server, sha256 }) =>
        Effect.gen(function*() {
          const interrupted = yield* cutDownload(server, dest, "SIGINT")
          expect(interrupted.code).toBe(130)
          expect(yield* listDir(dest)).toEqual([PARTIAL, `${PARTIAL}.json`])
          const before = yield* bytesServed(server)
          const ran = yield* runClient([HOST, server.port, "big.bin", dest, "--no-resume"])
          expect(ran.code, ran.stderr).toBe(0)
          expect((yield* bytesServed(server)) - before).toBe(SIZE)
          expect(yield* sha256File(path.join(dest, "big.bin"))).toBe(sha256)
        })
      ),
    { timeout: 120_000 }
  )

  it.scopedLive(
    "a second client on the same name and directory fails at once, in one line; the first finishes",
    () =>
      withServer(({ dest, server, sha256 }) =>
        Effect.gen(function*() {
          const proxy = yield* gateProxy(server.port, BUDGET)
          const first = yield* spawnClient([HOST, proxy.port, "big.bin", dest, "-q"])
          yield* partialReached(dest)
          const second = yield* runClient([HOST, server.port, "big.bin", dest])
          expect(second.code).toBe(12)
          expectOneLine(second.stderr)
          expect(second.stderr).toContain("is downloading")
          yield* proxy.open
          const done = yield* first.exited.pipe(bounded("60 seconds", "the first client"))
          expect(done.code, first.stderr()).toBe(0)
          expect(yield* sha256File(path.join(dest, "big.bin"))).toBe(sha256)
          expect(yield* listDir(dest)).toEqual(["big.bin"])
        })
      ),
    { timeout: 120_000 }
  )
})

describe("retries", () => {
  it.scopedLive(
    "the server killed mid-transfer and restarted: the client's retries finish the download",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir("ferry-e2e-retry-src-")
        const dest = yield* tempDir("ferry-e2e-retry-dst-")
        const sha256 = yield* writeRandomFile(path.join(dir, "big.bin"), SIZE)
        const first = yield* startServer(dir)
        const proxy = yield* gateProxy(first.port, BUDGET)
        const client = yield* spawnClient([HOST, proxy.port, "big.bin", dest, "-q", "--timeout", "5 seconds"])
        yield* partialReached(dest)
        first.process.kill("SIGKILL")
        yield* first.exited
        const second = yield* startServer(dir, [], { port: first.port })
        yield* proxy.open
        const done = yield* client.exited.pipe(bounded("90 seconds", "the client's retries"))
        expect(done.code, client.stderr()).toBe(0)
        expect(yield* sha256File(path.join(dest, "big.bin"))).toBe(sha256)
        expect(yield* bytesServed(second)).toBeLessThanOrEqual(SIZE - KEPT)
      }),
    { timeout: 150_000 }
  )

  it.scopedLive("a wrong port fails at once, without retrying", () =>
    Effect.gen(function*() {
      const dest = yield* tempDir()
      const ran = yield* runClient([HOST, 1, "a.txt", dest])
      expect(ran.code).toBe(4)
      expectOneLine(ran.stderr)
    }))
})
