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
import type { Digest } from "../../src/protocol/Digest.js"
import { type Digests } from "../support/randomFiles.js"
import * as RandomFiles from "../support/randomFiles.js"
import { bounded, runClient, type Server, sha256, sha256File, startServer, tempDir } from "./harness.js"
import { getRequest, listRequest, rawConnect, readFailureFrame, readFetched, readListing } from "./rawProtocol.js"

const FILES = { "a.bin": 3000, "b.bin": 2 * 1024 * 1024 + 17, "ok.txt": 100 } as const

class Running extends Context.Tag("e2e/Running")<Running, {
  readonly server: Server
  /** Each file's SHA-256, in hex. */
  readonly sha256: Record<string, string>
  /** Each file's digests, by algorithm. */
  readonly digests: Record<string, Digests>
}>() {}

const running = Layer.scoped(
  Running,
  Effect.gen(function*() {
    const dir = yield* tempDir("ferry-e2e-served-")
    const digests: Record<string, Digests> = {}
    for (const [name, size] of Object.entries(FILES)) {
      digests[name] = yield* RandomFiles.writeRandomFile(path.join(dir, name), size)
    }
    const sha256 = Object.fromEntries(Object.entries(digests).map(([name, all]) => [name, all.sha256.toString("hex")]))
    return { server: yield* startServer(dir), sha256, digests }
  })
)

/** A request header alone: the prefix, the kind and the payload's length, whatever follows. */
const header = (prefix: ArrayLike<number>, kind: number, length: number) => {
  const bytes = Buffer.alloc(Codec.REQUEST_HEADER_BYTES)
  Buffer.from(prefix).copy(bytes)
  bytes[4] = kind
  bytes.writeUInt32BE(length, 5)
  return bytes
}
/** A GET as the codec encodes it, offering `digests`. */
const get = (name: string, digests: ReadonlyArray<Digest> = ["xxh3-128"]) =>
  Codec.encodeRequest(Codec.Request.Get({ name, digests }))
/** A GET whose name is `name`, bytes that need not be UTF-8: the name is the last field of its payload. */
const getNamed = (name: Uint8Array) => {
  const bytes = get("n".repeat(name.length))
  bytes.set(name, bytes.length - name.length)
  return bytes
}
/** A GET offering digest `ids`, known or not: encoded with as many known ones, their ids then replaced. */
const rawGet = (ids: ReadonlyArray<number>, name: string) => {
  const bytes = get(name, ids.map(() => "xxh3-128" as const))
  bytes.set(ids, Codec.REQUEST_HEADER_BYTES + 1)
  return bytes
}
/** `request` with another version in its prefix. */
const withVersion = (request: Uint8Array, version: number) => {
  const bytes = Uint8Array.from(request)
  bytes[3] = version
  return bytes
}

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
    why: "a version 1 GET",
    bytes: Buffer.concat([header([0x46, 0x52, 0x59, 0x01], 1, 5), Buffer.from("a.bin")]),
    status: Codec.Status.UnsupportedVersion
  },
  { why: "a valid magic with version 3", bytes: withVersion(get("a.bin"), 3), status: Codec.Status.UnsupportedVersion },
  {
    // The payload is never sent: a server waiting for it would never answer.
    why: "a GET declaring a payload of 4 GiB - 1 bytes",
    bytes: header(Codec.PREFIX, Codec.Kind.Get, 0xffff_ffff),
    status: Codec.Status.TooLarge
  },
  {
    // Refused on its header alone: a server waiting for the payload would never answer.
    why: `a GET declaring ${Codec.MAX_PAYLOAD_BYTES + 1} bytes`,
    bytes: header(Codec.PREFIX, Codec.Kind.Get, Codec.MAX_PAYLOAD_BYTES + 1),
    status: Codec.Status.TooLarge
  },
  // Within the payload's limit: the name's own limit refuses it.
  { why: "a GET with a name of 4097 bytes", bytes: get("n".repeat(4097)), status: Codec.Status.TooLarge },
  { why: "an unknown kind", bytes: header(Codec.PREFIX, 7, 0), status: Codec.Status.BadRequest },
  {
    why: "a GET with an empty payload",
    bytes: header(Codec.PREFIX, Codec.Kind.Get, 0),
    status: Codec.Status.BadRequest
  },
  { why: "a GET with an empty name", bytes: get(""), status: Codec.Status.BadRequest },
  { why: "a GET offering no digest (D = 0)", bytes: get("a.bin", []), status: Codec.Status.BadRequest },
  {
    why: "a GET offering 17 digests",
    bytes: get("a.bin", new Array<Digest>(17).fill("xxh3-128")),
    status: Codec.Status.BadRequest
  },
  {
    why: "a LIST with a payload",
    bytes: Buffer.concat([header(Codec.PREFIX, Codec.Kind.List, 1), Buffer.from("x")]),
    status: Codec.Status.BadRequest
  },
  {
    why: "a name that is not UTF-8",
    bytes: getNamed(Uint8Array.of(0x61, 0xc3, 0x28)),
    status: Codec.Status.BadRequest
  },
  {
    why: "a request cut short by the end of the stream",
    bytes: get("a.bin").subarray(0, -2),
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
        expect(reply).toMatchObject({ version: 2, status: abuse.status, kind: 0 })
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
        expect(yield* Codec.readResponse(connection.reader, Codec.Kind.Get)).toMatchObject({
          _tag: "File",
          size: FILES["b.bin"],
          digest: "xxh3-128",
          start: 0
        })
        connection.socket.resetAndDestroy()
      }))
      const dest = yield* tempDir("ferry-e2e-dest-")
      const ran = yield* runClient(["127.0.0.1", server.port, "b.bin", dest, "-q"])
      expect(ran.code, ran.stderr).toBe(0)
      expect(yield* sha256File(path.join(dest, "b.bin"))).toBe(digests["b.bin"])
    }))

  it.scoped("several requests on one connection are answered in order, each checked with the digest it asked for", () =>
    Effect.gen(function*() {
      const { digests, server, sha256: sha256s } = yield* Running
      const connection = yield* rawConnect(server.port)
      // Pipelined: all three are sent before any answer is read. The server takes each GET's first choice.
      const asked = { "a.bin": ["xxh3-128", "sha256"], "b.bin": ["sha256", "xxh3-128"] } as const
      yield* connection.write(
        Buffer.concat([getRequest("a.bin", asked["a.bin"]), getRequest("b.bin", asked["b.bin"]), listRequest])
      )
      yield* connection.end

      for (const name of ["a.bin", "b.bin"] as const) {
        const fetched = yield* readFetched(connection.reader)
        expect(fetched._tag, name).toBe("File")
        if (fetched._tag !== "File") return
        expect(fetched.digest, name).toBe(asked[name][0])
        expect(fetched.bytes.length).toBe(FILES[name])
        expect(sha256(fetched.bytes), name).toBe(sha256s[name])
        expect(fetched.trailer._tag).toBe("Complete")
        if (fetched.trailer._tag === "Complete") {
          expect(Buffer.from(fetched.trailer.digest).equals(digests[name]![fetched.digest])).toBe(true)
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

  it.scoped("a GET offering only digests the server does not know gets UNSUPPORTED_DIGEST; the connection stays", () =>
    Effect.gen(function*() {
      const { digests, server } = yield* Running
      const connection = yield* rawConnect(server.port)
      yield* connection.write(rawGet([0, 3, 0xff], "ok.txt"))
      expect(yield* readFetched(connection.reader)).toEqual({
        _tag: "Failure",
        status: Codec.Status.UnsupportedDigest,
        message: "digests supported: xxh3-128, sha256"
      })
      // Unknown ids are passed over: the first the server knows is taken.
      yield* connection.write(rawGet([7, 2, 1], "ok.txt"))
      const fetched = yield* readFetched(connection.reader)
      expect(fetched).toMatchObject({ _tag: "File", digest: "sha256" })
      const trailer = fetched._tag === "File" ? fetched.trailer : undefined
      expect(trailer?._tag === "Complete" && Buffer.from(trailer.digest).equals(digests["ok.txt"]!.sha256)).toBe(true)
    }).pipe(bounded("10 seconds", "two GETs on one connection")))
})
