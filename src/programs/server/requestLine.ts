/**
 * The one line logged per request, whichever door it came by: what was asked, then its status,
 * bytes, duration and what is known of how it went, in the same order for both doors.
 */
import { LogLine } from "../../format/LogLine.js"
import { printable } from "../../format/Printable.js"

/** What the line says of an answered request, beyond its status. */
export interface Answered {
  readonly bytes: number
  readonly token?: string | undefined
  readonly cache?: string | undefined
  readonly from?: number | undefined
  readonly detail?: string | undefined
}

export const requestLine = (
  asked: string,
  status: string,
  answered: Answered,
  nanos: number,
  unfinished: string | undefined,
  door: Readonly<Record<string, string>> = {},
  client: Readonly<Record<string, string>> = {}
): LogLine =>
  new LogLine(asked, {
    ...door,
    status,
    bytes: answered.bytes,
    ms: Math.round(nanos / 1e6),
    token: answered.token,
    cache: answered.cache,
    from: answered.from,
    detail: answered.detail === undefined ? undefined : printable(answered.detail),
    unfinished,
    ...client
  })
