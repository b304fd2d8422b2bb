/**
 * Stall detection for a transport with no cheaper way to watch its writes (the in-memory network):
 * a write that sees the peer take nothing for a whole stall timeout fails `Stalled`. It costs a
 * fiber per write; the Node transport arms a timer only while a write waits instead.
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import { type Connection, ConnectionError } from "../../services/Connection.js"

/**
 * Waits for `sending`, which queues `queued` more bytes, checking every `timeout` that the peer
 * has taken something meanwhile. A slow client that keeps reading is never cut off, however long
 * the transfer.
 */
const watch =
  (unsentBytes: Effect.Effect<number>, timeout: Duration.DurationInput) =>
  <A>(sending: Effect.Effect<A, ConnectionError>, queued: number): Effect.Effect<A, ConnectionError> =>
    Effect.gen(function*() {
      // Measured before the forked write runs: what it queues is added by hand.
      let unsent = (yield* unsentBytes) + queued
      const fiber = yield* Effect.fork(sending)
      while (true) {
        const done = yield* Effect.timeoutOption(Fiber.join(fiber), timeout)
        if (Option.isSome(done)) return done.value
        const now = yield* unsentBytes
        if (now >= unsent) {
          yield* Fiber.interrupt(fiber)
          return yield* new ConnectionError({ reason: "Stalled" })
        }
        unsent = now
      }
    })

/**
 * `connection` with writes that fail `Stalled` as above; `unsent` counts the bytes written and not
 * yet taken by the peer, which only go down, while a write waits, as the peer takes data.
 */
export const watchStalls = <C extends Connection>(
  connection: C,
  unsent: Effect.Effect<number>,
  timeout: Duration.DurationInput
): C => {
  const guarded = watch(unsent, timeout)
  return {
    ...connection,
    write: (...chunks: ReadonlyArray<Uint8Array>) =>
      guarded(connection.write(...chunks), chunks.reduce((sum, chunk) => sum + chunk.length, 0)),
    end: guarded(connection.end, 0)
  }
}
