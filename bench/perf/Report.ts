/**
 * The harness's output: one markdown table of figures, ferry's against a baseline measured in the
 * same run, with the goal each is held to, and notes saying what each figure is and where it ran.
 */
import * as os from "node:os"

export interface Row {
  readonly scenario: string
  readonly ferry: string
  readonly baseline: string
  readonly ratio: string
  readonly goal: string
  readonly met: string
}

/** What one scenario found: its rows, and notes on how they were measured. */
export interface Result {
  readonly rows: ReadonlyArray<Row>
  readonly notes: ReadonlyArray<string>
}

export const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

export const fixed = (value: number, digits = 0) =>
  value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })

/** `3 runs: 512, 530, 498` */
export const runs = (values: ReadonlyArray<number>, unit: string, digits = 0) =>
  values.length === 0
    ? "not measured"
    : `${values.length} run${values.length === 1 ? "" : "s"}: ${values.map((v) => fixed(v, digits)).join(", ")} ${unit}`

export const mib = (bytes: number) => `${fixed(bytes / 1024 / 1024, 1)} MiB`

/**
 * What a ratio (ferry / baseline) is held to: at least a figure for rates (higher is better), at
 * most or below one for times (lower is better); `aim` is where we want it, beyond what must be met.
 */
export type Goal =
  | { readonly atLeast: number; readonly aim?: number }
  | { readonly atMost: number; readonly aim?: number }
  | { readonly below: number }

const describeGoal = (goal: Goal): string => {
  if ("below" in goal) return `< ${goal.below}x (lower is better)`
  const aim = goal.aim === undefined ? "" : `, aim ${goal.aim.toFixed(1)}x`
  return "atLeast" in goal
    ? `≥ ${goal.atLeast}x${aim} (higher is better)`
    : `≤ ${goal.atMost}x${aim} (lower is better)`
}

const meets = (goal: Goal, ratio: number): boolean =>
  "atLeast" in goal ? ratio >= goal.atLeast : "atMost" in goal ? ratio <= goal.atMost : ratio < goal.below

/** A baseline that could not be measured: the reason shown in its place. */
export interface Skipped {
  readonly skipped: string
}

/**
 * A row comparing ferry's figure with a baseline's; the ratio is always ferry / baseline, so a goal
 * says "at least" for rates and "at most" (or "below") for times, and the goal cell says which.
 */
export const comparison = (options: {
  readonly scenario: string
  readonly unit: string
  readonly digits?: number
  readonly ferry: number
  readonly baseline: number | Skipped
  readonly baselineName: string
  readonly goal?: Goal
}): Row => {
  const digits = options.digits ?? 0
  const goal = options.goal === undefined ? "—" : describeGoal(options.goal)
  const ferry = `${fixed(options.ferry, digits)} ${options.unit}`
  if (typeof options.baseline !== "number") {
    return { scenario: options.scenario, ferry, baseline: options.baseline.skipped, ratio: "—", goal, met: "—" }
  }
  const ratio = options.ferry / options.baseline
  const met = options.goal === undefined ? "—" : meets(options.goal, ratio)
  return {
    scenario: options.scenario,
    ferry,
    baseline: `${fixed(options.baseline, digits)} ${options.unit} (${options.baselineName})`,
    ratio: `${ratio.toFixed(2)}x`,
    goal,
    met: typeof met === "string" ? met : met ? "yes" : "**no**"
  }
}

/** A row with no baseline: a figure held to an absolute goal, or shown for information. */
export const absolute = (scenario: string, ferry: string, goal = "—", met?: boolean): Row => ({
  scenario,
  ferry,
  baseline: "—",
  ratio: "—",
  goal,
  met: met === undefined ? "—" : met ? "yes" : "**no**"
})

export const failed = (scenario: string, detail: string): Row => ({
  scenario,
  ferry: `not measured: ${detail.split("\n")[0]!.replaceAll("|", "\\|").slice(0, 200)}`,
  baseline: "—",
  ratio: "—",
  goal: "—",
  met: "**error**"
})

export const table = (rows: ReadonlyArray<Row>): string => {
  const cells = (row: Row) => [row.scenario, row.ferry, row.baseline, row.ratio, row.goal, row.met]
  const line = (values: ReadonlyArray<string>) => `| ${values.join(" | ")} |`
  return [
    line(["scenario", "ferry", "baseline", "ratio", "goal", "met"]),
    line(Array(6).fill("---")),
    ...rows.map((row) => line(cells(row)))
  ].join("\n")
}

export const machine = (): string =>
  `Machine: ${os.availableParallelism()} cores (${os.cpus()[0]?.model ?? "unknown CPU"}), ` +
  `${mib(os.totalmem()).replace(/\.\d MiB/, " MiB")} RAM, Linux ${os.release()}, Node ${process.version}; ` +
  `${new Date().toISOString().replace(/\.\d+Z$/, "Z")}.`
