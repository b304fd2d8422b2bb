/**
 * What is known of an HTTP request as it is answered, filled in on the way, then counted and logged
 * in one line once its response is sent or cut off, as the native port's requests are (respond.ts),
 * with `door=http` and the HTTP status.
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type { LogLine } from "../../format/LogLine.js"
import { printable } from "../../format/Printable.js"
import type { HttpRequest } from "../../services/HttpDoor.js"
import { requestLine } from "../server/requestLine.js"
import { recordRequestIn, type ServerMetrics } from "../server/ServerMetrics.js"
import { pathOf } from "./names.js"

export interface Report {
  status: number
  /** File (or listing) bytes sent. */
  bytes: number
  /** Bytes of an in-memory body, counted once the response has been sent. */
  pending: number
  /** For a file: sent from the cache, loaded into it, or streamed past it. */
  cache?: "hit" | "miss" | "bypass" | "slice"
  /** For a range: where the body started. */
  from?: number
  /** The label of the request's token, when the server requires tokens. */
  token?: string
  detail?: string
}

export const newReport = (): Report => ({ status: 500, bytes: 0, pending: 0 })

/** Why a response did not get to its end, if it did not. */
const unfinished = (exit: Exit.Exit<unknown, unknown>): string | undefined => {
  if (Exit.isSuccess(exit)) return undefined
  if (Cause.isInterruptedOnly(exit.cause)) return "interrupted"
  const failure = Cause.failureOption(exit.cause)
  return failure._tag === "Some" && failure.value instanceof Error ? failure.value.message : "failed"
}

const stalledExit = (exit: Exit.Exit<unknown, unknown>) =>
  Exit.isFailure(exit) &&
  Cause.failureOption(exit.cause).pipe((failure) =>
    failure._tag === "Some" && (failure.value as { readonly reason?: unknown }).reason === "Stalled"
  )

/**
 * Counts a request whose response has ended in `metrics`, and returns its log line: `cut` says why
 * the response did not get to its end, if it did not.
 */
export const settle = (
  metrics: ServerMetrics["Type"],
  request: HttpRequest,
  report: Report,
  nanos: number,
  cut: string | undefined,
  stalled: boolean
): LogLine => {
  if (cut === undefined) report.bytes += report.pending
  const status = String(report.status)
  recordRequestIn(metrics, "http", {
    status,
    failed: report.status >= 400,
    cache: report.cache ?? "none",
    seconds: nanos / 1e9,
    bytes: report.bytes,
    served: report.bytes
  })
  if (stalled) metrics.counters.stalls.unsafeUpdate(1, [])
  return requestLine(
    `${request.method} ${printable(pathOf(request.target) ?? request.target)}`,
    status,
    report,
    nanos,
    cut,
    { door: "http" },
    { client: request.peer }
  )
}

/** Counts (in `metrics`) and logs `request` once its response has ended as `exit` says. */
export const finish = (
  metrics: ServerMetrics["Type"],
  request: HttpRequest,
  report: Report,
  started: bigint,
  exit: Exit.Exit<unknown, unknown>
) =>
  Effect.flatMap(
    Clock.currentTimeNanos,
    (now) =>
      Effect.logInfo(settle(metrics, request, report, Number(now - started), unfinished(exit), stalledExit(exit)))
  )
