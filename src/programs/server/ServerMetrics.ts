/**
 * The server's counters, as Effect metrics tagged with their server instance (so that several
 * servers in one process, as in tests, keep their own), and the snapshot a `stats` request returns.
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricKey from "effect/MetricKey"
import type * as MetricKeyType from "effect/MetricKeyType"
import { Cache } from "../../services/Cache.js"
import { FileStore } from "../../services/FileStore.js"
import { LockManager } from "../../services/LockManager.js"
import { StreamBuffers } from "./StreamBuffers.js"

const counters = {
  requests: "requests answered, whatever their status",
  hits: "files sent from the cache",
  misses: "files not in the cache: loaded into it, or streamed",
  loads: "files read from disk into the cache",
  streamed: "files streamed from disk, uncached",
  failures: "requests answered with a failure status",
  bytesServed: "file bytes sent",
  connections: "connections accepted",
  turnedAway: "connections answered BUSY",
  timeouts: "connections closed for not sending a whole request in time",
  stalls: "connections dropped for not reading"
} as const

export type CounterName = keyof typeof counters

export class ServerMetrics extends Context.Tag("ferry/ServerMetrics")<ServerMetrics, {
  readonly counters: { readonly [K in CounterName]: Metric.Metric.Counter<number> }
  readonly activeConnections: Metric.Metric.Gauge<number>
  readonly startedAt: number
}>() {}

let instances = 0

export const make = Effect.gen(function*() {
  const server = String(++instances)
  // Tagged in the key, not with `Metric.tagged`: that looks its tags up in the registry on every update.
  const tagged = <T extends MetricKeyType.MetricKeyType<any, any>>(key: MetricKey.MetricKey<T>) =>
    Metric.fromMetricKey(MetricKey.tagged(key, "server", server))
  const made = Object.fromEntries(
    Object.entries(counters).map((
      [name, description]
    ) => [name, tagged(MetricKey.counter(`ferry_${name}`, { description }))])
  ) as ServerMetrics["Type"]["counters"]
  return ServerMetrics.of({
    counters: made,
    activeConnections: tagged(MetricKey.gauge("ferry_active_connections", { description: "connections open now" })),
    startedAt: yield* Clock.currentTimeMillis
  })
})

/** Adds one to a counter (or `amount`). */
export const count = (name: CounterName, amount = 1) =>
  Effect.flatMap(ServerMetrics, (metrics) => Metric.incrementBy(metrics.counters[name], amount))

/** Everything `stats` reports: the counters, and the state of the cache, the locks and the files. */
export const snapshot = Effect.gen(function*() {
  const metrics = yield* ServerMetrics
  const cache = yield* Cache
  const locks = yield* LockManager
  const files = yield* FileStore
  const buffers = yield* StreamBuffers
  const values: Record<string, number> = {}
  for (const [name, counter] of Object.entries(metrics.counters)) values[name] = (yield* Metric.value(counter)).count
  const cacheStats = yield* cache.stats
  return {
    uptimeSeconds: Math.round(((yield* Clock.currentTimeMillis) - metrics.startedAt) / 100) / 10,
    activeConnections: (yield* Metric.value(metrics.activeConnections)).value,
    ...values,
    evictions: cacheStats.evictions,
    entries: cacheStats.entries,
    usedBytes: cacheStats.used,
    capacityBytes: cacheStats.capacity,
    pinnedEntries: cacheStats.pinned,
    locksHeld: yield* locks.held,
    openFiles: yield* files.openHandles,
    streamBuffersHeld: yield* buffers.held
  } satisfies Record<string, number>
})
