/**
 * The digests of a file in memory, each computed at most once, when first asked for, a slice at a
 * time with the event loop let through between slices: hashing 64 MiB at once with SHA-256 would keep
 * the server from accepting or answering anyone else for tens of milliseconds.
 */
import * as Effect from "effect/Effect"
import { type Digest, hasher } from "../../protocol/Digest.js"

const SLICE_BYTES = 1024 * 1024

/** Lets pending I/O callbacks run (accepting connections, reading requests) before going on. */
const yieldToEventLoop = Effect.async<void>((resume) => {
  const immediate = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(immediate))
})

const compute = (bytes: Uint8Array, digest: Digest): Effect.Effect<Uint8Array> =>
  Effect.gen(function*() {
    const hash = hasher(digest)
    for (let at = 0; at < bytes.length; at += SLICE_BYTES) {
      if (at > 0) yield* yieldToEventLoop
      hash.update(bytes.subarray(at, at + SLICE_BYTES))
    }
    return hash.digest()
  })

/** A cache entry's digests: each computed once when asked for, and what is known without computing. */
export interface Digests {
  readonly digest: (digest: Digest) => Effect.Effect<Uint8Array>
  readonly known: (digest: Digest) => Uint8Array | undefined
}

/**
 * `bytes`' digests, each computed once however many ask for it at the same time: the first to ask
 * computes it, those who ask meanwhile wait for it. Uninterruptible, so that a client vanishing
 * while it hashes cannot leave an interrupted result for everyone after it.
 */
export const digestsOf = (bytes: Uint8Array): Effect.Effect<Digests> =>
  Effect.map(
    Effect.all({ "xxh3-128": memo(compute(bytes, "xxh3-128")), sha256: memo(compute(bytes, "sha256")) }),
    (memos) => ({ digest: (digest) => memos[digest].get, known: (digest) => memos[digest].known() })
  )

// Once known, a digest is returned as it is: every hit asks for one.
const memo = (computing: Effect.Effect<Uint8Array>) =>
  Effect.map(Effect.cached(Effect.uninterruptible(computing)), (once) => {
    let known: Uint8Array | undefined
    let done: Effect.Effect<Uint8Array> | undefined
    const get = Effect.suspend(() =>
      done ?? Effect.tap(once, (digest) => {
        known = digest
        done = Effect.succeed(digest)
      })
    )
    return { get, known: () => known }
  })
