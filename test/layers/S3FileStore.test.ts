/**
 * The S3 file store against s3rver, an S3 server in the test process: what it reads, lists and
 * refuses, and its version changing with the object. s3rver ignores If-Match and If-Range, gets
 * suffix ranges wrong and cannot page a listing on Node 20 (its continuation tokens need DES): the
 * If-Match requests, the 412 and the paging are tested on a fake bucket in front of the store instead.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { parseS3Url } from "../../src/layers/internal/s3Location.js"
import { bucketUrl } from "../../src/layers/internal/s3Requests.js"
import * as S3FileStore from "../../src/layers/S3FileStore.js"
import type { FileStore } from "../../src/services/FileStore.js"
import { FileStoreError } from "../../src/services/FileStore.js"
import { unusedPort } from "../e2e/harness.js"
import * as FakeS3 from "../support/fakeS3.js"
import * as S3 from "../support/s3rver.js"

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes)

const storeAt = (endpoint: string, overrides: Partial<S3FileStore.S3Options> = {}, url = "s3://bucket/served") =>
  S3FileStore.make({
    url,
    location: { bucket: S3.BUCKET, prefix: "served/" },
    endpoint,
    region: S3.REGION,
    credentials: S3.CREDENTIALS,
    ...overrides
  })

const failure = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.flip(effect)

const expectFailure = (error: unknown, reason: FileStoreError["reason"]) => {
  expect(error).toBeInstanceOf(FileStoreError)
  expect((error as FileStoreError).reason).toBe(reason)
}

const listed = (store: FileStore["Type"], path: string, recursive: boolean) =>
  Effect.map(
    Stream.runCollect(store.list(path, { recursive })),
    (entries) =>
      Chunk.toReadonlyArray(entries).map((entry) => `${entry.type === "directory" ? "d" : "f"} ${entry.path}`)
  )

describe("S3FileStore on s3rver", () => {
  it.scoped("stats and reads an object, whole and at any position", () =>
    Effect.gen(function*() {
      const s3 = yield* S3.make
      yield* s3.put("served/docs/a.txt", "abcdefghij")
      yield* s3.put("served/empty", "")
      const store = yield* storeAt(s3.endpoint)
      const info = yield* store.stat("docs/a.txt")
      expect(info).toMatchObject({ name: "docs/a.txt", size: 10 })
      expect(text(yield* store.read(info))).toBe("abcdefghij")
      const empty = yield* store.stat("empty")
      expect((yield* store.read(empty)).length).toBe(0)

      const read = yield* Effect.scoped(Effect.gen(function*() {
        const file = yield* store.open(info)
        expect(yield* store.openHandles).toBe(1)
        const buffer = new Uint8Array(4)
        const at = (position: number) => Effect.map(file.readInto(buffer, position), (n) => text(buffer.subarray(0, n)))
        // In order (one GET read on), then a jump back and one past the end.
        return [yield* at(0), yield* at(4), yield* at(8), yield* at(10), yield* at(3), yield* at(7)]
      }))
      expect(read).toEqual(["abcd", "efgh", "ij", "", "defg", "hij"])
      expect(yield* store.openHandles).toBe(0)
    }))

  it.scoped("lists one level or the whole tree, in UTF-16 order, directories before what they hold", () =>
    Effect.gen(function*() {
      const s3 = yield* S3.make
      // UTF-8 byte order (S3's) puts \uff61 before \u{1f600}; UTF-16 code unit order puts it after.
      for (const key of ["b", "a/z", "a/c/d", "a.txt", "B", "\uff61", "\u{1f600}", "a/c/e"]) {
        yield* s3.put(`served/${key}`, key)
      }
      yield* s3.put("elsewhere", "not served")
      const store = yield* storeAt(s3.endpoint)
      expect(yield* listed(store, "", false)).toEqual(["f B", "d a", "f a.txt", "f b", "f \u{1f600}", "f \uff61"])
      expect(yield* listed(store, "", true)).toEqual([
        "f B",
        "d a",
        "f a.txt",
        "f b",
        "f \u{1f600}",
        "f \uff61",
        "d a/c",
        "f a/z",
        "f a/c/d",
        "f a/c/e"
      ])
      expect(yield* listed(store, "a", false)).toEqual(["d a/c", "f a/z"])
      expect(yield* listed(store, "a/c/d", true)).toEqual(["f a/c/d"])
      const sizes = yield* Stream.runCollect(store.list("a/c", { recursive: false }))
      expect(Chunk.toReadonlyArray(sizes).map((entry) => entry.size)).toEqual([5, 5])
    }))

  it.scoped("answers NotFound for missing names and for names that try to leave PREFIX", () =>
    Effect.gen(function*() {
      const s3 = yield* S3.make
      yield* s3.put("secret.txt", "outside the prefix")
      yield* s3.put("served/dir/inside.txt", "inside")
      const store = yield* storeAt(s3.endpoint)
      for (
        const name of ["missing", "dir", "../secret.txt", "dir/../../secret.txt", "/secret.txt", "a//b", "a\\b", ""]
      ) {
        expectFailure(yield* failure(store.stat(name)), "NotFound")
      }
      for (const path of ["missing", "../", "..", "dir/..", "a\\b"]) {
        expectFailure(yield* failure(Stream.runDrain(store.list(path, { recursive: true }))), "NotFound")
      }
    }))

  it.scoped("gives a replaced object a new version, and a read of the old one fails Changed", () =>
    Effect.gen(function*() {
      const s3 = yield* S3.make
      yield* s3.put("served/f", "first")
      const store = yield* storeAt(s3.endpoint)
      const before = yield* store.stat("f")
      yield* s3.put("served/f", "other")
      const after = yield* store.stat("f")
      expect(after.ino).not.toBe(before.ino)
      expect(text(yield* store.read(after))).toBe("other")
      // s3rver ignores If-Match: the answer's own ETag tells.
      expectFailure(yield* failure(store.read(before)), "Changed")
      expectFailure(yield* failure(Effect.scoped(store.open(before))), "Changed")
      yield* s3.remove("served/f")
      expectFailure(yield* failure(store.read(after)), "Changed")
      expect(yield* store.openHandles).toBe(0)
    }))

  it.scoped("fails at start for a missing bucket, bad credentials or no server", () =>
    Effect.gen(function*() {
      const s3 = yield* S3.make
      const missing = yield* failure(
        storeAt(s3.endpoint, { location: { bucket: "nothere", prefix: "" } }, "s3://nothere")
      )
      expect(missing).toMatchObject({ _tag: "BucketError", reason: "NoSuchBucket" })
      expect(missing.message).toBe(`no such bucket: s3://nothere (at ${s3.endpoint})`)
      const denied = yield* failure(storeAt(s3.endpoint, { credentials: { accessKeyId: "x", secretAccessKey: "y" } }))
      expect(denied).toMatchObject({ _tag: "BucketError", reason: "AccessDenied" })
      const unreachable = yield* failure(storeAt(`http://127.0.0.1:${yield* unusedPort}`))
      expect(unreachable).toMatchObject({ _tag: "BucketError", reason: "Unreachable", detail: "ECONNREFUSED" })
    }))
})

describe("S3FileStore on a fake bucket", () => {
  it.scoped("reads with If-Match and ranges, and a 412 is Changed", () =>
    Effect.gen(function*() {
      const fake = FakeS3.make({ bucket: S3.BUCKET, pageSize: 1000 })
      fake.put("served/f", "0123456789")
      const store = yield* storeAt("http://fake", { fetch: fake.fetch })
      const info = yield* store.stat("f")
      yield* Effect.scoped(Effect.gen(function*() {
        const file = yield* store.open(info)
        const buffer = new Uint8Array(3)
        expect(yield* file.readInto(buffer, 4)).toBe(3)
        expect(text(buffer)).toBe("456")
        const get = fake.requests.at(-1)!
        expect(get.method).toBe("GET")
        expect(get.headers.get("range")).toBe("bytes=4-9")
        expect(get.headers.get("if-match")).toMatch(/^"[0-9a-f]{32}"$/)
        // Replaced while open: the next GET (a jump back) is refused with 412.
        fake.put("served/f", "9876543210")
        expectFailure(yield* failure(file.readInto(buffer, 0)), "Changed")
        expect(fake.requests.at(-1)!.headers.get("if-match")).toBe(get.headers.get("if-match"))
      }))
      expectFailure(yield* failure(store.read(info)), "Changed")
      expect(yield* store.openHandles).toBe(0)
    }))

  it.scoped("pages a listing with continuation tokens", () =>
    Effect.gen(function*() {
      const fake = FakeS3.make({ bucket: S3.BUCKET, pageSize: 2 })
      for (const key of ["e", "d/x", "c", "b/y", "a", "d/z"]) fake.put(`served/${key}`, key)
      const store = yield* storeAt("http://fake", { fetch: fake.fetch })
      expect(yield* listed(store, "", false)).toEqual(["f a", "d b", "f c", "d d", "f e"])
      expect(yield* listed(store, "", true)).toEqual(["f a", "d b", "f c", "d d", "f e", "f b/y", "f d/x", "f d/z"])
      const tokens = fake.requests.flatMap((request) => request.url.searchParams.get("continuation-token") ?? [])
      expect(tokens).toEqual(["2", "4", "2", "4"])
    }))
})

describe("s3:// URLs", () => {
  it("name a bucket and a prefix that no name can leave", () => {
    expect(parseS3Url("s3://bucket")).toEqual({ bucket: "bucket", prefix: "" })
    expect(parseS3Url("s3://bucket/")).toEqual({ bucket: "bucket", prefix: "" })
    expect(parseS3Url("s3://bucket/a/b//")).toEqual({ bucket: "bucket", prefix: "a/b/" })
    for (const url of ["s3://", "s3:///x", "s3://bucket/../other", "s3://bucket/a//b", "s3://b/x", "s3://bu cket"]) {
      expect(parseS3Url(url), url).toBeUndefined()
    }
  })

  it("are reached path-style at an endpoint, virtual-hosted at AWS unless the name has dots", () => {
    const at = (bucket: string, endpoint?: string) =>
      bucketUrl({ location: { bucket, prefix: "" }, region: "eu-west-3", endpoint })
    expect(at("bucket", "http://localhost:9000/")).toBe("http://localhost:9000/bucket/")
    expect(at("bucket")).toBe("https://bucket.s3.eu-west-3.amazonaws.com/")
    expect(at("my.bucket")).toBe("https://s3.eu-west-3.amazonaws.com/my.bucket/")
  })
})
