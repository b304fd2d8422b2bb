/**
 * The text exposition format: families, escaping, histograms' series, and Effect's metrics as
 * families. (The end-to-end test has Prometheus's own checker read a whole exposition.)
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricKey from "effect/MetricKey"
import * as Prometheus from "../../src/format/Prometheus.js"

describe("render", () => {
  it("writes each family's help and type, then a line a sample", () => {
    expect(Prometheus.render([
      { type: "counter", name: "a_total", help: "As.", samples: [{ labels: [], value: 3 }] },
      {
        type: "gauge",
        name: "b",
        help: "Bs.",
        samples: [{ labels: [["x", "1"]], value: 0.5 }, { labels: [["x", "2"], ["y", "z"]], value: -Infinity }]
      }
    ])).toBe(
      "# HELP a_total As.\n# TYPE a_total counter\na_total 3\n" +
        "# HELP b Bs.\n# TYPE b gauge\nb{x=\"1\"} 0.5\nb{x=\"2\",y=\"z\"} -Inf\n"
    )
  })

  it("escapes help text and label values", () => {
    expect(Prometheus.render([
      {
        type: "gauge",
        name: "c",
        help: "back\\slash\nand \"quotes\"",
        samples: [{ labels: [["l", "a\\b\"c\nd"]], value: NaN }]
      }
    ])).toBe("# HELP c back\\\\slash\\nand \"quotes\"\n# TYPE c gauge\nc{l=\"a\\\\b\\\"c\\nd\"} NaN\n")
  })

  it("writes a histogram as its cumulative buckets up to +Inf, its sum and its count", () => {
    expect(Prometheus.render([{
      type: "histogram",
      name: "d_seconds",
      help: "Ds.",
      samples: [{ labels: [["s", "Ok"]], buckets: [[0.5, 1], [1, 3], [Infinity, 4]], sum: 5.25, count: 4 }]
    }])).toBe(
      "# HELP d_seconds Ds.\n# TYPE d_seconds histogram\n" +
        "d_seconds_bucket{s=\"Ok\",le=\"0.5\"} 1\n" +
        "d_seconds_bucket{s=\"Ok\",le=\"1\"} 3\n" +
        "d_seconds_bucket{s=\"Ok\",le=\"+Inf\"} 4\n" +
        "d_seconds_sum{s=\"Ok\"} 5.25\n" +
        "d_seconds_count{s=\"Ok\"} 4\n"
    )
  })
})

describe("fromSnapshot", () => {
  it("makes one family a name, its tags labels but for the hidden ones", () =>
    Effect.runSync(Effect.gen(function*() {
      const key = (name: string) => MetricKey.tagged(MetricKey.counter(name, { description: "Es." }), "instance", "t1")
      yield* Metric.incrementBy(Metric.fromMetricKey(MetricKey.tagged(key("test_e_total"), "kind", "x")), 2)
      yield* Metric.incrementBy(Metric.fromMetricKey(MetricKey.tagged(key("test_e_total"), "kind", "y")), 5)
      const histogram = MetricKey.histogram("test_f_bytes", MetricBoundaries.fromIterable([10, 100]))
      yield* Metric.update(Metric.fromMetricKey(MetricKey.tagged(histogram, "instance", "t1")), 50)
      const ours = (yield* Metric.snapshot).filter((pair) => pair.metricKey.name.startsWith("test_"))

      const families = Prometheus.fromSnapshot(ours, ["instance"])
      expect(families).toHaveLength(2)
      const counter = families.find((family) => family.name === "test_e_total")
      expect(counter).toMatchObject({ type: "counter", help: "Es." })
      expect(counter?.samples).toEqual(expect.arrayContaining([
        { labels: [["kind", "x"]], value: 2 },
        { labels: [["kind", "y"]], value: 5 }
      ]))
      expect(families.find((family) => family.name === "test_f_bytes")).toEqual({
        type: "histogram",
        name: "test_f_bytes",
        // No description: the name stands in for it.
        help: "test_f_bytes",
        samples: [{ labels: [], buckets: [[10, 0], [100, 1], [Infinity, 1]], sum: 50, count: 1 }]
      })
    })))
})
