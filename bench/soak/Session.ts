/**
 * The soak's connections to the server: a session is one connection with its reader and what has
 * happened on it; a worker keeps one persistent session across requests, as real clients do.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as ByteReader from "../../src/protocol/ByteReader.js"
import type { Connection, ConnectionError } from "../../src/services/Connection.js"
import { SocketClient } from "../../src/services/SocketClient.js"

/** A connection to the server with its reader, closed (destroyed) with `close`. */
export interface Session {
  readonly connection: Connection
  readonly reader: ByteReader.ByteReader<ConnectionError>
  readonly close: Effect.Effect<void>
  /** When the connection was asked for, before it was opened. */
  readonly openedAt: number
  /** Responses read whole on this connection, and when the last one was. */
  answered: number
  lastAnsweredAt: number
  /** When the first bytes of the answer now awaited arrived, once they have. */
  firstByteAt: number | undefined
}

/** With `reusedReads`, reads as the client command does: into memory the transport reuses (see SocketClient). */
export const openSession = (
  host: string,
  port: number,
  options: { readonly reusedReads?: boolean } = {}
): Effect.Effect<Session, ConnectionError, SocketClient> =>
  Effect.gen(function*() {
    const openedAt = Date.now()
    const scope = yield* Scope.make()
    const reused = options.reusedReads === true
    const connection = yield* SocketClient.pipe(
      Effect.flatMap((client) => client.connect(host, port, { reusedReads: reused })),
      Scope.extend(scope),
      Effect.onError(() => Scope.close(scope, Exit.void))
    )
    const session: Session = {
      connection,
      // Every read notes when the first bytes of an answer came.
      reader: ByteReader.make(
        Effect.tap(connection.read, () =>
          Effect.sync(() => {
            session.firstByteAt ??= Date.now()
          })),
        { reused }
      ),
      close: Scope.close(scope, Exit.void),
      openedAt,
      answered: 0,
      lastAnsweredAt: 0,
      firstByteAt: undefined
    }
    return session
  })

/** A worker's persistent connection: opened when first needed, kept across requests until discarded. */
export interface Persistent {
  readonly session: Effect.Effect<Session, ConnectionError, SocketClient>
  readonly discard: Effect.Effect<void>
}

/**
 * Like any client that keeps connections open, a worker does not reuse one that has been idle for
 * nearly as long as the server waits for a request (`maxIdle`): the server may be closing it.
 */
export const makePersistent = (host: string, port: number, maxIdle: Duration.Duration): Persistent => {
  let current: Session | undefined
  const discard = Effect.suspend(() => {
    const session = current
    current = undefined
    return session?.close ?? Effect.void
  })
  const open = Effect.tap(openSession(host, port), (session) =>
    Effect.sync(() => {
      current = session
    }))
  return {
    session: Effect.suspend(() => {
      if (current === undefined) return open
      const idle = Date.now() - Math.max(current.lastAnsweredAt, current.openedAt)
      return idle < Duration.toMillis(maxIdle) ? Effect.succeed(current) : Effect.zipRight(discard, open)
    }),
    discard
  }
}
