/**
 * The HTTP door's immediate answers (immediateHit.ts) against the general flow (answer.ts), on a real
 * directory and the real cache: the same status, headers and bytes for the requests it takes; the
 * pin held until it is told the sending ended, and released however it ended; everything else
 * (not cached yet, ranges, conditions, other methods, directories, a changed file, a server with
 * tokens) left to the general flow.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as fsp from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { lru } from "../../src/cache/Lru.js"
import * as BoundedCache from "../../src/layers/BoundedCache.js"
import * as MemoryTokens from "../../src/layers/MemoryTokens.js"
import * as NodeFileStore from "../../src/layers/NodeFileStore.js"
import * as SemaphoreLockManager from "../../src/layers/SemaphoreLockManager.js"
import { answer } from "../../src/programs/http/answer.js"
import { makeImmediateHit } from "../../src/programs/http/immediateHit.js"
import * as ServerMetrics from "../../src/programs/server/ServerMetrics.js"
import { makeStreamBuffers, StreamBuffers } from "../../src/programs/server/StreamBuffers.js"
import { Cache } from "../../src/services/Cache.js"
import type { HttpRequest } from "../../src/services/HttpDoor.js"
import { grant } from "../support/httpWorld.js"
import { bytes } from "../support/serverWorld.js"

const CONTENT = bytes(5000)

const world = (dir: string, tokens = false) =>
  Layer.mergeAll(
    NodeFileStore.layer(dir),
    BoundedCache.layer({ capacity: 1_000_000, policy: lru }),
    SemaphoreLockManager.layer,
    MemoryTokens.layer(tokens ? Option.some([grant("ci", "fy_secret")]) : Option.none()),
    Layer.effect(StreamBuffers, makeStreamBuffers(1024 * 1024)),
    Layer.effect(ServerMetrics.ServerMetrics, ServerMetrics.make)
  ).pipe(Layer.orDie)

const request = (target: string, headers: Readonly<Record<string, string>> = {}, method = "GET"): HttpRequest => ({
  method,
  target,
  header: (name) => headers[name],
  peer: "127.0.0.1:1"
})

/** The general flow's answer, its body read, its scope closed. */
const general = (req: HttpRequest) =>
  Effect.scoped(Effect.map(answer({ listing: true })(req), (answered) => ({
    status: answered.status,
    headers: answered.headers,
    body: answered.body._tag === "Bytes" ? Buffer.from(answered.body.bytes) : Buffer.alloc(0)
  })))

const inDirectory = <A, E, R>(test: (dir: string) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.promise(async () => {
      const dir = await fsp.mkdtemp(path.join(os.tmpdir(), "ferry-immediate-"))
      await fsp.mkdir(path.join(dir, "docs"))
      await fsp.writeFile(path.join(dir, "docs", "a.txt"), CONTENT)
      return dir
    }),
    test,
    (dir) => Effect.promise(() => fsp.rm(dir, { recursive: true, force: true }))
  )

const pinned = Effect.flatMap(Cache, (cache) => Effect.map(cache.stats, (stats) => stats.pinned))

describe("immediate HTTP answers", () => {
  it.live("take a cached file's GET and HEAD with the general flow's status, headers and bytes", () =>
    inDirectory((dir) =>
      Effect.gen(function*() {
        const immediate = (yield* makeImmediateHit)!
        expect(immediate).toBeDefined()
        // Not cached yet: the general flow loads it.
        expect(immediate(request("/docs/a.txt"))).toBeUndefined()
        const loaded = yield* general(request("/docs/a.txt"))
        expect(loaded.status).toBe(200)

        for (const method of ["GET", "HEAD"]) {
          const now = immediate(request("/docs/a.txt", {}, method))!
          expect(now, method).toBeDefined()
          const slow = yield* general(request("/docs/a.txt", {}, method))
          expect(now.answer.status).toBe(slow.status)
          expect(now.answer.headers).toEqual(slow.headers)
          const body = now.answer.body._tag === "Bytes" ? Buffer.from(now.answer.body.bytes) : Buffer.alloc(0)
          expect(body, method).toEqual(slow.body)
          // Pinned until the door says the sending ended.
          expect(yield* pinned).toBe(1)
          now.done(method === "GET" ? "sent" : "closed")
          expect(yield* pinned).toBe(0)
        }
      }).pipe(Effect.provide(world(dir)))
    ))

  it.live("leave everything else to the general flow", () =>
    inDirectory((dir) =>
      Effect.gen(function*() {
        const immediate = (yield* makeImmediateHit)!
        yield* general(request("/docs/a.txt"))
        const etag = immediate(request("/docs/a.txt"))!
        etag.done("sent")
        const others = [
          request("/docs/a.txt", { range: "bytes=0-9" }),
          request("/docs/a.txt", { "if-none-match": etag.answer.headers.etag! }),
          request("/docs/a.txt", { "if-modified-since": etag.answer.headers["last-modified"]! }),
          request("/docs/a.txt", { "want-repr-digest": "sha-256=1" }),
          request("/docs/a.txt", {}, "POST"),
          request("/docs/"),
          request("/docs"),
          request("/docs/%2e%2e/a.txt"),
          request("/missing.txt")
        ]
        for (const other of others) expect(immediate(other), `${other.method} ${other.target}`).toBeUndefined()
        expect(yield* pinned).toBe(0)

        // Changed on disk: not the cached version any more, so not answered at once.
        yield* Effect.promise(() => fsp.writeFile(path.join(dir, "docs", "a.txt"), bytes(4000)))
        expect(immediate(request("/docs/a.txt"))).toBeUndefined()
        expect((yield* general(request("/docs/a.txt"))).body.length).toBe(4000)
        const fresh = immediate(request("/docs/a.txt"))!
        expect(fresh.answer.headers["content-length"]).toBe("4000")
        fresh.done("stalled")
        expect(yield* pinned).toBe(0)
      }).pipe(Effect.provide(world(dir)))
    ))

  it.live("are not made for a server that requires tokens", () =>
    inDirectory((dir) =>
      Effect.map(makeImmediateHit, (immediate) => expect(immediate).toBeUndefined()).pipe(
        Effect.provide(world(dir, true))
      )
    ))
})
