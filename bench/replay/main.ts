/** `npm run replay -- ...`: replays a trace or the synthetic workloads; see Args.ts for usage. */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { POLICIES } from "../../src/cache/policies.js"
import { type Args, parseArgs, type RingArgs, USAGE } from "./Args.js"
import { replay } from "./Replay.js"
import { ringReplay } from "./RingReplay.js"
import { HEADER, line, type RingRow, writePlot } from "./RingReport.js"
import { generate, popularBytes, SYNTHETIC_SPECS } from "./Synthetic.js"
import { readOracleGeneral } from "./Trace.js"
import { distinctBytes, type Workload } from "./Workload.js"

const timed = <A, E>(label: string, effect: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const start = Date.now()
    const result = yield* effect
    yield* Console.error(`${label}: ${((Date.now() - start) / 1000).toFixed(1)} s`)
    return result
  })

const describe = (workload: Workload) =>
  Console.error(
    `${workload.name}: ${workload.requests.length} requests, ${workload.objectNames.length} objects, ` +
      `${distinctBytes(workload)} distinct bytes`
  )

/** Each ring size for each cache, one line each; then the plot, if asked for. */
const runRing = (
  ring: RingArgs,
  title: string,
  runs: ReadonlyArray<{ readonly series: string; readonly run: (nodes: number) => ReturnType<typeof ringReplay> }>
) =>
  Effect.gen(function*() {
    yield* Console.log(HEADER)
    const rows: Array<RingRow> = []
    for (const { run, series } of runs) {
      for (const nodes of ring.nodes) {
        const row = { series, result: yield* run(nodes) }
        rows.push(row)
        yield* Console.log(line(row))
      }
    }
    if (ring.plot !== undefined) {
      yield* writePlot(ring.plot, rows, title)
      yield* Console.error(`plot written to ${ring.plot}`)
    }
  })

const runTrace = (args: Extract<Args, { _tag: "Trace" }>) =>
  Effect.gen(function*() {
    const workload = yield* readOracleGeneral(args.path)
    yield* describe(workload)
    for (const policy of args.policies) {
      if (args.policies.length > 1) yield* Console.log(`# ${policy}`)
      if (args.ring !== undefined) {
        yield* timed(
          policy,
          runRing(
            args.ring,
            `${workload.name}, ${policy}: a ring of N caches`,
            args.sizes.map((size) => ({
              series: size.text,
              run: (nodes) => ringReplay(workload, { nodes, capacity: size.bytes, policy: POLICIES[policy] })
            }))
          )
        )
        continue
      }
      yield* timed(
        policy,
        Effect.forEach(args.sizes, (size) =>
          Effect.flatMap(
            replay(workload, size.bytes, POLICIES[policy]),
            (result) => Console.log(`${size.text}\t${result.misses}\t${result.byteMisses}`)
          ), { discard: true })
      )
    }
  })

const runSynthetic = (args: Extract<Args, { _tag: "Synthetic" }>) =>
  Effect.gen(function*() {
    const workloads = SYNTHETIC_SPECS.map((spec) => generate(spec))
    yield* Effect.forEach(workloads, describe, { discard: true })
    for (const policy of args.policies) {
      if (args.policies.length > 1) yield* Console.log(`# ${policy}`)
      if (args.ring !== undefined) {
        yield* timed(
          policy,
          runRing(
            args.ring,
            `synthetic workloads, ${policy}: a ring of N caches`,
            workloads.flatMap((workload) =>
              args.percents.map((percent) => ({
                series: `${workload.name} ${percent}%`,
                run: (nodes: number) =>
                  ringReplay(workload, {
                    nodes,
                    capacity: Math.floor(popularBytes(workload) * percent / 100),
                    policy: POLICIES[policy]
                  })
              }))
            )
          )
        )
        continue
      }
      yield* timed(
        policy,
        Effect.forEach(workloads, (workload) => {
          // The same cache sizes with and without the scan: percentages of the popular files' bytes.
          const basis = popularBytes(workload)
          return Effect.forEach(args.percents, (percent) => {
            const capacity = Math.floor(basis * percent / 100)
            return Effect.flatMap(
              replay(workload, capacity, POLICIES[policy]),
              (result) =>
                Console.log(`${workload.name}\t${percent}%\t${capacity}\t${result.misses}\t${result.byteMisses}`)
            )
          }, { discard: true })
        }, { discard: true })
      )
    }
  })

const main = Effect.suspend(() => {
  const args = parseArgs(process.argv.slice(2))
  if (Either.isLeft(args)) {
    return Effect.zipRight(
      Console.error(`${args.left}\n\n${USAGE}`),
      Effect.sync(() => process.exitCode = 2)
    )
  }
  switch (args.right._tag) {
    case "Help":
      return Console.log(USAGE)
    case "Trace":
      return runTrace(args.right)
    case "Synthetic":
      return runSynthetic(args.right)
  }
}).pipe(
  Effect.catchTag(
    "TraceError",
    (error) => Effect.zipRight(Console.error(error.message), Effect.sync(() => process.exitCode = 1))
  )
)

NodeRuntime.runMain(main)
