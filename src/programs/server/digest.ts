/**
 * SHA-256 of a whole file in memory, computed a slice at a time with the event loop let through
 * between slices: hashing 64 MiB at once would keep the server from accepting or answering anyone
 * else for tens of milliseconds.
 */
import * as Effect from "effect/Effect"
import { createHash } from "node:crypto"

const SLICE_BYTES = 1024 * 1024

/** Lets pending I/O callbacks run (accepting connections, reading requests) before going on. */
const yieldToEventLoop = Effect.async<void>((resume) => {
  const immediate = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(immediate))
})

export const sha256 = (bytes: Uint8Array): Effect.Effect<Uint8Array> =>
  Effect.gen(function*() {
    const hash = createHash("sha256")
    for (let at = 0; at < bytes.length; at += SLICE_BYTES) {
      if (at > 0) yield* yieldToEventLoop
      hash.update(bytes.subarray(at, at + SLICE_BYTES))
    }
    return new Uint8Array(hash.digest())
  })
