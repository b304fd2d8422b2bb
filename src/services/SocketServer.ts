/**
 * Accepting connections: each in a fiber of its own, all of them stopped together, with a grace
 * period for those in the middle of something.
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type { Connection } from "./Connection.js"

export interface ServerAddress {
  readonly host: string
  readonly port: number
}

/** The server could not listen where it was asked to. */
export class ServerError extends Data.TaggedError("ServerError")<{
  readonly reason: "AddressInUse" | "AddressUnavailable" | "PermissionDenied" | "Failed"
  readonly address: ServerAddress
  /** Which of the server's listeners, when it has several: the option that asked for it, as `--metrics`. */
  readonly listener?: string
  /** The option that asked for the address, when it is not the server's own HOST PORT (`--http`). */
  readonly option?: string
  readonly cause?: unknown
}> {
  override get message(): string {
    // Both branches named the listener, each its own way (`listener` from main, `option` from http): kept both until they agree on one.
    const where = `${this.listener === undefined ? "" : `${this.listener} `}${this.address.host}:${this.address.port}${
      this.option === undefined ? "" : ` (${this.option})`
    }`
    switch (this.reason) {
      case "AddressInUse":
        return `${where} is already in use`
      case "AddressUnavailable":
        return `cannot listen on ${where}: no such local address`
      case "PermissionDenied":
        return `not allowed to listen on ${where}`
      case "Failed":
        return `cannot listen on ${where}${this.cause instanceof Error ? `: ${this.cause.message}` : ""}`
    }
  }
}

/** A connection accepted by a server, which may ask it to wind down. */
export interface ServerConnection extends Connection {
  /**
   * Completes when the server begins to shut down. A handler should then finish the request it
   * is serving, if any, and return. From then on the connection's read deadline is now, whatever
   * it is set to: a read waiting for the next request fails `TimedOut` at once.
   */
  readonly draining: Effect.Effect<void>
  /** Whether the server has begun to shut down. */
  readonly isDraining: Effect.Effect<boolean>
}

export interface ServeOptions {
  readonly gracePeriod: Duration.DurationInput
  /**
   * A connection's `write` or `end` that waits while the client takes nothing for this long fails
   * with `Stalled`: a client that stops reading cannot hold a transfer, its cache pin and its file
   * forever. A slow client that keeps reading is not cut off. No limit when left out.
   */
  readonly stallTimeout?: Duration.DurationInput
}

export class SocketServer extends Context.Tag("ferry/SocketServer")<SocketServer, {
  /** Where the server listens (the real port when it was asked for port 0). */
  readonly address: ServerAddress
  /** Whether connections are being served: from `serve` until shutdown begins, when new ones are refused. */
  readonly accepting: Effect.Effect<boolean>
  /**
   * Accepts connections until interrupted, running `handle` for each in a fiber of its own and
   * closing the connection when it returns. When interrupted, it stops accepting, signals
   * `draining` to every connection, waits up to `gracePeriod` for their handlers to return, then
   * interrupts the rest.
   */
  readonly serve: <R>(
    handle: (connection: ServerConnection) => Effect.Effect<void, never, R>,
    options: ServeOptions
  ) => Effect.Effect<never, never, R>
}>() {}
