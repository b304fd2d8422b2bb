/**
 * A GET or HEAD of a file over HTTP, decided through the same flow as a native GET (fetchFile: one
 * disk read for a herd, pins, staleness, confinement): 200 whole, 206 one range, 304 not modified,
 * 416 a range past the end; with its validators, type and, when asked or already known, its digest.
 * A streamed file, or one read in slices, is read only within the range sent.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { Cache, CachedFile } from "../../services/Cache.js"
import type { FileInfo, FileStore, FileStoreError } from "../../services/FileStore.js"
import { type HttpAnswer, HttpBody, HttpDoorError, type HttpRequest } from "../../services/HttpDoor.js"
import type { LockManager } from "../../services/LockManager.js"
import { cacheResultOf, type Content, fetchFile, infoOf } from "../server/fetchFile.js"
import { countDecision } from "../server/respond.js"
import type { ServerMetrics } from "../server/ServerMetrics.js"
import type { StreamBuffers } from "../server/StreamBuffers.js"
import type { OpenStream, Window } from "../server/streamFile.js"
import { isNotModified, validatorsOf } from "./conditional.js"
import { contentTypeOf } from "./contentType.js"
import { select, type Selection } from "./ranges.js"
import type { Report } from "./report.js"
import { reprDigest, wantsSha256 } from "./reprDigest.js"

type Decision = Selection | { readonly _tag: "NotModified" }

const decide = (request: HttpRequest, info: FileInfo): Decision => {
  const validators = validatorsOf(info)
  if (isNotModified(validators, request.header("if-none-match"), request.header("if-modified-since"))) {
    return { _tag: "NotModified" }
  }
  return select(request.header("range"), request.header("if-range"), info.size, validators)
}

const EMPTY_WINDOW: Window = { start: 0, end: 0 }

/** The bytes a decision sends, as a window of the file. */
const windowOf = (decision: Decision, size: number, head: boolean): Window => {
  if (head) return EMPTY_WINDOW
  switch (decision._tag) {
    case "Whole":
      return { start: 0, end: size }
    case "Range":
      return decision
    default:
      return EMPTY_WINDOW
  }
}

/** The body of `window` of the content: a slice of the pinned entry, or chunks streamed or of slices. */
const bodyOf = (
  content: Content,
  window: Window,
  report: Report
): Effect.Effect<HttpBody, FileStoreError, Scope.Scope> => {
  if (window.end === window.start) return Effect.succeed(HttpBody.Empty())
  switch (content._tag) {
    case "Cached":
      report.pending = window.end - window.start
      return Effect.succeed(HttpBody.Bytes({ bytes: content.file.bytes.subarray(window.start, window.end) }))
    case "Streamed":
      return Effect.succeed(chunksOf(content.stream, report))
    case "Sliced":
      return Effect.map(content.file.read(window), (body) => chunksOf(body, report))
  }
}

/** A body read chunk by chunk; a read that fails part-way cuts the connection (the door's Aborted). */
const chunksOf = (stream: OpenStream, report: Report): HttpBody =>
  HttpBody.Chunks({
    next: Effect.mapError(stream.next, (error) => {
      report.detail = error.message
      return new HttpDoorError({ reason: "Aborted", detail: error.message })
    }),
    sent: (chunk, millis) => {
      report.bytes += chunk.length
      return stream.sent(chunk, millis)
    }
  })

/** What every answer about a file says of it: its validators, and that ranges may be asked for. */
const validatorHeaders = (info: FileInfo): Record<string, string> => {
  const validators = validatorsOf(info)
  return { etag: validators.etag, "last-modified": validators.lastModified, "accept-ranges": "bytes" }
}

const wholeHeaders = new WeakMap<CachedFile, Readonly<Record<string, string>>>()

/**
 * The headers of a 200 with the whole of a cached file, as `fileAnswer` gives them, for an answer
 * decided without it (see immediateHit.ts).
 */
export const wholeFileHeaders = (name: string, file: CachedFile): Readonly<Record<string, string>> => {
  const known = file.known?.("sha256")
  const made = wholeHeaders.get(file)
  // Made once per entry (and again once its SHA-256 is known): a hit asks for the same headers again and again.
  if (made !== undefined && (known === undefined || made["repr-digest"] !== undefined)) return made
  const headers = validatorHeaders(file.info)
  headers["content-type"] = contentTypeOf(name)
  if (known !== undefined) headers["repr-digest"] = reprDigest(known)
  headers["content-length"] = String(file.info.size)
  wholeHeaders.set(file, headers)
  return headers
}

/** The file's answer, or the error that it cannot be had (to be answered as not found, say). */
export const fileAnswer = (
  request: HttpRequest,
  report: Report,
  name: string
): Effect.Effect<
  HttpAnswer,
  FileStoreError,
  FileStore | Cache | LockManager | StreamBuffers | ServerMetrics | Scope.Scope
> =>
  Effect.gen(function*() {
    const head = request.method === "HEAD"
    const content = yield* fetchFile(name, (info) => windowOf(decide(request, info), info.size, head))
    const info = infoOf(content)
    report.cache = cacheResultOf(content)
    yield* countDecision("http", content)

    const decision = decide(request, info)
    const headers = validatorHeaders(info)
    if (decision._tag === "NotModified") return { status: 304, headers, body: HttpBody.Empty() }
    if (decision._tag === "Unsatisfiable") {
      headers["content-range"] = `bytes */${info.size}`
      headers["content-length"] = "0"
      return { status: 416, headers, body: HttpBody.Empty() }
    }
    headers["content-type"] = contentTypeOf(name)
    if (content._tag === "Cached") {
      const known = wantsSha256(request.header("want-repr-digest"))
        ? yield* content.file.digest("sha256")
        : content.file.known?.("sha256")
      if (known !== undefined) headers["repr-digest"] = reprDigest(known)
    } else if (content._tag === "Sliced") {
      // Remembered from a native read that went through the file in order; not computed for the asking.
      const known = content.file.digest("sha256")
      if (known !== undefined) headers["repr-digest"] = reprDigest(known)
    }
    const window = windowOf(decision, info.size, false)
    headers["content-length"] = String(window.end - window.start)
    if (decision._tag === "Range") {
      report.from = decision.start
      headers["content-range"] = `bytes ${decision.start}-${decision.end - 1}/${info.size}`
    }
    return {
      status: decision._tag === "Range" ? 206 : 200,
      headers,
      body: head ? HttpBody.Empty() : yield* bodyOf(content, window, report)
    }
  })
