/**
 * The files the soak serves: many small ones, a few medium, one large enough to fill most of the
 * cache, and a couple larger than the whole cache; each remembered with its size and digests.
 */
import * as Effect from "effect/Effect"
import * as path from "node:path"
import { type Digests, writeRandomFile } from "../../test/support/randomFiles.js"

const KiB = 1024
const MiB = 1024 * KiB

export interface SourceFile {
  readonly name: string
  readonly size: number
  /** Its digests, by algorithm: what a download is checked against, with the digest it was sent with. */
  readonly digests: Digests
}

export interface Corpus {
  /** 1 KiB to 512 KiB: the common case. */
  readonly small: ReadonlyArray<SourceFile>
  /** 1 to 16 MiB. */
  readonly medium: ReadonlyArray<SourceFile>
  /** Cacheable, but over what the socket buffers hold: a client that stops reading holds the server back. */
  readonly fillsCache: SourceFile
  /** Larger than the whole cache: always streamed from disk. */
  readonly oversized: ReadonlyArray<SourceFile>
}

export const CACHE_SIZE = "64MiB"

/** A size spread evenly on a log scale between `min` and `max`, so that small sizes are common. */
const logUniform = (min: number, max: number) =>
  Math.round(Math.exp(Math.log(min) + Math.random() * Math.log(max / min)))

const writeFile = (dir: string, name: string, size: number): Effect.Effect<SourceFile> =>
  Effect.map(
    writeRandomFile(path.join(dir, name), size),
    (digests) => ({ name, size, digests })
  )

export const create = (dir: string, smallCount: number): Effect.Effect<Corpus> =>
  Effect.gen(function*() {
    const small = yield* Effect.forEach(
      Array.from({ length: smallCount }, (_, i) => i),
      (i) => writeFile(dir, `small/${String(i).padStart(4, "0")}.bin`, logUniform(KiB, 512 * KiB)),
      { concurrency: 8 }
    )
    const medium = yield* Effect.forEach(
      [1, 2, 4, 6, 8, 12, 16],
      (mib, i) => writeFile(dir, `medium/m${i}.bin`, mib * MiB - Math.floor(Math.random() * KiB)),
      { concurrency: 2 }
    )
    const fillsCache = yield* writeFile(dir, "large/fills-cache.bin", 40 * MiB)
    const oversized = yield* Effect.forEach(
      [80, 128],
      (mib) => writeFile(dir, `large/oversized-${mib}.bin`, mib * MiB + 12345),
      { concurrency: 1 }
    )
    return { small, medium, fillsCache, oversized }
  })

export const all = (corpus: Corpus): ReadonlyArray<SourceFile> => [
  ...corpus.small,
  ...corpus.medium,
  corpus.fillsCache,
  ...corpus.oversized
]
