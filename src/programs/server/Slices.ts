/**
 * Slicing, for the whole server: how large the slices of a file larger than the cache are (0: such
 * files are streamed), how many slices were loaded and hit, and the whole-file digests of sliced
 * files, each computed once per version by whoever reads the version in order and remembered.
 * Optional: a server (or a test) that provides none streams files larger than the cache.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import { type Digest, type Hasher, hasher } from "../../protocol/Digest.js"
import type { FileInfo } from "../../services/FileStore.js"
import { fileVersion } from "./fileVersion.js"

/**
 * One version's digest, computed as its bytes pass in order: whoever holds bytes of the version at
 * the point the hash has reached feeds it, so that a herd hashes the file once, however many read it.
 */
export interface DigestJob {
  /** Hashes what of `bytes` (of the file from `position`) is next; nothing if the hash is not there yet. */
  readonly feed: (position: number, bytes: Uint8Array) => void
  /** The digest, once every byte has been fed. */
  readonly value: () => Uint8Array | undefined
}

export class Slices extends Context.Tag("ferry/Slices")<Slices, {
  /** Bytes per slice. */
  readonly sliceSize: number
  /** The job computing (or that computed) `info`'s digest, made on first use. */
  readonly digestJob: (info: FileInfo, digest: Digest) => DigestJob
  /** `info`'s digest if it is known. */
  readonly known: (info: FileInfo, digest: Digest) => Uint8Array | undefined
  readonly count: (what: "loads" | "hits") => void
  readonly counts: Effect.Effect<{ readonly sliceLoads: number; readonly sliceHits: number }>
}>() {}

// Digests remembered (or being computed), the oldest forgotten first: 16 bytes and a key each.
const VERSIONS_REMEMBERED = 1024

const makeJob = (size: number, digest: Digest): DigestJob => {
  let hash: Hasher | undefined = hasher(digest)
  let position = 0
  let value: Uint8Array | undefined = size === 0 ? hash.digest() : undefined
  return {
    feed: (at, bytes) => {
      if (hash === undefined || at > position || at + bytes.length <= position) return
      hash.update(bytes.subarray(position - at))
      position = at + bytes.length
      if (position === size) {
        value = hash.digest()
        hash = undefined
      }
    },
    value: () => value
  }
}

export const makeSlices = (sliceSize: number) =>
  Effect.sync(() => {
    const jobs = new Map<string, DigestJob>()
    const keyOf = (info: FileInfo, digest: Digest) => `${Buffer.from(fileVersion(info)).toString("hex")} ${digest}`
    let sliceLoads = 0
    let sliceHits = 0
    return Slices.of({
      sliceSize,
      digestJob: (info, digest) => {
        const key = keyOf(info, digest)
        let job = jobs.get(key)
        if (job === undefined) {
          job = makeJob(info.size, digest)
          jobs.set(key, job)
          if (jobs.size > VERSIONS_REMEMBERED) jobs.delete(jobs.keys().next().value!)
        }
        return job
      },
      known: (info, digest) => jobs.get(keyOf(info, digest))?.value(),
      count: (what) => void (what === "loads" ? sliceLoads++ : sliceHits++),
      counts: Effect.sync(() => ({ sliceLoads, sliceHits }))
    })
  })
