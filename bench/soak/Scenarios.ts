/**
 * What a soak worker does, one scenario at a time: mostly downloads checked byte for byte against
 * their source over a persistent connection, and the misbehaviours a server meets in the wild.
 * Each returns its outcome, or fails with an `Unexpected` error saying what went wrong.
 */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Codec from "../../src/protocol/Codec.js"
import { DIGEST_NAMES, hasher } from "../../src/protocol/Digest.js"
import type { ProtocolError } from "../../src/protocol/ProtocolError.js"
import type { ConnectionError } from "../../src/services/Connection.js"
import type { SocketClient } from "../../src/services/SocketClient.js"
import * as Corpus from "./Corpus.js"
import { openSession, type Persistent, type Session } from "./Session.js"
import type { Tally } from "./Tally.js"

export class Unexpected extends Data.TaggedError("Unexpected")<{
  /** What kind of failure, to count them by: "wrong bytes", "cut mid-response"... */
  readonly cause: string
  readonly detail: string
}> {
  override get message() {
    return this.detail
  }
}

/**
 * A request sent on a reused connection that was closed, reset or ended before any byte of its answer
 * arrived: the server had closed it between requests, and the request was not served (PROTOCOL.md
 * section 10.1, item 5). Like an HTTP client, the soak sends it again, once, on a new connection.
 */
class NotServed extends Data.TaggedError("NotServed")<{ readonly detail: string }> {}

/** The label retries are counted under in the soak's table: they are expected, not unexpected. */
const RETRIED = "sent again on a new connection"

export interface ScenarioContext {
  readonly host: string
  readonly port: number
  readonly corpus: Corpus.Corpus
  readonly known: ReadonlyMap<string, Corpus.SourceFile>
  readonly tally: Tally
  readonly stallTimeout: Duration.Duration
}

export type ScenarioError = Unexpected | ConnectionError | ProtocolError

export interface Scenario {
  readonly kind: string
  readonly weight: number
  readonly run: (
    persistent: Persistent,
    context: ScenarioContext
  ) => Effect.Effect<string, ScenarioError, SocketClient | Scope.Scope>
}

const pick = <A>(items: ReadonlyArray<A>): A => items[Math.floor(Math.random() * items.length)]!

const unexpected = (cause: string, detail: string) => Effect.fail(new Unexpected({ cause, detail }))

const describe = (response: Codec.Response): string =>
  response._tag === "Failure" ? `${Codec.statusName(response.status)} "${response.message}"` : response._tag

/**
 * How long the first bytes of an answer took: on a new connection, from asking for the connection (so
 * that the time the server takes to accept it counts), otherwise from sending the request.
 */
const recordLatency = (session: Session, sentAt: number, tally: Tally) =>
  session.answered === 0
    ? tally.latency("first answer on a new connection", session.firstByteAt! - session.openedAt)
    : tally.latency("answer on a reused connection", session.firstByteAt! - sentAt)

/** The connection went away (closed, reset, or ended where an answer should begin). */
const isGone = (error: ConnectionError | ProtocolError) =>
  error._tag === "ConnectionError" ? error.reason === "Closed" : error.reason === "Truncated"

/**
 * Sends `request` on `session` and reads the answer with `read`. A failure says how far the answer
 * had come: nothing at all (and how long after the previous answer on the same connection), or part;
 * nothing at all on a reused connection that went away is `NotServed`.
 */
const ask = <A, R>(
  session: Session,
  tally: Tally,
  request: Codec.Request,
  read: Effect.Effect<A, ScenarioError, R>
): Effect.Effect<A, Unexpected | NotServed, R> =>
  Effect.gen(function*() {
    const what = request._tag === "Get" ? `GET ${request.name}` : request._tag.toUpperCase()
    const before = session.reader.received()
    const sentAt = Date.now()
    session.firstByteAt = undefined
    const result = yield* Effect.either(Effect.zipRight(session.connection.write(Codec.encodeRequest(request)), read))
    if (session.firstByteAt !== undefined) yield* recordLatency(session, sentAt, tally)
    if (result._tag === "Right") {
      session.answered++
      session.lastAnsweredAt = Date.now()
      return result.right
    }
    const error = result.left
    if (error._tag === "Unexpected") return yield* unexpected(error.cause, `${what}: ${error.detail}`)
    const arrived = session.reader.received() - before
    if (arrived > 0) {
      return yield* unexpected("cut mid-response", `${what}: ${error.message}, after ${arrived} bytes of the answer`)
    }
    if (session.answered === 0) return yield* unexpected("closed without answering", `${what}: ${error.message}`)
    const detail = `${what}: no byte of an answer (${error.message}) on a connection that had answered ` +
      `${session.answered} request(s); sent ${sentAt - session.lastAnsweredAt} ms after the previous answer ` +
      `was read whole, failed ${Date.now() - sentAt} ms after being sent`
    if (isGone(error)) return yield* new NotServed({ detail })
    return yield* unexpected("closed without answering, on a reused connection", detail)
  })

/** `ask` on a connection of its own: never a reused one, so whatever fails is unexpected. */
const askOnce = <A, R>(
  session: Session,
  tally: Tally,
  request: Codec.Request,
  read: Effect.Effect<A, ScenarioError, R>
) =>
  ask(session, tally, request, read).pipe(
    Effect.catchTag("NotServed", ({ detail }) => unexpected("closed without answering, on a reused connection", detail))
  )

/**
 * `ask` on the worker's persistent connection; a request it did not serve is sent again, once, on a
 * new connection (counted under `RETRIED`), where failing the same way is unexpected.
 */
const askPersistent = <A, R>(
  persistent: Persistent,
  tally: Tally,
  request: Codec.Request,
  read: (session: Session) => Effect.Effect<A, ScenarioError, R>
): Effect.Effect<A, Unexpected | ConnectionError, R | SocketClient> =>
  Effect.gen(function*() {
    const session = yield* persistent.session
    const first = yield* Effect.either(ask(session, tally, request, read(session)))
    if (first._tag === "Right") return first.right
    if (first.left._tag === "Unexpected") return yield* first.left
    yield* persistent.discard
    yield* tally.outcome(RETRIED, request._tag === "Get" ? "GET" : request._tag.toUpperCase())
    const fresh = yield* persistent.session
    return yield* askOnce(fresh, tally, request, read(fresh))
  })

/**
 * GETs `file` and checks all of it: the announced size, a complete trailer whose digest is that of the
 * bytes received, and those bytes' digest against the source's. `pace` (bytes per second) reads slowly.
 */
const fetchVerified = (persistent: Persistent, file: Corpus.SourceFile, context: ScenarioContext, pace?: number) =>
  askPersistent(
    persistent,
    context.tally,
    Codec.Request.Get({ name: file.name, digests: DIGEST_NAMES }),
    (session) =>
      Effect.gen(function*() {
        const response = yield* Codec.readResponse(session.reader, Codec.Kind.Get)
        if (response._tag !== "File") return yield* unexpected("wrong answer", `answered ${describe(response)}`)
        if (response.size !== file.size) {
          return yield* unexpected("wrong bytes", `announced ${response.size} bytes, not ${file.size}`)
        }
        // The bytes' digest, as negotiated, against the trailer's and against the source's: one hash, as
        // the client computes, so that 200 workers in one process keep up with the server.
        const hash = hasher(response.digest)
        const trailer = yield* Codec.readBody(session.reader, response, (bytes) => {
          hash.update(bytes)
          return pace === undefined ? Effect.void : Effect.sleep(Duration.millis((bytes.length / pace) * 1000))
        })
        if (trailer._tag === "Aborted") return yield* unexpected("aborted", `aborted: ${trailer.message}`)
        const digest = Buffer.from(hash.digest())
        if (!digest.equals(trailer.digest)) {
          return yield* unexpected("wrong bytes", "the trailer's digest is not that of the bytes")
        }
        if (!digest.equals(file.digests[response.digest])) {
          return yield* unexpected("wrong bytes", "the bytes differ from the source file")
        }
        yield* context.tally.verified(file.size)
        return "verified"
      })
  )

const download = (choose: (corpus: Corpus.Corpus) => Corpus.SourceFile, pace?: number) =>
(
  persistent: Persistent,
  context: ScenarioContext
) => fetchVerified(persistent, choose(context.corpus), context, pace)

const smallOrMedium = (corpus: Corpus.Corpus) => Math.random() < 0.85 ? pick(corpus.small) : pick(corpus.medium)

const list: Scenario["run"] = (persistent, context) =>
  askPersistent(
    persistent,
    context.tally,
    Codec.Request.List(),
    (session) =>
      Effect.gen(function*() {
        const response = yield* Codec.readResponse(session.reader, Codec.Kind.List)
        if (response._tag !== "Listing") return yield* unexpected("wrong answer", `answered ${describe(response)}`)
        for (const entry of response.entries) {
          const source = context.known.get(entry.name)
          if (source === undefined) {
            return yield* unexpected("wrong listing", `listed an unknown file ${JSON.stringify(entry.name)}`)
          }
          if (source.size !== entry.size) {
            return yield* unexpected("wrong listing", `listed ${entry.name} at ${entry.size} bytes`)
          }
        }
        return "listed"
      })
  )

const notFound: Scenario["run"] = (persistent, context) =>
  askPersistent(
    persistent,
    context.tally,
    Codec.Request.Get({ name: `missing/${Math.random().toString(36).slice(2)}.bin`, digests: DIGEST_NAMES }),
    (session) =>
      Effect.gen(function*() {
        const response = yield* Codec.readResponse(session.reader, Codec.Kind.Get)
        if (response._tag !== "Failure" || response.status !== Codec.Status.NotFound) {
          return yield* unexpected("wrong answer", `answered ${describe(response)}`)
        }
        return "not found"
      })
  )

/** Reads part of a body, then destroys the connection: a client that vanishes mid-transfer. */
const cutOff: Scenario["run"] = (persistent, context) =>
  Effect.gen(function*() {
    const file = Math.random() < 0.5 ? pick(context.corpus.medium) : pick(Corpus.all(context.corpus))
    return yield* askPersistent(
      persistent,
      context.tally,
      Codec.Request.Get({ name: file.name, digests: DIGEST_NAMES }),
      (session) =>
        Effect.gen(function*() {
          const response = yield* Codec.readResponse(session.reader, Codec.Kind.Get)
          if (response._tag !== "File") return yield* unexpected("wrong answer", `answered ${describe(response)}`)
          const wanted = Math.floor(Math.random() * file.size)
          for (let read = 0; read < wanted;) read += (yield* session.reader.upTo(wanted - read)).length
          return "cut"
        })
    )
  }).pipe(Effect.ensuring(persistent.discard))

/**
 * Asks for a file larger than the socket buffers hold on a connection of its own, then reads nothing
 * for longer than the stall timeout: the server must drop it. What the kernel had buffered is read
 * afterwards, and must end before the file does.
 *
 * The server can only see the stall once the buffers between it and the client are full (several
 * MiB: the kernel's, and the client's read-ahead), and under the soak's load a stream fills them at
 * its fair share of the server, in chunks no larger than its share of --stream-buffers: that takes
 * seconds, before the stall timeout even starts. Measured with 200 connections: with 2.5 stall
 * timeouts alone, 53-61% of the stalled readers had not been dropped yet (three runs).
 */
const FILL_ALLOWANCE = Duration.seconds(15)
const stalled: Scenario["run"] = (persistent, context) =>
  Effect.gen(function*() {
    // On a new connection: one that has been reading fast may have grown buffers that hold the whole file.
    yield* persistent.discard
    const file = pick([context.corpus.fillsCache, ...context.corpus.oversized])
    const session = yield* Effect.acquireRelease(openSession(context.host, context.port), (session) => session.close)
    return yield* askOnce(
      session,
      context.tally,
      Codec.Request.Get({ name: file.name, digests: DIGEST_NAMES }),
      Effect.gen(function*() {
        const response = yield* Codec.readResponse(session.reader, Codec.Kind.Get)
        if (response._tag !== "File") return yield* unexpected("wrong answer", `answered ${describe(response)}`)
        const waited = Duration.sum(Duration.times(context.stallTimeout, 2.5), FILL_ALLOWANCE)
        yield* Effect.sleep(waited)
        const rest = yield* Effect.either(Codec.readBody(session.reader, response, () => Effect.void))
        return rest._tag === "Left" ? "dropped" : yield* unexpected(
          "stalled reader not dropped",
          `a client that read nothing for ${Duration.format(waited)} was not dropped`
        )
      })
    )
  })

const GARBAGE = new TextEncoder().encode("GET /index.html HTTP/1.1\r\nHost: ferry\r\n\r\n")

/** Bytes that are not ferry: a BAD_REQUEST, then the end of the connection. */
const badRequest: Scenario["run"] = (_, context) =>
  Effect.gen(function*() {
    const session = yield* Effect.acquireRelease(openSession(context.host, context.port), (session) => session.close)
    yield* session.connection.write(GARBAGE)
    const response = yield* Codec.readResponse(session.reader, Codec.Kind.Get)
    yield* recordLatency(session, session.openedAt, context.tally)
    if (response._tag !== "Failure" || response.status !== Codec.Status.BadRequest) {
      return yield* unexpected("wrong answer", `garbage answered ${describe(response)}`)
    }
    if (!(yield* session.reader.atEnd)) {
      return yield* unexpected("wrong answer", "the connection stayed open after BAD_REQUEST")
    }
    return "refused"
  })

/**
 * The file a herd is on: the same for every worker that draws a herd within the same 10 s, so that they
 * read it through the cache's slices at about the same time (and, between herds, another one).
 */
const herdFile = (corpus: Corpus.Corpus) => corpus.oversized[Math.floor(Date.now() / 10_000) % corpus.oversized.length]!

// Slow readers take 4 MiB/s: a 16 MiB file in 4 s, always moving, so never stalled.
const SLOW_PACE = 4 * 1024 * 1024

export const SCENARIOS: ReadonlyArray<Scenario> = [
  { kind: "get", weight: 62, run: download(smallOrMedium) },
  { kind: "get oversized (sliced)", weight: 3, run: download((corpus) => pick(corpus.oversized)) },
  { kind: "herd on an oversized file", weight: 3, run: download(herdFile) },
  { kind: "list", weight: 8, run: list },
  { kind: "get missing", weight: 3, run: notFound },
  { kind: "slow reader", weight: 8, run: download(smallOrMedium, SLOW_PACE) },
  { kind: "cut off mid-body", weight: 8, run: cutOff },
  { kind: "stalled reader", weight: 2, run: stalled },
  { kind: "bad request", weight: 2, run: badRequest }
] as const

const TOTAL_WEIGHT = SCENARIOS.reduce((sum, scenario) => sum + scenario.weight, 0)

/** A scenario drawn at random by weight. */
export const drawScenario = (): Scenario => {
  let draw = Math.random() * TOTAL_WEIGHT
  for (const scenario of SCENARIOS) {
    draw -= scenario.weight
    if (draw < 0) return scenario
  }
  return SCENARIOS[0]!
}
