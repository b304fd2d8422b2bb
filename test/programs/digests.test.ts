/**
 * How the server program chooses a file's digest: the client's first offered digest it knows, for a
 * file from the cache or streamed from disk; a GET offering none it knows is refused on a connection
 * that stays open.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { MemoryFiles } from "../../src/layers/MemoryFileStore.js"
import * as Codec from "../../src/protocol/Codec.js"
import { type Digest, DIGEST_NAMES, DIGESTS } from "../../src/protocol/Digest.js"
import { pattern } from "../support/responses.js"
import {
  type Client,
  connect,
  expectComplete,
  get,
  readGetAnswer,
  readRawFailure,
  settled,
  startServer,
  statsNow,
  world
} from "../support/serverWorld.js"

const CAPACITY = 100_000
const cached = pattern(30_000, 1)
// Larger than the cache: streamed from disk, hashed as it is sent.
const streamed = pattern(150_000, 2)

const putFiles = Effect.flatMap(
  MemoryFiles,
  (files) => Effect.zipRight(files.put("cached", cached), files.put("streamed", streamed))
)

/**
 * A GET offering digest ids that need not be known: encoded offering as many known digests, whose
 * ids (right after the count that opens the payload) are then replaced.
 */
const rawGet = (ids: ReadonlyArray<number>, name: string) => {
  const bytes = Codec.encodeRequest(Codec.Request.Get({ name, digests: ids.map(() => "sha256" as const) }))
  bytes.set(ids, Codec.REQUEST_HEADER_BYTES + 1)
  return bytes
}

const sendRaw = ({ connection, reader }: Client, bytes: Uint8Array) =>
  Effect.zipRight(connection.write(bytes), readGetAnswer(reader))

const id = (digest: Digest) => DIGESTS[digest].id

describe("the digest a file is checked with", () => {
  const offers: ReadonlyArray<readonly [ReadonlyArray<Digest>, Digest]> = [
    [["xxh3-128", "sha256"], "xxh3-128"],
    [["sha256", "xxh3-128"], "sha256"],
    [["sha256"], "sha256"],
    [["xxh3-128"], "xxh3-128"]
  ]

  it.scoped("is the client's first choice, for a cached file and a streamed one, on one connection", () =>
    Effect.gen(function*() {
      yield* putFiles
      yield* startServer()
      const client = yield* connect
      // Twice over: the second round of the cached file comes from memory, its digests computed once asked.
      for (let round = 0; round < 2; round++) {
        for (const [offer, chosen] of offers) {
          expectComplete(yield* get(client, "cached", offer), cached, chosen)
          expectComplete(yield* get(client, "streamed", offer), streamed, chosen)
        }
      }
      expect(yield* settled).toMatchObject({ loads: 1, streamed: 2 * offers.length, failures: 0 })
    }).pipe(Effect.provide(world(CAPACITY))))

  it.scoped("passes over ids it does not know, and offers made twice", () =>
    Effect.gen(function*() {
      yield* putFiles
      yield* startServer()
      const client = yield* connect
      expectComplete(yield* sendRaw(client, rawGet([0, 99, id("sha256"), id("xxh3-128")], "cached")), cached, "sha256")
      expectComplete(yield* sendRaw(client, rawGet([255, id("xxh3-128"), id("sha256")], "streamed")), streamed)
      expectComplete(yield* sendRaw(client, rawGet([id("sha256"), id("sha256"), 7], "cached")), cached, "sha256")
      const sixteen = [...new Array<number>(15).fill(200), id("sha256")]
      expectComplete(yield* sendRaw(client, rawGet(sixteen, "streamed")), streamed, "sha256")
    }).pipe(Effect.provide(world(CAPACITY))))
})

describe("a GET offering no digest the server knows", () => {
  for (const name of ["cached", "missing"]) {
    it.scoped(`is answered UNSUPPORTED_DIGEST for the GET (${name}), and the connection stays usable`, () =>
      Effect.gen(function*() {
        yield* putFiles
        yield* startServer()
        const client = yield* connect
        yield* client.connection.write(rawGet([0, 3, 200], name))
        expect(yield* readRawFailure(client.reader)).toEqual({
          prefix: [0x46, 0x52, 0x59, 0x02],
          status: Codec.Status.UnsupportedDigest,
          kind: Codec.Kind.Get,
          message: `digests supported: ${DIGEST_NAMES.join(", ")}`
        })
        expectComplete(yield* get(client, "cached"), cached)
        const after = yield* statsNow
        expect(after).toMatchObject({ requests: 2, failures: 1, loads: 1 })
        yield* client.connection.end
        expect(yield* client.reader.atEnd).toBe(true)
      }).pipe(Effect.provide(world(CAPACITY))))
  }
})
