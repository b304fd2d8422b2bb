/**
 * The server program on in-memory layers, as tests drive it: a world to run it in, clients speaking
 * the raw protocol, and the checks an operator would make with a STATS request.
 */
import { expect } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as TestClock from "effect/TestClock"
import { lru } from "../../src/cache/Lru.js"
import * as BoundedCache from "../../src/layers/BoundedCache.js"
import * as MemoryFileStore from "../../src/layers/MemoryFileStore.js"
import * as MemoryNetwork from "../../src/layers/MemoryNetwork.js"
import * as MemoryTokens from "../../src/layers/MemoryTokens.js"
import * as SemaphoreLockManager from "../../src/layers/SemaphoreLockManager.js"
import * as UnlimitedRateLimiter from "../../src/layers/UnlimitedRateLimiter.js"
import { serve, type ServeOptions } from "../../src/programs/server/serve.js"
import * as ByteReader from "../../src/protocol/ByteReader.js"
import * as Codec from "../../src/protocol/Codec.js"
import { type Digest, DIGEST_NAMES } from "../../src/protocol/Digest.js"
import { LockManager } from "../../src/services/LockManager.js"
import { SocketClient } from "../../src/services/SocketClient.js"
import { digestOf } from "./responses.js"

/** Fibers waiting for a name's lock, so that a test can wait until a request queues behind a load. */
export class LockWaiters extends Context.Tag("ferry/test/LockWaiters")<LockWaiters, {
  readonly waiting: Effect.Effect<number>
  /** Completes once at least `count` fibers wait for a lock. */
  readonly awaitWaiting: (count: number) => Effect.Effect<void>
}>() {}

// The real lock manager, counting the fibers that have asked for a lock and not yet got it.
const instrumentedLocks = Layer.effectContext(Effect.gen(function*() {
  const locks = yield* SemaphoreLockManager.make
  const waiting = yield* SubscriptionRef.make(0)
  const withLock = (name: string) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.suspend(() => {
      let queued = true
      const leaveQueue = Effect.suspend(() => {
        if (!queued) return Effect.void
        queued = false
        return SubscriptionRef.update(waiting, (n) => n - 1)
      })
      return Effect.acquireUseRelease(
        SubscriptionRef.update(waiting, (n) => n + 1),
        () => locks.withLock(name)(Effect.zipRight(leaveQueue, effect)),
        () => leaveQueue
      )
    })
  return Context.make(LockManager, LockManager.of({ withLock, held: locks.held })).pipe(
    Context.add(LockWaiters, {
      waiting: SubscriptionRef.get(waiting),
      awaitWaiting: (count) => waiting.changes.pipe(Stream.filter((n) => n >= count), Stream.take(1), Stream.runDrain)
    })
  )
}))

/** A fresh network, file store, cache of `capacity` bytes and lock manager; no tokens until replaced, no rate limit. */
export const world = (capacity: number) =>
  Layer.mergeAll(
    MemoryNetwork.layer,
    MemoryFileStore.layer,
    BoundedCache.layer({ capacity, policy: lru }),
    instrumentedLocks,
    MemoryTokens.layer(),
    UnlimitedRateLimiter.layer
  )

/** `size` bytes with a short period, as the first server tests used. */
export const bytes = (size: number, seed = 1) => Uint8Array.from({ length: size }, (_, i) => (i * 31 + seed) & 0xff)

export const DEFAULT_LIMITS: ServeOptions = {
  maxConnections: 16,
  gracePeriod: "5 seconds",
  requestTimeout: "10 seconds",
  stallTimeout: "30 seconds",
  streamBuffers: 4 * 1024 * 1024,
  listing: true
}

/** Runs the server in the background for the rest of the test's scope. */
export const startServer = (options: Partial<ServeOptions> = {}) =>
  Effect.forkScoped(serve({ ...DEFAULT_LIMITS, ...options }))

/** A client connection speaking the raw protocol, open until the current scope closes. */
export const connect = Effect.gen(function*() {
  const client = yield* SocketClient
  const connection = yield* client.connect("memory", 0)
  const reader = ByteReader.make(connection.read)
  return { connection, reader }
})

export type Client = Effect.Effect.Success<typeof connect>

export interface Body {
  readonly _tag: "Body"
  /** The digest the server announced in the file response's head. */
  readonly digest: Digest
  readonly bytes: Buffer
  readonly trailer: Codec.Trailer
}

/** Reads the answer to a GET: the file's bytes and how its body ended, or the failure. */
export const readGetAnswer = (reader: Client["reader"]) =>
  Effect.gen(function*() {
    const response = yield* Codec.readResponse(reader, Codec.Kind.Get)
    if (response._tag !== "File") return response
    const chunks: Array<Uint8Array> = []
    const trailer = yield* Codec.readBody(reader, response, (chunk) => Effect.sync(() => chunks.push(chunk)))
    return { _tag: "Body" as const, digest: response.digest, bytes: Buffer.concat(chunks), trailer } satisfies Body
  })

/** A GET offering `digests` (by default, those a client offers when not told otherwise). */
export const getRequest = (name: string, digests: ReadonlyArray<Digest> = DIGEST_NAMES) =>
  Codec.encodeRequest(Codec.Request.Get({ name, digests }))

/** Sends a GET and reads the whole answer. */
export const get = ({ connection, reader }: Client, name: string, digests?: ReadonlyArray<Digest>) =>
  Effect.zipRight(connection.write(getRequest(name, digests)), readGetAnswer(reader))

export const list = ({ connection, reader }: Client) =>
  Effect.zipRight(
    connection.write(Codec.encodeRequest(Codec.Request.List())),
    Codec.readResponse(reader, Codec.Kind.List)
  )

export type Stats = Readonly<Record<string, number>>

/** Asks for the server's statistics on an open connection. */
export const stats = ({ connection, reader }: Client) =>
  Effect.gen(function*() {
    yield* connection.write(Codec.encodeRequest(Codec.Request.Stats()))
    const response = yield* Codec.readResponse(reader, Codec.Kind.Stats)
    if (response._tag !== "Stats") return yield* Effect.dieMessage(`STATS answered ${JSON.stringify(response)}`)
    return response.stats
  })

/** Asks for the statistics as an operator would: on a connection of its own, closed afterwards. */
export const statsNow = Effect.scoped(Effect.flatMap(connect, stats))

const SETTLE_ROUNDS = 500

/**
 * One round of waiting: every other fiber runs, and so do pending callbacks of the event loop (the
 * server lets the event loop through while it hashes a file it loads).
 */
const round = Effect.zipRight(
  Effect.yieldNow(),
  Effect.async<void>((resume) => {
    const immediate = setImmediate(() => resume(Effect.void))
    return Effect.sync(() => clearImmediate(immediate))
  })
)

/**
 * Waits until STATS shows that the server has let go of everything: no pinned entries, no locks held,
 * no open files. Each round lets every other fiber run; a leak makes it fail with what is still held.
 */
export const settled = Effect.gen(function*() {
  for (let n = 1;; n++) {
    const now = yield* statsNow
    const held = { pinnedEntries: now.pinnedEntries, locksHeld: now.locksHeld, openFiles: now.openFiles }
    if (held.pinnedEntries === 0 && held.locksHeld === 0 && held.openFiles === 0) return now
    if (n === SETTLE_ROUNDS) {
      expect(held, "still held by the server").toEqual({ pinnedEntries: 0, locksHeld: 0, openFiles: 0 })
    }
    yield* round
  }
})

/** Retries `check` (with every other fiber let run in between) until it holds, a bounded number of times. */
export const eventually = <A, E, R>(
  observe: Effect.Effect<A, E, R>,
  check: (value: A) => boolean,
  rounds = SETTLE_ROUNDS
): Effect.Effect<A, E, R> =>
  Effect.gen(function*() {
    for (let n = 1;; n++) {
      const value = yield* observe
      if (check(value) || n >= rounds) return value
      yield* round
    }
  })

/**
 * Fails if `effect` has not completed after every other fiber has had `rounds` chances to run:
 * on the in-memory layers with the clock standing still, that is a hang.
 */
export const withinRounds = <A, E, R>(effect: Effect.Effect<A, E, R>, what: string, rounds = 5_000) =>
  Effect.raceFirst(
    effect,
    Effect.zipRight(
      Effect.repeatN(round, rounds),
      Effect.dieMessage(`${what}: still not done after ${rounds} rounds`)
    )
  )

/** A failure read byte by byte, so that its kind can be checked (0: the server's last word). */
export const readRawFailure = (reader: Client["reader"]) =>
  Effect.gen(function*() {
    const head = yield* reader.exactly(8)
    const length = (head[6]! << 8) | head[7]!
    const message = new TextDecoder().decode(yield* reader.exactly(length))
    return { prefix: Array.from(head.subarray(0, 4)), status: head[4]!, kind: head[5]!, message }
  })

/** The prefix of every version 2 message. */
export const PREFIX = [0x46, 0x52, 0x59, 0x02]

/** Whether `reader` reaches the clean end of the stream: no more bytes, no reset. */
export const endsCleanly = (reader: Client["reader"]) =>
  Effect.match(reader.atEnd, { onFailure: () => false, onSuccess: (atEnd) => atEnd })

/** How the rest of a connection goes: a clean end, more bytes, or the connection broken (reset). */
export const nextEvent = (connection: Client["connection"]) =>
  Effect.match(connection.read, {
    onFailure: (error) => ({ _tag: "Broken" as const, reason: error.reason }),
    onSuccess: Option.match({
      onNone: () => ({ _tag: "End" as const }),
      onSome: (chunk) => ({ _tag: "Bytes" as const, length: chunk.length })
    })
  })

/** Waits until the test clock holds at least `count` sleeps due at `at` (milliseconds): a timer set by the server. */
export const awaitTimer = (at: number, count = 1) =>
  Effect.gen(function*() {
    for (let n = 1;; n++) {
      const sleeps = yield* TestClock.sleeps()
      let due = 0
      for (const instant of sleeps) if (instant === at) due++
      if (due >= count) return
      if (n === SETTLE_ROUNDS) return yield* Effect.dieMessage(`no timer due at ${at} ms was set`)
      yield* round
    }
  })

/** Checks that `answer` is exactly `content`, complete, with its `digest` (the default offer's first). */
export const expectComplete = (answer: unknown, content: Uint8Array, digest: Digest = DIGEST_NAMES[0]!) => {
  const body = answer as Body
  expect(body._tag, JSON.stringify(answer).slice(0, 300)).toBe("Body")
  expect(body.trailer._tag).toBe("Complete")
  expect(body.digest).toBe(digest)
  expect(body.bytes.length).toBe(content.length)
  expect(Buffer.compare(body.bytes, content), "bytes differ from the file's").toBe(0)
  expect(body.trailer._tag === "Complete" && Buffer.from(body.trailer.digest).equals(digestOf(digest, content)))
    .toBe(true)
}

/** Checks that `answer` is a failure with `status`. */
export const expectFailure = (answer: unknown, status: Codec.FailureStatus) =>
  expect(answer).toMatchObject({ _tag: "Failure", status })
