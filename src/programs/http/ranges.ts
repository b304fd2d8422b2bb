/**
 * Which bytes a GET asks for (RFC 9110, 14): one range (`a-b`, `a-`, or the last `n` as `-n`),
 * given only from the version the client had when it sends `If-Range`; several ranges, or a header
 * that cannot be read, are answered with the whole file, as the RFC allows.
 */
import type { Validators } from "./conditional.js"
import { parseHttpDate } from "./conditional.js"

export type Selection =
  | { readonly _tag: "Whole" }
  /** Bytes `start` up to and not including `end`. */
  | { readonly _tag: "Range"; readonly start: number; readonly end: number }
  /** A range that starts past the end: 416. */
  | { readonly _tag: "Unsatisfiable" }

const WHOLE: Selection = { _tag: "Whole" }
const UNSATISFIABLE: Selection = { _tag: "Unsatisfiable" }

const RANGE = /^bytes[ \t]*=[ \t]*(\d*)[ \t]*-[ \t]*(\d*)[ \t]*$/i

/** What a `Range` header selects of `size` bytes. */
export const parseRange = (header: string, size: number): Selection => {
  const match = RANGE.exec(header)
  if (match === null) return WHOLE
  const [, first = "", last = ""] = match
  if (first === "") {
    if (last === "") return WHOLE
    // The last n bytes; all of them when the file is shorter.
    const suffix = Number(last)
    return suffix === 0 || size === 0 ? UNSATISFIABLE : { _tag: "Range", start: Math.max(0, size - suffix), end: size }
  }
  const start = Number(first)
  if (last !== "" && Number(last) < start) return WHOLE
  if (start >= size) return UNSATISFIABLE
  return { _tag: "Range", start, end: last === "" ? size : Math.min(size, Number(last) + 1) }
}

/**
 * Whether `If-Range` (absent, an entity-tag or an HTTP-date) lets the range be served: only when it
 * names the current version, by a strong tag or by the exact Last-Modified.
 */
export const ifRangeHolds = (ifRange: string | undefined, validators: Validators): boolean => {
  if (ifRange === undefined) return true
  const value = ifRange.trim()
  if (value.startsWith("\"") || value.startsWith("W/")) return value === validators.etag
  return parseHttpDate(value) === validators.modifiedSeconds
}

/** What to send of a file of `size` bytes, given the request's `Range` and `If-Range`. */
export const select = (
  range: string | undefined,
  ifRange: string | undefined,
  size: number,
  validators: Validators
): Selection => range === undefined || !ifRangeHolds(ifRange, validators) ? WHOLE : parseRange(range, size)
