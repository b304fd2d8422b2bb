/**
 * The built server's HTTP door (`--http`), through Node's own HTTP client and raw sockets: whole
 * files identical to their source (cached and streamed), a range, 304, HEAD, keep-alive, hostile
 * names answered 404 with the server still serving, HTTPS with the native port's certificate, and a
 * door that cannot listen named in one line with exit code 4.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { createHash } from "node:crypto"
import * as Http from "node:http"
import * as Https from "node:https"
import * as Net from "node:net"
import * as path from "node:path"
import * as Certificates from "../support/certificates.js"
import {
  bounded,
  expectOneLine,
  HOST,
  httpPort,
  MiB,
  occupiedPort,
  runClient,
  runServer,
  sha256,
  startServer,
  tempDir,
  writeRandomFile
} from "./harness.js"

interface Answer {
  readonly status: number
  readonly headers: Http.IncomingHttpHeaders
  readonly body: Buffer
  /** The client's port: the same for two requests on one kept-alive connection. */
  readonly localPort: number | undefined
}

const request = (
  port: number,
  target: string,
  options: { method?: string; headers?: Http.OutgoingHttpHeaders; agent?: Http.Agent; tls?: string } = {}
): Effect.Effect<Answer> =>
  Effect.async<Answer>((resume) => {
    const sent = (options.tls === undefined ? Http : Https).request({
      host: HOST,
      port,
      path: target,
      method: options.method ?? "GET",
      headers: options.headers ?? {},
      agent: options.agent ?? false,
      ...(options.tls === undefined ? {} : { ca: options.tls })
    }, (response) => {
      const chunks: Array<Buffer> = []
      response.on("data", (chunk: Buffer) => chunks.push(chunk))
      response.on("end", () =>
        resume(Effect.succeed({
          status: response.statusCode ?? 0,
          headers: response.headers,
          body: Buffer.concat(chunks),
          localPort: response.socket?.localPort
        })))
    })
    sent.on("error", (error) => resume(Effect.die(error)))
    sent.end()
    return Effect.sync(() => sent.destroy())
  }).pipe(bounded("20 seconds", `${options.method ?? "GET"} ${target}`))

/** A request sent byte for byte as given (no client rewrites the target), and the status it gets. */
const rawStatus = (port: number, target: string): Effect.Effect<number> =>
  Effect.async<number>((resume) => {
    const socket = Net.createConnection({ host: HOST, port })
    let received = ""
    socket.setEncoding("latin1")
    socket.on("data", (text: string) => {
      received += text
      const status = /^HTTP\/1\.1 (\d{3}) /.exec(received)
      if (status !== null && received.includes("\r\n\r\n")) {
        socket.destroy()
        resume(Effect.succeed(Number(status[1])))
      }
    })
    socket.on("error", (error) => resume(Effect.die(error)))
    socket.write(`GET ${target} HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n`, "latin1")
    return Effect.sync(() => socket.destroy())
  }).pipe(bounded("10 seconds", `raw GET ${target}`))

/** The HTTP door's port, from the server's line saying where it listens. */

const HOSTILE = [
  "/%2e%2e/%2e%2e/etc/passwd",
  "/..%2f..%2fetc%2fpasswd",
  "/a%2fb",
  "/small.bin%00",
  "/%c0%ae%c0%ae/etc/passwd",
  "/%zz",
  "/..\\..\\etc\\passwd",
  "//etc/passwd",
  "/../small.bin",
  "http://evil.example/../../etc/passwd"
]

describe("--http", () => {
  it.scopedLive("serves files whole, by range, 304 and HEAD, over kept-alive connections", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const small = yield* writeRandomFile(path.join(dir, "small.bin"), 100_000)
      const big = yield* writeRandomFile(path.join(dir, "sub dir", "big.bin"), 3 * MiB)
      const server = yield* startServer(dir, ["--http", `${HOST}:0`, "--cache-size", "1MiB"])
      const port = httpPort(server)
      const agent = new Http.Agent({ keepAlive: true, maxSockets: 1 })
      yield* Effect.addFinalizer(() => Effect.sync(() => agent.destroy()))

      const whole = yield* request(port, "/small.bin", { agent })
      expect(whole.status).toBe(200)
      expect(sha256(whole.body)).toBe(small)
      expect(whole.headers["content-length"]).toBe("100000")
      const again = yield* request(port, "/small.bin", { agent })
      expect(again.localPort, "a second request on the same connection").toBe(whole.localPort)

      // Larger than the cache: streamed, whole and from the middle.
      const streamed = yield* request(port, "/sub%20dir/big.bin", { agent })
      expect(sha256(streamed.body)).toBe(big)
      const range = yield* request(port, "/sub%20dir/big.bin", { agent, headers: { range: "bytes=2097152-2097161" } })
      expect(range.status).toBe(206)
      expect(range.headers["content-range"]).toBe(`bytes 2097152-2097161/${3 * MiB}`)
      expect(range.body.equals(streamed.body.subarray(2097152, 2097162))).toBe(true)

      const etag = whole.headers.etag!
      const notModified = yield* request(port, "/small.bin", { agent, headers: { "if-none-match": etag } })
      expect(notModified.status).toBe(304)
      expect(notModified.body.length).toBe(0)
      const head = yield* request(port, "/small.bin", { agent, method: "HEAD" })
      expect(head.status).toBe(200)
      expect(head.headers["content-length"]).toBe("100000")
      expect(head.headers.etag).toBe(etag)
      expect(head.body.length).toBe(0)

      const listing = yield* request(port, "/", { agent, headers: { accept: "application/json" } })
      expect(JSON.parse(listing.body.toString()).map((entry: { name: string }) => entry.name))
        .toEqual(["small.bin", "sub dir"])

      // Logged as the native port's requests are, saying the door.
      yield* server.waitForStderr((log) => /GET \/small\.bin .*door=http/.test(log) || undefined).pipe(
        Effect.orDie,
        bounded("10 seconds", "waiting for the request's log line")
      )
    }))

  it.scopedLive("answers every hostile name 404, as a missing file, and keeps serving", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      yield* writeRandomFile(path.join(dir, "small.bin"), 1000)
      const server = yield* startServer(dir, ["--http", `${HOST}:0`])
      const port = httpPort(server)
      expect(yield* rawStatus(port, "/missing.bin")).toBe(404)
      for (const target of HOSTILE) expect(yield* rawStatus(port, target), target).toBe(404)
      expect(yield* rawStatus(port, "/small.bin?x=1")).toBe(200)
      expect(yield* rawStatus(port, "/small.bin")).toBe(200)
    }))

  it.scopedLive("speaks HTTPS with the native port's certificate", () =>
    Effect.gen(function*() {
      const certificates = yield* Certificates.make
      const dir = yield* tempDir()
      const small = yield* writeRandomFile(path.join(dir, "small.bin"), 10_000)
      const server = yield* startServer(dir, [
        "--http",
        `${HOST}:0`,
        "--tls-cert",
        certificates.server.certFile,
        "--tls-key",
        certificates.server.keyFile
      ])
      const got = yield* request(httpPort(server), "/small.bin", { tls: certificates.ca.cert })
      expect(got.status).toBe(200)
      expect(sha256(got.body)).toBe(small)
    }))

  it.scopedLive("drops a client that stops reading after --stall-timeout, logs it and counts it; serves the next", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      yield* writeRandomFile(path.join(dir, "big.bin"), 48 * MiB)
      const { server } = yield* startServer(dir, ["--http", `${HOST}:0`, "--stall-timeout", "1 second"]).pipe(
        Effect.map((server) => ({ server }))
      )
      const port = httpPort(server)
      // Loaded into the cache first, so that the stalled response is one from memory, sent in one write.
      expect((yield* request(port, "/big.bin")).body.length).toBe(48 * MiB)
      const socket = yield* Effect.acquireRelease(
        Effect.sync(() => Net.createConnection({ host: HOST, port })),
        (socket) => Effect.sync(() => socket.destroy())
      )
      socket.on("error", () => {})
      // Asks and never reads: the socket stays paused.
      socket.pause()
      socket.write("GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
      // The client would see the end only after reading what the kernel holds for it: the log says it.
      const log = yield* server.waitForStderr((log) =>
        /GET \/big\.bin .*status=200 .*unfinished="the client stopped reading"/.test(log) ? log : undefined
      ).pipe(bounded("20 seconds", "the stalled request's log line"))
      expect(log).toMatch(/GET \/big\.bin .*cache=hit .*unfinished/)
      expect((yield* request(port, "/big.bin", { method: "HEAD" })).status).toBe(200)
      const stats = yield* runClient([HOST, server.port, "stats"])
      expect(stats.stdout).toMatch(/^stalls\s+1$/m)
    }))

  it.scopedLive("--max-connections-per-client 1: a second connection from the address is answered 503, logged and counted", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      yield* writeRandomFile(path.join(dir, "small.bin"), 1000)
      const server = yield* startServer(dir, ["--http", `${HOST}:0`, "--max-connections-per-client", "1"])
      const port = httpPort(server)
      const agent = new Http.Agent({ keepAlive: true, maxSockets: 1 })
      yield* Effect.addFinalizer(() => Effect.sync(() => agent.destroy()))
      const first = yield* request(port, "/small.bin", { agent })
      expect(first.status).toBe(200)
      // The kept-alive connection holds the address's only slot: a connection of its own is turned away.
      const second = yield* request(port, "/small.bin")
      expect(second.status).toBe(503)
      expect(second.body.toString()).toBe("server busy: too many connections from this address, try again later\n")
      yield* server.waitForStderr((log) =>
        /WARN .*http: too many connections from this address: turned away/.test(log) ? log : undefined
      ).pipe(bounded("10 seconds", "the turned-away connection's log line"))
      // The first is served on, on the same connection.
      const again = yield* request(port, "/small.bin", { agent })
      expect(again.status).toBe(200)
      expect(again.localPort).toBe(first.localPort)
      const stats = yield* runClient([HOST, server.port, "stats"])
      expect(stats.stdout).toMatch(/^turnedAway\s+1$/m)
    }))

  it.scopedLive("on SIGTERM lets a cached response being read finish, then exits 0", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      const sha = yield* writeRandomFile(path.join(dir, "big.bin"), 32 * MiB)
      const server = yield* startServer(dir, ["--http", `${HOST}:0`])
      const port = httpPort(server)
      // Cached first: the response in flight is one the door answers at once, from memory.
      expect((yield* request(port, "/big.bin")).body.length).toBe(32 * MiB)
      const socket = yield* Effect.acquireRelease(
        Effect.sync(() => Net.createConnection({ host: HOST, port })),
        (socket) => Effect.sync(() => socket.destroy())
      )
      socket.on("error", () => {})
      const received: Array<Buffer> = []
      // The first bytes of the answer, then nothing read until the drain has begun.
      const started = Effect.async<void>((resume) =>
        void socket.once("data", () => {
          socket.pause()
          resume(Effect.void)
        })
      )
      socket.on("data", (chunk: Buffer) => received.push(chunk))
      socket.write("GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
      yield* started.pipe(bounded("10 seconds", "the first bytes of the answer"))
      server.process.kill("SIGTERM")
      yield* server.waitForStderr((log) => /http: shutting down: waiting for 1 response/.test(log) || undefined).pipe(
        Effect.orDie,
        bounded("10 seconds", "the door waiting for the response in flight")
      )
      const closed = Effect.async<void>((resume) => void socket.once("close", () => resume(Effect.void)))
      socket.resume()
      yield* closed.pipe(bounded("20 seconds", "the response read to its end"))
      const whole = Buffer.concat(received)
      const body = whole.subarray(whole.indexOf("\r\n\r\n") + 4)
      expect(body.length).toBe(32 * MiB)
      expect(createHash("sha256").update(body).digest("hex")).toBe(sha)
      expect(yield* server.exited.pipe(bounded("20 seconds", "the server exiting"))).toEqual({ code: 0, signal: null })
    }))

  it.scopedLive("exits 4 with one line naming --http when the door cannot listen", () =>
    Effect.gen(function*() {
      const taken = yield* occupiedPort
      const ran = yield* runServer([HOST, 0, yield* tempDir(), "--http", `${HOST}:${taken}`])
      expect(ran.code).toBe(4)
      expectOneLine(ran.stderr)
      expect(ran.stderr).toContain(`--http ${HOST}:${taken} is already in use`)
    }))
})
