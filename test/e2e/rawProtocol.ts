/**
 * Speaking the protocol by hand, for the end-to-end tests: raw connections to the server for requests
 * the client binary would refuse to send (or send too politely), and a fake server for replies no
 * ferry server would send.
 */
import { expect } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Net from "node:net"
import * as ByteReader from "../../src/protocol/ByteReader.js"
import * as Codec from "../../src/protocol/Codec.js"
import { type Digest, DIGEST_NAMES } from "../../src/protocol/Digest.js"
import type { ProtocolError } from "../../src/protocol/ProtocolError.js"
import { HOST } from "./harness.js"

/**
 * A TCP server that answers the first bytes of each connection with `answer`, to show the client
 * replies no ferry server would send. Its connections are destroyed when the scope closes.
 */
export const fakeServer = (answer: (socket: Net.Socket, request: Buffer) => void) =>
  Effect.gen(function*() {
    const sockets = new Set<Net.Socket>()
    const server = yield* Effect.acquireRelease(
      Effect.async<Net.Server>((resume) => {
        const server = Net.createServer((socket) => {
          sockets.add(socket)
          socket.on("error", () => {})
          socket.on("close", () => sockets.delete(socket))
          socket.once("data", (request) => answer(socket, request))
        })
        server.listen(0, HOST, () => resume(Effect.succeed(server)))
      }),
      (server) =>
        Effect.async<void>((resume) => {
          for (const socket of sockets) socket.destroy()
          server.close(() => resume(Effect.void))
        })
    )
    return { port: (server.address() as Net.AddressInfo).port }
  })

// Raw protocol

export interface RawConnection {
  readonly socket: Net.Socket
  /** Reads only when asked: a connection nobody reads from holds the server back, as a slow client does. */
  readonly reader: ByteReader.ByteReader<Error>
  readonly write: (bytes: Uint8Array) => Effect.Effect<void, Error>
  /** Half-closes: no more requests. */
  readonly end: Effect.Effect<void>
}

/** A plain TCP connection to the server, destroyed when the scope closes. */
export const rawConnect = (port: number): Effect.Effect<RawConnection, never, Scope.Scope> =>
  Effect.gen(function*() {
    const received: Array<Uint8Array> = []
    let connected = false
    let ended = false
    let failure: Error | undefined
    let waiting: (() => void) | undefined
    const wake = () => {
      const waiter = waiting
      waiting = undefined
      waiter?.()
    }
    // Every listener is in place before the socket can emit anything.
    const socket = yield* Effect.acquireRelease(
      Effect.sync(() =>
        Net.createConnection({ host: HOST, port, allowHalfOpen: true })
          .pause()
          .on("connect", () => {
            connected = true
            wake()
          })
          .on("data", (chunk: Buffer) => {
            received.push(chunk)
            socket.pause()
            wake()
          })
          .on("end", () => {
            ended = true
            wake()
          })
          .on("error", (error) => {
            failure = error
            wake()
          })
          .on("close", () => {
            ended = true
            wake()
          })
      ),
      (socket) => Effect.sync(() => socket.destroy())
    )
    yield* Effect.async<void>((resume) => {
      const attempt = () => {
        if (connected) return resume(Effect.void)
        if (failure !== undefined || ended) {
          return resume(Effect.dieMessage(`cannot connect to port ${port}: ${failure?.message ?? "closed"}`))
        }
        waiting = attempt
      }
      attempt()
      return Effect.sync(() => {
        waiting = undefined
      })
    })
    const pull = Effect.async<Option.Option<Uint8Array>, Error>((resume) => {
      const attempt = () => {
        const chunk = received.shift()
        if (chunk !== undefined) return resume(Effect.succeed(Option.some(chunk)))
        if (failure !== undefined) return resume(Effect.fail(failure))
        if (ended) return resume(Effect.succeed(Option.none()))
        waiting = attempt
        socket.resume()
      }
      attempt()
      return Effect.sync(() => {
        waiting = undefined
        socket.pause()
      })
    })
    return {
      socket,
      reader: ByteReader.make(pull),
      write: (bytes) =>
        Effect.async<void, Error>((resume) => {
          socket.write(bytes, (error) => resume(error ? Effect.fail(error) : Effect.void))
        }),
      end: Effect.async<void>((resume) => {
        socket.end(() => resume(Effect.void))
      })
    }
  })

/** A GET offering `digests` (by default, what the client binary offers when not told otherwise). */
export const getRequest = (name: string, digests: ReadonlyArray<Digest> = DIGEST_NAMES) =>
  Codec.encodeRequest(Codec.Request.Get({ name, digests }))
export const listRequest = Codec.encodeRequest(Codec.Request.List())

export type Fetched =
  | { readonly _tag: "File"; readonly digest: Digest; readonly bytes: Buffer; readonly trailer: Codec.Trailer }
  | { readonly _tag: "Failure"; readonly status: Codec.FailureStatus; readonly message: string }

/** Reads the whole response to a GET already sent: a file with its body and trailer, or a failure. */
export const readFetched = (reader: ByteReader.ByteReader<Error>): Effect.Effect<Fetched, Error | ProtocolError> =>
  Effect.gen(function*() {
    const response = yield* Codec.readResponse(reader, Codec.Kind.Get)
    switch (response._tag) {
      case "Failure":
        return { _tag: "Failure", status: response.status, message: response.message } as const
      case "File": {
        const chunks: Array<Uint8Array> = []
        const trailer = yield* Codec.readBody(reader, response, (bytes) => Effect.sync(() => chunks.push(bytes)))
        return { _tag: "File", digest: response.digest, bytes: Buffer.concat(chunks), trailer } as const
      }
      default:
        return yield* Effect.dieMessage(`a ${response._tag} response in answer to a GET`)
    }
  })

/** Reads the response to a LIST already sent. */
export const readListing = (reader: ByteReader.ByteReader<Error>) => Codec.readResponse(reader, Codec.Kind.List)

export interface FailureFrame {
  readonly version: number
  readonly status: number
  readonly kind: number
  readonly message: string
}

/**
 * A failure response read by its frozen layout (PROTOCOL.md 6.1), without interpreting it, so that a
 * test can check the kind byte and the version the server put in the prefix.
 */
export const readFailureFrame = (reader: ByteReader.ByteReader<Error>) =>
  Effect.gen(function*() {
    const head = yield* reader.exactly(8)
    expect(Buffer.from(head.subarray(0, 3)).toString("latin1")).toBe("FRY")
    const length = (head[6]! << 8) | head[7]!
    const message = Buffer.from(yield* reader.exactly(length)).toString("utf8")
    return { version: head[3]!, status: head[4]!, kind: head[5]!, message } satisfies FailureFrame
  })

export const statsRequest = Codec.encodeRequest(Codec.Request.Stats())

/** Reads the response to a STATS already sent: the server's statistics by name. */
export const readStats = (
  reader: ByteReader.ByteReader<Error>
): Effect.Effect<Readonly<Record<string, number>>, Error | ProtocolError> =>
  Effect.flatMap(
    Codec.readResponse(reader, Codec.Kind.Stats),
    (response) =>
      response._tag === "Stats"
        ? Effect.succeed(response.stats)
        : Effect.dieMessage(`a ${response._tag} response in answer to a STATS`)
  )

/** The server's statistics, asked on a connection of its own that is closed before returning. */
export const askStats = (port: number) =>
  Effect.scoped(Effect.gen(function*() {
    const connection = yield* rawConnect(port)
    yield* connection.write(statsRequest)
    return yield* readStats(connection.reader)
  }))
