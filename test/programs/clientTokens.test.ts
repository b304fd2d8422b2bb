/**
 * The client with a token: an AUTH opens every connection, pipelined (the request after it is sent
 * without waiting for its answer), and a refusal ends the command once, exit code 13, never retried
 * and never misread as the answer to another request.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as fsp from "node:fs/promises"
import { describeFailure } from "../../src/cli/clientFailure.js"
import { MemoryFiles } from "../../src/layers/MemoryFileStore.js"
import * as MemoryNetwork from "../../src/layers/MemoryNetwork.js"
import { MemoryTokensControl } from "../../src/layers/MemoryTokens.js"
import { download } from "../../src/programs/client/download.js"
import { TransferError } from "../../src/programs/client/errors.js"
import { getMany } from "../../src/programs/client/getMany.js"
import { ls, stats } from "../../src/programs/client/inquire.js"
import * as ByteReader from "../../src/protocol/ByteReader.js"
import * as Codec from "../../src/protocol/Codec.js"
import { DIGEST_NAMES } from "../../src/protocol/Digest.js"
import { SocketServer } from "../../src/services/SocketServer.js"
import { hashToken } from "../../src/tokens/secret.js"
import * as FakeServer from "../support/FakeServer.js"
import * as Responses from "../support/responses.js"
import { startServer, world } from "../support/serverWorld.js"
import * as TempDirectory from "../support/TempDirectory.js"

const TOKEN = "fy_the-client's-token"
const server = { ...FakeServer.address, token: Redacted.make(TOKEN) }

const options = (directory: string, address: typeof FakeServer.address = server) => ({
  server: address,
  directory,
  progress: false,
  digests: DIGEST_NAMES,
  resume: true,
  retries: 3,
  notify: () => Effect.void
})

/**
 * A server that answers nothing until it has read `count` requests, then writes `answer`: a client
 * that waited for the AUTH's answer before sending its request would never get one.
 */
const readsBeforeAnswering = (count: number, answer: ReadonlyArray<Uint8Array>) =>
  Effect.gen(function*() {
    const sockets = yield* SocketServer
    const received = yield* Ref.make<ReadonlyArray<Codec.Request>>([])
    const connections = yield* Ref.make(0)
    yield* Effect.forkScoped(sockets.serve((connection) =>
      Effect.gen(function*() {
        yield* Ref.update(connections, (n) => n + 1)
        const reader = ByteReader.make(connection.read)
        for (let i = 0; i < count; i++) {
          const request = yield* Codec.readRequest(reader)
          if (Option.isSome(request)) yield* Ref.update(received, (all) => [...all, request.value])
        }
        yield* connection.write(...answer)
        yield* connection.end
      }).pipe(Effect.ignore), { gracePeriod: 0 }))
    return { received: Ref.get(received), connections: Ref.get(connections) }
  })

const onNetwork = <A, E, R>(test: Effect.Effect<A, E, R>) =>
  test.pipe(
    Effect.scoped,
    // A client that waits for an answer the server withholds is a failure, not a hang.
    Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error("the exchange did not finish") }),
    Effect.provide(Layer.mergeAll(MemoryNetwork.layer, NodeFileSystem.layer, NodePath.layer))
  )

describe("a client with a token", () => {
  it.live("opens each connection with an AUTH, and sends its request without waiting for the answer", () =>
    onNetwork(Effect.gen(function*() {
      const dest = yield* TempDirectory.make()
      const content = Responses.pattern(10_000)
      const fake = yield* readsBeforeAnswering(2, [Codec.encodeAuthenticated(), ...Responses.file(content)])
      const saved = yield* download({ ...options(dest), name: "a.bin" })
      expect(Buffer.compare(yield* Effect.promise(() => fsp.readFile(saved.path)), content)).toBe(0)
      expect(yield* fake.received).toEqual([
        Codec.Request.Auth({ token: TOKEN }),
        Codec.Request.Get({ name: "a.bin", digests: DIGEST_NAMES })
      ])
    })))

  it.live("a refused AUTH fails the download once, as UNAUTHORIZED: exit code 13, not retried", () =>
    onNetwork(Effect.gen(function*() {
      const dest = yield* TempDirectory.make()
      const fake = yield* readsBeforeAnswering(2, [
        Codec.encodeFailure(Codec.Kind.Auth, Codec.Status.Unauthorized, "unknown token"),
        Codec.encodeFailure(Codec.Kind.Get, Codec.Status.Unauthorized, "no token: send AUTH first")
      ])
      const error = yield* Effect.flip(download({ ...options(dest), name: "a.bin" }))
      expect(error).toEqual(
        new TransferError({ reason: "Refused", status: Codec.Status.Unauthorized, detail: "unknown token" })
      )
      expect(yield* fake.connections).toBe(1)
      expect(describeFailure(FakeServer.address, "a.bin", error as TransferError)).toEqual({
        code: 13,
        message: "not authorized for a.bin on memory:0: check --token"
      })
      expect(yield* TempDirectory.entries(dest)).toEqual([])
    })))

  it.live("without a token, no AUTH is sent", () =>
    onNetwork(Effect.gen(function*() {
      const dest = yield* TempDirectory.make()
      const fake = yield* FakeServer.start(FakeServer.reply(...Responses.file(Responses.pattern(10))))
      yield* download({ ...options(dest, FakeServer.address), name: "a.bin" })
      expect(yield* fake.requests).toEqual([Codec.Request.Get({ name: "a.bin", digests: DIGEST_NAMES })])
    })))
})

describe("a client with a token, against the server", () => {
  const served = Effect.gen(function*() {
    const files = yield* MemoryFiles
    yield* files.put("a.txt", Responses.pattern(100, 1))
    yield* files.put("b.txt", Responses.pattern(200, 2))
    yield* files.put("docs/c.txt", Responses.pattern(300, 3))
    yield* (yield* MemoryTokensControl).replace(Option.some([{
      label: "a-only",
      hash: hashToken(TOKEN),
      prefixes: ["a.txt", "docs"],
      expiresAt: Option.none(),
      admin: false
    }]))
    yield* startServer()
  })
  const withServer = <A, E, R>(test: Effect.Effect<A, E, R>) =>
    Effect.zipRight(served, test).pipe(
      Effect.scoped,
      Effect.provide(Layer.mergeAll(world(1_000_000), NodeFileSystem.layer, NodePath.layer))
    )

  it.effect("several files on one connection: each answered for itself, refusals in their place", () =>
    withServer(Effect.gen(function*() {
      const dest = yield* TempDirectory.make()
      const outcome = yield* getMany({ ...options(dest), names: ["a.txt", "b.txt", "docs/"] })
      expect(outcome.saved.map((file) => file.name)).toEqual(["a.txt", "docs/c.txt"])
      expect(outcome.failed).toEqual([
        expect.objectContaining({
          name: "b.txt",
          error: expect.objectContaining({ status: Codec.Status.Unauthorized })
        })
      ])
      const listed: Array<string> = []
      yield* ls(
        server,
        { path: "", recursive: true },
        (entries) => Effect.sync(() => listed.push(...entries.map((entry) => entry.path)))
      )
      expect(listed).toEqual(["a.txt", "docs", "docs/c.txt"])
      expect(yield* Effect.flip(stats(server))).toMatchObject({ status: Codec.Status.Unauthorized })
    })))

  it.effect("a refused AUTH fails every file with it, none mistaken for another's answer", () =>
    withServer(Effect.gen(function*() {
      const dest = yield* TempDirectory.make()
      const wrong = { ...FakeServer.address, token: Redacted.make("fy_wrong") }
      const outcome = yield* getMany({ ...options(dest, wrong), names: ["a.txt", "b.txt", "docs/c.txt"] })
      expect(outcome.saved).toEqual([])
      const refused = new TransferError({
        reason: "Refused",
        status: Codec.Status.Unauthorized,
        detail: "unknown token"
      })
      expect(outcome.failed.map(({ error, name }) => [name, error])).toEqual([
        ["a.txt", refused],
        ["b.txt", refused],
        ["docs/c.txt", refused]
      ])
      expect(yield* Effect.promise(() => fsp.readdir(dest))).toEqual([])
    })))
})
