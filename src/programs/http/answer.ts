/**
 * How an HTTP request is decided, top to bottom: GET and HEAD only; the name read from the target
 * (anything hostile is a missing file); the token checked on the name alone; then a file through the
 * native GET's flow, or a directory's listing when listing is on. Counted and logged once the
 * response has been sent or cut off, when the request's scope closes.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"
import type { Cache } from "../../services/Cache.js"
import type { FileStore, FileStoreError } from "../../services/FileStore.js"
import { type HttpAnswer, HttpBody, type HttpRequest } from "../../services/HttpDoor.js"
import type { LockManager } from "../../services/LockManager.js"
import { Tokens } from "../../services/Tokens.js"
import { REFUSALS } from "../server/authorize.js"
import { ServerMetrics } from "../server/ServerMetrics.js"
import type { StreamBuffers } from "../server/StreamBuffers.js"
import { accessFor, challengeFor, refusalStatus } from "./access.js"
import { directoryAnswer, isDirectory, redirectToDirectory } from "./directoryAnswer.js"
import { fileAnswer } from "./fileAnswer.js"
import { resolveTarget } from "./names.js"
import { finish, newReport, type Report } from "./report.js"

export interface HttpOptions {
  /** Whether directories may be listed (and `/dir` redirected to `/dir/`). */
  readonly listing: boolean
}

export type HttpRequirements = FileStore | Cache | LockManager | StreamBuffers | ServerMetrics | Tokens

/** A short plain-text answer; the text is its detail in the log line. */
const text = (report: Report, status: number, detail: string, headers: Record<string, string> = {}): HttpAnswer => {
  const bytes = Buffer.from(`${detail}\n`)
  report.detail = detail
  return {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", "content-length": String(bytes.length), ...headers },
    body: HttpBody.Bytes({ bytes })
  }
}

const withoutBody = (request: HttpRequest, answer: HttpAnswer): HttpAnswer =>
  request.method === "HEAD" ? { ...answer, body: HttpBody.Empty() } : answer

const NOT_FOUND = "not found"

// A refusal says what the client can do about it, never whether the name exists.
const REFUSAL_TEXT: Readonly<Record<string, string>> = {
  [REFUSALS.noToken]: "a token is required: send Authorization: Bearer TOKEN"
}

const failed = (report: Report, error: FileStoreError) =>
  error.reason === "NotFound" ? text(report, 404, NOT_FOUND) : text(report, 500, error.message)

const decide = (
  request: HttpRequest,
  report: Report,
  options: HttpOptions,
  now: number
): Effect.Effect<HttpAnswer, never, HttpRequirements | Scope.Scope> =>
  Effect.gen(function*() {
    if (request.method !== "GET" && request.method !== "HEAD") {
      return text(report, 405, "only GET and HEAD", { allow: "GET, HEAD" })
    }
    const target = resolveTarget(request.target)
    const tokens = yield* Effect.flatMap(Tokens, (tokens) => tokens.current)
    // Decided on the name alone, before anything is looked up: a refusal says nothing of what exists.
    const access = accessFor(request.header("authorization"), target, tokens, now)
    if (access.label !== undefined) report.token = access.label
    if (access.refusal !== undefined) {
      const status = refusalStatus(access.refusal)
      const answer = text(report, status, REFUSAL_TEXT[access.refusal] ?? access.refusal)
      report.detail = access.refusal
      return status === 401
        ? { ...answer, headers: { ...answer.headers, "www-authenticate": challengeFor(access.refusal) } }
        : answer
    }
    switch (target._tag) {
      case "Hostile":
        return text(report, 404, NOT_FOUND)
      case "File":
        return yield* fileAnswer(request, report, target.name).pipe(
          Effect.catchAll((error) =>
            error.reason === "NotFound" && options.listing
              ? Effect.map(
                isDirectory(target.name),
                (directory) => directory ? redirectToDirectory(target.name) : failed(report, error)
              )
              : Effect.succeed(failed(report, error))
          )
        )
      case "Directory":
        if (!options.listing) return text(report, 404, NOT_FOUND)
        return yield* directoryAnswer(request, report, target.path, access.show ?? (() => true)).pipe(
          Effect.catchAll((error) => Effect.succeed(failed(report, error)))
        )
    }
  }).pipe(Effect.map((answer) => withoutBody(request, answer)))

/** Answers `request`; its scope must stay open until the response has been sent. */
export const answer =
  (options: HttpOptions) => (request: HttpRequest): Effect.Effect<HttpAnswer, never, HttpRequirements | Scope.Scope> =>
    Effect.gen(function*() {
      const started = yield* Clock.currentTimeNanos
      const report = newReport()
      // On the scope itself rather than `Effect.addFinalizer`, which would restore this fiber's context
      // for it at a cost of about a sixth of a hit's: the line logged needs nothing of it.
      const metrics = yield* ServerMetrics
      const scope = yield* Effect.scope
      yield* Scope.addFinalizerExit(scope, (exit) => finish(metrics, request, report, started, exit))
      const answered = yield* decide(request, report, options, Number(started / 1_000_000n)).pipe(
        Effect.catchAllDefect((defect) =>
          Effect.as(Effect.logError("http: failed to answer", defect), text(report, 500, "internal error"))
        )
      )
      report.status = answered.status
      if (answered.body._tag !== "Bytes") report.pending = 0
      return answered
    })
