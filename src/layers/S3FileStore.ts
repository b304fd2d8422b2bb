/**
 * The FileStore of the objects in an S3 bucket under a prefix (`s3://BUCKET/PREFIX`): a name is the
 * key PREFIX/name, accepted exactly as NodeFileStore accepts names. An object's version is its ETag
 * (with its VersionId in a versioned bucket): `ino` is the first 64 bits of SHA-256 over them, `dev`
 * the same over the bucket's name, `mtimeNs` its Last-Modified (whole seconds, as HTTP dates are).
 * Every GET carries `If-Match: ETAG` (412 is `Changed`), and its answer's own ETag, size and date are
 * compared with the version looked up, so a replaced object is `Changed` even where a server ignores
 * If-Match. Reads at a position are ranged GETs (`internal/s3Reader.ts`), listings ListObjectsV2
 * (`internal/s3Listing.ts`).
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { createHash } from "node:crypto"
import { isAcceptableName } from "../services/FileName.js"
import type { DirEntry, FileInfo, OpenFile } from "../services/FileStore.js"
import { FileStore, FileStoreError, readWhole, sameVersion } from "../services/FileStore.js"
import { entriesOf } from "./internal/s3Listing.js"
import { rangedReader } from "./internal/s3Reader.js"
import type { ListedObject, S3Options } from "./internal/s3Requests.js"
import { errorCode, makeRequests, parseListPage, type Requests } from "./internal/s3Requests.js"

export type { Credentials, S3Options } from "./internal/s3Requests.js"

/** The bucket cannot be served, found at start-up. */
export class BucketError extends Data.TaggedError("BucketError")<{
  readonly reason: "NoSuchBucket" | "AccessDenied" | "Unreachable" | "Unexpected"
  /** The bucket and prefix as the user gave them. */
  readonly url: string
  /** Where the requests went. */
  readonly endpoint: string
  /** S3's error code, or the network's. */
  readonly detail: string
  readonly cause?: unknown
}> {
  override get message(): string {
    switch (this.reason) {
      case "NoSuchBucket":
        return `no such bucket: ${this.url} (at ${this.endpoint})`
      case "AccessDenied":
        return `access denied to ${this.url} (${this.detail}): check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, ` +
          `AWS_SESSION_TOKEN and the bucket's policy`
      case "Unreachable":
        return `cannot reach ${this.endpoint} for ${this.url}: ${this.detail}`
      case "Unexpected":
        return `unexpected answer from ${this.endpoint} for ${this.url}: ${this.detail}`
    }
  }
}

const hash64 = (text: string): bigint => createHash("sha256").update(text).digest().readBigUInt64BE(0)

const fail = (reason: FileStoreError["reason"], name: string, cause?: unknown) =>
  new FileStoreError(cause === undefined ? { reason, name } : { reason, name, cause })

// An answer whose body is not wanted: its connection goes back to the pool.
const discard = (response: Response) => void response.body?.cancel().catch(() => undefined)

/** How a failed answer about an object fails; `missing` is what a 404 means here. */
const failureOf = (response: Response, name: string, missing: "NotFound" | "Changed") => {
  discard(response)
  switch (response.status) {
    case 404:
      return fail(missing, name)
    case 412:
    case 416:
      return fail("Changed", name)
    default:
      return fail("Unreadable", name, new Error(`HTTP ${response.status}`))
  }
}

// What a network failure says, for a one-line message: undici hides the code in its cause.
const networkDetail = (cause: unknown): string => {
  const inner = cause instanceof Error && cause.cause instanceof Error ? cause.cause : cause
  if (inner instanceof Error) return "code" in inner && typeof inner.code === "string" ? inner.code : inner.message
  return String(cause)
}

export const make = (options: S3Options & { readonly url: string }): Effect.Effect<FileStore["Type"], BucketError> =>
  Effect.gen(function*() {
    const requests = makeRequests(options)
    const { prefix } = options.location
    const dev = hash64(`s3:${options.location.bucket}`)
    const handles = yield* Ref.make(0)
    // The ETag each FileInfo was made from, for the If-Match of its reads.
    const etags = new WeakMap<FileInfo, string>()

    const send = (name: string, url: string, method: "GET" | "HEAD" = "GET", headers: Record<string, string> = {}) =>
      Effect.tryPromise({
        try: (signal) => requests.send(method, url, headers, signal),
        catch: (cause) => fail("Unreadable", name, new Error(networkDetail(cause)))
      })

    const infoOf = (name: string, response: Response, size: number): FileInfo => {
      const etag = response.headers.get("etag") ?? ""
      const info: FileInfo = {
        name,
        size,
        mtimeNs: BigInt(Date.parse(response.headers.get("last-modified") ?? "") || 0) * 1_000_000n,
        dev,
        ino: hash64(`${etag}\n${response.headers.get("x-amz-version-id") ?? ""}`)
      }
      etags.set(info, etag)
      return info
    }
    const lengthOf = (response: Response) => Number(response.headers.get("content-length") ?? 0)
    const ifMatch = (info: FileInfo): Record<string, string> => {
      const etag = etags.get(info)
      return etag === undefined || etag === "" ? {} : { "if-match": etag }
    }

    const head = (name: string, missing: "NotFound" | "Changed", headers: Record<string, string> = {}) =>
      Effect.flatMap(
        send(name, requests.objectUrl(prefix + name), "HEAD", headers),
        (response) =>
          response.ok ? Effect.succeed(infoOf(name, response, lengthOf(response))) : failureOf(response, name, missing)
      )

    const stat = (name: string): Effect.Effect<FileInfo, FileStoreError> =>
      isAcceptableName(name) ? head(name, "NotFound") : Effect.fail(fail("NotFound", name))

    const checked = (info: FileInfo, found: FileInfo) =>
      sameVersion(info, found) ? Effect.void : Effect.fail(fail("Changed", info.name))

    // A GET of the bytes from `position` on, checked to be `info`'s version.
    const getFrom = (info: FileInfo) => (position: number) =>
      Effect.gen(function*() {
        const range = position === 0 ? {} : { range: `bytes=${position}-${info.size - 1}` }
        const response = yield* send(info.name, requests.objectUrl(prefix + info.name), "GET", {
          ...ifMatch(info),
          ...range
        })
        if (!response.ok || response.body === null) return yield* failureOf(response, info.name, "Changed")
        const total = response.status === 206
          ? Number(/\/(\d+)$/.exec(response.headers.get("content-range") ?? "")?.[1])
          : lengthOf(response)
        const answered = response.status === 206 || position === 0
        yield* checked(info, infoOf(info.name, response, total)).pipe(
          Effect.zipRight(answered ? Effect.void : Effect.fail(fail("Unreadable", info.name, new Error("no range")))),
          Effect.tapError(() => Effect.sync(() => discard(response)))
        )
        return response.body.getReader()
      })

    const open = (info: FileInfo): Effect.Effect<OpenFile, FileStoreError, Scope.Scope> =>
      Effect.gen(function*() {
        if (!isAcceptableName(info.name)) return yield* fail("NotFound", info.name)
        yield* Effect.flatMap(head(info.name, "Changed", ifMatch(info)), (found) => checked(info, found))
        yield* Effect.acquireRelease(Ref.update(handles, (n) => n + 1), () => Ref.update(handles, (n) => n - 1))
        return yield* rangedReader(info, getFrom(info))
      })

    const read = (info: FileInfo): Effect.Effect<Uint8Array, FileStoreError> =>
      Effect.scoped(Effect.gen(function*() {
        if (!isAcceptableName(info.name)) return yield* fail("NotFound", info.name)
        // An empty object has no bytes to GET: a HEAD checks it is still this version.
        if (info.size === 0) return yield* Effect.as(open(info), new Uint8Array(0))
        yield* Effect.acquireRelease(Ref.update(handles, (n) => n + 1), () => Ref.update(handles, (n) => n - 1))
        // One GET for the whole object: no HEAD first, its answer is checked instead.
        const file = yield* rangedReader(info, getFrom(info))
        // Not from Buffer's shared pool: a small cached file would otherwise pin a whole pool slab.
        return yield* readWhole(file, Buffer.allocUnsafeSlow(info.size))
      }))

    const listPage = (path: string, directory: string, delimiter: string | undefined, token: string | undefined) =>
      Effect.flatMap(
        send(path, requests.listUrl({ "list-type": "2", prefix: directory, delimiter, "continuation-token": token })),
        (response) => {
          if (response.ok) {
            return Effect.tryPromise({
              try: () => response.text().then(parseListPage),
              catch: (cause) => fail("Unreadable", path, cause)
            })
          }
          // The directory is there (a missing one lists nothing): the bucket or the permission to list is not.
          return Effect.flatMap(Effect.promise(() => response.text().catch(() => "")), (body) =>
            Effect.fail(
              fail("Unreadable", path, new Error(`HTTP ${response.status} ${errorCode(body) ?? ""}`.trim()))
            ))
        }
      )

    // Every page, keys and prefixes made relative to the served prefix.
    const listAll = (path: string, recursive: boolean) =>
      Effect.gen(function*() {
        const directory = prefix + (path === "" ? "" : `${path}/`)
        const objects: Array<ListedObject> = []
        const prefixes: Array<string> = []
        let token: string | undefined
        do {
          const page = yield* listPage(path, directory, recursive ? undefined : "/", token)
          for (const object of page.objects) objects.push({ ...object, key: object.key.slice(prefix.length) })
          for (const common of page.prefixes) prefixes.push(common.slice(prefix.length))
          token = page.continuationToken
        } while (token !== undefined)
        return { objects, prefixes }
      })

    const list = (path: string, options: { readonly recursive: boolean }): Stream.Stream<DirEntry, FileStoreError> =>
      Stream.unwrap(Effect.gen(function*() {
        if (path !== "" && !isAcceptableName(path)) return yield* fail("NotFound", path)
        if (path !== "") {
          const file = yield* Effect.catchIf(
            stat(path),
            (error) => error.reason === "NotFound",
            () => Effect.succeed(undefined)
          )
          if (file !== undefined) {
            return Stream.make<[DirEntry]>({
              path,
              type: "file",
              size: file.size,
              mtimeMs: Number(file.mtimeNs / 1_000_000n)
            })
          }
        }
        const entries = entriesOf(path, yield* listAll(path, options.recursive), options.recursive)
        return entries === undefined ? yield* fail("NotFound", path) : Stream.fromIterable(entries)
      }))

    yield* checkBucket(options, requests)
    return FileStore.of({ stat, read, open, list, openHandles: Ref.get(handles) })
  })

// HeadBucket: the bucket is there and these credentials may list it (AWS asks s3:ListBucket). Not a
// ListObjectsV2 of one key: s3rver makes the continuation token of a truncated page with DES, which
// Node 20's OpenSSL no longer has, and answers 500.
const checkBucket = (options: S3Options & { readonly url: string }, requests: Requests) =>
  Effect.gen(function*() {
    const error = (reason: BucketError["reason"], detail: string, cause?: unknown) =>
      new BucketError({ reason, url: options.url, endpoint: requests.where, detail, cause })
    const response = yield* Effect.tryPromise({
      try: (signal) => requests.send("HEAD", requests.listUrl({}), {}, signal),
      catch: (cause) => error("Unreachable", networkDetail(cause), cause)
    })
    discard(response)
    if (response.ok) return
    const status = `HTTP ${response.status}`
    if (response.status === 404) return yield* error("NoSuchBucket", status)
    if (response.status === 403) return yield* error("AccessDenied", status)
    const region = response.headers.get("x-amz-bucket-region")
    const hint = region === null ? "" : ` (the bucket is in ${region}: set AWS_REGION=${region})`
    return yield* error("Unexpected", `${status}${hint}`)
  })

export const layer = (options: S3Options & { readonly url: string }): Layer.Layer<FileStore, BucketError> =>
  Layer.effect(FileStore, make(options))
