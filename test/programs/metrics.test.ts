/**
 * What the server hands its metrics listener, on in-memory layers: the exposition, with each
 * request in the histograms by its status, cache result and (TestClock) duration, and readiness
 * that ends when shutdown begins.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import { MemoryFiles } from "../../src/layers/MemoryFileStore.js"
import * as MemoryMetricsServer from "../../src/layers/MemoryMetricsServer.js"
import * as Codec from "../../src/protocol/Codec.js"
import { pattern } from "../support/responses.js"
import {
  connect,
  eventually,
  expectComplete,
  expectFailure,
  get,
  list,
  startServer,
  world
} from "../support/serverWorld.js"

const patient = { requestTimeout: "1 hour", gracePeriod: "1 hour" } as const

/** Each sample's value by its name and labels. */
const samples = (exposition: string) =>
  new Map(
    exposition.split("\n").filter((line) => line !== "" && !line.startsWith("#")).map((line) => {
      const at = line.lastIndexOf(" ")
      return [line.slice(0, at), Number(line.slice(at + 1))] as const
    })
  )

const probesOnceServing = Effect.flatMap(
  MemoryMetricsServer.MetricsScraper,
  (scraper) => eventually(scraper.probes, Option.isSome).pipe(Effect.map(Option.getOrThrow))
)

describe("metrics", () => {
  it.scoped("shows each request in the histograms by status, cache result and duration", () =>
    Effect.gen(function*() {
      const files = yield* MemoryFiles
      const content = pattern(3_000, 1)
      yield* files.put("a", content)
      yield* startServer(patient)
      const probes = yield* probesOnceServing

      const client = yield* connect
      // The miss takes 2 seconds: its read is held while the clock moves.
      const gate = yield* files.hold("a")
      const miss = yield* Effect.fork(get(client, "a"))
      yield* gate.awaitWaiting(1)
      yield* TestClock.adjust("2 seconds")
      yield* gate.open
      expectComplete(yield* Fiber.join(miss), content)
      expectComplete(yield* get(client, "a"), content)
      expectFailure(yield* get(client, "missing"), Codec.Status.NotFound)
      // Answered on the same connection, after the three have been counted.
      yield* list(client)

      const shown = samples(yield* probes.metrics)
      expect(Object.fromEntries(shown)).toMatchObject({
        "ferry_hits_total{protocol=\"ferry\"}": 1,
        "ferry_misses_total{protocol=\"ferry\"}": 1,
        "ferry_failures_total{protocol=\"ferry\"}": 1,
        "ferry_bytes_served_total{protocol=\"ferry\"}": 6_000,
        ferry_cache_entries: 1,
        ferry_cache_used_bytes: 3_000,
        ferry_cache_capacity_bytes: 10_000,
        ferry_active_connections: 1,
        "ferry_request_duration_seconds_bucket{status=\"Ok\",cache=\"miss\",protocol=\"ferry\",le=\"1\"}": 0,
        "ferry_request_duration_seconds_bucket{status=\"Ok\",cache=\"miss\",protocol=\"ferry\",le=\"2.5\"}": 1,
        "ferry_request_duration_seconds_sum{status=\"Ok\",cache=\"miss\",protocol=\"ferry\"}": 2,
        "ferry_request_duration_seconds_bucket{status=\"Ok\",cache=\"hit\",protocol=\"ferry\",le=\"0.0005\"}": 1,
        "ferry_request_duration_seconds_count{status=\"NotFound\",cache=\"none\",protocol=\"ferry\"}": 1,
        "ferry_response_bytes_bucket{status=\"Ok\",cache=\"hit\",protocol=\"ferry\",le=\"1024\"}": 0,
        "ferry_response_bytes_bucket{status=\"Ok\",cache=\"hit\",protocol=\"ferry\",le=\"4096\"}": 1,
        "ferry_response_bytes_sum{status=\"Ok\",cache=\"hit\",protocol=\"ferry\"}": 3_000,
        "ferry_response_bytes_sum{status=\"NotFound\",cache=\"none\",protocol=\"ferry\"}": 0
      })
      // Another server's metrics, or a label telling servers apart, are not shown.
      expect([...shown.keys()].filter((key) => key.includes("server="))).toEqual([])
    }).pipe(Effect.provide(Layer.merge(world(10_000), MemoryMetricsServer.layer))))

  it.scoped("is ready while serving, not once shutdown begins, and hands nothing over once stopped", () =>
    Effect.gen(function*() {
      const files = yield* MemoryFiles
      const scraper = yield* MemoryMetricsServer.MetricsScraper
      yield* files.put("a", pattern(1_000, 2))
      expect(yield* scraper.probes).toEqual(Option.none())
      const server = yield* startServer(patient)
      const probes = yield* probesOnceServing
      expect(yield* probes.ready).toBe(true)

      // A transfer in flight when shutdown begins: the server drains it.
      const client = yield* connect
      const gate = yield* files.hold("a")
      const answer = yield* Effect.fork(get(client, "a"))
      yield* gate.awaitWaiting(1)
      const stopping = yield* Effect.fork(Fiber.interrupt(server))
      expect(yield* eventually(probes.ready, (ready) => !ready)).toBe(false)
      // Still scraped while draining.
      expect(samples(yield* probes.metrics).get("ferry_active_connections")).toBe(1)

      yield* gate.open
      yield* Fiber.join(answer)
      yield* Fiber.join(stopping)
      expect(yield* scraper.probes).toEqual(Option.none())
    }).pipe(Effect.provide(Layer.merge(world(10_000), MemoryMetricsServer.layer))))
})
