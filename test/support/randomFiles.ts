/**
 * Files of random bytes for tests and benchmarks to serve, and the digests to check what arrives
 * against.
 */
import * as Effect from "effect/Effect"
import { createHash, randomBytes } from "node:crypto"
import { createReadStream } from "node:fs"
import * as fsp from "node:fs/promises"
import * as path from "node:path"

const PIECE_BYTES = 8 * 2 ** 20

/** Writes `size` random bytes to a new `file` (creating its directory); returns their SHA-256. */
export const writeRandomFile = (file: string, size: number): Effect.Effect<Buffer> =>
  Effect.promise(async () => {
    await fsp.mkdir(path.dirname(file), { recursive: true })
    const hash = createHash("sha256")
    const handle = await fsp.open(file, "wx")
    try {
      for (let written = 0; written < size;) {
        const piece = randomBytes(Math.min(PIECE_BYTES, size - written))
        hash.update(piece)
        await handle.write(piece)
        written += piece.length
      }
    } finally {
      await handle.close()
    }
    return hash.digest()
  })

/** The SHA-256 of a file's contents, read as a stream. */
export const fileDigest = (file: string): Effect.Effect<Buffer> =>
  Effect.promise(async () => {
    const hash = createHash("sha256")
    for await (const chunk of createReadStream(file, { highWaterMark: 4 * 2 ** 20 })) hash.update(chunk as Buffer)
    return hash.digest()
  })
