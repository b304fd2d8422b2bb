/**
 * Fetching a file through the balancer, as clients do. Native: one connection per file, as
 * `ferry-client HOST PORT NAME DIR` opens, with GET frames written byte by byte from
 * docs/PROTOCOL.md so that every count of digest ids (D, 1 to 16: unknown ids first, which the
 * server passes over) and an AUTH ahead of the GET, as `--token` sends it, all go through HAProxy's
 * name extraction. HTTP: every request on one keep-alive connection.
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Http from "node:http"
import * as Codec from "../../src/protocol/Codec.js"
import { DIGESTS, hasher } from "../../src/protocol/Digest.js"
import { openSession } from "../soak/Session.js"

export class FetchFailed extends Data.TaggedError("FetchFailed")<{ readonly detail: string }> {
  override get message() {
    return this.detail
  }
}

/** An id no digest has: the server skips it and checks the file with the first id it knows. */
const UNKNOWN_DIGEST = 0xf0

/** A version 2 GET of the whole file, offering `idCount` digest ids, the last of them XXH3-128. */
export const getFrame = (name: string, idCount: number): Uint8Array => {
  const nameBytes = new TextEncoder().encode(name)
  const payloadLength = 1 + idCount + 8 + Codec.FILE_VERSION_BYTES + nameBytes.length
  const frame = new Uint8Array(Codec.REQUEST_HEADER_BYTES + payloadLength)
  const view = new DataView(frame.buffer)
  frame.set(Codec.PREFIX, 0)
  frame[4] = Codec.Kind.Get
  view.setUint32(5, payloadLength)
  frame[9] = idCount
  frame.fill(UNKNOWN_DIGEST, 10, 10 + idCount - 1)
  frame[10 + idCount - 1] = DIGESTS["xxh3-128"].id
  // Offset 0 and no version (all zeros, as allocated): the whole file.
  frame.set(nameBytes, frame.length - nameBytes.length)
  return frame
}

export interface NativeGet {
  readonly port: number
  readonly name: string
  readonly size: number
  readonly idCount: number
  /** Sent as an AUTH first, pipelined with the GET (the nodes take any token: they require none). */
  readonly token?: string
}

/** One GET on a connection of its own; fails unless the answer is the whole file, its digest right. */
export const nativeGet = (request: NativeGet) =>
  Effect.scoped(
    Effect.gen(function*() {
      const wrong = (detail: string) => new FetchFailed({ detail: `GET ${request.name}: ${detail}` })
      const session = yield* Effect.acquireRelease(openSession("127.0.0.1", request.port), (session) => session.close)
      const frames = [getFrame(request.name, request.idCount)]
      if (request.token !== undefined) frames.unshift(Codec.encodeRequest(Codec.Request.Auth({ token: request.token })))
      yield* session.connection.write(Buffer.concat(frames))
      if (request.token !== undefined) {
        const auth = yield* Codec.readResponse(session.reader, Codec.Kind.Auth)
        if (auth._tag === "Failure") return yield* wrong(`AUTH answered ${Codec.statusName(auth.status)}`)
      }
      const response = yield* Codec.readResponse(session.reader, Codec.Kind.Get)
      if (response._tag === "Failure") {
        return yield* wrong(`answered ${Codec.statusName(response.status)} "${response.message}"`)
      }
      if (response._tag !== "File") return yield* wrong(`answered ${response._tag}`)
      if (response.size !== request.size) return yield* wrong(`${response.size} bytes announced, not ${request.size}`)
      const hash = hasher(response.digest)
      const trailer = yield* Codec.readBody(session.reader, response, (bytes) => Effect.sync(() => hash.update(bytes)))
      if (trailer._tag === "Aborted") return yield* wrong(`aborted: ${trailer.message}`)
      if (!Buffer.from(hash.digest()).equals(trailer.digest)) return yield* wrong("the bytes do not match the digest")
    }).pipe(
      Effect.catchTags({
        ConnectionError: (error) => Effect.fail(new FetchFailed({ detail: `GET ${request.name}: ${error.message}` })),
        ProtocolError: (error) => Effect.fail(new FetchFailed({ detail: `GET ${request.name}: ${error.message}` }))
      })
    )
  )

/** An agent of one connection, kept alive: every request of a round goes down the same one. */
export const oneConnection = Effect.acquireRelease(
  Effect.sync(() => new Http.Agent({ keepAlive: true, maxSockets: 1 })),
  (agent) => Effect.sync(() => agent.destroy())
)

/**
 * `GET /NAME` through the balancer; fails unless it answers 200 with the file's size in bytes.
 * Succeeds with whether it went down a connection an earlier request had used.
 */
export const httpGet = (agent: Http.Agent, port: number, name: string, size: number) =>
  Effect.async<boolean, FetchFailed>((resume) => {
    const wrong = (detail: string) => resume(Effect.fail(new FetchFailed({ detail: `GET /${name}: ${detail}` })))
    const sent = Http.get({ host: "127.0.0.1", port, path: `/${encodeURIComponent(name)}`, agent }, (response) => {
      let received = 0
      response.on("data", (bytes: Buffer) => received += bytes.length)
      response.on("error", (error) => wrong(error.message))
      response.on("end", () => {
        if (response.statusCode !== 200) return wrong(`answered ${response.statusCode}`)
        if (received !== size) return wrong(`${received} bytes, not ${size}`)
        resume(Effect.succeed(sent.reusedSocket))
      })
    })
    sent.on("error", (error) => wrong(error.message))
    return Effect.sync(() => sent.destroy())
  })
