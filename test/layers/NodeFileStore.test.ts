/** The live file store on real temporary directories: confinement, exact versions, closed handles. */
import { describe, expect, it, layer } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { execFileSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import * as fsp from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import * as NodeFileStore from "../../src/layers/NodeFileStore.js"
import { FileStore, FileStoreError } from "../../src/services/FileStore.js"
import { chunksOf } from "../support/fileChunks.js"

const isRoot = process.getuid?.() === 0

/**
 * A temporary tree, removed when the scope closes: `files/` is the served root, and next to it are
 * things a name must never reach (`x`, `outside-dir/secret`, `files-secret/x`).
 */
const makeTree = Effect.acquireRelease(
  Effect.promise(async () => {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), "ferry-store-"))
    const root = path.join(dir, "files")
    const at = (name: string) => path.join(root, name)
    await fsp.mkdir(path.join(root, "docs"), { recursive: true })
    await fsp.mkdir(path.join(root, "a"))
    await fsp.mkdir(path.join(root, "sub"))
    await fsp.mkdir(path.join(dir, "outside-dir"))
    await fsp.mkdir(path.join(dir, "files-secret"))
    await fsp.writeFile(at("data.txt"), "hello")
    await fsp.writeFile(at("docs/a.txt"), "inside a subdirectory")
    await fsp.writeFile(at("a/b"), "b")
    await fsp.writeFile(path.join(dir, "x"), "outside")
    await fsp.writeFile(path.join(dir, "outside-dir/secret"), "secret")
    await fsp.writeFile(path.join(dir, "files-secret/x"), "secret")
    await fsp.symlink("/dev/null", at("null"))
    await fsp.symlink(path.join(dir, "x"), at("escape.txt"))
    await fsp.symlink(path.join(dir, "outside-dir"), at("link"))
    await fsp.symlink("docs/a.txt", at("alias.txt"))
    // Targets whose real path shares the root's prefix without being under it.
    await fsp.symlink(path.join(dir, "files-secret/x"), at("sibling"))
    await fsp.symlink(path.join(dir, "files-secret"), at("sibling-dir"))
    execFileSync("mkfifo", [at("fifo")])
    if (isRoot) execFileSync("mknod", [at("device"), "c", "1", "3"])
    return { dir, root, at }
  }),
  ({ dir }) => Effect.promise(() => fsp.rm(dir, { recursive: true, force: true }))
)

class Tree extends Context.Tag("test/Tree")<Tree, Effect.Effect.Success<typeof makeTree>>() {}

const treeLayer = Layer.scoped(Tree, makeTree)
const storeLayer = Layer.unwrapEffect(Effect.map(Tree, ({ root }) => NodeFileStore.layer(root)))
/** A fresh tree and a store serving its `files/`, per test. */
const fresh = storeLayer.pipe(Layer.provideMerge(treeLayer))

const expectFailure = (error: unknown, reason: FileStoreError["reason"], name: string) => {
  expect(error).toBeInstanceOf(FileStoreError)
  expect(error).toMatchObject({ reason, name })
}

const collect = (stream: Stream.Stream<Uint8Array, FileStoreError>) =>
  Effect.map(Stream.runCollect(stream), (chunks) => Chunk.toReadonlyArray(chunks))

/** Pulls until the stream ends; the error it failed with, if any. */
const drain = <E>(pull: Effect.Effect<Chunk.Chunk<Uint8Array>, Option.Option<E>>) =>
  Effect.gen(function*() {
    while (true) {
      const result = yield* Effect.either(pull)
      if (Either.isLeft(result)) return result.left
    }
  })

describe("NodeFileStore", () => {
  describe("the root directory", () => {
    it.live("is missing", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(NodeFileStore.make("./no-such-directory-for-ferry"))
        expect(error).toBeInstanceOf(NodeFileStore.DirectoryError)
        expect(error.reason).toBe("Missing")
        expect(error.message).toBe("directory not found: ./no-such-directory-for-ferry")
      }))

    it.scopedLive("is a file", () =>
      Effect.gen(function*() {
        const { at } = yield* makeTree
        const error = yield* Effect.flip(NodeFileStore.make(at("data.txt")))
        expect(error.reason).toBe("NotADirectory")
        expect(error.path).toBe(at("data.txt"))
      }))

    it.scopedLive("is reached through a symlink, and confinement uses its real path", () =>
      Effect.gen(function*() {
        const { dir } = yield* makeTree
        yield* Effect.promise(() => fsp.symlink(path.join(dir, "files"), path.join(dir, "served")))
        const store = yield* NodeFileStore.make(path.join(dir, "served"))
        expect(yield* store.read(yield* store.stat("data.txt"))).toEqual(Buffer.from("hello"))
        expectFailure(yield* Effect.flip(store.stat("../files-secret/x")), "NotFound", "../files-secret/x")
      }))
  })

  describe("serves regular files", () => {
    const sizes = [0, 1, 3 * 1024 * 1024 + 12345]
    for (const size of sizes) {
      it.scopedLive(`of ${size} bytes, whole and streamed in chunks that do not divide it`, () =>
        Effect.gen(function*() {
          const { at } = yield* Tree
          const store = yield* FileStore
          const bytes = randomBytes(size)
          yield* Effect.promise(() => fsp.writeFile(at("blob"), bytes))
          const info = yield* store.stat("blob")
          const stats = yield* Effect.promise(() => fsp.stat(at("blob"), { bigint: true }))
          expect(info).toEqual({ name: "blob", size, mtimeNs: stats.mtimeNs, dev: stats.dev, ino: stats.ino })
          expect(Buffer.compare(yield* store.read(info), bytes)).toBe(0)
          const chunks = yield* collect(chunksOf(store, info, 65_537))
          expect(chunks.every((chunk) => chunk.length > 0 && chunk.length <= 65_537)).toBe(true)
          expect(Buffer.compare(Buffer.concat(chunks), bytes)).toBe(0)
          expect(yield* store.openHandles).toBe(0)
        }).pipe(Effect.provide(fresh)))
    }

    it.scopedLive("in subdirectories and through symlinks that stay inside", () =>
      Effect.gen(function*() {
        const store = yield* FileStore
        expect(Buffer.from(yield* store.read(yield* store.stat("docs/a.txt"))).toString()).toBe("inside a subdirectory")
        const alias = yield* store.stat("alias.txt")
        expect(alias.name).toBe("alias.txt")
        expect(Buffer.from(yield* store.read(alias)).toString()).toBe("inside a subdirectory")
      }).pipe(Effect.provide(fresh)))

    it.scopedLive("in fresh chunks that later reads do not overwrite", () =>
      Effect.gen(function*() {
        const { at } = yield* Tree
        const store = yield* FileStore
        yield* Effect.promise(() => fsp.writeFile(at("abc"), "aaabbbc"))
        const chunks = yield* collect(chunksOf(store, yield* store.stat("abc"), 3))
        expect(chunks.map((chunk) => Buffer.from(chunk).toString())).toEqual(["aaa", "bbb", "c"])
      }).pipe(Effect.provide(fresh)))
  })

  layer(fresh)("answers NotFound, naming only what was asked", (it) => {
    const names = [
      "missing.txt",
      "../x",
      "/etc/passwd",
      "a/../../x",
      "a//b",
      "./data.txt",
      "data.txt\0",
      "data.txt\0.png",
      "a\\b",
      "..\\..\\x",
      "C:\\x",
      "%2e%2e/x",
      "....//x",
      "",
      "docs/",
      "sub",
      "docs",
      "fifo",
      "null",
      "device",
      "escape.txt",
      "link/secret",
      "../files-secret/x",
      "sibling",
      "sibling-dir/x",
      "data.txt\u001b[31m",
      "\u001b]0;title\u0007",
      "a".repeat(5000)
    ]
    for (const name of names) {
      it.effect(`for ${JSON.stringify(name.length > 40 ? `${name.slice(0, 10)}… (${name.length} bytes)` : name)}`, () =>
        Effect.gen(function*() {
          const { dir } = yield* Tree
          const store = yield* FileStore
          const error = yield* Effect.flip(store.stat(name))
          expectFailure(error, "NotFound", name)
          expect(error.cause).toBeUndefined()
          expect(error.message).not.toContain(dir)
          // A forged FileInfo gets no further than a looked-up one.
          const forged = yield* Effect.flip(store.read({ name, size: 1, mtimeNs: 0n, dev: 0n, ino: 0n }))
          expect(forged.message).not.toContain(dir)
          expect(forged.reason === "NotFound" || forged.reason === "Changed").toBe(true)
        }))
    }
  })

  describe("answers Changed when the file is not the version looked up", () => {
    const changes: ReadonlyArray<[string, (file: string, dir: string) => Promise<void>]> = [
      ["appended to", (file) => fsp.appendFile(file, "more")],
      ["truncated", (file) => fsp.truncate(file, 10)],
      ["replaced by a rename over it", async (file, dir) => {
        await fsp.writeFile(path.join(dir, "new"), randomBytes(100_000))
        await fsp.rename(path.join(dir, "new"), file)
      }],
      ["rewritten in place with the same size", async (file) => {
        await fsp.writeFile(file, randomBytes(100_000))
        await fsp.utimes(file, new Date(2001, 1, 1), new Date(2001, 1, 1))
      }],
      ["deleted", (file) => fsp.rm(file)],
      ["replaced by a FIFO (which must not block)", async (file, dir) => {
        execFileSync("mkfifo", [path.join(dir, "pipe")])
        await fsp.rename(path.join(dir, "pipe"), file)
      }],
      ["replaced by a symlink leaving the root", async (file, dir) => {
        await fsp.rm(file)
        await fsp.symlink(path.join(dir, "x"), file)
      }]
    ]
    for (const [what, change] of changes) {
      it.scopedLive(`${what} between stat and read`, () =>
        Effect.gen(function*() {
          const { at, dir } = yield* Tree
          const store = yield* FileStore
          yield* Effect.promise(() => fsp.writeFile(at("big"), randomBytes(100_000)))
          const info = yield* store.stat("big")
          yield* Effect.promise(() => change(at("big"), dir))
          expectFailure(yield* Effect.flip(store.read(info)), "Changed", "big")
          // Not one byte of another version may go out before the failure.
          const pull = yield* Stream.toPull(chunksOf(store, info, 4096))
          const failure = yield* Effect.flip(pull)
          expectFailure(Option.getOrThrow(failure), "Changed", "big")
          expect(yield* store.openHandles).toBe(0)
        }).pipe(Effect.provide(fresh)))
    }

    const during: ReadonlyArray<[string, (file: string) => Promise<void>]> = [
      ["appended to", (file) => fsp.appendFile(file, "more")],
      ["truncated", (file) => fsp.truncate(file, 50_000)],
      ["rewritten in place", (file) => fsp.writeFile(file, randomBytes(100_000))]
    ]
    for (const [what, change] of during) {
      it.scopedLive(`${what} during a stream, after its first chunk`, () =>
        Effect.gen(function*() {
          const { at } = yield* Tree
          const store = yield* FileStore
          yield* Effect.promise(() => fsp.writeFile(at("big"), randomBytes(100_000)))
          const info = yield* store.stat("big")
          const pull = yield* Stream.toPull(chunksOf(store, info, 4096))
          expect(Chunk.size(yield* pull)).toBeGreaterThan(0)
          expect(yield* store.openHandles).toBe(1)
          yield* Effect.promise(() => change(at("big")))
          const failure = yield* drain(pull)
          expect(Option.isSome(failure)).toBe(true)
          expectFailure(Option.getOrThrow(failure), "Changed", "big")
        }).pipe(Effect.provide(fresh)))
    }
  })

  it.scopedLive("finishes a stream whose file is renamed over after it was opened: the open handle is that version", () =>
    Effect.gen(function*() {
      const { at, dir } = yield* Tree
      const store = yield* FileStore
      const bytes = randomBytes(100_000)
      yield* Effect.promise(() => fsp.writeFile(at("big"), bytes))
      const info = yield* store.stat("big")
      const pull = yield* Stream.toPull(chunksOf(store, info, 4096))
      const first = Chunk.toReadonlyArray(yield* pull)
      yield* Effect.promise(async () => {
        await fsp.writeFile(path.join(dir, "new"), "new")
        await fsp.rename(path.join(dir, "new"), at("big"))
      })
      const rest: Array<Uint8Array> = []
      const ended = yield* drain(Effect.tap(pull, (chunk) => rest.push(...chunk)))
      expect(Option.isNone(ended)).toBe(true)
      expect(Buffer.compare(Buffer.concat([...first, ...rest]), bytes)).toBe(0)
    }).pipe(Effect.provide(fresh)))

  it.scopedLive.skipIf(isRoot)(
    "answers Unreadable for a file with mode 000 (skipped as root, who may read it)",
    () =>
      Effect.gen(function*() {
        const { at } = yield* Tree
        const store = yield* FileStore
        const info = yield* store.stat("data.txt")
        yield* Effect.promise(() => fsp.chmod(at("data.txt"), 0o000))
        expectFailure(yield* Effect.flip(store.read(info)), "Unreadable", "data.txt")
        expect(yield* store.openHandles).toBe(0)
      }).pipe(Effect.provide(fresh))
  )

  describe("closes every handle it opens", () => {
    it.scopedLive("after reads, complete streams, streams cut short and failed reads", () =>
      Effect.gen(function*() {
        const { at } = yield* Tree
        const store = yield* FileStore
        yield* Effect.promise(() => fsp.writeFile(at("big"), randomBytes(1_000_000)))
        const info = yield* store.stat("big")
        yield* store.read(info)
        expect(yield* store.openHandles).toBe(0)
        yield* Stream.runDrain(chunksOf(store, info, 4096))
        expect(yield* store.openHandles).toBe(0)
        const first = yield* collect(Stream.take(chunksOf(store, info, 4096), 1))
        expect(first.map((chunk) => chunk.length)).toEqual([4096])
        expect(yield* store.openHandles).toBe(0)
        yield* Effect.promise(() => fsp.appendFile(at("big"), "x"))
        yield* Effect.flip(store.read(info))
        yield* Effect.flip(Stream.runDrain(chunksOf(store, info, 4096)))
        expect(yield* store.openHandles).toBe(0)
      }).pipe(Effect.provide(fresh)))

    it.scopedLive("when a stream's scope closes midway", () =>
      Effect.gen(function*() {
        const { at } = yield* Tree
        const store = yield* FileStore
        yield* Effect.promise(() => fsp.writeFile(at("big"), randomBytes(100_000)))
        const info = yield* store.stat("big")
        yield* Effect.scoped(Effect.gen(function*() {
          const pull = yield* Stream.toPull(chunksOf(store, info, 4096))
          yield* pull
          expect(yield* store.openHandles).toBe(1)
        }))
        expect(yield* store.openHandles).toBe(0)
      }).pipe(Effect.provide(fresh)))
  })
})
