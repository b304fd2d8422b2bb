/**
 * Rate limits on in-memory layers, with the test clock: each connection held to its rate, cached and
 * streamed alike; the server's rate shared fairly, a large response holding no one back; and waiting
 * for the limiter never taken for a client's stall.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import { MemoryFiles } from "../../src/layers/MemoryFileStore.js"
import * as TokenBucketRateLimiter from "../../src/layers/TokenBucketRateLimiter.js"
import * as UnlimitedRateLimiter from "../../src/layers/UnlimitedRateLimiter.js"
import * as Codec from "../../src/protocol/Codec.js"
import { DIGEST_NAMES } from "../../src/protocol/Digest.js"
import type { Connection } from "../../src/services/Connection.js"
import { RateLimiter } from "../../src/services/RateLimiter.js"
import { pattern } from "../support/responses.js"
import {
  type Body,
  type Client,
  connect,
  expectComplete,
  getRequest,
  settled,
  startServer,
  stats,
  statsNow,
  world
} from "../support/serverWorld.js"

const KiB = 1024

/** The in-memory world with `limits` in place of no limit. */
const limitedWorld = (capacity: number, limits: TokenBucketRateLimiter.Limits) =>
  Layer.merge(world(capacity), TokenBucketRateLimiter.layer(limits))

/** Loads `name` into the cache (a STAT reads and hashes it), so that a GET is timed from memory. */
const prime = ({ connection, reader }: Client, name: string) =>
  Effect.zipRight(
    connection.write(Codec.encodeRequest(Codec.Request.Stat({ name, digests: DIGEST_NAMES }))),
    Codec.readResponse(reader, Codec.Kind.Stat)
  )

interface Timed {
  readonly answer: Body
  /** Test-clock milliseconds: when the GET was sent, when the last of the answer arrived. */
  readonly sent: number
  readonly done: number
  /** The longest time between two pieces of the answer. */
  readonly longestWait: number
}

/** Sends a GET and reads the whole answer, noting on the test clock when each piece of it arrives. */
const timedGet = ({ connection, reader }: Client, name: string) =>
  Effect.gen(function*() {
    const sent = yield* TestClock.currentTimeMillis
    yield* connection.write(getRequest(name))
    const response = yield* Codec.readResponse(reader, Codec.Kind.Get)
    if (response._tag !== "File") return yield* Effect.dieMessage(`GET ${name}: ${JSON.stringify(response)}`)
    const arrivals = [yield* TestClock.currentTimeMillis]
    const chunks: Array<Uint8Array> = []
    const trailer = yield* Codec.readBody(reader, response, (chunk) =>
      Effect.map(TestClock.currentTimeMillis, (now) => {
        chunks.push(chunk)
        arrivals.push(now)
      }))
    const done = yield* TestClock.currentTimeMillis
    const answer: Body = { _tag: "Body", digest: response.digest, bytes: Buffer.concat(chunks), trailer }
    const longestWait = Math.max(0, ...arrivals.slice(1).map((at, index) => at - arrivals[index]!))
    return { answer, sent, done, longestWait } satisfies Timed
  })

const STEP_MILLIS = 50

/**
 * Moves the test clock on a step at a time until `fiber` is done (each step lets everything that
 * waits on the clock within it run, in order); fails once `bound` milliseconds have passed.
 */
const runClockUntil = <A, E>(fiber: Fiber.Fiber<A, E>, bound = 600_000) =>
  Effect.gen(function*() {
    for (let elapsed = 0; Option.isNone(yield* Fiber.poll(fiber)); elapsed += STEP_MILLIS) {
      if (elapsed > bound) return yield* Effect.dieMessage(`not done after ${bound} ms of the test clock`)
      yield* TestClock.adjust(STEP_MILLIS)
    }
    return yield* Fiber.join(fiber)
  })

/** Runs `effect` in the background while moving the test clock on, until it is done. */
const withClock = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.flatMap(Effect.fork(effect), runClockUntil)

const CASES = [
  { kind: "cached", capacity: 4096 * KiB },
  { kind: "streamed", capacity: 1 * KiB }
] as const

describe("--rate-limit", () => {
  const RATE = 100 * KiB
  const SIZE = 200 * KiB

  for (const { capacity, kind } of CASES) {
    it.scoped(`holds a ${kind} file's download to the connection's rate`, () =>
      Effect.gen(function*() {
        const files = yield* MemoryFiles
        const content = pattern(SIZE)
        yield* files.put("f", content)
        yield* startServer()
        const client = yield* connect
        if (kind === "cached") yield* prime(client, "f")
        const timed = yield* withClock(timedGet(client, "f"))
        expectComplete(timed.answer, content)
        // SIZE / RATE is 2 s; the bucket starts full, with a tenth of a second's worth.
        const millis = timed.done - timed.sent
        expect(millis).toBeGreaterThanOrEqual(0.9 * 2000)
        expect(millis).toBeLessThanOrEqual(1.02 * 2000)
        expect(yield* stats(client)).toMatchObject({ stalls: 0, [kind === "cached" ? "hits" : "streamed"]: 1 })
      }).pipe(Effect.provide(limitedWorld(capacity, { perConnection: RATE }))))
  }

  it.scoped("paces each connection on its own: two at once each get the whole rate", () =>
    Effect.gen(function*() {
      const files = yield* MemoryFiles
      const content = pattern(SIZE)
      yield* files.put("f", content)
      yield* startServer()
      const [one, two] = [yield* connect, yield* connect]
      yield* prime(one, "f")
      const [first, second] = yield* withClock(Effect.all([timedGet(one, "f"), timedGet(two, "f")], {
        concurrency: "unbounded"
      }))
      for (const timed of [first, second]) {
        expectComplete(timed.answer, content)
        expect(timed.done - timed.sent).toBeLessThanOrEqual(1.02 * 2000)
      }
    }).pipe(Effect.provide(limitedWorld(4096 * KiB, { perConnection: RATE }))))

  it.scoped("without a limit, takes no time on the clock at all", () =>
    Effect.gen(function*() {
      const files = yield* MemoryFiles
      const content = pattern(SIZE)
      yield* files.put("f", content)
      yield* startServer()
      const client = yield* connect
      yield* prime(client, "f")
      const timed = yield* withClock(timedGet(client, "f"))
      expectComplete(timed.answer, content)
      expect(timed.done - timed.sent).toBe(0)
    }).pipe(Effect.provide(world(4096 * KiB))))

  it.effect("without a limit, hands back the very connection it was given: a write costs nothing more", () =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter
      const connection: Connection = {
        peer: "test:1",
        read: Effect.succeed(Option.none()),
        readDeadline: () => Effect.void,
        write: () => Effect.void,
        end: Effect.void
      }
      expect(yield* limiter.pace(connection)).toBe(connection)
    }).pipe(Effect.provide(UnlimitedRateLimiter.layer)))
})

describe("--total-rate-limit", () => {
  const TOTAL = 256 * KiB

  it.scoped("shares the server's rate evenly between four clients, and uses all of it", () =>
    Effect.gen(function*() {
      const files = yield* MemoryFiles
      const size = 256 * KiB
      const content = pattern(size)
      yield* files.put("f", content)
      yield* startServer()
      const clients = yield* Effect.all(Array.from({ length: 4 }, () => connect))
      yield* prime(clients[0]!, "f")
      const timed = yield* withClock(Effect.forEach(clients, (client) => timedGet(client, "f"), {
        concurrency: "unbounded"
      }))
      timed.forEach(({ answer }) => expectComplete(answer, content))
      const throughputs = timed.map(({ done, sent }) => size / (done - sent))
      expect(Math.max(...throughputs) / Math.min(...throughputs)).toBeLessThanOrEqual(1.1)
      // Together, the four files at the server's rate: 4 s, less the bucket's first tenth of a second.
      const whole = Math.max(...timed.map(({ done }) => done)) - Math.min(...timed.map(({ sent }) => sent))
      expect(whole).toBeGreaterThanOrEqual(0.95 * 4000)
      expect(whole).toBeLessThanOrEqual(1.02 * 4000)
    }).pipe(Effect.provide(limitedWorld(4096 * KiB, { total: TOTAL }))))

  it.scoped("lets a small download through at its share while a large one is being sent", () =>
    Effect.gen(function*() {
      const files = yield* MemoryFiles
      const large = pattern(1024 * KiB, 1)
      const small = pattern(32 * KiB, 2)
      yield* files.put("large", large)
      yield* files.put("small", small)
      yield* startServer()
      const [one, two] = [yield* connect, yield* connect]
      yield* prime(one, "large")
      yield* prime(two, "small")
      // The large file goes in 1 MiB writes from the cache: a whole one, waited for at once, would
      // take 4 s of the server's rate.
      const largeFiber = yield* Effect.fork(timedGet(one, "large"))
      yield* TestClock.adjust(1000)
      const smallTimed = yield* withClock(timedGet(two, "small"))
      expectComplete(smallTimed.answer, small)
      // Half of the rate for 32 KiB: a quarter of a second.
      expect(smallTimed.done - smallTimed.sent).toBeLessThanOrEqual(300)
      expect(Option.isNone(yield* Fiber.poll(largeFiber)), "the large download was already done").toBe(true)
      expectComplete((yield* runClockUntil(largeFiber)).answer, large)
    }).pipe(Effect.provide(limitedWorld(4096 * KiB, { total: TOTAL }))))
})

describe("rate limits and the stall timeout", () => {
  const STALL_TIMEOUT = 1000

  for (const { capacity, kind } of CASES) {
    it.scoped(`never drops a client of a ${kind} file for the time the limiter makes the server wait`, () =>
      Effect.gen(function*() {
        const files = yield* MemoryFiles
        const content = pattern(4 * KiB)
        yield* files.put("f", content)
        yield* startServer({ stallTimeout: `${STALL_TIMEOUT} millis`, requestTimeout: "1 hour" })
        const client = yield* connect
        // 512 bytes a second, in pieces of 1 KiB: the server waits 2 s before each, twice the stall timeout.
        const timed = yield* withClock(timedGet(client, "f"))
        expectComplete(timed.answer, content)
        expect(timed.longestWait).toBeGreaterThanOrEqual(2 * STALL_TIMEOUT)
        // Paced too: the answer waits for the limiter as the file did.
        expect(yield* withClock(stats(client))).toMatchObject({ stalls: 0 })
      }).pipe(Effect.provide(limitedWorld(capacity, { perConnection: 512 }))))

    it.scoped(`still drops a client that stops reading a ${kind} file`, () =>
      Effect.gen(function*() {
        const files = yield* MemoryFiles
        const content = pattern(1024 * KiB)
        yield* files.put("f", content)
        yield* startServer({ stallTimeout: `${STALL_TIMEOUT} millis` })
        const stalled = yield* connect
        yield* stalled.connection.write(getRequest("f"))
        // The network's buffer (MemoryNetwork.bufferSize, 64 KiB) fills within a second at this rate; a
        // second later, it is a stall.
        const dropped = yield* withClock(Effect.gen(function*() {
          while ((yield* statsNow).stalls === 0) yield* TestClock.sleep(STEP_MILLIS)
        }))
        expect(dropped).toBeUndefined()
        const after = yield* settled
        expect(after).toMatchObject({ stalls: 1, pinnedEntries: 0, openFiles: 0 })
      }).pipe(Effect.provide(limitedWorld(capacity, { perConnection: 128 * KiB }))))
  }
})
