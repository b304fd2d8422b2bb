/**
 * When a download tries again by itself, and how soon: after a connection lost or cut, a timeout,
 * or a busy server, with exponential backoff, resuming each time from what arrived.
 */
import * as Duration from "effect/Duration"
import * as Schedule from "effect/Schedule"
import * as Codec from "../../protocol/Codec.js"
import type { ProtocolError } from "../../protocol/ProtocolError.js"
import type { ConnectionError } from "../../services/Connection.js"
import type { DestinationError, TransferError } from "./errors.js"

export const DEFAULT_RETRIES = 5

/**
 * Half a second, doubling, at most 8 seconds apart, jittered so that a fleet cut off at once does
 * not come back at once: five retries span about 20 seconds.
 */
export const backoff = (retries: number) =>
  Schedule.exponential("500 millis", 2).pipe(
    Schedule.modifyDelay((delay) => Duration.min(delay, Duration.seconds(8))),
    Schedule.jittered,
    Schedule.intersect(Schedule.recurs(retries))
  )

/**
 * Whether trying again may help. A refused connection counts only once the server has answered
 * this download before (it is restarting, or the link is down): a wrong address fails at once.
 */
export const isTransient = (
  error: ConnectionError | ProtocolError | TransferError | DestinationError,
  { answeredBefore }: { readonly answeredBefore: boolean }
): boolean => {
  switch (error._tag) {
    case "ConnectionError":
      // TLS that failed once fails the same way again: a certificate, a name, a port.
      return error.reason !== "Tls" && (error.reason !== "Refused" || answeredBefore)
    case "ProtocolError":
      return error.reason === "Truncated"
    case "TransferError":
      return error.reason === "Refused" && (error.status === Codec.Status.Busy || error.status === Codec.Status.Timeout)
    case "DestinationError":
      return false
  }
}

/** What went wrong, in the few words a retry notice gives it. */
export const retryReason = (error: ConnectionError | ProtocolError | TransferError | DestinationError): string =>
  error._tag === "ProtocolError" && error.reason === "Truncated"
    ? "connection closed mid-response"
    : error._tag === "TransferError"
    ? `server: ${error.message}`
    : error.message
