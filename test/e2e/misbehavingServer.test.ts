/**
 * The client binary against servers that fail it part-way, or that are not ferry at all: each ends
 * with its documented exit code and one line on stderr, and never leaves a file, whole or partial.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import { createHash } from "node:crypto"
import * as fsp from "node:fs/promises"
import type * as Net from "node:net"
import * as path from "node:path"
import * as Codec from "../../src/protocol/Codec.js"
import { bounded, expectOneLine, listDir, runClient, spawnClient, tempDir } from "./harness.js"
import { fakeServer } from "./rawProtocol.js"

const bytes = (text: string) => new TextEncoder().encode(text)
const segment = (data: Uint8Array) => [Codec.encodeSegmentHead(data.length), data]
const send = (socket: Net.Socket, parts: ReadonlyArray<Uint8Array>) => socket.write(Buffer.concat(parts))

const CASES: ReadonlyArray<{
  readonly why: string
  readonly code: number
  readonly answer: (socket: Net.Socket) => void
}> = [
  {
    why: "the connection closing mid-body",
    code: 5,
    answer: (socket) => {
      send(socket, [Codec.encodeFileHead(1000), ...segment(new Uint8Array(500))])
      socket.end()
    }
  },
  {
    why: "the connection closing after every byte but before the trailer",
    code: 5,
    answer: (socket) => {
      send(socket, [Codec.encodeFileHead(5), ...segment(bytes("hello"))])
      socket.end()
    }
  },
  {
    why: "the connection reset after the head",
    code: 5,
    answer: (socket) => {
      socket.write(Codec.encodeFileHead(1000), () => socket.resetAndDestroy())
    }
  },
  {
    why: "a digest that does not match the bytes",
    code: 6,
    answer: (socket) => {
      const trailer = Codec.encodeTrailer(Codec.Trailer.Complete({ digest: new Uint8Array(32) }))
      send(socket, [Codec.encodeFileHead(5), ...segment(bytes("hello")), trailer])
    }
  },
  {
    why: "a body longer than announced",
    code: 6,
    answer: (socket) => send(socket, [Codec.encodeFileHead(2), ...segment(bytes("abc"))])
  },
  {
    why: "a server that does not speak ferry",
    code: 6,
    answer: (socket) => socket.end("HTTP/1.1 400 Bad Request\r\n\r\n")
  },
  {
    why: "a busy server",
    code: 8,
    answer: (socket) => socket.end(Codec.encodeFailure(0, Codec.Status.Busy, "too many connections"))
  },
  {
    why: "an aborted trailer",
    code: 9,
    answer: (socket) => {
      const trailer = Codec.encodeTrailer(
        Codec.Trailer.Aborted({ status: Codec.Status.InternalError, message: "disk on fire" })
      )
      send(socket, [Codec.encodeFileHead(10), ...segment(bytes("abcd")), trailer])
    }
  }
]

describe("the client against a misbehaving server", () => {
  it.scopedLive.each(CASES)("$why: exit $code, nothing saved", ({ answer, code }) =>
    Effect.gen(function*() {
      const server = yield* fakeServer(answer)
      const dest = yield* tempDir("ferry-e2e-dest-")
      const ran = yield* runClient(["127.0.0.1", server.port, "file.bin", dest])
      expect(ran.code, ran.stderr).toBe(code)
      expectOneLine(ran.stderr)
      expect(yield* listDir(dest), "no file and no temporary file").toEqual([])
    }))

  // The same fake server, answering as a ferry server would: the failures above are the client's doing.
  it.scopedLive("a correct answer from the fake server is saved, exit 0", () =>
    Effect.gen(function*() {
      const server = yield* fakeServer((socket) => {
        const digest = createHash("sha256").update("hello").digest()
        const trailer = Codec.encodeTrailer(Codec.Trailer.Complete({ digest }))
        send(socket, [Codec.encodeFileHead(5), ...segment(bytes("hello")), trailer])
      })
      const dest = yield* tempDir("ferry-e2e-dest-")
      const ran = yield* runClient(["127.0.0.1", server.port, "file.bin", dest, "-q"])
      expect(ran.code, ran.stderr).toBe(0)
      expect(yield* listDir(dest)).toEqual(["file.bin"])
      expect(yield* Effect.promise(() => fsp.readFile(path.join(dest, "file.bin"), "utf8"))).toBe("hello")
    }))

  it.scopedLive("a server that stops sending mid-body: --timeout gives up with exit 5, nothing saved", () =>
    Effect.gen(function*() {
      // Sends part of the body, then nothing more, keeping the connection open.
      const server = yield* fakeServer((socket) => {
        send(socket, [Codec.encodeFileHead(1000), ...segment(new Uint8Array(100))])
      })
      const dest = yield* tempDir("ferry-e2e-dest-")
      const ran = yield* runClient(["127.0.0.1", server.port, "file.bin", dest, "--timeout", "500 millis"])
      expect(ran.code, ran.stderr).toBe(5)
      expectOneLine(ran.stderr)
      expect(ran.stderr).toContain("stopped sending")
      expect(yield* listDir(dest)).toEqual([])
    }))

  it.scopedLive("SIGINT during a download exits 130 and removes the temporary file", () =>
    Effect.gen(function*() {
      const requested = yield* Deferred.make<void>()
      // Sends part of the body, then holds the rest back for as long as the client waits.
      const server = yield* fakeServer((socket) => {
        send(socket, [Codec.encodeFileHead(1000), ...segment(new Uint8Array(100))])
        Deferred.unsafeDone(requested, Effect.void)
      })
      const dest = yield* tempDir("ferry-e2e-dest-")
      const client = yield* spawnClient(["127.0.0.1", server.port, "file.bin", dest])
      yield* Deferred.await(requested).pipe(bounded("10 seconds", "waiting for the client's request"))
      // The temporary file is opened before the client connects: this is what must go.
      expect(yield* listDir(dest)).toEqual([expect.stringMatching(/^\.file\.bin\.[0-9a-f]+\.ferry-part$/)])

      client.process.kill("SIGINT")
      const exited = yield* client.exited.pipe(bounded("10 seconds", "waiting for the client to exit"))
      expect(exited.code, client.stderr()).toBe(130)
      expect(yield* listDir(dest)).toEqual([])
    }))
})
