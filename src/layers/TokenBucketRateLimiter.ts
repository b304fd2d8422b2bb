/**
 * The RateLimiter with token buckets: one per connection, and one for the whole server that every
 * connection's writes also take from. A write is cut into small pieces, each of which takes its bytes
 * from its connection's bucket, then from the server's; the server's bucket serves its takers in the
 * order they asked, a piece each, so connections that want more than their share take turns and a
 * large write cannot hold the others back.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { Connection } from "../services/Connection.js"
import { RateLimiter } from "../services/RateLimiter.js"
import * as TokenBucket from "./internal/TokenBucket.js"
import * as UnlimitedRateLimiter from "./UnlimitedRateLimiter.js"

export interface Limits {
  /** Bytes a second that each connection may send; no limit when left out. */
  readonly perConnection?: number | undefined
  /** Bytes a second that all connections together may send; no limit when left out. */
  readonly total?: number | undefined
}

// Pieces of at most 64 KiB, and at most 50 ms at the slowest limit, so that pacing stays smooth;
// at least 1 KiB, so that a slow limit does not cost a write per few bytes.
const MAX_PIECE_BYTES = 64 * 1024
const MIN_PIECE_BYTES = 1024
const PIECE_MILLIS = 50
// What a connection's bucket holds: enough to cover a timer that fires late without losing the rate.
const BURST_MILLIS = 100
// The server's holds less: what it holds after a pause goes to whoever asks first, ahead of its turn.
const SHARED_BURST_MILLIS = 25

const bytesIn = (rate: number, millis: number) => Math.floor((rate * millis) / 1000)

/** `chunks` in groups of at most `limit` bytes, in order, chunks cut where needed (views, no copies). */
export const cut = (chunks: ReadonlyArray<Uint8Array>, limit: number): Array<Array<Uint8Array>> => {
  const groups: Array<Array<Uint8Array>> = []
  let group: Array<Uint8Array> = []
  let room = limit
  for (const chunk of chunks) {
    for (let at = 0; at < chunk.length;) {
      const part = chunk.subarray(at, at + room)
      group.push(part)
      at += part.length
      room -= part.length
      if (room === 0) {
        groups.push(group)
        group = []
        room = limit
      }
    }
  }
  if (group.length > 0) groups.push(group)
  return groups
}

const sizeOf = (chunks: ReadonlyArray<Uint8Array>) => chunks.reduce((sum, chunk) => sum + chunk.length, 0)

const nowMillis = Effect.map(Clock.currentTimeNanos, (nanos) => Number(nanos / 1000n) / 1000)

/**
 * Waits until `bucket` covers `tokens`, in whole milliseconds (what timers keep; the bucket counts the
 * rest, so rounding up loses nothing over time); if the wait is cut short, they go back to the bucket.
 * `ifCovered` is what to do when there is no wait.
 */
const allow = (bucket: TokenBucket.TokenBucket, tokens: number, ifCovered: Effect.Effect<void>) =>
  Effect.flatMap(nowMillis, (now) => {
    const wait = Math.ceil(bucket.take(now, tokens))
    return wait <= 0
      ? ifCovered
      : Effect.onInterrupt(Effect.sleep(Duration.millis(wait)), () => Effect.sync(() => bucket.giveBack(tokens)))
  })

const bucketFor = (rate: number, piece: number, burstMillis: number) =>
  TokenBucket.make(rate, Math.max(piece, bytesIn(rate, burstMillis)))

export const make = (limits: Limits): Effect.Effect<RateLimiter["Type"]> =>
  Effect.sync(() => {
    const { perConnection, total } = limits
    const slowest = Math.min(perConnection ?? Infinity, total ?? Infinity)
    const piece = Math.min(MAX_PIECE_BYTES, Math.max(MIN_PIECE_BYTES, bytesIn(slowest, PIECE_MILLIS)))
    const shared = total === undefined ? undefined : bucketFor(total, piece, SHARED_BURST_MILLIS)
    // A connection that finds the server's bucket holding tokens (after a pause, or when the event loop
    // was held up) lets the others take their turn before its next piece: in a loop of writes that each
    // complete at once, it would take all of them.
    const allowShared = shared === undefined
      ? () => Effect.void
      : (bytes: number) => allow(shared, bytes, Effect.yieldNow())

    const pace = <C extends Connection>(connection: C): Effect.Effect<C> =>
      Effect.sync(() => {
        const own = perConnection === undefined ? undefined : bucketFor(perConnection, piece, BURST_MILLIS)
        // Its own bucket first: the server's tokens are taken only once this connection may use them.
        const allowed = own === undefined
          ? allowShared
          : (bytes: number) => Effect.zipRight(allow(own, bytes, Effect.void), allowShared(bytes))
        const sendPiece = (group: ReadonlyArray<Uint8Array>) =>
          Effect.zipRight(allowed(sizeOf(group)), connection.write(...group))
        const write = (...chunks: ReadonlyArray<Uint8Array>) =>
          sizeOf(chunks) <= piece
            ? sendPiece(chunks)
            : Effect.forEach(cut(chunks, piece), sendPiece, { discard: true })
        return { ...connection, write }
      })

    return RateLimiter.of({ pace })
  })

/** Token buckets for the limits that are set; no pacing at all when neither is. */
export const layer = (limits: Limits): Layer.Layer<RateLimiter> =>
  limits.perConnection === undefined && limits.total === undefined
    ? UnlimitedRateLimiter.layer
    : Layer.effect(RateLimiter, make(limits))
