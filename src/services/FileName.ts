/**
 * What a requested file name may be: a relative, `/`-separated path that stays inside the served
 * directory by its spelling alone. Anything else is answered as "not found" without touching the disk.
 */

/** Longest accepted name in UTF-8 bytes, and longest segment (the usual file-system limits). */
export const MAX_NAME_BYTES = 4096
export const MAX_SEGMENT_BYTES = 255

// Control characters (C0 and DEL) and the backslash, which some clients treat as a separator.
const FORBIDDEN = /[\u0000-\u001f\u007f\\]/

const utf8Length = (text: string): number => Buffer.byteLength(text, "utf8")

export const isAcceptableName = (name: string): boolean => {
  if (name.length === 0 || utf8Length(name) > MAX_NAME_BYTES || FORBIDDEN.test(name)) return false
  return name.split("/").every((segment) =>
    segment.length > 0 && segment !== "." && segment !== ".." && utf8Length(segment) <= MAX_SEGMENT_BYTES
  )
}
