/**
 * Names that try to leave the served directory, or to make the server block, sent as raw GET
 * requests: every one must look exactly like a missing file, and cost nothing but that answer.
 */
import { expect, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { execFileSync } from "node:child_process"
import * as fsp from "node:fs/promises"
import * as path from "node:path"
import * as Codec from "../../src/protocol/Codec.js"
import {
  bounded,
  expectOneLine,
  listDir,
  runClient,
  type Server,
  sha256,
  sha256File,
  startServer,
  tempDir,
  writeRandomFile
} from "./harness.js"
import { getRequest, listRequest, rawConnect, readFetched, readListing } from "./rawProtocol.js"

/**
 * ROOT/served is the directory served. Every file outside it would be served if a name could reach
 * it, and every name below has something real behind it on the way out.
 */
class Hostile extends Context.Tag("e2e/Hostile")<Hostile, {
  readonly dir: string
  readonly server: Server
  readonly okSha256: string
}>() {}

const hostile = Layer.scoped(
  Hostile,
  Effect.gen(function*() {
    const root = yield* tempDir("ferry-e2e-hostile-")
    const dir = path.join(root, "served")
    const okSha256 = yield* writeRandomFile(path.join(dir, "ok.txt"), 1000)
    yield* writeRandomFile(path.join(dir, "a", "inner.txt"), 10)
    yield* writeRandomFile(path.join(root, "x"), 10)
    yield* writeRandomFile(path.join(root, "outside", "secret.txt"), 10)
    // Shares the served directory's path as a prefix: `${root}/served-secret` starts with `${root}/served`.
    yield* writeRandomFile(path.join(root, "served-secret", "x"), 10)
    yield* Effect.promise(async () => {
      await fsp.symlink(path.join(root, "outside", "secret.txt"), path.join(dir, "link-file"))
      await fsp.symlink(path.join(root, "outside"), path.join(dir, "link-dir"))
      await fsp.symlink("../served-secret", path.join(dir, "sibling"))
      await fsp.symlink("..", path.join(dir, "up"))
      await fsp.symlink("/", path.join(dir, "slash"))
      await fsp.symlink("loop", path.join(dir, "loop"))
    })
    execFileSync("mkfifo", [path.join(dir, "fifo")])
    return { dir, server: yield* startServer(dir), okSha256 }
  })
)

const HOSTILE_NAMES = [
  "../x",
  "/etc/passwd",
  "a/../../x",
  "link-file",
  "link-dir/secret.txt",
  "../served-secret/x",
  "sibling/x",
  "up/x",
  "slash/etc/passwd",
  "loop",
  "ok.txt\u0000",
  "\u0000",
  "..\\..\\x",
  "..\\x",
  "%2e%2e/x",
  "a",
  "fifo",
  // Within the directory, but spelled against the name rules (PROTOCOL.md section 8).
  "./ok.txt",
  "a//inner.txt",
  "ok.txt/",
  "a/./inner.txt",
  // Within the framing limit of 4096 bytes, but over the 255 bytes a segment may have.
  "x".repeat(256),
  `${"a/".repeat(2047)}aa`
]

const shown = (name: string) => JSON.stringify(name.length > 40 ? `${name.slice(0, 40)}…` : name)

/** A message as the server sends it: cut to the protocol's limit (these names are ASCII, or short). */
const withinMessageLimit = (message: string) =>
  Buffer.from(message).subarray(0, Codec.MAX_MESSAGE_BYTES).toString("utf8")

/** GETs `name` on a connection of its own, then checks that the connection still answers a LIST. */
const getThenList = (port: number, name: string) =>
  Effect.scoped(Effect.gen(function*() {
    const connection = yield* rawConnect(port)
    yield* connection.write(getRequest(name))
    const fetched = yield* readFetched(connection.reader)
    yield* connection.write(listRequest)
    const listing = yield* readListing(connection.reader)
    return { fetched, listing }
  })).pipe(bounded("5 seconds", `GET ${shown(name)}, then LIST`))

// Built without the test services: these tests run on real time, like `it.live`.
layer(hostile, { excludeTestServices: true })("hostile names", (it) => {
  it.scoped("every hostile name is answered NOT_FOUND, like a missing file, and the server still serves", () =>
    Effect.gen(function*() {
      const { okSha256, server } = yield* Hostile
      const missing = yield* getThenList(server.port, "missing.txt")
      expect(missing.fetched._tag).toBe("Failure")
      const missingMessage = missing.fetched._tag === "Failure" ? missing.fetched.message : ""

      for (const name of HOSTILE_NAMES) {
        const { fetched, listing } = yield* getThenList(server.port, name)
        expect(fetched, shown(name)).toEqual({
          _tag: "Failure",
          status: Codec.Status.NotFound,
          // The same form of message as for a missing file: nothing about what lies behind the name.
          message: withinMessageLimit(missingMessage.replace("missing.txt", name))
        })
        expect(listing._tag, `the connection stays usable after ${shown(name)}`).toBe("Listing")
      }

      const dest = yield* tempDir("ferry-e2e-dest-")
      const ran = yield* runClient(["127.0.0.1", server.port, "ok.txt", dest, "-q"])
      expect(ran.code, ran.stderr).toBe(0)
      expect(yield* sha256File(path.join(dest, "ok.txt"))).toBe(okSha256)
    }))

  it.scoped("a file inside the directory is served over the same raw connection", () =>
    Effect.gen(function*() {
      const { okSha256, server } = yield* Hostile
      const { fetched } = yield* getThenList(server.port, "ok.txt")
      expect(fetched._tag).toBe("File")
      if (fetched._tag === "File") expect(sha256(fetched.bytes)).toBe(okSha256)
    }))

  it.scoped("the client binary, given a symlink out of the directory, exits 3 and leaves no file", () =>
    Effect.gen(function*() {
      const { server } = yield* Hostile
      for (const name of ["link-file", "link-dir/secret.txt"]) {
        const dest = yield* tempDir("ferry-e2e-dest-")
        const ran = yield* runClient(["127.0.0.1", server.port, name, dest])
        expect(ran.code, ran.stderr).toBe(3)
        expectOneLine(ran.stderr)
        expect(yield* listDir(dest)).toEqual([])
      }
    }))
})
