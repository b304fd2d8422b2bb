/**
 * The HTTP door's flow on in-memory layers, as tests drive it: a request value in, the answer out
 * with its body read whole, the request's scope closed as the door closes it once a response is sent.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { lru } from "../../src/cache/Lru.js"
import * as BoundedCache from "../../src/layers/BoundedCache.js"
import * as MemoryFileStore from "../../src/layers/MemoryFileStore.js"
import * as MemoryTokens from "../../src/layers/MemoryTokens.js"
import * as SemaphoreLockManager from "../../src/layers/SemaphoreLockManager.js"
import { answer, type HttpOptions } from "../../src/programs/http/answer.js"
import * as ServerMetrics from "../../src/programs/server/ServerMetrics.js"
import { makeStreamBuffers, StreamBuffers } from "../../src/programs/server/StreamBuffers.js"
import type { HttpBody } from "../../src/services/HttpDoor.js"
import type { Grant } from "../../src/services/Tokens.js"
import { hashToken } from "../../src/tokens/secret.js"

/** A fresh file store, cache of `capacity` bytes, locks, metrics and stream buffers; `grants` required if given. */
export const httpWorld = (capacity: number, grants: Option.Option<ReadonlyArray<Grant>> = Option.none()) =>
  Layer.mergeAll(
    MemoryFileStore.layer,
    BoundedCache.layer({ capacity, policy: lru }),
    SemaphoreLockManager.layer,
    MemoryTokens.layer(grants),
    Layer.effect(StreamBuffers, makeStreamBuffers(1024 * 1024)),
    Layer.effect(ServerMetrics.ServerMetrics, ServerMetrics.make)
  )

export const grant = (label: string, token: string, options: Partial<Omit<Grant, "label" | "hash">> = {}): Grant => ({
  label,
  hash: hashToken(token),
  prefixes: "all",
  expiresAt: Option.none(),
  admin: false,
  ...options
})

export interface Answered {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: Buffer
  readonly bodyTag: HttpBody["_tag"]
}

/** Reads a body whole, as the door would send it: chunk by chunk, each handed back once sent. */
const readBody = (body: HttpBody) =>
  Effect.gen(function*() {
    switch (body._tag) {
      case "Empty":
        return Buffer.alloc(0)
      case "Bytes":
        return Buffer.from(body.bytes)
      case "Chunks": {
        const chunks: Array<Buffer> = []
        for (let chunk = yield* body.next; chunk.length > 0; chunk = yield* body.next) {
          chunks.push(Buffer.from(chunk))
          yield* body.sent(chunk, 1)
        }
        return Buffer.concat(chunks)
      }
    }
  })

/** Asks the flow for `target` with `headers` (lower-case names), as a client over HTTP would. */
export const ask = (
  target: string,
  headers: Readonly<Record<string, string>> = {},
  method = "GET",
  options: HttpOptions = { listing: true }
) =>
  Effect.scoped(Effect.gen(function*() {
    const answered = yield* answer(options)({
      method,
      target,
      header: (name) => headers[name],
      peer: "127.0.0.1:1234"
    })
    return {
      status: answered.status,
      headers: answered.headers,
      body: yield* Effect.orDie(readBody(answered.body)),
      bodyTag: answered.body._tag
    } satisfies Answered
  }))
