/**
 * An S3 object read at any position, as `OpenFile.readInto` reads: one ranged GET from the position
 * to the object's end, read on while the reads follow one another (as a stream's do), and a new GET
 * where a read jumps elsewhere. Each GET is checked by whoever makes it to be the version opened.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { FileInfo, OpenFile } from "../../services/FileStore.js"
import { FileStoreError } from "../../services/FileStore.js"

/** An answer's body being read: where it has got to in the object, and what of its last chunk is left. */
interface Body {
  readonly reader: ReadableStreamDefaultReader<Uint8Array>
  position: number
  leftover: Uint8Array
}

const EMPTY = new Uint8Array(0)

/**
 * `info`'s object read through `get`, which starts a GET of the bytes from a position to the end.
 * The body being read is cancelled when the scope closes, or when a read of it fails or is interrupted.
 */
export const rangedReader = (
  info: FileInfo,
  get: (position: number) => Effect.Effect<ReadableStreamDefaultReader<Uint8Array>, FileStoreError>
): Effect.Effect<OpenFile, never, Scope.Scope> =>
  Effect.gen(function*() {
    let body: Body | undefined
    const drop = Effect.sync(() => {
      const dropped = body
      body = undefined
      dropped?.reader.cancel().catch(() => undefined)
    })
    yield* Effect.addFinalizer(() => drop)

    const bodyAt = (position: number): Effect.Effect<Body, FileStoreError> =>
      Effect.suspend(() =>
        body?.position === position ? Effect.succeed(body) : drop.pipe(
          Effect.zipRight(get(position)),
          Effect.map((reader) => body = { reader, position, leftover: EMPTY })
        )
      )

    const nextChunk = (current: Body) =>
      Effect.tryPromise({
        try: () => current.reader.read(),
        catch: (cause) => new FileStoreError({ reason: "Unreadable", name: info.name, cause })
      })

    // The target never reaches past the object's end: a body that ends first is of another version.
    const fill = (current: Body, target: Uint8Array) =>
      Effect.gen(function*() {
        let filled = 0
        while (filled < target.length) {
          if (current.leftover.length === 0) {
            const chunk = yield* nextChunk(current)
            if (chunk.done) return yield* new FileStoreError({ reason: "Changed", name: info.name })
            current.leftover = chunk.value
          }
          const taken = Math.min(current.leftover.length, target.length - filled)
          target.set(current.leftover.subarray(0, taken), filled)
          current.leftover = current.leftover.subarray(taken)
          current.position += taken
          filled += taken
        }
        return filled
      })

    // Nothing is read at the end: every GET was already checked to be of `info`'s version, which S3
    // never changes in place.
    const readInto = (buffer: Uint8Array, position: number): Effect.Effect<number, FileStoreError> => {
      const length = Math.min(buffer.length, info.size - position)
      if (length <= 0) return Effect.succeed(0)
      return bodyAt(position).pipe(
        Effect.flatMap((current) => fill(current, buffer.subarray(0, length))),
        Effect.onError(() => drop)
      )
    }
    return { info, readInto } satisfies OpenFile
  })
