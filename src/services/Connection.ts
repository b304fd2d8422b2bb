/**
 * One end of a byte-stream connection, with backpressure both ways: nothing is read from the
 * network until asked for, and writing waits while the peer is not keeping up.
 */
import * as Data from "effect/Data"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"

export class ConnectionError extends Data.TaggedError("ConnectionError")<{
  /**
   * - `Refused`: the connection could not be opened;
   * - `Closed`: the peer closed or reset it while data was still due;
   * - `Stalled`: the peer stopped taking data, or sending it, for too long;
   * - `TimedOut`: the read deadline passed (see `readDeadline`);
   * - `Tls`: TLS failed, in the handshake or after it (see `tls`);
   * - `Failed`: any other network error.
   */
  readonly reason: "Refused" | "Closed" | "Stalled" | "TimedOut" | "Tls" | "Failed"
  /** With `Tls`: what was wrong. */
  readonly tls?: TlsProblem
  readonly cause?: unknown
}> {
  override get message(): string {
    const detail = this.cause instanceof Error ? `: ${this.cause.message}` : ""
    switch (this.reason) {
      case "Refused":
        return `could not connect${detail}`
      case "Closed":
        return "connection closed by peer"
      case "Stalled":
        return "connection stalled: no progress for too long"
      case "TimedOut":
        return "nothing more received before the deadline"
      case "Tls":
        return `TLS failed${detail}`
      case "Failed":
        return `connection failed${detail}`
    }
  }
}

/**
 * Why TLS failed, as a client sees it:
 * - `Untrusted`: the server's certificate is not signed by a CA the client trusts;
 * - `HostName`: the certificate is not issued for the name the client connected to;
 * - `Expired`, `NotYetValid`: the certificate is outside its validity period;
 * - `NotTls`: what the server sent is not TLS (a plain port);
 * - `Failed`: anything else (the connection cut during the handshake, no protocol in common, an alert).
 */
export type TlsProblem = "Untrusted" | "HostName" | "Expired" | "NotYetValid" | "NotTls" | "Failed"

export interface Connection {
  /** The other end, as `host:port`, for logs. */
  readonly peer: string
  /** The next bytes the peer sent; `None` once it has finished sending. */
  readonly read: Effect.Effect<Option.Option<Uint8Array>, ConnectionError>
  /**
   * From now on, a `read` that finds nothing received waits at most until `after` from now, then
   * fails `TimedOut`; a read waiting already follows the new deadline. One deadline for any number
   * of reads, so a peer trickling bytes does not push it back; `undefined` removes it.
   */
  readonly readDeadline: (after: Duration.DurationInput | undefined) => Effect.Effect<void>
  /**
   * Sends `chunks` in order, in one write where the platform allows. Completes once they have been
   * handed to the network (copied into the kernel's send buffer), so a sender that waits on it is
   * held back to the pace of the peer, and may reuse the chunks' memory afterwards; not before.
   */
  readonly write: (...chunks: ReadonlyArray<Uint8Array>) => Effect.Effect<void, ConnectionError>
  /** Finishes sending: completes once everything written has been handed to the network. */
  readonly end: Effect.Effect<void, ConnectionError>
}
