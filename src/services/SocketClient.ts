/** Opening connections to a server. */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { Connection, ConnectionError } from "./Connection.js"

export class SocketClient extends Context.Tag("ferry/SocketClient")<SocketClient, {
  /**
   * Opens a connection, closed when the current scope closes. With `readTimeout`, a `read` that
   * waits that long for the server fails with `Stalled`. With `reusedReads`, the bytes a `read`
   * returns are the caller's only until its next `read`: the transport may then reuse their memory,
   * which spares a receiver of large files an allocation per read.
   */
  readonly connect: (
    host: string,
    port: number,
    options?: { readonly readTimeout?: Duration.DurationInput; readonly reusedReads?: boolean }
  ) => Effect.Effect<Connection, ConnectionError, Scope.Scope>
}>() {}
