/** At most so many connections at once from one client address, as `--max-connections` is for all of them. */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

/**
 * The client's address in a connection's `peer` (`host:port`): everything before the last colon,
 * since an IPv6 host has colons and a port has none.
 */
export const clientAddress = (peer: string): string => {
  const colon = peer.lastIndexOf(":")
  const host = colon < 0 ? peer : peer.slice(0, colon)
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host
}

/**
 * `withSlot(address)(effect)` runs `effect` holding one of `limit` slots for `address` and gives its
 * result, or gives None at once when that address holds them all. An address holding none is forgotten.
 */
export const makeClientSlots = (limit: number) =>
  Effect.sync(() => {
    const held = new Map<string, number>()
    const take = (address: string) =>
      Effect.sync(() => {
        const count = held.get(address) ?? 0
        if (count >= limit) return false
        held.set(address, count + 1)
        return true
      })
    const release = (address: string) =>
      Effect.sync(() => {
        const count = held.get(address)! - 1
        if (count === 0) held.delete(address)
        else held.set(address, count)
      })
    return (address: string) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<Option.Option<A>, E, R> =>
      Effect.acquireUseRelease(
        take(address),
        (taken) => taken ? Effect.asSome(effect) : Effect.succeedNone,
        (taken) => taken ? release(address) : Effect.void
      )
  })
