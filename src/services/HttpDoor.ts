/**
 * The read-only HTTP/1.1 door beside the native port. Requests arrive as small values and answers go
 * back as values (a status, headers, a body in memory or pulled a chunk at a time), so the flow that
 * decides them runs without sockets; the transport writes them with backpressure.
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { ServerAddress } from "./SocketServer.js"

/** What the flow is told of a request. */
export interface HttpRequest {
  readonly method: string
  /** The request-target as sent: a path and maybe a query, still percent-encoded. */
  readonly target: string
  /** A header's value by its lower-case name; repeated ones joined with ", ". */
  readonly header: (name: string) => string | undefined
  /** `host:port` of the client. */
  readonly peer: string
}

/** Why an answer's body did not reach its end. */
export class HttpDoorError extends Data.TaggedError("HttpDoorError")<{
  /**
   * - `Closed`: the client went away (or the server cut it off) before the response was sent;
   * - `Stalled`: the client read nothing for a stall timeout and was dropped;
   * - `Aborted`: the body's source failed part-way (the response is cut short).
   */
  readonly reason: "Closed" | "Stalled" | "Aborted"
  readonly detail?: string
}> {
  override get message(): string {
    switch (this.reason) {
      case "Closed":
        return "the client went away"
      case "Stalled":
        return "the client stopped reading"
      case "Aborted":
        return this.detail ?? "the body could not be read"
    }
  }
}

export type HttpBody = Data.TaggedEnum<{
  /** No body (HEAD, 304, or an empty file). */
  Empty: {}
  /** In memory, held for as long as the request's scope is open (a slice of a pinned cache entry). */
  Bytes: { readonly bytes: Uint8Array }
  /**
   * Pulled one chunk at a time, the next only once the last is handed to the kernel; an empty chunk
   * ends it. `sent` is told of each chunk once its memory may be reused, and how long it took.
   */
  Chunks: {
    readonly next: Effect.Effect<Uint8Array, HttpDoorError>
    readonly sent: (chunk: Uint8Array, millis: number) => Effect.Effect<void>
  }
}>
export const HttpBody = Data.taggedEnum<HttpBody>()

export interface HttpAnswer {
  readonly status: number
  /** Lower-case names; `content-length` is the body's length (or, for HEAD, what GET would send). */
  readonly headers: Readonly<Record<string, string>>
  readonly body: HttpBody
}

/**
 * What happens to the door's connections, for the server's counters: `turnedAway` over the
 * connection limit, `addressTurnedAway` over the limit for one client address.
 */
export type ConnectionEvent = "opened" | "closed" | "turnedAway" | "addressTurnedAway" | "timedOut"

/** How the sending of an answer ended: handed whole to the kernel, or cut off. */
export type SendOutcome = "sent" | "closed" | "stalled"

/** An answer decided at once, without an Effect, and who to tell how its sending ended. */
export interface ImmediateAnswer {
  /** Its body is `Empty` or `Bytes`, held until `done` is called. */
  readonly answer: HttpAnswer
  /** Called once, when the response has been handed to the kernel or cut off. */
  readonly done: (outcome: SendOutcome) => void
}

export interface HttpServeOptions<R> {
  /**
   * Answers a request at once when it can, with no fiber or scope of its own (a cached file, the
   * common case); `undefined` hands it to `handle`, which decides everything else.
   */
  readonly immediate?: ((request: HttpRequest) => ImmediateAnswer | undefined) | undefined
  /** On shutdown, how long responses in flight may take to finish. */
  readonly gracePeriod: Duration.DurationInput
  readonly onConnection: (event: ConnectionEvent) => Effect.Effect<void, never, R>
}

export class HttpDoor extends Context.Tag("ferry/HttpDoor")<HttpDoor, {
  /** Where it listens (the real port when it was asked for port 0). */
  readonly address: ServerAddress
  /** Whether it speaks HTTPS. */
  readonly secure: boolean
  /**
   * Answers requests with `handle` until interrupted. Each request's scope stays open until its
   * response has been sent or the connection is gone, and is closed with a failure (`HttpDoorError`)
   * or an interruption when the response did not get to its end. When interrupted, it stops
   * listening, closes idle connections, lets responses in flight finish within `gracePeriod`, then
   * cuts off the rest. Before `serve` and after, requests are answered 503.
   */
  readonly serve: <R>(
    handle: (request: HttpRequest) => Effect.Effect<HttpAnswer, never, R | Scope.Scope>,
    options: HttpServeOptions<R>
  ) => Effect.Effect<never, never, Exclude<R, Scope.Scope>>
}>() {}
