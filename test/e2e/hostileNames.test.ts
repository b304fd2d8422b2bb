/**
 * Names built to confuse: Windows and encoded paths, names too long for a segment or for a request,
 * control characters and terminal escape sequences. The server answers each without harm, and
 * neither the server's log nor the client's output ever carries a control character raw.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as Net from "node:net"
import * as path from "node:path"
import * as Codec from "../../src/protocol/Codec.js"
import {
  bounded,
  expectOneLine,
  listDir,
  runClient,
  sha256File,
  startServer,
  tempDir,
  writeRandomFile
} from "./harness.js"
import {
  fakeServer,
  getRequest,
  listRequest,
  rawConnect,
  readFailureFrame,
  readFetched,
  readListing
} from "./rawProtocol.js"

// C0 controls (ESC, BEL, CR, tab...), DEL and C1 controls (CSI U+009B, OSC U+009D...): none may reach a terminal
// raw. Output is checked line by line, so the newlines that end lines are not counted.
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/

// Names a client refuses to send: C0 controls and DEL break the name rules (PROTOCOL.md section 8).
const C0_ESCAPES = ["\u001b[31mred", "\u001b]0;title\u0007", "a\rb", "\u001b[2J\u001b[Hclear", "tab\there", "del\u007f"]
// C1 controls are not excluded by the name rules: these names are sent, and simply not found.
const C1_ESCAPES = ["\u009b31mcsi", "\u009d0;osc\u009c"]
const ESCAPES = [...C0_ESCAPES, ...C1_ESCAPES]

const shown = (name: string) => JSON.stringify(name.length > 40 ? `${name.slice(0, 40)}…` : name)

/** GETs `name` on a connection of its own; answered NOT_FOUND, the connection then still answers a LIST. */
const notFoundThenList = (port: number, name: string) =>
  Effect.scoped(Effect.gen(function*() {
    const connection = yield* rawConnect(port)
    yield* connection.write(getRequest(name))
    const fetched = yield* readFetched(connection.reader)
    expect(fetched, shown(name)).toMatchObject({ _tag: "Failure", status: Codec.Status.NotFound })
    yield* connection.write(listRequest)
    expect((yield* readListing(connection.reader))._tag, `the connection stays usable after ${shown(name)}`).toBe(
      "Listing"
    )
  })).pipe(bounded("5 seconds", `GET ${shown(name)}, then LIST`))

describe("hostile names on the wire", () => {
  it.scopedLive.each(["text", "json"])(
    "each is answered NOT_FOUND or TOO_LARGE, the server keeps serving, its %s log has no control character",
    (logFormat) =>
      Effect.gen(function*() {
        const dir = yield* tempDir()
        const sha256 = yield* writeRandomFile(path.join(dir, "ok.txt"), 1000)
        // Files that a careless server might reach with the names below.
        yield* writeRandomFile(path.join(dir, "x"), 10)
        yield* writeRandomFile(path.join(dir, "red"), 10)
        const server = yield* startServer(dir, ["--log-format", logFormat])

        const names = [
          "C:\\x",
          "C:/x",
          "\\\\server\\share\\x",
          "....//x",
          "..../x",
          "%2e%2e/x",
          "%2e%2e%2fx",
          "..%2fx",
          "x".repeat(300),
          `${"a/".repeat(150)}x`,
          ...ESCAPES
        ]
        for (const name of names) yield* notFoundThenList(server.port, name)

        // 5 KB: over the 4096 bytes a request may carry, refused from its header; the connection is closed.
        const tooLarge = yield* rawConnect(server.port)
        yield* tooLarge.write(getRequest("y".repeat(5 * 1024)))
        const frame = yield* readFailureFrame(tooLarge.reader).pipe(bounded("5 seconds", "waiting for TOO_LARGE"))
        expect(frame).toMatchObject({ status: Codec.Status.TooLarge, kind: 0 })
        expect(yield* tooLarge.reader.atEnd.pipe(bounded("5 seconds", "waiting for the close"))).toBe(true)

        const dest = yield* tempDir("ferry-e2e-dest-")
        const ran = yield* runClient(["127.0.0.1", server.port, "ok.txt", dest, "-q"])
        expect(ran.code, ran.stderr).toBe(0)
        expect(yield* sha256File(path.join(dest, "ok.txt"))).toBe(sha256)

        // Every name above was logged before ok.txt was: the log has them all, none raw.
        const log = yield* server.waitForStderr((log) => log.includes("GET ok.txt") ? log : undefined).pipe(
          bounded("10 seconds", "waiting for the log line of ok.txt")
        )
        for (const line of log.trimEnd().split("\n")) {
          expect(line, `a control character in the server's log: ${JSON.stringify(line)}`).not.toMatch(RAW_CONTROL)
        }
      })
  )
})

describe("hostile names at the client", () => {
  it.scopedLive.each(C0_ESCAPES.map((name) => [shown(name), name]))(
    "the client given the name %s exits 2 and prints it escaped",
    ([, name]) =>
      Effect.gen(function*() {
        const dest = yield* tempDir("ferry-e2e-dest-")
        // Refused before connecting: nothing listens on port 1.
        const ran = yield* runClient(["127.0.0.1", 1, name!, dest])
        expect(ran.code, ran.stderr).toBe(2)
        expectOneLine(ran.stderr)
        expect(ran.stderr.trimEnd()).not.toMatch(RAW_CONTROL)
        expect(ran.stdout).toBe("")
        expect(yield* listDir(dest)).toEqual([])
      })
  )

  it.scopedLive("the client given a name with C1 controls asks for it, and shows it escaped when it is not found", () =>
    Effect.gen(function*() {
      const server = yield* startServer(yield* tempDir())
      for (const name of C1_ESCAPES) {
        const dest = yield* tempDir("ferry-e2e-dest-")
        const ran = yield* runClient(["127.0.0.1", server.port, name, dest])
        expect(ran.code, ran.stderr).toBe(3)
        expectOneLine(ran.stderr)
        expect(ran.stderr.trimEnd()).not.toMatch(RAW_CONTROL)
        expect(ran.stderr).toContain(`\\u{${name.codePointAt(0)!.toString(16)}}`)
        expect(yield* listDir(dest)).toEqual([])
      }
    }))

  const hostileListing = Codec.encodeListing(ESCAPES.map((name, i) => ({ name, size: 1000 * (i + 1) })))
  const text = (message: string) => Buffer.from(message)

  it.scopedLive.each([
    {
      what: "a listing of hostile names",
      args: ["list"],
      answer: (socket: Net.Socket) => socket.end(hostileListing),
      code: 0
    },
    {
      what: "a listing of hostile names, as JSON",
      args: ["list", "--json"],
      answer: (socket: Net.Socket) => socket.end(hostileListing),
      code: 0
    },
    {
      what: "statistics with hostile names",
      args: ["stats"],
      answer: (socket: Net.Socket) =>
        socket.end(Codec.encodeStats(Object.fromEntries(ESCAPES.map((name) => [name, 1])))),
      code: 0
    },
    {
      what: "statistics with hostile names, as JSON",
      args: ["stats", "--json"],
      answer: (socket: Net.Socket) =>
        socket.end(Codec.encodeStats(Object.fromEntries(ESCAPES.map((name) => [name, 1])))),
      code: 0
    },
    {
      what: "a NOT_FOUND whose message holds escape sequences",
      args: ["ok.txt", "DEST"],
      answer: (socket: Net.Socket) =>
        socket.end(Codec.encodeFailure(Codec.Kind.Get, Codec.Status.NotFound, `no such file: ${ESCAPES.join(" ")}`)),
      code: 3
    },
    {
      what: "a refusal whose message holds escape sequences",
      args: ["ok.txt", "DEST"],
      answer: (socket: Net.Socket) =>
        socket.end(Codec.encodeFailure(Codec.Kind.Get, Codec.Status.InternalError, `failed: ${ESCAPES.join(" ")}`)),
      code: 9
    },
    {
      what: "an aborted transfer whose message holds escape sequences",
      args: ["ok.txt", "DEST"],
      answer: (socket: Net.Socket) =>
        socket.end(Buffer.concat([
          Codec.encodeFileHead(10, "xxh3-128"),
          Codec.encodeSegmentHead(4),
          text("abcd"),
          Codec.encodeTrailer(
            Codec.Trailer.Aborted({ status: Codec.Status.InternalError, message: `aborted: ${ESCAPES.join(" ")}` })
          )
        ])),
      code: 9
    }
  ])("the client shows $what with every control character escaped", ({ answer, args, code }) =>
    Effect.gen(function*() {
      const { port } = yield* fakeServer(answer)
      const dest = yield* tempDir("ferry-e2e-dest-")
      const ran = yield* runClient(["127.0.0.1", port, ...args.map((arg) => arg === "DEST" ? dest : arg)])
      expect(ran.code, ran.stderr).toBe(code)
      for (const line of `${ran.stdout}${ran.stderr}`.trimEnd().split("\n")) {
        expect(line, `a control character in the client's output: ${JSON.stringify(line)}`).not.toMatch(RAW_CONTROL)
      }
      // Every name is shown: escaped as text, intact in JSON.
      if (args[0] === "list" || args[0] === "stats") {
        if (args[1] === "--json") {
          const parsed = JSON.parse(ran.stdout) as unknown
          const names = Array.isArray(parsed)
            ? parsed.map((entry: { name: string }) => entry.name)
            : Object.keys(parsed as object)
          expect([...names].sort()).toEqual([...ESCAPES].sort())
        } else {
          expect(ran.stdout.trimEnd().split("\n")).toHaveLength(ESCAPES.length)
          expect(ran.stdout).toContain("\\u{1b}[31mred")
          expect(ran.stdout).toContain("\\u{9b}31mcsi")
        }
      }
      expect(yield* listDir(dest)).toEqual([])
    }))
})
