/**
 * Prometheus's text exposition format (version 0.0.4), and Effect's metrics as its families: a
 * family's help and type once, then one line a sample, a histogram's buckets cumulative up to `+Inf`.
 */
import type * as MetricLabel from "effect/MetricLabel"
import type * as MetricPair from "effect/MetricPair"
import * as MetricState from "effect/MetricState"
import * as Option from "effect/Option"

export const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

export type Labels = ReadonlyArray<readonly [name: string, value: string]>

export interface Sample {
  readonly labels: Labels
  readonly value: number
}

export interface HistogramSample {
  readonly labels: Labels
  /** Upper bounds with the count of observations up to each, the last bound `Infinity`. */
  readonly buckets: ReadonlyArray<readonly [le: number, count: number]>
  readonly sum: number
  readonly count: number
}

export type Family =
  | {
    readonly type: "counter" | "gauge"
    readonly name: string
    readonly help: string
    readonly samples: ReadonlyArray<Sample>
  }
  | {
    readonly type: "histogram"
    readonly name: string
    readonly help: string
    readonly samples: ReadonlyArray<HistogramSample>
  }

// Go's float syntax, which Prometheus parses: JavaScript's own but for the infinities.
const number = (value: number): string => value === Infinity ? "+Inf" : value === -Infinity ? "-Inf" : String(value)

const escapeHelp = (text: string) => text.replaceAll("\\", "\\\\").replaceAll("\n", "\\n")
const escapeValue = (text: string) => escapeHelp(text).replaceAll("\"", "\\\"")

const line = (name: string, labels: Labels, value: number) =>
  labels.length === 0
    ? `${name} ${number(value)}\n`
    : `${name}{${labels.map(([label, text]) => `${label}="${escapeValue(text)}"`).join(",")}} ${number(value)}\n`

export const render = (families: Iterable<Family>): string => {
  let text = ""
  for (const family of families) {
    text += `# HELP ${family.name} ${escapeHelp(family.help)}\n# TYPE ${family.name} ${family.type}\n`
    if (family.type !== "histogram") {
      for (const sample of family.samples) text += line(family.name, sample.labels, sample.value)
      continue
    }
    for (const sample of family.samples) {
      for (const [le, count] of sample.buckets) {
        text += line(`${family.name}_bucket`, [...sample.labels, ["le", number(le)]], count)
      }
      text += line(`${family.name}_sum`, sample.labels, sample.sum)
      text += line(`${family.name}_count`, sample.labels, sample.count)
    }
  }
  return text
}

/**
 * Counters, gauges and histograms of a metrics snapshot as families, one per name, their tags as
 * labels but for `hidden` ones. Effect's other kinds of metric (frequencies, summaries) are left out.
 */
export const fromSnapshot = (
  pairs: Iterable<MetricPair.MetricPair.Untyped>,
  hidden: ReadonlyArray<string> = []
): Array<Family> => {
  const families = new Map<string, Family>()
  const labelsOf = (tags: ReadonlyArray<MetricLabel.MetricLabel>): Labels =>
    tags.filter((tag) => !hidden.includes(tag.key)).map((tag) => [tag.key, tag.value])
  const familyOf = (pair: MetricPair.MetricPair.Untyped, type: Family["type"]) => {
    const { name } = pair.metricKey
    const found = families.get(name)
    if (found !== undefined) return found.samples as Array<unknown>
    const samples: Array<unknown> = []
    const help = Option.getOrElse(pair.metricKey.description, () => name)
    families.set(name, { type, name, help, samples } as Family)
    return samples
  }
  for (const pair of pairs) {
    const state = pair.metricState
    const labels = labelsOf(pair.metricKey.tags)
    if (MetricState.isCounterState(state)) {
      familyOf(pair, "counter").push({ labels, value: Number(state.count) } satisfies Sample)
    } else if (MetricState.isGaugeState(state)) {
      familyOf(pair, "gauge").push({ labels, value: Number(state.value) } satisfies Sample)
    } else if (MetricState.isHistogramState(state)) {
      familyOf(pair, "histogram").push(
        { labels, buckets: state.buckets, sum: state.sum, count: state.count } satisfies HistogramSample
      )
    }
  }
  return [...families.values()]
}
