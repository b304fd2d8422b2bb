/**
 * Per-name mutual exclusion: while one fiber loads a file into the cache, every other request for
 * that name waits for it instead of reading the disk again.
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"

export class LockManager extends Context.Tag("ferry/LockManager")<LockManager, {
  /** Runs `effect` holding the lock on `name`; the lock is released however `effect` ends. */
  readonly withLock: (name: string) => <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** How many names are locked right now (held, not merely waited for). */
  readonly held: Effect.Effect<number>
}>() {}
