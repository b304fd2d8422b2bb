/**
 * The client binary against servers that fail it part-way, or that are not ferry at all: each ends
 * with its documented exit code and one line on stderr, and never leaves a file, whole or partial
 * (these servers name no file version, so there is nothing a later run could resume).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as fsp from "node:fs/promises"
import type * as Net from "node:net"
import * as path from "node:path"
import * as Codec from "../../src/protocol/Codec.js"
import { type Digest, DIGEST_NAMES } from "../../src/protocol/Digest.js"
import * as Responses from "../support/responses.js"
import { bounded, expectOneLine, listDir, runClient, spawnClient, tempDir } from "./harness.js"
import { fakeServer } from "./rawProtocol.js"

const bytes = (text: string) => new TextEncoder().encode(text)
const segment = (data: Uint8Array) => [Codec.encodeSegmentHead(data.length), data]
const send = (socket: Net.Socket, parts: ReadonlyArray<Uint8Array>) => socket.write(Buffer.concat(parts))

interface Case {
  readonly why: string
  readonly code: number
  readonly answer: (socket: Net.Socket) => void
  /** Options for the client, after its arguments. */
  readonly options?: ReadonlyArray<string>
}

/** The client would try again after a lost connection or a busy server: these cases are about how it gives up. */
const NO_RETRIES = ["--retries", "0"]

const content = bytes("hello, world")

/** For each digest: a file whose body or trailer is not what the digest says, each caught by the client. */
const corruptions = (digest: Digest): ReadonlyArray<Case> => {
  const [head, ...body] = Responses.file(content, 5, digest)
  const trailer = body.pop()!
  const flipped = Uint8Array.from(content)
  flipped[7] ^= 0x20
  const wrongDigest = Responses.digestOf(digest, content)
  wrongDigest[0] ^= 0x01
  const options = ["--digest", digest]
  return [
    {
      why: `${digest}: a flipped byte in the body`,
      code: 6,
      options,
      answer: (socket) => send(socket, [head!, ...Responses.segments(flipped, 5), trailer])
    },
    {
      why: `${digest}: a body cut short, the connection closed`,
      code: 5,
      options: [...options, ...NO_RETRIES],
      answer: (socket) => {
        send(socket, [head!, ...body.slice(0, 3)])
        socket.end()
      }
    },
    {
      why: `${digest}: a trailer cut inside its digest`,
      code: 5,
      options: [...options, ...NO_RETRIES],
      answer: (socket) => {
        send(socket, [head!, ...body, trailer.subarray(0, trailer.length - 1)])
        socket.end()
      }
    },
    {
      why: `${digest}: a wrong digest in the trailer`,
      code: 6,
      options,
      answer: (socket) => send(socket, [head!, ...body, Responses.completeTrailer(wrongDigest)])
    }
  ]
}

const CASES: ReadonlyArray<Case> = [
  ...DIGEST_NAMES.flatMap(corruptions),
  {
    why: "a file checked with a digest the client did not offer",
    code: 6,
    options: ["--digest", "sha256"],
    answer: (socket) => send(socket, Responses.file(content, 5, "xxh3-128"))
  },
  {
    why: "a file head naming an unknown digest",
    code: 6,
    answer: (socket) => {
      const head = Codec.encodeFileHead(content.length, "xxh3-128")
      head[14] = 0x63
      send(socket, [head, ...Responses.file(content).slice(1)])
    }
  },
  {
    why: "a version 1 server refusing the request",
    code: 10,
    answer: (socket) =>
      socket.end(Buffer.concat([Buffer.of(0x46, 0x52, 0x59, 0x01, 0x04, 0x00, 0x00, 0x02), bytes("v1")]))
  },
  {
    why: "a version 3 server sending a file",
    code: 10,
    answer: (socket) => {
      const [head, ...rest] = Responses.file(content)
      head![3] = 3
      send(socket, [head!, ...rest])
    }
  },
  {
    why: "UNSUPPORTED_DIGEST",
    code: 9,
    answer: (socket) =>
      socket.end(Codec.encodeFailure(Codec.Kind.Get, Codec.Status.UnsupportedDigest, "digests supported: md5"))
  },
  {
    why: "the connection closing mid-body",
    code: 5,
    options: NO_RETRIES,
    answer: (socket) => {
      send(socket, [Codec.encodeFileHead(1000, "xxh3-128"), ...segment(new Uint8Array(500))])
      socket.end()
    }
  },
  {
    why: "the connection closing after every byte but before the trailer",
    code: 5,
    options: NO_RETRIES,
    answer: (socket) => {
      send(socket, [Codec.encodeFileHead(5, "xxh3-128"), ...segment(bytes("hello"))])
      socket.end()
    }
  },
  {
    why: "the connection reset after the head",
    code: 5,
    options: NO_RETRIES,
    answer: (socket) => {
      socket.write(Codec.encodeFileHead(1000, "xxh3-128"), () => socket.resetAndDestroy())
    }
  },
  {
    why: "a digest that does not match the bytes",
    code: 6,
    answer: (socket) => {
      const trailer = Codec.encodeTrailer(Codec.Trailer.Complete({ digest: new Uint8Array(16) }))
      send(socket, [Codec.encodeFileHead(5, "xxh3-128"), ...segment(bytes("hello")), trailer])
    }
  },
  {
    why: "a body longer than announced",
    code: 6,
    answer: (socket) => send(socket, [Codec.encodeFileHead(2, "xxh3-128"), ...segment(bytes("abc"))])
  },
  {
    why: "a server that does not speak ferry",
    code: 6,
    answer: (socket) => socket.end("HTTP/1.1 400 Bad Request\r\n\r\n")
  },
  {
    why: "a busy server",
    code: 8,
    options: NO_RETRIES,
    answer: (socket) => socket.end(Codec.encodeFailure(0, Codec.Status.Busy, "too many connections"))
  },
  {
    why: "an aborted trailer",
    code: 9,
    answer: (socket) => {
      const trailer = Codec.encodeTrailer(
        Codec.Trailer.Aborted({ status: Codec.Status.InternalError, message: "disk on fire" })
      )
      send(socket, [Codec.encodeFileHead(10, "xxh3-128"), ...segment(bytes("abcd")), trailer])
    }
  }
]

describe("the client against a misbehaving server", () => {
  it.scopedLive.each(CASES)(
    "$why: exit $code, nothing saved",
    ({ answer, code, options = [] }) =>
      Effect.gen(function*() {
        const server = yield* fakeServer(answer)
        const dest = yield* tempDir("ferry-e2e-dest-")
        const ran = yield* runClient(["127.0.0.1", server.port, "file.bin", dest, ...options])
        expect(ran.code, ran.stderr).toBe(code)
        expectOneLine(ran.stderr)
        expect(yield* listDir(dest), "no file and no temporary file").toEqual([])
      })
  )

  // The same fake server, answering as a ferry server would: the failures above are the client's doing.
  it.scopedLive("a correct answer from the fake server is saved, exit 0", () =>
    Effect.gen(function*() {
      const server = yield* fakeServer((socket) => send(socket, Responses.file(bytes("hello"))))
      const dest = yield* tempDir("ferry-e2e-dest-")
      const ran = yield* runClient(["127.0.0.1", server.port, "file.bin", dest, "-q"])
      expect(ran.code, ran.stderr).toBe(0)
      expect(yield* listDir(dest)).toEqual(["file.bin"])
      expect(yield* Effect.promise(() => fsp.readFile(path.join(dest, "file.bin"), "utf8"))).toBe("hello")
    }))

  it.scopedLive("a version 1 server: exit 10, one line naming both versions", () =>
    Effect.gen(function*() {
      const server = yield* fakeServer((socket) =>
        socket.end(Buffer.concat([Buffer.of(0x46, 0x52, 0x59, 0x01, 0x04, 0x00, 0x00, 0x02), bytes("v1")]))
      )
      const dest = yield* tempDir("ferry-e2e-dest-")
      const ran = yield* runClient(["127.0.0.1", server.port, "file.bin", dest])
      expect(ran.code, ran.stderr).toBe(10)
      expectOneLine(ran.stderr)
      expect(ran.stderr).toMatch(/version 1\b.*version 2\b/)
      expect(yield* listDir(dest)).toEqual([])
    }))

  // What the client offers, as the server reads it: byte for byte the GET the codec encodes for those
  // digests, with nothing to resume.
  it.scopedLive.each<{ how: string; options: Array<string>; env: Record<string, string>; offer: Array<Digest> }>([
    { how: "by default", options: [], env: {}, offer: ["xxh3-128", "sha256"] },
    { how: "with --digest sha256", options: ["--digest", "sha256"], env: {}, offer: ["sha256"] },
    { how: "with --digest xxh3-128", options: ["--digest", "xxh3-128"], env: {}, offer: ["xxh3-128"] },
    { how: "with FERRY_DIGEST=sha256", options: [], env: { FERRY_DIGEST: "sha256" }, offer: ["sha256"] }
  ])("the client offers $offer $how", ({ env, offer, options }) =>
    Effect.gen(function*() {
      const requests: Array<Buffer> = []
      const server = yield* fakeServer((socket, request) => {
        requests.push(request)
        send(socket, Responses.file(content, 5, offer[0]!))
      })
      const dest = yield* tempDir("ferry-e2e-dest-")
      const ran = yield* runClient(["127.0.0.1", server.port, "file.bin", dest, "-q", ...options], { env })
      expect(ran.code, ran.stderr).toBe(0)
      expect(yield* listDir(dest)).toEqual(["file.bin"])
      expect(requests).toHaveLength(1)
      expect([...requests[0]!]).toEqual([
        ...Codec.encodeRequest(Codec.Request.Get({ name: "file.bin", digests: offer }))
      ])
    }))

  it.scopedLive("a server that stops sending mid-body: --timeout gives up with exit 5, nothing saved", () =>
    Effect.gen(function*() {
      // Sends part of the body, then nothing more, keeping the connection open.
      const server = yield* fakeServer((socket) => {
        send(socket, [Codec.encodeFileHead(1000, "xxh3-128"), ...segment(new Uint8Array(100))])
      })
      const dest = yield* tempDir("ferry-e2e-dest-")
      const ran = yield* runClient([
        "127.0.0.1",
        server.port,
        "file.bin",
        dest,
        "--timeout",
        "500 millis",
        ...NO_RETRIES
      ])
      expect(ran.code, ran.stderr).toBe(5)
      expectOneLine(ran.stderr)
      expect(ran.stderr).toContain("stopped sending")
      expect(yield* listDir(dest)).toEqual([])
    }))

  // With no version named, what arrived could not be resumed: it is not kept.
  it.scopedLive("SIGINT during a download exits 130 and removes the temporary file", () =>
    Effect.gen(function*() {
      const requested = yield* Deferred.make<void>()
      // Sends part of the body, then holds the rest back for as long as the client waits.
      const server = yield* fakeServer((socket) => {
        send(socket, [Codec.encodeFileHead(1000, "xxh3-128"), ...segment(new Uint8Array(100))])
        Deferred.unsafeDone(requested, Effect.void)
      })
      const dest = yield* tempDir("ferry-e2e-dest-")
      const client = yield* spawnClient(["127.0.0.1", server.port, "file.bin", dest])
      yield* Deferred.await(requested).pipe(bounded("10 seconds", "waiting for the client's request"))
      // The lock is taken before the client connects, the partial opened once the head has arrived: both must go.
      yield* listDir(dest).pipe(
        Effect.repeat({ until: (names) => names.length === 2, schedule: Schedule.spaced("10 millis") }),
        bounded("10 seconds", "waiting for the partial file")
      )
      expect(yield* listDir(dest)).toEqual([".file.bin.ferry-lock", ".file.bin.ferry-partial"])

      client.process.kill("SIGINT")
      const exited = yield* client.exited.pipe(bounded("10 seconds", "waiting for the client to exit"))
      expect(exited.code, client.stderr()).toBe(130)
      expect(yield* listDir(dest)).toEqual([])
    }))
})
