/**
 * Requests to one S3 bucket as the S3 FileStore makes them: where an object is (path-style under a
 * given endpoint, virtual-hosted at AWS), signed with SigV4 by aws4fetch (unsigned without
 * credentials, for a public bucket), and what an answer's XML says (a ListObjectsV2 page, an error's
 * code). Only reads: GET and HEAD.
 */
import { AwsClient } from "aws4fetch"
import type { S3Location } from "./s3Location.js"

export interface Credentials {
  readonly accessKeyId: string
  readonly secretAccessKey: string
  readonly sessionToken?: string | undefined
}

export interface S3Options {
  readonly location: S3Location
  /** An S3-compatible server's base URL (path-style requests); AWS's regional endpoint when left out. */
  readonly endpoint?: string | undefined
  readonly region: string
  /** Requests go unsigned without them. */
  readonly credentials?: Credentials | undefined
  /** Node's `fetch` unless given: tests put a fake server in front. */
  readonly fetch?: ((request: Request) => Promise<Response>) | undefined
}

// RFC 3986's unreserved characters stay, everything else is percent-encoded, as SigV4 requires.
const encodeRfc3986 = (text: string): string =>
  encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)

/** The bucket's base URL, ending in "/". */
export const bucketUrl = (options: Pick<S3Options, "endpoint" | "location" | "region">): string => {
  const { bucket } = options.location
  if (options.endpoint !== undefined) return `${options.endpoint.replace(/\/+$/, "")}/${encodeRfc3986(bucket)}/`
  // A name with dots does not match AWS's wildcard certificate as a host name.
  return bucket.includes(".")
    ? `https://s3.${options.region}.amazonaws.com/${bucket}/`
    : `https://${bucket}.s3.${options.region}.amazonaws.com/`
}

export interface Requests {
  /** Where the bucket is, for messages. */
  readonly where: string
  readonly objectUrl: (key: string) => string
  readonly listUrl: (params: Readonly<Record<string, string | undefined>>) => string
  readonly send: (
    method: "GET" | "HEAD",
    url: string,
    headers: Readonly<Record<string, string>>,
    signal: AbortSignal
  ) => Promise<Response>
}

export const makeRequests = (options: S3Options): Requests => {
  const base = bucketUrl(options)
  const fetchRequest = options.fetch ?? ((request: Request) => fetch(request))
  // Retries are the store's to decide.
  const signer = options.credentials === undefined ? undefined : new AwsClient({
    accessKeyId: options.credentials.accessKeyId,
    secretAccessKey: options.credentials.secretAccessKey,
    ...(options.credentials.sessionToken === undefined ? {} : { sessionToken: options.credentials.sessionToken }),
    service: "s3",
    region: options.region,
    retries: 0
  })
  return {
    where: options.endpoint ?? base,
    objectUrl: (key) => base + key.split("/").map(encodeRfc3986).join("/"),
    listUrl: (params) =>
      base + (Object.keys(params).length === 0 ? "" : "?") + Object.entries(params)
        .flatMap(([name, value]) => value === undefined ? [] : [`${name}=${encodeRfc3986(value)}`])
        .join("&"),
    send: async (method, url, headers, signal) => {
      const init = { method, headers, signal }
      return fetchRequest(signer === undefined ? new Request(url, init) : await signer.sign(url, init))
    }
  }
}

// XML, as much of it as S3's answers need: no attributes, no CDATA, entities decoded.

const ENTITIES: Readonly<Record<string, string>> = { amp: "&", lt: "<", gt: ">", quot: "\"", apos: "'" }

const decodeXml = (text: string): string =>
  text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos);/g, (entity, name: string) =>
    name.startsWith("#x")
      ? String.fromCodePoint(parseInt(name.slice(2), 16))
      : name.startsWith("#")
      ? String.fromCodePoint(parseInt(name.slice(1), 10))
      : ENTITIES[name] ?? entity)

const elements = (xml: string, name: string): Array<string> =>
  Array.from(xml.matchAll(new RegExp(`<${name}>([\\s\\S]*?)</${name}>`, "g")), (match) => match[1]!)

const element = (xml: string, name: string): string | undefined => {
  const found = elements(xml, name)[0]
  return found === undefined ? undefined : decodeXml(found)
}

/** An error answer's `Code` (NoSuchBucket, AccessDenied...), if its body says. */
export const errorCode = (xml: string): string | undefined => element(xml, "Code")

export interface ListedObject {
  readonly key: string
  readonly size: number
  readonly lastModifiedMs: number
}

export interface ListPage {
  readonly objects: ReadonlyArray<ListedObject>
  /** Common prefixes, each ending in the delimiter. */
  readonly prefixes: ReadonlyArray<string>
  readonly continuationToken: string | undefined
}

export const parseListPage = (xml: string): ListPage => ({
  objects: elements(xml, "Contents").map((contents) => ({
    key: element(contents, "Key") ?? "",
    size: Number(element(contents, "Size") ?? 0),
    lastModifiedMs: Date.parse(element(contents, "LastModified") ?? "") || 0
  })),
  prefixes: elements(xml, "CommonPrefixes").map((common) => element(common, "Prefix") ?? ""),
  continuationToken: element(xml, "IsTruncated") === "true" ? element(xml, "NextContinuationToken") : undefined
})
