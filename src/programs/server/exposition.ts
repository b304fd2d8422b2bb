/**
 * What `/metrics` shows: this server's Effect metrics (its counters, open connections, request
 * histograms) and beside them the state `stats` reports, in Prometheus's text format.
 */
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Prometheus from "../../format/Prometheus.js"
import { ServerMetrics, snapshot } from "./ServerMetrics.js"

interface State {
  readonly stat: keyof Effect.Effect.Success<typeof snapshot>
  readonly name: string
  readonly type: "counter" | "gauge"
  readonly help: string
}

/** What `stats` reports that is not an Effect metric, by its Prometheus name. */
const STATE: ReadonlyArray<State> = [
  { stat: "evictions", name: "ferry_cache_evictions_total", type: "counter", help: "files evicted from the cache" },
  { stat: "entries", name: "ferry_cache_entries", type: "gauge", help: "files and slices in the cache" },
  {
    stat: "sliceEntries",
    name: "ferry_cache_slice_entries",
    type: "gauge",
    help: "slices of files larger than the cache, in the cache"
  },
  {
    stat: "sliceLoads",
    name: "ferry_slice_loads_total",
    type: "counter",
    help: "slices of files larger than the cache read from disk into it"
  },
  {
    stat: "sliceHits",
    name: "ferry_slice_hits_total",
    type: "counter",
    help: "slices of files larger than the cache sent from it"
  },
  {
    stat: "usedBytes",
    name: "ferry_cache_used_bytes",
    type: "gauge",
    help: "bytes the cache holds, entries being loaded and dropped ones still being sent included"
  },
  { stat: "capacityBytes", name: "ferry_cache_capacity_bytes", type: "gauge", help: "bytes the cache may hold" },
  { stat: "pinnedEntries", name: "ferry_cache_pinned_entries", type: "gauge", help: "entries being sent or loaded" },
  { stat: "locksHeld", name: "ferry_locks_held", type: "gauge", help: "file locks held" },
  { stat: "openFiles", name: "ferry_open_files", type: "gauge", help: "files open for reading" },
  {
    stat: "streamBuffersHeld",
    name: "ferry_stream_buffers_held_bytes",
    type: "gauge",
    help: "bytes of streamed files read and not yet sent"
  }
]

export const exposition = Effect.gen(function*() {
  const metrics = yield* ServerMetrics
  const stats = yield* snapshot
  const ours = (yield* Metric.snapshot).filter((pair) =>
    pair.metricKey.tags.some((tag) => tag.key === metrics.tag.key && tag.value === metrics.tag.value)
  )
  return Prometheus.render([
    ...Prometheus.fromSnapshot(ours, [metrics.tag.key]),
    ...STATE.map(({ help, name, stat, type }): Prometheus.Family => ({
      name,
      type,
      help,
      samples: [{ labels: [], value: stats[stat] }]
    })),
    {
      name: "ferry_start_time_seconds",
      type: "gauge",
      help: "when the server started, in seconds since the Unix epoch",
      samples: [{ labels: [], value: metrics.startedAt / 1000 }]
    }
  ])
})
