/**
 * The metrics listener of the built server (`--metrics`): `/metrics` as Prometheus's own checker
 * takes it, moving as files are served; `/healthz`; `/readyz` turning 503 while the server drains.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { spawn } from "node:child_process"
import * as Http from "node:http"
import * as path from "node:path"
import * as Codec from "../../src/protocol/Codec.js"
import {
  bounded,
  HOST,
  isRefused,
  MiB,
  runClient,
  type Server,
  sha256File,
  startServer,
  tempDir,
  writeRandomFile
} from "./harness.js"
import { getRequest, rawConnect } from "./rawProtocol.js"

interface Answer {
  readonly status: number
  readonly headers: Http.IncomingHttpHeaders
  readonly body: string
}

/** One HTTP request to the metrics port, on a connection of its own. */
const request = (port: number, target: string, method = "GET"): Effect.Effect<Answer> =>
  Effect.async<Answer>((resume) => {
    const sent = Http.request({ host: HOST, port, path: target, method, agent: false }, (response) => {
      let body = ""
      response.setEncoding("utf8").on("data", (text: string) => body += text)
      response.on(
        "end",
        () => resume(Effect.succeed({ status: response.statusCode ?? 0, headers: response.headers, body }))
      )
    })
    sent.on("error", (error) => resume(Effect.die(error)))
    sent.end()
    return Effect.sync(() => sent.destroy())
  }).pipe(bounded("10 seconds", `${method} ${target}`))

/** The metrics port, from the server's line saying where it listens. */
const metricsPort = (server: Server): number => {
  const match = /listening on \S+ .*metrics=127\.0\.0\.1:(\d+)/.exec(server.stderr())
  expect(match, `no metrics address in the server's log:\n${server.stderr()}`).not.toBeNull()
  return Number(match![1])
}

const startWithMetrics = (dir: string, extraArgs: ReadonlyArray<string> = []) =>
  Effect.map(startServer(dir, ["--metrics", `${HOST}:0`, ...extraArgs]), (server) => ({
    server,
    metrics: metricsPort(server)
  }))

/** What `promtool check metrics` says of an exposition: nothing, and exit 0, if all is well. */
const promtool = (exposition: string) =>
  Effect.async<{ readonly code: number | null; readonly output: string }>((resume) => {
    const child = spawn("promtool", ["check", "metrics"], { stdio: ["pipe", "pipe", "pipe"] })
    let output = ""
    child.stdout.setEncoding("utf8").on("data", (text: string) => output += text)
    child.stderr.setEncoding("utf8").on("data", (text: string) => output += text)
    child.on("error", (error: NodeJS.ErrnoException) =>
      resume(Effect.dieMessage(
        error.code === "ENOENT"
          ? "promtool not found: `apt-get install -y prometheus` provides it (.ci/run installs it)"
          : error.message
      )))
    child.on("close", (code) => resume(Effect.succeed({ code, output })))
    child.stdin.end(exposition)
    return Effect.sync(() => child.kill("SIGKILL"))
  }).pipe(bounded("30 seconds", "promtool check metrics"))

/** Scrapes `/metrics`, checks it with promtool, and returns each sample's value by its name and labels. */
const scrape = (port: number) =>
  Effect.gen(function*() {
    const answer = yield* request(port, "/metrics")
    expect(answer.status).toBe(200)
    expect(answer.headers["content-type"]).toBe("text/plain; version=0.0.4; charset=utf-8")
    const checked = yield* promtool(answer.body)
    expect(checked, `promtool on:\n${answer.body}`).toEqual({ code: 0, output: "" })
    const samples = new Map<string, number>()
    for (const line of answer.body.split("\n")) {
      if (line === "" || line.startsWith("#")) continue
      const at = line.lastIndexOf(" ")
      samples.set(line.slice(0, at), Number(line.slice(at + 1)))
    }
    return samples
  })

describe("--metrics", () => {
  it.scopedLive("/metrics passes promtool, and its counters and histograms move as files are served", () =>
    Effect.gen(function*() {
      const SIZE = 10_000
      const dir = yield* tempDir()
      const sha256 = yield* writeRandomFile(path.join(dir, "known.bin"), SIZE)
      const { metrics, server } = yield* startWithMetrics(dir, ["--cache-size", "1MiB"])

      const before = yield* scrape(metrics)
      expect(Object.fromEntries(before)).toMatchObject({
        "ferry_requests_total{protocol=\"ferry\"}": 0,
        "ferry_hits_total{protocol=\"ferry\"}": 0,
        "ferry_misses_total{protocol=\"ferry\"}": 0,
        "ferry_bytes_served_total{protocol=\"ferry\"}": 0,
        ferry_cache_entries: 0,
        ferry_cache_used_bytes: 0,
        ferry_cache_capacity_bytes: MiB,
        ferry_active_connections: 0
      })
      expect(before.get("ferry_start_time_seconds")).toBeGreaterThan(0)

      // A miss, loaded into the cache, then a hit.
      for (let i = 0; i < 2; i++) {
        const dest = yield* tempDir("ferry-e2e-dest-")
        const ran = yield* runClient([HOST, server.port, "known.bin", dest, "-q"])
        expect(ran.code, ran.stderr).toBe(0)
        expect(yield* sha256File(path.join(dest, "known.bin"))).toBe(sha256)
      }
      const missing = yield* runClient([HOST, server.port, "missing.bin", yield* tempDir("ferry-e2e-dest-"), "-q"])
      expect(missing.code).not.toBe(0)

      // A request's line is logged once it is counted: all three are.
      yield* server.waitForStderr((log) =>
        log.match(/ GET known\.bin /g)?.length === 2 && log.includes(" GET missing.bin ") || undefined
      ).pipe(Effect.orDie, bounded("10 seconds", "waiting for the three requests' log lines"))
      const after = yield* scrape(metrics)
      expect(Object.fromEntries(after)).toMatchObject({
        "ferry_requests_total{protocol=\"ferry\"}": 3,
        "ferry_hits_total{protocol=\"ferry\"}": 1,
        "ferry_misses_total{protocol=\"ferry\"}": 1,
        "ferry_loads_total{protocol=\"ferry\"}": 1,
        "ferry_failures_total{protocol=\"ferry\"}": 1,
        "ferry_bytes_served_total{protocol=\"ferry\"}": 2 * SIZE,
        ferry_connections_total: 3,
        ferry_cache_entries: 1,
        ferry_cache_used_bytes: SIZE,
        ferry_cache_pinned_entries: 0,
        ferry_locks_held: 0,
        ferry_open_files: 0,
        "ferry_request_duration_seconds_count{status=\"Ok\",cache=\"miss\",protocol=\"ferry\"}": 1,
        "ferry_request_duration_seconds_count{status=\"Ok\",cache=\"hit\",protocol=\"ferry\"}": 1,
        "ferry_request_duration_seconds_count{status=\"NotFound\",cache=\"none\",protocol=\"ferry\"}": 1,
        "ferry_response_bytes_count{status=\"Ok\",cache=\"hit\",protocol=\"ferry\"}": 1,
        "ferry_response_bytes_sum{status=\"Ok\",cache=\"hit\",protocol=\"ferry\"}": SIZE,
        // 10,000 bytes: above the 4 KiB bucket, within the 16 KiB one.
        "ferry_response_bytes_bucket{status=\"Ok\",cache=\"hit\",protocol=\"ferry\",le=\"4096\"}": 0,
        "ferry_response_bytes_bucket{status=\"Ok\",cache=\"hit\",protocol=\"ferry\",le=\"16384\"}": 1,
        "ferry_response_bytes_bucket{status=\"Ok\",cache=\"hit\",protocol=\"ferry\",le=\"+Inf\"}": 1,
        "ferry_response_bytes_sum{status=\"NotFound\",cache=\"none\",protocol=\"ferry\"}": 0
      })
      expect(after.get("ferry_request_duration_seconds_sum{status=\"Ok\",cache=\"hit\",protocol=\"ferry\"}"))
        .toBeGreaterThan(0)
      expect(after.get("ferry_start_time_seconds")).toBe(before.get("ferry_start_time_seconds"))

      // HEAD: the same answer without its body.
      const head = yield* request(metrics, "/metrics", "HEAD")
      expect(head.status).toBe(200)
      expect(head.body).toBe("")
      expect(Number(head.headers["content-length"])).toBeGreaterThan(0)
    }))

  it.scopedLive("/healthz answers 200; other paths 404, other methods 405", () =>
    Effect.gen(function*() {
      const { metrics } = yield* startWithMetrics(yield* tempDir())
      expect(yield* request(metrics, "/healthz")).toMatchObject({ status: 200, body: "ok\n" })
      expect((yield* request(metrics, "/healthz", "HEAD")).status).toBe(200)
      expect((yield* request(metrics, "/readyz")).status).toBe(200)
      expect((yield* request(metrics, "/metrics?name[]=ferry_requests_total")).status).toBe(200)
      for (const target of ["/", "/metric", "/metrics/", "/healthz/x", "/favicon.ico"]) {
        expect((yield* request(metrics, target)).status, target).toBe(404)
      }
      for (const method of ["POST", "PUT", "DELETE"]) {
        const answer = yield* request(metrics, "/metrics", method)
        expect(answer.status, method).toBe(405)
        expect(answer.headers.allow).toBe("GET, HEAD")
      }
    }))

  it.scopedLive("/readyz turns 503 while a SIGTERM drains a transfer in flight, and the port closes at exit", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir()
      // Far more than the loopback socket buffers hold: unread, the transfer cannot end by itself.
      yield* writeRandomFile(path.join(dir, "big.bin"), 48 * MiB)
      const { metrics, server } = yield* startWithMetrics(dir, ["--cache-size", "1MiB", "--grace-period", "5 minutes"])
      expect(yield* request(metrics, "/readyz")).toMatchObject({ status: 200, body: "ready\n" })

      // A client that asks for the file, takes the head of the answer, then reads no more.
      const client = yield* rawConnect(server.port)
      yield* client.write(getRequest("big.bin"))
      expect(yield* Codec.readResponse(client.reader, Codec.Kind.Get)).toMatchObject({ _tag: "File" })

      server.process.kill("SIGTERM")
      // Logged once the server has stopped accepting: from then on it is not ready.
      yield* server.waitForStderr((log) => /shutting down: waiting for 1 connection/.test(log) || undefined).pipe(
        Effect.orDie,
        bounded("15 seconds", "waiting for the server to start draining")
      )
      expect(yield* request(metrics, "/readyz")).toMatchObject({ status: 503, body: "draining\n" })
      expect((yield* request(metrics, "/healthz")).status).toBe(200)
      // Still scraped while draining: the transfer in flight is there.
      const draining = yield* scrape(metrics)
      expect(draining.get("ferry_active_connections")).toBe(1)
      expect(draining.get("ferry_open_files")).toBe(1)

      client.socket.resetAndDestroy()
      const exited = yield* server.exited.pipe(bounded("15 seconds", "waiting for the server to exit"))
      expect(exited, server.stderr()).toMatchObject({ code: 0 })
      expect(yield* isRefused(metrics)).toBe(true)
    }))
})
