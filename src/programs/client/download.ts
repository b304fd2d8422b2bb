/**
 * Downloading a file: stream it into a temporary file while hashing it, and move it into place
 * only when its size and digest match what the server announced.
 */
import * as Effect from "effect/Effect"
import { printable } from "../../format/Printable.js"
import * as Codec from "../../protocol/Codec.js"
import { type Digest, hasher } from "../../protocol/Digest.js"
import { ProtocolError } from "../../protocol/ProtocolError.js"
import * as Destination from "./Destination.js"
import { TransferError } from "./errors.js"
import { exchange, type ServerAddress } from "./exchange.js"
import * as Progress from "./Progress.js"

export interface DownloadOptions {
  readonly server: ServerAddress
  readonly name: string
  readonly directory: string
  readonly progress: boolean
  /** The digests the file may be checked with, in order of preference. */
  readonly digests: ReadonlyArray<Digest>
}

export interface Downloaded {
  readonly path: string
  readonly size: number
}

/** The file name a download is saved under: the last segment of the requested name. */
export const localName = (name: string): string => name.slice(name.lastIndexOf("/") + 1)

export const download = (options: DownloadOptions) =>
  Effect.scoped(Effect.gen(function*() {
    // Open the destination first: a bad directory is reported before anything is transferred.
    const destination = yield* Destination.open(options.directory, localName(options.name))
    const { reader, response } = yield* exchange(
      options.server,
      Codec.Request.Get({ name: options.name, digests: options.digests })
    )
    if (response._tag !== "File") return yield* Effect.dieMessage(`unexpected ${response._tag} response to a GET`)
    if (!options.digests.includes(response.digest)) {
      return yield* new ProtocolError({
        reason: "Malformed",
        detail: `file checked with ${response.digest}, not offered`
      })
    }

    const { size } = response
    const progress = yield* Progress.make({ label: printable(options.name), total: size, enabled: options.progress })
    const hash = hasher(response.digest)
    const trailer = yield* Codec.readBody(reader, response, (bytes) => {
      hash.update(bytes)
      progress.advance(bytes.length)
      return destination.write(bytes)
    })
    if (trailer._tag === "Aborted") {
      return yield* new TransferError({ reason: "Aborted", status: trailer.status, detail: trailer.message })
    }
    if (!Buffer.from(hash.digest()).equals(trailer.digest)) {
      return yield* new TransferError({
        reason: "Corrupt",
        detail: `the received bytes do not match the server's ${response.digest} digest`
      })
    }
    const path = yield* destination.commit
    return { path, size } satisfies Downloaded
  }))
