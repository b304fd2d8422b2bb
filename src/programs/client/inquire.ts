/**
 * Asking a server about what it holds without downloading: its cache (LIST), the served tree (LS),
 * one file's facts (STAT), and its statistics (STATS).
 */
import * as Effect from "effect/Effect"
import * as Codec from "../../protocol/Codec.js"
import type { Digest } from "../../protocol/Digest.js"
import { ProtocolError } from "../../protocol/ProtocolError.js"
import { TransferError } from "./errors.js"
import { exchange, type ServerAddress } from "./exchange.js"

const unexpected = (response: Codec.Response, request: string) =>
  Effect.dieMessage(`unexpected ${response._tag} response to ${request}`)

export const list = (server: ServerAddress) =>
  Effect.scoped(Effect.gen(function*() {
    const { response } = yield* exchange(server, Codec.Request.List())
    if (response._tag !== "Listing") return yield* unexpected(response, "a LIST")
    return { entries: response.entries, total: response.total }
  }))

/** Asking a server for its statistics. */
export const stats = (server: ServerAddress) =>
  Effect.scoped(Effect.gen(function*() {
    const { response } = yield* exchange(server, Codec.Request.Stats())
    if (response._tag !== "Stats") return yield* unexpected(response, "a STATS")
    return response.stats
  }))

/** The tree under `path`, handed to `onEntries` a batch at a time as it arrives. */
export const ls = <E, R>(
  server: ServerAddress,
  request: { readonly path: string; readonly recursive: boolean },
  onEntries: (entries: ReadonlyArray<Codec.TreeEntry>) => Effect.Effect<void, E, R>
) =>
  Effect.scoped(Effect.gen(function*() {
    const { reader, response } = yield* exchange(server, Codec.Request.Ls(request))
    if (response._tag !== "Tree") return yield* unexpected(response, "an LS")
    const ending = yield* Codec.readTree(reader, onEntries)
    if (ending._tag === "Aborted") {
      return yield* new TransferError({ reason: "Aborted", status: ending.status, detail: ending.message })
    }
  }))

/** One file's size, modification time, version and digest. */
export const stat = (server: ServerAddress, name: string, digests: ReadonlyArray<Digest>) =>
  Effect.scoped(Effect.gen(function*() {
    const { response } = yield* exchange(server, Codec.Request.Stat({ name, digests }))
    if (response._tag !== "Facts") return yield* unexpected(response, "a STAT")
    if (!digests.includes(response.facts.digest)) {
      return yield* new ProtocolError({ reason: "Malformed", detail: `digest ${response.facts.digest}, not offered` })
    }
    return response.facts
  }))
