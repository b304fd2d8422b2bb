/**
 * Where an S3 origin is, as DIR names it: `s3://BUCKET/PREFIX`. Apart from the rest of the S3 code,
 * so that telling a DIR from a bucket loads none of it.
 */
import { isAcceptableName } from "../../services/FileName.js"

/** A bucket and the key prefix under it that stands for the served directory: "" or ending in "/". */
export interface S3Location {
  readonly bucket: string
  readonly prefix: string
}

// Bucket names as S3 and the common S3-compatible servers accept them (uppercase and `_` for old buckets).
const BUCKET = /^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$/

/**
 * `s3://BUCKET/PREFIX` (PREFIX optional, trailing slashes ignored), or `undefined` for anything else.
 * PREFIX is held to what a served name may be: a `..` segment would be resolved away in the URL.
 */
export const parseS3Url = (text: string): S3Location | undefined => {
  const match = /^s3:\/\/([^/]*)(?:\/(.*))?$/s.exec(text)
  if (match === null || !BUCKET.test(match[1]!)) return undefined
  const prefix = (match[2] ?? "").replace(/\/+$/, "")
  if (prefix !== "" && !isAcceptableName(prefix)) return undefined
  return { bucket: match[1]!, prefix: prefix === "" ? "" : `${prefix}/` }
}

export const isS3Url = (text: string): boolean => text.startsWith("s3://")
