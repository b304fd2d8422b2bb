/**
 * Pacing of what the server sends: bytes per second for each connection and for the whole server,
 * shared fairly between the connections that want more.
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type { Connection } from "./Connection.js"

export class RateLimiter extends Context.Tag("ferry/RateLimiter")<RateLimiter, {
  /**
   * `connection` with its writes held to the limits: each waits for its bytes to be allowed before
   * it is handed to `connection`, so the time spent waiting here is never counted against the peer
   * (it is not a stall). With no limit, `connection` itself.
   */
  readonly pace: <C extends Connection>(connection: C) => Effect.Effect<C>
}>() {}
