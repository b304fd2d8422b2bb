/**
 * A fake S3 bucket as a `fetch` function, for what s3rver does not do: it honours If-Match (412),
 * answers `Range: bytes=a-b`, and pages ListObjectsV2 answers at a size of its choosing with
 * continuation tokens (s3rver's need DES, which Node 20 lacks). It records every request it gets.
 */
import { createHash } from "node:crypto"

interface FakeObject {
  readonly bytes: Uint8Array
  readonly etag: string
  readonly lastModified: Date
}

export interface RecordedRequest {
  readonly method: string
  readonly url: URL
  readonly headers: Headers
}

const escapeXml = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")

export const make = (options: { readonly bucket: string; readonly pageSize: number }) => {
  const objects = new Map<string, FakeObject>()
  const requests: Array<RecordedRequest> = []
  let clock = Date.parse("2026-01-01T00:00:00Z")

  const put = (key: string, bytes: Uint8Array | string) => {
    const data = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes
    clock += 1000
    objects.set(key, {
      bytes: data,
      etag: `"${createHash("md5").update(data).digest("hex")}"`,
      lastModified: new Date(clock)
    })
  }

  const list = (url: URL) => {
    const prefix = url.searchParams.get("prefix") ?? ""
    const delimiter = url.searchParams.get("delimiter")
    const start = Number(url.searchParams.get("continuation-token") ?? 0)
    const keys = [...objects.keys()].filter((key) => key.startsWith(prefix)).sort()
    const contents: Array<string> = []
    const prefixes = new Set<string>()
    for (const key of keys) {
      const cut = delimiter === null ? -1 : key.indexOf(delimiter, prefix.length)
      if (cut >= 0) prefixes.add(key.slice(0, cut + 1))
      else contents.push(key)
    }
    const all = [...contents.map((key) => ({ key })), ...[...prefixes].map((common) => ({ common }))]
    const page = all.slice(start, start + options.pageSize)
    const truncated = start + options.pageSize < all.length
    const xml = page.map((item) => {
      if ("common" in item) return `<CommonPrefixes><Prefix>${escapeXml(item.common)}</Prefix></CommonPrefixes>`
      const object = objects.get(item.key)!
      return `<Contents><Key>${escapeXml(item.key)}</Key><LastModified>${object.lastModified.toISOString()}` +
        `</LastModified><ETag>${escapeXml(object.etag)}</ETag><Size>${object.bytes.length}</Size></Contents>`
    }).join("")
    const next = truncated ? `<NextContinuationToken>${start + options.pageSize}</NextContinuationToken>` : ""
    return new Response(
      `<?xml version="1.0"?><ListBucketResult><IsTruncated>${truncated}</IsTruncated>${next}${xml}</ListBucketResult>`,
      { status: 200, headers: { "content-type": "application/xml" } }
    )
  }

  const fetch = async (request: Request): Promise<Response> => {
    const url = new URL(request.url)
    requests.push({ method: request.method, url, headers: request.headers })
    const base = `/${options.bucket}/`
    if (!url.pathname.startsWith(base)) return new Response(null, { status: 404 })
    const key = decodeURIComponent(url.pathname.slice(base.length))
    if (key === "") return request.method === "HEAD" ? new Response(null, { status: 200 }) : list(url)
    const object = objects.get(key)
    if (object === undefined) return new Response(null, { status: 404 })
    const ifMatch = request.headers.get("if-match")
    if (ifMatch !== null && ifMatch !== object.etag) return new Response(null, { status: 412 })
    const headers = { etag: object.etag, "last-modified": object.lastModified.toUTCString() }
    const range = /^bytes=(\d+)-(\d+)$/.exec(request.headers.get("range") ?? "")
    const size = object.bytes.length
    const [start, end] = range === null ? [0, size - 1] : [Number(range[1]), Math.min(Number(range[2]), size - 1)]
    const body = request.method === "HEAD" ? null : object.bytes.slice(start, end + 1)
    return range === null
      ? new Response(body, { status: 200, headers: { ...headers, "content-length": String(size) } })
      : new Response(body, { status: 206, headers: { ...headers, "content-range": `bytes ${start}-${end}/${size}` } })
  }

  return { fetch, put, remove: (key: string) => objects.delete(key), requests }
}
