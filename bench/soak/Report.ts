/** The soak's summary, as text: what was asked and how it went, memory over time, and the checks. */
import { formatBytes } from "../../src/format/ByteSize.js"
import type { TallySnapshot } from "./Tally.js"

export interface RssSample {
  /** Seconds since the workers started. */
  readonly at: number
  readonly bytes: number
}

export interface Check {
  readonly what: string
  readonly ok: boolean
  readonly detail: string
}

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? 0
}

const clock = (seconds: number): string =>
  `${Math.floor(seconds / 60)}:${String(Math.floor(seconds % 60)).padStart(2, "0")}`

const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(0)} MiB`

export const rssSummary = (samples: ReadonlyArray<RssSample>) => {
  const values = samples.map((sample) => sample.bytes)
  return {
    min: Math.min(...values),
    median: median(values),
    peak: Math.max(...values)
  }
}

/** One line per bucket: min, median and peak, and a bar for the peak, so that a flat profile shows. */
export const rssOverTime = (samples: ReadonlyArray<RssSample>, bucketSeconds: number): Array<string> => {
  if (samples.length === 0) return ["  (no samples)"]
  const peak = Math.max(...samples.map((sample) => sample.bytes))
  const buckets = new Map<number, Array<number>>()
  for (const sample of samples) {
    const bucket = Math.floor(sample.at / bucketSeconds)
    buckets.set(bucket, [...(buckets.get(bucket) ?? []), sample.bytes])
  }
  return [...buckets].sort(([a], [b]) => a - b).map(([bucket, values]) => {
    const top = Math.max(...values)
    const bar = "#".repeat(Math.max(1, Math.round((top / peak) * 40)))
    const from = clock(bucket * bucketSeconds)
    const to = clock((bucket + 1) * bucketSeconds)
    return `  ${from}-${to}  min ${mib(Math.min(...values)).padStart(8)}  median ${mib(median(values)).padStart(8)}  ` +
      `peak ${mib(top).padStart(8)}  ${bar}`
  })
}

export const outcomesTable = (tally: TallySnapshot): Array<string> => {
  const rows: Array<[string, string, string]> = []
  for (const [kind, byOutcome] of [...tally.outcomes].sort(([a], [b]) => a.localeCompare(b))) {
    for (const [outcome, count] of [...byOutcome].sort(([a], [b]) => a.localeCompare(b))) {
      rows.push([kind, outcome, String(count)])
    }
  }
  const kindWidth = Math.max(4, ...rows.map(([kind]) => kind.length))
  const outcomeWidth = Math.max(7, ...rows.map(([, outcome]) => outcome.length))
  return [
    `  ${"kind".padEnd(kindWidth)}  ${"outcome".padEnd(outcomeWidth)}  count`,
    ...rows.map(([kind, outcome, count]) =>
      `  ${kind.padEnd(kindWidth)}  ${outcome.padEnd(outcomeWidth)}  ${count.padStart(5)}`
    ),
    `  ${"total".padEnd(kindWidth)}  ${"".padEnd(outcomeWidth)}  ${String(tally.requests).padStart(5)}`
  ]
}

export const bytes = (count: number): string => `${formatBytes(count)} (${count})`

export const checks = (list: ReadonlyArray<Check>): Array<string> =>
  list.map((check) => `  [${check.ok ? "ok" : "FAIL"}] ${check.what}: ${check.detail}`)

const percentile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0

/** One line per kind of wait: how many, and the median, 90th, 99th percentile and worst, in ms. */
export const latencies = (tally: TallySnapshot): Array<string> =>
  [...tally.latencies].map(([what, list]) => {
    const sorted = [...list].sort((a, b) => a - b)
    return `  ${what}: ${sorted.length}; median ${percentile(sorted, 50)} ms, p90 ${percentile(sorted, 90)} ms, ` +
      `p99 ${percentile(sorted, 99)} ms, worst ${sorted.at(-1) ?? 0} ms`
  })
