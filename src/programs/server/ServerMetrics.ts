/**
 * The server's counters, as Effect metrics tagged with their server instance (so that several
 * servers in one process, as in tests, keep their own), and the snapshot a `stats` request returns.
 * The metrics are named as Prometheus names them, for `/metrics` (see exposition.ts).
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricKey from "effect/MetricKey"
import type * as MetricKeyType from "effect/MetricKeyType"
import * as MetricLabel from "effect/MetricLabel"
import { Cache } from "../../services/Cache.js"
import { FileStore } from "../../services/FileStore.js"
import { LockManager } from "../../services/LockManager.js"
import { Slices } from "./Slices.js"
import { StreamBuffers } from "./StreamBuffers.js"

/** Counted per door: the native port's requests apart from the HTTP door's. */
const requestCounters = {
  requests: "requests answered, whatever their status",
  hits: "files sent from the cache",
  misses: "files not in the cache: loaded into it, streamed, or read through it in slices",
  loads: "files read from disk into the cache",
  streamed: "files streamed from disk, uncached",
  failures: "requests answered with a failure status",
  bytesServed: "file bytes sent"
} as const

const connectionCounters = {
  connections: "connections accepted",
  turnedAway: "connections answered BUSY (503 over HTTP)",
  timeouts: "connections closed for not sending a whole request in time",
  stalls: "connections dropped for not reading"
} as const

export type RequestCounterName = keyof typeof requestCounters
export type ConnectionCounterName = keyof typeof connectionCounters
export type CounterName = RequestCounterName | ConnectionCounterName

/** Which door a request came in by: the native protocol's port, or the HTTP door. */
export type Door = "ferry" | "http"
export const DOORS: ReadonlyArray<Door> = ["ferry", "http"]

/** How a request's file was had, or "none" for a request that sent none. */
export type CacheResult = "hit" | "miss" | "bypass" | "slice" | "none"

/** A request's duration and the bytes it sent, for one status and cache result. */
export interface RequestHistograms {
  readonly seconds: Metric.Metric.Histogram<number>
  readonly bytes: Metric.Metric.Histogram<number>
}

export class ServerMetrics extends Context.Tag("ferry/ServerMetrics")<ServerMetrics, {
  readonly counters: { readonly [K in ConnectionCounterName]: Metric.Metric.Counter<number> }
  readonly requestCounters: {
    readonly [D in Door]: { readonly [K in RequestCounterName]: Metric.Metric.Counter<number> }
  }
  readonly activeConnections: Metric.Metric.Gauge<number>
  readonly histograms: (status: string, cache: CacheResult, door: Door) => RequestHistograms
  /** The tag that tells this server's metrics from another's in the same process. */
  readonly tag: MetricLabel.MetricLabel
  readonly startedAt: number
}>() {}

// From half a millisecond (a small cached file) to a minute, and from a KiB to 4 GiB.
const durations = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
const SECONDS = MetricBoundaries.fromIterable(durations)
const BYTES = MetricBoundaries.exponential({ start: 1024, factor: 4, count: 13 })

/** `bytesServed` as Prometheus would name it: `ferry_bytes_served_total`. */
const counterName = (name: string) => `ferry_${name.replace(/[A-Z]/g, (upper) => `_${upper.toLowerCase()}`)}_total`

let instances = 0

export const make = Effect.gen(function*() {
  const tag = MetricLabel.make("server", String(++instances))
  // Tagged in the key, not with `Metric.tagged`: that looks its tags up in the registry on every update.
  const tagged = <T extends MetricKeyType.MetricKeyType<any, any>>(
    key: MetricKey.MetricKey<T>,
    ...labels: ReadonlyArray<MetricLabel.MetricLabel>
  ) => Metric.fromMetricKey(MetricKey.taggedWithLabels(key, [tag, ...labels]))
  const countersOf = <K extends string>(
    descriptions: Readonly<Record<K, string>>,
    ...labels: ReadonlyArray<MetricLabel.MetricLabel>
  ) =>
    Object.fromEntries(
      Object.entries<string>(descriptions).map((
        [name, description]
      ) => [name, tagged(MetricKey.counter(counterName(name), { description }), ...labels)])
    ) as { readonly [N in K]: Metric.Metric.Counter<number> }
  const doorLabel = (door: Door) => MetricLabel.make("protocol", door)
  // One pair per status, cache result and door met, made when first met.
  const byOutcome = new Map<string, RequestHistograms>()
  const histograms = (status: string, cache: CacheResult, door: Door) => {
    const id = `${status} ${cache} ${door}`
    let found = byOutcome.get(id)
    if (found === undefined) {
      const labels = [MetricLabel.make("status", status), MetricLabel.make("cache", cache), doorLabel(door)]
      found = {
        seconds: tagged(
          MetricKey.histogram("ferry_request_duration_seconds", SECONDS, "time to answer a request"),
          ...labels
        ),
        bytes: tagged(MetricKey.histogram("ferry_response_bytes", BYTES, "file bytes sent per request"), ...labels)
      }
      byOutcome.set(id, found)
    }
    return found
  }
  return ServerMetrics.of({
    counters: countersOf(connectionCounters),
    requestCounters: {
      ferry: countersOf(requestCounters, doorLabel("ferry")),
      http: countersOf(requestCounters, doorLabel("http"))
    },
    activeConnections: tagged(MetricKey.gauge("ferry_active_connections", { description: "connections open now" })),
    histograms,
    tag,
    startedAt: yield* Clock.currentTimeMillis
  })
})

/** Adds one to a connection's counter (or `amount`). */
export const count = (name: ConnectionCounterName, amount = 1) =>
  Effect.flatMap(ServerMetrics, (metrics) => Metric.incrementBy(metrics.counters[name], amount))

/** Adds one to a request's counter (or `amount`), for the door it came in by. */
export const countRequest = (door: Door, name: RequestCounterName, amount = 1) =>
  Effect.flatMap(ServerMetrics, (metrics) => Metric.incrementBy(metrics.requestCounters[door][name], amount))

/** What one answered request adds to the counters and histograms. */
export interface RequestOutcome {
  readonly status: string
  readonly failed: boolean
  readonly cache: CacheResult
  readonly seconds: number
  /** File bytes the response sent, for the histogram. */
  readonly bytes: number
  /** Bytes to add to `bytesServed` now: the door that counts them as they are sent adds none here. */
  readonly served: number
}

/** Records one answered request in `metrics`, in one synchronous step: the hot path of a hit. */
export const recordRequestIn = (metrics: ServerMetrics["Type"], door: Door, outcome: RequestOutcome): void => {
  const counters = metrics.requestCounters[door]
  counters.requests.unsafeUpdate(1, [])
  if (outcome.failed) counters.failures.unsafeUpdate(1, [])
  if (outcome.served > 0) counters.bytesServed.unsafeUpdate(outcome.served, [])
  const histograms = metrics.histograms(outcome.status, outcome.cache, door)
  histograms.seconds.unsafeUpdate(outcome.seconds, [])
  histograms.bytes.unsafeUpdate(outcome.bytes, [])
}

/** The counters and histograms of one answered request, updated in one step. */
export const recordRequest = (door: Door, outcome: RequestOutcome) =>
  Effect.flatMap(ServerMetrics, (metrics) => Effect.sync(() => recordRequestIn(metrics, door, outcome)))

/** Everything `stats` reports: the counters, and the state of the cache, the locks and the files. */
export const snapshot = Effect.gen(function*() {
  const metrics = yield* ServerMetrics
  const cache = yield* Cache
  const locks = yield* LockManager
  const files = yield* FileStore
  const buffers = yield* StreamBuffers
  const values: Record<string, number> = {}
  for (const [name, counter] of Object.entries(metrics.counters)) values[name] = (yield* Metric.value(counter)).count
  // Both doors together: `stats` speaks for the whole server.
  for (const door of DOORS) {
    for (const [name, counter] of Object.entries(metrics.requestCounters[door])) {
      values[name] = (values[name] ?? 0) + (yield* Metric.value(counter)).count
    }
  }
  const cacheStats = yield* cache.stats
  const slices = yield* Effect.serviceOption(Slices)
  const sliceCounts = slices._tag === "Some" ? yield* slices.value.counts : { sliceLoads: 0, sliceHits: 0 }
  return {
    uptimeSeconds: Math.round(((yield* Clock.currentTimeMillis) - metrics.startedAt) / 100) / 10,
    activeConnections: (yield* Metric.value(metrics.activeConnections)).value,
    ...values,
    evictions: cacheStats.evictions,
    entries: cacheStats.entries,
    sliceEntries: cacheStats.slices,
    ...sliceCounts,
    usedBytes: cacheStats.used,
    capacityBytes: cacheStats.capacity,
    pinnedEntries: cacheStats.pinned,
    locksHeld: yield* locks.held,
    openFiles: yield* files.openHandles,
    streamBuffersHeld: yield* buffers.held
  } satisfies Record<string, number>
})
