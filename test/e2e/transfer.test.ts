/** Downloads through the built client and server, as a user runs them: bytes, names, the cache listing. */
import { expect, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as path from "node:path"
import {
  bounded,
  lines,
  listDir,
  MiB,
  runClient,
  type Server,
  sha256File,
  startServer,
  tempDir,
  writeRandomFile
} from "./harness.js"

interface ServedFile {
  readonly name: string
  readonly size: number
  readonly sha256: string
}

// 100 MiB is more than the default 64 MiB cache: that file is streamed from disk.
const SIZES = { "empty.bin": 0, "one.bin": 1, "mib.bin": MiB, "big.bin": 100 * MiB } as const
const SMALL = {
  "docs/a.txt": 1234,
  "with space/naïve café.txt": 77,
  "small-1.txt": 2000,
  "small-2.txt": 300 * 1024,
  "shared.bin": 8 * MiB
} as const

class Served extends Context.Tag("e2e/Served")<Served, {
  readonly dir: string
  readonly server: Server
  readonly files: Record<string, ServedFile>
}>() {}

const served = Layer.scoped(
  Served,
  Effect.gen(function*() {
    const dir = yield* tempDir("ferry-e2e-served-")
    const files: Record<string, ServedFile> = {}
    yield* Effect.forEach(
      Object.entries({ ...SIZES, ...SMALL }),
      ([name, size]) =>
        Effect.map(writeRandomFile(path.join(dir, name), size), (sha256) => {
          files[name] = { name, size, sha256 }
        }),
      { discard: true }
    )
    const server = yield* startServer(dir)
    return { dir, server, files }
  })
)

const byName = (a: { readonly name: string }, b: { readonly name: string }) =>
  a.name < b.name ? -1 : a.name > b.name ? 1 : 0

/** Downloads `name` with the client binary into a fresh directory; returns the run and that directory. */
const download = (port: number, name: string) =>
  Effect.gen(function*() {
    const dest = yield* tempDir("ferry-e2e-dest-")
    const ran = yield* runClient(["127.0.0.1", port, name, dest, "-q"])
    return { ran, dest }
  })

// One server for the whole block: the tests here only read, and none depends on what the cache holds.
// The layer is built without the test services: these tests run on real time, like `it.live`.
layer(served, { excludeTestServices: true })("transfer", (it) => {
  it.scoped.each(Object.keys(SIZES))("%s downloads byte-identical", (name) =>
    Effect.gen(function*() {
      const { files, server } = yield* Served
      const file = files[name]!
      const { dest, ran } = yield* download(server.port, name)
      expect(ran.code, ran.stderr).toBe(0)
      // Exactly the file: no `.ferry-part` temporary file left beside it.
      expect(yield* listDir(dest)).toEqual([name])
      expect(yield* sha256File(path.join(dest, name))).toBe(file.sha256)
    }))

  // big.bin is streamed from disk, mib.bin cached: both ways of sending a file, with each digest.
  it.scoped.each([
    ["mib.bin", "sha256"],
    ["mib.bin", "xxh3-128"],
    ["big.bin", "sha256"]
  ])("%s with --digest %s downloads byte-identical", ([name, digest]) =>
    Effect.gen(function*() {
      const { files, server } = yield* Served
      const dest = yield* tempDir("ferry-e2e-dest-")
      const ran = yield* runClient(["127.0.0.1", server.port, name!, dest, "-q", "--digest", digest!])
      expect(ran.code, ran.stderr).toBe(0)
      expect(yield* listDir(dest)).toEqual([name])
      expect(yield* sha256File(path.join(dest, name!))).toBe(files[name!]!.sha256)
    }))

  it.scoped.each([
    ["docs/a.txt", "a.txt"],
    ["with space/naïve café.txt", "naïve café.txt"]
  ])("%s, in a subdirectory, is saved as DEST/%s", ([name, saved]) =>
    Effect.gen(function*() {
      const { files, server } = yield* Served
      const { dest, ran } = yield* download(server.port, name!)
      expect(ran.code, ran.stderr).toBe(0)
      expect(yield* listDir(dest)).toEqual([saved])
      expect(yield* sha256File(path.join(dest, saved!))).toBe(files[name!]!.sha256)
    }))

  it.scoped("DEST_DIR `.` is the client's working directory", () =>
    Effect.gen(function*() {
      const { files, server } = yield* Served
      const cwd = yield* tempDir("ferry-e2e-dest-")
      const ran = yield* runClient(["127.0.0.1", server.port, "small-1.txt", ".", "-q"], { cwd })
      expect(ran.code, ran.stderr).toBe(0)
      expect(yield* listDir(cwd)).toEqual(["small-1.txt"])
      expect(yield* sha256File(path.join(cwd, "small-1.txt"))).toBe(files["small-1.txt"]!.sha256)
    }))

  it.scoped("list shows what was cached, and not what was streamed", () =>
    Effect.gen(function*() {
      const { dir, files } = yield* Served
      // A server of its own over the same files, so that its cache holds exactly what this test fetched.
      const server = yield* startServer(dir)
      const empty = yield* runClient(["127.0.0.1", server.port, "list"])
      expect(empty, "nothing cached yet").toMatchObject({ code: 0, stdout: "", stderr: "" })
      const emptyJson = yield* runClient(["127.0.0.1", server.port, "list", "--json"])
      expect(emptyJson.code, emptyJson.stderr).toBe(0)
      expect(JSON.parse(emptyJson.stdout)).toEqual([])

      const cached = ["small-1.txt", "small-2.txt", "docs/a.txt"]
      for (const name of [...cached, "big.bin"]) {
        const { ran } = yield* download(server.port, name)
        expect(ran.code, ran.stderr).toBe(0)
      }

      const text = yield* runClient(["127.0.0.1", server.port, "list"])
      expect(text.code, text.stderr).toBe(0)
      // Sorted by name, with sizes as a person would write them.
      expect(text.stdout.trimEnd().split("\n").map((line) => line.split(/\s{2,}/))).toEqual([
        ["docs/a.txt", "1.21 KiB"],
        ["small-1.txt", "1.95 KiB"],
        ["small-2.txt", "300 KiB"]
      ])

      const json = yield* runClient(["127.0.0.1", server.port, "list", "--json"])
      expect(json.code, json.stderr).toBe(0)
      const listing = JSON.parse(json.stdout) as Array<{ name: string; size: number }>
      expect([...listing].sort(byName)).toEqual(
        cached.map((name) => ({ name, size: files[name]!.size })).sort(byName)
      )
      expect(listing.map((entry) => entry.name)).not.toContain("big.bin")
    }))

  it.scoped("without -q the client prints a summary on stderr, and nothing on stdout", () =>
    Effect.gen(function*() {
      const { files, server } = yield* Served
      const dest = yield* tempDir("ferry-e2e-dest-")
      const quiet = yield* runClient(["127.0.0.1", server.port, "small-1.txt", dest, "-q"])
      expect(quiet.code, quiet.stderr).toBe(0)
      expect(quiet.stdout + quiet.stderr).toBe("")
      const ran = yield* runClient(["127.0.0.1", server.port, "docs/a.txt", dest])
      expect(ran.code, ran.stderr).toBe(0)
      expect(ran.stdout).toBe("")
      expect(lines(ran.stderr)).toEqual([`saved ${path.join(dest, "a.txt")} (1.21 KiB)`])
      expect(yield* listDir(dest)).toEqual(["a.txt", "small-1.txt"])
      expect(yield* sha256File(path.join(dest, "a.txt"))).toBe(files["docs/a.txt"]!.sha256)
    }))

  it.scoped("50 clients fetching the same uncached file at once all get identical bytes", () =>
    Effect.gen(function*() {
      const { files, server } = yield* Served
      const name = "shared.bin"
      const results = yield* Effect.forEach(
        Array.from({ length: 50 }, (_, i) => i),
        () => download(server.port, name),
        { concurrency: "unbounded" }
      )
      for (const { dest, ran } of results) {
        expect(ran.code, ran.stderr).toBe(0)
        expect(yield* listDir(dest)).toEqual([name])
        expect(yield* sha256File(path.join(dest, name))).toBe(files[name]!.sha256)
      }
      // The server logs each request once it is answered, which may be just after the client has exited.
      const served = yield* server.waitForStderr((log) => {
        const lines = log.split("\n").filter((line) => line.includes(`GET ${name} `))
        return lines.length >= 50 ? lines : undefined
      }).pipe(bounded("10 seconds", "waiting for the server to log 50 requests"))
      expect(served).toHaveLength(50)
      // Loaded from disk once, whoever asked first; the others waited for that load.
      expect(served.filter((line) => line.includes("cache=miss"))).toHaveLength(1)
      expect(served.filter((line) => line.includes("cache=hit"))).toHaveLength(49)
    }))
})
