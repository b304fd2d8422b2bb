/**
 * The common native request answered in a few steps: a GET from the first byte of a small file the
 * cache holds, whose digest is known, on a server without tokens. It is decided as `respond` decides
 * it (the same name rules, the same version check, the same pin, the same bytes on the wire, the
 * same counters and log line), but through the services' synchronous lookups (`FileStore.statKnown`,
 * `Cache.pinNow`) and in one write, with no scope: on these machines each Effect operation costs 1-2
 * µs, and the general flow takes well over a hundred for a hit.
 *
 * Anything else is left to `respond`: another request, a resumed GET, a name not resolved before
 * or not a file, a file not cached, larger than one segment, or whose digest is not computed yet
 * (the general flow computes it, once), a server that requires tokens.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import { printable } from "../../format/Printable.js"
import * as Codec from "../../protocol/Codec.js"
import type { Digest } from "../../protocol/Digest.js"
import { Cache, type CachedFile } from "../../services/Cache.js"
import type { Connection, ConnectionError } from "../../services/Connection.js"
import { FileStore } from "../../services/FileStore.js"
import { Tokens } from "../../services/Tokens.js"
import { fileVersion } from "./fileVersion.js"
import { requestLine } from "./requestLine.js"
import { unfinished } from "./respond.js"
import { SEGMENT_BYTES } from "./sendCached.js"
import { recordRequestIn, ServerMetrics } from "./ServerMetrics.js"

/** Answers a request at once and completes when its answer is written; undefined: left to `respond`. */
export type ImmediateGet = (
  connection: Connection,
  request: Codec.Request
) => Effect.Effect<void, ConnectionError> | undefined

/** What is written around a cached file's bytes, for one digest: the same for every request. */
interface Framing {
  /** The file head and the one segment's length. */
  readonly before: Uint8Array
  readonly trailer: Uint8Array
}

/** Framings made per entry (a new version is a new entry) and digest. */
const framings = new WeakMap<CachedFile, Map<Digest, Framing>>()

const framingOf = (file: CachedFile, digest: Digest, value: Uint8Array): Framing => {
  let byDigest = framings.get(file)
  if (byDigest === undefined) framings.set(file, byDigest = new Map())
  let framing = byDigest.get(digest)
  if (framing === undefined) {
    const size = file.bytes.length
    const head = Codec.encodeFileHead(size, digest, { version: fileVersion(file.info) })
    framing = {
      before: size === 0 ? head : Buffer.concat([head, Codec.encodeSegmentHead(size)]),
      trailer: Codec.encodeTrailer(Codec.Trailer.Complete({ digest: value }))
    }
    byDigest.set(digest, framing)
  }
  return framing
}

const status = Codec.statusName(Codec.Status.Ok)

/**
 * The immediate answerer of a server, or `undefined` when it has none: its stores cannot answer
 * synchronously, or it requires tokens (a token file is in force for the server's whole life).
 */
export const makeImmediateGet = Effect.gen(function*() {
  const files = yield* FileStore
  const cache = yield* Cache
  const metrics = yield* ServerMetrics
  const clock = yield* Effect.clock
  const { pinNow } = cache
  const { statKnown } = files
  if (pinNow === undefined || statKnown === undefined) return undefined
  if (Option.isSome(yield* Effect.flatMap(Tokens, (tokens) => tokens.current))) return undefined
  const counters = metrics.requestCounters.ferry

  const immediate: ImmediateGet = (connection, request) => {
    if (request._tag !== "Get" || request.resume !== undefined) return undefined
    const digest = request.digests[0]
    if (digest === undefined) return undefined
    const info = statKnown(request.name)
    if (info === undefined || info.size > SEGMENT_BYTES || info.size > cache.capacity) return undefined
    const pinned = pinNow(info)
    if (pinned === undefined) return undefined
    const { file } = pinned
    const value = file.known?.(digest)
    if (value === undefined) {
      pinned.release()
      return undefined
    }

    const started = clock.unsafeCurrentTimeNanos()
    counters.hits.unsafeUpdate(1, [])
    const { before, trailer } = framingOf(file, digest, value)
    const written = file.bytes.length === 0
      ? connection.write(before, trailer)
      : connection.write(before, file.bytes, trailer)
    return Effect.onExit(written, (exit) =>
      Effect.suspend(() => {
        pinned.release()
        const bytes = Exit.isSuccess(exit) ? file.bytes.length : 0
        if (bytes > 0) counters.bytesServed.unsafeUpdate(bytes, [])
        const nanos = Number(clock.unsafeCurrentTimeNanos() - started)
        recordRequestIn(metrics, "ferry", {
          status,
          failed: false,
          cache: "hit",
          seconds: nanos / 1e9,
          bytes,
          served: 0
        })
        return Effect.logInfo(
          requestLine(`GET ${printable(request.name)}`, status, { bytes, cache: "hit" }, nanos, unfinished(exit))
        )
      }))
  }
  return immediate
})
