/**
 * The Cache service: a CacheState owned by one Ref, every transition one synchronous `modify`,
 * with pins and reservations tied to the caller's Scope so that no path can leak them.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import { CacheState } from "../cache/CacheState.js"
import type { PolicyFactory } from "../cache/EvictionPolicy.js"
import { Cache } from "../services/Cache.js"

export interface CacheOptions {
  readonly capacity: number
  readonly policy: PolicyFactory
}

export const make = (options: CacheOptions) =>
  Effect.gen(function*() {
    // The state is mutable inside (eviction policies need O(1) linked structures), so it must
    // only ever be touched through `transact`: each call runs to completion without yielding,
    // which on one JavaScript thread makes it atomic.
    const state = yield* Ref.make(new CacheState(options.capacity, options.policy(options.capacity)))
    const transact = <A>(f: (state: CacheState) => A) => Ref.modify(state, (s) => [f(s), s] as const)

    const lookup: Cache["Type"]["lookup"] = (info) =>
      Effect.acquireRelease(
        transact((s) => s.lookup(info)),
        (entry) => entry === undefined ? Effect.void : transact((s) => s.unpin(entry))
      ).pipe(Effect.map((entry) => Option.map(Option.fromNullable(entry), (e) => e.file)))

    const admit: Cache["Type"]["admit"] = (info, load) =>
      Effect.gen(function*() {
        const reservation = yield* Effect.acquireRelease(
          transact((s) => s.reserve(info.size)),
          (reservation) => reservation === undefined ? Effect.void : transact((s) => s.release(reservation))
        )
        if (reservation === undefined) return Option.none()
        // Give the room back as soon as the load fails, not when the caller's scope closes.
        const file = yield* Effect.onError(load, () => transact((s) => s.release(reservation)))
        const entry = yield* transact((s) => s.commit(reservation, file))
        return Option.some(entry.file)
      })

    return Cache.of({
      capacity: options.capacity,
      lookup,
      admit,
      invalidate: (name) => transact((s) => s.invalidate(name)),
      list: transact((s) => s.list()),
      stats: transact((s) => s.stats())
    })
  })

export const layer = (options: CacheOptions): Layer.Layer<Cache> => Layer.effect(Cache, make(options))
