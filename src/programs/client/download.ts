/**
 * Downloading a file: stream it into a partial file while hashing it, and move it into place only
 * when its size and digest match what the server announced. What arrived is kept across a lost
 * connection, a timeout or an interrupt, and the next attempt (by itself, or the same command run
 * again) resumes from it: the server sends the rest if the file is still that version, the whole
 * file otherwise, and the digest always covers the whole file, bytes on disk included. On a ring
 * (`--servers`), each attempt goes to the name's node; a node that refuses or drops the connection
 * is marked down and the attempt goes at once, resuming, to the next node on the ring.
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { formatBytes } from "../../format/ByteSize.js"
import { printable } from "../../format/Printable.js"
import * as Codec from "../../protocol/Codec.js"
import { type Digest, hasher } from "../../protocol/Digest.js"
import { ProtocolError } from "../../protocol/ProtocolError.js"
import { TransferError } from "./errors.js"
import { type ServerAddress, type Session } from "./exchange.js"
import * as exchange from "./exchange.js"
import * as Nodes from "./Nodes.js"
import * as Partial from "./Partial.js"
import * as Progress from "./Progress.js"
import { backoff, isTransient, retryReason } from "./retry.js"

export interface DownloadOptions {
  /** The server, or the ring of them (`Nodes.make`). */
  readonly server: ServerAddress | Nodes.Nodes
  readonly name: string
  readonly directory: string
  /** The name to save it under in `directory` (default: the last segment of `name`). */
  readonly saveAs?: string
  readonly progress: boolean
  /** The digests the file may be checked with, in order of preference. */
  readonly digests: ReadonlyArray<Digest>
  /** Resume from a partial file left by an earlier attempt (default), or start over. */
  readonly resume: boolean
  /** How many times to try again after a transient failure. */
  readonly retries: number
  /** Where notices (resuming, retrying) go: stderr unless quiet. */
  readonly notify: (line: string) => Effect.Effect<void>
}

export interface Downloaded {
  readonly path: string
  readonly size: number
  /** Where the last attempt's body started: more than 0 when it resumed. */
  readonly resumedFrom: number
}

/** The file name a download is saved under: the last segment of the requested name. */
export const localName = (name: string): string => name.slice(name.lastIndexOf("/") + 1)

/** The bytes kept from before did not add up to the file: they are gone, and the file is fetched anew. */
export class ResumedCorrupt extends Data.TaggedError("ResumedCorrupt")<{ readonly from: number }> {}

export const mismatch = (digest: Digest) =>
  new TransferError({ reason: "Corrupt", detail: `the received bytes do not match the server's ${digest} digest` })

/** The GET for `name`, resuming what `held` says is on disk. */
export const requestFor = (name: string, digests: ReadonlyArray<Digest>, held: Option.Option<Codec.Resume>) =>
  Option.match(held, {
    onNone: () => Codec.Request.Get({ name, digests }),
    onSome: (resume) => Codec.Request.Get({ name, digests, resume })
  })

/** What a GET needs besides its partial: the name, the digests, where notices and progress go. */
export interface Receiving {
  readonly name: string
  readonly digests: ReadonlyArray<Digest>
  readonly notify: (line: string) => Effect.Effect<void>
  /** Told of the head once it arrives: returns what is told of the bytes as they come. */
  readonly track: (head: Codec.FileHead) => Effect.Effect<Progress.Progress, never, Scope.Scope>
}

/**
 * The answer to a GET already sent on `session` (with `held` as its resume), into `partial`: the
 * body received and checked, and the file put in place.
 */
export const receiveInto = (
  session: Session,
  receiving: Receiving,
  partial: Partial.Partial,
  held: Option.Option<Codec.Resume>
) =>
  Effect.scoped(Effect.gen(function*() {
    const response = yield* session.response(Codec.Kind.Get)
    if (response._tag !== "File") return yield* Effect.dieMessage(`unexpected ${response._tag} response to a GET`)
    if (!receiving.digests.includes(response.digest)) {
      return yield* new ProtocolError({
        reason: "Malformed",
        detail: `file checked with ${response.digest}, not offered`
      })
    }
    const { size, start } = response
    const asked = Option.match(held, { onNone: () => 0, onSome: (resume) => resume.offset })
    if (start !== 0 && start !== asked) {
      return yield* new ProtocolError({ reason: "Malformed", detail: `body from ${start}, asked from ${asked}` })
    }
    const label = printable(receiving.name)
    if (start > 0) {
      yield* receiving.notify(`resuming ${label} at ${formatBytes(start)} of ${formatBytes(size)}`)
    } else if (Option.isSome(held) && held.value.offset > 0) {
      yield* receiving.notify(`${label} changed on the server since the last attempt: starting over`)
    }

    const hash = hasher(response.digest)
    const writer = yield* partial.begin(response, hash)
    const progress = yield* receiving.track(response)
    const trailer = yield* Codec.readBody(session.reader, response, (bytes) => {
      hash.update(bytes)
      progress.advance(bytes.length)
      return writer.write(bytes)
    })
    if (trailer._tag === "Aborted") {
      return yield* new TransferError({ reason: "Aborted", status: trailer.status, detail: trailer.message })
    }
    if (!Buffer.from(hash.digest()).equals(trailer.digest)) {
      // Whether the bytes kept from before or the new ones are wrong, none of them can be trusted.
      yield* writer.finish
      yield* partial.discard
      return yield* start > 0 ? new ResumedCorrupt({ from: start }) : mismatch(response.digest)
    }
    yield* writer.finish
    const path = yield* partial.commit
    return { path, size, resumedFrom: start } satisfies Downloaded
  }))

/** One GET on `session` into `partial`, resuming what it holds. */
const receive = (session: Session, receiving: Receiving, partial: Partial.Partial) =>
  Effect.gen(function*() {
    const held = yield* partial.held
    yield* session.send(requestFor(receiving.name, receiving.digests, held))
    return yield* receiveInto(session, receiving, partial, held)
  })

/**
 * Downloads one file, on connections of its own: retried with backoff after transient failures,
 * resuming each time; started over once if the bytes kept from before turn out wrong.
 */
export const download = (options: DownloadOptions) =>
  Effect.scoped(Effect.gen(function*() {
    // Opened (and locked) first: a bad directory is reported before anything is transferred.
    const partial = yield* Partial.open(options.directory, options.saveAs ?? localName(options.name))
    if (!options.resume) yield* partial.discard
    let answeredBefore = false
    let restarted = false
    const receiving: Receiving = {
      name: options.name,
      digests: options.digests,
      notify: options.notify,
      track: (head) =>
        Progress.make({
          label: printable(options.name),
          total: head.size,
          initial: head.start,
          enabled: options.progress
        })
    }
    const nodes = Nodes.of(options.server)
    const attempt = Nodes.onNode(nodes, options.name, (server) =>
      Effect.scoped(Effect.gen(function*() {
        const session = yield* exchange.connect(server)
        return yield* receive(session, receiving, partial).pipe(
          Effect.onExit(() => Effect.sync(() => answeredBefore ||= session.answered())),
          Effect.catchTag("ResumedCorrupt", ({ from }) => {
            if (restarted) return Effect.fail(mismatch(options.digests[0]!))
            restarted = true
            return options.notify(
              `the ${formatBytes(from)} kept from before do not match the file: fetching it again from the start`
            ).pipe(Effect.zipRight(receive(session, receiving, partial)))
          }),
          Effect.catchTag("ResumedCorrupt", () => Effect.fail(mismatch(options.digests[0]!)))
        )
      })))
    const transient = (error: Parameters<typeof isTransient>[0]) => isTransient(error, { answeredBefore })
    let retried = 0
    return yield* attempt.pipe(Effect.retry(
      backoff(options.retries).pipe(
        Schedule.whileInput(transient),
        // Told only of what is retried: the last failure is the command's to report.
        Schedule.tapInput((error: Parameters<typeof isTransient>[0]) =>
          transient(error) && retried++ < options.retries
            ? options.notify(`${retryReason(error)}: trying again, resuming from what has arrived`)
            : Effect.void
        )
      )
    ))
  }))
