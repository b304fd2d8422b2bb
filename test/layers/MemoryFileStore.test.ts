/** The in-memory file store behaves as the live one does, and its controls do what tests rely on. */
import { describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as MemoryFileStore from "../../src/layers/MemoryFileStore.js"
import { MemoryFiles } from "../../src/layers/MemoryFileStore.js"
import { FileStore, FileStoreError } from "../../src/services/FileStore.js"
import { chunksOf } from "../support/fileChunks.js"

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes)

const expectFailure = (error: unknown, reason: FileStoreError["reason"], name: string) => {
  expect(error).toBeInstanceOf(FileStoreError)
  expect(error).toMatchObject({ reason, name })
}

const collect = (stream: Stream.Stream<Uint8Array, FileStoreError>) =>
  Effect.map(Stream.runCollect(stream), (chunks) => Chunk.toReadonlyArray(chunks).map(text))

/** Every test gets an empty store of its own. */
const fresh = <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.provide(self, MemoryFileStore.layer)

describe("MemoryFileStore", () => {
  it.effect("reads and streams what was put, in chunks of at most chunkSize", () =>
    fresh(Effect.gen(function*() {
      const files = yield* MemoryFiles
      const store = yield* FileStore
      const put = yield* files.put("docs/a.txt", "abcdefg")
      const info = yield* store.stat("docs/a.txt")
      expect(info).toEqual(put)
      expect(info.size).toBe(7)
      expect(text(yield* store.read(info))).toBe("abcdefg")
      expect(yield* collect(chunksOf(store, info, 3))).toEqual(["abc", "def", "g"])
      yield* files.put("empty", new Uint8Array(0))
      const empty = yield* store.stat("empty")
      expect(yield* store.read(empty)).toEqual(new Uint8Array(0))
      expect(yield* collect(chunksOf(store, empty, 3))).toEqual([])
    })))

  it.effect("keeps its own copy of the bytes put", () =>
    fresh(Effect.gen(function*() {
      const files = yield* MemoryFiles
      const store = yield* FileStore
      const bytes = Uint8Array.of(1, 2, 3)
      yield* files.put("f", bytes)
      bytes[0] = 9
      expect(yield* store.read(yield* store.stat("f"))).toEqual(Uint8Array.of(1, 2, 3))
    })))

  it.effect("answers NotFound for missing, removed and unacceptable names, even if put", () =>
    fresh(Effect.gen(function*() {
      const files = yield* MemoryFiles
      const store = yield* FileStore
      yield* files.put("../x", "outside")
      yield* files.put("gone", "x")
      yield* files.remove("gone")
      for (const name of ["missing", "gone", "../x", "a//b", "a\\b", ""]) {
        expectFailure(yield* Effect.flip(store.stat(name)), "NotFound", name)
      }
      const forged = { name: "../x", size: 7, mtimeNs: 1n, dev: 1n, ino: 1n }
      expectFailure(yield* Effect.flip(store.read(forged)), "NotFound", "../x")
    })))

  it.effect("makes every put a new version: same inode in place, a new one for replace", () =>
    fresh(Effect.gen(function*() {
      const files = yield* MemoryFiles
      const first = yield* files.put("f", "one")
      const overwritten = yield* files.put("f", "two")
      const replaced = yield* files.replace("f", "six")
      expect(overwritten.ino).toBe(first.ino)
      expect(overwritten.mtimeNs).not.toBe(first.mtimeNs)
      expect(replaced.ino).not.toBe(first.ino)
      expect((yield* files.put("g", "g")).ino).not.toBe(replaced.ino)
    })))

  it.effect("answers Changed when the file changed between stat and read, or during a stream", () =>
    fresh(
      Effect.gen(function*() {
        const files = yield* MemoryFiles
        const store = yield* FileStore
        const info = yield* files.put("f", "abcdef")
        yield* files.put("f", "abcdef")
        expectFailure(yield* Effect.flip(store.read(info)), "Changed", "f")
        expectFailure(yield* Effect.flip(Stream.runDrain(chunksOf(store, info, 2))), "Changed", "f")
        const current = yield* store.stat("f")
        const pull = yield* Stream.toPull(chunksOf(store, current, 2))
        expect(Chunk.toReadonlyArray(yield* pull).map(text)).toEqual(["ab"])
        yield* files.remove("f")
        expectFailure(Option.getOrThrow(yield* Effect.flip(pull)), "Changed", "f")
      }).pipe(Effect.scoped)
    ))

  it.effect("counts the reads of each file, and in all", () =>
    fresh(Effect.gen(function*() {
      const files = yield* MemoryFiles
      const store = yield* FileStore
      const a = yield* files.put("a", "a")
      const b = yield* files.put("b", "b")
      yield* store.stat("a")
      expect(yield* files.reads("a")).toBe(0)
      yield* store.read(a)
      yield* Stream.runDrain(chunksOf(store, a, 1))
      yield* store.read(b)
      expect(yield* files.reads("a")).toBe(2)
      expect(yield* files.reads("b")).toBe(1)
      expect(yield* files.reads("never")).toBe(0)
      expect(yield* files.totalReads).toBe(3)
    })))

  it.effect("holds reads at a gate until it is opened", () =>
    fresh(Effect.gen(function*() {
      const files = yield* MemoryFiles
      const store = yield* FileStore
      const info = yield* files.put("slow", "bytes")
      const gate = yield* files.hold("slow")
      expect(yield* files.hold("slow")).toBe(gate)
      const reads = yield* Effect.fork(Effect.all([store.read(info), store.read(info)], { concurrency: "unbounded" }))
      yield* gate.awaitWaiting(2)
      expect(yield* gate.waiting).toBe(2)
      expect(yield* files.reads("slow")).toBe(0)
      expect(yield* store.openHandles).toBe(0)
      yield* gate.open
      expect((yield* Fiber.join(reads)).map(text)).toEqual(["bytes", "bytes"])
      expect(yield* gate.waiting).toBe(0)
      expect(yield* files.reads("slow")).toBe(2)
      // Once opened, the gate no longer holds anyone, and other names were never held.
      yield* store.read(info)
      expect(text(yield* store.read(yield* files.put("other", "x")))).toBe("x")
    })))

  it.effect("lets a read held at the gate see a change made meanwhile", () =>
    fresh(Effect.gen(function*() {
      const files = yield* MemoryFiles
      const store = yield* FileStore
      const info = yield* files.put("f", "old")
      const gate = yield* files.hold("f")
      const read = yield* Effect.fork(store.read(info))
      yield* gate.awaitWaiting(1)
      yield* files.put("f", "new")
      yield* gate.open
      expectFailure(yield* Effect.flip(Fiber.join(read)), "Changed", "f")
    })))

  it.effect("fails reads at open as many times as asked", () =>
    fresh(Effect.gen(function*() {
      const files = yield* MemoryFiles
      const store = yield* FileStore
      const info = yield* files.put("f", "abc")
      yield* files.fail("f", { at: "open" }, 2)
      expectFailure(yield* Effect.flip(store.read(info)), "Unreadable", "f")
      expectFailure(yield* Effect.flip(Stream.runDrain(chunksOf(store, info, 1))), "Unreadable", "f")
      expect(text(yield* store.read(info))).toBe("abc")
      expect(yield* files.reads("f")).toBe(3)
      expect(yield* store.openHandles).toBe(0)
    })))

  it.effect("fails a stream at a byte offset after emitting the bytes before it", () =>
    fresh(Effect.gen(function*() {
      const files = yield* MemoryFiles
      const store = yield* FileStore
      const info = yield* files.put("f", "0123456789abcdef")
      yield* files.fail("f", { at: 10 })
      const emitted: Array<string> = []
      const error = yield* Effect.flip(Stream.runForEach(chunksOf(store, info, 4), (chunk) =>
        Effect.sync(() => {
          emitted.push(text(chunk))
        })))
      expectFailure(error, "Unreadable", "f")
      expect(emitted).toEqual(["0123", "4567", "89"])
      yield* files.fail("f", { at: 10 })
      expectFailure(yield* Effect.flip(store.read(info)), "Unreadable", "f")
      expect(yield* collect(chunksOf(store, info, 16))).toEqual(["0123456789abcdef"])
      expect(yield* store.openHandles).toBe(0)
    })))

  it.effect("changes a file under a read or a stream in progress, which then fails with Changed", () =>
    fresh(Effect.gen(function*() {
      const files = yield* MemoryFiles
      const store = yield* FileStore
      const info = yield* files.put("f", "abcdef")
      yield* files.changeDuring("f", "changed")
      expectFailure(yield* Effect.flip(store.read(info)), "Changed", "f")
      const changed = yield* store.stat("f")
      expect(changed.ino).toBe(info.ino)
      expect(text(yield* store.read(changed))).toBe("changed")
      yield* files.changeDuring("f", "again")
      const emitted: Array<string> = []
      const error = yield* Effect.flip(Stream.runForEach(chunksOf(store, changed, 3), (chunk) =>
        Effect.sync(() => {
          emitted.push(text(chunk))
        })))
      expectFailure(error, "Changed", "f")
      expect(emitted).toEqual(["cha"])
      expect(yield* store.openHandles).toBe(0)
    })))

  it.effect("counts open handles while streams are open, and none once they end or are cut short", () =>
    fresh(Effect.gen(function*() {
      const files = yield* MemoryFiles
      const store = yield* FileStore
      const info = yield* files.put("f", "abcdef")
      yield* Effect.scoped(Effect.gen(function*() {
        const first = yield* Stream.toPull(chunksOf(store, info, 2))
        const second = yield* Stream.toPull(chunksOf(store, info, 2))
        yield* first
        yield* second
        expect(yield* store.openHandles).toBe(2)
      }))
      expect(yield* store.openHandles).toBe(0)
      expect(yield* collect(Stream.take(chunksOf(store, info, 2), 1))).toEqual(["ab"])
      expect(yield* store.openHandles).toBe(0)
    })))

  it.effect("releases a read interrupted at the gate", () =>
    fresh(Effect.gen(function*() {
      const files = yield* MemoryFiles
      const store = yield* FileStore
      const info = yield* files.put("f", "abc")
      const gate = yield* files.hold("f")
      const read = yield* Effect.fork(store.read(info))
      yield* gate.awaitWaiting(1)
      yield* Fiber.interrupt(read)
      expect(yield* gate.waiting).toBe(0)
      expect(yield* store.openHandles).toBe(0)
      expect(yield* files.reads("f")).toBe(0)
    })))
})
