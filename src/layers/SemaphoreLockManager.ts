/**
 * The LockManager as one Semaphore per name, created on first use and forgotten when nobody
 * holds or waits for it, so the table stays as small as the set of names in use.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import { LockManager } from "../services/LockManager.js"

interface Lock {
  readonly semaphore: Effect.Semaphore
  /** Fibers holding or waiting for the lock. */
  users: number
}

export const make = Effect.gen(function*() {
  const locks = yield* Ref.make(new Map<string, Lock>())
  const held = yield* Ref.make(0)

  const enter = (name: string) =>
    Ref.modify(locks, (table) => {
      const lock = table.get(name) ?? { semaphore: Effect.unsafeMakeSemaphore(1), users: 0 }
      lock.users++
      table.set(name, lock)
      return [lock, table] as const
    })

  const leave = (name: string, lock: Lock) =>
    Ref.update(locks, (table) => {
      if (--lock.users === 0) table.delete(name)
      return table
    })

  const withLock = (name: string) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.acquireUseRelease(
      enter(name),
      (lock) =>
        lock.semaphore.withPermits(1)(
          Effect.acquireUseRelease(Ref.update(held, (n) => n + 1), () => effect, () => Ref.update(held, (n) => n - 1))
        ),
      (lock) => leave(name, lock)
    )

  return LockManager.of({ withLock, held: Ref.get(held) })
})

export const layer: Layer.Layer<LockManager> = Layer.effect(LockManager, make)
