/**
 * What the HTTP door lets through, on in-memory layers: directory listings (HTML, JSON, the redirect
 * to the trailing slash, off with --no-listing), hostile names answered exactly as missing files,
 * Bearer tokens refused before any lookup, methods other than GET and HEAD, and the requests counted
 * under the HTTP door.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import { MemoryFiles } from "../../src/layers/MemoryFileStore.js"
import * as ServerMetrics from "../../src/programs/server/ServerMetrics.js"
import { ask, grant, httpWorld } from "../support/httpWorld.js"

const setUp = Effect.flatMap(MemoryFiles, (files) =>
  Effect.all([
    files.put("a.txt", "hello"),
    files.put("docs/public/guide & <notes>.txt", "guide"),
    files.put("docs/private/secret.txt", "secret"),
    files.put("docs/readme.md", "# readme")
  ]))

const inWorld = <A, E, R>(
  test: Effect.Effect<A, E, R>,
  grants = Option.none<ReadonlyArray<ReturnType<typeof grant>>>()
) => Effect.zipRight(setUp, test).pipe(Effect.provide(httpWorld(100_000, grants)))

const HOSTILE = [
  "/%2e%2e/a.txt",
  "/docs/%2e%2e/%2e%2e/etc/passwd",
  "/docs/..%2fa.txt",
  "/docs%2fpublic/x",
  "/a.txt%00",
  "/%00",
  "/%c0%ae%c0%ae/a.txt",
  "/%e0%80%ae/a.txt",
  "/%zz",
  "/a%",
  "/docs\\readme.md",
  "/docs%5creadme.md",
  "//a.txt",
  "/docs//readme.md",
  "/./a.txt",
  "/docs/./readme.md",
  "*",
  "a.txt",
  "http://example.com/../a.txt"
]

describe("HTTP listings", () => {
  it.effect("a directory is an HTML page of links, sizes and dates, with a link to its parent", () =>
    inWorld(Effect.gen(function*() {
      const page = yield* ask("/docs/public/")
      expect(page.status).toBe(200)
      expect(page.headers["content-type"]).toBe("text/html; charset=utf-8")
      const html = page.body.toString("utf8")
      expect(html).toContain("<title>Index of /docs/public/</title>")
      expect(html).toContain("<a href=\"/docs/public/guide%20%26%20%3Cnotes%3E.txt\">guide &amp; &lt;notes&gt;.txt</a>")
      expect(html).toContain("<a href=\"/docs/\">../</a>")
      expect(html).toContain("5 B")
      expect(html).toContain("<time datetime=\"1970-01-01T00:00:00.000Z\">")
      expect(page.headers["content-length"]).toBe(String(page.body.length))
      const root = (yield* ask("/")).body.toString("utf8")
      expect(root).toContain("<a href=\"/docs/\">docs/</a>")
      expect(root).not.toContain("../")
    })))

  it.effect("JSON when the client prefers it; `/dir` redirects to `/dir/`", () =>
    inWorld(Effect.gen(function*() {
      const json = yield* ask("/docs/", { accept: "application/json" })
      expect(json.headers["content-type"]).toBe("application/json")
      expect(JSON.parse(json.body.toString("utf8"))).toEqual([
        { name: "private", type: "directory", size: 0, mtime: "1970-01-01T00:00:00.000Z" },
        { name: "public", type: "directory", size: 0, mtime: "1970-01-01T00:00:00.000Z" },
        { name: "readme.md", type: "file", size: 8, mtime: "1970-01-01T00:00:00.000Z" }
      ].map((entry) => expect.objectContaining({ name: entry.name, type: entry.type, size: entry.size })))
      const browser = yield* ask("/docs/", { accept: "text/html,application/xhtml+xml,*/*;q=0.8" })
      expect(browser.headers["content-type"]).toBe("text/html; charset=utf-8")
      const moved = yield* ask("/docs/public")
      expect(moved.status).toBe(301)
      expect(moved.headers.location).toBe("/docs/public/")
    })))

  it.effect("listing off: directories are not found, as missing files are", () =>
    inWorld(Effect.gen(function*() {
      const missing = yield* ask("/nothing.txt", {}, "GET", { listing: false })
      for (const target of ["/", "/docs/", "/docs"]) {
        const got = yield* ask(target, {}, "GET", { listing: false })
        expect({ status: got.status, body: got.body }, target).toEqual({ status: 404, body: missing.body })
      }
      expect((yield* ask("/a.txt", {}, "GET", { listing: false })).status).toBe(200)
    })))
})

describe("HTTP names, methods and tokens", () => {
  it.effect("every hostile name is answered exactly as a missing file", () =>
    inWorld(Effect.gen(function*() {
      const missing = yield* ask("/missing.txt")
      expect(missing.status).toBe(404)
      for (const target of HOSTILE) {
        const got = yield* ask(target)
        expect({ status: got.status, headers: got.headers, body: got.body }, target).toEqual({
          status: 404,
          headers: missing.headers,
          body: missing.body
        })
      }
      expect((yield* ask("/a.txt")).status).toBe(200)
      expect((yield* ask("/a%2etxt")).status).toBe(200)
    })))

  it.effect("GET and HEAD only: others are 405 with Allow", () =>
    inWorld(Effect.gen(function*() {
      for (const method of ["POST", "PUT", "DELETE", "OPTIONS", "PATCH"]) {
        const got = yield* ask("/a.txt", {}, method)
        expect(got.status, method).toBe(405)
        expect(got.headers.allow).toBe("GET, HEAD")
      }
    })))

  it.effect("Bearer tokens: 401 without a good one, 403 outside its paths whether the name exists or not", () =>
    inWorld(
      Effect.gen(function*() {
        const noToken = yield* ask("/a.txt")
        expect(noToken.status).toBe(401)
        expect(noToken.headers["www-authenticate"]).toBe("Bearer realm=\"ferry\"")
        // Refused on the name alone: a missing name and a hostile one get the same answer.
        for (const target of ["/missing.txt", "/%2e%2e/a.txt", "/docs/"]) {
          const got = yield* ask(target)
          expect({ status: got.status, body: got.body }, target).toEqual({ status: 401, body: noToken.body })
        }
        const unknown = yield* ask("/a.txt", { authorization: "Bearer fy_wrong" })
        expect(unknown.status).toBe(401)
        expect(unknown.headers["www-authenticate"]).toContain("error=\"invalid_token\"")
        expect((yield* ask("/a.txt", { authorization: "Basic dXNlcjpwYXNz" })).status).toBe(401)

        const reader = { authorization: "Bearer fy_reader" }
        expect((yield* ask("/a.txt", reader)).status).toBe(200)
        expect((yield* ask("/docs/public/guide%20%26%20%3Cnotes%3E.txt", reader)).status).toBe(200)
        const secret = yield* ask("/docs/private/secret.txt", reader)
        const missing = yield* ask("/docs/private/missing.txt", reader)
        expect(secret.status).toBe(403)
        expect({ status: missing.status, body: missing.body }).toEqual({ status: secret.status, body: secret.body })
        // A listing on the way to its paths shows only what leads there.
        const docs = JSON.parse((yield* ask("/docs/", { ...reader, accept: "application/json" })).body.toString())
        expect(docs.map((entry: { name: string }) => entry.name)).toEqual(["public"])
      }),
      Option.some([grant("reader", "fy_reader", { prefixes: ["docs/public", "a.txt"] })])
    ))

  it.effect("requests are counted under the HTTP door", () =>
    inWorld(Effect.gen(function*() {
      yield* ask("/a.txt")
      yield* ask("/a.txt")
      yield* ask("/missing.txt")
      const metrics = yield* ServerMetrics.ServerMetrics
      const value = (name: "requests" | "hits" | "loads" | "failures" | "bytesServed") =>
        Effect.map(Metric.value(metrics.requestCounters.http[name]), (state) => state.count)
      expect({
        requests: yield* value("requests"),
        hits: yield* value("hits"),
        loads: yield* value("loads"),
        failures: yield* value("failures"),
        bytesServed: yield* value("bytesServed")
      }).toEqual({ requests: 3, hits: 1, loads: 1, failures: 1, bytesServed: 10 })
      expect((yield* Metric.value(metrics.requestCounters.ferry.requests)).count).toBe(0)
    })))
})
