/**
 * The client's download and list programs against scripted in-memory servers, saving into real
 * temporary directories: what is kept, what is reported, and that nothing is left behind on failure.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as Path from "@effect/platform/Path"
import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { createHash, randomBytes } from "node:crypto"
import { createReadStream } from "node:fs"
import * as fsp from "node:fs/promises"
import * as path from "node:path"
import * as MemoryNetwork from "../../src/layers/MemoryNetwork.js"
import { download } from "../../src/programs/client/download.js"
import { DestinationError, TransferError } from "../../src/programs/client/errors.js"
import { list } from "../../src/programs/client/inquire.js"
import * as Codec from "../../src/protocol/Codec.js"
import { type Digest, DIGEST_NAMES } from "../../src/protocol/Digest.js"
import { ConnectionError } from "../../src/services/Connection.js"
import { SocketClient } from "../../src/services/SocketClient.js"
import type { SocketServer } from "../../src/services/SocketServer.js"
import * as FakeServer from "../support/FakeServer.js"
import * as InstrumentedFileSystem from "../support/InstrumentedFileSystem.js"
import * as Responses from "../support/responses.js"
import * as TempDirectory from "../support/TempDirectory.js"

const KiB = 1024
const MiB = 1024 * KiB

type World = SocketServer | SocketClient | FileSystem.FileSystem | Path.Path | Scope.Scope

/**
 * Each test on a network of its own with the Node file system. The test's scope (fake server, temporary
 * directory) closes before the network does.
 */
const run = <A, E>(test: Effect.Effect<A, E, World>) =>
  test.pipe(
    Effect.scoped,
    Effect.provide(Layer.mergeAll(MemoryNetwork.layer, NodeFileSystem.layer, NodePath.layer))
  )

const get = (name: string, directory: string, digests: ReadonlyArray<Digest> = DIGEST_NAMES) =>
  download({
    server: FakeServer.address,
    name,
    directory,
    progress: false,
    digests,
    resume: true,
    retries: 0,
    notify: () => Effect.void
  })

const readFile = (file: string) => Effect.promise(() => fsp.readFile(file))

/** The bytes of `chunks` cut again into pieces of `size`, whatever the message boundaries. */
const rechunk = (chunks: ReadonlyArray<Uint8Array>, size: number): Array<Uint8Array> => {
  const all = Buffer.concat(chunks)
  return Array.from({ length: Math.ceil(all.length / size) }, (_, i) => all.subarray(i * size, (i + 1) * size))
}

const closed = Exit.fail(new ConnectionError({ reason: "Closed" }))

describe("download: a complete response", () => {
  it.effect("saves several segments at DEST/<last segment of the name>, byte for byte, and nothing else", () =>
    run(Effect.gen(function*() {
      const dest = yield* TempDirectory.make()
      const content = Responses.pattern(300 * KiB + 123)
      const server = yield* FakeServer.start(FakeServer.reply(...Responses.file(content, 64 * KiB)))

      const saved = yield* get("docs/a.txt", dest)

      expect(saved).toEqual({ path: path.join(dest, "a.txt"), size: content.length, resumedFrom: 0 })
      expect((yield* readFile(saved.path)).equals(content)).toBe(true)
      expect(yield* TempDirectory.entries(dest)).toEqual(["a.txt"])
      expect(yield* server.requests).toEqual([Codec.Request.Get({ name: "docs/a.txt", digests: DIGEST_NAMES })])
    })))

  it.effect("reads a response cut into pieces that straddle every header", () =>
    run(Effect.gen(function*() {
      const dest = yield* TempDirectory.make()
      const content = Responses.pattern(100 * KiB, 7)
      yield* FakeServer.start(FakeServer.reply(...rechunk(Responses.file(content, 10_000), 777)))

      const saved = yield* get("pieces.bin", dest)

      expect((yield* readFile(saved.path)).equals(content)).toBe(true)
      expect(yield* TempDirectory.entries(dest)).toEqual(["pieces.bin"])
    })))

  it.effect("saves an empty file", () =>
    run(Effect.gen(function*() {
      const dest = yield* TempDirectory.make()
      yield* FakeServer.start(FakeServer.reply(...Responses.file(new Uint8Array(0))))

      const saved = yield* get("empty", dest)

      expect(saved).toEqual({ path: path.join(dest, "empty"), size: 0, resumedFrom: 0 })
      expect((yield* readFile(saved.path)).length).toBe(0)
      expect(yield* TempDirectory.entries(dest)).toEqual(["empty"])
    })))

  it.effect("replaces a file already at the destination", () =>
    run(Effect.gen(function*() {
      const dest = yield* TempDirectory.make()
      yield* Effect.promise(() => fsp.writeFile(path.join(dest, "a.txt"), "an older, longer version of the file"))
      const content = new TextEncoder().encode("new")
      yield* FakeServer.start(FakeServer.reply(...Responses.file(content)))

      yield* get("a.txt", dest)

      expect((yield* readFile(path.join(dest, "a.txt"))).toString()).toBe("new")
      expect(yield* TempDirectory.entries(dest)).toEqual(["a.txt"])
    })))
})

describe("download: a refusal", () => {
  const refusals = [
    { status: Codec.Status.NotFound, kind: Codec.Kind.Get, message: "no such file: missing.txt" },
    { status: Codec.Status.BadRequest, kind: 0, message: "not a ferry request" },
    { status: Codec.Status.Busy, kind: 0, message: "too many connections, try again later" },
    { status: Codec.Status.InternalError, kind: Codec.Kind.Get, message: "could not read the file" }
  ] as const

  for (const { kind, message, status } of refusals) {
    it.effect(`${Codec.statusName(status)} fails Refused with that status and leaves DEST untouched`, () =>
      run(Effect.gen(function*() {
        const dest = yield* TempDirectory.make()
        yield* FakeServer.start(FakeServer.reply(Codec.encodeFailure(kind, status, message)))

        const error = yield* Effect.flip(get("missing.txt", dest))

        expect(error).toStrictEqual(new TransferError({ reason: "Refused", status, detail: message }))
        expect(yield* TempDirectory.entries(dest)).toEqual([])
      })))
  }
})

describe("download: a body that is not the file", () => {
  it.effect("bytes that do not match the trailer's digest fail Corrupt, and nothing is kept", () =>
    run(Effect.gen(function*() {
      const dest = yield* TempDirectory.make()
      const content = Responses.pattern(200 * KiB)
      const altered = Uint8Array.from(content)
      altered[150 * KiB] ^= 0x01
      const [head, ...rest] = Responses.file(content)
      // The announced digest is the original's; one bit of the body differs.
      const body = Responses.segments(altered, 64 * KiB)
      yield* FakeServer.start(FakeServer.reply(head!, ...body, rest.at(-1)!))

      const error = yield* Effect.flip(get("altered.bin", dest))

      expect(error).toBeInstanceOf(TransferError)
      expect(error).toMatchObject({ reason: "Corrupt" })
      expect(yield* TempDirectory.entries(dest)).toEqual([])
    })))

  it.effect("an aborted trailer after some segments fails Aborted with the server's status and message", () =>
    run(Effect.gen(function*() {
      const dest = yield* TempDirectory.make()
      const content = Responses.pattern(200 * KiB)
      yield* FakeServer.start(FakeServer.reply(
        Codec.encodeFileHead(content.length, "xxh3-128"),
        ...Responses.segments(content.subarray(0, 128 * KiB), 64 * KiB),
        Responses.abortedTrailer(Codec.Status.InternalError, "the file changed while it was read")
      ))

      const error = yield* Effect.flip(get("changing.log", dest))

      expect(error).toStrictEqual(
        new TransferError({
          reason: "Aborted",
          status: Codec.Status.InternalError,
          detail: "the file changed while it was read"
        })
      )
      expect(yield* TempDirectory.entries(dest)).toEqual([])
    })))
})

describe("download: a broken response", () => {
  const content = Responses.pattern(300 * KiB)
  const [head, ...body] = Responses.file(content, 100 * KiB)
  const trailer = body.pop()!

  it.effect("the server going away mid-body fails Closed, and nothing is kept", () =>
    run(Effect.gen(function*() {
      const dest = yield* TempDirectory.make()
      // The write returns only once the client has taken the segment: it is mid-body when the server leaves.
      const server = yield* FakeServer.start((_request, connection) => connection.write(head!, ...body.slice(0, 2)))

      const error = yield* Effect.flip(get("cut.bin", dest))

      expect(Exit.isSuccess(yield* server.outcome)).toBe(true)
      expect(error).toStrictEqual(new ConnectionError({ reason: "Closed" }))
      expect(yield* TempDirectory.entries(dest)).toEqual([])
    })))

  const truncations = {
    "inside a segment": [head!, Codec.encodeSegmentHead(1000), content.subarray(0, 500)],
    "after all the announced bytes, before the end marker": [head!, ...body],
    "inside the digest": [head!, ...body, trailer.subarray(0, 20)]
  }
  for (const [where, chunks] of Object.entries(truncations)) {
    it.effect(`the connection ending ${where} fails Truncated, and nothing is kept`, () =>
      run(Effect.gen(function*() {
        const dest = yield* TempDirectory.make()
        yield* FakeServer.start(FakeServer.reply(...chunks))

        const error = yield* Effect.flip(get("cut.bin", dest))

        expect(error).toMatchObject({ _tag: "ProtocolError", reason: "Truncated" })
        expect(yield* TempDirectory.entries(dest)).toEqual([])
      })))
  }

  const protocolErrors = [
    {
      what: "garbage instead of a response",
      chunks: [new TextEncoder().encode("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")],
      reason: "BadMagic"
    },
    {
      what: "a response of protocol version 1",
      chunks: [Uint8Array.of(0x46, 0x52, 0x59, 0x01), head!.subarray(4), ...body, trailer],
      reason: "UnsupportedVersion"
    },
    {
      what: "a response of protocol version 3",
      chunks: [Uint8Array.of(0x46, 0x52, 0x59, 0x03), head!.subarray(4), ...body, trailer],
      reason: "UnsupportedVersion"
    },
    {
      what: "a segment bringing the body past the announced size",
      chunks: [Codec.encodeFileHead(100, "xxh3-128"), Codec.encodeSegmentHead(200), Responses.pattern(200), trailer],
      reason: "Malformed"
    },
    {
      what: "segments adding up to more than the announced size",
      chunks: [
        Codec.encodeFileHead(100, "xxh3-128"),
        ...Responses.segments(Responses.pattern(120), 60),
        Responses.completeTrailer(Responses.digestOf("xxh3-128", Responses.pattern(120)))
      ],
      reason: "Malformed"
    },
    {
      what: "a complete trailer before the announced size",
      chunks: [Codec.encodeFileHead(content.length + 1, "xxh3-128"), ...body, trailer],
      reason: "Malformed"
    },
    {
      what: "a segment over 16 MiB",
      chunks: [Codec.encodeFileHead(64 * MiB, "xxh3-128"), Codec.encodeSegmentHead(Codec.MAX_SEGMENT_BYTES + 1)],
      reason: "TooLarge"
    }
  ] as const
  for (const { chunks, reason, what } of protocolErrors) {
    it.effect(`${what} fails ${reason}, and nothing is kept`, () =>
      run(Effect.gen(function*() {
        const dest = yield* TempDirectory.make()
        yield* FakeServer.start(FakeServer.reply(...chunks))

        const error = yield* Effect.flip(get("odd.bin", dest))

        expect(error).toMatchObject({ _tag: "ProtocolError", reason })
        expect(yield* TempDirectory.entries(dest)).toEqual([])
      })))
  }
})

describe("download: the destination", () => {
  const content = Responses.pattern(300 * KiB)

  it.effect("running out of space mid-write fails NoSpace, removes the partial file and drops the connection", () =>
    run(Effect.gen(function*() {
      const dest = yield* TempDirectory.make()
      // Larger than what the client gathers before its first write, so that the server is still sending.
      const large = Responses.pattern(8 * MiB)
      const server = yield* FakeServer.start(FakeServer.reply(...Responses.file(large, 64 * KiB)))
      let written = 0
      const fileSystem = InstrumentedFileSystem.layer({
        writesFail: { after: 100 * KiB, code: "ENOSPC" },
        onWritten: (bytes) => void (written += bytes)
      })

      const error = yield* Effect.flip(Effect.provide(get("big.bin", dest), fileSystem))

      expect(error).toBeInstanceOf(DestinationError)
      // A write error names the file written: the partial.
      expect(error).toMatchObject({ reason: "NoSpace", path: path.join(dest, ".big.bin.ferry-partial") })
      // The temporary file did receive bytes before the disk was full: there was something to remove.
      expect(written).toBe(100 * KiB)
      expect(yield* TempDirectory.entries(dest)).toEqual([])
      // The server was still sending: it learns that the client has gone.
      expect(yield* server.outcome).toStrictEqual(closed)
    })))

  it.effect("a destination it may not create files in fails NotWritable before connecting", () =>
    run(Effect.gen(function*() {
      const dest = yield* TempDirectory.make()
      const server = yield* FakeServer.start(FakeServer.reply(...Responses.file(content)))
      const { client, connections } = yield* FakeServer.countingConnections

      const error = yield* get("big.bin", dest).pipe(
        Effect.provide(InstrumentedFileSystem.layer({ openFails: "EACCES" })),
        Effect.provideService(SocketClient, client),
        Effect.flip
      )

      expect(error).toBeInstanceOf(DestinationError)
      expect(error).toMatchObject({ reason: "NotWritable", path: dest })
      expect(yield* TempDirectory.entries(dest)).toEqual([])
      expect(yield* connections).toBe(0)
      expect(yield* server.requests).toEqual([])
    })))

  it.effect("a directory in the way of the final name fails at the rename, leaving it alone and no temporary file", () =>
    run(Effect.gen(function*() {
      const dest = yield* TempDirectory.make()
      yield* Effect.promise(() => fsp.mkdir(path.join(dest, "report")))
      yield* FakeServer.start(FakeServer.reply(...Responses.file(content)))

      const error = yield* Effect.flip(get("docs/report", dest))

      expect(error).toBeInstanceOf(DestinationError)
      expect(error).toMatchObject({ reason: "Failed", path: dest })
      expect(yield* TempDirectory.entries(dest)).toEqual(["report"])
      expect(yield* TempDirectory.entries(path.join(dest, "report"))).toEqual([])
    })))

  // The protocol allows 255 bytes per name segment, and so do most file systems; the hidden partial's
  // names add up to 20 bytes (`.NAME.ferry-partial.json`), so a NAME that long is cut (and hashed) in them.
  it.effect("saves a file whose name is as long as the protocol and the file system allow", () =>
    run(Effect.gen(function*() {
      const dest = yield* TempDirectory.make()
      const name = "n".repeat(255)
      yield* FakeServer.start(FakeServer.reply(...Responses.file(content)))

      const saved = yield* get(`docs/${name}`, dest)

      expect(saved.path).toBe(path.join(dest, name))
      expect(yield* TempDirectory.entries(dest)).toEqual([name])
    })))

  const unusable = [
    { what: "a missing directory", at: "missing", reason: "Missing" },
    { what: "a file", at: "file.txt", reason: "NotADirectory" },
    { what: "a path through a file", at: "file.txt/sub", reason: "NotADirectory" }
  ] as const
  for (const { at, reason, what } of unusable) {
    it.effect(`a destination that is ${what} fails ${reason} before any connection is made`, () =>
      run(Effect.gen(function*() {
        const root = yield* TempDirectory.make()
        yield* Effect.promise(() => fsp.writeFile(path.join(root, "file.txt"), "untouched"))
        const server = yield* FakeServer.start(FakeServer.reply(...Responses.file(content)))
        const { client, connections } = yield* FakeServer.countingConnections
        const dest = path.join(root, at)

        const error = yield* get("big.bin", dest).pipe(Effect.provideService(SocketClient, client), Effect.flip)

        expect(error).toBeInstanceOf(DestinationError)
        expect(error).toMatchObject({ reason, path: dest })
        expect(yield* connections).toBe(0)
        expect(yield* server.requests).toEqual([])
        expect(yield* TempDirectory.entries(root)).toEqual(["file.txt"])
        expect((yield* readFile(path.join(root, "file.txt"))).toString()).toBe("untouched")
      })))
  }
})

describe("download: interruption", () => {
  // The fake server names no version: what arrived could not be resumed, so it is not kept.
  it.effect("interrupted while the server holds the body back: the partial file is removed, the connection closed", () =>
    run(Effect.gen(function*() {
      const dest = yield* TempDirectory.make()
      const [head, ...rest] = Responses.file(Responses.pattern(300 * KiB), 64 * KiB)
      const sentSome = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const server = yield* FakeServer.start((_request, connection) =>
        Effect.gen(function*() {
          // Two segments: over the network's buffer, so the write returns once the client is reading them.
          yield* connection.write(head!, ...rest.slice(0, 4))
          yield* Deferred.succeed(sentSome, undefined)
          yield* Deferred.await(release)
          yield* connection.write(...rest.slice(4))
          yield* connection.end
        })
      )

      const downloading = yield* Effect.fork(get("held.bin", dest))
      // Should the download end first, the test fails at once rather than waiting for ever.
      yield* Effect.raceFirst(
        Deferred.await(sentSome),
        Effect.zipRight(Fiber.await(downloading), Effect.dieMessage("the download ended before the body was held"))
      )
      // The lock, and the partial: opened once the head has arrived.
      expect(yield* TempDirectory.entries(dest)).toEqual([".held.bin.ferry-lock", ".held.bin.ferry-partial"])

      const exit = yield* Fiber.interrupt(downloading)

      expect(Exit.isInterrupted(exit)).toBe(true)
      expect(yield* TempDirectory.entries(dest)).toEqual([])
      yield* Deferred.succeed(release, undefined)
      expect(yield* server.outcome).toStrictEqual(closed)
    })))
})

describe("download: memory", () => {
  // The client gathers pieces into write batches of 2 MiB and writes one while the next fills; it asks
  // the network for more only once the batch it fills has room, so the server can never be more than
  // two batches, one segment and the network's buffer ahead of the disk. The check counts bytes, not
  // time: each time a server write returns (which the in-memory network allows only once the client
  // has taken the bytes out of its buffer), it compares what the server has sent with what has reached
  // the destination file. A client that held the body, or any growing part of it, in memory would let
  // that difference grow towards the whole 64 MiB.
  const WRITE_BATCHES = 2 * 2 * MiB
  it.effect("64 MiB in 1 MiB segments: never more than two write batches, a segment and the network's buffer not yet on disk", () =>
    run(Effect.gen(function*() {
      const dest = yield* TempDirectory.make()
      const segments = 64
      const segmentSize = 1 * MiB
      const total = segments * segmentSize
      let onDisk = 0
      let sent = 0
      let mostAhead = 0
      const sentDigest = createHash("sha256")
      yield* FakeServer.start((_request, connection) =>
        Effect.gen(function*() {
          // SHA-256, the client's second choice: the server may check the file with any digest offered.
          yield* connection.write(Codec.encodeFileHead(total, "sha256"))
          for (let i = 0; i < segments; i++) {
            const segment = randomBytes(segmentSize)
            sentDigest.update(segment)
            yield* connection.write(Codec.encodeSegmentHead(segment.length), segment)
            sent += segment.length
            mostAhead = Math.max(mostAhead, sent - onDisk)
          }
          yield* connection.write(Responses.completeTrailer(new Uint8Array(sentDigest.copy().digest())))
          yield* connection.end
        })
      )
      const counting = InstrumentedFileSystem.layer({ onWritten: (bytes) => void (onDisk += bytes) })

      const saved = yield* Effect.provide(get("large.bin", dest), counting)

      expect(saved.size).toBe(total)
      expect(onDisk).toBe(total)
      expect(mostAhead).toBeLessThanOrEqual(WRITE_BATCHES + segmentSize + MemoryNetwork.bufferSize)
      const savedDigest = yield* Effect.promise(() =>
        new Promise<string>((resolve, reject) => {
          const hash = createHash("sha256")
          createReadStream(saved.path).on("data", (chunk) => hash.update(chunk)).on("error", reject).on(
            "end",
            () => resolve(hash.digest("hex"))
          )
        })
      )
      expect(savedDigest).toBe(sentDigest.digest("hex"))
    })))
})

describe("list", () => {
  it.effect("returns the entries and the total as the server sent them", () =>
    run(Effect.gen(function*() {
      const entries = [
        { name: "a.txt", size: 5 },
        { name: "docs/ünïcödé 📄.md", size: 2 ** 40 },
        { name: "empty", size: 0 }
      ]
      const server = yield* FakeServer.start(FakeServer.reply(Responses.listing(entries, 9000)))

      expect(yield* list(FakeServer.address)).toEqual({ entries, total: 9000 })
      expect(yield* server.requests).toEqual([Codec.Request.List()])
    })))

  it.effect("returns an empty listing", () =>
    run(Effect.gen(function*() {
      yield* FakeServer.start(FakeServer.reply(Responses.listing([], 0)))

      expect(yield* list(FakeServer.address)).toEqual({ entries: [], total: 0 })
    })))

  it.effect("a failure reply fails Refused with its status", () =>
    run(Effect.gen(function*() {
      yield* FakeServer.start(
        FakeServer.reply(Codec.encodeFailure(Codec.Kind.List, Codec.Status.InternalError, "cache unavailable"))
      )

      const error = yield* Effect.flip(list(FakeServer.address))

      expect(error).toStrictEqual(
        new TransferError({ reason: "Refused", status: Codec.Status.InternalError, detail: "cache unavailable" })
      )
    })))
})
