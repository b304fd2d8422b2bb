/**
 * The ring simulation's output: one tab-separated line per run under a header, and the same
 * figures as an SVG chart rendered by vega-lite and vega in Node (no browser, no canvas).
 */
import * as Effect from "effect/Effect"
import { writeFile } from "node:fs/promises"
import type { RingResult } from "./RingReplay.js"

/** A run: which series it belongs to (a size, or a workload and a percentage), and its result. */
export interface RingRow {
  readonly series: string
  readonly result: RingResult
}

const percent = (ratio: number) => `${(ratio * 100).toFixed(2)}%`

export const HEADER = [
  "series",
  "nodes",
  "hit ratio",
  "byte hit ratio",
  "busiest/mean requests",
  "busiest/mean bytes",
  "moved",
  "hit ratio before",
  "after, kept",
  "after, removed",
  "overall, removed"
].join("\t")

export const line = ({ result, series }: RingRow): string =>
  [
    series,
    result.nodes,
    percent(result.hitRatio),
    percent(result.byteHitRatio),
    result.busiest.requests.toFixed(3),
    result.busiest.bytes.toFixed(3),
    ...(result.removal === undefined ? ["-", "-", "-", "-", "-"] : [
      percent(result.removal.moved),
      percent(result.removal.before),
      percent(result.removal.afterKept),
      percent(result.removal.afterRemoved),
      percent(result.removal.overall)
    ])
  ].join("\t")

/** A legend of dashes, drawn as lines: vega-lite leaves their stroke unset otherwise. */
const DASH_LEGEND = {
  symbolType: "stroke",
  encode: { symbols: { update: { stroke: { value: "#444" }, strokeWidth: { value: 2 } } } }
}

/** The vega-lite specification: hit ratios by ring size, and the window after the middle, kept or removed. */
export const chartSpec = (rows: ReadonlyArray<RingRow>, title: string) => {
  const ratios = rows.flatMap(({ result, series }) => [
    { series, nodes: result.nodes, measure: "hit ratio", value: result.hitRatio },
    { series, nodes: result.nodes, measure: "byte hit ratio", value: result.byteHitRatio }
  ])
  const removal = rows.flatMap(({ result, series }) =>
    result.removal === undefined ? [] : [
      { series, nodes: result.nodes, run: "all nodes kept", value: result.removal.afterKept },
      { series, nodes: result.nodes, run: "one node removed", value: result.removal.afterRemoved }
    ]
  )
  const x = {
    field: "nodes",
    type: "quantitative",
    title: "nodes in the ring",
    scale: { type: "log", base: 2 },
    axis: { values: [...new Set(rows.map(({ result }) => result.nodes))] }
  }
  const y = (title: string) => ({ field: "value", type: "quantitative", title, axis: { format: ".0%" } })
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: { text: title, anchor: "start", offset: 20 },
    config: { font: "sans-serif", view: { stroke: null } },
    // One colour per cache for both charts; each chart's own dashes and legend for them.
    resolve: { scale: { strokeDash: "independent" }, legend: { strokeDash: "independent" } },
    hconcat: [
      {
        title: "Each node a cache of the size",
        width: 320,
        height: 240,
        data: { values: ratios },
        mark: { type: "line", point: true },
        encoding: {
          x,
          y: y("ratio over the whole run"),
          color: { field: "series", type: "nominal", title: "cache per node" },
          strokeDash: { field: "measure", type: "nominal", title: "measure", legend: DASH_LEGEND }
        }
      },
      {
        title: "Hit ratio, the tenth of requests after the middle",
        width: 320,
        height: 240,
        data: { values: removal },
        mark: { type: "line", point: true },
        encoding: {
          x,
          y: y("hit ratio"),
          color: { field: "series", type: "nominal", title: "cache per node" },
          strokeDash: { field: "run", type: "nominal", title: "run", legend: DASH_LEGEND }
        }
      }
    ]
  }
}

/** Renders the chart to `file` as SVG. vega is loaded only here: a replay without --plot never loads it. */
export const writePlot = (file: string, rows: ReadonlyArray<RingRow>, title: string) =>
  Effect.promise(async () => {
    const [vega, vegaLite] = await Promise.all([import("vega"), import("vega-lite")])
    const compiled = vegaLite.compile(chartSpec(rows, title) as never).spec
    const view = new vega.View(vega.parse(compiled), { renderer: "none" })
    const svg = await view.toSVG()
    view.finalize()
    await writeFile(file, svg)
  })
