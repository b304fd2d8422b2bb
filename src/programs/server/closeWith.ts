/** Ending a connection with a last message, in a way that lets the client read it. */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { Connection, ConnectionError } from "../../services/Connection.js"

// Enough for any request the client may still have been sending; past that, or that long, give up.
const DRAIN_LIMIT_BYTES = 64 * 1024
const DRAIN_TIMEOUT = Duration.seconds(2)

const drain = (connection: Connection): Effect.Effect<void, ConnectionError> => {
  const loop = (left: number): Effect.Effect<void, ConnectionError> =>
    left <= 0
      ? Effect.void
      : Effect.flatMap(
        connection.read,
        Option.match({ onNone: () => Effect.void, onSome: (c) => loop(left - c.length) })
      )
  return loop(DRAIN_LIMIT_BYTES)
}

/**
 * Sends a last message and closes. What the client is still sending is read and dropped first:
 * closing a socket with unread bytes makes the kernel reset the connection, which can destroy the
 * message before the client has read it.
 */
export const closeWith = (connection: Connection, message: Uint8Array): Effect.Effect<void> =>
  connection.write(message).pipe(
    Effect.zipRight(connection.end),
    // A deadline of its own: whatever was left of the request's does not apply.
    Effect.zipRight(connection.readDeadline(DRAIN_TIMEOUT)),
    Effect.zipRight(drain(connection)),
    Effect.ignore
  )
