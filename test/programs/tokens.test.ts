/**
 * Access tokens on the in-memory server: what a connection may ask for before and after an AUTH,
 * refusals decided before any name is looked up (a forbidden name and a missing one answered alike),
 * listings cut down to what the token may read, expiry, replaced tokens, and a log that names the
 * token's label but never the token.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as HashMap from "effect/HashMap"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import { lru } from "../../src/cache/Lru.js"
import * as BoundedCache from "../../src/layers/BoundedCache.js"
import * as MemoryFileStore from "../../src/layers/MemoryFileStore.js"
import { MemoryFiles } from "../../src/layers/MemoryFileStore.js"
import * as MemoryNetwork from "../../src/layers/MemoryNetwork.js"
import * as MemoryTokens from "../../src/layers/MemoryTokens.js"
import { MemoryTokensControl } from "../../src/layers/MemoryTokens.js"
import * as SemaphoreLockManager from "../../src/layers/SemaphoreLockManager.js"
import * as UnlimitedRateLimiter from "../../src/layers/UnlimitedRateLimiter.js"
import { REFUSALS } from "../../src/programs/server/authorize.js"
import * as Codec from "../../src/protocol/Codec.js"
import { DIGEST_NAMES } from "../../src/protocol/Digest.js"
import { FileStore } from "../../src/services/FileStore.js"
import type { Grant } from "../../src/services/Tokens.js"
import { hashToken } from "../../src/tokens/secret.js"
import {
  bytes,
  type Client,
  connect,
  expectComplete,
  get,
  getRequest,
  readGetAnswer,
  readRawFailure,
  startServer,
  world
} from "../support/serverWorld.js"

const { Kind, Status } = Codec

/** The names the server looked up (stat) or listed, in order: none may be for a refused request. */
class Lookups extends Context.Tag("test/Lookups")<Lookups, { readonly names: () => ReadonlyArray<string> }>() {}

const countingFiles = Layer.effectContext(Effect.map(MemoryFileStore.make, ({ controls, store }) => {
  const names: Array<string> = []
  const counted = FileStore.of({
    ...store,
    stat: (name) => Effect.zipRight(Effect.sync(() => names.push(name)), store.stat(name)),
    list: (path, options) => {
      names.push(`ls:${path}`)
      return store.list(path, options)
    }
  })
  return Context.make(FileStore, counted).pipe(
    Context.add(MemoryFiles, controls),
    Context.add(Lookups, { names: () => [...names] })
  )
}))

const grant = (label: string, token: string, options: Partial<Omit<Grant, "label" | "hash">> = {}): Grant => ({
  label,
  hash: hashToken(token),
  prefixes: "all",
  expiresAt: Option.none(),
  admin: false,
  ...options
})

const READER = "fy_reader-token"
const ADMIN = "fy_admin-token"
const SOON = "fy_expires-in-a-minute"
const GRANTS = [
  grant("reader", READER, { prefixes: ["docs/public", "a.txt"] }),
  grant("ops", ADMIN, { admin: true }),
  grant("soon", SOON, { expiresAt: Option.some(60_000) })
]

const FILES = {
  "a.txt": bytes(10, 1),
  "docs/readme.txt": bytes(20, 2),
  "docs/public/p.txt": bytes(30, 3),
  "docs/private/q.txt": bytes(40, 4),
  "secret/s.txt": bytes(50, 5)
}

/** The server on in-memory layers, with the files above and `grants` required (none: open). */
const withServer = (grants: Option.Option<ReadonlyArray<Grant>> = Option.some(GRANTS)) =>
  Effect.gen(function*() {
    const files = yield* MemoryFiles
    for (const [name, content] of Object.entries(FILES)) yield* files.put(name, content)
    yield* (yield* MemoryTokensControl).replace(grants)
    // Connections outlive the clock moved past an expiry.
    yield* startServer({ requestTimeout: "1 hour" })
  })

const tokensWorld = Layer.mergeAll(
  MemoryNetwork.layer,
  countingFiles,
  BoundedCache.layer({ capacity: 1_000_000, policy: lru }),
  SemaphoreLockManager.layer,
  MemoryTokens.layer(),
  UnlimitedRateLimiter.layer
)

const auth = ({ connection, reader }: Client, token: string) =>
  Effect.zipRight(
    connection.write(Codec.encodeRequest(Codec.Request.Auth({ token }))),
    Codec.readResponse(reader, Kind.Auth)
  )

/** Sends `request` and reads a failure byte by byte: what was sent, exactly. */
const refused = ({ connection, reader }: Client, request: Codec.Request) =>
  Effect.zipRight(connection.write(Codec.encodeRequest(request)), readRawFailure(reader))

const unauthorized = (kind: number, message: string) => ({
  prefix: [0x46, 0x52, 0x59, 0x02],
  status: Status.Unauthorized,
  kind,
  message
})

const getOf = (name: string) => Codec.Request.Get({ name, digests: DIGEST_NAMES })
const statOf = (name: string) => Codec.Request.Stat({ name, digests: DIGEST_NAMES })

/** The paths an LS lists. */
const ls = ({ connection, reader }: Client, path: string, recursive: boolean) =>
  Effect.gen(function*() {
    yield* connection.write(Codec.encodeRequest(Codec.Request.Ls({ path, recursive })))
    const response = yield* Codec.readResponse(reader, Kind.Ls)
    if (response._tag !== "Tree") return response
    const paths: Array<string> = []
    const ending = yield* Codec.readTree(reader, (entries) =>
      Effect.sync(() => paths.push(...entries.map((e) => e.path))))
    expect(ending._tag).toBe("Complete")
    return paths
  })

describe("access tokens", () => {
  it.scoped("without a token every request but AUTH is refused, before any lookup; the connection stays", () =>
    Effect.gen(function*() {
      yield* withServer()
      const client = yield* connect
      const requests = [
        getOf("a.txt"),
        getOf("missing.txt"),
        getOf("../outside"),
        statOf("secret/s.txt"),
        Codec.Request.Ls({ path: "", recursive: true }),
        Codec.Request.Ls({ path: "missing", recursive: false }),
        Codec.Request.List(),
        Codec.Request.Stats()
      ]
      for (const request of requests) {
        expect(yield* refused(client, request)).toEqual(unauthorized(Codec.kindOf(request), REFUSALS.noToken))
      }
      expect((yield* Lookups).names()).toEqual([])
      expect(yield* auth(client, READER)).toEqual(Codec.Response.Authenticated())
      expectComplete(yield* get(client, "a.txt"), FILES["a.txt"])
    }).pipe(Effect.provide(tokensWorld)))

  it.scoped("a token reads under its prefixes only: outside, a file that exists and one that does not are alike", () =>
    Effect.gen(function*() {
      yield* withServer()
      const client = yield* connect
      expect(yield* auth(client, READER)).toEqual(Codec.Response.Authenticated())
      expectComplete(yield* get(client, "docs/public/p.txt"), FILES["docs/public/p.txt"])
      const outside = unauthorized(Kind.Get, REFUSALS.outside)
      // Prefixes are whole segments: docs/public does not allow docs/publicity.
      for (const name of ["docs/private/q.txt", "docs/private/none.txt", "docs/readme.txt", "docs/publicity", "docs"]) {
        expect(yield* refused(client, getOf(name))).toEqual(outside)
      }
      expect(yield* refused(client, statOf("secret/s.txt"))).toEqual(unauthorized(Kind.Stat, REFUSALS.outside))
      expect(yield* refused(client, statOf("secret/none"))).toEqual(unauthorized(Kind.Stat, REFUSALS.outside))
      // Within the prefix, the name rules still hold: this is not served, whatever it names.
      expect(yield* get(client, "docs/public/../private/q.txt")).toMatchObject({ status: Status.NotFound })
      yield* client.connection.write(Codec.encodeRequest(statOf("docs/public/p.txt")))
      expect((yield* Codec.readResponse(client.reader, Kind.Stat))._tag).toBe("Facts")
      // Only the names the token allows were looked up (the store refuses the `..` by its name rules).
      expect((yield* Lookups).names()).toEqual([
        "docs/public/p.txt",
        "docs/public/../private/q.txt",
        "docs/public/p.txt"
      ])
    }).pipe(Effect.provide(tokensWorld)))

  it.scoped("LS shows what the token may read and the directories on the way to it, nothing else", () =>
    Effect.gen(function*() {
      yield* withServer()
      const client = yield* connect
      yield* auth(client, READER)
      expect(yield* ls(client, "", true)).toEqual(["a.txt", "docs", "docs/public", "docs/public/p.txt"])
      expect(yield* ls(client, "", false)).toEqual(["a.txt", "docs"])
      expect(yield* ls(client, "docs/", true)).toEqual(["docs/public", "docs/public/p.txt"])
      expect(yield* ls(client, "docs/public", false)).toEqual(["docs/public/p.txt"])
      for (const path of ["docs/private", "secret", "missing", "docs/publicity"]) {
        expect(yield* refused(client, Codec.Request.Ls({ path, recursive: true }))).toEqual(
          unauthorized(Kind.Ls, REFUSALS.outside)
        )
      }
      // A token for everything sees everything.
      yield* auth(client, ADMIN)
      expect(yield* ls(client, "", true)).toHaveLength(Object.keys(FILES).length + 4)
    }).pipe(Effect.provide(tokensWorld)))

  it.scoped("LIST and STATS need an admin token", () =>
    Effect.gen(function*() {
      yield* withServer()
      const client = yield* connect
      yield* auth(client, READER)
      expect(yield* refused(client, Codec.Request.List())).toEqual(unauthorized(Kind.List, REFUSALS.notAdmin))
      expect(yield* refused(client, Codec.Request.Stats())).toEqual(unauthorized(Kind.Stats, REFUSALS.notAdmin))
      yield* auth(client, ADMIN)
      yield* client.connection.write(Codec.encodeRequest(Codec.Request.List()))
      expect((yield* Codec.readResponse(client.reader, Kind.List))._tag).toBe("Listing")
      yield* client.connection.write(Codec.encodeRequest(Codec.Request.Stats()))
      const stats = yield* Codec.readResponse(client.reader, Kind.Stats)
      expect(stats._tag === "Stats" && stats.stats.failures).toBe(2)
    }).pipe(Effect.provide(tokensWorld)))

  it.scoped("a refused AUTH keeps the connection but leaves it unauthenticated, whatever came before", () =>
    Effect.gen(function*() {
      yield* withServer()
      const client = yield* connect
      yield* auth(client, READER)
      expectComplete(yield* get(client, "a.txt"), FILES["a.txt"])
      expect(yield* refused(client, Codec.Request.Auth({ token: "fy_wrong" }))).toEqual(
        unauthorized(Kind.Auth, REFUSALS.unknown)
      )
      expect(yield* refused(client, getOf("a.txt"))).toEqual(unauthorized(Kind.Get, REFUSALS.noToken))
      yield* auth(client, ADMIN)
      expectComplete(yield* get(client, "secret/s.txt"), FILES["secret/s.txt"])
    }).pipe(Effect.provide(tokensWorld)))

  it.scoped("an expired token is refused: at AUTH, and on the connection that presented it before", () =>
    Effect.gen(function*() {
      yield* withServer()
      const client = yield* connect
      expect(yield* auth(client, SOON)).toEqual(Codec.Response.Authenticated())
      expectComplete(yield* get(client, "a.txt"), FILES["a.txt"])
      yield* TestClock.adjust("60 seconds")
      expect(yield* refused(client, getOf("a.txt"))).toEqual(unauthorized(Kind.Get, REFUSALS.expired))
      expect(yield* refused(client, Codec.Request.Auth({ token: SOON }))).toEqual(
        unauthorized(Kind.Auth, REFUSALS.expired)
      )
      expect(yield* refused(client, getOf("a.txt"))).toEqual(unauthorized(Kind.Get, REFUSALS.noToken))
    }).pipe(Effect.provide(tokensWorld)))

  it.scoped("replaced tokens hold from the next request: a dropped one is refused, a new one accepted", () =>
    Effect.gen(function*() {
      yield* withServer()
      const control = yield* MemoryTokensControl
      const client = yield* connect
      yield* auth(client, READER)
      const later = yield* connect
      expect(yield* refused(later, Codec.Request.Auth({ token: "fy_new" }))).toEqual(
        unauthorized(Kind.Auth, REFUSALS.unknown)
      )
      yield* control.replace(Option.some([grant("new", "fy_new"), GRANTS[1]!]))
      expect(yield* refused(client, getOf("a.txt"))).toEqual(unauthorized(Kind.Get, REFUSALS.revoked))
      expect(yield* auth(later, "fy_new")).toEqual(Codec.Response.Authenticated())
      expectComplete(yield* get(later, "a.txt"), FILES["a.txt"])
    }).pipe(Effect.provide(tokensWorld)))

  it.scoped("without tokens any AUTH is accepted, and everything is allowed with or without one", () =>
    Effect.gen(function*() {
      yield* withServer(Option.none())
      const client = yield* connect
      expectComplete(yield* get(client, "secret/s.txt"), FILES["secret/s.txt"])
      expect(yield* auth(client, "anything at all")).toEqual(Codec.Response.Authenticated())
      expectComplete(yield* get(client, "secret/s.txt"), FILES["secret/s.txt"])
      yield* client.connection.write(Codec.encodeRequest(Codec.Request.Stats()))
      expect((yield* Codec.readResponse(client.reader, Kind.Stats))._tag).toBe("Stats")
    }).pipe(Effect.provide(world(1_000_000))))

  it.scoped("AUTH is pipelined: sent with the requests after it, it is answered first, and they with its token", () =>
    Effect.gen(function*() {
      yield* withServer()
      const { connection, reader } = yield* connect
      yield* connection.write(
        Codec.encodeRequest(Codec.Request.Auth({ token: READER })),
        getRequest("a.txt"),
        getRequest("secret/s.txt")
      )
      expect(yield* Codec.readResponse(reader, Kind.Auth)).toEqual(Codec.Response.Authenticated())
      expectComplete(yield* readGetAnswer(reader), FILES["a.txt"])
      expect(yield* readRawFailure(reader)).toEqual(unauthorized(Kind.Get, REFUSALS.outside))
    }).pipe(Effect.provide(tokensWorld)))

  it.scoped("the request log names the token's label, and never the token", () => {
    const lines: Array<string> = []
    const logger = Logger.make(({ annotations, message }) => {
      const fields = HashMap.toEntries(annotations).map(([key, value]) => `${key}=${String(value)}`)
      lines.push([String(message), ...fields].join(" "))
    })
    return Effect.gen(function*() {
      yield* withServer()
      const client = yield* connect
      yield* auth(client, READER)
      yield* get(client, "a.txt")
      yield* refused(client, getOf("secret/s.txt"))
      yield* refused(client, Codec.Request.Auth({ token: "fy_wrong-guess" }))
      // Answered only once the AUTH's line is written: requests are answered one after the other.
      yield* refused(client, Codec.Request.Stats())
      const requests = lines.filter((line) => /^(AUTH|GET)/.test(line))
      expect(requests).toEqual([
        expect.stringMatching(/^AUTH status=Ok .*token=reader/),
        expect.stringMatching(/^GET a\.txt .*status=Ok .*token=reader/),
        expect.stringMatching(/^GET secret\/s\.txt .*status=Unauthorized .*token=reader/),
        expect.stringMatching(/^AUTH status=Unauthorized /)
      ])
      for (const secret of [READER, "fy_wrong-guess"]) {
        expect(lines.filter((line) => line.includes(secret))).toEqual([])
      }
    }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)), Effect.provide(tokensWorld))
  })
})
