/**
 * The benchmarks' in-process ferry client: GETs on a persistent connection (the soak's sessions),
 * read with the project's codec and checked as the client command checks them (size, a complete
 * trailer, the SHA-256 of the bytes) or, where hashing would cost more than what is measured,
 * against the source's digest only.
 */
import * as Effect from "effect/Effect"
import * as Codec from "../../src/protocol/Codec.js"
import { type Digest, DIGEST_NAMES, hasher } from "../../src/protocol/Digest.js"
import { ProtocolError } from "../../src/protocol/ProtocolError.js"
import { ConnectionError } from "../../src/services/Connection.js"
import { openSession, type Session } from "../soak/Session.js"
import { BenchError } from "./Processes.js"
import { HOST, type SourceFile } from "./Workspace.js"

export type { Session }

/** A connection to the server on `port`, closed with the scope. */
/**
 * A connection to the server; `reusedReads` reads as the client command does (six 1 MiB slabs per
 * connection: for one fast receiver, not for hundreds of slow ones).
 */
export const session = (port: number, options: { readonly reusedReads?: boolean } = {}) =>
  Effect.acquireRelease(
    Effect.mapError(
      openSession(HOST, port, options),
      (error) => new BenchError({ detail: `connecting: ${error.message}` })
    ),
    (session) => session.close
  )

export interface GetOptions<E> {
  /**
   * Hash the body and compare it with the trailer's digest, as the client does. Without, only the
   * trailer's digest is compared with the source's: the server says it sent the right file.
   */
  readonly hash: boolean
  /** The only digest to accept; the protocol's preferences when left out. */
  readonly digest?: Digest
  /** Told of each piece of the body as it arrives: to pace a slow reader, or to stop it. */
  readonly onData?: (bytes: Uint8Array) => Effect.Effect<void, E>
}

/** GETs `file` on `session` and reads all of the answer; fails unless it is the source's bytes. */
export const get = <E = never>(
  session: Session,
  file: SourceFile,
  options: GetOptions<E>
): Effect.Effect<void, BenchError | E> =>
  Effect.gen(function*() {
    const wrong = (detail: string) => Effect.fail(new BenchError({ detail: `GET ${file.name}: ${detail}` }))
    const digests = options.digest === undefined ? DIGEST_NAMES : [options.digest]
    yield* session.connection.write(Codec.encodeRequest(Codec.Request.Get({ name: file.name, digests })))
    const response = yield* Codec.readResponse(session.reader, Codec.Kind.Get)
    if (response._tag === "Failure") {
      return yield* wrong(`answered ${Codec.statusName(response.status)} "${response.message}"`)
    }
    if (response._tag !== "File") return yield* wrong(`answered ${response._tag}`)
    if (response.size !== file.size) return yield* wrong(`announced ${response.size} bytes, not ${file.size}`)
    const hash = options.hash ? hasher(response.digest) : undefined
    const { onData } = options
    const trailer = yield* Codec.readBody(session.reader, response, (bytes) => {
      hash?.update(bytes)
      return onData === undefined ? Effect.void : onData(bytes)
    })
    if (trailer._tag === "Aborted") return yield* wrong(`aborted: ${trailer.message}`)
    if (hash !== undefined && !Buffer.from(hash.digest()).equals(trailer.digest)) {
      return yield* wrong("the bytes received do not match the trailer's digest")
    }
    if (!file.digests[response.digest].equals(trailer.digest)) {
      return yield* wrong("the trailer's digest is not the source's")
    }
    session.answered++
  }).pipe(
    Effect.mapError((error) =>
      error instanceof ConnectionError || error instanceof ProtocolError
        ? new BenchError({ detail: `GET ${file.name}: ${error.message}` })
        : error
    )
  )

/**
 * Runs `once` again and again for at least `seconds` (whole runs only) and returns the rate in
 * `units` (what one run counts for) per second.
 */
export const rateOver = <E>(seconds: number, units: number, once: Effect.Effect<void, E>) =>
  Effect.gen(function*() {
    const started = performance.now()
    let done = 0
    while (performance.now() - started < seconds * 1000) {
      yield* once
      done++
    }
    return (done * units) / ((performance.now() - started) / 1000)
  })
