/**
 * The native port's immediate answers (immediateGet.ts) against the general flow (respond.ts), on a
 * real directory and the real cache: the same bytes on the wire for the GETs it takes, counted and
 * logged the same; the pin held while the answer is written and released however the write ends;
 * everything else (not cached yet, a digest not computed yet, a resumed GET, other requests, a
 * changed file, a file of more than one segment, a server with tokens) left to the general flow.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as fsp from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { lru } from "../../src/cache/Lru.js"
import * as BoundedCache from "../../src/layers/BoundedCache.js"
import * as MemoryTokens from "../../src/layers/MemoryTokens.js"
import * as NodeFileStore from "../../src/layers/NodeFileStore.js"
import * as SemaphoreLockManager from "../../src/layers/SemaphoreLockManager.js"
import { anonymous } from "../../src/programs/server/authorize.js"
import { makeImmediateGet } from "../../src/programs/server/immediateGet.js"
import { respond } from "../../src/programs/server/respond.js"
import { SEGMENT_BYTES } from "../../src/programs/server/sendCached.js"
import * as ServerMetrics from "../../src/programs/server/ServerMetrics.js"
import { makeStreamBuffers, StreamBuffers } from "../../src/programs/server/StreamBuffers.js"
import * as Codec from "../../src/protocol/Codec.js"
import { Cache } from "../../src/services/Cache.js"
import { type Connection, ConnectionError } from "../../src/services/Connection.js"
import { grant } from "../support/httpWorld.js"
import { bytes } from "../support/serverWorld.js"

const CONTENT = bytes(5000)

const world = (dir: string, tokens = false) =>
  Layer.mergeAll(
    NodeFileStore.layer(dir),
    BoundedCache.layer({ capacity: 4 * SEGMENT_BYTES, policy: lru }),
    SemaphoreLockManager.layer,
    MemoryTokens.layer(tokens ? Option.some([grant("ci", "fy_secret")]) : Option.none()),
    Layer.effect(StreamBuffers, makeStreamBuffers(1024 * 1024)),
    Layer.effect(ServerMetrics.ServerMetrics, ServerMetrics.make),
    Logger.replace(Logger.defaultLogger, Logger.none)
  ).pipe(Layer.orDie)

/** A connection that keeps what is written to it, or fails every write as a peer gone would. */
const recorder = (failing = false) => {
  const written: Array<Buffer> = []
  const connection: Connection = {
    peer: "127.0.0.1:1",
    read: Effect.succeedNone,
    readDeadline: () => Effect.void,
    write: (...chunks) =>
      failing
        ? Effect.fail(new ConnectionError({ reason: "Closed" }))
        : Effect.sync(() => void written.push(...chunks.map((chunk) => Buffer.from(chunk)))),
    end: Effect.void
  }
  return { connection, wire: () => Buffer.concat(written) }
}

const get = (name: string, digest: "xxh3-128" | "sha256" = "xxh3-128", resume?: Codec.Resume) =>
  Codec.Request.Get({ name, digests: [digest], ...(resume === undefined ? {} : { resume }) })

/** The general flow's bytes on the wire for `request`. */
const general = (request: Codec.Request) =>
  Effect.gen(function*() {
    const { connection, wire } = recorder()
    yield* respond(connection, request, { listing: true }, anonymous)
    return wire()
  })

const inDirectory = <A, E, R>(test: (dir: string) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.promise(async () => {
      const dir = await fsp.mkdtemp(path.join(os.tmpdir(), "ferry-immediate-get-"))
      await fsp.mkdir(path.join(dir, "docs"))
      await fsp.writeFile(path.join(dir, "docs", "a.txt"), CONTENT)
      await fsp.writeFile(path.join(dir, "empty"), "")
      await fsp.writeFile(path.join(dir, "big.bin"), bytes(SEGMENT_BYTES + 1))
      return dir
    }),
    test,
    (dir) => Effect.promise(() => fsp.rm(dir, { recursive: true, force: true }))
  )

const pinned = Effect.flatMap(Cache, (cache) => Effect.map(cache.stats, (stats) => stats.pinned))
const counted = Effect.map(ServerMetrics.snapshot, (stats) => {
  const values = stats as Readonly<Record<string, number>>
  return { hits: values.hits!, requests: values.requests!, bytesServed: values.bytesServed! }
})

/** Runs `effect`, keeping the messages it logs (their durations left out: they are the clock's). */
const logged = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const lines: Array<string> = []
    const logger = Logger.make(({ message }) => void lines.push(String(message).replace(/ ms=\d+/, "")))
    const result = yield* Effect.provide(effect, Logger.replace(Logger.defaultLogger, logger))
    return { result, lines }
  })

describe("immediate native answers", () => {
  it.live("send a cached file's GET as the general flow does, counted and logged the same", () =>
    inDirectory((dir) =>
      Effect.gen(function*() {
        const immediate = (yield* makeImmediateGet)!
        expect(immediate).toBeDefined()
        for (const name of ["docs/a.txt", "empty"]) {
          const { connection } = recorder()
          // Not cached yet: the general flow loads it.
          expect(immediate(connection, get(name)), name).toBeUndefined()
          yield* general(get(name))
          const slow = yield* logged(general(get(name)))
          const before = yield* counted
          const fast = recorder()
          const { lines } = yield* logged(immediate(fast.connection, get(name))!)
          expect(fast.wire(), name).toEqual(slow.result)
          expect(lines, name).toEqual(slow.lines)
          expect(lines, name).toEqual([`GET ${name} status=Ok bytes=${name === "empty" ? 0 : 5000} cache=hit`])
          const after = yield* counted
          expect(after.hits - before.hits).toBe(1)
          expect(after.requests - before.requests).toBe(1)
          expect(after.bytesServed - before.bytesServed).toBe(name === "empty" ? 0 : 5000)
          expect(yield* pinned).toBe(0)
        }
      }).pipe(Effect.provide(world(dir)))
    ))

  it.live("release the pin and log the cut when the write fails", () =>
    inDirectory((dir) =>
      Effect.gen(function*() {
        const immediate = (yield* makeImmediateGet)!
        yield* general(get("docs/a.txt"))
        const { connection } = recorder(true)
        const { lines, result } = yield* logged(Effect.either(immediate(connection, get("docs/a.txt"))!))
        expect(result._tag).toBe("Left")
        expect(lines).toEqual(["GET docs/a.txt status=Ok bytes=0 cache=hit unfinished=connection closed by peer"])
        expect(yield* pinned).toBe(0)
      }).pipe(Effect.provide(world(dir)))
    ))

  it.live("leave everything else to the general flow", () =>
    inDirectory((dir) =>
      Effect.gen(function*() {
        const immediate = (yield* makeImmediateGet)!
        const { connection } = recorder()
        const first = yield* general(get("docs/a.txt"))
        yield* general(get("big.bin"))
        const version = first.subarray(15, 15 + Codec.FILE_VERSION_BYTES)
        const others = [
          // Cached, but its SHA-256 not computed yet.
          get("docs/a.txt", "sha256"),
          get("docs/a.txt", "xxh3-128", { offset: 10, version }),
          get("big.bin"),
          get("docs/../docs/a.txt"),
          get("missing.txt"),
          Codec.Request.Stat({ name: "docs/a.txt", digests: ["xxh3-128"] }),
          Codec.Request.List(),
          Codec.Request.Stats(),
          Codec.Request.Ls({ path: "", recursive: false })
        ]
        for (const other of others) expect(immediate(connection, other), JSON.stringify(other)).toBeUndefined()
        expect(yield* pinned).toBe(0)

        // Changed on disk: not the cached version any more, so not answered at once.
        yield* Effect.promise(() => fsp.writeFile(path.join(dir, "docs", "a.txt"), bytes(4000)))
        expect(immediate(connection, get("docs/a.txt"))).toBeUndefined()
        const fresh = yield* general(get("docs/a.txt"))
        const fast = recorder()
        yield* immediate(fast.connection, get("docs/a.txt"))!
        expect(fast.wire()).toEqual(fresh)
        expect(yield* pinned).toBe(0)
      }).pipe(Effect.provide(world(dir)))
    ))

  it.live("are not made for a server that requires tokens", () =>
    inDirectory((dir) =>
      Effect.map(makeImmediateGet, (immediate) => expect(immediate).toBeUndefined()).pipe(
        Effect.provide(world(dir, true))
      )
    ))
})
