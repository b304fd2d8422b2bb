/** How the client binary fails: one line on stderr, the documented exit code, and no file left behind. */
import { describe, expect, it, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as os from "node:os"
import * as path from "node:path"
import {
  expectOneLine,
  listDir,
  runClient,
  type Server,
  sha256File,
  startServer,
  tempDir,
  unusedPort,
  writeRandomFile
} from "./harness.js"

class Running extends Context.Tag("e2e/Running")<Running, { readonly dir: string; readonly server: Server }>() {}

const running = Layer.scoped(
  Running,
  Effect.gen(function*() {
    const dir = yield* tempDir("ferry-e2e-served-")
    yield* writeRandomFile(path.join(dir, "here.txt"), 4096)
    return { dir, server: yield* startServer(dir) }
  })
)

// Built without the test services: these tests run on real time, like `it.live`.
layer(running, { excludeTestServices: true })("client failures", (it) => {
  it.scoped("a missing name exits 3 and leaves nothing in DEST_DIR", () =>
    Effect.gen(function*() {
      const { server } = yield* Running
      const dest = yield* tempDir("ferry-e2e-dest-")
      const ran = yield* runClient(["127.0.0.1", server.port, "not-here.txt", dest])
      expect(ran.code, ran.stderr).toBe(3)
      expectOneLine(ran.stderr)
      expect(ran.stderr).toContain("not-here.txt")
      expect(yield* listDir(dest), "no file and no temporary file").toEqual([])
    }))

  it.scoped("a missing DEST_DIR exits 7", () =>
    Effect.gen(function*() {
      const { server } = yield* Running
      const parent = yield* tempDir("ferry-e2e-dest-")
      const dest = path.join(parent, "missing")
      const ran = yield* runClient(["127.0.0.1", server.port, "here.txt", dest])
      expect(ran.code, ran.stderr).toBe(7)
      expectOneLine(ran.stderr)
      expect(yield* listDir(parent), "the directory is not created").toEqual([])
    }))

  it.scoped("a DEST_DIR that is a regular file exits 7 and leaves the file alone", () =>
    Effect.gen(function*() {
      const { server } = yield* Running
      const parent = yield* tempDir("ferry-e2e-dest-")
      const dest = path.join(parent, "a-file")
      const before = yield* writeRandomFile(dest, 100)
      const ran = yield* runClient(["127.0.0.1", server.port, "here.txt", dest])
      expect(ran.code, ran.stderr).toBe(7)
      expectOneLine(ran.stderr)
      expect(yield* listDir(parent)).toEqual(["a-file"])
      expect(yield* sha256File(dest)).toBe(before)
    }))

  // The server names the file's version: what arrived is kept, hidden, for the same command to pick up.
  it.scoped("a directory in the way of the saved name exits 7, leaving it alone and only the hidden partial", () =>
    Effect.gen(function*() {
      const { server } = yield* Running
      const dest = yield* tempDir("ferry-e2e-dest-")
      yield* writeRandomFile(path.join(dest, "here.txt", "inside"), 10)
      const ran = yield* runClient(["127.0.0.1", server.port, "here.txt", dest])
      expect(ran.code, ran.stderr).toBe(7)
      expectOneLine(ran.stderr)
      expect(yield* listDir(dest)).toEqual([".here.txt.ferry-partial", ".here.txt.ferry-partial.json", "here.txt"])
      expect(yield* listDir(path.join(dest, "here.txt"))).toEqual(["inside"])
    }))
})

describe("client failures", () => {
  it.live("a server that is not running exits 4", () =>
    Effect.gen(function*() {
      const port = yield* unusedPort
      const ran = yield* runClient(["127.0.0.1", port, "here.txt", os.tmpdir()])
      expect(ran.code, ran.stderr).toBe(4)
      expectOneLine(ran.stderr)
    }))

  // Refused before connecting to anything: the port given is one nothing listens on.
  it.scopedLive.each([
    { why: "no DEST_DIR for a name other than `list`", args: (port: number) => ["127.0.0.1", port, "here.txt"] },
    { why: "port 70000", args: (_: number, dest: string) => ["127.0.0.1", 70000, "here.txt", dest] },
    { why: "port 0", args: (_: number, dest: string) => ["127.0.0.1", 0, "here.txt", dest] },
    { why: "a port that is not a number", args: (_: number, dest: string) => ["127.0.0.1", "http", "here.txt", dest] },
    { why: "`../x` as the name", args: (port: number, dest: string) => ["127.0.0.1", port, "../x", dest] },
    { why: "an absolute name", args: (port: number, dest: string) => ["127.0.0.1", port, "/etc/passwd", dest] },
    { why: "no arguments", args: () => [] }
  ])("usage error, exit 2: $why", ({ args }) =>
    Effect.gen(function*() {
      const port = yield* unusedPort
      const dest = yield* tempDir("ferry-e2e-dest-")
      const ran = yield* runClient(args(port, dest))
      expect(ran.code, ran.stderr).toBe(2)
      expectOneLine(ran.stderr)
      expect(yield* listDir(dest)).toEqual([])
    }))
})
