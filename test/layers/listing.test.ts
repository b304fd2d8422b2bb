/** `FileStore.list` as both stores answer it: order, paths, types and sizes, and what is NotFound. */
import { describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as fsp from "node:fs/promises"
import * as path from "node:path"
import * as MemoryFileStore from "../../src/layers/MemoryFileStore.js"
import * as NodeFileStore from "../../src/layers/NodeFileStore.js"
import type { DirEntry, FileStore } from "../../src/services/FileStore.js"
import { FileStoreError } from "../../src/services/FileStore.js"
import * as TempDirectory from "../support/TempDirectory.js"

/** A store and a way to put files in it; next to what it serves is a file `x` no name may reach. */
interface World {
  readonly store: FileStore["Type"]
  readonly put: (name: string, content: string) => Effect.Effect<void>
}

const memoryWorld: Effect.Effect<World, never, Scope.Scope> = Effect.gen(function*() {
  const { controls, store } = yield* MemoryFileStore.make
  yield* controls.put("../x", "outside")
  return { store, put: (name, content) => Effect.asVoid(controls.put(name, content)) }
})

const nodeWorld: Effect.Effect<World, never, Scope.Scope> = Effect.gen(function*() {
  const dir = yield* TempDirectory.make("ferry-list-")
  const root = path.join(dir, "files")
  yield* Effect.promise(async () => {
    await fsp.mkdir(root)
    await fsp.writeFile(path.join(dir, "x"), "outside")
  })
  const store = yield* Effect.orDie(NodeFileStore.make(root))
  const put = (name: string, content: string) =>
    Effect.promise(async () => {
      await fsp.mkdir(path.dirname(path.join(root, name)), { recursive: true })
      await fsp.writeFile(path.join(root, name), content)
    })
  return { store, put }
})

const putAll = (world: World, names: ReadonlyArray<string>) =>
  Effect.forEach(names, (name) => world.put(name, name), { discard: true })

const listed = (stream: Stream.Stream<DirEntry, FileStoreError>) =>
  Effect.map(Stream.runCollect(stream), Chunk.toReadonlyArray)

const pathsOf = (stream: Stream.Stream<DirEntry, FileStoreError>) =>
  Effect.map(listed(stream), (entries) => entries.map((entry) => entry.path))

const worlds = [
  ["MemoryFileStore", memoryWorld, it.scoped],
  ["NodeFileStore", nodeWorld, it.scopedLive]
] as const

for (const [name, makeWorld, test] of worlds) {
  describe(`${name}.list`, () => {
    const tree = ["a.txt", "docs/x", "docs/sub/y", "docs/sub/deeper/z", "e/f", "zz"]

    test("lists one level of the directory, each entry with its type and size", () =>
      Effect.gen(function*() {
        const world = yield* makeWorld
        yield* world.put("b.txt", "")
        yield* world.put("a.txt", "aa")
        yield* world.put("docs/x", "xyz")
        const entries = yield* listed(world.store.list("", { recursive: false }))
        expect(entries.map(({ path, size, type }) => ({ path, type, size }))).toEqual([
          { path: "a.txt", type: "file", size: 2 },
          { path: "b.txt", type: "file", size: 0 },
          { path: "docs", type: "directory", size: 0 }
        ])
        expect(entries.every((entry) => Number.isFinite(entry.mtimeMs) && entry.mtimeMs > 0)).toBe(true)
      }))

    test("lists the whole tree when recursive: a directory's entries, then its subdirectories', depth first", () =>
      Effect.gen(function*() {
        const world = yield* makeWorld
        yield* putAll(world, tree)
        const paths = yield* pathsOf(world.store.list("", { recursive: true }))
        expect(paths).toEqual([
          "a.txt",
          "docs",
          "e",
          "zz",
          "docs/sub",
          "docs/x",
          "docs/sub/deeper",
          "docs/sub/y",
          "docs/sub/deeper/z",
          "e/f"
        ])
      }))

    test("sorts by UTF-16 code units, not code points or a locale", () =>
      Effect.gen(function*() {
        const world = yield* makeWorld
        // U+FB00 sorts after U+1F600 by code unit (0xFB00 > 0xD83D), before it by code point.
        yield* putAll(world, ["\ufb00", "\u{1f600}", "é", "a b", "a", "Z", "B"])
        expect(yield* pathsOf(world.store.list("", { recursive: false }))).toEqual([
          "B",
          "Z",
          "a",
          "a b",
          "é",
          "\u{1f600}",
          "\ufb00"
        ])
      }))

    test("lists a subdirectory under paths from the served directory", () =>
      Effect.gen(function*() {
        const world = yield* makeWorld
        yield* putAll(world, tree)
        expect(yield* pathsOf(world.store.list("docs", { recursive: false }))).toEqual(["docs/sub", "docs/x"])
        expect(yield* pathsOf(world.store.list("docs/sub", { recursive: true }))).toEqual([
          "docs/sub/deeper",
          "docs/sub/y",
          "docs/sub/deeper/z"
        ])
      }))

    test("lists a path naming a file as that one file", () =>
      Effect.gen(function*() {
        const world = yield* makeWorld
        yield* putAll(world, tree)
        const entries = yield* listed(world.store.list("docs/x", { recursive: true }))
        expect(entries).toMatchObject([{ path: "docs/x", type: "file", size: "docs/x".length }])
        const info = yield* world.store.stat("docs/x")
        expect(entries[0]!.mtimeMs).toBeCloseTo(Number(info.mtimeNs) / 1e6, 2)
      }))

    test("lists an empty served directory as nothing", () =>
      Effect.gen(function*() {
        const world = yield* makeWorld
        expect(yield* pathsOf(world.store.list("", { recursive: true }))).toEqual([])
      }))

    const notFound = [
      "missing",
      "docs/missing",
      "a.txt/x",
      "../x",
      "docs/../../x",
      "/",
      "/etc",
      ".",
      "..",
      "./docs",
      "docs/",
      "docs//x",
      "docs\\x",
      "docs\0",
      "a".repeat(5000)
    ]
    test("answers NotFound, naming only what was asked, for missing paths and paths that leave", () =>
      Effect.gen(function*() {
        const world = yield* makeWorld
        yield* putAll(world, tree)
        for (const name of notFound) {
          const error = yield* Effect.flip(Stream.runDrain(world.store.list(name, { recursive: true })))
          expect(error).toBeInstanceOf(FileStoreError)
          expect(error).toMatchObject({ reason: "NotFound", name })
          expect(error.cause).toBeUndefined()
        }
      }))

    test("lists names with spaces and non-ASCII as they are, each one found again by `stat`", () =>
      Effect.gen(function*() {
        const world = yield* makeWorld
        const names = ["with space.txt", "dir with space/ünïcødé.txt", "日本語/ファイル 1", "emoji \u{1f600}/x"]
        yield* putAll(world, names)
        const entries = yield* listed(world.store.list("", { recursive: true }))
        const files = entries.filter((entry) => entry.type === "file")
        expect(files.map((entry) => entry.path).sort()).toEqual([...names].sort())
        for (const entry of files) expect((yield* world.store.stat(entry.path)).size).toBe(entry.size)
        expect(entries.filter((entry) => entry.type === "directory").map((entry) => entry.path)).toEqual([
          "dir with space",
          "emoji \u{1f600}",
          "日本語"
        ])
      }))

    test("leaves out names `stat` would not accept", () =>
      Effect.gen(function*() {
        const world = yield* makeWorld
        yield* putAll(world, ["ok", "back\\slash", "new\nline", "escape\u001b[31m"])
        expect(yield* pathsOf(world.store.list("", { recursive: true }))).toEqual(["ok"])
      }))
  })
}
