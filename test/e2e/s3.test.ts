/**
 * The built server with an S3 origin (`s3://bucket/served --s3-endpoint`), against s3rver in the test
 * process: downloads byte-identical (small, cached, streamed past --cache-size, resumed), `ls`, an
 * object replaced between requests served fresh, and a bucket it cannot serve refused at start with
 * one line and exit code 3. s3rver ignores If-Match: the store also checks each answer's own ETag,
 * which is what these tests see; the If-Match path is tested on a fake (test/layers/S3FileStore.test.ts).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { randomBytes } from "node:crypto"
import * as fsp from "node:fs/promises"
import * as path from "node:path"
import { EXIT_CODES } from "../../src/cli/server.js"
import { gateProxy } from "../support/GateProxy.js"
import * as S3 from "../support/s3rver.js"
import {
  bounded,
  expectOneLine,
  HOST,
  MiB,
  runBinary,
  runClient,
  type Server,
  SERVER_BIN,
  sha256,
  sha256File,
  spawnClient,
  startServer,
  tempDir
} from "./harness.js"

const CACHE = 4 * MiB
const BIG = 16 * MiB
/** What the proxy lets through before holding the rest back, and what must be on disk by then. */
const BUDGET = 8 * MiB
const KEPT = 4 * MiB

// s3rver knows one access key and does not check SigV4 signatures: bad credentials are an unknown key.
const awsEnvironment = (accessKeyId: string = S3.CREDENTIALS.accessKeyId) => ({
  AWS_ACCESS_KEY_ID: accessKeyId,
  AWS_SECRET_ACCESS_KEY: S3.CREDENTIALS.secretAccessKey,
  AWS_SESSION_TOKEN: "",
  AWS_REGION: S3.REGION
})

const startS3Server = (s3: S3.S3World) =>
  startServer(`s3://${S3.BUCKET}/served`, ["--s3-endpoint", s3.endpoint, "--cache-size", `${CACHE}`], {
    env: awsEnvironment()
  })

const stats = (server: Server) =>
  Effect.map(
    runClient([HOST, server.port, "stats", "--json"]),
    (ran) => JSON.parse(ran.stdout) as Record<string, number>
  )

/** Puts random bytes at `served/name`; returns their SHA-256. */
const putRandom = (s3: S3.S3World, name: string, size: number) =>
  Effect.suspend(() => {
    const bytes = randomBytes(size)
    return Effect.as(s3.put(`served/${name}`, bytes), sha256(bytes))
  })

const download = (server: Server, name: string, dest: string) =>
  Effect.gen(function*() {
    const ran = yield* runClient([HOST, server.port, name, dest])
    expect(ran.code, ran.stderr).toBe(0)
    return yield* sha256File(path.join(dest, path.basename(name)))
  })

describe("an S3 origin", () => {
  it.scopedLive(
    "serves objects byte-identical: small, cached, streamed past the cache, and lists them",
    () =>
      Effect.gen(function*() {
        const s3 = yield* S3.make
        const small = yield* putRandom(s3, "small.bin", 1000)
        const medium = yield* putRandom(s3, "dir/medium.bin", 3 * MiB)
        const big = yield* putRandom(s3, "big.bin", BIG)
        const server = yield* startS3Server(s3)

        expect(yield* download(server, "small.bin", yield* tempDir())).toBe(small)
        expect(yield* download(server, "dir/medium.bin", yield* tempDir())).toBe(medium)
        expect(yield* download(server, "dir/medium.bin", yield* tempDir())).toBe(medium)
        expect(yield* download(server, "big.bin", yield* tempDir())).toBe(big)
        expect(yield* stats(server)).toMatchObject({ loads: 2, hits: 1, streamed: 1, openFiles: 0, failures: 0 })

        const ls = yield* runClient([HOST, server.port, "ls", "-r", "--json"])
        expect(ls.code, ls.stderr).toBe(0)
        const { entries } = JSON.parse(ls.stdout) as { entries: Array<{ path: string; size: number }> }
        expect(entries.map(({ path, size }) => [path, size])).toEqual([
          ["big.bin", BIG],
          ["dir", 0],
          ["small.bin", 1000],
          ["dir/medium.bin", 3 * MiB]
        ])
      }),
    { timeout: 120_000 }
  )

  it.scopedLive("serves an object replaced between requests fresh, cached or not", () =>
    Effect.gen(function*() {
      const s3 = yield* S3.make
      yield* putRandom(s3, "small.bin", 1000)
      yield* putRandom(s3, "big.bin", 5 * MiB)
      const server = yield* startS3Server(s3)
      yield* download(server, "small.bin", yield* tempDir())
      yield* download(server, "big.bin", yield* tempDir())
      const small = yield* putRandom(s3, "small.bin", 1000)
      const big = yield* putRandom(s3, "big.bin", 5 * MiB)
      expect(yield* download(server, "small.bin", yield* tempDir())).toBe(small)
      expect(yield* download(server, "big.bin", yield* tempDir())).toBe(big)
    }), { timeout: 120_000 })

  it.scopedLive("resumes a download cut off part-way, and sends only the rest", () =>
    Effect.gen(function*() {
      const s3 = yield* S3.make
      const big = yield* putRandom(s3, "big.bin", BIG)
      const server = yield* startS3Server(s3)
      const dest = yield* tempDir()
      const partial = path.join(dest, ".big.bin.ferry-partial")
      yield* Effect.scoped(Effect.gen(function*() {
        const proxy = yield* gateProxy(server.port, BUDGET)
        const client = yield* spawnClient([HOST, proxy.port, "big.bin", dest, "-q"])
        yield* Effect.promise(() => fsp.stat(partial).then((stats) => stats.size, () => 0)).pipe(
          Effect.repeat({ until: (size) => size >= KEPT, schedule: Schedule.spaced("10 millis") }),
          bounded("60 seconds", "the partial file to grow")
        )
        client.process.kill("SIGKILL")
        yield* client.exited
      }))
      const before = (yield* stats(server)).bytesServed!
      const ran = yield* runClient([HOST, server.port, "big.bin", dest])
      expect(ran.code, ran.stderr).toBe(0)
      expect(ran.stderr).toMatch(/resuming big\.bin at \d/)
      expect((yield* stats(server)).bytesServed! - before).toBeLessThanOrEqual(BIG - KEPT)
      expect(yield* sha256File(path.join(dest, "big.bin"))).toBe(big)
    }), { timeout: 120_000 })

  it.scopedLive(
    "refuses to start on a missing bucket or bad credentials: one line, exit code 3",
    () =>
      Effect.gen(function*() {
        const s3 = yield* S3.make
        const missing = yield* runBinary(SERVER_BIN, [HOST, 0, "s3://nothere/x", "--s3-endpoint", s3.endpoint], {
          env: awsEnvironment()
        })
        expect(missing.code).toBe(EXIT_CODES.directory[0])
        expectOneLine(missing.stderr)
        expect(missing.stderr).toBe(`ferry-server: no such bucket: s3://nothere/x (at ${s3.endpoint})\n`)

        const denied = yield* runBinary(
          SERVER_BIN,
          [HOST, 0, `s3://${S3.BUCKET}/served`, "--s3-endpoint", s3.endpoint],
          {
            env: awsEnvironment("NOSUCHKEY")
          }
        )
        expect(denied.code).toBe(EXIT_CODES.directory[0])
        expectOneLine(denied.stderr)
        expect(denied.stderr).toMatch(/^ferry-server: access denied to s3:\/\/bucket\/served \(HTTP 403\): check /)
      }),
    { timeout: 60_000 }
  )
})
