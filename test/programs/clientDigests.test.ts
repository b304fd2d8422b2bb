/**
 * The client's download against scripted servers, digest by digest: it offers what it is told, takes
 * only a digest it offered, and catches a changed byte, a cut body or a wrong digest with either,
 * never leaving a file behind.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as Path from "@effect/platform/Path"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as fsp from "node:fs/promises"
import * as MemoryNetwork from "../../src/layers/MemoryNetwork.js"
import { download } from "../../src/programs/client/download.js"
import { TransferError } from "../../src/programs/client/errors.js"
import * as Codec from "../../src/protocol/Codec.js"
import { type Digest, DIGEST_NAMES, DIGESTS } from "../../src/protocol/Digest.js"
import type { SocketClient } from "../../src/services/SocketClient.js"
import type { SocketServer } from "../../src/services/SocketServer.js"
import * as FakeServer from "../support/FakeServer.js"
import * as Responses from "../support/responses.js"
import * as TempDirectory from "../support/TempDirectory.js"

const KiB = 1024

type World = SocketServer | SocketClient | FileSystem.FileSystem | Path.Path | Scope.Scope

const run = <A, E>(test: Effect.Effect<A, E, World>) =>
  test.pipe(
    Effect.scoped,
    Effect.provide(Layer.mergeAll(MemoryNetwork.layer, NodeFileSystem.layer, NodePath.layer))
  )

const get = (directory: string, digests: ReadonlyArray<Digest>) =>
  download({
    server: FakeServer.address,
    name: "docs/file.bin",
    directory,
    progress: false,
    digests,
    resume: true,
    retries: 0,
    notify: () => Effect.void
  })

const content = Responses.pattern(200 * KiB + 7, 3)

describe.each(DIGEST_NAMES)("download checked with %s", (digest) => {
  const [head, ...body] = Responses.file(content, 64 * KiB, digest)
  const trailer = body.pop()!

  it.effect("a correct file is saved, the GET having offered that digest", () =>
    run(Effect.gen(function*() {
      const dest = yield* TempDirectory.make()
      const server = yield* FakeServer.start(FakeServer.reply(head!, ...body, trailer))

      const saved = yield* get(dest, [digest])

      expect(trailer.length).toBe(5 + DIGESTS[digest].bytes)
      expect((yield* Effect.promise(() => fsp.readFile(saved.path))).equals(content)).toBe(true)
      expect(yield* TempDirectory.entries(dest)).toEqual(["file.bin"])
      expect(yield* server.requests).toEqual([Codec.Request.Get({ name: "docs/file.bin", digests: [digest] })])
    })))

  const corrupt = {
    "a flipped byte in the body": () => {
      const flipped = Uint8Array.from(content)
      flipped[100 * KiB] ^= 0x80
      return [head!, ...Responses.segments(flipped, 64 * KiB), trailer]
    },
    "a wrong digest in the trailer": () => {
      const wrong = Responses.digestOf(digest, content)
      wrong[wrong.length - 1] ^= 0x01
      return [head!, ...body, Responses.completeTrailer(wrong)]
    },
    "the digest of other bytes of the same size": () => [
      head!,
      ...body,
      Responses.completeTrailer(Responses.digestOf(digest, Responses.pattern(content.length, 4)))
    ]
  }
  for (const [what, chunks] of Object.entries(corrupt)) {
    it.effect(`${what} fails Corrupt, and nothing is kept`, () =>
      run(Effect.gen(function*() {
        const dest = yield* TempDirectory.make()
        yield* FakeServer.start(FakeServer.reply(...chunks()))

        const error = yield* Effect.flip(get(dest, DIGEST_NAMES))

        expect(error).toBeInstanceOf(TransferError)
        expect(error).toMatchObject({ reason: "Corrupt" })
        expect(error.message).toContain(digest)
        expect(yield* TempDirectory.entries(dest)).toEqual([])
      })))
  }

  const truncated = {
    "inside a segment": [head!, ...body.slice(0, 3), body[3]!.subarray(0, 1000)],
    "after all the bytes, before the end marker": [head!, ...body],
    "inside the trailer's digest": [head!, ...body, trailer.subarray(0, trailer.length - 1)]
  }
  for (const [where, chunks] of Object.entries(truncated)) {
    it.effect(`the connection ending ${where} fails Truncated, and nothing is kept`, () =>
      run(Effect.gen(function*() {
        const dest = yield* TempDirectory.make()
        yield* FakeServer.start(FakeServer.reply(...chunks))

        const error = yield* Effect.flip(get(dest, DIGEST_NAMES))

        expect(error).toMatchObject({ _tag: "ProtocolError", reason: "Truncated" })
        expect(yield* TempDirectory.entries(dest)).toEqual([])
      })))
  }

  it.effect("a file checked with this digest when only the other was offered fails Malformed, nothing kept", () =>
    run(Effect.gen(function*() {
      const dest = yield* TempDirectory.make()
      const other = DIGEST_NAMES.find((name) => name !== digest)!
      yield* FakeServer.start(FakeServer.reply(head!, ...body, trailer))

      const error = yield* Effect.flip(get(dest, [other]))

      expect(error).toMatchObject({ _tag: "ProtocolError", reason: "Malformed" })
      expect(yield* TempDirectory.entries(dest)).toEqual([])
    })))
})

describe("download: the digests offered", () => {
  it.effect("a file checked with the client's second choice is saved", () =>
    run(Effect.gen(function*() {
      const dest = yield* TempDirectory.make()
      yield* FakeServer.start(FakeServer.reply(...Responses.file(content, 64 * KiB, "sha256")))

      const saved = yield* get(dest, ["xxh3-128", "sha256"])

      expect(saved.size).toBe(content.length)
      expect(yield* TempDirectory.entries(dest)).toEqual(["file.bin"])
    })))

  it.effect("a file head naming a digest no one knows fails Malformed, nothing kept", () =>
    run(Effect.gen(function*() {
      const dest = yield* TempDirectory.make()
      const [head, ...rest] = Responses.file(content)
      // The digest id's place in the head: the one byte where heads naming two digests differ.
      const other = Codec.encodeFileHead(content.length, "sha256")
      const digestAt = head!.findIndex((byte, i) => byte !== other[i])
      const unknown = Uint8Array.from(head!)
      unknown[digestAt] = 0x63
      yield* FakeServer.start(FakeServer.reply(unknown, ...rest))

      const error = yield* Effect.flip(get(dest, DIGEST_NAMES))

      expect(error).toMatchObject({ _tag: "ProtocolError", reason: "Malformed" })
      expect(yield* TempDirectory.entries(dest)).toEqual([])
    })))

  it.effect("UNSUPPORTED_DIGEST fails Refused with that status and its message", () =>
    run(Effect.gen(function*() {
      const dest = yield* TempDirectory.make()
      const message = "digests supported: blake3"
      yield* FakeServer.start(
        FakeServer.reply(Codec.encodeFailure(Codec.Kind.Get, Codec.Status.UnsupportedDigest, message))
      )

      const error = yield* Effect.flip(get(dest, ["sha256"]))

      expect(error).toStrictEqual(
        new TransferError({ reason: "Refused", status: Codec.Status.UnsupportedDigest, detail: message })
      )
      expect(yield* TempDirectory.entries(dest)).toEqual([])
    })))

  it.effect("a refusal in protocol version 1 fails UnsupportedVersion, naming version 1", () =>
    run(Effect.gen(function*() {
      const dest = yield* TempDirectory.make()
      const refusal = Codec.encodeFailure(0, Codec.Status.UnsupportedVersion, "version 1 only")
      refusal[3] = 1
      yield* FakeServer.start(FakeServer.reply(refusal))

      const error = yield* Effect.flip(get(dest, DIGEST_NAMES))

      expect(error).toMatchObject({ _tag: "ProtocolError", reason: "UnsupportedVersion", version: 1 })
      expect(yield* TempDirectory.entries(dest)).toEqual([])
    })))
})
