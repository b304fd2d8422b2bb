/**
 * A file's validators as HTTP gives them (a strong ETag from its version, Last-Modified from its
 * modification time) and the conditional GET they answer: `If-None-Match`, which takes precedence,
 * and `If-Modified-Since` (RFC 9110, 13.1 and 13.2.2).
 */
import type { FileInfo } from "../../services/FileStore.js"
import { fileVersion } from "../server/fileVersion.js"

export interface Validators {
  /** `"hex"`: the file's version, so a change of contents, inode or time is a new tag. */
  readonly etag: string
  /** An HTTP-date, to the second. */
  readonly lastModified: string
  /** The modification time in whole seconds, as Last-Modified has it. */
  readonly modifiedSeconds: number
}

// A hit asks for them again and again: made once per version, as fileVersion is.
const known = new WeakMap<FileInfo, Validators>()

export const validatorsOf = (info: FileInfo): Validators => {
  let validators = known.get(info)
  if (validators === undefined) {
    const modifiedSeconds = Number(info.mtimeNs / 1_000_000_000n)
    validators = {
      etag: `"${Buffer.from(fileVersion(info)).toString("hex")}"`,
      lastModified: new Date(modifiedSeconds * 1000).toUTCString(),
      modifiedSeconds
    }
    known.set(info, validators)
  }
  return validators
}

/** The entity-tags of an `If-None-Match` or `If-Match` list, weak ones without their `W/`; `*` as itself. */
const tagsOf = (header: string): Array<string> =>
  header.split(",").map((tag) => tag.trim().replace(/^W\//, "")).filter((tag) => tag !== "")

/** Seconds since the epoch of an HTTP-date, or undefined for anything Date cannot read. */
export const parseHttpDate = (text: string): number | undefined => {
  const millis = Date.parse(text)
  return Number.isNaN(millis) ? undefined : Math.floor(millis / 1000)
}

/** Whether a GET or HEAD with these headers is answered 304 Not Modified. */
export const isNotModified = (
  validators: Validators,
  ifNoneMatch: string | undefined,
  ifModifiedSince: string | undefined
): boolean => {
  // Weak comparison, as RFC 9110 says for If-None-Match.
  if (ifNoneMatch !== undefined) {
    const tags = tagsOf(ifNoneMatch)
    return tags.includes("*") || tags.includes(validators.etag)
  }
  if (ifModifiedSince === undefined) return false
  const since = parseHttpDate(ifModifiedSince)
  return since !== undefined && validators.modifiedSeconds <= since
}
