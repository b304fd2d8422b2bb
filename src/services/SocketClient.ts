/** Opening connections to a server. */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { Connection, ConnectionError } from "./Connection.js"

export class SocketClient extends Context.Tag("ferry/SocketClient")<SocketClient, {
  /** Opens a connection, closed when the current scope closes. */
  readonly connect: (host: string, port: number) => Effect.Effect<Connection, ConnectionError, Scope.Scope>
}>() {}
