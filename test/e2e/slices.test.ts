/**
 * A file larger than the cache, downloaded by several clients at once through the built server: the
 * native client and curl over the HTTP door each get an identical copy, and the server reads each
 * slice about once, not once per client.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fsp from "node:fs/promises"
import * as path from "node:path"
import { curl, WRITE_OUT, written } from "../support/curl.js"
import { HOST, MiB, runClient, sha256File, startHttpServer, tempDir, writeRandomFile } from "./harness.js"

const SLICES = 48

describe("slices", () => {
  it.scopedLive("4 native clients and 2 curls on a file larger than the cache: identical copies, each slice read ~once", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const digest = yield* writeRandomFile(path.join(dir, "big.bin"), SLICES * MiB)
      // Paced, so that clients started a few hundred milliseconds apart read the same part at about the same time.
      const { server, url } = yield* startHttpServer(dir, [
        "--cache-size",
        "32MiB",
        "--slice-size",
        "1MiB",
        "--rate-limit",
        "16MiB"
      ])
      const dest = yield* tempDir()
      const native = Array.from({ length: 4 }, (_, i) =>
        Effect.gen(function*() {
          const into = path.join(dest, `native-${i}`)
          yield* Effect.promise(() => fsp.mkdir(into))
          const ran = yield* runClient([HOST, server.port, "big.bin", into, "-q"])
          expect(ran.code, ran.stderr).toBe(0)
          return path.join(into, "big.bin")
        }))
      const curls = Array.from({ length: 2 }, (_, i) =>
        Effect.gen(function*() {
          const into = path.join(dest, `curl-${i}`)
          const ran = yield* curl(["-o", into, "-w", WRITE_OUT, `${url}/big.bin`])
          expect(written(ran.stdout)).toEqual({ status: 200, size: SLICES * MiB })
          return into
        }))
      const copies = yield* Effect.all([...native, ...curls], { concurrency: "unbounded" })
      for (const copy of copies) expect(yield* sha256File(copy)).toBe(digest)

      const stats = JSON.parse((yield* runClient([HOST, server.port, "stats", "--json"])).stdout) as Record<
        string,
        number
      >
      // Six clients: 6 × 48 slices if each read its own; about 48 when they share (a client that falls
      // behind, on a loaded machine, reloads a few).
      expect(stats.sliceLoads).toBeGreaterThanOrEqual(SLICES)
      expect(stats.sliceLoads).toBeLessThan(3 * SLICES)
      expect(stats.sliceHits! + stats.sliceLoads!).toBeGreaterThan(3 * SLICES)
      expect(stats).toMatchObject({ pinnedEntries: 0, locksHeld: 0 })
      expect(server.stderr()).toContain("cache=slice")
    }))
})
