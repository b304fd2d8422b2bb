/**
 * Seeing and fetching what a server serves, with the built binaries: `ls` (one level, the tree, JSON)
 * confined as GET is, a whole directory of 1,000 files downloaded and identical, several names in one
 * command, and a server with listing turned off.
 */
import { describe, expect, it, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fsp from "node:fs/promises"
import * as path from "node:path"
import {
  expectOneLine,
  HOST,
  listDir,
  runClient,
  type Server,
  sha256File,
  startServer,
  tempDir,
  writeRandomFile
} from "./harness.js"

/** Every regular file under `dir`, by its path relative to it, following nothing. */
const filesUnder = (dir: string): Effect.Effect<Array<string>> =>
  Effect.promise(async () => {
    const found: Array<string> = []
    const walk = async (at: string) => {
      for (const entry of await fsp.readdir(path.join(dir, at), { withFileTypes: true })) {
        const relative = at === "" ? entry.name : `${at}/${entry.name}`
        if (entry.isDirectory()) await walk(relative)
        else if (entry.isFile()) found.push(relative)
      }
    }
    await walk("")
    return found.sort()
  })

class Tree extends Context.Tag("e2e/Tree")<Tree, {
  readonly dir: string
  readonly outside: string
  readonly server: Server
  readonly digests: Record<string, string>
}>() {}

const FOLDERS = ["alpha", "beta gamma", "délta", "εψιλον"]

const tree = Layer.scoped(
  Tree,
  Effect.gen(function*() {
    const dir = yield* tempDir("ferry-e2e-tree-")
    const outside = yield* tempDir("ferry-e2e-outside-")
    const digests: Record<string, string> = {}
    // 4 folders × 5 subfolders × 50 files = 1,000 files, a few hundred bytes each.
    for (const [f, folder] of FOLDERS.entries()) {
      for (let s = 0; s < 5; s++) {
        for (let i = 0; i < 50; i++) {
          const name = `pub/${folder}/sub ${s}/file ${i} ñ.txt`
          digests[name] = yield* writeRandomFile(path.join(dir, name), (f * 997 + s * 131 + i * 17) % 900)
        }
      }
    }
    digests["pub/top.bin"] = yield* writeRandomFile(path.join(dir, "pub/top.bin"), 70_000)
    digests["loose.txt"] = yield* writeRandomFile(path.join(dir, "loose.txt"), 10)
    yield* writeRandomFile(path.join(outside, "secret.txt"), 100)
    yield* Effect.promise(() => fsp.symlink(path.join(outside, "secret.txt"), path.join(dir, "pub/escape.txt")))
    yield* Effect.promise(() => fsp.symlink(outside, path.join(dir, "pub/escape-dir")))
    const server = yield* startServer(dir)
    return { dir, outside, server, digests }
  })
)

layer(tree, { excludeTestServices: true, timeout: 120_000 })("a served tree", (it) => {
  it.scoped("`ls` shows one level, with folders marked, sizes and times; nothing that leaves DIR", () =>
    Effect.gen(function*() {
      const { server } = yield* Tree
      const ran = yield* runClient([HOST, server.port, "ls", "pub"])
      expect(ran.code, ran.stderr).toBe(0)
      const rows = ran.stdout.trimEnd().split("\n")
      expect(rows.map((row) => row.split(/\s{2,}/).at(-1))).toEqual([
        "pub/alpha/",
        "pub/beta gamma/",
        "pub/délta/",
        "pub/top.bin",
        "pub/εψιλον/"
      ])
      expect(rows[3]).toMatch(/^-\s+68\.4 KiB  \d{4}-\d\d-\d\d \d\d:\d\d  pub\/top\.bin$/)
      expect(ran.stdout).not.toContain("escape")
    }))

  it.scoped("`ls -r --json` is one JSON document matching the tree exactly", () =>
    Effect.gen(function*() {
      const { dir, server } = yield* Tree
      const ran = yield* runClient([HOST, server.port, "ls", "pub", "-r", "--json"])
      expect(ran.code, ran.stderr).toBe(0)
      const { entries } = JSON.parse(ran.stdout) as {
        entries: Array<{ path: string; type: string; size: number; mtime: string }>
      }
      const files = entries.filter((entry) => entry.type === "file").map((entry) => entry.path).sort()
      expect(files).toEqual((yield* filesUnder(path.join(dir, "pub"))).map((file) => `pub/${file}`))
      const top = entries.find((entry) => entry.path === "pub/top.bin")!
      const stats = yield* Effect.promise(() => fsp.stat(path.join(dir, "pub/top.bin")))
      expect(top).toEqual({
        path: "pub/top.bin",
        type: "file",
        size: 70_000,
        mtime: new Date(Math.floor(stats.mtimeMs)).toISOString()
      })
      expect(entries.filter((entry) => entry.type === "directory")).toHaveLength(FOLDERS.length * 6)
    }))

  it.scoped("`ls` of a path that leaves DIR, or of nothing, is refused as a missing file is", () =>
    Effect.gen(function*() {
      const { server } = yield* Tree
      for (const path of ["pub/escape-dir", "missing", "pub/escape-dir/"]) {
        const ran = yield* runClient([HOST, server.port, "ls", path])
        expect(ran.code, `${path}: ${ran.stderr}`).toBe(3)
        expectOneLine(ran.stderr)
      }
      const dots = yield* runClient([HOST, server.port, "ls", "../"])
      expect(dots.code).toBe(2)
    }))

  it.scoped("a directory of 1,000 files arrives identical under DEST_DIR/pub, without what leaves DIR", () =>
    Effect.gen(function*() {
      const { digests, server } = yield* Tree
      const dest = yield* tempDir()
      const ran = yield* runClient([HOST, server.port, "pub/", dest])
      expect(ran.code, ran.stderr).toBe(0)
      expect(ran.stderr).toMatch(/saved 1001 files/)
      const saved = yield* filesUnder(dest)
      const expected = Object.keys(digests).filter((name) => name.startsWith("pub/")).sort()
      expect(saved).toEqual(expected)
      for (const name of saved) expect(yield* sha256File(path.join(dest, name)), name).toBe(digests[name])
    }))

  it.scoped("several names in one command; a missing one is named, exits 3, and the others are saved", () =>
    Effect.gen(function*() {
      const { digests, server } = yield* Tree
      const dest = yield* tempDir()
      const ran = yield* runClient([
        HOST,
        server.port,
        "loose.txt",
        "pub/alpha/sub 0/",
        "nope.txt",
        "pub/top.bin",
        dest
      ])
      expect(ran.code).toBe(3)
      expect(ran.stderr).toMatch(/ferry-client: nope\.txt: no such file/)
      expect(ran.stderr).toMatch(/saved 52 of 53/)
      expect(yield* listDir(dest)).toEqual(["loose.txt", "sub 0", "top.bin"])
      expect(yield* sha256File(path.join(dest, "sub 0/file 3 ñ.txt"))).toBe(digests["pub/alpha/sub 0/file 3 ñ.txt"])
    }))

  it.scoped("`stat` shows size, time and a digest that matches the file", () =>
    Effect.gen(function*() {
      const { server } = yield* Tree
      const ran = yield* runClient([HOST, server.port, "stat", "pub/top.bin", "--json", "--digest", "sha256"])
      expect(ran.code, ran.stderr).toBe(0)
      const facts = JSON.parse(ran.stdout)
      expect(facts).toMatchObject({ name: "pub/top.bin", size: 70_000 })
      const { digests } = yield* Tree
      expect(facts.digest.sha256).toBe(digests["pub/top.bin"])
    }))
})

describe("listing turned off", () => {
  it.scopedLive("`ls` and a directory download get a clear refusal, exit 11; files by name still come", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      yield* writeRandomFile(path.join(dir, "d/a.txt"), 5)
      const server = yield* startServer(dir, ["--no-listing"])
      const ls = yield* runClient([HOST, server.port, "ls"])
      expect(ls.code).toBe(11)
      expectOneLine(ls.stderr)
      expect(ls.stderr).toContain("does not allow listing")
      const dest = yield* tempDir()
      const tree = yield* runClient([HOST, server.port, "d/", dest])
      expect(tree.code).toBe(11)
      const file = yield* runClient([HOST, server.port, "d/a.txt", dest, "-q"])
      expect(file.code, file.stderr).toBe(0)
    }))
})
