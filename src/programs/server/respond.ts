/**
 * Answering one request: a file (from the cache, loaded into it, or streamed), the cache's
 * listing, or the server's statistics, once the connection's token allows it; counted as it goes,
 * and logged in one line however it ends.
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Scope from "effect/Scope"
import { printable } from "../../format/Printable.js"
import * as Codec from "../../protocol/Codec.js"
import { type Digest, DIGEST_NAMES, type Hasher } from "../../protocol/Digest.js"
import { Cache } from "../../services/Cache.js"
import type { Connection, ConnectionError } from "../../services/Connection.js"
import type { FileInfo, FileStore, FileStoreError } from "../../services/FileStore.js"
import type { LockManager } from "../../services/LockManager.js"
import { Tokens } from "../../services/Tokens.js"
import { statsOfAll } from "./allWorkers.js"
import { authenticate, authorize, type Caller } from "./authorize.js"
import { cacheResultOf, Content, fetchFile, infoOf } from "./fetchFile.js"
import { fileVersion, sameBytes } from "./fileVersion.js"
import { listTree } from "./listTree.js"
import { requestLine } from "./requestLine.js"
import { sendCached } from "./sendCached.js"
import { countRequest, type Door, recordRequest, type ServerMetrics, snapshot } from "./ServerMetrics.js"
import type { SlicedFile } from "./sliceFile.js"
import type { StreamBuffers } from "./StreamBuffers.js"
import { digestOfStream, sendStreamed } from "./streamFile.js"

/** What is known of a request as it is answered: filled in on the way, logged at the end. */
interface Report {
  status: Codec.Status
  bytes: number
  /** For a file: sent from the cache, loaded into it, streamed past it, or read through it in slices. */
  cache?: "hit" | "miss" | "bypass" | "slice"
  /** For a resumed GET: where the body started. */
  from?: number
  /** The label of the connection's token, when the server requires tokens. */
  token?: string
  detail?: string
}

const fail = (
  connection: Connection,
  report: Report,
  kind: Codec.Kind,
  status: Codec.FailureStatus,
  detail: string
) => {
  report.status = status
  report.detail = detail
  return connection.write(Codec.encodeFailure(kind, status, detail))
}

const unsupportedDigest = (connection: Connection, report: Report, kind: Codec.Kind) =>
  fail(connection, report, kind, Codec.Status.UnsupportedDigest, `digests supported: ${DIGEST_NAMES.join(", ")}`)

const notFetched = (connection: Connection, report: Report, kind: Codec.Kind, error: FileStoreError) =>
  fail(
    connection,
    report,
    kind,
    error.reason === "NotFound" ? Codec.Status.NotFound : Codec.Status.InternalError,
    error.message
  )

/** Counts how a file was had: a hit, a load, or a stream. */
export const countDecision = (door: Door, content: Content) => {
  const count = (name: "hits" | "misses" | "loads" | "streamed") => countRequest(door, name)
  return Content.$match(content, {
    Cached: ({ loaded }) => loaded ? Effect.zipRight(count("misses"), count("loads")) : count("hits"),
    Streamed: () => Effect.zipRight(count("misses"), count("streamed")),
    // Its slices are counted as they are had (sliceLoads, sliceHits): the file itself was not in the cache.
    Sliced: () => count("misses")
  })
}

/** Where a GET's body starts: at the client's offset if it holds the file's current version. */
const startOf = (resume: Codec.Resume | undefined, info: FileInfo): number =>
  resume !== undefined && sameBytes(resume.version, fileVersion(info)) ? resume.offset : 0

const get = (connection: Connection, report: Report, { digests, name, resume }: Codec.Request & { _tag: "Get" }) =>
  Effect.scoped(Effect.gen(function*() {
    // The server knows every digest the codec decodes: the client's first choice is taken.
    const digest = digests[0]
    if (digest === undefined) return yield* unsupportedDigest(connection, report, Codec.Kind.Get)
    const fetched = yield* Effect.either(fetchFile(name))
    if (fetched._tag === "Left") return yield* notFetched(connection, report, Codec.Kind.Get, fetched.left)
    const content = fetched.right
    const info = infoOf(content)
    const start = startOf(resume, info)
    if (start > info.size) {
      return yield* fail(connection, report, Codec.Kind.Get, Codec.Status.BadRequest, "offset past the end of the file")
    }
    if (resume !== undefined) report.from = start
    report.cache = cacheResultOf(content)
    yield* countDecision("ferry", content)
    const sent = (bytes: number) => {
      report.bytes += bytes
      return countRequest("ferry", "bytesServed", bytes)
    }
    if (content._tag === "Cached") return yield* sendCached(connection, content.file, digest, start, sent)
    if (content._tag === "Sliced") {
      // The bytes before `start` are read only while the trailer's digest is not known yet: they feed it.
      const { file } = content
      const from = file.digest(digest) === undefined ? 0 : start
      const body = yield* Effect.either(file.read({ start: from, end: info.size }, digest))
      if (body._tag === "Left") return yield* notFetched(connection, report, Codec.Kind.Get, body.left)
      const aborted = yield* sendStreamed(connection, body.right, digest, start, sent, fedDigest(file, digest), from)
      if (aborted !== undefined) {
        report.status = Codec.Status.InternalError
        report.detail = aborted
      }
      return
    }
    const aborted = yield* sendStreamed(connection, content.stream, digest, start, sent)
    if (aborted !== undefined) {
      report.status = Codec.Status.InternalError
      report.detail = aborted
    }
  }))

/** The digest of a sliced file as its reads feed it: complete once every byte has passed. */
const fedDigest = (file: SlicedFile, digest: Digest): Hasher => ({
  update: () => {},
  digest: () => {
    const value = file.digest(digest)
    if (value === undefined) throw new Error(`the ${digest} digest of ${file.info.name} was not complete at its end`)
    return value
  }
})

/** A file's facts and digest: from the cache, or read through once when it is too large for it. */
const stat = (connection: Connection, report: Report, { digests, name }: Codec.Request & { _tag: "Stat" }) =>
  Effect.scoped(Effect.gen(function*() {
    const digest = digests[0]
    if (digest === undefined) return yield* unsupportedDigest(connection, report, Codec.Kind.Stat)
    const known = yield* Effect.either(
      Effect.flatMap(
        fetchFile(name),
        (content) => Effect.map(digestOf(content, digest), (value) => ({ info: infoOf(content), value }))
      )
    )
    if (known._tag === "Left") return yield* notFetched(connection, report, Codec.Kind.Stat, known.left)
    const { info, value } = known.right
    yield* connection.write(Codec.encodeFileFacts({
      size: info.size,
      mtimeMs: Number(info.mtimeNs / 1_000_000n),
      version: fileVersion(info),
      digest,
      value
    }))
  }))

/** The digest of a file's whole content: known, or read through for. */
const digestOf = (content: Content, digest: Digest): Effect.Effect<Uint8Array, FileStoreError, Scope.Scope> =>
  Content.$match(content, {
    Cached: ({ file }) => file.digest(digest),
    Streamed: ({ stream }) => digestOfStream(stream, digest),
    Sliced: ({ file }) =>
      file.digest(digest) === undefined
        ? Effect.map(
          Effect.flatMap(file.read({ start: 0, end: file.info.size }, digest), (body) => digestOfStream(body, digest)),
          () => fedDigest(file, digest).digest()
        )
        : Effect.succeed(file.digest(digest)!)
  })

const list = (connection: Connection) =>
  Effect.flatMap(Cache, (cache) => cache.list).pipe(
    Effect.flatMap((entries) => connection.write(Codec.encodeListing(entries)))
  )

const stats = (connection: Connection) =>
  Effect.flatMap(statsOfAll(snapshot), (stats) => connection.write(Codec.encodeStats(stats)))

const describe = (request: Codec.Request): string => {
  switch (request._tag) {
    case "Get":
    case "Stat":
      return `${request._tag.toUpperCase()} ${printable(request.name)}`
    case "Ls":
      return `LS${request.recursive ? " -r" : ""} ${printable(request.path === "" ? "/" : request.path)}`
    default:
      return request._tag.toUpperCase()
  }
}

/** Why an answer did not get to its end, if it did not. */
export const unfinished = (exit: Exit.Exit<unknown, ConnectionError>): string | undefined => {
  if (Exit.isSuccess(exit)) return undefined
  if (Cause.isInterruptedOnly(exit.cause)) return "interrupted"
  const failure = Cause.failureOption(exit.cause)
  return failure._tag === "Some" ? failure.value.message : "failed"
}

/** What the operator allows beyond files by name. */
export interface RespondOptions {
  /** Whether LS may show the served tree. */
  readonly listing: boolean
}

/**
 * Answers `request` for `caller` (the token the connection has presented), and returns the caller
 * its later requests are made for: another only after an AUTH.
 */
export const respond = (
  connection: Connection,
  request: Codec.Request,
  options: RespondOptions,
  caller: Caller
): Effect.Effect<Caller, ConnectionError, FileStore | Cache | LockManager | StreamBuffers | ServerMetrics | Tokens> =>
  Effect.gen(function*() {
    const report: Report = { status: Codec.Status.Ok, bytes: 0 }
    const started = yield* Clock.currentTimeNanos
    const now = Number(started / 1_000_000n)
    const tokens = yield* Effect.flatMap(Tokens, (tokens) => tokens.current)
    // Decided on the request alone, before any name is looked up: a refusal says nothing of what exists.
    const access = request._tag === "Auth"
      ? authenticate(request.token, tokens, now)
      : { caller, ...authorize(request, caller, tokens, now) }
    if (access.label !== undefined) report.token = access.label
    const answer = access.refusal !== undefined
      ? fail(connection, report, Codec.kindOf(request), Codec.Status.Unauthorized, access.refusal)
      : Codec.Request.$match(request, {
        Get: (get_) => get(connection, report, get_),
        Stat: (stat_) => stat(connection, report, stat_),
        Ls: (ls) => listTree(connection, report, ls, options.listing, access.show),
        List: () => list(connection),
        Stats: () => stats(connection),
        Auth: () => connection.write(Codec.encodeAuthenticated())
      })
    yield* answer.pipe(Effect.onExit((exit) =>
      Effect.gen(function*() {
        const cut = unfinished(exit)
        const status = Codec.statusName(report.status)
        const nanos = Number((yield* Clock.currentTimeNanos) - started)
        yield* recordRequest("ferry", {
          status,
          failed: report.status !== Codec.Status.Ok,
          cache: report.cache ?? "none",
          seconds: nanos / 1e9,
          bytes: report.bytes,
          served: 0
        })
        yield* Effect.logInfo(requestLine(describe(request), status, report, nanos, cut))
      })
    ))
    return access.caller
  })
