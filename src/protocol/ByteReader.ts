/**
 * Buffered reading from a pull source of byte chunks: exact-length reads for headers, and
 * zero-copy reads of whatever has arrived for bodies. Only reads from the source when asked.
 *
 * A source may reuse a chunk's memory once it is pulled again (`reused`): the reader then copies
 * what it still holds of a chunk before pulling, and `exactly` returns copies, so that only what
 * `upTo` returns is short-lived: valid until the reader's next call.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { ProtocolError } from "./ProtocolError.js"

export interface ByteReader<E> {
  /** True when the source has ended with nothing left unread: the clean end between messages. */
  readonly atEnd: Effect.Effect<boolean, E>
  /** Exactly `n` bytes; fails with a `Truncated` protocol error if the source ends first. */
  readonly exactly: (n: number) => Effect.Effect<Uint8Array, E | ProtocolError>
  /** How many bytes have come from the source so far, read or not. */
  readonly received: () => number
  /**
   * Between 1 and `max` bytes, without copying where possible; fails `Truncated` at the end. Over a
   * source that reuses its memory, valid only until the next call.
   */
  readonly upTo: (max: number) => Effect.Effect<Uint8Array, E | ProtocolError>
}

export const make = <E>(
  pull: Effect.Effect<Option.Option<Uint8Array>, E>,
  options: { readonly reused?: boolean } = {}
): ByteReader<E> => {
  const reused = options.reused === true
  let pending: Array<Uint8Array> = []
  let buffered = 0
  let received = 0
  let ended = false

  // Reads one more chunk into `pending`; false once the source has ended.
  const fill = Effect.suspend(() => {
    if (ended) return Effect.succeed(false)
    if (reused && buffered > 0) {
      const kept = take(buffered).slice()
      pending = [kept]
      buffered = kept.length
    }
    return Effect.map(pull, (chunk) => {
      if (Option.isNone(chunk)) {
        ended = true
        return false
      }
      if (chunk.value.length > 0) {
        pending.push(chunk.value)
        buffered += chunk.value.length
        received += chunk.value.length
      }
      return true
    })
  })

  const take = (n: number): Uint8Array => {
    // Nothing may be buffered at all: an empty field at the very end of the input.
    if (n === 0) return new Uint8Array(0)
    const first = pending[0]!
    if (first.length > n) {
      pending[0] = first.subarray(n)
      buffered -= n
      return first.subarray(0, n)
    }
    if (first.length === n) {
      pending.shift()
      buffered -= n
      return first
    }
    const out = new Uint8Array(n)
    let offset = 0
    while (offset < n) {
      const chunk = pending[0]!
      const length = Math.min(chunk.length, n - offset)
      out.set(chunk.subarray(0, length), offset)
      offset += length
      if (length === chunk.length) pending.shift()
      else pending[0] = chunk.subarray(length)
    }
    buffered -= n
    return out
  }

  const truncated = (wanted: number) =>
    new ProtocolError({ reason: "Truncated", detail: `input ended with ${wanted} more bytes expected` })

  const atEnd: Effect.Effect<boolean, E> = Effect.suspend(() =>
    buffered > 0 ? Effect.succeed(false) : Effect.flatMap(fill, (more) => more ? atEnd : Effect.succeed(true))
  )

  const exactly = (n: number): Effect.Effect<Uint8Array, E | ProtocolError> =>
    Effect.suspend(() => {
      if (buffered >= n) return Effect.succeed(reused ? take(n).slice() : take(n))
      return Effect.flatMap(fill, (more) => more ? exactly(n) : Effect.fail(truncated(n - buffered)))
    })

  const upTo = (max: number): Effect.Effect<Uint8Array, E | ProtocolError> =>
    Effect.suspend(() => {
      if (buffered > 0) return Effect.succeed(take(Math.min(max, pending[0]!.length)))
      return Effect.flatMap(fill, (more) => more ? upTo(max) : Effect.fail(truncated(max)))
    })

  return { atEnd, exactly, upTo, received: () => received }
}

/** A reader over chunks already in memory, for decoding and for tests. */
export const fromChunks = (chunks: Iterable<Uint8Array>): ByteReader<never> => {
  const iterator = chunks[Symbol.iterator]()
  return make(Effect.sync(() => {
    const next = iterator.next()
    return next.done ? Option.none() : Option.some(next.value)
  }))
}
