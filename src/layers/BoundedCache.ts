/**
 * The Cache service: a CacheState owned by one Ref, every transition one synchronous `modify`,
 * with pins and reservations tied to the caller's Scope so that no path can leak them.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Scope from "effect/Scope"
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
    const owned = new CacheState(options.capacity, options.policy(options.capacity))
    const state = yield* Ref.make(owned)
    const transact = <A>(f: (state: CacheState) => A) => Ref.modify(state, (s) => [f(s), s] as const)

    /**
     * Runs `acquire` and registers what must undo it on the caller's scope, uninterruptibly in
     * between. `Scope.addFinalizer` rather than `Effect.acquireRelease`: the release only updates
     * the state, so it does not need the caller's fiber context restored, which costs more than
     * the rest of a lookup.
     */
    const held = <A>(acquire: (state: CacheState) => A, release: (state: CacheState, acquired: A) => void) =>
      Effect.flatMap(Effect.scope, (scope) =>
        Effect.uninterruptible(Effect.tap(transact(acquire), (acquired) =>
          acquired === undefined
            ? Effect.void
            : Scope.addFinalizer(
              scope,
              transact((s) =>
                release(s, acquired)
              )
            ))))

    const lookup: Cache["Type"]["lookup"] = (info) =>
      Effect.map(
        held((s) => s.lookup(info), (s, entry) => s.unpin(entry!)),
        (entry) => entry === undefined ? Option.none() : Option.some(entry.file)
      )

    const admit: Cache["Type"]["admit"] = (info, load) =>
      Effect.gen(function*() {
        const reservation = yield* held((s) => s.reserve(info.size), (s, reserved) => s.release(reserved!))
        if (reservation === undefined) return Option.none()
        // Give the room back as soon as the load fails, not when the caller's scope closes.
        const file = yield* Effect.onError(load, () => transact((s) => s.release(reservation)))
        const entry = yield* transact((s) => s.commit(reservation, file))
        return Option.some(entry.file)
      })

    // Synchronous as `transact` is: on one thread, nothing else touches the state meanwhile.
    const pinNow: NonNullable<Cache["Type"]["pinNow"]> = (info) => {
      const entry = owned.lookup(info)
      if (entry === undefined) return undefined
      let released = false
      return {
        file: entry.file,
        release: () => {
          if (released) return
          released = true
          owned.unpin(entry)
        }
      }
    }

    return Cache.of({
      capacity: options.capacity,
      lookup,
      pinNow,
      admit,
      spare: (size) => transact((s) => s.spare(size)),
      invalidate: (name) => transact((s) => s.invalidate(name)),
      list: transact((s) => s.list()),
      stats: transact((s) => s.stats())
    })
  })

export const layer = (options: CacheOptions): Layer.Layer<Cache> => Layer.effect(Cache, make(options))
