/**
 * The HTTP door's answers for files, on in-memory layers: whole files and HEAD, single ranges and
 * 416, If-Range, 304 on If-None-Match and If-Modified-Since, ETags that follow the version,
 * Repr-Digest when asked or known, and streamed files read from the range's start.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { createHash } from "node:crypto"
import { MemoryFiles } from "../../src/layers/MemoryFileStore.js"
import { FileStore } from "../../src/services/FileStore.js"
import { ask, httpWorld } from "../support/httpWorld.js"
import { bytes } from "../support/serverWorld.js"

const CONTENT = bytes(100)
const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("base64")

const withFile = <A, E, R>(test: Effect.Effect<A, E, R>, capacity = 10_000) =>
  Effect.flatMap(MemoryFiles, (files) => files.put("dir/a.txt", CONTENT)).pipe(
    Effect.zipRight(test),
    Effect.provide(httpWorld(capacity))
  )

describe("HTTP files", () => {
  it.effect("GET sends the whole file with its length, type, validators and Accept-Ranges", () =>
    withFile(Effect.gen(function*() {
      const got = yield* ask("/dir/a.txt?ignored=1")
      expect(got.status).toBe(200)
      expect(got.body).toEqual(Buffer.from(CONTENT))
      expect(got.headers).toMatchObject({
        "content-length": "100",
        "content-type": "text/plain; charset=utf-8",
        "accept-ranges": "bytes",
        "last-modified": "Thu, 01 Jan 1970 00:00:00 GMT"
      })
      expect(got.headers.etag).toMatch(/^"[0-9a-f]{32}"$/)
      // A hit the second time, with the same validators.
      expect((yield* ask("/dir/a.txt")).headers.etag).toBe(got.headers.etag)
    })))

  it.effect("HEAD gives GET's headers and no body", () =>
    withFile(Effect.gen(function*() {
      const get = yield* ask("/dir/a.txt")
      const head = yield* ask("/dir/a.txt", {}, "HEAD")
      expect(head.status).toBe(200)
      expect(head.headers).toEqual(get.headers)
      expect(head.bodyTag).toBe("Empty")
    })))

  it.effect("a single range is 206 with Content-Range; open, suffix and past-the-end ranges", () =>
    withFile(Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [string, number, number]> = [
        ["bytes=10-19", 10, 20],
        ["bytes=90-", 90, 100],
        ["bytes=-5", 95, 100],
        ["bytes=-500", 0, 100],
        ["bytes=95-1000", 95, 100]
      ]
      for (const [range, start, end] of cases) {
        const got = yield* ask("/dir/a.txt", { range })
        expect(got.status, range).toBe(206)
        expect(got.headers["content-range"], range).toBe(`bytes ${start}-${end - 1}/100`)
        expect(got.headers["content-length"], range).toBe(String(end - start))
        expect(got.body, range).toEqual(Buffer.from(CONTENT.subarray(start, end)))
      }
      for (const range of ["bytes=100-", "bytes=500-600", "bytes=-0"]) {
        const got = yield* ask("/dir/a.txt", { range })
        expect(got.status, range).toBe(416)
        expect(got.headers["content-range"], range).toBe("bytes */100")
        expect(got.body.length).toBe(0)
      }
      // Several ranges, or none that can be read: the whole file, as RFC 9110 allows.
      for (const range of ["bytes=0-1,5-6", "bytes=5-1", "lines=1-2", "bytes=x-"]) {
        const got = yield* ask("/dir/a.txt", { range })
        expect(got.status, range).toBe(200)
        expect(got.body.length, range).toBe(100)
      }
    })))

  it.effect("If-Range: the range only from the version the client had, by strong ETag or date", () =>
    withFile(Effect.gen(function*() {
      const { headers } = yield* ask("/dir/a.txt")
      const range = "bytes=0-9"
      expect((yield* ask("/dir/a.txt", { range, "if-range": headers.etag! })).status).toBe(206)
      expect((yield* ask("/dir/a.txt", { range, "if-range": headers["last-modified"]! })).status).toBe(206)
      expect((yield* ask("/dir/a.txt", { range, "if-range": `W/${headers.etag}` })).status).toBe(200)
      expect((yield* ask("/dir/a.txt", { range, "if-range": "\"0123\"" })).status).toBe(200)
      // The file changes: the old tag gets the whole new file.
      yield* Effect.flatMap(MemoryFiles, (files) => files.put("dir/a.txt", bytes(100, 7)))
      const after = yield* ask("/dir/a.txt", { range, "if-range": headers.etag! })
      expect(after.status).toBe(200)
      expect(after.headers.etag).not.toBe(headers.etag)
      expect(after.body).toEqual(Buffer.from(bytes(100, 7)))
    })))

  it.effect("304 on a matching If-None-Match (before If-Modified-Since) or an unmodified date", () =>
    withFile(Effect.gen(function*() {
      const { headers } = yield* ask("/dir/a.txt")
      const etag = headers.etag!
      for (const ifNoneMatch of [etag, `W/${etag}`, `"other", ${etag}`, "*"]) {
        const got = yield* ask("/dir/a.txt", { "if-none-match": ifNoneMatch })
        expect(got.status, ifNoneMatch).toBe(304)
        expect(got.headers.etag).toBe(etag)
        expect(got.body.length).toBe(0)
      }
      const later = "Sat, 01 Jan 2000 00:00:00 GMT"
      expect((yield* ask("/dir/a.txt", { "if-modified-since": later })).status).toBe(304)
      expect((yield* ask("/dir/a.txt", { "if-modified-since": "garbage" })).status).toBe(200)
      // If-None-Match decides when both are sent.
      expect((yield* ask("/dir/a.txt", { "if-none-match": "\"other\"", "if-modified-since": later })).status)
        .toBe(200)
      expect((yield* ask("/dir/a.txt", { "if-none-match": etag }, "HEAD")).status).toBe(304)
    })))

  it.effect("Repr-Digest: sent when Want-Repr-Digest asks for sha-256, then whenever it is known", () =>
    withFile(Effect.gen(function*() {
      expect((yield* ask("/dir/a.txt")).headers["repr-digest"]).toBeUndefined()
      expect((yield* ask("/dir/a.txt", { "want-repr-digest": "sha-256=0" })).headers["repr-digest"])
        .toBeUndefined()
      const asked = yield* ask("/dir/a.txt", { "want-repr-digest": "sha-512=3, sha-256=10" })
      expect(asked.headers["repr-digest"]).toBe(`sha-256=:${sha256(CONTENT)}:`)
      // Known now, at no cost: sent without being asked, with a range too (it is of the whole file).
      expect((yield* ask("/dir/a.txt", { range: "bytes=0-0" })).headers["repr-digest"])
        .toBe(`sha-256=:${sha256(CONTENT)}:`)
    })))

  it.effect("a file larger than the cache is streamed, a range read from its start, no handle left open", () =>
    Effect.gen(function*() {
      const big = bytes(300_000, 3)
      yield* Effect.flatMap(MemoryFiles, (files) => files.put("big.bin", big))
      const whole = yield* ask("/big.bin")
      expect(whole.bodyTag).toBe("Chunks")
      expect(whole.body).toEqual(Buffer.from(big))
      const range = yield* ask("/big.bin", { range: "bytes=200000-200009" })
      expect(range.status).toBe(206)
      expect(range.body).toEqual(Buffer.from(big.subarray(200_000, 200_010)))
      const head = yield* ask("/big.bin", {}, "HEAD")
      expect(head.headers["content-length"]).toBe("300000")
      expect(head.bodyTag).toBe("Empty")
      expect(yield* Effect.flatMap(FileStore, (files) => files.openHandles)).toBe(0)
    }).pipe(Effect.provide(httpWorld(1000))))
})
