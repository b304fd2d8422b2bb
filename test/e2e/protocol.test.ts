/**
 * The server against requests that break the protocol, over raw sockets: each gets its failure reply
 * and loses its connection, nothing more. And several requests on one connection, answered in order.
 */
import { expect, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { randomBytes } from "node:crypto"
import * as path from "node:path"
import * as Codec from "../../src/protocol/Codec.js"
import {
  bounded,
  runClient,
  type Server,
  sha256,
  sha256File,
  startServer,
  tempDir,
  writeRandomFile
} from "./harness.js"
import { getRequest, listRequest, rawConnect, readFailureFrame, readFetched, readListing } from "./rawProtocol.js"

const FILES = { "a.bin": 3000, "b.bin": 2 * 1024 * 1024 + 17, "ok.txt": 100 } as const

class Running extends Context.Tag("e2e/Running")<Running, {
  readonly server: Server
  readonly sha256: Record<string, string>
}>() {}

const running = Layer.scoped(
  Running,
  Effect.gen(function*() {
    const dir = yield* tempDir("ferry-e2e-served-")
    const digests: Record<string, string> = {}
    for (const [name, size] of Object.entries(FILES)) digests[name] = yield* writeRandomFile(path.join(dir, name), size)
    return { server: yield* startServer(dir), sha256: digests }
  })
)

const header = (prefix: ArrayLike<number>, kind: number, length: number) => {
  const bytes = Buffer.alloc(9)
  Buffer.from(prefix).copy(bytes)
  bytes[4] = kind
  bytes.writeUInt32BE(length, 5)
  return bytes
}
const FRY1 = [0x46, 0x52, 0x59, 0x01]

const garbage = randomBytes(64)
garbage[0] = 0 // anything but the "F" of the magic

const ABUSES: ReadonlyArray<{
  readonly why: string
  readonly bytes: Uint8Array
  readonly status: Codec.FailureStatus
  readonly endAfterSending?: boolean
}> = [
  { why: "random garbage", bytes: garbage, status: Codec.Status.BadRequest },
  {
    why: "a valid magic with version 2",
    bytes: Buffer.concat([header([0x46, 0x52, 0x59, 0x02], 1, 5), Buffer.from("a.bin")]),
    status: Codec.Status.UnsupportedVersion
  },
  {
    // The payload is never sent: a server waiting for it would never answer.
    why: "a GET declaring a payload of 4 GiB - 1 bytes",
    bytes: header(FRY1, 1, 0xffff_ffff),
    status: Codec.Status.TooLarge
  },
  { why: "a GET declaring 4097 bytes", bytes: header(FRY1, 1, 4097), status: Codec.Status.TooLarge },
  { why: "an unknown kind", bytes: header(FRY1, 7, 0), status: Codec.Status.BadRequest },
  { why: "a GET with an empty name", bytes: header(FRY1, 1, 0), status: Codec.Status.BadRequest },
  {
    why: "a LIST with a payload",
    bytes: Buffer.concat([header(FRY1, 2, 1), Buffer.from("x")]),
    status: Codec.Status.BadRequest
  },
  {
    why: "a name that is not UTF-8",
    bytes: Buffer.concat([header(FRY1, 1, 3), Buffer.from([0x61, 0xc3, 0x28])]),
    status: Codec.Status.BadRequest
  },
  {
    why: "a request cut short by the end of the stream",
    bytes: Buffer.concat([header(FRY1, 1, 10), Buffer.from("a.b")]),
    status: Codec.Status.BadRequest,
    endAfterSending: true
  }
]

// Built without the test services: these tests run on real time, like `it.live`.
layer(running, { excludeTestServices: true })("protocol abuse", (it) => {
  it.scoped.each(ABUSES)(
    "$why gets its failure reply, then the connection is closed",
    (abuse) =>
      Effect.gen(function*() {
        const { server } = yield* Running
        const connection = yield* rawConnect(server.port)
        yield* connection.write(abuse.bytes)
        if (abuse.endAfterSending === true) yield* connection.end
        const reply = yield* readFailureFrame(connection.reader).pipe(bounded("5 seconds", "waiting for the reply"))
        // Kind 0: the server could not tell what it was answering. The prefix carries the version it speaks.
        expect(reply).toMatchObject({ version: 1, status: abuse.status, kind: 0 })
        expect(reply.message).not.toBe("")
        const closed = yield* connection.reader.atEnd.pipe(bounded("5 seconds", "waiting for the server to close"))
        expect(closed, "nothing follows the failure: the server closes the connection").toBe(true)
      })
  )

  it.scoped("the server keeps serving a normal client after all of that", () =>
    Effect.gen(function*() {
      const { server, sha256: digests } = yield* Running
      // All the abuses at once, on connections of their own, left open.
      yield* Effect.forEach(ABUSES, (abuse) =>
        // The server may close one before it is all written: that is its right.
        Effect.flatMap(rawConnect(server.port), (connection) => Effect.ignore(connection.write(abuse.bytes))), {
        concurrency: "unbounded"
      })
      const dest = yield* tempDir("ferry-e2e-dest-")
      const ran = yield* runClient(["127.0.0.1", server.port, "ok.txt", dest, "-q"])
      expect(ran.code, ran.stderr).toBe(0)
      expect(yield* sha256File(path.join(dest, "ok.txt"))).toBe(digests["ok.txt"])
    }))

  it.scoped("a client vanishing mid-transfer costs the server nothing", () =>
    Effect.gen(function*() {
      const { server, sha256: digests } = yield* Running
      yield* Effect.scoped(Effect.gen(function*() {
        const connection = yield* rawConnect(server.port)
        yield* connection.write(getRequest("b.bin"))
        expect(yield* Codec.readResponse(connection.reader, Codec.Kind.Get)).toEqual(
          Codec.Response.File({ size: FILES["b.bin"] })
        )
        connection.socket.resetAndDestroy()
      }))
      const dest = yield* tempDir("ferry-e2e-dest-")
      const ran = yield* runClient(["127.0.0.1", server.port, "b.bin", dest, "-q"])
      expect(ran.code, ran.stderr).toBe(0)
      expect(yield* sha256File(path.join(dest, "b.bin"))).toBe(digests["b.bin"])
    }))

  it.scoped("several requests on one connection are answered in order", () =>
    Effect.gen(function*() {
      const { server, sha256: digests } = yield* Running
      const connection = yield* rawConnect(server.port)
      // Pipelined: all three are sent before any answer is read.
      yield* connection.write(Buffer.concat([getRequest("a.bin"), getRequest("b.bin"), listRequest]))
      yield* connection.end

      for (const name of ["a.bin", "b.bin"] as const) {
        const fetched = yield* readFetched(connection.reader)
        expect(fetched._tag, name).toBe("File")
        if (fetched._tag !== "File") return
        expect(fetched.bytes.length).toBe(FILES[name])
        expect(sha256(fetched.bytes), name).toBe(digests[name])
        expect(fetched.trailer._tag).toBe("Complete")
        if (fetched.trailer._tag === "Complete") {
          expect(Buffer.from(fetched.trailer.digest).toString("hex")).toBe(digests[name])
        }
      }
      const listing = yield* readListing(connection.reader)
      expect(listing._tag).toBe("Listing")
      if (listing._tag === "Listing") {
        expect(listing.entries).toContainEqual({ name: "a.bin", size: FILES["a.bin"] })
        expect(listing.entries).toContainEqual({ name: "b.bin", size: FILES["b.bin"] })
      }
      // Every request answered, and the client done sending: the server closes.
      expect(yield* connection.reader.atEnd).toBe(true)
    }).pipe(bounded("10 seconds", "three requests on one connection")))

  it.scoped("a request arriving one byte at a time is answered", () =>
    Effect.gen(function*() {
      const { server, sha256: digests } = yield* Running
      const connection = yield* rawConnect(server.port)
      connection.socket.setNoDelay(true)
      for (const byte of getRequest("ok.txt")) yield* connection.write(Uint8Array.of(byte))
      const fetched = yield* readFetched(connection.reader)
      expect(fetched._tag).toBe("File")
      if (fetched._tag === "File") expect(sha256(fetched.bytes)).toBe(digests["ok.txt"])
    }).pipe(bounded("10 seconds", "a request sent byte by byte")))
})
