/**
 * `list` on a real disk, for what only a disk has: symlinks in and out, loops, FIFOs and devices,
 * directories that vanish or cannot be read mid-walk, and one directory of 100,000 files.
 */
import { describe, expect, it, layer } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as fsp from "node:fs/promises"
import * as path from "node:path"
import * as NodeFileStore from "../../src/layers/NodeFileStore.js"
import type { DirEntry, FileStoreError } from "../../src/services/FileStore.js"
import { FileStore } from "../../src/services/FileStore.js"
import * as TempDirectory from "../support/TempDirectory.js"

const isRoot = process.getuid?.() === 0

/** `files/` is served; next to it are what no listing may show (`x`, `outside-dir/`, `files-secret/`). */
const makeTree = Effect.gen(function*() {
  const dir = yield* TempDirectory.make("ferry-listing-")
  const root = path.join(dir, "files")
  const at = (name: string) => path.join(root, name)
  yield* Effect.promise(async () => {
    await fsp.mkdir(path.join(root, "docs"), { recursive: true })
    await fsp.mkdir(path.join(dir, "outside-dir"))
    await fsp.mkdir(path.join(dir, "files-secret"))
    await fsp.writeFile(path.join(dir, "x"), "outside")
    await fsp.writeFile(path.join(dir, "outside-dir/secret"), "secret")
    await fsp.writeFile(path.join(dir, "files-secret/x"), "secret")
    await fsp.writeFile(at("data.txt"), "hello")
    await fsp.writeFile(at("docs/a.txt"), "inside a subdirectory")
    await fsp.symlink("docs/a.txt", at("alias.txt"))
    await fsp.symlink("docs", at("alias-dir"))
    await fsp.symlink("..", at("docs/up"))
    await fsp.symlink(path.join(dir, "x"), at("escape.txt"))
    await fsp.symlink(path.join(dir, "outside-dir"), at("link"))
    // Targets whose real path shares the root's prefix without being under it.
    await fsp.symlink(path.join(dir, "files-secret/x"), at("sibling"))
    await fsp.symlink(path.join(dir, "files-secret"), at("sibling-dir"))
    await fsp.symlink("nowhere", at("dangling"))
    await fsp.symlink("loop-b", at("loop-a"))
    await fsp.symlink("loop-a", at("loop-b"))
    await fsp.symlink("/dev/null", at("null"))
  })
  execFileSync("mkfifo", [at("fifo")])
  if (isRoot) execFileSync("mknod", [at("device"), "c", "1", "3"])
  return { dir, root, at }
})

class Tree extends Context.Tag("test/ListingTree")<Tree, Effect.Effect.Success<typeof makeTree>>() {}

const treeLayer = Layer.scoped(Tree, makeTree)
const storeLayer = Layer.unwrapEffect(Effect.map(Tree, ({ root }) => NodeFileStore.layer(root)))
const fresh = storeLayer.pipe(Layer.provideMerge(treeLayer))

const listed = (stream: Stream.Stream<DirEntry, FileStoreError>) =>
  Effect.map(Stream.runCollect(stream), Chunk.toReadonlyArray)

const pathsOf = (stream: Stream.Stream<DirEntry, FileStoreError>) =>
  Effect.map(listed(stream), (entries) => entries.map((entry) => entry.path))

/** Pulls until the stream ends, collecting what it emits. */
const drain = <A, E>(pull: Effect.Effect<Chunk.Chunk<A>, Option.Option<E>>) =>
  Effect.gen(function*() {
    const all: Array<A> = []
    while (true) {
      const chunk = yield* Effect.option(pull)
      if (Option.isNone(chunk)) return all
      all.push(...chunk.value)
    }
  })

describe("NodeFileStore.list", () => {
  layer(fresh)("on a tree of symlinks, loops and special files", (it) => {
    it.effect("lists exactly the regular files and directories inside, symlinks as what they point to", () =>
      Effect.gen(function*() {
        const store = yield* FileStore
        const entries = yield* listed(store.list("", { recursive: false }))
        expect(entries.map(({ path, size, type }) => ({ path, type, size }))).toEqual([
          { path: "alias-dir", type: "directory", size: 0 },
          { path: "alias.txt", type: "file", size: "inside a subdirectory".length },
          { path: "data.txt", type: "file", size: 5 },
          { path: "docs", type: "directory", size: 0 }
        ])
      }))

    it.effect("takes a symlink's size and time from its target", () =>
      Effect.gen(function*() {
        const { at } = yield* Tree
        const store = yield* FileStore
        yield* Effect.promise(() => fsp.utimes(at("docs/a.txt"), new Date(2001, 1, 1), new Date(2001, 1, 1)))
        const [alias] = yield* listed(store.list("alias.txt", { recursive: false }))
        expect(alias).toEqual({
          path: "alias.txt",
          type: "file",
          size: "inside a subdirectory".length,
          mtimeMs: new Date(2001, 1, 1).getTime()
        })
      }))

    it.effect("leaves out symlinks leading outside, dangling or looping, FIFOs and devices", () =>
      Effect.gen(function*() {
        const store = yield* FileStore
        const paths = yield* pathsOf(store.list("", { recursive: true }))
        const left = ["escape.txt", "link", "sibling", "sibling-dir", "dangling", "loop-a", "loop-b", "null", "fifo"]
        for (const name of [...left, "device"]) expect(paths).not.toContain(name)
        expect(paths.some((p) => p.includes("secret"))).toBe(false)
      }))

    it.effect("walks a directory reached twice once, the first time: a symlink loop ends", () =>
      Effect.gen(function*() {
        const store = yield* FileStore
        // "alias-dir" (docs) sorts first and is walked; "docs" and "alias-dir/up" (the root) are not again.
        expect(yield* pathsOf(store.list("", { recursive: true }))).toEqual([
          "alias-dir",
          "alias.txt",
          "data.txt",
          "docs",
          "alias-dir/a.txt",
          "alias-dir/up"
        ])
        // Started below the root, the loop leads up to it once, and the start is not walked again.
        const fromDocs = yield* pathsOf(store.list("docs", { recursive: true }))
        expect(fromDocs).toEqual([
          "docs/a.txt",
          "docs/up",
          "docs/up/alias-dir",
          "docs/up/alias.txt",
          "docs/up/data.txt",
          "docs/up/docs"
        ])
      }))

    it.effect("lists through a symlink to a directory inside, under the path asked for", () =>
      Effect.gen(function*() {
        const store = yield* FileStore
        expect(yield* pathsOf(store.list("alias-dir", { recursive: false }))).toEqual([
          "alias-dir/a.txt",
          "alias-dir/up"
        ])
      }))

    it.effect("answers NotFound for what is left out, as `stat` does, never telling a real path", () =>
      Effect.gen(function*() {
        const { dir } = yield* Tree
        const store = yield* FileStore
        const names = ["escape.txt", "link", "link/secret", "sibling-dir", "dangling", "loop-a", "fifo", "null", "../x"]
        for (const name of names) {
          const error = yield* Effect.flip(Stream.runDrain(store.list(name, { recursive: true })))
          expect(error).toMatchObject({ reason: "NotFound", name })
          expect(error.cause).toBeUndefined()
          expect(error.message).not.toContain(dir)
        }
      }))
  })

  it.scopedLive("reads each subdirectory when the walk reaches it; one removed by then is listed empty", () =>
    Effect.gen(function*() {
      const { at } = yield* Tree
      const store = yield* FileStore
      yield* Effect.promise(async () => {
        await fsp.rm(at("docs/up"))
        await fsp.mkdir(at("later"))
        await fsp.writeFile(at("later/first"), "")
      })
      const pull = yield* Stream.toPull(store.list("", { recursive: true }))
      expect(Chunk.toReadonlyArray(yield* pull).map((entry) => entry.path)).toContain("later")
      yield* Effect.promise(async () => {
        await fsp.rm(at("docs"), { recursive: true })
        await fsp.writeFile(at("later/second"), "")
      })
      const rest = (yield* drain(pull)).map((entry) => entry.path)
      // alias-dir pointed at docs: it is now dangling, and walked as nothing.
      expect(rest).toEqual(["later/first", "later/second"])
    }).pipe(Effect.provide(fresh)))

  it.scopedLive.skipIf(isRoot)(
    "skips a subdirectory it cannot read, and fails Unreadable for one asked for",
    () =>
      Effect.gen(function*() {
        const { at, dir } = yield* Tree
        const store = yield* FileStore
        yield* Effect.promise(() => fsp.chmod(at("docs"), 0o000))
        yield* Effect.gen(function*() {
          const paths = yield* pathsOf(store.list("", { recursive: true }))
          expect(paths).toContain("docs")
          expect(paths.some((p) => p.startsWith("docs/") || p.startsWith("alias-dir/"))).toBe(false)
          const error = yield* Effect.flip(Stream.runDrain(store.list("docs", { recursive: false })))
          expect(error).toMatchObject({ reason: "Unreadable", name: "docs" })
          expect(error.message).not.toContain(dir)
          expect(String(error.cause)).not.toContain(dir)
        }).pipe(Effect.ensuring(Effect.promise(() => fsp.chmod(at("docs"), 0o755))))
      }).pipe(Effect.provide(fresh))
  )

  describe("on a directory of 100,000 files", () => {
    const count = 100_000
    const nameOf = (i: number) => `many/f${String(i).padStart(6, "0")}`
    const makeMany = Effect.gen(function*() {
      const dir = yield* TempDirectory.make("ferry-many-")
      fs.mkdirSync(path.join(dir, "many"))
      for (let i = 0; i < count; i++) fs.writeFileSync(path.join(dir, nameOf(i)), "")
      return { dir, store: yield* Effect.orDie(NodeFileStore.make(dir)) }
    })

    it.scopedLive("lists them all, in order, emitting a batch at a time as it looks them up", () =>
      Effect.gen(function*() {
        const { dir, store } = yield* makeMany
        const paths = yield* pathsOf(store.list("many", { recursive: false }))
        expect(paths.length).toBe(count)
        expect(paths.findIndex((path, i) => path !== nameOf(i))).toBe(-1)
        expect(yield* pathsOf(Stream.take(store.list("", { recursive: true }), 11))).toEqual([
          "many",
          ...paths.slice(0, 10)
        ])
        // The first batch goes out before the last file is looked up: removed now, it is not listed.
        const pull = yield* Stream.toPull(store.list("many", { recursive: false }))
        const first = Chunk.toReadonlyArray(yield* pull)
        expect(first.length).toBeGreaterThan(0)
        expect(first.length).toBeLessThan(count)
        fs.rmSync(path.join(dir, nameOf(count - 1)))
        const rest = yield* drain(pull)
        expect(first.length + rest.length).toBe(count - 1)
        expect(rest.at(-1)?.path).toBe(nameOf(count - 2))
      }))
  })
})
