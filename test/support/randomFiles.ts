/**
 * Files of random bytes for tests and benchmarks to serve, and the digests to check what arrives
 * against.
 */
import * as Effect from "effect/Effect"
import { randomBytes } from "node:crypto"
import { createReadStream } from "node:fs"
import * as fsp from "node:fs/promises"
import * as path from "node:path"
import { type Digest, DIGEST_NAMES, hasher } from "../../src/protocol/Digest.js"

/** A file's digest by each algorithm the protocol knows. */
export type Digests = Readonly<Record<Digest, Buffer>>

const hashers = () => DIGEST_NAMES.map((name) => [name, hasher(name)] as const)
const finish = (all: ReturnType<typeof hashers>): Digests =>
  Object.fromEntries(all.map(([name, hash]) => [name, Buffer.from(hash.digest())])) as Record<Digest, Buffer>

const PIECE_BYTES = 8 * 2 ** 20

/** Writes `size` random bytes to a new `file` (creating its directory); returns their digests. */
export const writeRandomFile = (file: string, size: number): Effect.Effect<Digests> =>
  Effect.promise(async () => {
    await fsp.mkdir(path.dirname(file), { recursive: true })
    const all = hashers()
    const handle = await fsp.open(file, "wx")
    try {
      for (let written = 0; written < size;) {
        const piece = randomBytes(Math.min(PIECE_BYTES, size - written))
        for (const [, hash] of all) hash.update(piece)
        await handle.write(piece)
        written += piece.length
      }
    } finally {
      await handle.close()
    }
    return finish(all)
  })

/** A file's digests, its contents read as a stream. */
export const fileDigests = (file: string): Effect.Effect<Digests> =>
  Effect.promise(async () => {
    const all = hashers()
    for await (const chunk of createReadStream(file, { highWaterMark: 4 * 2 ** 20 })) {
      for (const [, hash] of all) hash.update(chunk as Buffer)
    }
    return finish(all)
  })
