/** A file read through `FileStore.open` as a stream of chunks of at most `size` bytes, for tests. */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { FileInfo, FileStore, FileStoreError } from "../../src/services/FileStore.js"

export const chunksOf = (
  store: FileStore["Type"],
  info: FileInfo,
  size: number
): Stream.Stream<Uint8Array, FileStoreError> =>
  Stream.unwrapScoped(
    Effect.map(store.open(info), (file) =>
      Stream.unfoldEffect({ position: 0, started: false }, ({ position, started }) => {
        // As a server reads: at least once, and never again after the read that reached the end.
        if (started && position >= info.size) {
          return Effect.succeed(Option.none())
        }
        const buffer = new Uint8Array(size)
        return Effect.map(file.readInto(buffer, position), (bytesRead) =>
          bytesRead === 0
            ? Option.none()
            : Option.some([buffer.subarray(0, bytesRead), { position: position + bytesRead, started: true }] as const))
      }))
  )
