/** Asking a server about itself: which files its cache holds, and its statistics. */
import * as Effect from "effect/Effect"
import * as Codec from "../../protocol/Codec.js"
import { exchange, type ServerAddress } from "./exchange.js"

export const list = (server: ServerAddress) =>
  Effect.scoped(Effect.gen(function*() {
    const { response } = yield* exchange(server, Codec.Request.List())
    if (response._tag !== "Listing") return yield* Effect.dieMessage(`unexpected ${response._tag} response to a LIST`)
    return { entries: response.entries, total: response.total }
  }))

/** Asking a server for its statistics. */
export const stats = (server: ServerAddress) =>
  Effect.scoped(Effect.gen(function*() {
    const { response } = yield* exchange(server, Codec.Request.Stats())
    if (response._tag !== "Stats") return yield* Effect.dieMessage(`unexpected ${response._tag} response to a STATS`)
    return response.stats
  }))
