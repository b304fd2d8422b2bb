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
): LogLine => {
  // Built field by field: an object literal spreading `door` and `client` among fixed fields takes
  // V8's slow path, measured at 10 µs a line on these machines (this way, under 0.1 µs).
  const fields: Record<string, unknown> = {}
  for (const key in door) fields[key] = door[key]
  fields.status = status
  fields.bytes = answered.bytes
  fields.ms = Math.round(nanos / 1e6)
  fields.token = answered.token
  fields.cache = answered.cache
  fields.from = answered.from
  fields.detail = answered.detail === undefined ? undefined : printable(answered.detail)
  fields.unfinished = unfinished
  for (const key in client) fields[key] = client[key]
  return new LogLine(asked, fields)
}
