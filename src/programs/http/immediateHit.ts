/**
 * The common HTTP request answered at once: a plain GET or HEAD of a file the cache holds, on a
 * server without tokens. It is decided as `answer` decides it (the same name rules, the same
 * version check, the same pin, the same headers, counters and log line), but synchronously, through
 * the services' synchronous lookups (`FileStore.statKnown`, `Cache.pinNow`), with no fiber or scope:
 * on these machines each Effect operation costs 1-2 µs, and the general flow takes about a hundred.
 *
 * Anything else is left to `answer`: a request with a range, a condition or a digest asked for, a
 * name not resolved before or not a file, a file not cached, a server that requires tokens.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { Cache } from "../../services/Cache.js"
import { FileStore } from "../../services/FileStore.js"
import { HttpBody, HttpDoorError, type HttpRequest, type ImmediateAnswer } from "../../services/HttpDoor.js"
import { Tokens } from "../../services/Tokens.js"
import { makeLogInfoNow } from "../server/logNow.js"
import { ServerMetrics } from "../server/ServerMetrics.js"
import { wholeFileHeaders } from "./fileAnswer.js"
import { resolveTarget } from "./names.js"
import { newReport, settle } from "./report.js"

/** Headers that make a GET more than "the whole file": left to the general flow. */
const DECIDING_HEADERS = ["range", "if-range", "if-none-match", "if-modified-since", "want-repr-digest"]

/**
 * The immediate answerer of a server, or `undefined` when it has none: its stores cannot answer
 * synchronously, or it requires tokens (a token file is in force for the server's whole life).
 */
export const makeImmediateHit = Effect.gen(function*() {
  const files = yield* FileStore
  const cache = yield* Cache
  const metrics = yield* ServerMetrics
  const clock = yield* Effect.clock
  const logInfo = yield* makeLogInfoNow
  const { pinNow } = cache
  const { statKnown } = files
  if (pinNow === undefined || statKnown === undefined) return undefined
  if (Option.isSome(yield* Effect.flatMap(Tokens, (tokens) => tokens.current))) return undefined

  return (request: HttpRequest): ImmediateAnswer | undefined => {
    if (request.method !== "GET" && request.method !== "HEAD") return undefined
    if (DECIDING_HEADERS.some((name) => request.header(name) !== undefined)) return undefined
    const target = resolveTarget(request.target)
    if (target._tag !== "File") return undefined
    const info = statKnown(target.name)
    if (info === undefined || info.size > cache.capacity) return undefined
    const pinned = pinNow(info)
    if (pinned === undefined) return undefined

    const started = clock.unsafeCurrentTimeNanos()
    const head = request.method === "HEAD"
    const report = newReport()
    report.status = 200
    report.cache = "hit"
    report.pending = head ? 0 : info.size
    metrics.requestCounters.http.hits.unsafeUpdate(1, [])
    return {
      answer: {
        status: 200,
        headers: wholeFileHeaders(target.name, pinned.file),
        body: head ? HttpBody.Empty() : HttpBody.Bytes({ bytes: pinned.file.bytes })
      },
      done: (outcome) => {
        pinned.release()
        const nanos = Number(clock.unsafeCurrentTimeNanos() - started)
        const cut = outcome === "sent"
          ? undefined
          : new HttpDoorError({ reason: outcome === "stalled" ? "Stalled" : "Closed" }).message
        logInfo(settle(metrics, request, report, nanos, cut, outcome === "stalled"))
      }
    }
  }
})
